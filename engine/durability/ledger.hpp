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
#pragma once

#include "queue/message.hpp"

#include <log/log.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace corq::core {

class LiveLedger {
 public:
  static constexpr unsigned bucket_shift = 12;
  static constexpr std::uint64_t chunk_buckets = 1024;
  static constexpr std::uint64_t directory_chunks = 4096;

  LiveLedger() = default;
  ~LiveLedger() {
    for (auto &chunk : directory_) delete[] chunk.load(std::memory_order_relaxed);
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
  }
  /// The message left: its bucket counts one live message less. No-op for unlogged messages.
  void unpin(Message *message) noexcept {
    if (message->log_bucket == 0) return;
    counter(message->log_bucket - 1, false).fetch_sub(1, std::memory_order_release);
    message->log_bucket = 0;
  }
  /// Live messages in `bucket` (0 for a bucket never used).
  std::int64_t live(std::uint64_t bucket) const noexcept {
    const std::uint64_t index = bucket % (chunk_buckets * directory_chunks);
    const auto *chunk = directory_[index / chunk_buckets].load(std::memory_order_acquire);
    return chunk == nullptr ? 0 : chunk[index % chunk_buckets].load(std::memory_order_acquire);
  }

 private:
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
};

}  // namespace corq::core
