// Unit tests of SpscRing and MpmcRing, single-threaded (one test holds a pop open on a second
// thread): capacity, full/empty edges, wrap-around, partial bulk operations, move-only and
// non-trivial element types (no leaks, no double destroys).
#include <corq/mpmc_ring.hpp>
#include <corq/spsc_ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Counts live instances so a test can prove every constructed element was destroyed exactly once.
struct Counted {
  static inline int live = 0;
  static inline int constructed = 0;
  int value = 0;
  Counted() { ++live, ++constructed; }
  explicit Counted(int v) : value(v) { ++live, ++constructed; }
  Counted(const Counted &o) : value(o.value) { ++live, ++constructed; }
  Counted(Counted &&o) noexcept : value(o.value) { ++live, ++constructed; }
  Counted &operator=(const Counted &) = default;
  Counted &operator=(Counted &&) noexcept = default;
  ~Counted() { --live; }
};

// The rings pad their indices to corq::cache_line_bytes; on the targets corq is built for
// (x86-64 and AArch64 Linux, natively and in the qemu-aarch64 pass) that must be 64, or the padding
// either wastes memory or lets the producer's and consumer's indices share a line.
TEST(Platform, cache_line_bytes_is_64_on_x86_64_and_aarch64_linux) {
#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__linux__)
  EXPECT_EQ(corq::cache_line_bytes, 64u);
  EXPECT_EQ(alignof(corq::SpscRing<int>) % 64, 0u);
  EXPECT_EQ(alignof(corq::MpmcRing<int>) % 64, 0u);
#else
  GTEST_SKIP() << "not an x86-64 or AArch64 Linux target";
#endif
#if defined(__aarch64__)
  std::printf("target: aarch64, cache_line_bytes=%zu\n", corq::cache_line_bytes);
#endif
}

template <class Ring>
class RingTest : public ::testing::Test {};

// Each test runs for both rings; the element type is chosen per test through a rebind.
template <template <class> class R>
struct RingKind {
  template <class T>
  using ring = R<T>;
};
using RingKinds = ::testing::Types<RingKind<corq::SpscRing>, RingKind<corq::MpmcRing>>;
TYPED_TEST_SUITE(RingTest, RingKinds);

TYPED_TEST(RingTest, capacity_rounds_up_to_a_power_of_two) {
  EXPECT_EQ((typename TypeParam::template ring<int>(1).capacity()), 2u);
  EXPECT_EQ((typename TypeParam::template ring<int>(2).capacity()), 2u);
  EXPECT_EQ((typename TypeParam::template ring<int>(3).capacity()), 4u);
  EXPECT_EQ((typename TypeParam::template ring<int>(1000).capacity()), 1024u);
  EXPECT_EQ((typename TypeParam::template ring<int>(1024).capacity()), 1024u);
}

TYPED_TEST(RingTest, zero_or_huge_capacity_is_rejected) {
  using Ring = typename TypeParam::template ring<int>;
  EXPECT_THROW(Ring{0}, std::invalid_argument);
  EXPECT_THROW(Ring{(std::size_t{1} << 30) + 1}, std::invalid_argument);
}

TYPED_TEST(RingTest, empty_ring_pops_nothing_and_full_ring_pushes_nothing) {
  typename TypeParam::template ring<int> ring(4);
  int out = -1;
  EXPECT_TRUE(ring.empty());
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_EQ(out, -1);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_EQ(ring.size(), 4u);
  EXPECT_FALSE(ring.try_push(99));
  EXPECT_EQ(ring.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.try_pop(out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_TRUE(ring.empty());
}

TYPED_TEST(RingTest, wraps_around_many_times_in_fifo_order) {
  typename TypeParam::template ring<std::uint64_t> ring(8);
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    const int burst = 1 + round % 8;  // varying fill levels cross the wrap point at every offset
    for (int i = 0; i < burst; ++i) ASSERT_TRUE(ring.try_push(next_in++));
    for (int i = 0; i < burst; ++i) {
      std::uint64_t out = 0;
      ASSERT_TRUE(ring.try_pop(out));
      ASSERT_EQ(out, next_out++);
    }
  }
  EXPECT_TRUE(ring.empty());
}

TYPED_TEST(RingTest, bulk_push_takes_a_prefix_when_space_is_short) {
  typename TypeParam::template ring<int> ring(8);
  std::vector<int> values(12);
  std::iota(values.begin(), values.end(), 0);
  EXPECT_EQ(ring.try_push_bulk(values.data(), 5), 5u);
  EXPECT_EQ(ring.try_push_bulk(values.data() + 5, 7), 3u);  // only 3 slots left
  EXPECT_EQ(ring.try_push_bulk(values.data() + 8, 4), 0u);
  EXPECT_EQ(ring.size(), 8u);
  std::vector<int> out(16, -1);
  EXPECT_EQ(ring.try_pop_bulk(out.data(), 16), 8u);  // partial pop: only 8 present
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], i);
  EXPECT_EQ(out[8], -1);
  EXPECT_EQ(ring.try_pop_bulk(out.data(), 4), 0u);
}

