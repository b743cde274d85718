// engine/durability/journal.hpp — what durable queues write to the write-ahead log, and when they
// wait for it.
//
// The journal turns engine events into log records (records.hpp) and owns the log and the live
// ledger. Costs per message on a durable queue:
//   publish  one record: an encoded head (ids, times, headers) and the payload appended straight
//            from the message block (one copy, into the log's pending buffer), in one append per
//            batch; with sync=always the publisher then waits for the group commit that holds it;
//   consume  one `deliver` record per corq_consume call (ids only), not waited for;
//   ack      one `remove` record per ack (per ack_upto: one for all), not waited for.
// Settlement and delivery records use the log's reserved space, so a full disk stops publishers
// (CORQ_ENOSPC) but never consumers.
//
// Fail-stop: once the log has failed, every durable operation returns CORQ_EFAILED.
#pragma once

#include "durability/ledger.hpp"
#include "durability/records.hpp"
#include "options/options.hpp"
#include "queue/message.hpp"

#include <log/log.hpp>

#include <corq/corq.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corq::core {

struct RecoveredState;

/// The engine's io_backend and direct_io options as the log takes them (the journal's log and
/// every durable stream's).
wal::BackendChoice backend_choice(const EngineOptions &options) noexcept;
wal::DirectIoChoice direct_io_choice(const EngineOptions &options) noexcept;

/// A transaction's commit as one log batch (engine/txn/): the records, their pins, the messages
/// its acks remove. Filled by the transaction, appended by Journal::log_transaction.
struct TxnBatch {
  struct Entry {
    std::uint8_t type;
    std::size_t head_begin, head_end;  // the record's encoded head: heads[head_begin, head_end)
    std::span<const std::byte> tail;   // appended after it (a payload, where it lives)
  };
  std::vector<std::byte> heads;
  std::vector<Entry> entries;
  /// (entry index, message): the message is pinned at that record's LSN (a publish record pins
  /// its message, a publish_fanout record every copy).
  std::vector<std::pair<std::size_t, Message *>> pins;
  /// Messages the batch's remove records take out of their queues: unpinned once it is logged.
  std::vector<Message *> removed;
  /// Starts a record of `type` whose head the caller then writes into `heads`.
  void begin(std::uint8_t type) { entries.push_back({type, heads.size(), 0, {}}); }
  /// Ends the record begun last; `tail` follows its head.
  void end(std::span<const std::byte> tail = {}) {
    entries.back().head_end = heads.size();
    entries.back().tail = tail;
  }
  bool empty() const noexcept { return entries.empty(); }
};

/// Tests (engine/engine/testing.hpp's set_compaction_hook): called once by the next compaction
/// that meets a dead_letter record, before it decides whether to keep it.
extern std::atomic<void (*)(void *)> testing_compaction_meets_dead_letter;
extern std::atomic<void *> testing_compaction_meets_dead_letter_arg;

class Journal {
 public:
  /// Opens (or creates) the log in `dir` and replays it into `state`. Returns a CORQ_* code:
  /// CORQ_EBUSY (another process has it), CORQ_ECORRUPT (with file and offset), CORQ_EIO.
  static int open(const std::string &dir, const EngineOptions &options, RecoveredState &state,
                  std::unique_ptr<Journal> &out, std::string &error);
  ~Journal();

  // ---- data path ----
  /// Logs a batch of publishes to queue `qid` (one atomic log batch) and pins the messages.
  /// `sources` (may be NULL) are the corq_messages they were built from, message m from
  /// sources[m.id - first_id] (for its dedup id). `due_ms` > 0: delayed until then. Returns
  /// CORQ_OK, CORQ_ENOSPC, CORQ_EFAILED, CORQ_ECLOSED or CORQ_ETOOBIG (batch larger than a
  /// segment), with `error`.
  int log_publish(std::uint32_t qid, Message *const *messages, std::size_t count,
                  const corq_message *sources, std::uint64_t first_id, std::int64_t due_ms,
                  wal::Lsn &lsn, std::string &error);
  /// Logs one message published through an exchange into several durable queues as one record
  /// (records::publish_fanout): copies[i] is the copy in queue qids[i]; all share an id, headers
  /// and payload. Pins every copy at that record. Errors as log_publish.
  int log_publish_fanout(const std::uint32_t *qids, Message *const *copies, std::size_t count,
                         const char *dedup_id, std::int64_t due_ms, wal::Lsn &lsn,
                         std::string &error);
  /// The messages left queue `qid` for good (ack, purge, drop): logs it, then unpins them. Returns
  /// CORQ_OK or the log's failure code. The messages are not freed here.
  int log_remove(std::uint32_t qid, Message *const *messages, std::size_t count);
  int log_deliver(std::uint32_t qid, const corq_delivery *deliveries, std::size_t count);
  /// A failed attempt: the message's failed_attempts as it is now, ready again at `due_ms` (0:
  /// now).
  int log_retry(std::uint32_t qid, const Message &message, std::int64_t due_ms);
  /// `message` (already dead-lettered: new headers, expiry) moved from `from_qid` to `to_qid`.
  int log_dead_letter(std::uint32_t from_qid, std::uint32_t to_qid, const Message &message,
                      std::string_view reason, std::string_view origin, std::string_view detail,
                      std::int64_t time_ms);
  int log_redrive(std::uint32_t from_qid, std::uint32_t to_qid, const Message &message);
  void unpin(Message *message) noexcept { ledger_.unpin(message); }
  /// A consumer group's progress (records::group_progress): appended lazily like an ack, from the
  /// reserved space, not waited for. CORQ_OK or the log's failure code.
  int log_group_progress(const std::vector<std::byte> &payload) {
    return append_reserved(records::group_progress, payload, wal::Urgency::lazy);
  }

