// wal/log/segments.cpp — the life of a segment file: created (from the spare, or preallocated on
// the spot), written by the writer until full, sealed by the roll to the next one, then released
// (every record in it made unnecessary by the caller, e.g. by a checkpoint) or replaced by a
// compacted segment (compaction.cpp); a file no longer needed becomes the spare or is removed
// (recycle). Segment files are named by id (format.hpp); a segment's header block names its id and
// first LSN, so a recycled file's old frames never validate in its new place.
//
// Who calls what: the writer thread creates and rolls (and open, before it starts); release_before
// and compact run on the caller's thread (the engine's log maintainer), one at a time. The list of
// segments is segments_ under segments_mutex_; the writer appends to it, the others take from its
// front or replace a range.
#include "log/log_impl.hpp"
#include "record/crc32c.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

namespace corq::wal::internal {

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

int LogImpl::roll_segment(Lsn first_lsn) {
  // A segment is flushed before the next one starts, also with sync=none (one flush per
  // segment_bytes): a later segment's header and frames then prove that everything before them is
  // on disk, so damage in a sealed segment is reported as corruption, never cut as a torn tail.
  if (!options_.flush) {
    if (int rc = flush_current(); rc != 0) return rc;
  }
  // ENOSPC here means even the reserve is gone: fail-stop (spare.cpp).
  return start_segment(current_.id + 1, first_lsn);
}

int LogImpl::start_segment(std::uint64_t id, Lsn first_lsn) {
  std::unique_ptr<VfsFile> file;
  if (const int rc = create_segment(id, first_lsn, file); rc != 0) return rc;
  begin_segment(id, std::move(file));
  return 0;
}

void LogImpl::begin_segment(std::uint64_t id, std::unique_ptr<VfsFile> file) {
  current_.file = std::move(file);
  current_.id = id;
  current_.offset = block_bytes;
  segment_has_unflushed_ = false;
  spare_requested_ = false;
  std::lock_guard lock(segments_mutex_);
  segments_.push_back({id, 0, 0, 0});
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

}  // namespace corq::wal::internal
