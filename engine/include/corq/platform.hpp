// corq/platform.hpp — the few facts about the target CPU that lock-free code depends on.
//
// Two things vary per target and matter for performance:
//   * the size of the unit of coherence (the cache line): fields written by different threads must
//     live on different lines or every write ping-pongs the line between cores (false sharing);
//   * the instruction a spinning thread executes to tell the core it is spinning (`pause` on
//   x86-64,
//     `isb` on AArch64 — `yield` is a no-op on most ARM cores, `isb` actually stalls briefly).
//
// We deliberately do not use std::hardware_destructive_interference_size: GCC warns that its value
// changes with -mtune, so two translation units built with different flags would disagree on the
// layout of the same type. The constants below are fixed per target instead.
#pragma once

#include <cstddef>

namespace corq {

#if defined(__aarch64__) && defined(__APPLE__)
/// Apple M-series cores move 128-byte lines.
inline constexpr std::size_t cache_line_bytes = 128;
#elif defined(__x86_64__) || defined(__aarch64__) || defined(__i386__)
/// x86-64 and ARM server cores (Neoverse, Graviton, Ampere) move 64-byte lines.
inline constexpr std::size_t cache_line_bytes = 64;
#else
/// Unknown target: be generous; padding costs memory, false sharing costs throughput.
inline constexpr std::size_t cache_line_bytes = 128;
#endif

/// Hint to the core that the calling thread is busy-waiting. Cheap (tens of cycles), lets the
/// sibling hyper-thread run, and avoids the memory-order-violation pipeline flush on loop exit.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("isb" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

}  // namespace corq
