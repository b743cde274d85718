// tests/support/sanitizers.hpp — lets stress tests scale their work down under sanitizers, which
// slow code by 5-20x; the interleavings still happen, just fewer of them.
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

/// `n` in an optimized build, n/divisor under a sanitizer (at least 1).
constexpr std::size_t scaled(std::size_t n, std::size_t divisor = 10) {
  return under_sanitizer ? (n / divisor > 0 ? n / divisor : 1) : n;
}

}  // namespace corq::test
