// tests/support/sanitizers.hpp — lets stress tests scale their work down under sanitizers, which
// slow code by 5-20x, and under an emulator (the AArch64 cross build runs its tests in qemu-user,
// 5-30x slower; CORQ_TEST_EMULATED); the interleavings still happen, just fewer of them.
#pragma once

#include <cstddef>

namespace corq::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool under_sanitizer = true;
#else
inline constexpr bool under_sanitizer = false;
#endif
#else
inline constexpr bool under_sanitizer = false;
#endif

#ifdef CORQ_TEST_EMULATED
inline constexpr bool under_emulator = true;
#else
inline constexpr bool under_emulator = false;
#endif

/// `n` in an optimized native build, n/divisor under a sanitizer or an emulator (at least 1).
constexpr std::size_t scaled(std::size_t n, std::size_t divisor = 10) {
  return under_sanitizer || under_emulator ? (n / divisor > 0 ? n / divisor : 1) : n;
}

}  // namespace corq::test
