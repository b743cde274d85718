// The ready gauge (engine/queue/ready_gauge.hpp): admission against a stale copy of the consumers'
// total is never granted wrongly, is refreshed when it would refuse, counts bytes as well as
// messages, and under concurrent producers and consumers never lets the queue exceed its limits.
#include "queue/ready_gauge.hpp"
#include "support/sanitizers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

using corq::core::ReadyGauge;

TEST(ReadyGauge, admits_up_to_max_length_and_refuses_past_it) {
  ReadyGauge g;
  bool gave_back = true;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(g.try_reserve(1, 10, 4, 1000, gave_back));
  EXPECT_FALSE(g.try_reserve(1, 10, 4, 1000, gave_back));
  EXPECT_FALSE(gave_back) << "a refusal on the count takes nothing";
  EXPECT_EQ(g.count(), 4u);
  EXPECT_EQ(g.bytes(), 40u);
}

TEST(ReadyGauge, a_removal_is_seen_when_the_stale_copy_would_refuse) {
  ReadyGauge g;
  bool gave_back = false;
  ASSERT_TRUE(g.try_reserve(2, 0, 2, 1000, gave_back));
  EXPECT_FALSE(g.try_reserve(1, 0, 2, 1000, gave_back));  // the copy of `out` is now 0, fresh
  g.remove(2, 0);
  EXPECT_EQ(g.count(), 0u);
  EXPECT_TRUE(g.try_reserve(2, 0, 2, 1000, gave_back)) << "the refreshed copy lets it in";
  EXPECT_FALSE(g.try_reserve(1, 0, 2, 1000, gave_back));
}

TEST(ReadyGauge, the_byte_limit_refuses_and_gives_the_room_back) {
  ReadyGauge g;
  bool gave_back = false;
  ASSERT_TRUE(g.try_reserve(1, 60, 10, 100, gave_back));
  EXPECT_FALSE(g.try_reserve(1, 50, 10, 100, gave_back));
  EXPECT_TRUE(gave_back);
  EXPECT_EQ(g.count(), 1u);
  EXPECT_EQ(g.bytes(), 60u);
  g.remove(1, 60);
  EXPECT_TRUE(g.try_reserve(1, 100, 10, 100, gave_back)) << "exactly the limit fits";
}

TEST(ReadyGauge, put_back_messages_count_without_admission_and_a_give_back_never_goes_negative) {
  ReadyGauge g;
  bool gave_back = false;
  g.add(3, 30);  // returned after delivery: counted, not checked
  EXPECT_EQ(g.count(), 3u);
  EXPECT_FALSE(g.try_reserve(1, 1, 3, 1000, gave_back));
  g.remove(3, 30);
  ASSERT_TRUE(g.try_reserve(1, 5, 3, 1000, gave_back));
  g.give_back(1, 5);
  EXPECT_EQ(g.count(), 0u);
  EXPECT_EQ(g.bytes(), 0u);
}

TEST(ReadyGauge, concurrent_producers_and_consumers_never_exceed_the_limit) {
  // Producers reserve one at a time and hand each reservation to consumers through a counter of
  // "pushed" messages; consumers remove what they take. A watcher checks the bound throughout.
  constexpr std::uint64_t max_length = 16;
  constexpr int producers = 2, consumers = 2;
  const int per_producer = static_cast<int>(corq::test::scaled(30'000));
  ReadyGauge g;
  std::atomic<std::int64_t> pushed{0};
  std::atomic<int> producers_done{0};
  std::atomic<std::uint64_t> taken{0};
  std::atomic<bool> over{false}, stop{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      bool gave_back = false;
      for (int i = 0; i < per_producer;) {
        if (!g.try_reserve(1, 8, max_length, max_length * 8, gave_back)) {
          std::this_thread::yield();
          continue;
        }
        pushed.fetch_add(1, std::memory_order_release);
        ++i;
      }
      producers_done.fetch_add(1);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        std::int64_t have = pushed.load(std::memory_order_acquire);
        if (have > 0 && pushed.compare_exchange_weak(have, have - 1)) {
          g.remove(1, 8);
          taken.fetch_add(1);
          continue;
        }
        if (producers_done.load() == producers && pushed.load() == 0) return;
        std::this_thread::yield();
      }
    });
  }
  std::thread watcher([&] {
    while (!stop.load()) {
      // Reserved and not yet taken: never more than admitted minus removed, so never above the
      // limit unless admission over-granted. (g.count() itself may read above the limit while
      // messages move: it loads `out` before `in`.)
      if (pushed.load() > static_cast<std::int64_t>(max_length)) over.store(true);
    }
  });
  for (std::thread &t : threads) t.join();
  stop.store(true);
  watcher.join();
  EXPECT_FALSE(over.load()) << "a reading above the limit: admission let too much in";
  EXPECT_EQ(taken.load(), static_cast<std::uint64_t>(producers) * per_producer);
  EXPECT_EQ(g.count(), 0u);
  EXPECT_EQ(g.bytes(), 0u);
}

}  // namespace
