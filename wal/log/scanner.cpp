// wal/log/scanner.cpp — reads a log directory back (see scanner.hpp for the contract and the
// decisions about where the log ends, format.hpp for the bytes).
//
// Two phases:
//   1. The chain. Segments in id order, each "continuing" the log: a valid header naming its own
//      id, started (first_lsn != 0), consecutive with the previous segment in id and LSN. In each,
//      frames from block 1 on, each checked as format.hpp says, records handed to the visitor
//      only once the whole frame proved valid (a batch is seen whole or not at all). The chain
//      stops at the first segment that does not continue it; the log's end is the first invalid
//      frame of the last segment of the chain.
//   2. The look-ahead. From that end to the end of the directory, every block boundary (and every
//      segment header) is searched for evidence that the log went on: a frame valid in itself
//      (magic, its file's segment id, in bounds, crc) holding a record at or past the next
//      expected LSN, or a header that starts a segment past it. Evidence means the end is
//      corruption (-EBADMSG, file and offset named), not a torn tail: records that were written
//      after it would otherwise be dropped silently.
//
// Memory: one window buffer per scan, read_chunk_bytes at a time; it grows only to hold a whole
// frame of up to frame_whole_bytes_max (checksummed in one piece) or one record larger than a
// chunk (records are handed over contiguous). Larger frames are checksummed chunk by chunk.
#include "log/scanner.hpp"

#include "record/crc32c.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

namespace corq::wal {
namespace {

static_assert(std::endian::native == std::endian::little, "the log's format is little-endian");

/// Bytes read per read call (and the window's usual size).
constexpr std::size_t read_chunk_bytes = std::size_t{1} << 20;
/// Frames up to this size are read whole; larger ones are checksummed in chunks.
constexpr std::size_t frame_whole_bytes_max = std::size_t{16} << 20;
/// "<20 digits>.wal"
constexpr std::size_t segment_id_digits = 20;
constexpr char segment_suffix[] = ".wal";
/// The smallest frame: its header and one empty record.
constexpr std::uint64_t frame_bytes_min = sizeof(FrameHeader) + sizeof(RecordHeader);

std::uint64_t align_up(std::uint64_t offset) {
  return (offset + block_bytes - 1) / block_bytes * block_bytes;
}

std::string errno_text(int rc) { return std::strerror(rc < 0 ? -rc : EIO); }

struct SegmentFile {
  std::uint64_t id;
  std::string name;
};

/// One segment file at a time, read through a window of bounded size.
class SegmentReader {
 public:
  SegmentReader(Vfs &vfs, const std::string &dir) : vfs_(vfs), dir_(dir) {}

  /// Opens `file` read-only (closing the previous one). -errno.
  int open(const SegmentFile &file) {
    file_.reset();
    window_bytes_ = 0;
    size_ = 0;
    OpenFlags flags;
    flags.read_only = true;
    if (int rc = vfs_.open(dir_ + "/" + file.name, flags, file_); rc != 0) return rc;
    const long long size = file_->size();
    if (size < 0) return static_cast<int>(size);
    size_ = static_cast<std::uint64_t>(size);
    return 0;
  }

  std::uint64_t size() const { return size_; }

  /// Points `out` at bytes [offset, offset + bytes) of the file, valid until the next view.
  /// Precondition: offset + bytes <= size(). -errno, or -EIO if the file ends early.
  int view(std::uint64_t offset, std::size_t bytes, const std::byte *&out) {
    if (offset >= window_offset_ && offset + bytes <= window_offset_ + window_bytes_) {
      out = window_.data() + (offset - window_offset_);
      return 0;
    }
    const std::size_t want = static_cast<std::size_t>(
        std::min<std::uint64_t>(std::max(bytes, read_chunk_bytes), size_ - offset));
    if (window_.size() < want) window_.resize(want);
    window_bytes_ = 0;
    std::size_t got = 0;
    while (got < want) {
      const long n = file_->read(offset + got, window_.data() + got, want - got);
      if (n < 0) return static_cast<int>(n);
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got < bytes) return -EIO;  // shorter than size() said: changed under the scan
    window_offset_ = offset;
    window_bytes_ = got;
    out = window_.data();
    return 0;
  }

