// wal/log/log_impl.hpp — the log's insides, shared by the files that implement it (private to
// wal/log/; the contract is log.hpp). One object, LogImpl, and one file per idea:
//
//   log.cpp           open and close: choosing the back end, the directory and its lock, recovery
//                     (scan, the files left around, the recovered tail made durable), shutdown
//   group_commit.cpp  appenders copy batches into the pending buffer; the writer thread takes it
//                     all, frames it and writes it with one submission (splitting a group across
//                     segments where it must)
//   durability.cpp    durable_lsn / flushed_lsn and the waits on them, flush_through, fail-stop
//   segments.cpp      the segment lifecycle: create, roll, release, recycle
//   spare.cpp         the spare segment: made by its own thread once the segment being written is
//                     half full, at most one; the spare gate; the ENOSPC reserve
//   compaction.cpp    rewriting sealed segments as one compacted segment of the records still
//   needed
//
// Threads and locks. Appenders: append_mutex_ for a memcpy into pending_. The writer thread owns
// current_ and the group buffers; it takes segments_mutex_ to publish a segment's progress, and
// durable_mutex_ to publish durable_lsn_. The spare maker thread and the control plane
// (release_before, compact: the engine's log maintainer, one at a time) take segments_mutex_ for
// the list of segments and the spare. No thread holds two of these mutexes at once.
#pragma once

#include "log/aligned_buffer.hpp"
#include "log/log.hpp"
#include "log/scanner.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corq::wal::internal {

/// Appenders wait while this much is pending and the writer has not taken it (backpressure).
inline constexpr std::size_t pending_bytes_max = std::size_t{64} << 20;
/// The spare is asked for once the segment being written is this full (a fraction of
/// segment_bytes: numerator / denominator). Half: a log that never gets there is one segment on
/// the disk, and on a full disk the other half is the settlements' reserve (spare.cpp).
inline constexpr std::uint64_t spare_at_numerator = 1;
inline constexpr std::uint64_t spare_at_denominator = 2;
inline constexpr const char *lock_file_name = "LOCK";
inline constexpr const char *spare_prefix = "spare-";
/// Where a compaction writes its segment before renaming it into place.
inline constexpr const char *compacting_file_name = "compacting.tmp";

/// Wall-clock milliseconds since the epoch (segment headers carry their creation time).
std::int64_t unix_ms();

/// A batch in the pending buffer: where its records end, and its last LSN.
struct BatchMark {
  std::size_t end;
  std::uint32_t records;
  Lsn last_lsn;
};

/// The segment being written.
struct OpenSegment {
  std::uint64_t id = 0;
  std::unique_ptr<VfsFile> file;
  std::uint64_t offset = 0;  // next frame goes here
};

/// The Log of log.hpp. Made by Log::open, which calls start(); the overrides keep log.hpp's
/// contracts (thread-safety and errors are documented there).
class LogImpl final : public Log {
 public:
  explicit LogImpl(const LogOptions &options) : options_(options) {}
  ~LogImpl() override { close(); }

  /// Opens the directory, recovers it through `visit` and starts the threads (log.cpp).
  int start(const std::function<int(const RecoveredRecord &)> &visit, std::string &error);

  int append(std::span<const Record> records, Lsn &last_lsn, AppendClass append_class,
             const AppendHook *hook, Urgency urgency) override;
  int wait_durable(Lsn lsn, std::chrono::steady_clock::time_point deadline) override;
  Lsn durable_lsn() const override { return durable_lsn_.load(std::memory_order_acquire); }
  int flush_through(Lsn lsn, std::chrono::steady_clock::time_point deadline) override;
  Lsn last_appended_lsn() const override {
    std::lock_guard lock(append_mutex_);
    return next_lsn_ - 1;
  }
  int failure() const override { return failure_.load(std::memory_order_acquire); }
  std::vector<SegmentInfo> segments() const override {
    std::lock_guard lock(segments_mutex_);
    return {segments_.begin(), segments_.end()};
  }
  int release_before(Lsn lsn) override;
  int compact(std::uint64_t first_id, std::uint64_t last_id,
              const std::function<bool(const RecoveredRecord &)> &keep, double max_kept_fraction,
              CompactionStats &stats) override;
  const char *backend_name() const override { return vfs_->name(); }
  bool direct_io() const override { return direct_; }
  std::uint64_t registered_writes() const override { return vfs_->registered_writes(); }
  void close() override;

