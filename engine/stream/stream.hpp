// engine/stream/stream.hpp — a stream: named, partitioned, retained records (DESIGN.md §7).
//
// Appends pick a partition — Kafka's murmur2 partitioner for a keyed record, round robin (one
// atomic add) for one without a key — and go to that partition's append (partition.hpp). A
// dedup_id, when the stream has a dedup window, makes the append take the stream's dedup mutex
// around the check, the append and the record of its (partition, offset), so two appends of one
// id cannot both get in; appends without one never touch it.
//
// The retention limits are atomics: a redeclaration with update=true changes them while appends
// run. Lifetime: shared_ptr, held by the engine's registry and by every reader; deleting a stream
// unlinks it and marks it deleted (readers' next call gets CORQ_ENOENT).
#pragma once

#include "options/options.hpp"
#include "queue/dedup_window.hpp"
#include "stream/partition.hpp"
#include "stream/stream_log.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace corq::core {
class Engine;
struct RecoveredGroupPartition;
}  // namespace corq::core

namespace corq::core::stream {

/// Tests (engine/engine/testing.hpp's set_stream_release_hook): called once by the next segment
/// release of any durable stream, right after it has taken its release floor.
extern std::atomic<void (*)(void *)> testing_after_release_floor;
extern std::atomic<void *> testing_after_release_floor_arg;

class Group;

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::string name, const StreamOptions &options);

  const std::string &name() const noexcept { return name_; }
  std::uint32_t partition_count() const noexcept {
    return static_cast<std::uint32_t>(partitions_.size());
  }
  Partition &partition(std::uint32_t i) noexcept { return *partitions_[i]; }
  /// The options as declared, with the retention limits in force now.
  StreamOptions options() const;
  Limits limits() const noexcept;
  /// A redeclaration with update=true: the new retention limits (enforced by the next append
  /// and the scheduler's next pass).
  void update_retention(const StreamOptions &options) noexcept;

  /// Appends `count` records (>= 1, all with `key`) as one batch to the partition the key (or
  /// round robin) picks, all or none. CORQ_OK with `partition` and the first `offset`, or a CORQ_*
  /// code with `error`. The first record's dedup_id names the batch: seen within the window, the
  /// original's partition and offset come back and nothing is appended. A durable stream with
  /// sync=always waits until the batch is durable unless `nowait`, up to `timeout_ms` (-1: no
  /// limit; past it CORQ_ETIMEDOUT: the batch is appended and becomes durable later).
  int append(const void *key, std::size_t key_len, const corq_message *messages, std::size_t count,
             std::int64_t now_ms, bool nowait, std::int32_t timeout_ms, std::uint32_t &partition,
             std::uint64_t &offset, std::string &error);

  // ---- transactions (engine/txn/) ----
  /// The partition an append of `key` goes to (round robin takes a turn without a key).
  std::uint32_t choose_partition(const void *key, std::size_t key_len) noexcept {
    return pick_partition(key, key_len);
  }
  /// A committed transaction's record, to the partition its commit chose: never refused for
  /// room (discard=new was checked at commit; the limits apply again from the next append), its
  /// log batch marked with `mark` (ignored on a transient stream), deduplicated like append.
  /// Never waits: `lsn` gets the batch's LSN on a durable stream (0: nothing to wait for), and
  /// confirm_committed makes it visible once durable. CORQ_OK or the log's error.
  int append_committed(std::uint32_t partition, const void *key, std::size_t key_len,
                       const corq_message &message, std::int64_t now_ms, const TxnMark &mark,
                       wal::Lsn &lsn, std::string &error);
  /// Waits until `lsn` (append_committed's) is durable, up to `deadline`, and shows the batches
  /// through it in `partition`. CORQ_OK, CORQ_ETIMEDOUT, CORQ_EFAILED with `error`.
  int confirm_committed(std::uint32_t partition, wal::Lsn lsn,
                        std::chrono::steady_clock::time_point deadline, std::string &error);
  /// Transactions applying records here now, and the engine log's LSN of the last txn_applied
  /// record naming this stream: until that is durable, the engine's recovery would append those
  /// records again if this log no longer held them, so the scheduler releases no segment before
  /// (Engine::enforce_stream_retention).
  std::atomic<std::uint32_t> txn_applying{0};
  std::atomic<std::uint64_t> txn_applied_lsn{0};

  // ---- durable streams (stream_log.hpp) ----
  /// Opens the stream's log (replaying its records into the partitions) and sends every later
  /// append there. Once, right after construction, before anyone else sees the stream.
  int open_log(const StreamLogConfig &config, std::uint32_t sid, std::string &error);
  /// The durable stream's id in the data directory (0: transient).
  std::uint32_t sid() const noexcept { return sid_; }
  StreamLog *log() noexcept { return log_.get(); }
  /// Evicts the oldest chunks of every partition that are in the log while the engine is over its
  /// stream cache (the scheduler's pass). Returns the bytes freed.
  std::uint64_t evict(wal::Lsn durable_lsn);
  /// Record memory resident in its partitions (stats).
  std::uint64_t resident_bytes() const noexcept;
  /// The log's writer: batches through `lsn` are durable (gated partitions show them).
  void on_durable(wal::Lsn lsn);
  /// Recovery: the batch at (partition, offset) carried `dedup_id`, appended at `timestamp_ms`.
  void restore_dedup(std::string_view dedup_id, std::uint32_t partition, std::uint64_t offset,
                     std::int64_t timestamp_ms);
  /// Frees the log segments that hold only records retention deleted (after a marks record).
  /// Returns the segments released or a CORQ_* code with `error`.
  int release_segments(std::string &error);
  /// Retention deleted records of this durable stream since the scheduler last released
  /// segments: true once per such burst (the caller then pokes the scheduler).
  bool take_release_poke() noexcept {
    return release_poke_.load(std::memory_order_relaxed) &&
           release_poke_.exchange(false, std::memory_order_acq_rel);
  }
  /// The scheduler's pass: releases segments if records were deleted since the last time, at
  /// most every release_interval_ms. Returns when to look again (0: not before the next deletion).
  std::int64_t maybe_release(std::int64_t now_ms, std::string &error, int &rc);
  static constexpr std::int64_t release_interval_ms = 100;
  /// corq_sync: everything appended so far is on the disk. CORQ_OK or the log's error.
  int sync(std::chrono::steady_clock::time_point deadline, std::string &error);
  /// Flushes and closes the log (engine close, stream deletion). Idempotent.
  void close_log() noexcept;

  /// The scheduler's pass: retention_ms everywhere. Returns when it is next due (0: never).
  std::int64_t enforce_retention(std::int64_t now_ms);

  bool deleted() const noexcept { return deleted_.load(std::memory_order_acquire); }
  /// corq_stream_delete: readers waiting on any partition wake and see it.
  void mark_deleted() noexcept;
  /// corq_close: wakes every waiting reader and group member (they see the engine closed).
  void wake_readers() noexcept;

  /// Group members waiting for work wait here: every append, and every group change that may
  /// give a member something (a release, a retry falling due, a partition moving), notifies it.
  sync::EventCount &activity() noexcept { return activity_; }

  // ---- consumer groups (stream/group.hpp) ----
  /// The group `name`: the existing one if `options` match its definition (prefetch aside), else
  /// CORQ_EEXIST; a new one (`created` true) otherwise. CORQ_* code, `error`.
  int open_group(Engine &engine, const std::string &name, const GroupOptions &options,
                 const std::string &dead_letter_name, std::shared_ptr<Group> &out, bool &created,
                 std::string &error);
  std::shared_ptr<Group> find_group(const std::string &name);
  /// Recovery: a durable group as the engine's log left it (no members yet).
  void adopt_group(Engine &engine, const std::string &name, const GroupOptions &options,
                   const std::string &dead_letter_name,
                   const std::map<std::uint32_t, RecoveredGroupPartition> &state);
  /// corq_group_delete: CORQ_ENOENT if there is none.
  int delete_group(const std::string &name, std::string &error);
  std::vector<std::shared_ptr<Group>> groups_snapshot();
  /// Marks every group deleted and lets go of them (a group holds its stream: this breaks the
  /// cycle). Stream deletion and engine destruction.
  void drop_groups() noexcept;

  // Counters since the engine opened (corq_stream_stats), relaxed.
  std::atomic<std::uint64_t> appended{0}, deleted_by_retention{0}, deduplicated{0};

 private:
  std::uint32_t pick_partition(const void *key, std::size_t key_len) noexcept;
  /// append and append_committed: `fixed_partition` < 0 picks one; `unlimited` skips discard=new.
  int append_to_partition(std::int64_t fixed_partition, const void *key, std::size_t key_len,
                          const corq_message *messages, std::size_t count, std::int64_t now_ms,
                          bool unlimited, const TxnMark *mark, std::uint32_t &partition,
                          std::uint64_t &offset, wal::Lsn &lsn, std::string &error);

  const std::string name_;
  const StreamOptions declared_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::atomic<std::int64_t> retention_ms_;
  std::atomic<std::uint64_t> retention_bytes_, retention_records_;
  alignas(64) std::atomic<std::uint32_t> round_robin_{0};
  std::atomic<bool> deleted_{false};
  std::mutex dedup_mutex_;  // the whole check-append-record of an append with a dedup_id
  std::unique_ptr<DedupWindow> dedup_;
  alignas(64) sync::EventCount activity_;
  std::mutex groups_mutex_;
  std::map<std::string, std::shared_ptr<Group>> groups_;  // groups_mutex_
  std::uint32_t sid_ = 0;
  std::unique_ptr<StreamLog> log_;  // durable streams
  /// Records deleted since the last release (durable streams), and whether the scheduler was
  /// asked to look; last_release_ms_ is the scheduler's.
  std::atomic<std::uint64_t> unreleased_deletions_{0};
  std::atomic<bool> release_poke_{false};
  std::int64_t last_release_ms_ = 0;
  void note_deleted(std::uint64_t deleted) noexcept;
};

/// A dedup window entry for (partition, offset): offsets stay below 2^52, partitions below 2^12.
inline std::uint64_t dedup_value(std::uint32_t partition, std::uint64_t offset) noexcept {
  return static_cast<std::uint64_t>(partition) << 52 | offset;
}

}  // namespace corq::core::stream
