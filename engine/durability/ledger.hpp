// engine/durability/ledger.hpp — how many live messages each stretch of the log still holds.
//
// A durable message can be recovered from its publish record, so the log must keep every segment
// from the oldest publish record of a live message onwards. The ledger counts live messages per
// bucket of 4096 consecutive LSNs: +1 when a publish record is appended (inside the log's append,
// see wal::AppendHook, so a bucket below last_appended_lsn() is never missing a count), -1 when
// the message leaves (ack, purge, drop, delete). The checkpointer releases segments below the
// first bucket with a non-zero count.
//
// Lock-free: counters are atomics in chunks of 1024 buckets, found through a fixed directory of
// 4096 chunk pointers; chunks are created by appends (one at a time: the log's append mutex) and
// published with a release store before any message can name them. The directory covers 2^34 LSNs
// and wraps around: buckets 2^22 apart share a counter. That only matters if one message stays live
// while 17 billion records are written after it (see the README's limits).
//
// A fan-out publishes one id into several queues; each durable copy is pinned and unpinned on its
// own, and the id must stay live until the last copy leaves. Every copy of a fan-out carries
// Message::shared_id (transient ones too: one may move into a durable queue later), and a small
// map (a mutex; flagged messages only) counts the pins of flagged messages per id. A message that
// was pinned before it got siblings (a dead letter routed through an exchange) joins with share().
//
// It also knows which message ids are live, one bit per id, for compaction: a record that names
// only settled messages can be dropped from old segments (Journal::compact). Bits are set with the
// count (inside the append) and cleared with it; chunks of 2^18 ids (32 KiB) are created by pins
// and freed by trim_ids once empty. A chunk whose slot is still held by a chunk of ids 2^34 older
// (a message live while 17 billion newer ones were published) cannot be represented: the ledger
// then answers "live" for every id from that moment on, so compaction keeps everything.
#pragma once

#include "queue/message.hpp"

#include <log/log.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace corq::core {

/// The live message ids as one moment saw them: what a compaction decides by (Journal::compact).
/// Asking the ledger itself record by record let a message settled half-way through a scan keep
/// its publish record (seen live) and lose its dead_letter record (seen settled): recovered, it
/// came back in the queue it had left. A snapshot answers the same for every record of an id.
class LiveIdSnapshot {
 public:
  bool live(std::uint64_t id) const noexcept {
    if (all_live_) return true;
    const std::uint64_t base = id >> chunk_shift;
    const auto it = std::lower_bound(bases_.begin(), bases_.end(), base);
    if (it == bases_.end() || *it != base) return false;
    const std::uint64_t bit = id & ((std::uint64_t{1} << chunk_shift) - 1);
    return (words_[static_cast<std::size_t>(it - bases_.begin()) * chunk_words + bit / 64] >>
            (bit % 64)) &
           1u;
  }

 private:
  friend class LiveLedger;
  static constexpr unsigned chunk_shift = 18;
  static constexpr std::size_t chunk_words = (std::size_t{1} << chunk_shift) / 64;
  bool all_live_ = false;
  std::vector<std::uint64_t> bases_;  // sorted: chunk i's ids are [bases_[i] << chunk_shift, ...)
  std::vector<std::uint64_t> words_;  // chunk_words per chunk, in bases_' order
};

class LiveLedger {
 public:
  static constexpr unsigned bucket_shift = 12;
  static constexpr std::uint64_t chunk_buckets = 1024;
  static constexpr std::uint64_t directory_chunks = 4096;

  LiveLedger() = default;
  ~LiveLedger() {
    for (auto &chunk : directory_) delete[] chunk.load(std::memory_order_relaxed);
    for (auto &chunk : ids_) delete chunk.load(std::memory_order_relaxed);
  }
  LiveLedger(const LiveLedger &) = delete;
  LiveLedger &operator=(const LiveLedger &) = delete;

  static std::uint64_t bucket_of(wal::Lsn lsn) noexcept { return lsn >> bucket_shift; }
  static wal::Lsn first_lsn_of(std::uint64_t bucket) noexcept { return bucket << bucket_shift; }

