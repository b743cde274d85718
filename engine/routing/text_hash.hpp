// engine/routing/text_hash.hpp — the hash of routing words, keys and exchange names.
//
// Why not std::hash<std::string_view>: libstdc++'s is a call into the shared library
// (std::_Hash_bytes, murmur2 byte by byte at the tail) costing 40-60 instructions for a 5-30 byte
// word, and a topic publish hashes every word of its key plus the exchange name (callgrind: ~310
// instructions per publish). Here: 8 bytes at a time, each folded in with one multiply, then
// murmur3's 64-bit finalizer so that every input bit reaches the low bits the HAMT (word_map.hpp)
// and the route cache index by. Inline, no call; ~15 instructions for a 25-byte key.
//
// Quality only affects speed: every user compares the bytes of what it found.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace corq::core::routing {

namespace text_hash_detail {
/// The last 1-7 bytes as a word, with fixed-size loads only (a memcpy of n bytes would be a call):
/// two overlapping 4-byte loads, or the first, middle and last byte (wyhash's trick). The length is
/// folded in separately, so overlaps cannot make two texts equal.
inline std::uint64_t load_tail(const char *p, std::size_t n) noexcept {  // 0 < n < 8
  if (n >= 4) {
    std::uint32_t first, last;
    std::memcpy(&first, p, 4);
    std::memcpy(&last, p + n - 4, 4);
    return first | static_cast<std::uint64_t>(last) << 32;
  }
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(p[i]));
  };
  return byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16;
}
inline std::uint64_t mix(std::uint64_t h, std::uint64_t w) noexcept {
  return ((h << 5 | h >> 59) ^ w) * 0x9e3779b97f4a7c15ull;
}
inline std::uint64_t finish(std::uint64_t h) noexcept {  // murmur3 fmix64
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}
/// Folds `text` into `h` (its length too, so "a" and "a\0" differ).
inline std::uint64_t fold(std::uint64_t h, std::string_view text) noexcept {
  const char *p = text.data();
  std::size_t n = text.size();
  h = mix(h, n);
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h, w);
  }
  if (n != 0) h = mix(h, load_tail(p, n));
  return h;
}
}  // namespace text_hash_detail

/// A 64-bit hash of `text`.
inline std::uint64_t text_hash(std::string_view text) noexcept {
  return text_hash_detail::finish(text_hash_detail::fold(0, text));
}

/// A 64-bit hash of the pair (`a`, `b`): not text_hash of their concatenation ("ab"+"c" and
/// "a"+"bc" differ).
inline std::uint64_t text_hash(std::string_view a, std::string_view b) noexcept {
  return text_hash_detail::finish(text_hash_detail::fold(text_hash_detail::fold(0, a), b));
}

}  // namespace corq::core::routing
