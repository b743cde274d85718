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
// Threads that exit hand their full chain to the depot and free the rest. Under AddressSanitizer
// the cache is off (every block goes straight to the allocator, so use-after-free stays visible);
// under ThreadSanitizer it is on, and its mutex is what orders a block's reuse across threads.
#pragma once

#include <cstddef>

namespace corq::core::block_cache {

/// The size of every cached block: blocks of at most this many bytes come from the cache.
inline constexpr std::size_t block_bytes = 128;

/// A block of block_bytes; nullptr when out of memory.
void *take() noexcept;
/// Returns a block obtained from take() (any thread).
void give(void *block) noexcept;

/// False in AddressSanitizer builds, where every block goes straight to the allocator.
bool enabled() noexcept;

/// Blocks currently idle in the process-wide depot (tests).
std::size_t depot_blocks() noexcept;

}  // namespace corq::core::block_cache
