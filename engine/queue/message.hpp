// engine/queue/message.hpp — a message as the engine holds it: one allocation, one owner.
//
// A message is a single mimalloc block: a 64-byte header (this struct), then the corq_header array,
// then the header keys and values, then the payload. Deliveries hand out pointers into the block
// (zero-copy), so the block must stay put while a consumer holds it.
//
//   [ Message 64 B | corq_header × n | key\0 value key\0 value ... | payload ]
//
// Ownership: at any moment exactly one place owns a message — a queue's ready ring, its returned
// list, its timer wheel (delayed), a consumer's prefetch window slot, or the code moving it between
// them. Nothing is reference-counted. Memory per ready 64-byte message: 128 B block (mimalloc size
// class) + a 24 B ring cell.
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
  std::uint16_t header_count;     // <= headers_max + 5 (x-death-*)
  std::uint16_t reserved;
  /// Durable messages: the write-ahead log's live-record bucket holding the record this message
  /// can be recovered from, plus one (durability/ledger.hpp); 0 for a message not in the log.
  /// Moves with the message (dead-lettering, lease-expiry copies) until the message leaves.
  std::uint32_t log_bucket;

  std::size_t block_bytes() const noexcept { return std::size_t{payload_offset} + payload_len; }

  const void *payload() const noexcept {
    return reinterpret_cast<const std::byte *>(this) + payload_offset;
  }
  const corq_header *headers() const noexcept {
    return reinterpret_cast<const corq_header *>(this + 1);
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

/// What dead-lettering adds to a message (the x-death-* headers).
struct DeathNote {
  std::string_view reason;        // rejected | max_attempts | expired | maxlen
  std::string_view origin_queue;  // x-death-queue
  std::int64_t time_ms;           // x-death-time-ms
  std::string_view detail;        // x-death-detail (reject reason); empty: none
};

/// A copy of `original` with x-death-* headers replaced per `note` and x-death-count incremented.
/// Keeps id, payload, other headers, published_at and log_bucket; resets counts and expiry.
/// nullptr when out of memory.
Message *make_dead_letter(const Message &original, const DeathNote &note);

/// An exact copy of `original` (used when a lease expires while its consumer may still read the
/// original). nullptr when out of memory.
Message *copy_message(const Message &original);

void free_message(Message *message) noexcept;

}  // namespace corq::core
