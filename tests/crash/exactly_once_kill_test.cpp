// tests/crash/exactly_once_kill_test.cpp — examples/exactly_once.c under SIGKILL (DESIGN §8).
//
// The example's `process` reads payments through the group "ledger-writer" and, per payment, in one
// transaction, appends a ledger record, publishes a notification (exchange "notifications" → queue
// "emails") and acks the payment. This test runs the example binary itself, as a user would:
//   1. `produce N`, to its end;
//   2. cycles: start `process` and SIGKILL it — three cycles in four 5-400 ms after it printed
//      "... payments to process" (its engine is open and recovered, its member reading: the kill
//      lands among its commits), the fourth 5-300 ms after it started (the kill lands in
//      corq_open and the recovery, or just after). The next child gets the directory as the kill
//      left it. After every other kill the test opens the directory itself and checks what is true
//      after any crash:
//        - ledger records == notifications in "emails" (a transaction is there whole or not at
//          all: never a record without its notification, nor the other way round);
//        - payments settled (N - lag) <= ledger records <= N, and the settled count never goes
//          back (a committed ack is never lost);
//      and when fewer than top_up_below payments are left (or a child ended before its kill) it
//      produces more, so the kills land in work whatever the machine's speed;
//   3. a last `process`, not killed, to its end (lag 0);
//   4. `check N`: every payment 0..N-1 has exactly one ledger record and exactly one notification.
// Why "exactly one notification" can be checked: nothing consumes "emails" but the check, which
// browses it without acking, so every notification ever committed is still there — a payment
// processed twice shows as two. And a kill inside corq_txn_commit leaves the payment committed
// (both outputs there, its delivery settled, never delivered again) or not (nothing there, the
// payment delivered again to the next child and processed then): one of each either way.
//
// Environment: CORQ_EXACTLY_ONCE_SEED (replay a run; kill moments are wall-clock, so a replay is
// close, not exact), CORQ_EXACTLY_ONCE_CYCLES (default 30, 15 under sanitizers and emulators),
// CORQ_EXACTLY_ONCE_PAYMENTS (the first N; default 1500, 375 under sanitizers and emulators),
// CORQ_EXACTLY_ONCE_KEEP=1 (keep the data directory). A failure keeps the directory and names it,
// with the seed, every cycle and the end of the children's output (all of it is in
// <root>/children.log).
#include "engine/helpers.hpp"
#include "support/sanitizers.hpp"
#include "support/spawn.hpp"

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern char **environ;

namespace corq::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kill_after_min_ms = 5;
constexpr int kill_after_max_ms = 400;        // after the child is ready
constexpr int early_kill_after_max_ms = 300;  // after the start, every fourth cycle
// A sanitized child takes ~150 ms more to open, an emulated one (qemu-user) ~300 ms.
constexpr int open_slowdown_ms = under_emulator ? 300 : under_sanitizer ? 150 : 0;
constexpr const char *ready_line = "payments to process";  // what `process` prints when ready
constexpr std::uint64_t top_up_below = scaled(500, 4);     // payments left that trigger a top-up
constexpr std::uint64_t top_up = scaled(750, 4);           // payments a top-up adds
constexpr std::uint64_t payments_max = 50000;              // the example's limit
constexpr auto ready_time_max = std::chrono::seconds(60);
constexpr auto produce_time_max = std::chrono::seconds(120);
constexpr auto last_run_time_max = std::chrono::seconds(300);  // the example's own bound: 600 s
constexpr std::size_t log_lines_shown = 40;