 private:
  // ---- log.cpp: open and close ----
  int choose_vfs(std::string &error);
  /// Creates the directory (durably) and takes its lock.
  int prepare_dir(std::string &error);
  /// Opens a segment file with O_DIRECT unless refused (then, with `automatic`, without it).
  int open_file(const std::string &path, bool create, std::unique_ptr<VfsFile> &out);
  /// Scans the log, calling `visit` per record; sets the LSNs, and `rewrite_from`: where the tail
  /// segment's frames that may be in the page cache only begin (see persist_tail).
  int recover(const std::function<int(const RecoveredRecord &)> &visit, ScanResult &scan,
              std::uint64_t &rewrite_from, std::string &error);
  /// Spares, files after the tail and leftovers of a compaction: kept as the spare or removed.
  int sort_out_files(const ScanResult &scan, std::string &error);
  /// Opens the tail segment for writing, or starts the next one.
  int open_current(const ScanResult &scan, std::string &error);
  int persist_tail(std::uint64_t frames_from);
  int invalidate_unflushed(const std::vector<std::uint64_t> &offsets);

  // ---- group_commit.cpp: the writer ----
  void writer_loop();
  int write_group(AlignedBuffer &group, const std::vector<BatchMark> &batches, Lsn first_lsn);
  /// Registers `group` and `other` (the appenders' buffer) with the Vfs unless `group` is already
  /// registered; gives up for good when the back end has no registration.
  void register_group_buffers(const AlignedBuffer &group, const iovec &other,
                              std::uint64_t other_allocation);
  /// The registered slot holding `buffer`'s current allocation, or -1.
  int registered_slot(const AlignedBuffer &buffer) const;
  /// Writes one frame at the segment's offset; `registered_slot` >= 0: `frame` lies in that
  /// registered buffer.
  int write_frame(std::byte *frame, std::size_t record_bytes, std::uint32_t records, Lsn first_lsn,
                  std::size_t disk_bytes, int registered_slot = -1);

  // ---- durability.cpp ----
  /// Waits until `reached` (durable_lsn_ or flushed_lsn_) >= lsn, the deadline, or a failure.
  int wait_for(const std::atomic<Lsn> &reached, Lsn lsn,
               std::chrono::steady_clock::time_point deadline);
  /// flush=false: flushes the segment being written (writer thread, or open/close).
  int flush_current();
  void fail(int error) noexcept;

  // ---- segments.cpp ----
  int create_segment(std::uint64_t id, Lsn first_lsn, std::unique_ptr<VfsFile> &out);
  int roll_segment(Lsn first_lsn);
  /// Creates segment `id` (from the spare if there is one) and makes it the one being written.
  int start_segment(std::uint64_t id, Lsn first_lsn);
  /// Makes `file` (segment `id`, header written) the segment being written.
  void begin_segment(std::uint64_t id, std::unique_ptr<VfsFile> file);
  /// Turns a segment file no longer needed into the spare (see adopt_spare) or removes it.
  /// Compacted files (not preallocated) are always removed.
  int recycle(const std::string &name, bool preallocated);

  // ---- spare.cpp ----
  /// Asks the spare maker for a spare unless there is one. Never blocks on the disk; any thread.
  void request_spare();
  /// Writer thread: once the segment being written passed the spare mark, asks for the spare and
  /// — if it is not there — holds normal appends until the spare maker has answered.
  void request_spare_when_due();
  /// Normal appenders: waits while the spare maker's answer is due (spare_gate_).
  void wait_for_spare_answer();
  /// Opens the gate (the spare maker answered, or the log stops) and wakes the appenders at it.
  /// Caller holds segments_mutex_.
  void open_spare_gate_locked();
  /// The spare maker thread: makes a spare each time one is asked for and none is there.
  void spare_maker_loop();
  /// Creates and preallocates a new spare file; on failure the log is out of space (normal
  /// appends get -ENOSPC until a spare exists again).
  void make_spare();
  /// Makes `name` (a spare-* file) the spare. A file that was written (a recycled segment) is
  /// preferred to a fresh one: the one not kept is removed (at most one spare).
  void adopt_spare(const std::string &name, bool written);
  /// A fresh "spare-N" name.
  std::string next_spare_name();
  /// Stops the spare maker (after the spare it is making, if any) and opens the gate.
  void stop_spare_maker();

