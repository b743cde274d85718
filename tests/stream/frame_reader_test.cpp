// tests/stream/frame_reader_test.cpp — stream/frame_reader.hpp on real files: frames served from
// one large read, frames larger than the block, the end of a segment's frames, and a buffer kept
// from an earlier load whose tail the writer has written since — both the case where the frame
// was not there yet and the case where it was there half written (a torn image whose check fails
// until the file is read again).
#include "stream/frame_reader.hpp"
#include "support/temp_dir.hpp"

#include <record/crc32c.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <vector>

namespace corq::test {
namespace {

using core::stream::FrameReader;

constexpr std::uint64_t segment_id = 7;

/// A frame of `body_bytes` bytes of `fill` after the header, checksummed, as the log writes it.
std::vector<std::byte> make_frame(std::uint64_t first_lsn, std::size_t body_bytes,
                                  unsigned char fill) {
  std::vector<std::byte> frame(sizeof(wal::FrameHeader) + body_bytes, static_cast<std::byte>(fill));
  wal::FrameHeader h{};
  h.magic = wal::frame_magic;
  h.frame_bytes = static_cast<std::uint32_t>(frame.size());
  h.records = 1;
  h.segment_id = segment_id;
  h.first_lsn = first_lsn;
  std::memcpy(frame.data(), &h, sizeof h);
  const std::size_t crc_from = offsetof(wal::FrameHeader, frame_bytes);
  h.crc = wal::crc32c(0, frame.data() + crc_from, frame.size() - crc_from);
  std::memcpy(frame.data(), &h, sizeof h);
  return frame;
}

bool checks(const wal::FrameHeader &h, const std::byte *frame) {
  const std::size_t crc_from = offsetof(wal::FrameHeader, frame_bytes);
  return wal::crc32c(0, frame + crc_from, h.frame_bytes - crc_from) == h.crc;
}

/// Frames start on 4 KiB blocks: the offset after a frame written at `offset`.
std::uint64_t next_offset(std::uint64_t offset, std::size_t frame_bytes) {
  return offset + (frame_bytes + wal::block_bytes - 1) / wal::block_bytes * wal::block_bytes;
}

class FrameReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = tmp_.path() + "/segment.wal";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd_, 0);
    // Preallocated like a segment: zeros past whatever is written.
    ASSERT_EQ(::ftruncate(fd_, 8 << 20), 0);
    vfs_ = wal::make_psync_vfs();
  }
  void TearDown() override { ::close(fd_); }
  void write_at(std::uint64_t offset, const std::byte *data, std::size_t bytes) {
    ASSERT_EQ(::pwrite(fd_, data, bytes, static_cast<off_t>(offset)), static_cast<ssize_t>(bytes));
  }

  TempDir tmp_;
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<wal::Vfs> vfs_;
};

TEST_F(FrameReaderTest, frames_in_order_then_the_end_of_the_segments_frames) {
  std::uint64_t offset = wal::block_bytes;
  std::vector<std::uint64_t> offsets;
  for (int i = 0; i < 40; ++i) {
    const std::vector<std::byte> f = make_frame(100 + i, 5000 + i * 100, 'a' + i % 26);
    write_at(offset, f.data(), f.size());
    offsets.push_back(offset);
    offset = next_offset(offset, f.size());
  }
  FrameReader reader(*vfs_);
  ASSERT_EQ(reader.open(path_, segment_id), 0);
  for (int i = 0; i < 40; ++i) {
    wal::FrameHeader h{};
    const std::byte *frame = nullptr;
    ASSERT_EQ(reader.frame_at(offsets[i], h, frame), 1) << i;
    EXPECT_EQ(h.first_lsn, 100u + i);
    EXPECT_TRUE(checks(h, frame)) << i;
  }
  wal::FrameHeader h{};
  const std::byte *frame = nullptr;
  EXPECT_EQ(reader.frame_at(offset, h, frame), 0);  // zeros: no frame starts there
}

TEST_F(FrameReaderTest, a_frame_larger_than_the_block_is_read_whole) {
  const std::vector<std::byte> big = make_frame(1, 3 * FrameReader::block_bytes + 123, 'z');
  write_at(wal::block_bytes, big.data(), big.size());
  FrameReader reader(*vfs_);
  ASSERT_EQ(reader.open(path_, segment_id), 0);
  wal::FrameHeader h{};
  const std::byte *frame = nullptr;
  ASSERT_EQ(reader.frame_at(wal::block_bytes, h, frame), 1);
  EXPECT_EQ(h.frame_bytes, big.size());
  EXPECT_TRUE(checks(h, frame));
}

TEST_F(FrameReaderTest, a_kept_buffer_finds_frames_written_past_its_tail_since) {
  const std::vector<std::byte> a = make_frame(1, 2000, 'a');
  write_at(wal::block_bytes, a.data(), a.size());
  FrameReader reader(*vfs_);
  ASSERT_EQ(reader.open(path_, segment_id), 0);
  wal::FrameHeader h{};
  const std::byte *frame = nullptr;
  ASSERT_EQ(reader.frame_at(wal::block_bytes, h, frame), 1);
  const std::uint64_t b_at = next_offset(wal::block_bytes, a.size());
  ASSERT_EQ(reader.frame_at(b_at, h, frame), 0);  // not written yet (the buffer holds zeros)
  const std::vector<std::byte> b = make_frame(2, 3000, 'b');
  write_at(b_at, b.data(), b.size());
  reader.mark_tail_stale();  // a later load
  ASSERT_EQ(reader.frame_at(b_at, h, frame), 1);
  EXPECT_EQ(h.first_lsn, 2u);
  EXPECT_TRUE(checks(h, frame));
}

TEST_F(FrameReaderTest, a_frame_caught_half_written_in_a_kept_buffer_is_read_again) {
  const std::vector<std::byte> a = make_frame(1, 2000, 'a');
  write_at(wal::block_bytes, a.data(), a.size());
  const std::uint64_t b_at = next_offset(wal::block_bytes, a.size());
  const std::vector<std::byte> b = make_frame(2, 3 * wal::block_bytes, 'b');
  write_at(b_at, b.data(), wal::block_bytes);  // its first block only: being written
  FrameReader reader(*vfs_);
  ASSERT_EQ(reader.open(path_, segment_id), 0);
  wal::FrameHeader h{};
  const std::byte *frame = nullptr;
  ASSERT_EQ(reader.frame_at(wal::block_bytes, h, frame), 1);  // fills past b's first block
  write_at(b_at, b.data(), b.size());                         // b is complete now
  reader.mark_tail_stale();
  ASSERT_EQ(reader.frame_at(b_at, h, frame), 1);
  EXPECT_FALSE(checks(h, frame));  // the buffer's image of b: torn
  ASSERT_TRUE(reader.reread_if_stale(b_at));
  ASSERT_EQ(reader.frame_at(b_at, h, frame), 1);
  EXPECT_TRUE(checks(h, frame));
  // Fresh now: a frame that fails its check again is the file's fault, not the buffer's.
  EXPECT_FALSE(reader.reread_if_stale(b_at));
}

}  // namespace
}  // namespace corq::test
