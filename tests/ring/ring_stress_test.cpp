// Stress tests of the rings with several threads on (usually) two cores: every item carries its
// producer and sequence number, and consumers prove no loss, no duplicates and per-producer FIFO.
// Waits go through the engine's blocking layer (EventCount), so 8 producers + 8 consumers on 2
// cores sleep instead of spinning each other out.
#include "support/sanitizers.hpp"
#include "sync/event_count.hpp"

#include <corq/mpmc_ring.hpp>
#include <corq/spsc_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using corq::sync::EventCount;

constexpr std::uint64_t producer_shift = 40;  // item = producer << 40 | sequence
constexpr std::size_t bulk_max = 32;

/// What the consumers saw, checked after all threads joined.
struct Tally {
  explicit Tally(std::size_t producers, std::size_t per_producer)
      : seen(producers * per_producer), per_producer(per_producer) {}
  std::vector<std::atomic<std::uint8_t>> seen;  // count of each (producer, sequence)
  std::size_t per_producer;
  std::atomic<std::uint64_t> checksum{0};
  std::atomic<bool> fifo_violated{false};
};

/// A ring plus the two event counts that let producers wait for space and consumers for items.
template <class Ring>
struct Channel {
  explicit Channel(std::size_t capacity) : ring(capacity) {}
  Ring ring;
  EventCount not_empty, not_full;
};

std::uint64_t expected_checksum(std::size_t producers, std::size_t per_producer) {
  std::uint64_t sum = 0;
  for (std::uint64_t p = 0; p < producers; ++p) {
    for (std::uint64_t s = 0; s < per_producer; ++s)
      sum += (p << producer_shift | s) * 0x9E3779B97F4A7C15ull;
  }
  return sum;
}

template <class Ring>
void produce(Channel<Ring> &ch, std::uint64_t producer, std::size_t count, bool bulk) {
  std::uint64_t batch[bulk_max];
  std::size_t next = 0;
  while (next < count) {
    const std::size_t n = bulk ? std::min(bulk_max, count - next) : 1;
    for (std::size_t i = 0; i < n; ++i) batch[i] = producer << producer_shift | (next + i);
    std::size_t pushed = 0;
    ch.not_full.await(
        [&] {
          pushed = bulk ? ch.ring.try_push_bulk(batch, n) : (ch.ring.try_push(batch[0]) ? 1 : 0);
          return pushed != 0;
        },
        corq::sync::Clock::time_point::max());
    next += pushed;
    ch.not_empty.notify_all();
  }
}

template <class Ring>
void consume(Channel<Ring> &ch, Tally &tally, std::atomic<std::size_t> &remaining,
             std::size_t producers, bool bulk) {
  std::vector<std::int64_t> last(producers,
                                 -1);  // per producer, the last sequence this consumer saw
  std::uint64_t batch[bulk_max];
  std::uint64_t local_sum = 0;
  for (;;) {
    std::size_t got = 0;
    const bool any = ch.not_empty.await(
        [&] {
          if (remaining.load(std::memory_order_acquire) == 0) return true;
          got = bulk ? ch.ring.try_pop_bulk(batch, bulk_max) : (ch.ring.try_pop(batch[0]) ? 1 : 0);
          return got != 0;
        },
        corq::sync::Clock::time_point::max());
    if (!any || got == 0) break;  // everything was consumed (by someone)
    ch.not_full.notify_all();
    for (std::size_t i = 0; i < got; ++i) {
      const std::uint64_t p = batch[i] >> producer_shift;
      const std::uint64_t s = batch[i] & ((std::uint64_t{1} << producer_shift) - 1);
      if (static_cast<std::int64_t>(s) <= last[p]) tally.fifo_violated = true;
      last[p] = static_cast<std::int64_t>(s);
      tally.seen[p * tally.per_producer + s].fetch_add(1, std::memory_order_relaxed);
      local_sum += batch[i] * 0x9E3779B97F4A7C15ull;
    }
    if (remaining.fetch_sub(got, std::memory_order_acq_rel) == got) ch.not_empty.notify_all();
  }
  tally.checksum.fetch_add(local_sum);
}

template <class Ring>
void run_stress(std::size_t producers, std::size_t consumers, std::size_t per_producer, bool bulk,
                std::size_t capacity = 1024) {
  Channel<Ring> ch(capacity);
  Tally tally(producers, per_producer);
  std::atomic<std::size_t> remaining{producers * per_producer};
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < consumers; ++c) {
    threads.emplace_back([&] { consume(ch, tally, remaining, producers, bulk); });
  }
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] { produce(ch, p, per_producer, bulk); });
  }
  for (auto &t : threads) t.join();

  EXPECT_FALSE(tally.fifo_violated) << "a consumer saw a producer's items out of order";
  std::size_t lost = 0, duplicated = 0;
  for (auto &count : tally.seen) {
    const auto n = count.load();
    lost += n == 0;
    duplicated += n > 1;
  }
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(tally.checksum.load(), expected_checksum(producers, per_producer));
  EXPECT_TRUE(ch.ring.empty());
}

const std::size_t items = corq::test::scaled(400'000, 20);

TEST(SpscRingStress, one_producer_one_consumer_loses_and_duplicates_nothing) {
  run_stress<corq::SpscRing<std::uint64_t>>(1, 1, items, false);
}
TEST(SpscRingStress, bulk_one_producer_one_consumer_loses_and_duplicates_nothing) {
  run_stress<corq::SpscRing<std::uint64_t>>(1, 1, items, true);
}
TEST(SpscRingStress, tiny_ring_forces_constant_full_and_empty_transitions) {
  run_stress<corq::SpscRing<std::uint64_t>>(1, 1, items / 4, false, 2);
}

TEST(MpmcRingStress, p1_c1_fifo_and_checksum) {
  run_stress<corq::MpmcRing<std::uint64_t>>(1, 1, items, false);
}
TEST(MpmcRingStress, p2_c2_no_loss_no_duplicates_per_producer_fifo) {
  run_stress<corq::MpmcRing<std::uint64_t>>(2, 2, items / 2, false);
}
TEST(MpmcRingStress, p4_c4_no_loss_no_duplicates_per_producer_fifo) {
  run_stress<corq::MpmcRing<std::uint64_t>>(4, 4, items / 4, false);
}
TEST(MpmcRingStress, p8_c8_oversubscribed_does_not_collapse) {
  run_stress<corq::MpmcRing<std::uint64_t>>(8, 8, items / 8, false);
}
TEST(MpmcRingStress, bulk_p4_c4_no_loss_no_duplicates_per_producer_fifo) {
  run_stress<corq::MpmcRing<std::uint64_t>>(4, 4, items / 4, true);
}
TEST(MpmcRingStress, bulk_p8_c8_tiny_ring) {
  run_stress<corq::MpmcRing<std::uint64_t>>(8, 8, items / 16, true, 16);
}

}  // namespace
