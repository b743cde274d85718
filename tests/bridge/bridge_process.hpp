// tests/bridge/bridge_process.hpp — a corq-bridge process started by a test: its arguments, its
// stderr in a file, SIGKILL or SIGTERM, and its exit status.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL): a test binary that dies leaks no bridge. Every wait is
// bounded.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace corq::test {

class BridgeProcess {
 public:
  /// Starts `program` with `args`; stdout and stderr go to `log_file` (appended).
  BridgeProcess(const std::string &program, const std::vector<std::string> &args,
                std::string log_file)
      : log_file_(std::move(log_file)) {
    std::vector<std::string> argv_strings{program};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      std::vector<char *> argv;
      for (auto &s : argv_strings) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~BridgeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  BridgeProcess(const BridgeProcess &) = delete;
  BridgeProcess &operator=(const BridgeProcess &) = delete;

  /// Sends a signal (the process keeps running until wait()).
  void signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  /// Waits up to timeout_ms for the exit; returns the exit status (128+signal when killed), or -1
  /// on timeout (the process still runs).
  int wait(int timeout_ms) {
    if (pid_ <= 0) return status_;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  /// SIGKILL and reap.
  void kill_hard() {
    signal(SIGKILL);
    wait(10000);
  }
  bool running() { return pid_ > 0 && wait(0) == -1; }
  /// What the process wrote so far.
  std::string output() const {
    std::ifstream in(log_file_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  /// Waits up to timeout_ms for `text` to appear in the output.
  bool wait_for_output(const std::string &text, int timeout_ms) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (output().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

 private:
  std::string log_file_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace corq::test
