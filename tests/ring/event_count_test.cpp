// Tests of the blocking layer: a waiter wakes when notified, a deadline is honoured, and a wake is
// never lost between checking the condition and going to sleep.
#include "sync/event_count.hpp"
#include "support/sanitizers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using corq::sync::Clock;
using corq::sync::EventCount;

TEST(EventCountTest, await_returns_at_once_when_condition_holds) {
  EventCount ec;
  EXPECT_TRUE(ec.await([] { return true; }, Clock::now()));
}

TEST(EventCountTest, await_gives_up_after_the_deadline) {
  EventCount ec;
  const auto deadline = Clock::now() + 20ms;
  EXPECT_FALSE(ec.await([] { return false; }, deadline));
  EXPECT_GE(Clock::now(), deadline);
}

TEST(EventCountTest, sleeping_waiter_wakes_on_notify) {
  EventCount ec;
  std::atomic<bool> flag{false};
  std::thread waiter(
      [&] { EXPECT_TRUE(ec.await([&] { return flag.load(); }, Clock::time_point::max())); });
  std::this_thread::sleep_for(10ms);  // let it reach the futex (not required for correctness)
  flag = true;
  ec.notify_all();
  waiter.join();
}

TEST(EventCountTest, no_wake_is_lost_in_a_ping_pong) {
  // Two threads hand a token back and forth; a single lost wake-up would hang this test forever
  // (no deadline), so ctest's timeout would catch it.
  EventCount ec;
  std::atomic<int> turn{0};
  const int rounds = static_cast<int>(corq::test::scaled(20'000));
  std::thread other([&] {
    for (int i = 0; i < rounds; ++i) {
      ec.await([&] { return turn.load() == 1; }, Clock::time_point::max());
      turn = 0;
      ec.notify_all();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    ec.await([&] { return turn.load() == 0; }, Clock::time_point::max());
    turn = 1;
    ec.notify_all();
  }
  other.join();
  EXPECT_EQ(turn.load(), 0);
}

TEST(EventCountTest, deadline_after_negative_timeout_is_unbounded) {
  EXPECT_EQ(corq::sync::deadline_after_ms(-1), Clock::time_point::max());
  EXPECT_EQ(corq::sync::deadline_after_ms(INT64_MAX), Clock::time_point::max());
  const auto before = Clock::now();
  const auto deadline = corq::sync::deadline_after_ms(0);
  EXPECT_GE(deadline, before);
  EXPECT_LE(deadline, Clock::now());
}

}  // namespace
