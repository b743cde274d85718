// wal/log/log.hpp — the write-ahead log: append batches of typed records, learn when they are
// durable, get them back after a crash. It knows records, not queues.
//
//   append ──> pending buffer ──(writer thread: one write + one flush per group)──> segment files
//                                   └─> durable_lsn advances, waiters wake, in LSN order
//
// Group commit: appenders copy their batch into the pending buffer (a short critical section) and
// return its LSNs; the single writer thread takes everything pending at once, frames it, writes it
// with one submission and one flush, and only then publishes the new durable LSN. Confirms are
// therefore released in order and never before the flush completed.
//
// Fail-stop: the first failed write or flush puts the log in a failed state for good: every later
// append and wait returns that error, and durable_lsn never moves again. The data directory is left
// as it is for recovery on the next open.
//
// Space: segments are preallocated (fallocate). A directory holds the segment being written, at
// most one spare segment — made off the writer's path once the segment being written is half full
// — and the sealed segments not yet released; a fresh log is one segment. When the spare cannot be
// allocated (ENOSPC), appends of class `normal` fail with -ENOSPC while appends of class `reserved`
// (settlements: they free space) may still use the rest of the segment being written (at least
// half of it). Appends succeed again once space is freed and a spare could be made.
#pragma once

#include "io/vfs.hpp"
#include "record/format.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace corq::wal {

/// One record to append: a type (the caller's) and its payload, gathered from two pieces (e.g. a
/// small encoded head and a message body appended straight from where it lives: one copy).
struct Record {
  std::uint8_t type;
  std::span<const std::byte> payload;
  std::span<const std::byte> tail = {};  // appended right after `payload`
  std::size_t size() const noexcept { return payload.size() + tail.size(); }
};

/// Called by append with the LSNs its batch got, while no other append can run: what the caller
/// does here is ordered with the batch's place in the log (e.g. counting live records per LSN
/// range so that a concurrent reader of last_appended_lsn() never sees a batch uncounted).
struct AppendHook {
  void (*fn)(void *context, Lsn first_lsn, Lsn last_lsn) = nullptr;
  void *context = nullptr;
};

/// One record handed back by recovery; the payload view is valid during the callback only.
struct RecoveredRecord {
  Lsn lsn;
  std::uint8_t type;
  std::span<const std::byte> payload;
};

enum class BackendChoice { automatic, io_uring, psync };
enum class DirectIoChoice { automatic, on, off };
enum class AppendClass { normal, reserved };

/// When the writer must take a batch up. `now`: at once (a group commit starts as soon as the
/// writer is free). `lazy`: records nobody waits for (acks, delivery counts): they join the next
/// group commit that starts for another reason, or are written `lazy_delay` after they were
/// appended, whichever is first — so they never cost a flush of their own while other work keeps
/// the log busy, and never make a waited-for batch queue behind a flush started only for them. A
/// wait for a lazy record (wait_durable, flush_through) makes it urgent.
enum class Urgency { now, lazy };
inline constexpr std::chrono::milliseconds lazy_delay{2};

struct LogOptions {
  std::string dir;
  std::uint64_t segment_bytes = 64ull << 20;
  /// false (sync=none): group commits go to the page cache without fdatasync; their frames are
  /// marked unflushed (format.hpp). Still flushed: a segment when the next one starts, the
  /// recovered tail at open, everything at close.
  bool flush = true;
  BackendChoice backend = BackendChoice::automatic;
  DirectIoChoice direct_io = DirectIoChoice::automatic;
  /// Tests: use this Vfs instead of choosing one (not owned; must outlive the Log).
  Vfs *vfs = nullptr;
  /// Called on the writer thread each time durable_lsn() moves, with the new value, after the
  /// waiters were woken and with no lock of the log held (e.g. to make records visible to readers
  /// once durable). It must be quick, must not throw and must not call into this Log.
  std::function<void(Lsn)> on_durable;
};

struct SegmentInfo {
  std::uint64_t id;
  Lsn first_lsn;        // first record in it (0 if none yet); compacted: first LSN it covers
  Lsn last_lsn;         // last record in it (0 if none yet); compacted: last LSN it covers
  std::uint64_t bytes;  // bytes of frames written
  /// A compacted segment (format.hpp): the last segment id it replaced; 0 for a normal segment.
  std::uint64_t compacted_through_id = 0;
};