 private:
  Vfs &vfs_;
  const std::string &dir_;
  std::unique_ptr<VfsFile> file_;
  std::uint64_t size_ = 0;
  std::vector<std::byte> window_;
  std::uint64_t window_offset_ = 0;
  std::size_t window_bytes_ = 0;
};

// ---- segment headers ----------------------------------------------------------------------------

struct HeaderCheck {
  bool valid = false;  // magic, version, crc and the file's segment id
  bool torn = false;   // neither valid, nor zero, nor another segment's intact header
  SegmentHeader header{};
  bool compacted = false;  // version 2: `info` holds its CompactedInfo (checked)
  CompactedInfo info{};
  std::string why;  // when not valid
  /// The id the segment after this one has.
  std::uint64_t next_id() const {
    return (compacted ? info.last_segment_id : header.segment_id) + 1;
  }
};

/// Reads and checks block 0 of the open segment. -errno; -EBADMSG (with `error`) for an intact
/// header of another format version, which this build must not mistake for an unused file.
int check_header(SegmentReader &reader, const SegmentFile &file, HeaderCheck &out,
                 std::string &error) {
  out = HeaderCheck{};
  if (reader.size() < sizeof(SegmentHeader)) {
    out.torn = reader.size() > 0;
    out.why = "file of " + std::to_string(reader.size()) + " bytes has no segment header";
    return 0;
  }
  const std::byte *bytes = nullptr;
  if (int rc = reader.view(0, sizeof(SegmentHeader), bytes); rc != 0) return rc;
  std::memcpy(&out.header, bytes, sizeof(out.header));
  const bool zero = std::all_of(bytes, bytes + sizeof(SegmentHeader),
                                [](std::byte b) { return b == std::byte{0}; });
  if (out.header.magic != segment_magic) {
    out.torn = !zero;
    out.why = zero ? "zero header" : "bad segment magic";
    return 0;
  }
  SegmentHeader unsigned_header = out.header;
  unsigned_header.header_crc = 0;
  if (crc32c(0, &unsigned_header, sizeof(unsigned_header)) != out.header.header_crc) {
    out.torn = true;
    out.why = "header crc mismatch";
    return 0;
  }
  if (out.header.version != format_version && out.header.version != compacted_format_version) {
    error = file.name + ": unsupported log format version " + std::to_string(out.header.version) +
            " (this build reads versions " + std::to_string(format_version) + " and " +
            std::to_string(compacted_format_version) + ")";
    return -EBADMSG;
  }
  if (out.header.segment_id != file.id) {
    out.why = "header of segment " + std::to_string(out.header.segment_id) + " (recycled file)";
    return 0;
  }
  if (out.header.version == compacted_format_version) {
    // Written whole and flushed before its rename: a bad CompactedInfo is damage, never a tear
    // or an unused file, wherever the segment is.
    const auto damaged = [&](const char *why) {
      error = file.name + ": corrupt compacted segment header at offset " +
              std::to_string(sizeof(SegmentHeader)) + " (" + why + ")";
      return -EBADMSG;
    };
    if (reader.size() < sizeof(SegmentHeader) + sizeof(CompactedInfo))
      return damaged("file too short for its info");
    if (int rc = reader.view(sizeof(SegmentHeader), sizeof(CompactedInfo), bytes); rc != 0)
      return rc;
    std::memcpy(&out.info, bytes, sizeof(out.info));
    CompactedInfo unsigned_info = out.info;
    unsigned_info.crc = 0;
    if (out.info.magic != compacted_magic ||
        crc32c(0, &unsigned_info, sizeof(unsigned_info)) != out.info.crc) {
      return damaged("info crc mismatch");
    }
    if (out.info.last_segment_id < file.id || out.header.first_lsn == 0 ||
        out.info.last_lsn + 1 < out.header.first_lsn || out.info.end_offset < block_bytes ||
        out.info.end_offset > reader.size()) {
      return damaged("info out of range");
    }
    out.compacted = true;
  }
  out.valid = true;
  return 0;
}

// ---- frames -------------------------------------------------------------------------------------

struct FrameCheck {
  bool valid = false;  // every check of format.hpp passed (records not parsed yet)
  bool own = false;    // magic and segment id are right: a frame of this segment
  FrameHeader header{};
  std::string why;  // when not valid
  std::uint32_t records() const { return frame_record_count(header); }
  Lsn last_lsn() const { return header.first_lsn + records() - 1; }
};

/// Checksum of bytes [8, frame_bytes) of the frame at `offset`.
int frame_crc(SegmentReader &reader, std::uint64_t offset, std::uint32_t frame_bytes,
              std::uint32_t &crc) {
  constexpr std::size_t crc_from = offsetof(FrameHeader, frame_bytes);
  const std::byte *bytes = nullptr;
  crc = 0;
  if (frame_bytes <= frame_whole_bytes_max) {
    // Whole: the records are then in the window for parsing and delivery.
    if (int rc = reader.view(offset, frame_bytes, bytes); rc != 0) return rc;
    crc = crc32c(0, bytes + crc_from, frame_bytes - crc_from);
    return 0;
  }
  for (std::uint64_t at = crc_from; at < frame_bytes;) {
    const std::size_t piece =
        static_cast<std::size_t>(std::min<std::uint64_t>(read_chunk_bytes, frame_bytes - at));
    if (int rc = reader.view(offset + at, piece, bytes); rc != 0) return rc;
    crc = crc32c(crc, bytes, piece);
    at += piece;
  }
  return 0;
}

/// Checks the frame at `offset` of segment `segment_id`, in format.hpp's order. `expected_lsn`:
/// the LSN it must start with, or 0 for any (the look-ahead). -errno for I/O errors only.
int inspect_frame(SegmentReader &reader, std::uint64_t segment_id, std::uint64_t offset,
                  Lsn expected_lsn, FrameCheck &out) {
  out = FrameCheck{};
  if (offset + sizeof(FrameHeader) > reader.size()) {
    out.why = "end of segment";
    return 0;
  }
  const std::byte *bytes = nullptr;
  if (int rc = reader.view(offset, sizeof(FrameHeader), bytes); rc != 0) return rc;
  std::memcpy(&out.header, bytes, sizeof(out.header));
  const FrameHeader &h = out.header;
  if (h.magic != frame_magic) {
    const bool zero = std::all_of(bytes, bytes + sizeof(FrameHeader),
                                  [](std::byte b) { return b == std::byte{0}; });
    char text[40];
    std::snprintf(text, sizeof(text), "bad frame magic 0x%08" PRIx32, h.magic);
    out.why = zero ? "zero block" : text;
    return 0;
  }
  if (h.segment_id != segment_id) {
    out.why = "frame of segment " + std::to_string(h.segment_id) + " (stale)";
    return 0;
  }
  out.own = true;
  if (expected_lsn != 0 && h.first_lsn != expected_lsn) {
    out.why =
        "first_lsn " + std::to_string(h.first_lsn) + ", expected " + std::to_string(expected_lsn);
    return 0;
  }
  const std::uint32_t records = frame_record_count(h);
  if (records == 0 || h.frame_bytes < frame_bytes_min ||
      (h.frame_bytes - sizeof(FrameHeader)) / sizeof(RecordHeader) < records ||
      offset + h.frame_bytes > reader.size()) {
    out.why = "frame_bytes " + std::to_string(h.frame_bytes) + " / record count " +
              std::to_string(records) + " out of bounds";
    return 0;
  }
  if (h.first_lsn == 0 || h.first_lsn > std::numeric_limits<Lsn>::max() - (records - 1)) {
    out.why = "first_lsn " + std::to_string(h.first_lsn) + " out of range";
    return 0;
  }
  std::uint32_t crc = 0;
  if (int rc = frame_crc(reader, offset, h.frame_bytes, crc); rc != 0) return rc;
  if (crc != h.crc) {
    out.why = "crc mismatch";
    return 0;
  }
  out.valid = true;
  return 0;
}

using RecordVisitor = std::function<int(const RecoveredRecord &)>;

/// Walks the records of a frame whose checks passed. Without `deliver`: proves that exactly
/// record_count records fill frame_bytes (else `ok` = false, `why` set). With it (on a frame that
/// proved so): hands each record over; a non-zero value from it is returned at once, with
/// `visitor_stopped` set. Otherwise non-zero is -errno of a read.
int walk_records(SegmentReader &reader, std::uint64_t offset, const FrameHeader &h,
                 const RecordVisitor *deliver, bool &ok, bool &visitor_stopped, std::string &why) {
  ok = false;
  const std::uint64_t end = offset + h.frame_bytes;
  const std::uint32_t records = frame_record_count(h);
  std::uint64_t at = offset + sizeof(FrameHeader);
  const std::byte *bytes = nullptr;
  for (std::uint32_t i = 0; i < records; ++i) {
    if (end - at < sizeof(RecordHeader)) {
      why = "record " + std::to_string(i) + " of " + std::to_string(records) +
            " starts past the frame's end";
      return 0;
    }
    if (int rc = reader.view(at, sizeof(RecordHeader), bytes); rc != 0) return rc;
    RecordHeader record;
    std::memcpy(&record, bytes, sizeof(record));
    const std::uint64_t record_bytes = sizeof(RecordHeader) + std::uint64_t{record.payload_bytes};
    if (record_bytes > end - at) {
      why = "record " + std::to_string(i) + " of " + std::to_string(record.payload_bytes) +
            " bytes overruns the frame";
      return 0;
    }
    if (deliver != nullptr) {
      if (int rc = reader.view(at, static_cast<std::size_t>(record_bytes), bytes); rc != 0) {
        return rc;
      }
      const RecoveredRecord recovered{
          h.first_lsn + i, record.type, {bytes + sizeof(RecordHeader), record.payload_bytes}};
      if (int rc = (*deliver)(recovered); rc != 0) {
        visitor_stopped = true;
        return rc;
      }
    }
    at += record_bytes;
  }
  if (at != end) {
    why = std::to_string(end - at) + " bytes after the last of " + std::to_string(records) +
          " records";
    return 0;
  }
  ok = true;
  return 0;
}

// ---- phase 1: the chain -------------------------------------------------------------------------

/// Hands a frame that proved valid (records included) to the visitor: the frame, then its records.
/// Non-zero: -errno of a read, or the visitor's value (then `visitor_stopped` is set).
int deliver_frame(SegmentReader &reader, const SegmentFile &file, std::uint64_t offset,
                  const FrameCheck &frame, const ScanVisitor &visitor, bool &visitor_stopped) {
  if (visitor.frame) {
    visitor.frame({file.id, offset, frame.header.frame_bytes, frame.records(),
                   frame.header.first_lsn, frame_is_unflushed(frame.header)});
  }
  if (!visitor.record) return 0;
  bool ok = false;
  std::string unused;
  return walk_records(reader, offset, frame.header, &visitor.record, ok, visitor_stopped, unused);
}

/// Where the frames of a segment stop: its first invalid frame.
struct SegmentEnd {
  std::uint64_t offset = 0;
  bool torn = false;  // that frame is one of this segment's (magic and id right), cut short
  std::string why;
};

/// Reads the frames of a segment that continues the log, from block 1 to its first invalid frame,
/// handing valid ones to the visitor. `next_lsn` advances past them. Non-zero: -errno of a read,
/// or a visitor's value (then `visitor_stopped` is set).
int scan_frames(SegmentReader &reader, const SegmentFile &file, const ScanVisitor &visitor,
                Lsn &next_lsn, SegmentInfo &info, SegmentEnd &end, bool &visitor_stopped) {
  std::uint64_t offset = block_bytes;
  // Bounded: every frame moves `offset` on by at least a block, and frames stay inside the file.
  for (;;) {
    FrameCheck frame;
    if (int rc = inspect_frame(reader, file.id, offset, next_lsn, frame); rc != 0) return rc;
    bool ok = frame.valid;
    if (ok) {
      const int rc =
          walk_records(reader, offset, frame.header, nullptr, ok, visitor_stopped, frame.why);
      if (rc != 0) return rc;
    }
    if (!ok) {
      end = {offset, frame.own, frame.why};
      info.bytes = offset - block_bytes;
      return 0;
    }
    if (int rc = deliver_frame(reader, file, offset, frame, visitor, visitor_stopped); rc != 0)
      return rc;
    if (info.first_lsn == 0) info.first_lsn = frame.header.first_lsn;
    info.last_lsn = frame.last_lsn();
    next_lsn = info.last_lsn + 1;
    offset = align_up(offset + frame.header.frame_bytes);
  }
}

/// Reads the frames of a compacted segment (format.hpp): packed, LSNs increasing within the
/// header's range, ending exactly at end_offset. Any deviation is corruption (-EBADMSG, `error`
/// names file and offset): the file was flushed whole before it was renamed into place.
int scan_compacted(SegmentReader &reader, const SegmentFile &file, const HeaderCheck &header,
                   const ScanVisitor &visitor, Lsn &next_lsn, SegmentInfo &info,
                   bool &visitor_stopped, std::string &error) {
  const CompactedInfo &c = header.info;
  std::uint64_t offset = block_bytes;
  while (offset < c.end_offset) {
    FrameCheck frame;
    if (int rc = inspect_frame(reader, file.id, offset, 0, frame); rc != 0) return rc;
    bool ok = frame.valid;
    if (ok && (frame.header.first_lsn < next_lsn || frame.last_lsn() > c.last_lsn ||
               offset + frame.header.frame_bytes > c.end_offset)) {
      ok = false;
      frame.why = "LSNs " + std::to_string(frame.header.first_lsn) + ".." +
                  std::to_string(frame.last_lsn()) + " outside " + std::to_string(next_lsn) + ".." +
                  std::to_string(c.last_lsn);
    }
    if (ok) {
      const int rc =
          walk_records(reader, offset, frame.header, nullptr, ok, visitor_stopped, frame.why);
      if (rc != 0) return rc;
    }
    if (!ok) {
      error = file.name + ": corrupt frame at offset " + std::to_string(offset) + " (" + frame.why +
              ") in a compacted segment";
      return -EBADMSG;
    }
    if (int rc = deliver_frame(reader, file, offset, frame, visitor, visitor_stopped); rc != 0)
      return rc;
    next_lsn = frame.last_lsn() + 1;
    offset += (frame.header.frame_bytes + compacted_frame_align - 1) / compacted_frame_align *
              compacted_frame_align;
  }
  if (offset != c.end_offset) {
    error = file.name + ": corrupt compacted segment: frames end at " + std::to_string(offset) +
            ", its info says " + std::to_string(c.end_offset);
    return -EBADMSG;
  }
  info.first_lsn = header.header.first_lsn;
  info.last_lsn = c.last_lsn;
  info.bytes = c.end_offset - block_bytes;
  info.compacted_through_id = c.last_segment_id;
  next_lsn = c.last_lsn + 1;
  return 0;
}

// ---- phase 2: the look-ahead --------------------------------------------------------------------

/// Something valid past the end of the log.
struct Evidence {
  std::size_t file = 0;  // index into the segment files
  std::uint64_t offset = 0;
  bool header = false;  // a segment header (else a frame)
  std::string what;
};

/// Searches the open segment from `offset` on (block by block) for a frame valid in itself that
/// holds a record >= `next_lsn`. Returns -errno, else 0 with `found` set. In the segment of the
/// break (`unflushed` non-null) an unflushed frame is no evidence: its offset goes to `unflushed`.
int search_frames(SegmentReader &reader, const SegmentFile &file, std::uint64_t offset,
                  Lsn next_lsn, bool &found, Evidence &evidence,
                  std::vector<std::uint64_t> *unflushed) {
  found = false;
  for (; offset + sizeof(FrameHeader) <= reader.size(); offset += block_bytes) {
    FrameCheck frame;
    if (int rc = inspect_frame(reader, file.id, offset, 0, frame); rc != 0) return rc;
    if (frame.valid && frame.last_lsn() >= next_lsn && unflushed != nullptr &&
        frame_is_unflushed(frame.header)) {
      unflushed->push_back(offset);
      continue;
    }
    if (frame.valid && frame.last_lsn() >= next_lsn) {
      found = true;
      evidence.offset = offset;
      evidence.what = "a valid frame with LSNs " + std::to_string(frame.header.first_lsn) + ".." +
                      std::to_string(frame.last_lsn()) + " at offset " + std::to_string(offset) +
                      " of " + file.name;
      return 0;
    }
  }
  return 0;
}

/// Looks for evidence after the end of the chain: in the tail segment from `end_offset` (when
/// there is a tail: `first_after` > 0), then in every later file. -errno, or 0 with `found`.
int look_ahead(SegmentReader &reader, const std::vector<SegmentFile> &files,
               std::size_t first_after, std::uint64_t end_offset, Lsn next_lsn, bool &found,
               Evidence &evidence, std::vector<std::uint64_t> &unflushed, std::string &error) {
  found = false;
  const auto io_error = [&](std::size_t i, int rc) {
    error = files[i].name + ": " + errno_text(rc);
    return rc;
  };
  if (first_after > 0) {
    const std::size_t tail = first_after - 1;
    if (int rc = reader.open(files[tail]); rc != 0) return io_error(tail, rc);
    if (int rc =
            search_frames(reader, files[tail], end_offset, next_lsn, found, evidence, &unflushed);
        rc != 0)
      return io_error(tail, rc);
    evidence.file = tail;
    if (found) return 0;
  }
  for (std::size_t i = first_after; i < files.size(); ++i) {
    evidence.file = i;
    if (int rc = reader.open(files[i]); rc != 0) return io_error(i, rc);
    HeaderCheck header;
    if (int rc = check_header(reader, files[i], header, error); rc != 0) {
      return rc == -EBADMSG ? rc : io_error(i, rc);
    }
    if (header.valid && header.header.first_lsn > next_lsn) {
      found = true;
      evidence.offset = 0;
      evidence.header = true;
      evidence.what = "the header of " + files[i].name + " starts it at LSN " +
                      std::to_string(header.header.first_lsn);
      return 0;
    }
    if (int rc = search_frames(reader, files[i], block_bytes, next_lsn, found, evidence, nullptr);
        rc != 0)
      return io_error(i, rc);
    if (found) return 0;
  }
  return 0;
}

/// The -EBADMSG message: the first break on the way to the evidence, and the evidence.
std::string corruption_message(const std::vector<SegmentFile> &files, std::size_t chain,
                               const SegmentEnd &end, const HeaderCheck &next_header,
                               const Evidence &evidence) {
  const std::string follows = "; but " + evidence.what + " follows)";
  if (chain > 0 && (evidence.file == chain - 1 || end.torn)) {
    // Inside the tail segment (or a torn frame there before later valid data).
    const std::string &name = files[chain - 1].name;
    const bool same_frame = evidence.file == chain - 1 && evidence.offset == end.offset;
    return name + ": corrupt frame at offset " + std::to_string(end.offset) + " (" + end.why +
           (same_frame ? ")" : follows);
  }
  const SegmentFile &next = files[chain];
  if (evidence.file == chain && evidence.header) {
    // That header is itself the valid thing: its first_lsn does not continue the log.
    return next.name + ": corrupt segment header at offset 0 (" + next_header.why + ")";
  }
  if (chain > 0 && next.id != files[chain - 1].id + 1) {
    return next.name + ": corrupt log: segment " + std::to_string(files[chain - 1].id + 1) +
           " is missing (segment ids jump from " + std::to_string(files[chain - 1].id) + " to " +
           std::to_string(next.id) + follows;
  }
  return next.name + ": corrupt segment header at offset 0 (" + next_header.why + follows;
}

int list_segments(Vfs &vfs, const std::string &dir, std::vector<SegmentFile> &files,
                  std::string &error) {
  std::vector<std::string> names;
  if (int rc = vfs.list(dir, names); rc != 0) {
    error = "cannot list " + dir + ": " + errno_text(rc);
    return rc;
  }
  for (std::string &name : names) {
    std::uint64_t id = 0;
    if (parse_segment_file_name(name, id)) files.push_back({id, std::move(name)});
  }
  std::sort(files.begin(), files.end(),
            [](const SegmentFile &a, const SegmentFile &b) { return a.id < b.id; });
  return 0;
}

}  // namespace

std::string segment_file_name(std::uint64_t segment_id) {
  char name[segment_id_digits + sizeof(segment_suffix)];
  std::snprintf(name, sizeof(name), "%020" PRIu64 "%s", segment_id, segment_suffix);
  return name;
}

bool parse_segment_file_name(const std::string &name, std::uint64_t &segment_id) {
  constexpr std::size_t suffix_bytes = sizeof(segment_suffix) - 1;
  if (name.size() != segment_id_digits + suffix_bytes) return false;
  if (name.compare(segment_id_digits, suffix_bytes, segment_suffix) != 0) return false;
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < segment_id_digits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (id > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;  // overflow
    id = id * 10 + digit;
  }
  if (id == 0) return false;  // ids start at 1; 0 means "no segment"
  segment_id = id;
  return true;
}

int scan_log(Vfs &vfs, const std::string &dir, const ScanVisitor &visitor, ScanResult &out) {
  out = ScanResult{};
  std::vector<SegmentFile> files;
  if (int rc = list_segments(vfs, dir, files, out.error); rc != 0) return rc;

  SegmentReader reader(vfs, dir);
  Lsn next_lsn = 0;           // the LSN the log continues with; 0 until a segment started it
  std::size_t chain = 0;      // files[0, chain) continue the log
  SegmentEnd end;             // where the frames of files[chain - 1] stop
  HeaderCheck header;         // of files[chain], the first file that does not continue the log
  std::uint64_t next_id = 0;  // the id the next segment of the chain must have
  bool tail_compacted = false;
  for (; chain < files.size(); ++chain) {
    const SegmentFile &file = files[chain];
    if (int rc = reader.open(file); rc != 0) {
      out.error = file.name + ": " + errno_text(rc);
      return rc;
    }
    if (int rc = check_header(reader, file, header, out.error); rc != 0) {
      if (rc != -EBADMSG) out.error = file.name + ": " + errno_text(rc);
      return rc;
    }
    if (header.valid && header.header.first_lsn == 0) header.why = "segment never started";
    if (header.valid && header.header.first_lsn != 0 && chain > 0) {
      if (file.id != next_id) {
        header.why = "segment id gap";
      } else if (header.header.first_lsn != next_lsn) {
        header.why = "first_lsn " + std::to_string(header.header.first_lsn) + ", expected " +
                     std::to_string(next_lsn);
      }
    }
    if (!header.valid || !header.why.empty()) break;  // does not continue the log
    next_lsn = header.header.first_lsn;
    next_id = header.next_id();
    SegmentInfo info{file.id, 0, 0, 0};
    bool visitor_stopped = false;
    tail_compacted = header.compacted;
    if (header.compacted) {
      const int rc =
          scan_compacted(reader, file, header, visitor, next_lsn, info, visitor_stopped, out.error);
      if (rc != 0) {
        if (rc != -EBADMSG && !visitor_stopped) out.error = file.name + ": " + errno_text(rc);
        return rc;
      }
      // Files of the segments it replaced, left by a crash before their removal: not the log.
      while (chain + 1 < files.size() && files[chain + 1].id < next_id) {
        out.superseded.push_back(files[chain + 1].name);
        files.erase(files.begin() + static_cast<std::ptrdiff_t>(chain + 1));
      }
      end = {reader.size(), false, "end of a compacted segment"};
    } else if (int rc = scan_frames(reader, file, visitor, next_lsn, info, end, visitor_stopped);
               rc != 0) {
      if (!visitor_stopped) out.error = file.name + ": " + errno_text(rc);
      return rc;
    }
    out.segments.push_back(info);
  }

  Evidence evidence;
  bool found = false;
  // After a compacted tail the look-ahead starts with the next file (nothing may follow inside it).
  const std::uint64_t end_offset = chain > 0 ? end.offset : 0;
  if (int rc = look_ahead(reader, files, chain, end_offset, next_lsn, found, evidence,
                          out.unflushed_after_end, out.error);
      rc != 0) {
    return rc;
  }
  if (found) {
    out.error = corruption_message(files, chain, end, header, evidence);
    return -EBADMSG;
  }

  // The end is a clean end or a torn tail. Files after the chain hold nothing of the log.
  for (std::size_t i = chain; i < files.size(); ++i) out.segments.push_back({files[i].id, 0, 0, 0});
  const bool next_is_successor = chain < files.size() && (chain == 0 || files[chain].id == next_id);
  out.torn_tail = (chain > 0 && end.torn) || (next_is_successor && header.torn);
  if (chain > 0) {
    out.last_lsn = next_lsn - 1;
    out.tail_segment_id = files[chain - 1].id;
    out.tail_offset = tail_compacted ? std::numeric_limits<std::uint64_t>::max() : end.offset;
  }
  return 0;
}

namespace {
/// Opens segment `file` of a log and checks that it has a valid, started header naming it (a
/// segment the caller knows to be part of the log). -errno, or -EBADMSG with `error`.
int open_started_segment(SegmentReader &reader, const SegmentFile &file, HeaderCheck &header,
                         std::string &error) {
  if (int rc = reader.open(file); rc != 0) {
    error = file.name + ": " + errno_text(rc);
    return rc;
  }
  if (int rc = check_header(reader, file, header, error); rc != 0) {
    if (rc != -EBADMSG) error = file.name + ": " + errno_text(rc);
    return rc;
  }
  if (!header.valid || header.header.first_lsn == 0) {
    error = file.name + ": no valid started segment header (" + header.why + ")";
    return -EBADMSG;
  }
  return 0;
}
}  // namespace

int read_segment_first_lsn(Vfs &vfs, const std::string &dir, std::uint64_t id, Lsn &first_lsn,
                           std::string &error) {
  SegmentReader reader(vfs, dir);
  HeaderCheck header;
  if (int rc = open_started_segment(reader, {id, segment_file_name(id)}, header, error); rc != 0)
    return rc;
  first_lsn = header.header.first_lsn;
  return 0;
}

int read_segments(Vfs &vfs, const std::string &dir, const std::vector<std::uint64_t> &ids,
                  const ScanVisitor &visitor, Lsn &first_lsn_out, std::string &error) {
  SegmentReader reader(vfs, dir);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const SegmentFile file{ids[i], segment_file_name(ids[i])};
    HeaderCheck header;
    if (int rc = open_started_segment(reader, file, header, error); rc != 0) return rc;
    if (i == 0) first_lsn_out = header.header.first_lsn;
    Lsn next_lsn = header.header.first_lsn;
    SegmentInfo info{file.id, 0, 0, 0};
    bool visitor_stopped = false;
    int rc = 0;
    if (header.compacted) {
      rc = scan_compacted(reader, file, header, visitor, next_lsn, info, visitor_stopped, error);
    } else {
      SegmentEnd end;
      rc = scan_frames(reader, file, visitor, next_lsn, info, end, visitor_stopped);
    }
    if (rc != 0) {
      if (rc != -EBADMSG && !visitor_stopped) error = file.name + ": " + errno_text(rc);
      return rc;
    }
  }
  return 0;
}

}  // namespace corq::wal
