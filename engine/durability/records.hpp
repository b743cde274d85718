// engine/durability/records.hpp — the engine's records in the write-ahead log.
//
// The log (wal/) stores typed byte strings; this file says what the engine's types mean and how
// their bytes are laid out. Everything is little-endian, packed, without padding. Strings are a
// length (u16 or u32, as noted) followed by the bytes.
//
// Queues are named by a queue id (u32, never reused within a data directory: a queue deleted and
// declared again gets a new id), so a record written before a delete can never apply to the queue
// declared after it. Messages are named by their id (u64, unique in the data directory): a message
// lives in exactly one queue at a time, so removal records need no queue to find it.
//
//   declare      u32 qid, str16 name, str32 options ("key=value\n"...; parse_queue_options reads
//   it) delete       u32 qid publish      u32 qid, u64 id, i64 published_at_ms, i64 expires_at_ms
//   (0 never),
//                i64 due_ms (0: ready; else delayed until then, unix ms), u32 delivery_count,
//                u32 failed_attempts, str16 dedup_id, u16 header_count,
//                header_count × (str16 key, str32 value), then the payload (rest of the record)
//   remove       u32 qid, u32 n, n × u64 id           (ack, purge, drop: the messages are gone)
//   deliver      u32 qid, u32 n, n × u64 id           (each was delivered once more)
//   retry        u32 qid, u64 id, u32 failed_attempts, i64 due_ms (0: ready now)
//   dead_letter  u32 from_qid, u32 to_qid, u64 id, i64 time_ms, i64 expires_at_ms,
//                str16 reason, str16 origin queue name, str16 detail
//                (the message becomes make_dead_letter(original, note) in to_qid)
//   redrive      u32 from_qid, u32 to_qid, u64 id, i64 expires_at_ms (counts reset)
//   checkpoint   u64 next_message_id, u32 next_qid, u32 next_xid, u32 next_sid, u64 txn_committed,
//                u64 txn_aborted, u64 txn_failed, u64 txn_counted_through  (first record of a
//                checkpoint batch; logs written before exchanges end after next_qid, before
//                streams after next_xid, before transaction counters after next_sid). The txn_*
//                counters are transactions since the data directory was created: txn_committed
//                counts every txn_commit record up to LSN txn_counted_through (0: none) and the
//                commits that logged nothing; recovery adds the txn_commit records after that LSN
//                (a crash keeps them exact), while aborts and failures, which write nothing, count
//                only as far as the last checkpoint (corq_close writes one when they changed).
//   dedup        u32 qid, u32 n, n × (u64 message_id, i64 recorded_ms, str16 dedup_id)
//   publish_fanout  u64 id, u16 n, n × (u32 qid, i64 expires_at_ms), i64 published_at_ms,
//                i64 due_ms, str16 dedup_id, u16 header_count, header_count × (str16 key,
//                str32 value), then the payload: one message published through an exchange into
//                n durable queues (one record: after a crash it is in all of them or in none).
//                Each queue's copy is settled on its own; records about a copy name (qid, id).
//   declare_exchange  u32 xid, str16 name, u8 type (routing::ExchangeType), str32 options
//                ("key=value\n"...; parse_exchange_options reads it)
//   delete_exchange   u32 xid
//   bind         u32 source xid, u8 destination kind (0 queue, 1 exchange), u32 destination
//   unbind       (qid or xid), str16 key, u16 n, n × (str16 key, u8 has_value, str32 value), the
//                arguments sorted, so the same binding always has the same bytes
//   publish_priority         u8 priority (1-32), then a publish record's fields
//   publish_fanout_priority  u8 priority (1-32), then a publish_fanout record's fields
//                (what a publish with corq_publish_options.priority > 0 writes instead; the
//                priority counts in queues with max_priority, message.hpp)
//   declare_stream  u32 sid, str16 name, str32 options ("key=value\n"...; parse_stream_options
//                reads it): a durable stream, its records in the directory streams/<sid>/ (a log
//                of its own, stream/stream_log.hpp). A redeclaration with update=true writes it
//                again with the same sid and the new retention limits.
//   delete_stream   u32 sid (then its directory is removed; recovery removes one left behind)
//   declare_group   u32 sid, str16 group, str32 options (parse_group_options reads it): a consumer
//                group of a durable stream, logged when its first member creates it, followed
//                by a group_progress reset per partition (where it starts)
//   delete_group    u32 sid, str16 group
//   group_progress  u32 sid, str16 group, u8 kind, u32 partition, u64 a, u64 b — kind 0 settle:
//                offset a settled (acked, dead-lettered, skipped), b the committed offset after
//                it, then u64 the partition's generation (logs before 2026-12-07 lack it: a
//                settle may come before the checkpoint copy it follows, the reset of its
//                generation released, and recovery then starts from it); kind 1 reset: the
//                committed offset is a and b the partition's new generation (creation,
//                corq_group_seek), nothing above it settled; kind 2 failed: offset a has b failed
//                attempts. Appended lazily like acks (durable with the next group commit). A
//                checkpoint's copy of a group (taken before its batch is appended, so acks logged
//                meanwhile come before it in the log) uses kinds that only merge: 3 committed a of
//                generation b (moves the committed offset forward only; a copy of an older
//                generation — taken before a seek — is ignored), 4 offset a settled in generation
//                b, 5 offset a with (b & 255) failed attempts in generation b >> 8.
//   txn_append   u64 txn_id, u32 sid, u32 partition, u32 key_len + 1 (0: no key), the key,
//                str16 dedup_id, u16 header_count, header_count × (str16 key, str32 value), then
//                the payload: one record a committed transaction appends to a durable stream
//                (engine/txn/). A transaction's commit is one log batch holding all its records:
//                publish / publish_fanout (its messages), remove (its acks of durable queue
//                deliveries), group_progress kind 4 (its acks of group deliveries, with the
//                generation they were delivered in), txn_append, and last a txn_commit. The
//                stream records reach the stream's own log only after this batch is durable, in
//                a batch ending with a txn record naming txn_id; recovery appends them again to a
//                stream whose log does not name it.
//   txn_applied  u64 txn_id, u32 n, n × u32 sid: the transaction's stream records are durable in
//                those streams' logs (appended lazily; recovery then skips them even when
//                retention has since released them there).
//   txn_commit   u64 txn_id (0: the transaction has no txn_append records): the last record of
//                every transaction's commit batch — one per committed transaction that logged
//                anything, which the checkpoint's txn_committed counter counts.
// Exchanges are named by an exchange id (u32, never reused, like queue ids). Only durable
// exchanges and bindings between durable ends are logged; a checkpoint re-logs all of them.
//
// A publish batch is one log batch (atomic on recovery). A publish record is written only for a
// message new to its queue (published, or moved in from a transient queue); a second publish record
// with a (qid, id) already live is a second copy of a fanned-out message (recovery.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corq::core::records {