std::uint64_t env_number(const char *name, std::uint64_t fallback) {
  const char *text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

/// One kill cycle, for the summary and a failure's report.
struct Cycle {
  int number = 0;
  bool early = false;           // killed counting from the start, not from the ready line
  int kill_after_ms = 0;        // after the ready line (or the start, if early)
  std::int64_t ready_ms = -1;   // when the ready line came, after the start (-1: not waited for)
  bool finished = false;        // the child exited (0) before its kill
  bool audited = false;         // the test opened the directory after the kill
  std::uint64_t payments = 0;   // N during this cycle
  std::uint64_t settled = 0;    // N - lag at the audit
  std::uint64_t ledger = 0;     // ledger records at the audit
  std::uint64_t emails = 0;     // notifications at the audit
  std::uint64_t topped_up = 0;  // N after a top-up that followed this cycle (0: none)

  std::string describe() const {
    std::ostringstream o;
    o << "cycle " << number << ": N " << payments << ", ";
    if (ready_ms >= 0) o << "ready after " << ready_ms << " ms, ";
    o << (finished ? "ended before its kill at " : "killed at ") << kill_after_ms << " ms after "
      << (early ? "the start" : "ready");
    if (audited) {
      o << "; audit: settled " << settled << ", ledger " << ledger << ", emails " << emails;
    }
    if (topped_up != 0) o << "; topped up to " << topped_up;
    return o.str();
  }
};

/// What the test found after a kill (the directory opened in this process).
struct Audit {
  std::uint64_t settled = 0, ledger = 0, emails = 0;
};

/// A running example: its pid, the read end of its stdout and what it wrote there so far.
struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string written;
};