TYPED_TEST(RingTest, bulk_operations_cross_the_wrap_point) {
  typename TypeParam::template ring<int> ring(8);
  int in[6] = {0, 1, 2, 3, 4, 5}, out[6] = {};
  ASSERT_EQ(ring.try_push_bulk(in, 6), 6u);
  ASSERT_EQ(ring.try_pop_bulk(out, 6), 6u);
  ASSERT_EQ(ring.try_push_bulk(in, 6), 6u);  // slots 6,7,0,1,2,3
  ASSERT_EQ(ring.try_pop_bulk(out, 6), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], i);
}

TYPED_TEST(RingTest, move_only_elements_are_moved_in_and_out) {
  typename TypeParam::template ring<std::unique_ptr<int>> ring(4);
  auto p = std::make_unique<int>(7);
  ASSERT_TRUE(ring.try_push(std::move(p)));
  EXPECT_EQ(p, nullptr);
  ASSERT_TRUE(ring.try_emplace(std::make_unique<int>(8)));
  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(*out, 7);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(*out, 8);
}

TYPED_TEST(RingTest, a_failed_move_push_leaves_the_value_untouched) {
  typename TypeParam::template ring<std::unique_ptr<int>> ring(2);
  ASSERT_TRUE(ring.try_push(std::make_unique<int>(1)));
  ASSERT_TRUE(ring.try_push(std::make_unique<int>(2)));
  auto kept = std::make_unique<int>(3);
  EXPECT_FALSE(ring.try_push(std::move(kept)));
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(*kept, 3);
}

TYPED_TEST(RingTest, non_trivial_elements_are_destroyed_exactly_once) {
  Counted::live = 0;
  {
    typename TypeParam::template ring<Counted> ring(8);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.try_emplace(i));
    Counted out;
    ASSERT_TRUE(ring.try_pop(out));
    EXPECT_EQ(out.value, 0);
    std::vector<Counted> batch(3);
    Counted in[3] = {Counted(10), Counted(11), Counted(12)};
    EXPECT_EQ(ring.try_pop_bulk(batch.data(), 2), 2u);
    EXPECT_EQ(ring.try_push_bulk(in, 3), 3u);
    EXPECT_EQ(ring.size(), 5u);
    // 1 (out) + 3 (batch) + 3 (in) + 5 (in the ring) are alive here.
    EXPECT_EQ(Counted::live, 12);
  }  // the ring destroys the 5 elements it still holds
  EXPECT_EQ(Counted::live, 0);
}

TYPED_TEST(RingTest, strings_survive_round_trips) {
  typename TypeParam::template ring<std::string> ring(4);
  const std::string long_text(1000, 'x');  // heap-allocated, unlike short strings
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(ring.try_push(long_text + std::to_string(i)));
    std::string out;
    ASSERT_TRUE(ring.try_pop(out));
    ASSERT_EQ(out, long_text + std::to_string(i));
  }
}

