// tools/corqctl/log_view.hpp — a data directory's state, rebuilt read-only from its log.
//
// The read commands (inspect, stats, dlq list, stream read; verify and dump scan too) take no lock:
// they scan the segment files (wal/log/scanner.hpp: read-only, every checksum checked) and replay
// the records into the engine's own RecoveredState (engine/durability/recovery.hpp), exactly as
// corq_open would, without installing anything. So an operator can look at a directory a running
// service holds; what they see is the log as far as it was written when the scan passed it.
//
// A log being written. The scanner stops at the first block that holds no valid frame and calls
// it corruption when a valid frame lies beyond: on a live log that also happens when the writer
// fills the tail while the scan passes it. A real corruption stops every scan at the same record; a
// moving tail does not. So after a scan that reports corruption the directory is scanned again,
// after a short pause: if the new scan reads past the record where the first one stopped, the first
// one's records (all read and checked before the stop) are a consistent prefix of the log — the
// state as of that record — and are used, marked `moving_tail`. If every one of scan_attempts_max
// scans stops at the same record, it is corruption (the writer gets ~0.7 s to finish the frame it
// was writing). A segment released by the service's checkpoint (or, in a stream's log, its
// retention) while the scan lists it is retried too.
//
// What the log can and cannot say: ready, delayed (due later than now) and dead-lettered messages
// are exact as of the last write. "In flight" means delivered and not settled since, as far as the
// log knows: a release is not logged, so a released message still counts as in flight until its
// next delivery or settlement. At the next corq_open every in-flight message is ready again.
// Counters (published, acked, ...) live only in a running engine and are not in the log.
//
// Exchanges and bindings: only durable ones are logged (a durable exchange, a binding whose ends
// are both durable), so the view holds exactly what the next corq_open would declare; transient
// exchanges, bindings to temporary subscriber queues and every exchange counter (published,
// routed, unroutable) exist only in the running engine (corq_stats_json).
//
// Streams (DESIGN.md §7). The engine's log holds each durable stream's declaration and its consumer
// groups' progress; the records are in the stream's own log, streams/<sid>/. load_streams scans
// those read-only too (the same scanner, the same moving-tail retries) and restores the records
// into the engine's own stream::Stream partitions (Partition::restore, apply_mark), then applies
// the retention limits as corq_open does (Stream::enforce_retention at now_ms): first and end
// offsets, records and bytes are what the next corq_open would show. A group's committed offset per
// partition is the log's, clamped to the partition as Group::restore does (progress about records
// the stream's log no longer has is void; retention moves it up to the first retained offset), and
// its lag is end - committed. Members exist only in a running engine: the log has none (0 here).
// Counters (appended, deleted, delivered, acked, ...) live only in a running engine. The streams
// are loaded only by the commands that show them (their records are held in memory, as recovery
// holds them).
//
// Transactions (DESIGN.md §8). Commits, aborts and failures since the directory was created are
// counted by the engine and written into its checkpoint records; a commit that logged anything
// also leaves a txn_commit record (engine/durability/records.hpp). So the log says: the counters
// of its last checkpoint, plus the commits logged after them — exactly what the next corq_open
// restores. Aborts and failures since that checkpoint (a crash loses them; corq_close writes a
// checkpoint) are not in the log. A log whose checkpoints predate the counters has none: aborted
// and failed are unknown. And which committed transactions' stream records are not all in their
// streams' logs yet (each stream log's txn records name the transactions it holds): the next
// corq_open appends those (Engine::reappend_committed_streams).
#pragma once

#include "durability/recovery.hpp"
#include "log/scanner.hpp"
#include "options/options.hpp"
#include "queue/message.hpp"
#include "routing/binding_argument.hpp"
#include "stream/stream.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace corqctl {

enum class MessageState { ready, in_flight, delayed };

const char *state_name(MessageState state) noexcept;

