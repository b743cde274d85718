// tests/crash/crash_protocol.hpp — what the crash child (crash_child.cpp) and the crash test
// (crash_test.cpp) agree on: the queue, the engine and queue options, the payload of message `id`
// (self-checking, so a recovered message proves its bytes are intact), and the report lines.
//
// Report lines (child → parent, one write() per line, each shorter than PIPE_BUF so lines from the
// producer and consumer threads never interleave):
//   O                     the engine is open and the queues declared
//   S <first> <last>      about to send ids first..last (attempted: may legitimately appear)
//   F <id>                about to publish id through the fanout exchange into both queues
//                         (attempted, like S: after a kill a copy in each, or neither)
//   C <first> <last>      ids first..last are confirmed (corq_producer_flush, corq_publish,
//                         corq_exchange_publish or corq_wait_durable returned OK)
//   D <id>:<msgid>:<count> ...  delivered to the child (message id, delivery count)
//   K <id> ...            about to ack these (may legitimately be gone after the kill)
//   A <id> ...            these acks are durable (corq_sync returned OK after them)
//   Y                     corq_sync returned OK: every D line before it is durable too
//   E <text>              the child saw something wrong (the parent fails the test with it)
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace corq::crash {

inline constexpr const char *queue_name = "crash";
inline constexpr const char *dead_letter_queue_name = "crash.dlq";
/// Messages that stay: the child publishes some here and nobody consumes them until a check, so
/// they pin old segments and the log compacts around them.
inline constexpr const char *keep_queue_name = "crash-keep";
/// The id header every message carries (its decimal id).
inline constexpr const char *id_header = "n";
/// A durable fanout exchange bound to both queues: a message published through it gets a copy in
/// "crash" (consumed and settled by the child like any other) and one in "crash-keep" (never
/// settled): after a kill both copies are there or neither is, unless "crash" acked its copy.
inline constexpr const char *fanout_exchange_name = "crash-fan";
/// The routing key of those publishes (the copies carry it in x-routing-key).
inline constexpr const char *fanout_routing_key = "fan";

/// Engine options for both sides; `backend` alternates per cycle (psync, auto).
/// CORQ_CRASH_SEGMENT_BYTES (inherited by the child) overrides the segment size, to tell whether a
/// failure needs segment releases.
inline void set_engine_options(corq_config *config, const char *backend) {
  const char *segment = std::getenv("CORQ_CRASH_SEGMENT_BYTES");
  // 1 MiB: segments roll and checkpoints release them during the test.
  corq_config_set(config, "segment_bytes", segment != nullptr ? segment : "1MiB");
  corq_config_set(config, "io_backend", backend);
}

/// Queue options for both sides: durable, no attempt limit (nacks never dead-letter), default lease
/// (30 s: longer than any cycle, so no lease expires).
inline void set_queue_options(corq_config *config) {
  corq_config_set(config, "durable", "true");
  corq_config_set(config, "max_attempts", "0");
}

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// The payload of message `id`: the id (8 bytes, little-endian), then 0..299 bytes derived from it.
inline std::string payload_of(std::uint64_t id) {
  const std::uint64_t h = mix(id);
  std::string out(8 + h % 300, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((id >> (8 * i)) & 0xff);
  for (std::size_t i = 8; i < out.size(); ++i) {
    out[i] = static_cast<char>(((h >> ((i % 8) * 8)) ^ i) & 0xff);
  }
  return out;
}

/// The id a payload names, or 0 when the payload is not exactly payload_of(that id).
inline std::uint64_t id_of_payload(const void *data, std::size_t len) {
  if (data == nullptr || len < 8) return 0;
  const auto *bytes = static_cast<const unsigned char *>(data);
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < 8; ++i) id |= std::uint64_t{bytes[i]} << (8 * i);
  if (id == 0) return 0;
  const std::string expected = payload_of(id);
  if (expected.size() != len || std::memcmp(expected.data(), data, len) != 0) return 0;
  return id;
}

/// The headers of a copy published through fanout_exchange_name: the id header, then x-exchange
/// and x-routing-key (the engine adds them after the message's own).
inline bool has_routing_headers(const corq_delivery &d) {
  auto is = [&](std::size_t i, const char *key, const char *value) {
    return std::strcmp(d.headers[i].key, key) == 0 &&
           std::string(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len) ==
               value;
  };
  return d.header_count == 3 && is(1, "x-exchange", fanout_exchange_name) &&
         is(2, "x-routing-key", fanout_routing_key);
}

}  // namespace corq::crash
