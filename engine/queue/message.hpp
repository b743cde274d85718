// engine/queue/message.hpp — a message as the engine holds it: one allocation, one owner.
//
// A message is a single block: a 64-byte header (this struct), then the corq_header array, then
// the header keys and values, then the payload. Deliveries hand out pointers into the block
// (zero-copy), so the block must stay put while a consumer holds it.
//
//   owned:   [ Message 64 B | corq_header × n | key\0 value key\0 value ... | payload ]
//   shared:  [ Message 64 B | SharedBody * ]  ──►  [ SharedBody 64 B | corq_header × n | ... |
//   payload ]
//
// A message routed to several queues (an exchange's fan-out) has one body, stored once: each queue
// gets its own 72-byte Message (its own counts, expiry, list link and log bucket: each queue
// settles its copy independently) pointing at a reference-counted SharedBody laid out exactly like
// an owned block, so payload_offset and the header pointers mean the same in both. The last copy
// freed frees the body. A message routed to one queue stays owned: the common path pays no
// reference count.
//
// Ownership: at any moment exactly one place owns a Message — a queue's ready ring, its returned
// list, its timer wheel (delayed), a consumer's prefetch window slot, or the code moving it between
// them. Only shared bodies are reference-counted, one reference per Message pointing at them.
// Memory per ready 64-byte message: 128 B block (block_cache size) + a 24 B ring cell.
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace corq::core {

struct Message {
  Message *next;                 // intrusive link while in a list (timer wheel slot, returned list)
  std::uint64_t id;              // engine-assigned, increasing in publish order
  std::int64_t published_at_ms;  // unix ms
  std::int64_t expires_at_ms;    // unix ms; 0 = never
  std::int64_t due_ms;           // while delayed: when it becomes ready
  std::uint32_t payload_len;
  std::uint32_t payload_offset;   // from the start of the block
  std::uint32_t delivery_count;   // deliveries so far (in this queue)
  std::uint32_t failed_attempts;  // nacks and lease expiries so far (in this queue)
  std::uint16_t header_count;     // <= headers_max + routing + death headers (options.hpp)
  std::uint16_t flags;            // shared_body, shared_id, priority (below)
  /// Durable messages: the write-ahead log's live-record bucket holding the record this message
  /// can be recovered from, plus one (durability/ledger.hpp); 0 for a message not in the log.
  /// Moves with the message (dead-lettering, lease-expiry copies) until the message leaves.
  std::uint32_t log_bucket;

  /// Headers and payload live in a SharedBody (this is one queue's copy of a fan-out).
  static constexpr std::uint16_t shared_body = 1;
  /// Other durable queues hold copies with this id, logged by one record: the write-ahead log's
  /// ledger keeps the id live until the last copy leaves (durability/ledger.hpp).
  static constexpr std::uint16_t shared_id = 2;
  /// Bits 8-13: the publish's priority, clamped to max_priority_limit (0 for most messages). A
  /// queue with max_priority counts it as min(priority, max_priority); other queues ignore it. It
  /// travels with the message (fan-out copies, dead letters, redrive) and is logged.
  static constexpr unsigned priority_shift = 8;
  static constexpr std::uint16_t priority_mask = 0x3f << priority_shift;
  std::uint32_t priority() const noexcept { return (flags & priority_mask) >> priority_shift; }
  /// `p` <= max_priority_limit (32).
  void set_priority(std::uint32_t p) noexcept {
    flags = static_cast<std::uint16_t>((flags & ~priority_mask) | (p << priority_shift));
  }
  bool has_shared_body() const noexcept { return (flags & shared_body) != 0; }
  bool has_shared_id() const noexcept { return (flags & shared_id) != 0; }

  /// The size of this Message's own block (what free_message gives back).
  std::size_t block_bytes() const noexcept {
    return has_shared_body() ? sizeof(Message) + sizeof(void *)
                             : std::size_t{payload_offset} + payload_len;
  }
  /// Where headers and payload are: this block, or the shared body it points at.
  const std::byte *body() const noexcept {
    if (has_shared_body()) [[unlikely]]
      return *reinterpret_cast<const std::byte *const *>(this + 1);
    return reinterpret_cast<const std::byte *>(this);
  }
  const void *payload() const noexcept { return body() + payload_offset; }
  const corq_header *headers() const noexcept {
    return reinterpret_cast<const corq_header *>(body() + sizeof(Message));
  }
  /// The value of header `key`, or an empty view with `found` false.
  std::string_view header(std::string_view key, bool &found) const noexcept;
  bool expired(std::int64_t now_ms) const noexcept {
    return expires_at_ms != 0 && now_ms >= expires_at_ms;
  }
};
static_assert(sizeof(Message) == 64, "the header must stay one cache line (memory per message)");

/// A header to write into a new block (views into the caller's memory).
struct HeaderView {
  std::string_view key;
  std::string_view value;
};

/// Allocates a block with these headers and payload; ids, times and counts are zero. nullptr when
/// out of memory. (Recovery rebuilds messages from log records with it.)
Message *build_message(const HeaderView *headers, std::size_t header_count, const void *payload,
                       std::size_t payload_len);

/// The common message needs no validation beyond this: no headers, no dedup id, data present (or
/// empty) and not too big. Inline so that the publish path checks it without a call; anything else
/// goes through validate_message for the exact error.
inline bool is_plain_message(const corq_message &m, std::uint64_t max_message_bytes) noexcept {
  return m.header_count == 0 && m.dedup_id == nullptr && (m.data != nullptr || m.len == 0) &&
         m.len <= max_message_bytes;
}

/// Validates a message to publish: data/headers pointers, header count and keys, dedup id.
/// Returns 0 or CORQ_EINVAL/CORQ_ETOOBIG with `error` filled.
int validate_message(const corq_message &message, std::uint64_t max_message_bytes,
                     const char *&error);

/// Allocates and fills a message block from a publish. Returns nullptr when out of memory.
Message *make_message(const corq_message &message, std::uint64_t id, std::int64_t published_at_ms,
                      std::int64_t expires_at_ms);

/// What a publish through a declared exchange adds to a message: the headers x-exchange and
/// x-routing-key, after the message's own (added after matching: they never take part in a
/// headers-exchange match).
struct RoutingStamp {
  std::string_view exchange;
  std::string_view routing_key;
};

/// make_message, plus the stamp's two headers. nullptr when out of memory.
Message *make_routed_message(const corq_message &message, const RoutingStamp &stamp,
                             std::uint64_t id, std::int64_t published_at_ms,
                             std::int64_t expires_at_ms);

/// What dead-lettering adds to a message (the x-death-* headers).
struct DeathNote {
  std::string_view reason;        // rejected | max_attempts | expired | maxlen
  std::string_view origin_queue;  // x-death-queue
  std::int64_t time_ms;           // x-death-time-ms
  std::string_view detail;        // x-death-detail (reject reason); empty: none
};

/// A copy of `original` with x-death-* headers replaced per `note` and x-death-count incremented.
/// Keeps id, payload, other headers, published_at, log_bucket and the shared_id flag; resets counts
/// and expiry. The copy is owned (a shared body is copied out).
/// nullptr when out of memory.
Message *make_dead_letter(const Message &original, const DeathNote &note);

/// An exact copy of `original` (used when a lease expires while its consumer may still read the
/// original). A copy of a shared message shares its body (one reference more). nullptr when out of
/// memory.
Message *copy_message(const Message &original);

/// Turns `original` (owned, just built, not yet in any queue) into `count` messages (count >= 2)
/// sharing one body: `out` gets them, each with original's id, times, counts and flags, and
/// original's block becomes their body. On failure (out of memory) returns false, frees whatever it
/// made, and leaves `original` as it was (still owned by the caller).
bool share_message(Message *original, Message **out, std::size_t count);

/// Frees a Message's block; for a shared one, drops its body reference and frees the body with the
/// last. Any thread.
void free_message(Message *message) noexcept;

}  // namespace corq::core