struct MessageView {
  const corq::core::Message *message;  // owned by LogView::state
  MessageState state;
  std::int64_t due_ms;  // delayed: when it becomes ready (unix ms); else 0
};

struct QueueView {
  std::uint32_t qid = 0;
  std::string name;
  corq::core::QueueOptions options;
  std::string dead_letter_queue;      // its name; "" for none
  std::vector<MessageView> messages;  // in id (publish) order
  std::uint64_t ready = 0, in_flight = 0, delayed = 0;
  std::uint64_t bytes_ready = 0;               // payload bytes of the ready messages
  std::uint64_t bytes = 0;                     // payload bytes of all its messages
  std::int64_t oldest_ready_published_ms = 0;  // 0: nothing ready
  std::uint64_t total() const noexcept { return ready + in_flight + delayed; }
};

struct ExchangeView {
  std::uint32_t xid = 0;
  std::string name;
  const char *type = "";  // "direct", "fanout", "topic", "headers"
  corq::core::ExchangeOptions options;
  std::uint64_t bindings = 0;  // durable bindings whose source it is
};

struct BindingView {
  std::string source;        // an exchange
  bool to_exchange = false;  // the destination is an exchange (else a queue)
  std::string destination;
  std::string key;
  std::vector<corq::core::routing::OwnedArgument> arguments;  // sorted by key
};

struct StreamPartitionView {
  std::uint64_t first = 0;  // the first retained offset
  std::uint64_t end = 0;    // the next offset to be appended
  std::uint64_t bytes = 0;  // key + payload + header bytes of the retained records
  std::uint64_t records() const noexcept { return end - first; }
};

struct GroupPartitionView {
  std::uint64_t committed = 0;  // the first offset not settled
  std::uint64_t lag = 0;        // end - committed
};

struct GroupView {
  std::string name;
  corq::core::GroupOptions options;
  std::string mode;               // "ordered", "shared", "key_ordered"
  std::string dead_letter_queue;  // its name; "" for none
  std::vector<GroupPartitionView> partitions;
  std::uint64_t lag = 0;  // over every partition
};

struct StreamView {
  std::uint32_t sid = 0;
  std::string name;
  corq::core::StreamOptions options;  // as declared, with the retention limits in force
  std::string directory;              // streams/<sid> under the data directory
  /// The records, restored from the stream's log (load_streams); null until then.
  std::shared_ptr<corq::core::stream::Stream> stream;
  std::vector<StreamPartitionView> partitions;
  std::vector<GroupView> groups;                       // by name
  std::uint64_t records = 0, bytes = 0;                // over every partition
  std::uint64_t segment_files = 0, bytes_on_disk = 0;  // of its log
  std::uint64_t frames = 0;
  corq::wal::Lsn last_lsn = 0;  // of its log's last record read
  bool torn_tail = false;       // its log ends in a half-written frame
  bool moving_tail = false;     // its log was being written: its state as of last_lsn
  /// (transaction id, record number) of every txn record in its log: the committed
  /// transactions' records it holds.
  std::set<std::pair<std::uint64_t, std::uint32_t>> txn_marks;
};

/// Transactions since the directory was created, as the log tells them (see the top of this file).
struct TxnView {
  /// The last checkpoint carried the counters. False: none did (a log from before corq kept them,
  /// or no checkpoint yet): aborted and failed are unknown (0), committed counts the commit
  /// records the log holds.
  bool counters_known = false;
  std::uint64_t committed_at_checkpoint = 0;     // the last checkpoint's count
  std::uint64_t committed_after_checkpoint = 0;  // txn_commit records it had not counted
  std::uint64_t aborted = 0, failed = 0;         // as of the last checkpoint
  /// Committed transactions with durable stream records and no txn_applied record (not confirmed
  /// in their streams' logs), and those of them whose records some stream's log lacks: what the
  /// next corq_open appends again.
  std::uint64_t stream_unconfirmed = 0, stream_reappend_pending = 0;
  std::uint64_t committed() const noexcept {
    return committed_at_checkpoint + committed_after_checkpoint;
  }
};

