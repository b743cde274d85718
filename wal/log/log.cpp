// wal/log/log.cpp — the log: recovery at open, group commit in one writer thread, segment rolling,
// the spare segment, recycling and the ENOSPC reserve. See log.hpp for the contract and format.hpp
// for the bytes.
//
// Costs per group commit: one write of whole blocks and one flush (fdatasync; the write through
// io_uring on that back end), whatever the number of batches in the group; appenders pay one memcpy
// of their records under a mutex held for that copy only.
//
// Disk footprint: a data directory holds the segment being written, at most one spare, and the
// sealed segments live data still needs (released and compacted-away files are recycled as the
// spare or removed). A fresh directory is one segment. The spare is made by its own thread (the
// spare maker), not the writer, once the segment being written is half full; a roll takes it (a
// rename), or — if it is not ready — creates the next segment itself, as before.
#include "log/log.hpp"

#include "log/aligned_buffer.hpp"
#include "log/scanner.hpp"
#include "record/crc32c.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace corq::wal {
namespace {

/// Appenders wait while this much is pending and the writer has not taken it (backpressure).
constexpr std::size_t pending_bytes_max = std::size_t{64} << 20;
/// The spare is asked for once the segment being written is this full (a fraction of
/// segment_bytes: numerator / denominator). Half: the spare maker has half a segment's worth of
/// writing to finish in, and a log that never gets there never holds more than one segment.
constexpr std::uint64_t spare_at_numerator = 1;
constexpr std::uint64_t spare_at_denominator = 2;
constexpr const char *lock_file_name = "LOCK";
constexpr const char *spare_prefix = "spare-";
/// Where a compaction writes its segment before renaming it into place.
constexpr const char *compacting_file_name = "compacting.tmp";
/// The most bytes of records a compacted segment's frame holds.
constexpr std::size_t compacted_frame_max = std::size_t{1} << 20;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

class LogImpl final : public Log {
 public:
  explicit LogImpl(const LogOptions &options) : options_(options) {}
  ~LogImpl() override { close(); }

  int start(const std::function<int(const RecoveredRecord &)> &visit, std::string &error);

