// wal/log/log.cpp — opening and closing the log: the glue around the data path.
//
// Log::open makes a LogImpl (log_impl.hpp) and starts it: picks the back end (io_uring unless
// refused, else psync; a test's Vfs as given), creates the directory durably and locks it, scans
// the log calling the caller's visitor per record (scanner.hpp), sorts out the files left around
// (spares, segments past the tail, a compaction's leftovers), opens the tail segment for writing
// (or starts the next one), makes the recovered tail durable (persist_tail, invalidate_unflushed),
// then starts the spare maker (spare.cpp) and the writer (group_commit.cpp). close() stops them in
// the reverse order and leaves the log durable. See log.hpp for the contract, format.hpp for the
// bytes.
#include "log/log_impl.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace corq::wal {
namespace internal {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

int LogImpl::prepare_dir(std::string &error) {
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
  if (int rc = prepare_dir(error); rc != 0) return rc;
  // Direct I/O unless told not to; with `automatic`, open_file drops it where it is refused.
  direct_ = options_.direct_io != DirectIoChoice::off;
  ScanResult scan;
  std::uint64_t rewrite_from = 0;
  if (int rc = recover(visit, scan, rewrite_from, error); rc != 0) return rc;
  if (int rc = sort_out_files(scan, error); rc != 0) return rc;
  if (int rc = open_current(scan, error); rc != 0) return rc;
  if (int rc = invalidate_unflushed(scan.unflushed_after_end); rc != 0) {
    error = "cannot invalidate the unflushed frames after the recovered end: " +
            std::string(std::strerror(-rc));
    return rc;
  }
  // Also with sync=none: a power loss after this open then cannot take the log back past what
  // this open recovered (and the application went on from) — one flush per open.
  if (scan.tail_segment_id != 0) {
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

int LogImpl::recover(const std::function<int(const RecoveredRecord &)> &visit, ScanResult &scan,
                     std::uint64_t &rewrite_from, std::string &error) {
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
  const bool frames_in_tail = last_frame.segment_id == scan.tail_segment_id;
  rewrite_from = frames_in_tail ? last_unmarked_offset : scan.tail_offset;
  return 0;
}

int LogImpl::sort_out_files(const ScanResult &scan, std::string &error) {
  std::vector<std::string> names;
  if (int rc = vfs_->list(options_.dir, names); rc != 0) {
    error = "cannot list " + options_.dir + ": " + std::strerror(-rc);
    return rc;
  }
  std::sort(names.begin(), names.end());
  const std::uint64_t tail_id = scan.tail_segment_id;
  for (const std::string &name : names) {
    if (name.rfind(spare_prefix, 0) != 0) continue;
    const std::uint64_t serial = std::strtoull(name.c_str() + 6, nullptr, 10);
    spare_serial_.store(std::max(spare_serial_.load(std::memory_order_relaxed), serial),
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
  return 0;
}

int LogImpl::open_current(const ScanResult &scan, std::string &error) {
  const std::uint64_t tail_id = scan.tail_segment_id;
  for (const SegmentInfo &s : scan.segments) {
    if (s.id <= tail_id || tail_id == 0) segments_.push_back(s);
  }
  if (tail_id == 0 || (!segments_.empty() && segments_.back().compacted_through_id != 0)) {
    // An empty log: its first segment. Or the chain ends on a compacted segment (a crash right
    // after a compaction that took every sealed segment): writing goes on in the segment after
    // the ones it replaced. Either starts at LSN next_lsn_.
    if (tail_id == 0) segments_.clear();
    const std::uint64_t id = tail_id == 0 ? 1 : segments_.back().compacted_through_id + 1;
    if (int rc = start_segment(id, next_lsn_); rc != 0) {
      error = (tail_id == 0 ? std::string("cannot create the first segment")
                            : "cannot create segment " + std::to_string(id)) +
              ": " + std::strerror(-rc);
      return rc;
    }
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
  stop_spare_maker();
  // sync=none: a clean close leaves everything durable (one flush); with sync=always it already is.
  // An error here changes nothing (nothing was promised); the next open flushes the tail again.
  if (!options_.flush && current_.file != nullptr && failure() == 0) flush_current();
  current_.file.reset();
  lock_.reset();
}

}  // namespace internal

int Log::open(const LogOptions &options, const std::function<int(const RecoveredRecord &)> &visit,
              std::unique_ptr<Log> &out, std::string &error) {
  auto log = std::make_unique<internal::LogImpl>(options);
  if (const int rc = log->start(visit, error); rc != 0) return rc;
  out = std::move(log);
  return 0;
}

}  // namespace corq::wal
