// engine/stream/murmur2.hpp — Kafka's key partitioner, so keys land where a Kafka producer would
// put them (DESIGN.md §7 "Appends").
#pragma once

#include <cstddef>
#include <cstdint>

namespace corq::core::stream {

/// Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2): 32-bit MurmurHash2 with seed
/// 0x9747b28c over the bytes as Kafka reads them, returned as the signed int Java sees.
std::int32_t murmur2(const void *data, std::size_t len) noexcept;

/// Kafka's default partitioner for a keyed record: (murmur2(key) & 0x7fffffff) % partitions.
/// `partitions` >= 1.
inline std::uint32_t partition_for_key(const void *key, std::size_t len,
                                       std::uint32_t partitions) noexcept {
  const auto positive = static_cast<std::uint32_t>(murmur2(key, len)) & 0x7fffffffu;
  return positive % partitions;
}

}  // namespace corq::core::stream