  /// The head of a publish (or publish_priority) record of `m` in queue `qid`; returns the type.
  static std::uint8_t encode_publish(records::Writer &w, std::uint32_t qid, const Message &m,
                                     std::string_view dedup_id, std::int64_t due_ms);
  /// The head of a publish_fanout (or _priority) record of `copies` (one id) in queues `qids`.
  static std::uint8_t encode_fanout(records::Writer &w, const std::uint32_t *qids,
                                    Message *const *copies, std::size_t count,
                                    std::string_view dedup_id, std::int64_t due_ms);

  // ---- transactions (engine/txn/) ----
  /// Appends a transaction's batch (one log batch: after a crash all of it or none), pins its
  /// messages, unpins the ones its acks removed, and holds the log from `lsn` on (live_floor
  /// never passes a held batch, and compaction keeps its records) until release_txn_hold: its
  /// group acks and stream records must stay in this log until they are applied. The batch's
  /// last entry must be its txn_commit record: the batch counts as a commit (txn_commits_logged).
  /// CORQ_OK with `lsn` (the batch's last; its first is lsn - entries + 1, the hold's key), or
  /// the log's error with nothing logged, pinned, held or counted.
  int log_transaction(TxnBatch &batch, wal::Lsn &lsn, std::string &error);
  /// Commit batches logged since open, and in `through` the LSN up to which that count covers
  /// the log's txn_commit records (the last one counted; before any, the last LSN recovered, whose
  /// commits the engine's restored count holds). A consistent pair: a checkpoint records both.
  std::uint64_t txn_commits_logged(wal::Lsn &through) const;
  /// The transaction whose batch starts at `lsn` is applied: its stream records (if any) are
  /// durable in their streams' logs and `applied` (a txn_applied record, or empty) is appended.
  /// Lazily logged.
  void release_txn_hold(wal::Lsn lsn, const std::vector<std::byte> &applied, wal::Lsn &applied_lsn);
  /// Transactions logged whose hold is not released yet (stats, tests).
  std::size_t txn_holds() const;

  /// The payload of a `declare` record (also written by checkpoints).
  static void encode_declare(std::vector<std::byte> &out, std::uint32_t qid,
                             const std::string &name, const QueueOptions &options);

  // ---- control plane (each waits until durable) ----
  int log_declare(std::uint32_t qid, const std::string &name, const QueueOptions &options,
                  std::string &error);
  int log_delete(std::uint32_t qid, std::string &error);
  /// A control-plane record (declare_exchange, delete_exchange, bind, unbind, encoded by
  /// durability/topology_records.hpp; declare_stream, delete_stream by stream_records.hpp); waits
  /// until durable.
  int log_topology(std::uint8_t type, const std::vector<std::byte> &payload, std::string &error);

  /// Waits until everything appended so far is durable. CORQ_OK, CORQ_ETIMEDOUT, CORQ_EFAILED.
  int sync(std::int32_t timeout_ms, std::string &error);
  /// Waits until `lsn` is durable.
  int wait(wal::Lsn lsn, std::int32_t timeout_ms, std::string &error);
  /// Waits until `lsn` is on the disk, flushed, also under sync=none (a transaction's stream
  /// records must never reach a stream's log before their batch is safe here).
  int flush_through(wal::Lsn lsn, std::int32_t timeout_ms, std::string &error);
  wal::Lsn last_appended() const { return log_->last_appended_lsn(); }
  /// CORQ_EFAILED once the log has failed, else CORQ_OK.
  int failure_code() const noexcept { return log_->failure() != 0 ? CORQ_EFAILED : CORQ_OK; }
  std::string failure_text() const;