class ExactlyOnceKill : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "corq-exactly-once-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/data";
    log_path_ = root_ + "/children.log";
    log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(log_fd_, 0) << std::strerror(errno);
  }

  void TearDown() override {
    if (log_fd_ >= 0) ::close(log_fd_);
    if (HasFailure() || env_number("CORQ_EXACTLY_ONCE_KEEP", 0) != 0) {
      std::cout << "kept: " << root_ << " (data directory " << dir_ << ", children's output "
                << log_path_ << ")\n";
      return;
    }
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  /// Starts the example on the directory with `args`: stdout into a pipe (Child::out), stderr
  /// into the log.
  Child start(const std::vector<std::string> &args) {
    std::vector<std::string> words = {dir_};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<std::string> command = child_command(CORQ_EXACTLY_ONCE_EXAMPLE, words);
    std::vector<char *> argv;
    argv.reserve(command.size() + 1);
    for (auto &word : command) argv.push_back(word.data());
    argv.push_back(nullptr);
    Child child;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return child;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 clears CLOEXEC
    posix_spawn_file_actions_adddup2(&actions, log_fd_, STDERR_FILENO);
    const int rc =
        posix_spawnp(&child.pid, command.front().c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      child.pid = -1;
      ADD_FAILURE() << "posix_spawn " << command.front() << ": " << std::strerror(rc);
      return child;
    }
    child.out = fds[0];
    return child;
  }

  /// Copies what the child writes to the log (and Child::written), waiting for it until
  /// `deadline`; returns false at the end of its output (it exited).
  bool pump(Child &child, Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{child.out, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready <= 0) return true;  // nothing in time (or EINTR: the caller looks at the clock)
    char buffer[4096];
    const ssize_t n = ::read(child.out, buffer, sizeof buffer);
    if (n <= 0) return n < 0 && errno == EINTR;
    child.written.append(buffer, static_cast<std::size_t>(n));
    if (::write(log_fd_, buffer, static_cast<std::size_t>(n)) < 0) {
      // The log is for a failure report only: losing a line must not fail the test.
    }
    return true;
  }

  /// Copies the rest of its output to the log, reaps it and returns its wait status.
  int reap(Child &child) {
    while (pump(child, Clock::now() + std::chrono::seconds(10))) {
    }
    ::close(child.out);
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  /// Runs the example with `args` to its end; it must exit 0.
  void run_to_end(const std::vector<std::string> &args, std::chrono::seconds time_max) {
    Child child = start(args);
    ASSERT_GT(child.pid, 0);
    const auto deadline = Clock::now() + time_max;
    while (Clock::now() < deadline && pump(child, deadline)) {
    }
    if (Clock::now() >= deadline) ::kill(child.pid, SIGKILL);
    const int status = reap(child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "`" << args.front() << "` ended with status " << status
        << (WIFSIGNALED(status) ? " (killed: it ran past its time limit)" : "");
  }

  void produce(std::uint64_t n) { run_to_end({"produce", std::to_string(n)}, produce_time_max); }

  /// Starts `process` and SIGKILLs it as `cycle` says, unless it ends before.
  void run_and_kill(Cycle &cycle) {
    const auto started = Clock::now();
    Child child = start({"process"});
    ASSERT_GT(child.pid, 0) << context();
    bool running = true;
    if (!cycle.early) {
      const auto deadline = started + ready_time_max;
      while (running && child.written.find(ready_line) == std::string::npos &&
             Clock::now() < deadline) {
        running = pump(child, deadline);
      }
      cycle.ready_ms = ms_since(started);
    }
    const auto kill_at =
        (cycle.early ? started : Clock::now()) + std::chrono::milliseconds(cycle.kill_after_ms);
    while (running && Clock::now() < kill_at) running = pump(child, kill_at);
    if (running) ::kill(child.pid, SIGKILL);
    const int status = reap(child);
    cycle.finished = !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ASSERT_TRUE(!cycle.finished || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        << "`process` ended with status " << status << " before its kill\n"
        << context();
    ASSERT_TRUE(cycle.early || cycle.finished ||
                child.written.find(ready_line) != std::string::npos)
        << "`process` did not get ready within " << ready_time_max.count() << " s\n"
        << context();
  }

  /// Opens the directory (recovering it from the kill), reads the counts, closes it.
  Audit audit() {
    ConfigPtr options(corq_config_new());
    must(corq_config_set(options.get(), "sync", "always"), "config");
    corq_engine *raw = nullptr;
    must(corq_open(dir_.c_str(), options.get(), &raw), "corq_open after the kill");
    EnginePtr engine(raw);
    Audit a;
    // A child killed before it declared something leaves it missing: count that as empty.
    corq_stream_stats ledger{};
    ledger.struct_size = sizeof ledger;
    if (corq_stream_stats_get(engine.get(), "ledger", &ledger) == CORQ_OK)
      a.ledger = ledger.records;
    corq_queue_stats emails{};
    emails.struct_size = sizeof emails;
    if (corq_queue_stats_get(engine.get(), "emails", &emails) == CORQ_OK) {
      a.emails = emails.ready + emails.delayed + emails.in_flight;
    }
    corq_group_stats group{};
    group.struct_size = sizeof group;
    const int rc = corq_group_stats_get(engine.get(), "payments", "ledger-writer", &group);
    if (rc != CORQ_ENOENT) must(rc, "corq_group_stats_get");
    a.settled = rc == CORQ_OK ? payments_ - std::min(group.lag, payments_) : 0;
    return a;
  }

  /// Audits the directory as the kill left it (the checks at the top of the file); produces more
  /// payments when few are left.
  void audit_after_kill(Cycle &cycle) {
    Audit a;
    try {
      a = audit();
    } catch (const std::exception &e) {
      FAIL() << e.what() << "\n" << context();
    }
    cycle.audited = true;
    cycle.settled = a.settled;
    cycle.ledger = a.ledger;
    cycle.emails = a.emails;
    ASSERT_EQ(a.ledger, a.emails) << "a transaction's outputs are not all there or all gone\n"
                                  << context();
    ASSERT_LE(a.settled, a.ledger) << "a payment is settled without its ledger record\n"
                                   << context();
    ASSERT_LE(a.ledger, payments_) << "more ledger records than payments\n" << context();
    ASSERT_GE(a.settled, last_.settled) << "the group's committed offsets went back\n" << context();
    last_ = a;
    if (cycle.finished || payments_ - a.settled < top_up_below) {
      payments_ = std::min(payments_ + top_up, payments_max);
      produce(payments_);
      ASSERT_FALSE(HasFatalFailure()) << context();
      cycle.topped_up = payments_;
    }
  }

  /// The children's output, its last `lines` lines.
  std::string log_tail(std::size_t lines) const {
    std::ifstream in(log_path_);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::ostringstream o;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
      o << "  | " << all[i] << "\n";
    return o.str();
  }

  /// What a failure says: the seed, the kept directory, every cycle, the children's output.
  std::string context() const {
    std::ostringstream o;
    o << "seed " << seed_ << " (replay: CORQ_EXACTLY_ONCE_SEED=" << seed_
      << "), data directory kept: " << dir_ << "\ncycles:\n";
    for (const Cycle &c : cycles_) o << "  " << c.describe() << "\n";
    o << "children's output (" << log_path_ << "), last lines:\n" << log_tail(log_lines_shown);
    return o.str();
  }

  std::string root_, dir_, log_path_;
  int log_fd_ = -1;
  std::uint64_t seed_ = 0;
  std::uint64_t payments_ = 0;  // N: the payments produced so far
  std::vector<Cycle> cycles_;
  Audit last_;  // the last audit's counts
};

TEST_F(ExactlyOnceKill,
       sigkilled_processor_leaves_one_ledger_record_and_one_notification_per_payment) {
  seed_ = env_number("CORQ_EXACTLY_ONCE_SEED", std::random_device{}());
  const int cycle_count = static_cast<int>(env_number("CORQ_EXACTLY_ONCE_CYCLES", scaled(30, 2)));
  payments_ = env_number("CORQ_EXACTLY_ONCE_PAYMENTS", scaled(1500, 4));
  ASSERT_GT(payments_, 0u);
  ASSERT_LE(payments_, payments_max);
  std::mt19937_64 rng(seed_);
  const auto started = Clock::now();
  produce(payments_);
  ASSERT_FALSE(HasFatalFailure()) << context();

  for (int c = 0; c < cycle_count; ++c) {
    cycles_.emplace_back();
    Cycle &cycle = cycles_.back();  // (nothing else is added to cycles_ in this iteration)
    cycle.number = c;
    cycle.payments = payments_;
    cycle.early = c % 4 == 3;
    const int max_ms = cycle.early ? early_kill_after_max_ms + open_slowdown_ms : kill_after_max_ms;
    cycle.kill_after_ms =
        kill_after_min_ms +
        static_cast<int>(rng() % static_cast<unsigned>(max_ms - kill_after_min_ms + 1));
    run_and_kill(cycle);
    ASSERT_FALSE(HasFatalFailure());
    // Every other kill is audited; after the others the next child gets the directory exactly as
    // the kill left it (and an early kill of that child is a crash during a recovery from one).
    if (c % 2 == 1 || cycle.finished) audit_after_kill(cycle);
    ASSERT_FALSE(HasFatalFailure());
  }

  const auto last_started = Clock::now();
  run_to_end({"process"}, last_run_time_max);
  ASSERT_FALSE(HasFatalFailure()) << "the last `process`, not killed\n" << context();
  const std::int64_t last_ms = ms_since(last_started);
  run_to_end({"check", std::to_string(payments_)}, produce_time_max);
  ASSERT_FALSE(HasFatalFailure()) << "`check " << payments_ << "` failed\n" << context();

  const auto killed =
      std::count_if(cycles_.begin(), cycles_.end(), [](const Cycle &c) { return !c.finished; });
  std::cout << "exactly-once kill test: seed " << seed_ << ", " << cycles_.size() << " cycles ("
            << killed << " killed), " << payments_ << " payments (" << last_.settled
            << " settled by the killed children at the last audit), the last run took " << last_ms
            << " ms, all in " << ms_since(started)
            << " ms; every payment has exactly one ledger record and one notification\n";
  EXPECT_GT(killed, 0) << context();
}

}  // namespace
}  // namespace corq::test
