// wal/record/format.hpp — the on-disk format of corq's write-ahead log.
//
// A log is a directory of segment files, `<segment id, 20 digits>.wal`, each `segment_bytes` long
// (preallocated). Everything is little-endian and block-aligned (block_bytes = 4 KiB).
//
//   segment file:  [ SegmentHeader, padded to one block ][ frame ][ frame ] ... [ unused ]
//   frame:         [ FrameHeader 32 B ][ record ][ record ] ... [ zero padding to a block ]
//   record:        [ RecordHeader 8 B ][ payload ]            (records follow each other unpadded)
//
// A frame is what one group commit writes: every batch gathered since the last commit, written at
// once and flushed at once. Frames start on a block boundary and never share a block, so a block
// that holds confirmed records is never written again (a torn write can only hurt the frame being
// written, which nobody was told about yet). A batch never spans frames, a frame never spans
// segments: recovery sees a batch whole or not at all.
//
// Validity of a frame at offset o of segment s (checked in this order):
//   magic == frame_magic, segment_id == s (a recycled segment's stale frames fail here),
//   first_lsn == the next LSN expected, o + frame_bytes <= segment size, crc32c matches.
// The first invalid frame ends the log if no valid frame follows it anywhere; if one does, the
// log is corrupt there (file and offset are reported), never silently truncated. Except: a frame
// marked unflushed (written with sync=none) in the same segment as the break does not count, as
// a power loss may reorder unflushed writes (see frame_unflushed).
//
// Compacted segments (version 2). Compaction rewrites a run of sealed segments [a, b] as one file
// named after a that holds only the records its caller still needs, each with its original LSN:
//
//   compacted:     [ SegmentHeader (version 2), CompactedInfo, padded to one block ]
//                  [ frame ][ frame ] ... up to CompactedInfo::end_offset, nothing after
//
// Its frames are packed (each starts at the next multiple of 8 bytes, not of a block: the file is
// written whole, flushed, and only then renamed into place, so nothing in it is ever torn), their
// LSNs increase but may skip (dropped records), and they lie within [first_lsn, last_lsn] of the
// header. The segment after it is segment b + 1, starting at last_lsn + 1. Files of segments
// a+1..b left behind by a crash between the rename and their removal are superseded: recovery
// skips them. Every check failing inside a compacted segment is corruption.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corq::wal {

/// Log sequence number: every record gets the next one, starting at 1. 0 means "none".
using Lsn = std::uint64_t;

inline constexpr std::uint64_t segment_magic = 0x314C41575152'4F43ull;  // "COQRWAL1"-ish, LE
inline constexpr std::uint32_t frame_magic = 0x52465143u;               // "CQFR"
inline constexpr std::uint32_t format_version = 1;
inline constexpr std::uint32_t compacted_format_version = 2;
inline constexpr std::uint64_t compacted_magic = 0x5443504D4F435143ull;  // "CQCOMPCT"-ish, LE
/// Frames of a compacted segment start at multiples of this.
inline constexpr std::uint64_t compacted_frame_align = 8;

struct SegmentHeader {
  std::uint64_t magic;       // segment_magic
  std::uint32_t version;     // format_version
  std::uint32_t header_crc;  // crc32c of this struct with header_crc = 0
  std::uint64_t segment_id;  // also in the file name; increases by one per new segment
  std::uint64_t first_lsn;   // LSN of the first record this segment will hold
  std::int64_t created_ms;   // unix ms (informational)
};
static_assert(sizeof(SegmentHeader) == 40);

/// Follows the SegmentHeader of a compacted segment (version 2), in block 0.
struct CompactedInfo {
  std::uint64_t magic;            // compacted_magic
  std::uint64_t last_segment_id;  // the segment ids it replaced: [segment_id, last_segment_id]
  Lsn last_lsn;                   // the LSNs it covers: [first_lsn, last_lsn]
  std::uint64_t end_offset;       // its frames end here (the file may be longer: zeros)
  std::uint32_t crc;              // crc32c of this struct with crc = 0
  std::uint32_t reserved;         // 0
};
static_assert(sizeof(CompactedInfo) == 40);

struct FrameHeader {
  std::uint32_t magic;        // frame_magic
  std::uint32_t crc;          // crc32c of bytes [8, frame_bytes) of the frame
  std::uint32_t frame_bytes;  // header + records, without the padding
  /// Low 31 bits: the record count (>= 1; a frame of at most 4 GiB holds fewer than 2^29 records).
  /// Bit 31 (frame_unflushed): written without a flush (sync=none). Use frame_record_count() and
  /// frame_is_unflushed(). Under the crc, like everything after it.
  std::uint32_t records;
  std::uint64_t segment_id;
  Lsn first_lsn;  // LSN of the first record; the others follow consecutively
};
static_assert(sizeof(FrameHeader) == 32);

/// FrameHeader::records bit 31. The frame was written (sync=none) while an earlier frame of its
/// segment was not flushed yet, so a power loss may keep it and lose that one: it is no evidence
/// that the log went on past a break before it in its segment (the scanner ends the log at the
/// break, point-in-time). The first frame after a flush is not marked: everything before it is on
/// the disk, so it is evidence like any sync=always frame. A segment is flushed before the next
/// one is started, so a marked frame or a header in a *later* segment still is evidence.
inline constexpr std::uint32_t frame_unflushed = 1u << 31;

inline constexpr std::uint32_t frame_record_count(const FrameHeader &h) {
  return h.records & ~frame_unflushed;
}
inline constexpr bool frame_is_unflushed(const FrameHeader &h) {
  return (h.records & frame_unflushed) != 0;
}

struct RecordHeader {
  std::uint32_t payload_bytes;
  std::uint8_t type;  // the log's user (the engine) defines record types; the log never looks
  std::uint8_t reserved[3];
};
static_assert(sizeof(RecordHeader) == 8);

/// Bytes a frame of `record_bytes` (sum of RecordHeader + payload) occupies on disk.
constexpr std::uint64_t frame_disk_bytes(std::uint64_t record_bytes) {
  const std::uint64_t raw = sizeof(FrameHeader) + record_bytes;
  return (raw + 4095) / 4096 * 4096;
}

}  // namespace corq::wal