  /// Counts `message` as live in the bucket of `lsn` and remembers the bucket in it. Appends only
  /// (one thread at a time), or recovery before the engine runs.
  void pin(Message *message, wal::Lsn lsn) {
    const std::uint64_t bucket = bucket_of(lsn);
    counter(bucket, /*create=*/true).fetch_add(1, std::memory_order_relaxed);
    message->log_bucket = static_cast<std::uint32_t>(bucket + 1);
    if (message->has_shared_id()) {
      std::lock_guard lock(shared_mutex_);
      ++shared_copies_[message->id];
    }
    mark_live(message->id);
  }
  /// The message left: its bucket counts one live message less. No-op for unlogged messages.
  void unpin(Message *message) noexcept {
    if (message->log_bucket == 0) return;
    // The id first: a compaction that still sees it live keeps the message's records (safe);
    // one that sees it settled drops them only after the remove record is durable. A shared id
    // stays live while another copy holds it.
    if (!message->has_shared_id() || last_shared_copy(message->id)) clear_live(message->id);
    counter(message->log_bucket - 1, false).fetch_sub(1, std::memory_order_release);
    message->log_bucket = 0;
  }
  /// `message` (pinned, not flagged) is about to get pinned siblings with its id: from now on it
  /// counts among the id's shared pins. No-op for unlogged or already flagged messages.
  void share(Message *message) {
    if (message->log_bucket == 0 || message->has_shared_id()) return;
    std::lock_guard lock(shared_mutex_);
    ++shared_copies_[message->id];
    message->flags = static_cast<std::uint16_t>(message->flags | Message::shared_id);
  }
  /// Whether message `id` is pinned (true for every id once ids aliased; see the top).
  bool id_live(std::uint64_t id) const noexcept {
    if (ids_aliased_.load(std::memory_order_acquire)) return true;
    const IdChunk *chunk =
        ids_[(id >> id_chunk_shift) % id_directory_chunks].load(std::memory_order_acquire);
    if (chunk == nullptr || chunk->base != id >> id_chunk_shift) return false;
    const std::uint64_t bit = id & (ids_per_chunk - 1);
    return (chunk->words[bit / 64].load(std::memory_order_acquire) >> (bit % 64)) & 1u;
  }
  /// Frees id chunks with no live id that lie wholly below `below_id` (ids already handed out).
  /// Only while no pin() runs (inside an append, or before the engine runs); unpins may run.
  void trim_ids(std::uint64_t below_id) noexcept {
    for (auto &slot : ids_) {
      IdChunk *chunk = slot.load(std::memory_order_acquire);
      if (chunk == nullptr || (chunk->base + 1) << id_chunk_shift > below_id) continue;
      bool empty = true;
      for (const auto &word : chunk->words) {
        if (word.load(std::memory_order_acquire) != 0) {
          empty = false;
          break;
        }
      }
      if (!empty) continue;
      // An unpin of an id here has finished its clear (the bit was the last one set), and no pin
      // of an id this low can come: nothing touches the chunk any more.
      slot.store(nullptr, std::memory_order_release);
      delete chunk;
    }
  }
  /// A copy of the live ids (32 KiB per chunk of 2^18 ids holding a live one). On the thread
  /// that calls trim_ids (the log maintainer's: checkpoints and compactions), which frees chunks.
  LiveIdSnapshot snapshot_ids() const {
    LiveIdSnapshot out;
    out.all_live_ = ids_aliased_.load(std::memory_order_acquire);
    if (out.all_live_) return out;
    std::vector<const IdChunk *> chunks;
    for (const auto &slot : ids_) {
      if (const IdChunk *chunk = slot.load(std::memory_order_acquire); chunk != nullptr)
        chunks.push_back(chunk);
    }
    std::sort(chunks.begin(), chunks.end(),
              [](const IdChunk *a, const IdChunk *b) { return a->base < b->base; });
    out.bases_.reserve(chunks.size());
    out.words_.reserve(chunks.size() * LiveIdSnapshot::chunk_words);
    for (const IdChunk *chunk : chunks) {
      out.bases_.push_back(chunk->base);
      for (const auto &word : chunk->words)
        out.words_.push_back(word.load(std::memory_order_acquire));
    }
    // Aliasing seen while copying: the copy may miss ids; answer "live" for all, as id_live does.
    out.all_live_ = ids_aliased_.load(std::memory_order_acquire);
    return out;
  }

