// The log maintainer thread (engine/durability/log_maintainer.hpp): the scheduler's request()
// never waits for the work (checkpoints, compaction) even while a run is blocked; requests during
// a run coalesce into exactly one more; stop() lets the run under way finish.
#include "durability/log_maintainer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

using corq::core::LogMaintainer;

/// A run that blocks until released, so a test controls when work finishes.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  bool open = false;
  void run() {
    std::unique_lock lock(mutex);
    ++entered;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  }
  void wait_entered(int n) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return entered >= n; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

TEST(LogMaintainer, request_never_waits_for_a_run_and_requests_during_it_coalesce) {
  Gate gate;
  LogMaintainer maintainer;
  maintainer.start([&] { gate.run(); });
  maintainer.request();
  gate.wait_entered(1);  // the run is under way, blocked
  // The scheduler's side: these return although the run is blocked (else this test hangs).
  for (int i = 0; i < 100; ++i) maintainer.request();
  EXPECT_EQ(maintainer.runs(), 0u);
  gate.release();
  gate.wait_entered(2);  // exactly one more run for the hundred requests
  while (maintainer.runs() < 2) std::this_thread::yield();
  maintainer.stop();
  EXPECT_EQ(maintainer.runs(), 2u);
  EXPECT_EQ(gate.entered, 2);
}

TEST(LogMaintainer, stop_lets_the_run_under_way_finish_and_later_requests_do_nothing) {
  Gate gate;
  LogMaintainer maintainer;
  maintainer.start([&] { gate.run(); });
  maintainer.request();
  gate.wait_entered(1);
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate.release();
  });
  maintainer.stop();  // returns only after the run finished
  EXPECT_EQ(maintainer.runs(), 1u);
  releaser.join();
  maintainer.request();
  maintainer.stop();
  EXPECT_EQ(maintainer.runs(), 1u);
}

TEST(LogMaintainer, stop_without_start_or_twice_is_harmless) {
  LogMaintainer never_started;
  never_started.request();
  never_started.stop();
  never_started.stop();
  EXPECT_EQ(never_started.runs(), 0u);
}

}  // namespace