TEST(SpscRingTest, front_reads_in_place_and_pop_front_frees_the_slot) {
  corq::SpscRing<Counted> ring(2);
  Counted::live = 0;
  EXPECT_EQ(ring.front(), nullptr);
  ASSERT_TRUE(ring.try_emplace(41));
  ASSERT_TRUE(ring.try_emplace(42));
  ASSERT_NE(ring.front(), nullptr);
  EXPECT_EQ(ring.front()->value, 41);
  ring.pop_front();
  EXPECT_EQ(Counted::live, 1);
  EXPECT_EQ(ring.front()->value, 42);
  ASSERT_TRUE(ring.try_emplace(43));  // the freed slot is reusable
  ring.pop_front();
  ASSERT_NE(ring.front(), nullptr);  // pop_front's precondition: front() returned an element
  EXPECT_EQ(ring.front()->value, 43);
  ring.pop_front();
  EXPECT_EQ(ring.front(), nullptr);
  EXPECT_EQ(Counted::live, 0);
}

TEST(RingLayoutTest, producer_and_consumer_indices_do_not_share_a_cache_line) {
  // Two rings next to each other must not share lines either: the type is a multiple of a line.
  EXPECT_EQ(sizeof(corq::SpscRing<int>) % corq::cache_line_bytes, 0u);
  EXPECT_EQ(sizeof(corq::MpmcRing<int>) % corq::cache_line_bytes, 0u);
  EXPECT_GE(sizeof(corq::SpscRing<int>), 3 * corq::cache_line_bytes);
  EXPECT_GE(sizeof(corq::MpmcRing<int>), 3 * corq::cache_line_bytes);
}

}  // namespace

namespace {

long resident_kib() {
  FILE *f = std::fopen("/proc/self/statm", "r");
  long pages_total = 0, pages_resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return pages_resident * 4;
}

TEST(MpmcRingTest, peek_front_copies_the_oldest_without_removing_it) {
  corq::MpmcRing<int> ring(4);
  int out = -1;
  EXPECT_FALSE(ring.peek_front(out));
  ASSERT_TRUE(ring.try_push(5));
  ASSERT_TRUE(ring.try_push(6));
  EXPECT_TRUE(ring.peek_front(out));
  EXPECT_EQ(out, 5);
  EXPECT_EQ(ring.size(), 2u);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_TRUE(ring.peek_front(out));
  EXPECT_EQ(out, 6);
}

TEST(MpmcRingTest, a_large_ring_commits_memory_only_as_it_fills) {
  const long before = resident_kib();
  corq::MpmcRing<std::uint64_t> ring(std::size_t{1} << 22);  // 64 MiB of slots
  const long after_construction = resident_kib();
  EXPECT_LT(after_construction - before, 1024) << "construction touched the slot array";
  for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(ring.try_push(i));
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ring.try_pop(out));
    ASSERT_EQ(out, i);
  }
}

}  // namespace

namespace {

TEST(MpmcRingTest, a_slot_held_by_an_unfinished_pop_refuses_a_push_though_the_ring_is_not_full) {
  // What Queue::push_in_order waits out (tests/engine/ring_lap_fifo_test.cpp): a pop that claimed a
  // slot and has not moved its element out yet keeps that slot from the producer one lap later,
  // while the indices already count it as popped.
  corq::MpmcRing<int> ring(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(i));
  std::atomic<bool> claimed{false}, finish{false};
  int held = -1;
  std::thread stalled([&] {
    ring.try_pop_bulk_with(1, [&](std::size_t, int &&value) {
      held = value;
      claimed.store(true, std::memory_order_release);
      while (!finish.load(std::memory_order_acquire)) std::this_thread::yield();
    });
  });
  while (!claimed.load(std::memory_order_acquire)) std::this_thread::yield();
  int out = 0;
  for (int expected = 1; expected < 4; ++expected) {
    ASSERT_TRUE(ring.try_pop(out));
    EXPECT_EQ(out, expected);
  }
  EXPECT_EQ(ring.size(), 0u) << "the indices count the held element as popped";
  EXPECT_FALSE(ring.try_push(4)) << "its slot is still taken one lap later";
  finish.store(true, std::memory_order_release);
  stalled.join();
  EXPECT_EQ(held, 0);
  EXPECT_TRUE(ring.try_push(4)) << "the slot is free once the pop finished";
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, 4);
}

}  // namespace
