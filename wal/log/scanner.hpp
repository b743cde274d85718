// wal/log/scanner.hpp — reads a log directory back: every segment, every frame, every record,
// checking every checksum. Used by recovery (Log::open) and by `corqctl verify` / `corqctl dump`.
//
// Where the log ends. Segment files are taken in id order while each one *continues* the log: its
// header is intact (magic, version, crc, the id of its file name), started (first_lsn != 0) and
// follows the previous segment (id + 1, first_lsn == the previous segment's last LSN + 1). In the
// last such segment — the tail segment — frames are read from block 1 until the first invalid one
// (format.hpp's checks, then: exactly record_count records fill frame_bytes). That is the end of
// the log, unless something valid lies beyond it: then it is corruption (-EBADMSG), never a
// silent truncation. "Something valid" is (a) a frame valid in itself (magic, its own file's
// segment id, in bounds, crc) at the end or any later block boundary of the tail segment or of
// any later file, holding a record with an LSN >= the next expected one (any LSN if no segment
// started the log), or (b) a later segment header, intact, that starts past the next expected
// LSN (records before it must have existed). So a frame with the right crc whose records do not
// fill it exactly is corruption even at the very end: it was written whole. A zero block, another
// segment's stale frame, a torn frame, a later file with a zero/torn/recycled header or a
// not-started one, are all just "after the end".
//
// What makes this sound — the writer's side of the contract (Log does all five):
//   1. A segment's header is written and flushed before any frame goes into the segment.
//   2. One frame in flight: a frame is written and flushed before the next one is written (a
//      crash can then only tear the last frame, which nobody was told about) — or the next one is
//      marked unflushed (sync=none, format.hpp). In the tail segment, marked frames past the end
//      are no evidence
//      (a power loss may keep a later unflushed write and lose an earlier one): the log ends at
//      the break, point-in-time, and ScanResult::unflushed_after_end lists them.
//   3. The writer continues exactly at tail_segment_id / tail_offset (overwriting a torn frame,
//      which holds nothing confirmed), or rolls over to segment tail_segment_id + 1. Files listed
//      after the tail segment hold nothing valid and may be reused or removed. Before writing, it
//      zeroes the first block of each frame in unflushed_after_end and flushes.
//   4. Segments are released oldest first (so a crash mid-release never leaves an id gap).
//   5. A segment is flushed before the next segment's header is written (also with sync=none).
// Compacted segments (format.hpp) continue the log like any segment, with their own rules: packed
// frames with increasing, possibly skipping LSNs, ending exactly at end_offset, anything else
// corruption; the next segment is last_segment_id + 1, starting at last_lsn + 1, and files of the
// ids in between are skipped as superseded. A compacted segment is never the tail: if the chain
// ends on one, the writer starts segment last_segment_id + 1 (tail_offset is then UINT64_MAX).
// Caveat: with sync=none, damage inside the tail segment's unflushed frames cannot be told from a
// power loss's lost write, so it ends the log there rather than being reported (sealed segments
// were flushed: damage there is still corruption).
// Also: bytes of a payload that happen to form a valid frame image (own segment id, crc) at a
// block boundary past the end, left over from a torn frame, would be taken as evidence.
//
// Memory: one read window of 1 MiB, grown only to hold a frame of up to 16 MiB (read whole) or a
// record larger than the window; bigger frames are checksummed piece by piece. Never a whole
// segment. The scanner only reads (files are opened read-only, without O_DIRECT).
#pragma once

#include "io/vfs.hpp"
#include "log/log.hpp"
#include "record/format.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace corq::wal {

/// "00000000000000000042.wal" for segment 42. Segment ids start at 1.
std::string segment_file_name(std::uint64_t segment_id);
/// Parses a segment file name (exactly 20 digits + ".wal", id >= 1, no overflow); false for
/// anything else (other files in the directory, e.g. LOCK or spares, are ignored).
bool parse_segment_file_name(const std::string &name, std::uint64_t &segment_id);

/// A frame as the scanner met it (for `corqctl dump`).
struct FrameInfo {
  std::uint64_t segment_id;
  std::uint64_t offset;  // of the frame header in the segment file
  std::uint32_t frame_bytes;
  std::uint32_t record_count;
  Lsn first_lsn;
  bool unflushed = false;  // marked frame_unflushed (sync=none; see format.hpp)
};

