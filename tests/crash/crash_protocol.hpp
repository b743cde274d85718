// tests/crash/crash_protocol.hpp — what the crash child (crash_child.cpp) and the crash test
// (crash_test.cpp) agree on: the queue, the stream and its groups, the engine, queue, stream and
// group options, the payload of message or record `id` (self-checking, so a recovered message
// proves its bytes are intact), the transactions' queues and ledger stream, and the report lines.
//
// Report lines (child → parent, one write() per line, each shorter than PIPE_BUF so lines from the
// child's threads never interleave). The queue's:
//   O                     the engine is open, the queues declared, the stream and the group member
//                         open, the transactions' queues and ledger declared
//   S <first> <last>      about to send ids first..last (attempted: may legitimately appear)
//   F <id>                about to publish id through the fanout exchange into both queues
//                         (attempted, like S: after a kill a copy in each, or neither)
//   C <first> <last>      ids first..last are confirmed (corq_producer_flush, corq_publish,
//                         corq_exchange_publish or corq_wait_durable returned OK)
//   D <id>:<msgid>:<count> ...  delivered to the child (message id, delivery count)
//   K <id> ...            about to ack these (may legitimately be gone after the kill)
//   A <id> ...            these acks are durable (corq_sync returned OK after them)
//   Y                     corq_sync returned OK: every D line before it is durable too
// The stream's (record ids are a sequence of their own, apart from the queue's message ids; a
// record is named by its place <partition>:<offset>):
//   SA <first> <last>     about to append records first..last: one corq_stream_append of one
//                         record, or one producer batch (attempted: after a kill all of them
//                         there, at consecutive offsets of one partition, or none)
//   SC <partition> <offset> <first> <last>
//                         they are durable (the waited append or send returned OK, or corq_sync
//                         did after a NOWAIT send) at offsets offset, offset+1, ... of partition
//   GD <partition>:<offset>:<id> ...
//                         delivered to the child's member of this cycle's group (a group sees
//                         durable records only: each of them is in the stream for good)
//   GK <partition>:<offset> ...
//                         about to ack these (may legitimately be unacked after the kill)
//   GA <partition>:<offset> ...
//                         these acks are durable (corq_sync returned OK after them)
// The transactions' (DESIGN §8; transaction ids are a third sequence of their own: a transaction
// input, its output message and its ledger record share one id):
//   TS <first> <last>     about to publish inputs first..last to crash-txn-in (attempted: may
//                         legitimately appear)
//   TP <first> <last>     they are confirmed (corq_producer_flush or the waited send returned OK)
//   TK <id> ...           about to commit one transaction that acks these inputs and, for each of
//                         them, publishes one message to crash-txn-out and appends one record to
//                         crash-txn-ledger, all of the same id (after a kill: all of it there and
//                         the inputs gone, or none of it and the inputs still queued)
//   TC <id> ...           that commit returned OK (under sync=always: durable); the ids of the
//                         last TK line
// And:
//   E <text>              the child saw something wrong (the parent fails the test with it)
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
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

/// The durable stream the child appends to: 3 partitions in one log of 64 KiB segments (they
/// roll, and retention releases the old ones: the child appends more than it keeps).
inline constexpr const char *stream_name = "crash-stream";
inline constexpr std::uint32_t stream_partitions = 3;
/// Records kept per partition (retention_records): a run appends a few thousand, so retention
/// deletes records and releases the stream log's old segments while children get killed.
inline constexpr std::uint64_t stream_retention_records = 500;
/// The child holds its appends while a group lags more records than this behind the stream's ends
/// (all partitions together). That bounds what the parent's check takes from a group and, being
/// below stream_retention_records, keeps retention from deleting records a group has not settled:
/// every record the check reads and a group never settled must come to that group.
inline constexpr std::uint64_t group_lag_limit = 400;
/// The stream's consumer groups, one per mode: a group's mode is fixed by its first member, so the
/// modes need a group each. The child of cycle c runs a member of group_modes[(c / 2) % 2] (the
/// backend alternates with c % 2); the parent checks both after every kill (the one nobody
/// consumed in that cycle must have kept its state too).
inline constexpr const char *group_modes[] = {"ordered", "shared"};
inline constexpr int group_mode_count = 2;
inline std::string group_name(const char *mode) { return std::string("crash-group-") + mode; }
inline int group_of_cycle(int cycle) { return (cycle / 2) % group_mode_count; }