  int append(std::span<const Record> records, Lsn &last_lsn, AppendClass append_class,
             const AppendHook *hook) override;
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
  int choose_vfs(std::string &error);
  int open_tail(const ScanResult &scan, std::string &error);
  int persist_tail(std::uint64_t frames_from);
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
  int roll_segment(Lsn first_lsn);
  int flush_current();
  /// Waits until `reached` (durable_lsn_ or flushed_lsn_) >= lsn, the deadline, or a failure.
  int wait_for(const std::atomic<Lsn> &reached, Lsn lsn,
               std::chrono::steady_clock::time_point deadline);
  int invalidate_unflushed(const std::vector<std::uint64_t> &offsets);
  int create_segment(std::uint64_t id, Lsn first_lsn, std::unique_ptr<VfsFile> &out);
  int open_file(const std::string &path, bool create, std::unique_ptr<VfsFile> &out);
  /// Asks the spare maker for a spare unless there is one. Never blocks on the disk; any thread.
  void request_spare();
  /// Writer thread: once the segment being written passed the spare mark, asks for the spare and
  /// — if it is not there — holds normal appends until the spare maker has answered.
  void request_spare_when_due();
  /// Normal appenders: waits while the spare maker's answer is due (spare_gate_).
  void wait_for_spare_answer();
  /// Opens the gate (the spare maker answered, or the log stops) and wakes the appenders at it.
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
  /// Turns a segment file no longer needed into the spare (see adopt_spare) or removes it.
  /// Compacted files (not preallocated) are always removed.
  int recycle(const std::string &name, bool preallocated);
  void fail(int error) noexcept;
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

// ---- open and recovery --------------------------------------------------------------------------

int LogImpl::choose_vfs(std::string &error) {
  if (options_.vfs != nullptr) {
    vfs_ = options_.vfs;
    return 0;
  }
  if (options_.backend != BackendChoice::psync) {
    int uring_error = 0;
    owned_vfs_ = make_uring_vfs(uring_error);
    if (owned_vfs_ == nullptr && options_.backend == BackendChoice::io_uring) {
      error = "io_uring is not available here (" + std::string(std::strerror(-uring_error)) +
              "); use io_backend=auto or psync";
      return uring_error != 0 ? uring_error : -ENOSYS;
    }
  }
  if (owned_vfs_ == nullptr) owned_vfs_ = make_psync_vfs();
  vfs_ = owned_vfs_.get();
  return 0;
}

int LogImpl::open_file(const std::string &path, bool create, std::unique_ptr<VfsFile> &out) {
  OpenFlags flags;
  flags.create = create;
  flags.direct = direct_;
  int rc = vfs_->open(path, flags, out);
  if (rc == -EINVAL && direct_ && options_.direct_io == DirectIoChoice::automatic) {
    // The filesystem refuses O_DIRECT (tmpfs, some overlays): buffered writes + flush instead.
    direct_ = false;
    flags.direct = false;
    rc = vfs_->open(path, flags, out);
  }
  return rc;
}

int LogImpl::start(const std::function<int(const RecoveredRecord &)> &visit, std::string &error) {
  if (options_.segment_bytes < 4 * block_bytes || options_.segment_bytes % block_bytes != 0) {
    error = "segment_bytes must be a multiple of 4096 and at least 16384";
    return -EINVAL;
  }
  if (int rc = choose_vfs(error); rc != 0) return rc;
  if (int rc = vfs_->make_dir(options_.dir); rc != 0) {
    error = "cannot create " + options_.dir + ": " + std::strerror(-rc);
    return rc;
  }
  // A directory just created is durable only once its parent is synced.
  const std::size_t slash = options_.dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "."
                             : slash == 0               ? "/"
                                                        : options_.dir.substr(0, slash);
  if (int rc = vfs_->sync_dir(parent); rc != 0) {
    error = "cannot sync " + parent + ": " + std::strerror(-rc);
    return rc;
  }
  if (int rc = vfs_->lock(path_of(lock_file_name), lock_); rc != 0) {
    error = rc == -EWOULDBLOCK || rc == -EAGAIN
                ? options_.dir + " is in use by another process (its LOCK file is locked)"
                : "cannot lock " + path_of(lock_file_name) + ": " + std::strerror(-rc);
    return rc == -EAGAIN ? -EWOULDBLOCK : rc;
  }
  // Direct I/O unless told not to; with `automatic`, open_file drops it where it is refused.
  direct_ = options_.direct_io != DirectIoChoice::off;
  ScanResult scan;
  ScanVisitor visitor;
  visitor.record = visit;
  FrameInfo last_frame{};  // the last valid frame of the chain (segment_id 0: none)
  // In the segment of the last frame: the last frame not marked unflushed. Every frame after it
  // is marked, so the flush before it (or the segment's start) is the last one there may have
  // been: from it on, frames may be in the page cache only (see persist_tail).
  std::uint64_t last_unmarked_offset = 0;
  visitor.frame = [&](const FrameInfo &frame) {
    if (frame.segment_id != last_frame.segment_id) last_unmarked_offset = block_bytes;
    if (!frame.unflushed) last_unmarked_offset = frame.offset;
    last_frame = frame;
  };
  if (int rc = scan_log(*vfs_, options_.dir, visitor, scan); rc != 0) {
    error = rc == -EBADMSG ? scan.error
                           : "recovery failed: " + std::string(std::strerror(-rc > 0 ? -rc : EIO));
    return rc;
  }
  next_lsn_ = scan.last_lsn + 1;
  pending_first_lsn_ = next_lsn_;
  durable_lsn_.store(scan.last_lsn, std::memory_order_release);
  if (int rc = open_tail(scan, error); rc != 0) return rc;
  if (int rc = invalidate_unflushed(scan.unflushed_after_end); rc != 0) {
    error = "cannot invalidate the unflushed frames after the recovered end: " +
            std::string(std::strerror(-rc));
    return rc;
  }
  // Also with sync=none: a power loss after this open then cannot take the log back past what
  // this open recovered (and the application went on from) — one flush per open.
  if (scan.tail_segment_id != 0) {
    const bool frames_in_tail = last_frame.segment_id == scan.tail_segment_id;
    const std::uint64_t rewrite_from = frames_in_tail ? last_unmarked_offset : scan.tail_offset;
    if (int rc = persist_tail(rewrite_from); rc != 0) {
      error = "cannot make the recovered tail durable: " + std::string(std::strerror(-rc));
      return rc;
    }
  }
  // Everything recovered is on the disk now (persist_tail flushed the tail).
  flushed_lsn_.store(scan.last_lsn, std::memory_order_release);
  segment_has_unflushed_ = false;
  pending_.resize(sizeof(FrameHeader));
  spare_maker_ = std::thread([this] { spare_maker_loop(); });
  request_spare_when_due();  // the recovered tail may be past the mark already
  writer_ = std::thread([this] { writer_loop(); });
  return 0;
}

int LogImpl::open_tail(const ScanResult &scan, std::string &error) {
  std::vector<std::string> names;
  if (int rc = vfs_->list(options_.dir, names); rc != 0) {
    error = "cannot list " + options_.dir + ": " + std::strerror(-rc);
    return rc;
  }
  std::sort(names.begin(), names.end());
  const std::uint64_t tail_id = scan.tail_segment_id;
  for (const std::string &name : names) {
    if (name.rfind(spare_prefix, 0) != 0) continue;
    spare_serial_.store(std::max<std::uint64_t>(spare_serial_.load(std::memory_order_relaxed),
                                                std::strtoull(name.c_str() + 6, nullptr, 10)),
                        std::memory_order_relaxed);
  }
  for (const std::string &name : names) {
    std::uint64_t id = 0;
    if (name.rfind(spare_prefix, 0) == 0) {
      // One spare is kept (a directory of an older version may hold more): the rest are removed.
      adopt_spare(name, false);
    } else if (parse_segment_file_name(name, id) && tail_id != 0 && id > tail_id) {
      // Created (or recycled) after the last valid frame: holds nothing valid. Reuse it as the
      // spare.
      recycle(name, true);
    }
  }
  // Left by a crash in the middle of a compaction: the temporary file, and originals the compacted
  // segment replaced. Neither is part of the log.
  vfs_->remove(path_of(compacting_file_name));
  for (const std::string &name : scan.superseded) recycle(name, true);
  for (const SegmentInfo &s : scan.segments) {
    if (s.id <= tail_id || tail_id == 0) segments_.push_back(s);
  }
  if (tail_id != 0 && !segments_.empty() && segments_.back().compacted_through_id != 0) {
    // The chain ends on a compacted segment (a crash right after a compaction that took every
    // sealed segment): writing goes on in the segment after the ones it replaced.
    const std::uint64_t id = segments_.back().compacted_through_id + 1;
    if (int rc = create_segment(id, next_lsn_, current_.file); rc != 0) {
      error = "cannot create segment " + std::to_string(id) + ": " + std::strerror(-rc);
      return rc;
    }
    current_.id = id;
    current_.offset = block_bytes;
    segments_.push_back({id, 0, 0, 0});
    return 0;
  }
  if (tail_id == 0) {
    // An empty log: its first segment, starting at LSN next_lsn_.
    segments_.clear();
    if (int rc = create_segment(1, next_lsn_, current_.file); rc != 0) {
      error = "cannot create the first segment: " + std::string(std::strerror(-rc));
      return rc;
    }
    current_.id = 1;
    current_.offset = block_bytes;
    segments_.push_back({1, 0, 0, 0});
    return 0;
  }
  if (int rc = open_file(path_of(segment_file_name(tail_id)), false, current_.file); rc != 0) {
    if (rc == -EINVAL && direct_ && options_.direct_io == DirectIoChoice::on) {
      error = "direct_io=true, but the filesystem of " + options_.dir + " refuses O_DIRECT";
    } else {
      error = "cannot open " + segment_file_name(tail_id) + ": " + std::strerror(-rc);
    }
    return rc;
  }
  current_.id = tail_id;
  current_.offset = scan.tail_offset;
  if (segments_.empty() || segments_.back().id != tail_id) segments_.push_back({tail_id, 0, 0, 0});
  return 0;
}

// ---- appending ----------------------------------------------------------------------------------

int LogImpl::append(std::span<const Record> records, Lsn &last_lsn, AppendClass append_class,
                    const AppendHook *hook) {
  if (records.empty()) return -EINVAL;
  std::size_t bytes = 0;
  for (const Record &r : records) bytes += sizeof(RecordHeader) + r.size();
  if (frame_disk_bytes(bytes) > options_.segment_bytes - block_bytes) return -EMSGSIZE;
  if (append_class == AppendClass::normal && spare_gate_.load(std::memory_order_acquire)) {
    wait_for_spare_answer();  // rare: the spare maker is behind the writer (see "the spare")
  }

  std::unique_lock lock(append_mutex_);
  for (;;) {
    if (const int failed = failure(); failed != 0) return failed;
    if (stopping_) return -ESHUTDOWN;
    if (append_class == AppendClass::normal && space_exhausted_.load(std::memory_order_acquire)) {
      return -ENOSPC;
    }
    if (pending_.size() < pending_bytes_max || pending_batches_.empty()) break;
    pending_room_.wait(lock);  // the writer is behind by pending_bytes_max: wait for it
  }
  for (const Record &r : records) {
    RecordHeader header{};
    header.payload_bytes = static_cast<std::uint32_t>(r.size());
    header.type = r.type;
    pending_.append(&header, sizeof(header));
    pending_.append(r.payload.data(), r.payload.size());
    if (!r.tail.empty()) pending_.append(r.tail.data(), r.tail.size());
  }
  next_lsn_ += records.size();
  last_lsn = next_lsn_ - 1;
  if (hook != nullptr && hook->fn != nullptr)
    hook->fn(hook->context, next_lsn_ - records.size(), last_lsn);
  pending_batches_.push_back(
      {pending_.size(), static_cast<std::uint32_t>(records.size()), last_lsn});
  const bool first_pending = pending_batches_.size() == 1;
  lock.unlock();
  if (first_pending) writer_wake_.notify_one();
  return 0;
}

int LogImpl::wait_durable(Lsn lsn, std::chrono::steady_clock::time_point deadline) {
  return wait_for(durable_lsn_, lsn, deadline);
}

int LogImpl::wait_for(const std::atomic<Lsn> &reached, Lsn lsn,
                      std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(durable_mutex_);
  const bool done = durable_changed_.wait_until(lock, deadline, [&] {
    return reached.load(std::memory_order_acquire) >= lsn || failure() != 0;
  });
  if (reached.load(std::memory_order_acquire) >= lsn) return 0;
  if (failure() != 0) return failure();
  return done ? 0 : -ETIMEDOUT;
}

int LogImpl::flush_through(Lsn lsn, std::chrono::steady_clock::time_point deadline) {
  if (options_.flush) return wait_durable(lsn, deadline);
  if (failure() != 0) return failure();
  if (flushed_lsn_.load(std::memory_order_acquire) >= lsn) return 0;
  {
    std::lock_guard lock(append_mutex_);
    if (stopping_) return -EBADF;
    flush_wanted_ = true;
  }
  writer_wake_.notify_all();
  return wait_for(flushed_lsn_, lsn, deadline);
}

// The previous run may have ended on a failed flush, and its process restarted without a power
// loss: the failed write is then in the page cache only (Linux marks such pages clean after the
// failed fdatasync; reads return them, the disk may not have them, and a later successful flush
// does not write them), and recovery just read it as valid. Whatever this run confirms after it
// would then follow a hole that a power loss can still make: the log would read as corrupt. With
// sync=always only the tail segment's header block and its last frame can be in that state (a
// failed flush fail-stops the writer: one write in flight); with sync=none every unflushed frame
// of the tail segment can (a failed flush covers all of them; sealed segments had a successful
// flush before the next one started). So the header block and the tail's frames from
// `frames_from` (the last frame not marked unflushed: the first after the last flush there may
// have been; with sync=always the last frame) are read and written again, then
// flushed, and the directory is synced (a failed sync_dir fail-stops too). With sync=none that
// is up to segment_bytes rewritten per open, in 1 MiB pieces.
int LogImpl::persist_tail(std::uint64_t frames_from) {
  constexpr std::uint64_t piece_max = std::uint64_t{1} << 20;
  AlignedBuffer buffer;
  buffer.resize(static_cast<std::size_t>(
      std::min(piece_max, std::max<std::uint64_t>(block_bytes, current_.offset))));
  const auto rewrite = [&](std::uint64_t from, std::uint64_t to) -> int {
    for (std::uint64_t at = from; at < to;) {
      const std::size_t piece = static_cast<std::size_t>(std::min(piece_max, to - at));
      const long got = current_.file->read(at, buffer.data(), piece);
      if (got < 0) return static_cast<int>(got);
      // A file may end inside the last frame's zero padding (a torn write of it): pad it again.
      std::memset(buffer.data() + got, 0, piece - static_cast<std::size_t>(got));
      const iovec out{buffer.data(), piece};
      const bool last = at + piece >= to;
      if (int rc = current_.file->write(at, &out, 1, last); rc != 0) return rc;
      at += piece;
    }
    return 0;
  };
  if (int rc = rewrite(0, block_bytes); rc != 0) return rc;
  if (int rc = rewrite(frames_from, current_.offset); rc != 0) return rc;
  return vfs_->sync_dir(options_.dir);
}

// A power loss under sync=none kept unflushed frames of the tail segment past a lost one (the
// scanner ended the log at the loss). They hold LSNs this run will give to new records, and one
// could sit exactly where new frames end: zero the block that holds each one's header — no frame
// is valid without it — and flush, whatever the sync mode, before anything new is written.
int LogImpl::invalidate_unflushed(const std::vector<std::uint64_t> &offsets) {
  if (offsets.empty()) return 0;
  AlignedBuffer block;
  block.resize(block_bytes);
  std::memset(block.data(), 0, block_bytes);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const iovec buffer{block.data(), block_bytes};
    const bool last = i + 1 == offsets.size();
    if (int rc = current_.file->write(offsets[i], &buffer, 1, last); rc != 0) return rc;
  }
  return 0;
}

// ---- the writer ---------------------------------------------------------------------------------

void LogImpl::writer_loop() {
  AlignedBuffer group;
  std::vector<BatchMark> batches;
  iovec other{};  // the appenders' buffer as it was at the swap (for registration)
  std::uint64_t other_allocation = 0;
  for (;;) {
    Lsn first_lsn = 0;
    bool want_flush = false;
    {
      std::unique_lock lock(append_mutex_);
      writer_wake_.wait(lock,
                        [&] { return !pending_batches_.empty() || stopping_ || flush_wanted_; });
      // flush=false only: a flush_through caller waits; whatever is pending is written first.
      want_flush = flush_wanted_;
      flush_wanted_ = false;
      if (pending_batches_.empty() && !want_flush) return;  // stopping, everything is written
      if (!pending_batches_.empty()) {
        group.swap(pending_);
        batches.swap(pending_batches_);
        first_lsn = pending_first_lsn_;
        pending_first_lsn_ = next_lsn_;
        pending_.resize(sizeof(FrameHeader));
        other = iovec{pending_.data(), pending_.capacity()};
        other_allocation = pending_.allocation();
      }
    }
    int rc = 0;
    if (!batches.empty()) {
      pending_room_.notify_all();
      if (!registration_off_ && registered_slot(group) < 0) {
        register_group_buffers(group, other, other_allocation);
      }
      rc = write_group(group, batches, first_lsn);
      batches.clear();
    }
    if (rc == 0 && want_flush) rc = flush_current();
    if (rc != 0) {
      fail(rc);
      return;  // fail-stop: nothing is ever written or confirmed again
    }
    if (space_exhausted_.load(std::memory_order_relaxed)) request_spare();
  }
}

int LogImpl::write_group(AlignedBuffer &group, const std::vector<BatchMark> &batches,
                         Lsn first_lsn) {
  std::size_t start = sizeof(FrameHeader);  // records of the next frame begin here in `group`
  std::size_t next = 0;                     // index of the first batch not yet written
  Lsn lsn = first_lsn;
  while (next < batches.size()) {
    // A segment written with a larger segment_bytes (the option changed between runs) may already
    // be past this run's size: it has no room, so roll.
    const std::uint64_t room =
        current_.offset >= options_.segment_bytes ? 0 : options_.segment_bytes - current_.offset;
    std::size_t end = next;  // batches [next, end) fit in this segment
    while (end < batches.size() && frame_disk_bytes(batches[end].end - start) <= room) ++end;
    if (end == next) {
      if (int rc = roll_segment(lsn); rc != 0) return rc;
      continue;
    }
    std::uint32_t records = 0;
    for (std::size_t i = next; i < end; ++i) records += batches[i].records;
    const std::size_t record_bytes = batches[end - 1].end - start;
    const std::size_t disk_bytes = frame_disk_bytes(record_bytes);
    int rc = 0;
    if (next == 0 && end == batches.size()) {
      // The whole group in one frame, written from where the appenders put it (no copy).
      group.pad_to_block();
      rc =
          write_frame(group.data(), record_bytes, records, lsn, disk_bytes, registered_slot(group));
    } else {
      split_frame_.resize(sizeof(FrameHeader));
      split_frame_.append(group.data() + start, record_bytes);
      split_frame_.pad_to_block();
      rc = write_frame(split_frame_.data(), record_bytes, records, lsn, disk_bytes);
    }
    if (rc != 0) return rc;
    lsn = batches[end - 1].last_lsn + 1;
    start = batches[end - 1].end;
    next = end;
  }
  return 0;
}

void LogImpl::register_group_buffers(const AlignedBuffer &group, const iovec &other,
                                     std::uint64_t other_allocation) {
  iovec buffers[2] = {{const_cast<std::byte *>(group.data()), group.capacity()}, other};
  const int count = other.iov_base != nullptr && other.iov_len != 0 ? 2 : 1;
  registered_ = {};
  const int rc = vfs_->register_buffers(buffers, count);
  if (rc == 0) {
    registered_ = {group.allocation(), count == 2 ? other_allocation : 0};
    return;
  }
  // -ENOTSUP: no registration in this back end. Anything else (memory accounting, an old
  // kernel): plain writes; after a few failures, stop trying.
  if (rc == -ENOTSUP || ++registration_failures_ >= 3) registration_off_ = true;
}

int LogImpl::registered_slot(const AlignedBuffer &buffer) const {
  if (buffer.allocation() == 0) return -1;
  for (std::size_t i = 0; i < registered_.size(); ++i) {
    if (registered_[i] == buffer.allocation()) return static_cast<int>(i);
  }
  return -1;
}

int LogImpl::write_frame(std::byte *frame, std::size_t record_bytes, std::uint32_t records,
                         Lsn first_lsn, std::size_t disk_bytes, int registered_slot) {
  FrameHeader header{};
  header.magic = frame_magic;
  header.frame_bytes = static_cast<std::uint32_t>(sizeof(FrameHeader) + record_bytes);
  // sync=none: an earlier frame of this segment is not flushed yet, so a power loss may keep this
  // one and lose that; the mark tells recovery not to take it as evidence past a break.
  header.records = records | (segment_has_unflushed_ ? frame_unflushed : 0u);
  header.segment_id = current_.id;
  header.first_lsn = first_lsn;
  std::memcpy(frame, &header, sizeof(header));
  const std::size_t crc_from = offsetof(FrameHeader, frame_bytes);
  header.crc = crc32c(0, frame + crc_from, header.frame_bytes - crc_from);
  std::memcpy(frame + offsetof(FrameHeader, crc), &header.crc, sizeof(header.crc));
  std::memset(frame + header.frame_bytes, 0, disk_bytes - header.frame_bytes);

  const iovec buffer{frame, disk_bytes};
  const int rc = registered_slot >= 0
                     ? current_.file->write_registered(current_.offset, buffer, registered_slot,
                                                       options_.flush)
                     : current_.file->write(current_.offset, &buffer, 1, options_.flush);
  if (rc != 0) return rc;
  if (!options_.flush) segment_has_unflushed_ = true;
  current_.offset += disk_bytes;
  request_spare_when_due();
  const Lsn last = first_lsn + records - 1;
  {
    std::lock_guard lock(segments_mutex_);
    SegmentInfo &info = segments_.back();
    if (info.first_lsn == 0) info.first_lsn = first_lsn;
    info.last_lsn = last;
    info.bytes = current_.offset - block_bytes;
  }
  {
    // Confirms go out only now, after the flush, and in LSN order (one writer, frames in order).
    std::lock_guard lock(durable_mutex_);
    durable_lsn_.store(last, std::memory_order_release);
  }
  durable_changed_.notify_all();
  return 0;
}

// ---- segments -----------------------------------------------------------------------------------

int LogImpl::create_segment(std::uint64_t id, Lsn first_lsn, std::unique_ptr<VfsFile> &out) {
  const std::string name = segment_file_name(id);
  std::string spare;
  {
    std::lock_guard lock(segments_mutex_);
    spare = std::exchange(spare_, std::string());
  }
  int rc = 0;
  if (!spare.empty()) {
    // Reuse a preallocated file: its old bytes carry another segment id, so they never validate.
    rc = vfs_->rename(path_of(spare), path_of(name));
    if (rc == 0) rc = open_file(path_of(name), false, out);
  } else {
    // No spare ready (a fresh log, or the spare maker is behind or failed): make the segment here,
    // on the writer, like a log without a spare maker would.
    rc = open_file(path_of(name), true, out);
    if (rc == 0) rc = out->allocate(options_.segment_bytes);
    if (rc != 0) vfs_->remove(path_of(name));
  }
  if (rc != 0) return rc;
  AlignedBuffer block;
  block.resize(block_bytes);
  std::memset(block.data(), 0, block_bytes);
  SegmentHeader header{segment_magic, format_version, 0, id, first_lsn, unix_ms()};
  header.header_crc = crc32c(0, &header, sizeof(header));
  std::memcpy(block.data(), &header, sizeof(header));
  const iovec buffer{block.data(), block_bytes};
  if (rc = out->write(0, &buffer, 1, true); rc != 0) return rc;
  return vfs_->sync_dir(options_.dir);
}

// flush=false: flushes the segment being written; everything written so far is then on the disk
// (earlier segments were flushed when they were sealed). Writer thread (or open/close).
int LogImpl::flush_current() {
  if (int rc = current_.file->flush(); rc != 0) return rc;
  segment_has_unflushed_ = false;
  {
    std::lock_guard lock(durable_mutex_);
    flushed_lsn_.store(durable_lsn_.load(std::memory_order_acquire), std::memory_order_release);
  }
  durable_changed_.notify_all();
  return 0;
}

int LogImpl::roll_segment(Lsn first_lsn) {
  // A segment is flushed before the next one starts, also with sync=none (one flush per
  // segment_bytes): a later segment's header and frames then prove that everything before them is
  // on disk, so damage in a sealed segment is reported as corruption, never cut as a torn tail.
  if (!options_.flush) {
    if (int rc = flush_current(); rc != 0) return rc;
  }
  std::unique_ptr<VfsFile> next;
  const std::uint64_t id = current_.id + 1;
  const int rc = create_segment(id, first_lsn, next);
  if (rc != 0) return rc;  // ENOSPC here means even the reserve is gone: fail-stop
  current_.file = std::move(next);
  current_.id = id;
  current_.offset = block_bytes;
  segment_has_unflushed_ = false;
  spare_requested_ = false;
  {
    std::lock_guard lock(segments_mutex_);
    segments_.push_back({id, 0, 0, 0});
  }
  return 0;
}

// ---- the spare --------------------------------------------------------------------------------
//
// The writer asks for the spare when the segment it writes passes the spare mark (half full): one
// lock and a notify, once per segment. The spare maker thread then creates "spare-N", preallocates
// it (fallocate: it cannot hit ENOSPC later) and syncs the directory, none of it on the writer's
// path. A roll renames the spare into place; if the spare is not ready, create_segment makes the
// segment itself. Released and compacted-away segment files become the spare when there is none
// (or replace a fresh one: their blocks are written, so the next segment's writes need no extent
// conversion inside fdatasync); every other file no longer needed is removed. So a directory holds
// the segment being written, at most one spare, and the sealed segments live data still needs.
//
// The spare gate: past the mark, normal appends may go on only once the spare exists or is known
// to be impossible. If the spare maker has not answered when the writer passes the mark (it is
// asked at that moment, so it usually has not: its answer is an open and a fallocate away), new
// normal appends wait for the answer; the writer does not, nor do settlements. Once per segment,
// for well under a millisecond on a real disk; what it buys is a reserve whatever the timing.
//
// Out of space: when the spare cannot be made, normal appends get -ENOSPC (space_exhausted_) while
// the rest of the segment being written — half of it, less what was already pending — takes
// settlements (reserved appends), which let checkpoints release segments. Each group commit
// written while out of space, and each release, asks again. If the segment fills before space
// frees up, the roll cannot make the next segment: fail-stop, as when even the reserve is gone.

std::string LogImpl::next_spare_name() {
  return std::string(spare_prefix) +
         std::to_string(spare_serial_.fetch_add(1, std::memory_order_relaxed) + 1);
}

void LogImpl::request_spare() {
  {
    std::lock_guard lock(segments_mutex_);
    if (!spare_.empty() || spare_stopping_) return;
    spare_wanted_ = true;
  }
  spare_wake_.notify_one();
}

void LogImpl::request_spare_when_due() {
  const std::uint64_t mark = options_.segment_bytes / spare_at_denominator * spare_at_numerator;
  if (spare_requested_ || current_.offset < mark) return;
  spare_requested_ = true;
  {
    std::lock_guard lock(segments_mutex_);
    if (!spare_.empty() || spare_stopping_) return;
    spare_wanted_ = true;
    // Out of space already: normal appends are refused anyway (space_exhausted_).
    if (!space_exhausted_.load(std::memory_order_acquire)) {
      spare_gate_.store(true, std::memory_order_release);
    }
  }
  spare_wake_.notify_one();
}

void LogImpl::wait_for_spare_answer() {
  std::unique_lock lock(segments_mutex_);
  spare_answered_.wait(
      lock, [&] { return !spare_gate_.load(std::memory_order_acquire) || failure() != 0; });
}

void LogImpl::open_spare_gate_locked() {
  spare_gate_.store(false, std::memory_order_release);
  spare_answered_.notify_all();
}

void LogImpl::spare_maker_loop() {
  for (;;) {
    {
      std::unique_lock lock(segments_mutex_);
      spare_wake_.wait(lock, [&] { return spare_wanted_ || spare_stopping_; });
      if (spare_stopping_) return;
      spare_wanted_ = false;
      if (!spare_.empty()) {  // a recycled segment became the spare meanwhile
        open_spare_gate_locked();
        continue;
      }
    }
    make_spare();
  }
}

void LogImpl::make_spare() {
  const std::string name = next_spare_name();
  std::unique_ptr<VfsFile> file;
  OpenFlags flags;
  flags.create = true;  // no O_DIRECT: nothing is written through this handle
  int rc = vfs_->open(path_of(name), flags, file);
  if (rc == 0) rc = file->allocate(options_.segment_bytes);
  file.reset();
  if (rc != 0) {
    vfs_->remove(path_of(name));
    std::lock_guard lock(segments_mutex_);
    // Out of space: publishers stop (normal appends get -ENOSPC) while what is left of the segment
    // being written takes settlements, which let segments be released.
    space_exhausted_.store(spare_.empty(), std::memory_order_release);
    open_spare_gate_locked();
    return;
  }
  adopt_spare(name, false);  // answers the gate first: the sync below is for the spare's name only
  vfs_->sync_dir(options_.dir);
}

void LogImpl::adopt_spare(const std::string &name, bool written) {
  std::string surplus;
  {
    std::lock_guard lock(segments_mutex_);
    if (spare_.empty() || (written && !spare_written_)) {
      surplus = std::exchange(spare_, name);
      spare_written_ = written;
    } else {
      surplus = name;
    }
    space_exhausted_.store(false, std::memory_order_release);
    open_spare_gate_locked();
  }
  if (!surplus.empty()) vfs_->remove(path_of(surplus));
}

int LogImpl::release_before(Lsn lsn) {
  std::vector<SegmentInfo> released;
  {
    std::lock_guard lock(segments_mutex_);
    while (segments_.size() > 1 && segments_.front().last_lsn < lsn) {
      released.push_back(segments_.front());
      segments_.pop_front();
    }
  }
  int result = 0;
  for (const SegmentInfo &s : released) {
    // The first one becomes the spare if there is none (see adopt_spare); the others are removed.
    const int rc = recycle(segment_file_name(s.id), s.compacted_through_id == 0);
    if (rc != 0 && result == 0) result = rc;
  }
  if (!released.empty()) {
    if (int rc = vfs_->sync_dir(options_.dir); rc != 0 && result == 0) result = rc;
    if (space_exhausted_.load(std::memory_order_acquire)) request_spare();  // space was freed
  }
  return result;
}

int LogImpl::recycle(const std::string &name, bool preallocated) {
  bool keep = preallocated;
  if (keep) {
    std::lock_guard lock(segments_mutex_);
    keep = spare_.empty() || !spare_written_;
  }
  if (!keep) return vfs_->remove(path_of(name));
  const std::string spare = next_spare_name();
  const int rc = vfs_->rename(path_of(name), path_of(spare));
  if (rc == 0) adopt_spare(spare, true);
  return rc;
}

// ---- compaction ---------------------------------------------------------------------------------
//
// Reads the range through the scanner, packs the kept records into frames of consecutive LSNs
// (a new frame wherever a dropped record leaves a gap), writes them after block 0 of a temporary
// file, then block 0 (header + CompactedInfo), flushes it, waits until the log is durable up to
// what was appended so far, renames it over the range's first segment and syncs the directory.
// Costs: one read of the range, one write of what is kept; the writer thread is not involved.

namespace {

/// Packs kept records into compacted frames and writes them out in large pieces.
class CompactedWriter {
 public:
  CompactedWriter(VfsFile &file, std::uint64_t segment_id) : file_(file), segment_id_(segment_id) {}