/// What one compaction did (Log::compact).
struct CompactionStats {
  std::uint64_t segments_in = 0;  // files read
  std::uint64_t bytes_in = 0;     // bytes of frames read
  std::uint64_t records_in = 0;
  std::uint64_t records_kept = 0;
  std::uint64_t bytes_kept = 0;  // bytes of the compacted segment's frames
  bool replaced = false;         // false: not worth it (see max_kept_fraction), nothing changed
};

class Log {
 public:
  /// Opens the log in `options.dir` (creating it), recovering what is there: calls `visit` for
  /// every record of every intact frame, in LSN order (a non-zero return from `visit` stops
  /// recovery and open returns it). A torn tail is cut off; a bad frame followed by good ones is
  /// corruption: returns -EBADMSG with `error` naming the file and offset. Other errors: -errno.
  static int open(const LogOptions &options,
                  const std::function<int(const RecoveredRecord &)> &visit,
                  std::unique_ptr<Log> &out, std::string &error);

  virtual ~Log() = default;

  /// Appends `records` as one atomic batch. Thread-safe. On success `last_lsn` is the LSN of its
  /// last record: durable once durable_lsn() >= last_lsn. Errors: -ENOSPC (no space for a normal
  /// append), -EMSGSIZE (batch larger than a segment can hold), the log's failure (sticky).
  virtual int append(std::span<const Record> records, Lsn &last_lsn,
                     AppendClass append_class = AppendClass::normal,
                     const AppendHook *hook = nullptr, Urgency urgency = Urgency::now) = 0;
  /// Waits until durable_lsn() >= lsn or the deadline passes (-ETIMEDOUT), or the log failed.
  virtual int wait_durable(Lsn lsn, std::chrono::steady_clock::time_point deadline) = 0;
  virtual Lsn durable_lsn() const = 0;
  /// Like wait_durable, but on the disk even with flush = false (sync=none): the writer flushes
  /// the segment being written once everything up to `lsn` is written (one fdatasync for all
  /// callers waiting then). With flush = true it is wait_durable. corq_sync, checkpoints and
  /// compaction use it, so what they rely on survives a power loss in both modes.
  virtual int flush_through(Lsn lsn, std::chrono::steady_clock::time_point deadline) = 0;
  /// The LSN the next append will get, minus one.
  virtual Lsn last_appended_lsn() const = 0;
  /// 0, or the -errno that failed the log.
  virtual int failure() const = 0;

  virtual std::vector<SegmentInfo> segments() const = 0;
  /// Recycles every segment all of whose records have an LSN < `lsn` (the caller has made them
  /// unnecessary, e.g. by a checkpoint). The segment being written is never released.
  virtual int release_before(Lsn lsn) = 0;

  /// Compaction: rewrites the sealed segments [first_id, last_id] — consecutive entries of
  /// segments(), none of them the one being written — as one compacted segment (format.hpp) that
  /// keeps only the records `keep` returns true for, with their LSNs. The caller answers for the
  /// records it drops: recovery must not need them (e.g. they name messages that are settled, or
  /// they are superseded by a later checkpoint). If the kept bytes would exceed
  /// `max_kept_fraction` of the bytes read, nothing changes (stats.replaced = false). Otherwise,
  /// before the compacted file replaces the originals, everything appended so far is made durable
  /// (a record dropped because a later one made it unnecessary never outlives that later one),
  /// then the compacted file is flushed, renamed over segment first_id, the directory synced, and
  /// the other files are recycled as spares or removed. A crash at any point leaves either the
  /// originals or the compacted segment (plus superseded files recovery skips). One compaction at
  /// a time; not concurrently with release_before. Errors: -errno (nothing replaced), -EINVAL for
  /// a range that is not sealed consecutive segments.
  virtual int compact(std::uint64_t first_id, std::uint64_t last_id,
                      const std::function<bool(const RecoveredRecord &)> &keep,
                      double max_kept_fraction, CompactionStats &stats) = 0;

  /// "io_uring" or "psync" (or "sim" in tests), and whether O_DIRECT is in use.
  virtual const char *backend_name() const = 0;
  virtual bool direct_io() const = 0;
  /// Group commits written from io_uring registered buffers (0 on other back ends).
  virtual std::uint64_t registered_writes() const = 0;

  /// Writes and flushes what is pending (also with flush = false: a clean close leaves the log
  /// durable), stops the writer, closes the files. Idempotent.
  virtual void close() = 0;
};

}  // namespace corq::wal