  // ---- compaction.cpp ----
  /// The sealed consecutive segments [first_id, last_id] and the id after them; -EINVAL if not.
  int compaction_range(std::uint64_t first_id, std::uint64_t last_id,
                       std::vector<SegmentInfo> &range, std::uint64_t &next_id);
  /// After the compacted file was renamed over the range's first segment: syncs the directory,
  /// puts `compacted` in the range's place (stats.replaced) and recycles the other files.
  int install_compacted(const std::vector<SegmentInfo> &range, const SegmentInfo &compacted,
                        CompactionStats &stats);

  std::string path_of(const std::string &name) const { return options_.dir + "/" + name; }

  const LogOptions options_;
  std::unique_ptr<Vfs> owned_vfs_;
  Vfs *vfs_ = nullptr;
  bool direct_ = false;
  std::unique_ptr<VfsFile> lock_;

  // ---- appenders' side (append_mutex_) ----
  mutable std::mutex append_mutex_;
  std::condition_variable writer_wake_;   // pending work or stopping
  std::condition_variable pending_room_;  // the writer took the pending buffer
  AlignedBuffer pending_;                 // [FrameHeader space][records of whole batches]
  std::vector<BatchMark> pending_batches_;
  Lsn pending_first_lsn_ = 1;
  Lsn next_lsn_ = 1;
  bool stopping_ = false;
  bool flush_wanted_ = false;  // flush=false: a flush_through caller waits for a flush
  /// A pending batch must be written now (Urgency::now, a wait for a lazy one, a full buffer);
  /// false while only lazy batches are pending (the writer then waits up to lazy_delay).
  bool urgent_pending_ = false;
  /// The last LSN appended with Urgency::now (or made urgent): waits at or below it need no nudge.
  std::atomic<Lsn> urgent_through_{0};
  /// Makes everything pending urgent and wakes the writer, if `lsn` is not covered yet.
  void make_urgent(Lsn lsn);
  std::atomic<bool> space_exhausted_{false};

  // ---- durability ----
  std::atomic<Lsn> durable_lsn_{0};
  /// On the disk (flush=false; with flush=true durable_lsn_ is). Written under durable_mutex_.
  std::atomic<Lsn> flushed_lsn_{0};
  std::atomic<int> failure_{0};
  mutable std::mutex durable_mutex_;
  std::condition_variable durable_changed_;

  // ---- writer thread's own state ----
  OpenSegment current_;
  /// flush=false: a frame of the current segment was written and not flushed since. The next
  /// frame is marked frame_unflushed only then (format.hpp): right after a flush it cannot
  /// outlive an earlier frame of its segment in a power loss.
  bool segment_has_unflushed_ = false;
  AlignedBuffer split_frame_;  // only when a group must be split across segments
  // Buffers registered with the Vfs (io_uring fixed buffers), by allocation id; 0: none.
  std::array<std::uint64_t, 2> registered_{};
  bool registration_off_ = false;  // the back end has none, or it kept failing
  int registration_failures_ = 0;
  bool spare_requested_ = false;  // the spare was asked for since the current segment started

  // ---- segments (segments_mutex_: writer, spare maker, release_before, compact, segments()) ----
  mutable std::mutex segments_mutex_;
  std::deque<SegmentInfo> segments_;
  /// The preallocated spare file ready to become the next segment ("" = none): at most one.
  std::string spare_;
  bool spare_written_ = false;  // spare_ is a recycled segment (its blocks were written before)
  bool spare_wanted_ = false;   // the spare maker has work
  bool spare_stopping_ = false;
  std::condition_variable spare_wake_;
  /// Normal appends wait while this is set: the segment being written is past the spare mark and
  /// the spare maker has not answered yet (written under segments_mutex_).
  std::atomic<bool> spare_gate_{false};
  std::condition_variable spare_answered_;
  // Names new spare files; the spare maker and recycle (any thread) both take one.
  std::atomic<std::uint64_t> spare_serial_{0};

  std::thread writer_;
  std::thread spare_maker_;
  bool closed_ = false;
};

}  // namespace corq::wal::internal