enum Type : std::uint8_t {
  declare = 1,
  remove_queue = 2,
  publish = 3,
  remove = 4,
  deliver = 5,
  retry = 6,
  dead_letter = 7,
  redrive = 8,
  checkpoint = 9,
  dedup = 10,
  publish_fanout = 11,
  declare_exchange = 12,
  delete_exchange = 13,
  bind = 14,
  unbind = 15,
  publish_priority = 16,
  publish_fanout_priority = 17,
  declare_stream = 18,
  delete_stream = 19,
  declare_group = 20,
  delete_group = 21,
  group_progress = 22,
  txn_append = 23,
  txn_applied = 24,
  txn_commit = 25,
};

/// Name of a record type, for corqctl dump and error messages ("unknown" if none).
const char *type_name(std::uint8_t type) noexcept;

/// Appends little-endian fields to a byte vector.
class Writer {
 public:
  explicit Writer(std::vector<std::byte> &out) : out_(out) {}
  void u8(std::uint8_t v) { put(&v, 1); }
  void u16(std::uint16_t v) { put(&v, 2); }
  void u32(std::uint32_t v) { put(&v, 4); }
  void u64(std::uint64_t v) { put(&v, 8); }
  void i64(std::int64_t v) { put(&v, 8); }
  void str16(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    put(s.data(), s.size());
  }
  void str32(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    put(s.data(), s.size());
  }
  void bytes(const void *data, std::size_t n) { put(data, n); }

 private:
  void put(const void *p, std::size_t n) {
    if (n == 0) return;
    // resize + memcpy rather than insert: GCC 12 warns falsely on vector<byte>::insert ranges.
    const std::size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);  // x86-64 and AArch64 are little-endian
  }
  std::vector<std::byte> &out_;
};

/// Reads fields back; every read is bounds-checked and a short record makes ok() false (the
/// records passed their checksum, so that means a format mismatch: reported as corruption).
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  bool ok() const noexcept { return ok_; }
  std::uint8_t u8() { return get<std::uint8_t>(); }
  std::uint16_t u16() { return get<std::uint16_t>(); }
  std::uint32_t u32() { return get<std::uint32_t>(); }
  std::uint64_t u64() { return get<std::uint64_t>(); }
  std::int64_t i64() { return get<std::int64_t>(); }
  std::string_view str16() { return take(u16()); }
  std::string_view str32() { return take(u32()); }
  /// The next `n` bytes as text.
  std::string_view take_view(std::size_t n) { return take(n); }
  /// The unread rest of the record.
  std::span<const std::byte> rest() noexcept {
    auto r = in_.subspan(pos_);
    pos_ = in_.size();
    return r;
  }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }

 private:
  template <class T>
  T get() {
    T v{};
    if (!ok_ || in_.size() - pos_ < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view take(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string_view s(reinterpret_cast<const char *>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

/// A human-readable line for one record (corqctl dump); never fails (bad bytes are said so).
std::string describe(std::uint8_t type, std::span<const std::byte> payload);

}  // namespace corq::core::records
