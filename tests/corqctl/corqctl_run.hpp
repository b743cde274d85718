// tests/corqctl/corqctl_run.hpp — running the real corqctl binary from a test (CORQCTL_PATH, set
// by CMake) and building data directories with the C API; shared by the corqctl test suites.
#pragma once

#include <corq/corq.h>

#include "support/spawn.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char **environ;

namespace corqctl_test {

namespace fs = std::filesystem;

constexpr int exit_ok = 0, exit_corrupt = 1, exit_usage = 2, exit_unreadable = 3, exit_locked = 4,
              exit_no_queue = 5;

struct Outcome {
  int exit_code = -1;  // the child's exit status, or -signal
  std::string out, err;
};

inline std::string read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Scratch {
 public:
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "corqctl-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) root_ = pattern;
  }
  ~Scratch() {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  const fs::path &root() const { return root_; }

 private:
  fs::path root_;
};

/// Runs corqctl with `args` and `input` on stdin; waits for it.
inline Outcome corqctl(const fs::path &io_dir, const std::vector<std::string> &args,
                       const std::string &input = {}) {
  const fs::path in = io_dir / "stdin", out = io_dir / "stdout", err = io_dir / "stderr";
  std::ofstream(in, std::ios::binary) << input;
  std::vector<std::string> argv_text = corq::test::child_command(CORQCTL_PATH, args);
  std::vector<char *> argv;
  for (auto &a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv.front(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  Outcome run;
  if (rc != 0) {
    run.err = std::string("posix_spawn: ") + std::strerror(rc);
    return run;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  run.out = read_file(out);
  run.err = read_file(err);
  return run;
}

inline std::string describe(const Outcome &r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

inline bool contains(const std::string &haystack, const std::string &needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A durable engine on `dir` (1 MiB segments keep the files small).
inline corq_engine *open_engine(const fs::path &dir, const char *sync = "always") {
  corq_config *config = corq_config_new();
  corq_config_set(config, "segment_bytes", "1048576");
  corq_config_set(config, "sync", sync);
  corq_engine *engine = nullptr;
  const int rc = corq_open(dir.c_str(), config, &engine);
  corq_config_free(config);
  EXPECT_EQ(rc, CORQ_OK) << corq_last_error();
  return rc == CORQ_OK ? engine : nullptr;
}

inline void publish(corq_engine *engine, const char *queue, const std::string &data,
                    int64_t delay_ms = 0) {
  static const char user[] = "ada";
  const corq_header header{"user", user, 3};
  const corq_message message{data.data(), data.size(), &header, 1, nullptr};
  corq_publish_options options{};
  options.struct_size = sizeof options;
  options.timeout_ms = 1000;
  options.delay_ms = delay_ms;
  uint64_t id = 0;
  ASSERT_EQ(corq_publish(engine, queue, &message, &options, &id), CORQ_OK) << corq_last_error();
}

inline corq_queue_stats stats_of(const fs::path &dir, const char *queue) {
  corq_queue_stats stats{};
  stats.struct_size = sizeof stats;
  corq_engine *engine = open_engine(dir);
  if (engine == nullptr) return stats;
  EXPECT_EQ(corq_queue_stats_get(engine, queue, &stats), CORQ_OK) << corq_last_error();
  corq_close(engine);
  return stats;
}

}  // namespace corqctl_test
