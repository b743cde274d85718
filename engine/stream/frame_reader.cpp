// engine/stream/frame_reader.cpp — a segment's frames through one large read buffer.
#include "stream/frame_reader.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace corq::core::stream {

namespace {
constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;
}  // namespace

int FrameReader::open(const std::string &path, std::uint64_t id) {
  file_.reset();
  buffer_bytes_ = 0;
  checked_offset_ = ~std::uint64_t{0};
  stale_tail_ = false;
  wal::OpenFlags flags;
  flags.read_only = true;
  if (const int rc = vfs_.open(path, flags, file_); rc != 0) {
    file_.reset();
    return rc;
  }
  id_ = id;
  return 0;
}

int FrameReader::fill(std::uint64_t offset, std::size_t bytes) {
  // Reads start on a block and cover whole blocks.
  const std::uint64_t from = offset / wal::block_bytes * wal::block_bytes;
  const std::size_t want = std::max(
      block_bytes, (static_cast<std::size_t>(offset - from) + bytes + wal::block_bytes - 1) /
                       wal::block_bytes * wal::block_bytes);
  if (want > capacity_) {
    // Grown to the next power of two: a replay meets frames of growing sizes (a group commit of a
    // busy writer can be tens of MiB), and each new buffer costs a page fault per 4 KiB touched.
    std::size_t grown = block_bytes;
    while (grown < want) grown *= 2;
    // A buffer of 2 MiB or more is asked to be backed by huge pages (where transparent huge
    // pages are on for madvise): a 64 MiB buffer then costs 32 page faults instead of 16,384.
    const bool huge = grown >= huge_page_bytes;
    void *memory = std::aligned_alloc(huge ? huge_page_bytes : wal::block_bytes, grown);
    if (memory == nullptr) return -ENOMEM;
    if (huge) ::madvise(memory, grown, MADV_HUGEPAGE);  // advice only: failure changes nothing
    buffer_ =
        std::unique_ptr<std::byte, void (*)(void *)>(static_cast<std::byte *>(memory), &std::free);
    capacity_ = grown;
  }
  buffer_offset_ = from;
  buffer_bytes_ = 0;
  checked_offset_ = ~std::uint64_t{0};
  stale_tail_ = false;
  while (buffer_bytes_ < want) {
    const long got =
        file_->read(from + buffer_bytes_, buffer_.get() + buffer_bytes_, want - buffer_bytes_);
    if (got < 0) return static_cast<int>(got);
    if (got == 0) break;  // end of the file
    buffer_bytes_ += static_cast<std::size_t>(got);
  }
  return 0;
}

int FrameReader::frame_at(std::uint64_t offset, wal::FrameHeader &header, const std::byte *&frame) {
  if (file_ == nullptr) return -EBADF;
  const auto resident = [&](std::size_t bytes) {
    return offset >= buffer_offset_ && offset + bytes <= buffer_offset_ + buffer_bytes_;
  };
  const auto is_frame = [&] {
    std::memcpy(&header, buffer_.get() + (offset - buffer_offset_), sizeof header);
    return header.magic == wal::frame_magic && header.segment_id == id_ &&
           header.frame_bytes >= sizeof header;
  };
  if (!resident(sizeof header) || (stale_tail_ && !is_frame())) {
    if (const int rc = fill(offset, sizeof header); rc != 0) return rc;
    if (!resident(sizeof header)) return 0;  // past the end of the file
  }
  if (!is_frame()) return 0;
  if (!resident(header.frame_bytes)) {
    if (const int rc = fill(offset, header.frame_bytes); rc != 0) return rc;
    if (!resident(header.frame_bytes)) return 0;  // cut short by the end of the file: a torn tail
  }
  frame = buffer_.get() + (offset - buffer_offset_);
  return 1;
}

}  // namespace corq::core::stream
