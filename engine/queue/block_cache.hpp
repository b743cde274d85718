// engine/queue/block_cache.hpp — recycling of small message blocks between threads, in batches.
//
// Why: a message block is allocated on the producer's thread and freed on the consumer's. With a
// general allocator that is a cross-thread free per message (mimalloc: a CAS on the page's
// thread-free list, collected later by the owner), and in lock step a page that empties and is
// retired on every message (about 110 instructions of malloc + free per message, measured with
// perf/instructions.sh). Small messages are the common case, so their blocks are recycled here
// instead, Bonwick-style magazines:
//
//   each thread keeps two chains of free blocks, `current` (0..64) and `full` (0 or 64);
//   give: push onto current; when current has 64, it becomes `full` and the old full chain goes to
//         the depot (one mutex per 64 blocks);
//   take: pop from current; when empty, current = full, else one chain from the depot, else the
//         allocator.
//   depot: a process-wide stack of 64-block chains under a mutex, at most 256 chains (2 MiB idle);
//          past that, blocks go back to the allocator.
//
// So steady producer → consumer traffic costs a push/pop of a pointer per message and one lock per
// 64 messages on each side, and blocks stay hot in the cache of whoever recycles them. A free block
// links through its own first two words (no side allocations). Every cached block is exactly
// `block_bytes` long: a message whose header + headers + payload fit in 128 bytes (a 64-byte
// payload without headers does) gets a 128-byte block, which is also mimalloc's size class for a
// 64-byte message, so memory per ready message is unchanged (smaller messages take 128 instead of
// 80-112).
//
// Two size classes, each with its own chains and depot: `block_bytes` (128) and `wide_block_bytes`
// (256). The wide class is for messages routed through an exchange: the `x-exchange` and
// `x-routing-key` headers (DESIGN §6) take a 64-byte payload past 128 bytes, and without a class of
// their own every routed message went to mimalloc and came back by a cross-thread free (measured:
// a direct-exchange publish spent more time there than in routing). Plain 64-byte messages keep
// their 128-byte blocks, so memory per ready plain message is unchanged.
//
// Threads that exit hand their full chain to the depot and free the rest. Under AddressSanitizer
// the cache is off (every block goes straight to the allocator, so use-after-free stays visible);
// under ThreadSanitizer it is on, and its mutex is what orders a block's reuse across threads.
#pragma once

#include <cstddef>

namespace corq::core::block_cache {

/// The size of every block of the small class (class 0).
inline constexpr std::size_t block_bytes = 128;
/// The size of every block of the wide class (class 1): small routed messages.
inline constexpr std::size_t wide_block_bytes = 256;
/// Number of size classes; a class is 0 (block_bytes) or 1 (wide_block_bytes).
inline constexpr unsigned size_classes = 2;

/// The class whose blocks hold `bytes`, or size_classes when none does (the caller allocates).
constexpr unsigned class_of(std::size_t bytes) noexcept {
  return bytes <= block_bytes ? 0u : bytes <= wide_block_bytes ? 1u : size_classes;
}
/// The size of a block of class `size_class` (< size_classes).
constexpr std::size_t bytes_of(unsigned size_class) noexcept {
  return size_class == 0 ? block_bytes : wide_block_bytes;
}

/// A block of bytes_of(SizeClass); nullptr when out of memory. (A template so that the hot path,
/// which knows the class, indexes the thread's chains with a constant.)
template <unsigned SizeClass>
void *take_from() noexcept;
/// Returns a block obtained from take_from<SizeClass>() (any thread).
template <unsigned SizeClass>
void give_to(void *block) noexcept;
extern template void *take_from<0>() noexcept;
extern template void *take_from<1>() noexcept;
extern template void give_to<0>(void *block) noexcept;
extern template void give_to<1>(void *block) noexcept;

/// take_from / give_to with the class chosen at run time.
inline void *take(unsigned size_class = 0) noexcept {
  return size_class == 0 ? take_from<0>() : take_from<1>();
}
inline void give(void *block, unsigned size_class = 0) noexcept {
  if (size_class == 0) {
    give_to<0>(block);
  } else {
    give_to<1>(block);
  }
}

/// False in AddressSanitizer builds, where every block goes straight to the allocator.
bool enabled() noexcept;

/// Blocks of `size_class` currently idle in the process-wide depot (tests).
std::size_t depot_blocks(unsigned size_class = 0) noexcept;

}  // namespace corq::core::block_cache