  int add(const RecoveredRecord &r) {
    const std::size_t record_bytes = sizeof(RecordHeader) + r.payload.size();
    if (frame_.size() > sizeof(FrameHeader) &&
        (r.lsn != next_lsn_ ||
         frame_.size() - sizeof(FrameHeader) + record_bytes > compacted_frame_max)) {
      if (int rc = end_frame(); rc != 0) return rc;
    }
    if (frame_.size() == 0) {
      frame_.resize(sizeof(FrameHeader));
      first_lsn_ = r.lsn;
      records_ = 0;
    }
    RecordHeader header{static_cast<std::uint32_t>(r.payload.size()), r.type, {0, 0, 0}};
    const std::size_t at = frame_.size();
    frame_.resize(at + record_bytes);
    std::memcpy(frame_.data() + at, &header, sizeof(header));
    if (!r.payload.empty()) {
      std::memcpy(frame_.data() + at + sizeof(header), r.payload.data(), r.payload.size());
    }
    ++records_;
    next_lsn_ = r.lsn + 1;
    return 0;
  }

  /// Ends the last frame and writes everything. The frames end at end_offset().
  int finish() {
    if (frame_.size() > 0) {
      if (int rc = end_frame(); rc != 0) return rc;
    }
    return write_out();
  }
  std::uint64_t end_offset() const { return offset_ + out_.size(); }