/// Scans of one command, at most (see the top of this file); a real corruption costs them all.
inline constexpr int scan_attempts_max = 8;
/// Pause before the n-th scan after one that stopped early: n × this (0.7 s over all of them).
inline constexpr int retry_pause_ms = 25;

struct LogView {
  // Declared first so that it outlives the views that point into it.
  corq::core::RecoveredState state;
  std::vector<QueueView> queues;        // by name
  std::vector<ExchangeView> exchanges;  // by name
  std::vector<BindingView> bindings;    // by source, destination kind and name, key, arguments
  std::vector<StreamView> streams;      // durable streams, by name (records: load_streams)
  std::uint64_t segment_files = 0;      // *.wal files in the directory (spares included)
  std::uint64_t bytes_on_disk = 0;      // their sizes
  std::uint64_t log_segments = 0;       // segments whose frames were read
  std::uint64_t log_bytes = 0;          // bytes of those frames
  std::uint64_t frames = 0;
  corq::wal::Lsn last_lsn = 0;  // of the last record read
  bool torn_tail = false;       // the log ends in a half-written frame (cut off at the next open)
  /// Unflushed frames (sync=none) past the end: a power loss kept them and lost an earlier frame;
  /// not part of the log (the next open invalidates them).
  std::size_t unflushed_after_end = 0;
  bool moving_tail = false;  // the log was being written: this is its state as of last_lsn
  std::int64_t now_ms = 0;   // when the view was taken: what "delayed" is relative to
  /// Delivered, not settled since (per the log). By queue too: settling one queue's copy of a
  /// fanned-out message leaves the other copies as they were.
  std::unordered_set<corq::core::MessageKey, corq::core::MessageKeyHash> in_flight;

  const QueueView *find(std::string_view name) const noexcept;
  const StreamView *find_stream(std::string_view name) const noexcept;
  /// Messages in the dead-letter queue of `queue` (0 when it has none or it is not in the log).
  std::uint64_t dead_letter_depth(const QueueView &queue) const noexcept;
};

/// Scans the log in `dir` once, without a lock and without writing, calling `visitor`. Returns
/// exit_ok, or exit_corrupt (`error` names the file and offset of the first corruption) or
/// exit_unreadable (missing directory, permissions, I/O error, a segment gone while listed), with
/// `error` set. A visitor returning a non-zero value stops the scan; that is reported as
/// corruption with `visitor_error`.
int scan_directory(const std::string &dir, const corq::wal::ScanVisitor &visitor,
                   corq::wal::ScanResult &result, const std::string &visitor_error,
                   std::string &error);

/// After a scan of `dir` that reported corruption having read records up to `last_lsn`: true when
/// a new scan (up to scan_attempts_max - 1 of them, with pauses) reads past it — the log was being
/// written, not corrupt (see the top of this file).
bool log_moved_past(const std::string &dir, corq::wal::Lsn last_lsn);

/// Rebuilds the state of the log in `dir` into `out` (see the top of this file). Returns exit
/// codes as scan_directory does; a record that passed its checksum but does not decode is
/// corruption too (reported with its LSN, segment file and frame offset). Memory: every live
/// message's payload (twice while a second scan checks a moving tail).
int load_log_view(const std::string &dir, std::unique_ptr<LogView> &out, std::string &error);

/// Restores the records of `view`'s streams (only the one named `only`, when not empty) from their
/// logs (StreamView::directory) and fills their partition and group views (see the top of this
/// file). A stream whose directory does not exist yet (declared, its log not created before a
/// crash) is empty. Returns exit codes as load_log_view does; `error` names the stream. Memory:
/// every retained record of those streams.
int load_streams(LogView &view, std::string_view only, std::string &error);

/// The transactions of `view` (see the top of this file); its streams loaded (load_streams with
/// no `only`), else every unconfirmed transaction counts as pending.
TxnView transactions_of(const LogView &view);

}  // namespace corqctl
