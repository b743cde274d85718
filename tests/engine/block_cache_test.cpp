// The message block cache (engine/queue/block_cache.hpp): blocks recycled within a thread and
// between threads in 64-block chains, a bounded depot, and what a thread leaves when it exits.
// Under ASan the cache is off (every block goes to the allocator); the tests then check only what
// holds either way. Under TSan, the handoff test is what proves the depot orders a block's reuse.
#include "queue/block_cache.hpp"

#include <corq/mpmc_ring.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

namespace bc = corq::core::block_cache;

TEST(BlockCache, BlocksAreDistinctWhileHeldAndReusedAfterGive) {
  std::vector<void *> held;
  std::set<void *> distinct;
  for (int i = 0; i < 300; ++i) {
    void *b = bc::take();
    ASSERT_NE(b, nullptr);
    std::memset(b, 0xab, bc::block_bytes);  // the whole block is the caller's
    held.push_back(b);
    distinct.insert(b);
  }
  EXPECT_EQ(distinct.size(), held.size()) << "a block was handed out twice while held";
  for (void *b : held) bc::give(b);
  // Everything taken again comes back without overlap, whether recycled or fresh.
  std::set<void *> again;
  for (int i = 0; i < 300; ++i) again.insert(bc::take());
  EXPECT_EQ(again.size(), 300u);
  for (void *b : again) bc::give(b);
}

TEST(BlockCache, EachSizeClassHandsOutWholeBlocksOfItsOwnSize) {
  // The wide class (routed messages) keeps its own chains: a block given back to one class is
  // never handed out by the other, and every byte of a wide block is the caller's.
  EXPECT_EQ(bc::class_of(1), 0u);
  EXPECT_EQ(bc::class_of(bc::block_bytes), 0u);
  EXPECT_EQ(bc::class_of(bc::block_bytes + 1), 1u);
  EXPECT_EQ(bc::class_of(bc::wide_block_bytes), 1u);
  EXPECT_EQ(bc::class_of(bc::wide_block_bytes + 1), bc::size_classes);
  std::vector<void *> narrow, wide;
  for (int i = 0; i < 200; ++i) {
    narrow.push_back(bc::take(0));
    wide.push_back(bc::take(1));
    std::memset(narrow.back(), 0x11, bc::block_bytes);
    std::memset(wide.back(), 0x22, bc::wide_block_bytes);
  }
  for (void *b : narrow) bc::give(b, 0);
  std::set<void *> wide_held(wide.begin(), wide.end());
  for (int i = 0; i < 200; ++i) {
    void *b = bc::take(0);
    EXPECT_EQ(wide_held.count(b), 0u) << "a held wide block came out of the small class";
    narrow[static_cast<std::size_t>(i)] = b;
  }
  for (void *b : wide) {
    const auto *bytes = static_cast<const unsigned char *>(b);
    for (std::size_t i = 0; i < bc::wide_block_bytes; ++i) ASSERT_EQ(bytes[i], 0x22);
    bc::give(b, 1);
  }
  for (void *b : narrow) bc::give(b, 0);
}

TEST(BlockCache, HandoffBetweenThreadsKeepsContents) {
  // A producer thread takes blocks and writes a sequence number in every word; a consumer thread
  // checks them and gives the blocks back. Blocks flow producer -> consumer -> depot -> producer.
  constexpr std::uint64_t messages = 200'000;
  corq::MpmcRing<void *> ring(1024);
  std::thread producer([&] {
    for (std::uint64_t n = 0; n < messages; ++n) {
      auto *words = static_cast<std::uint64_t *>(bc::take());
      ASSERT_NE(words, nullptr);
      for (std::size_t w = 0; w < bc::block_bytes / 8; ++w) words[w] = n;
      while (!ring.try_push(words)) std::this_thread::yield();
    }
  });
  std::uint64_t bad = 0;
  std::thread consumer([&] {
    for (std::uint64_t n = 0; n < messages; ++n) {
      void *block = nullptr;
      while (!ring.try_pop(block)) std::this_thread::yield();
      const auto *words = static_cast<const std::uint64_t *>(block);
      for (std::size_t w = 0; w < bc::block_bytes / 8; ++w) bad += words[w] != n;
      bc::give(block);
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(bad, 0u) << "a block changed between its take and its give";
}

TEST(BlockCache, ExitingThreadLeavesItsFullChainAndTheDepotStaysBounded) {
  // Many threads each give back far more blocks than they took: the depot keeps at most its bound
  // (256 chains of 64 blocks), and the rest goes back to the allocator.
  for (int t = 0; t < 8; ++t) {
    std::thread([] {
      std::vector<void *> blocks;
      for (int i = 0; i < 64 * 80; ++i) blocks.push_back(bc::take());
      for (void *b : blocks) bc::give(b);
    }).join();
  }
  EXPECT_LE(bc::depot_blocks(), 256u * 64u);
  if (bc::enabled()) {
    // Threads exit with a full chain each; the depot received at least one of them.
    EXPECT_GE(bc::depot_blocks(), 64u) << "exiting threads left nothing in the depot";
  }
}

}  // namespace
