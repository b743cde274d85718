// wal/log/scanner.hpp — reads a log directory back: every segment, every frame, every record,
// checking every checksum. Used by recovery (Log::open) and by `corqctl verify` / `corqctl dump`.
#pragma once

#include "io/vfs.hpp"
#include "log/log.hpp"
#include "record/format.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace corq::wal {

/// "00000000000000000042.wal" for segment 42.
std::string segment_file_name(std::uint64_t segment_id);
/// Parses a segment file name; false for anything else (other files in the directory are ignored).
bool parse_segment_file_name(const std::string &name, std::uint64_t &segment_id);

/// A frame as the scanner met it (for `corqctl dump`).
struct FrameInfo {
  std::uint64_t segment_id;
  std::uint64_t offset;      // of the frame header in the segment file
  std::uint32_t frame_bytes;
  std::uint32_t record_count;
  Lsn first_lsn;
};

struct ScanResult {
  /// Segments holding valid frames, oldest first (also empty preallocated ones at the end).
  std::vector<SegmentInfo> segments;
  Lsn last_lsn = 0;                  // last valid record (0: empty log)
  std::uint64_t tail_segment_id = 0; // where the next frame goes: this segment ...
  std::uint64_t tail_offset = 0;     // ... at this offset (block-aligned); 0 ids: no segment yet
  bool torn_tail = false;            // an invalid frame at the very end was found (and cut off)
  std::string error;                 // for -EBADMSG: "<file>: corrupt frame at offset N (why)"
};

struct ScanVisitor {
  /// Every record of every valid frame, in LSN order. Non-zero stops the scan with that value.
  std::function<int(const RecoveredRecord &)> record;
  /// Every valid frame before its records (optional).
  std::function<void(const FrameInfo &)> frame;
};

/// Scans `dir`. Returns 0 (out filled), -EBADMSG for corruption before the tail (out.error names
/// file and offset), a visitor's non-zero value, or -errno for I/O errors. Never modifies anything.
int scan_log(Vfs &vfs, const std::string &dir, const ScanVisitor &visitor, ScanResult &out);

}  // namespace corq::wal
