// wal/log/compaction.cpp — compaction: the sealed segments [first_id, last_id] rewritten as one
// compacted segment (format.hpp) holding only the records the caller still needs, with their LSNs.
// Live messages in old segments are carried forward this way, so recovery time and disk use follow
// live data, not history (DESIGN.md §5).
//
// Reads the range through the scanner, packs the kept records into frames of consecutive LSNs
// (a new frame wherever a dropped record leaves a gap), writes them after block 0 of a temporary
// file, then block 0 (header + CompactedInfo), flushes it, waits until the log is durable up to
// what was appended so far, renames it over the range's first segment and syncs the directory; the
// other files of the range are recycled (segments.cpp). Costs: one read of the range, one write of
// what is kept; the writer thread is not involved. A crash at any point leaves either the originals
// or the compacted segment (plus superseded files the next open recycles).
#include "log/log_impl.hpp"
#include "record/crc32c.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace corq::wal::internal {
namespace {

/// The most bytes of records a compacted segment's frame holds.
constexpr std::size_t compacted_frame_max = std::size_t{1} << 20;
/// CompactedWriter writes what it has packed once this much is waiting.
constexpr std::size_t compacted_write_bytes = std::size_t{4} << 20;

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
    return out_.size() >= compacted_write_bytes ? write_out() : 0;
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

/// Block 0 of a compacted segment: its header and CompactedInfo.
int write_compacted_header(VfsFile &file, std::uint64_t first_id, Lsn first_lsn,
                           const CompactedInfo &info_in) {
  AlignedBuffer block;
  block.resize(block_bytes);
  std::memset(block.data(), 0, block_bytes);
  SegmentHeader header{segment_magic, compacted_format_version, 0, first_id, first_lsn, unix_ms()};
  header.header_crc = crc32c(0, &header, sizeof(header));
  CompactedInfo info = info_in;
  info.crc = crc32c(0, &info, sizeof(info));
  std::memcpy(block.data(), &header, sizeof(header));
  std::memcpy(block.data() + sizeof(header), &info, sizeof(info));
  const iovec buffer{block.data(), block_bytes};
  return file.write(0, &buffer, 1, true);
}

}  // namespace

int LogImpl::compaction_range(std::uint64_t first_id, std::uint64_t last_id,
                              std::vector<SegmentInfo> &range, std::uint64_t &next_id) {
  std::lock_guard lock(segments_mutex_);
  auto it = std::find_if(segments_.begin(), segments_.end(),
                         [&](const SegmentInfo &s) { return s.id == first_id; });
  for (; it != segments_.end() && (range.empty() || range.back().id < last_id); ++it) {
    range.push_back(*it);
  }
  if (range.empty() || range.back().id != last_id || it == segments_.end()) return -EINVAL;
  next_id = it->id;
  return 0;
}

int LogImpl::compact(std::uint64_t first_id, std::uint64_t last_id,
                     const std::function<bool(const RecoveredRecord &)> &keep,
                     double max_kept_fraction, CompactionStats &stats) {
  stats = CompactionStats{};
  if (int rc = failure(); rc != 0) return rc;
  std::vector<SegmentInfo> range;
  std::uint64_t next_id = 0;  // the segment after the range
  if (int rc = compaction_range(first_id, last_id, range, next_id); rc != 0) return rc;
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
  const std::uint64_t through =
      range.back().compacted_through_id != 0 ? range.back().compacted_through_id : range.back().id;
  const CompactedInfo info{compacted_magic, through, range_end - 1, writer.end_offset(), 0, 0};
  if (int rc = write_compacted_header(*file, first_id, range_first, info); rc != 0) {
    return abandon(rc);
  }
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
  return install_compacted(range, {first_id, range_first, range_end - 1, stats.bytes_kept, through},
                           stats);
}

int LogImpl::install_compacted(const std::vector<SegmentInfo> &range, const SegmentInfo &compacted,
                               CompactionStats &stats) {
  if (int rc = vfs_->sync_dir(options_.dir); rc != 0) {
    fail(rc);  // the directory's state is unknown: like a failed flush
    return rc;
  }
  stats.replaced = true;
  {
    std::lock_guard lock(segments_mutex_);
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const SegmentInfo &s) { return s.id == compacted.id; });
    const auto end = it + static_cast<std::ptrdiff_t>(range.size());
    *it = compacted;
    segments_.erase(it + 1, end);
  }
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

}  // namespace corq::wal::internal