struct ScanResult {
  /// Segments holding valid frames, oldest first (also empty preallocated ones at the end).
  /// First the segments that continue the log, up to the tail segment (bytes = blocks taken by
  /// its valid frames, i.e. end offset - block_bytes; first/last_lsn 0 if it has no frame yet),
  /// then every later segment file, which holds nothing of the log: {id, 0, 0, 0}.
  std::vector<SegmentInfo> segments;
  /// Last valid record. If the tail segment has no frame yet, its header's first_lsn - 1 (older
  /// segments may have been released): the next append gets last_lsn + 1. 0: empty log.
  Lsn last_lsn = 0;
  /// Where the next frame goes: the tail segment (the last one continuing the log) ...
  std::uint64_t tail_segment_id = 0;
  /// ... at this offset: its first invalid block, >= block_bytes. It may be >= the segment's size
  /// when frames fill it: the writer then rolls over to tail_segment_id + 1. tail_segment_id 0
  /// (and offset 0): no segment was ever started — no segment file, or only files with a zero,
  /// torn, recycled or not-started header (e.g. a crash while creating the first segment); the
  /// writer creates segment 1 (reusing such a file), and the log starts at LSN 1.
  std::uint64_t tail_offset = 0;
  /// The end was cut through something half-written: a frame of the tail segment that fails its
  /// checks, or a torn header of the segment after it. (A zero block or a stale frame of another
  /// segment is a clean end.) Informational: the writer overwrites it either way.
  bool torn_tail = false;
  /// Offsets in the tail segment, past tail_offset, of frames valid in themselves and holding
  /// LSNs >= last_lsn + 1 that were no evidence because they are unflushed (sync=none: a power
  /// loss kept them and lost an earlier frame). They are not part of the log; the writer must
  /// make them invalid (and flush that) before it writes there, or a later scan could take one
  /// for the continuation of new frames that end right before it.
  std::vector<std::uint64_t> unflushed_after_end;
  /// Segment files a compacted segment before them replaced (left by a crash between the rename
  /// of the compacted file and their removal): they hold nothing the log needs.
  std::vector<std::string> superseded;
  /// For -EBADMSG: "<file>: corrupt frame at offset N (why; but <what valid data> follows)", or
  /// "<file>: corrupt segment header at offset 0 (...)", or "<file>: corrupt log: segment N is
  /// missing (...)"; also "<file>: unsupported log format version V ...". For -errno: the file.
  std::string error;
};

struct ScanVisitor {
  /// Every record of every valid frame, in LSN order. Non-zero stops the scan with that value.
  std::function<int(const RecoveredRecord &)> record;
  /// Every valid frame before its records (optional).
  std::function<void(const FrameInfo &)> frame;
};

/// Reads every record of the given segments of `dir` (normal or compacted; each must have a valid
/// header naming it), in order, to the visitor — for compaction. A normal segment is read up to
/// its first invalid frame (it is sealed: that is its end). `first_lsn_out` gets the header's
/// first_lsn of the first segment. -errno, -EBADMSG (error says where), or a visitor's value.
int read_segments(Vfs &vfs, const std::string &dir, const std::vector<std::uint64_t> &ids,
                  const ScanVisitor &visitor, Lsn &first_lsn_out, std::string &error);
/// The header's first_lsn of segment `id` of `dir` (a valid header naming it). -errno, -EBADMSG.
int read_segment_first_lsn(Vfs &vfs, const std::string &dir, std::uint64_t id, Lsn &first_lsn,
                           std::string &error);

/// Scans `dir`. Returns 0 (out filled), -EBADMSG for corruption before the tail (out.error names
/// file and offset), a visitor's non-zero value, or -errno for I/O errors (-ENOENT: no `dir`).
/// Never modifies anything. The visitor sees the records of the valid prefix as they are read:
/// corruption found after them (by the look-ahead) still returns -EBADMSG afterwards.
/// Thread-safety: none needed beyond the Vfs's; one call uses one file at a time.
int scan_log(Vfs &vfs, const std::string &dir, const ScanVisitor &visitor, ScanResult &out);

}  // namespace corq::wal