  /// Id chunks allocated now (for stats and tests).
  std::size_t id_chunks() const noexcept {
    std::size_t n = 0;
    for (const auto &slot : ids_) n += slot.load(std::memory_order_relaxed) != nullptr;
    return n;
  }

  /// Live messages in `bucket` (0 for a bucket never used).
  std::int64_t live(std::uint64_t bucket) const noexcept {
    const std::uint64_t index = bucket % (chunk_buckets * directory_chunks);
    const auto *chunk = directory_[index / chunk_buckets].load(std::memory_order_acquire);
    return chunk == nullptr ? 0 : chunk[index % chunk_buckets].load(std::memory_order_acquire);
  }

 private:
  static constexpr unsigned id_chunk_shift = LiveIdSnapshot::chunk_shift;
  static constexpr std::uint64_t ids_per_chunk = std::uint64_t{1} << id_chunk_shift;
  static constexpr std::uint64_t id_directory_chunks = std::uint64_t{1} << 16;
  struct IdChunk {
    explicit IdChunk(std::uint64_t b) : base(b) {}
    const std::uint64_t base;  // id >> id_chunk_shift of its ids
    std::array<std::atomic<std::uint64_t>, ids_per_chunk / 64> words{};
  };

  /// Counts one copy of `id` gone; true if it was the last.
  bool last_shared_copy(std::uint64_t id) noexcept {
    std::lock_guard lock(shared_mutex_);
    auto it = shared_copies_.find(id);
    if (it == shared_copies_.end() || --it->second == 0) {
      if (it != shared_copies_.end()) shared_copies_.erase(it);
      return true;
    }
    return false;
  }

  /// Pins only (one at a time), like pin().
  void mark_live(std::uint64_t id) {
    auto &slot = ids_[(id >> id_chunk_shift) % id_directory_chunks];
    IdChunk *chunk = slot.load(std::memory_order_acquire);
    if (chunk == nullptr) {
      chunk = new IdChunk(id >> id_chunk_shift);
      slot.store(chunk, std::memory_order_release);
    } else if (chunk->base != id >> id_chunk_shift) {
      ids_aliased_.store(true, std::memory_order_release);
      return;
    }
    const std::uint64_t bit = id & (ids_per_chunk - 1);
    chunk->words[bit / 64].fetch_or(std::uint64_t{1} << (bit % 64), std::memory_order_relaxed);
  }
  void clear_live(std::uint64_t id) noexcept {
    IdChunk *chunk =
        ids_[(id >> id_chunk_shift) % id_directory_chunks].load(std::memory_order_acquire);
    if (chunk == nullptr || chunk->base != id >> id_chunk_shift) return;
    const std::uint64_t bit = id & (ids_per_chunk - 1);
    chunk->words[bit / 64].fetch_and(~(std::uint64_t{1} << (bit % 64)), std::memory_order_release);
  }

  std::atomic<std::int64_t> &counter(std::uint64_t bucket, bool create) {
    const std::uint64_t index = bucket % (chunk_buckets * directory_chunks);
    auto &slot = directory_[index / chunk_buckets];
    std::atomic<std::int64_t> *chunk = slot.load(std::memory_order_acquire);
    if (chunk == nullptr && create) {
      chunk = new std::atomic<std::int64_t>[chunk_buckets] {};
      slot.store(chunk, std::memory_order_release);
    }
    return chunk[index % chunk_buckets];
  }

  std::array<std::atomic<std::atomic<std::int64_t> *>, directory_chunks> directory_{};
  std::array<std::atomic<IdChunk *>, id_directory_chunks> ids_{};
  std::atomic<bool> ids_aliased_{false};
  std::mutex shared_mutex_;
  std::unordered_map<std::uint64_t, std::uint32_t> shared_copies_;  // shared_mutex_
};

}  // namespace corq::core