 private:
  int end_frame() {
    FrameHeader h{frame_magic, 0,           static_cast<std::uint32_t>(frame_.size()),
                  records_,    segment_id_, first_lsn_};
    std::memcpy(frame_.data(), &h, sizeof(h));
    constexpr std::size_t crc_from = offsetof(FrameHeader, frame_bytes);
    h.crc = crc32c(0, frame_.data() + crc_from, frame_.size() - crc_from);
    std::memcpy(frame_.data(), &h, sizeof(h));
    const std::size_t padded =
        (frame_.size() + compacted_frame_align - 1) / compacted_frame_align * compacted_frame_align;
    frame_.resize(padded, std::byte{0});
    out_.insert(out_.end(), frame_.begin(), frame_.end());
    frame_.clear();
    return out_.size() >= (std::size_t{4} << 20) ? write_out() : 0;
  }
  int write_out() {
    if (out_.empty()) return 0;
    const iovec buffer{out_.data(), out_.size()};
    if (int rc = file_.write(offset_, &buffer, 1, false); rc != 0) return rc;
    offset_ += out_.size();
    out_.clear();
    return 0;
  }

  VfsFile &file_;
  const std::uint64_t segment_id_;
  std::vector<std::byte> frame_;  // the frame being built: [FrameHeader][records]
  std::vector<std::byte> out_;    // finished frames not written yet
  std::uint64_t offset_ = block_bytes;
  Lsn first_lsn_ = 0, next_lsn_ = 0;
  std::uint32_t records_ = 0;
};

}  // namespace

int LogImpl::compact(std::uint64_t first_id, std::uint64_t last_id,
                     const std::function<bool(const RecoveredRecord &)> &keep,
                     double max_kept_fraction, CompactionStats &stats) {
  stats = CompactionStats{};
  if (int rc = failure(); rc != 0) return rc;
  std::vector<SegmentInfo> range;
  std::uint64_t next_id = 0;  // the segment after the range
  {
    std::lock_guard lock(segments_mutex_);
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const SegmentInfo &s) { return s.id == first_id; });
    for (; it != segments_.end() && (range.empty() || range.back().id < last_id); ++it) {
      range.push_back(*it);
    }
    if (range.empty() || range.back().id != last_id || it == segments_.end()) return -EINVAL;
    next_id = it->id;
  }
  std::string error;
  Lsn range_first = 0, range_end = 0;  // range_end: the first LSN after the range
  if (int rc = read_segment_first_lsn(*vfs_, options_.dir, next_id, range_end, error); rc != 0)
    return rc;
  const std::string tmp = path_of(compacting_file_name);
  vfs_->remove(tmp);
  std::unique_ptr<VfsFile> file;
  OpenFlags flags;
  flags.create = true;
  if (int rc = vfs_->open(tmp, flags, file); rc != 0) return rc;
  const auto abandon = [&](int rc) {
    file.reset();
    vfs_->remove(tmp);
    return rc;
  };

  CompactedWriter writer(*file, first_id);
  ScanVisitor visitor;
  visitor.frame = [&](const FrameInfo &f) { stats.bytes_in += f.frame_bytes; };
  visitor.record = [&](const RecoveredRecord &r) {
    ++stats.records_in;
    if (!keep(r)) return 0;
    ++stats.records_kept;
    return writer.add(r);
  };
  std::vector<std::uint64_t> ids;
  for (const SegmentInfo &s : range) ids.push_back(s.id);
  stats.segments_in = ids.size();
  if (int rc = read_segments(*vfs_, options_.dir, ids, visitor, range_first, error); rc != 0)
    return abandon(rc);
  if (int rc = writer.finish(); rc != 0) return abandon(rc);
  stats.bytes_kept = writer.end_offset() - block_bytes;
  if (static_cast<double>(stats.bytes_kept) >
      max_kept_fraction * static_cast<double>(stats.bytes_in)) {
    return abandon(0);  // not worth it
  }

  AlignedBuffer block;
  block.resize(block_bytes);
  std::memset(block.data(), 0, block_bytes);
  SegmentHeader header{segment_magic, compacted_format_version, 0, first_id, range_first,
                       unix_ms()};
  header.header_crc = crc32c(0, &header, sizeof(header));
  const std::uint64_t through =
      range.back().compacted_through_id != 0 ? range.back().compacted_through_id : range.back().id;
  CompactedInfo info{compacted_magic, through, range_end - 1, writer.end_offset(), 0, 0};
  info.crc = crc32c(0, &info, sizeof(info));
  std::memcpy(block.data(), &header, sizeof(header));
  std::memcpy(block.data() + sizeof(header), &info, sizeof(info));
  const iovec buffer{block.data(), block_bytes};
  if (int rc = file->write(0, &buffer, 1, true); rc != 0) return abandon(rc);
  // A record dropped because a later one (say, an ack) made it unnecessary must not outlive that
  // later one: everything appended until now becomes durable before the originals go.
  if (int rc = flush_through(last_appended_lsn(), std::chrono::steady_clock::time_point::max());
      rc != 0) {
    return abandon(rc);
  }
  file.reset();
  if (int rc = vfs_->rename(tmp, path_of(segment_file_name(first_id))); rc != 0) {
    return abandon(rc);
  }
  if (int rc = vfs_->sync_dir(options_.dir); rc != 0) {
    fail(rc);  // the directory's state is unknown: like a failed flush
    return rc;
  }
  {
    std::lock_guard lock(segments_mutex_);
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const SegmentInfo &s) { return s.id == first_id; });
    const auto end = it + static_cast<std::ptrdiff_t>(range.size());
    *it = SegmentInfo{first_id, range_first, range_end - 1, stats.bytes_kept, through};
    segments_.erase(it + 1, end);
  }
  stats.replaced = true;
  int result = 0;
  for (std::size_t i = 1; i < range.size(); ++i) {
    const int rc = recycle(segment_file_name(range[i].id), range[i].compacted_through_id == 0);
    if (rc != 0 && result == 0) result = rc;
  }
  if (range.size() > 1) {
    if (int rc = vfs_->sync_dir(options_.dir); rc != 0 && result == 0) result = rc;
    if (space_exhausted_.load(std::memory_order_acquire)) request_spare();  // space was freed
  }
  return result;
}

