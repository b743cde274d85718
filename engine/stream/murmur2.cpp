// engine/stream/murmur2.cpp — MurmurHash2 exactly as Kafka's Utils.murmur2 computes it: Java ints
// wrap (uint32_t here) and `>>>` is a logical shift (unsigned here); the tail bytes fall through.
#include "stream/murmur2.hpp"

namespace corq::core::stream {

std::int32_t murmur2(const void *data, std::size_t len) noexcept {
  const auto *bytes = static_cast<const std::uint8_t *>(data);
  constexpr std::uint32_t seed = 0x9747b28cu;
  constexpr std::uint32_t m = 0x5bd1e995u;
  constexpr int r = 24;
  // Java's length is an int; keys are far below 2 GiB (max_message_bytes), so this is exact.
  std::uint32_t h = seed ^ static_cast<std::uint32_t>(len);
  const std::size_t blocks = len / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::uint8_t *b = bytes + i * 4;
    std::uint32_t k = static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
                      static_cast<std::uint32_t>(b[2]) << 16 |
                      static_cast<std::uint32_t>(b[3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::uint8_t *tail = bytes + (len & ~std::size_t{3});
  switch (len % 4) {
    case 3: h ^= static_cast<std::uint32_t>(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(tail[1]) << 8; [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= m;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

}  // namespace corq::core::stream