  // ---- checkpoints ----
  /// The LSN below which no live message needs the log (scans the ledger; cheap).
  wal::Lsn live_floor();
  /// True when a checkpoint would release at least one segment.
  bool release_possible(wal::Lsn floor) const;
  /// Appends a checkpoint batch (the caller encodes the registry into `records`), waits until it is
  /// durable, then releases the segments below `floor`. Control-plane thread only.
  /// `next_message_id`: ids below it have been handed out (for freeing the ledger's id chunks).
  int checkpoint(const std::vector<std::vector<std::byte>> &payloads,
                 const std::vector<std::uint8_t> &types, wal::Lsn floor,
                 std::uint64_t next_message_id, std::string &error);

  // ---- compaction ----
  /// True when old segments are worth compacting: at least two sealed segments that are not
  /// compacted yet, and something sealed since the last attempt that found nothing to gain.
  bool compaction_due() const;
  /// Right after a checkpoint (which re-declares every queue, dedup window, durable exchange and
  /// durable binding): rewrites the
  /// sealed segments as one compacted segment that keeps only records naming live messages
  /// (publish, deliver, retry, dead_letter, redrive); declarations, deletions, dedup and
  /// checkpoint records there are superseded by that checkpoint. Compacted segments before them
  /// are merged in while they are smaller than what is new. Control-plane thread only. Returns
  /// CORQ_OK (stats.replaced says whether anything changed) or a CORQ_* code with `error`.
  int compact(wal::CompactionStats &stats, std::string &error);
  /// A checkpoint is about to copy the consumer groups: group progress from `lsn` on is not in the
  /// copies, and compaction keeps it.
  void note_group_copy(wal::Lsn lsn) noexcept {
    group_copy_lsn_.store(lsn, std::memory_order_release);
    txn_floor_at_copy_.store(txn_hold_floor(), std::memory_order_release);
  }
  /// Whether a compaction keeps this record (see compact()); during compact() only.
  bool compaction_keeps(const wal::RecoveredRecord &record) const;
  std::uint64_t compactions() const noexcept {
    return compactions_.load(std::memory_order_relaxed);
  }

  // ---- introspection ----
  const char *backend() const { return log_->backend_name(); }
  bool direct_io() const { return log_->direct_io(); }
  std::uint64_t registered_writes() const { return log_->registered_writes(); }
  std::vector<wal::SegmentInfo> segments() const { return log_->segments(); }
  wal::Lsn durable_lsn() const { return log_->durable_lsn(); }
  bool flushes() const noexcept { return flush_; }
  std::uint64_t checkpoints() const noexcept {
    return checkpoints_.load(std::memory_order_relaxed);
  }

  /// Flushes what is pending and closes the log (the directory lock is released). Idempotent.
  void close();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  LiveLedger &ledger() noexcept { return ledger_; }

 private:
  explicit Journal(bool flush) : flush_(flush) {}
  /// Appends one small record of the reserved class (settlements). Returns a CORQ_* code.
  /// Settlement records (remove, deliver, retry) are appended lazily: nobody waits for them, so
  /// they ride along with the next group commit instead of starting one (wal::Urgency).
  int append_reserved(std::uint8_t type, const std::vector<std::byte> &payload,
                      wal::Urgency urgency = wal::Urgency::now);
  int map_error(int rc, std::string &error) const;

  /// The lowest LSN of a transaction still held (UINT64_MAX: none).
  wal::Lsn txn_hold_floor() const;

  const bool flush_;
  std::unique_ptr<wal::Log> log_;
  mutable std::mutex txn_holds_mutex_;
  std::multiset<wal::Lsn> txn_holds_;     // txn_holds_mutex_
  std::uint64_t txn_commits_logged_ = 0;  // txn_holds_mutex_ (txn_commits_logged)
  wal::Lsn txn_commits_through_ = 0;      // txn_holds_mutex_
  /// The lowest held transaction when the last checkpoint copied the groups: compaction keeps a
  /// transaction's records from there on (its group acks may not be in that copy yet).
  std::atomic<wal::Lsn> txn_floor_at_copy_{~wal::Lsn{0}};
  LiveLedger ledger_;
  std::atomic<bool> closed_{false};
  std::uint64_t floor_scan_bucket_ = 0;  // buckets below it are known empty (checkpointer only)
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> compactions_{0};
  std::uint64_t compaction_tried_through_ = 0;  // last segment id of a try that gained nothing
  /// The running compaction's view (compact() sets both before its scan): the ids live when it
  /// began, and whether it rewrites the log from its first segment (else older compacted
  /// segments stay, and may hold the publish record of a message whose settling record it sees).
  LiveIdSnapshot compaction_ids_;
  bool compaction_from_log_start_ = false;
  /// The LSN of the last checkpoint written. Compaction drops declarations and checkpoints as
  /// superseded by it, so it may only take segments wholly before it (log maintainer thread).
  std::atomic<wal::Lsn> checkpoint_lsn_{0};
  /// The first LSN not in the last checkpoint's copies of the consumer groups (note_group_copy).
  std::atomic<wal::Lsn> group_copy_lsn_{0};
};

}  // namespace corq::core