/// The transactions' inputs: the child publishes them here and consumes them in transactions.
inline constexpr const char *txn_input_queue_name = "crash-txn-in";
/// The transactions' outputs: one message per committed input; nobody consumes them (until a
/// check, which takes them without acking), so once there they stay.
inline constexpr const char *txn_output_queue_name = "crash-txn-out";
/// The transactions' other output: one record per committed input, kept for good (one partition,
/// no retention), so a check sees every commit ever made in order.
inline constexpr const char *txn_ledger_name = "crash-txn-ledger";
/// The child publishes inputs only while crash-txn-in has at most this many ready: it bounds what a
/// check takes from it (aborts give inputs back, so the backlog would grow).
inline constexpr std::uint64_t txn_input_ready_limit = 200;
/// The child's window on crash-txn-in, and the most inputs one transaction acks (below it, so a
/// transaction never waits for its own window).
inline constexpr std::uint32_t txn_prefetch = 16;
inline constexpr std::size_t txn_inputs_max = 8;

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

/// Stream options for both sides (durable: the default on a disk engine).
inline void set_stream_options(corq_config *config) {
  corq_config_set(config, "partitions", std::to_string(stream_partitions).c_str());
  corq_config_set(config, "partition_segment_bytes", "64KiB");
  corq_config_set(config, "retention_records", std::to_string(stream_retention_records).c_str());
}

/// Group options for both sides (the member's prefetch aside, which each sets): no attempt limit
/// and no retry delay (a nack makes the record deliverable again at once, never a dead letter),
/// the default lease (30 s: no lease expires within a cycle).
inline void set_group_options(corq_config *config, const char *mode) {
  corq_config_set(config, "mode", mode);
  corq_config_set(config, "max_attempts", "0");
  corq_config_set(config, "retry_delay_ms", "0");
}

/// Options of crash-txn-ledger for both sides (durable: the default on a disk engine).
inline void set_txn_ledger_options(corq_config *config) {
  corq_config_set(config, "partitions", "1");
  corq_config_set(config, "partition_segment_bytes", "64KiB");
}

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// Salts the bytes of a stream record's payload, so that a queue message's payload never passes
/// for the record of the same id (nor the other way round).
inline constexpr std::uint64_t record_salt = 0x5157a3e5c0ffee11ull;
/// Salts of a transaction's input, its output message and its ledger record: none of the three
/// passes for another, nor for a queue message or stream record of the same number (an output
/// that is its input's bytes moved, or a record in the wrong place, is caught).
inline constexpr std::uint64_t txn_input_salt = 0x7a11e5c0de000001ull;
inline constexpr std::uint64_t txn_output_salt = 0x7a11e5c0de000002ull;
inline constexpr std::uint64_t txn_ledger_salt = 0x7a11e5c0de000003ull;

/// The payload of message `id`: the id (8 bytes, little-endian), then 0..299 bytes derived from it
/// (and from `salt`: 0 for queue messages, record_salt for stream records, txn_*_salt for the
/// transactions').
inline std::string payload_of(std::uint64_t id, std::uint64_t salt = 0) {
  const std::uint64_t h = mix(id ^ salt);
  std::string out(8 + h % 300, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((id >> (8 * i)) & 0xff);
  for (std::size_t i = 8; i < out.size(); ++i) {
    out[i] = static_cast<char>(((h >> ((i % 8) * 8)) ^ i) & 0xff);
  }
  return out;
}

/// The id a payload names, or 0 when the payload is not exactly payload_of(that id).
inline std::uint64_t id_of_payload(const void *data, std::size_t len, std::uint64_t salt = 0) {
  if (data == nullptr || len < 8) return 0;
  const auto *bytes = static_cast<const unsigned char *>(data);
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < 8; ++i) id |= std::uint64_t{bytes[i]} << (8 * i);
  if (id == 0) return 0;
  const std::string expected = payload_of(id, salt);
  if (expected.size() != len || std::memcmp(expected.data(), data, len) != 0) return 0;
  return id;
}

/// The key of the records appended by the call whose first record is `first` (a batch shares one
/// key): none for a third of them (they go round robin), else one of 64 keys (enough of them to
/// spread evenly over the partitions).
inline std::optional<std::string> record_key_of(std::uint64_t first) {
  const std::uint64_t h = mix(first ^ record_salt ^ 0x6b6579ull);
  if (h % 3 == 0) return std::nullopt;
  return "key-" + std::to_string((h >> 8) % 64);
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