// ---- failure and shutdown -----------------------------------------------------------------------

void LogImpl::fail(int error) noexcept {
  int expected = 0;
  failure_.compare_exchange_strong(expected, error < 0 ? error : -EIO, std::memory_order_acq_rel);
  { std::lock_guard lock(durable_mutex_); }
  durable_changed_.notify_all();
  pending_room_.notify_all();
  { std::lock_guard lock(segments_mutex_); }
  spare_answered_.notify_all();  // appenders at the spare gate see the failure
}

void LogImpl::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(append_mutex_);
    stopping_ = true;
  }
  writer_wake_.notify_all();
  pending_room_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(segments_mutex_);
    spare_stopping_ = true;
    open_spare_gate_locked();
  }
  spare_wake_.notify_all();
  if (spare_maker_.joinable()) spare_maker_.join();  // a spare being made is finished first
  // sync=none: a clean close leaves everything durable (one flush); with sync=always it already is.
  // An error here changes nothing (nothing was promised); the next open flushes the tail again.
  if (!options_.flush && current_.file != nullptr && failure() == 0) flush_current();
  current_.file.reset();
  lock_.reset();
}

}  // namespace

int Log::open(const LogOptions &options, const std::function<int(const RecoveredRecord &)> &visit,
              std::unique_ptr<Log> &out, std::string &error) {
  auto log = std::make_unique<LogImpl>(options);
  if (const int rc = log->start(visit, error); rc != 0) return rc;
  out = std::move(log);
  return 0;
}

}  // namespace corq::wal
