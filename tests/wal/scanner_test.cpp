// Tests of the log scanner: segment files written byte by byte (SegmentImage builds headers,
// frames and records with their checksums) into a SimVfs — and once into a real directory through
// the psync Vfs — then read back. Covers the valid cases (records in LSN order with their exact
// payloads, frames reported, several segments, where the tail is), the ends that are not
// corruption (torn frame, zero block, stale frames of recycled files, torn header of a new
// segment) and those that are (a bad frame, header, id gap or LSN gap before valid data).
#include "log/scanner.hpp"
#include "io/sim_vfs.hpp"
#include "record/crc32c.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace corq::wal;

constexpr const char *log_dir = "/log";
constexpr std::size_t small_segment_bytes = std::size_t{64} << 10;

std::string path_of(std::uint64_t id) { return std::string(log_dir) + "/" + segment_file_name(id); }

/// The bytes of a frame (unpadded): header with its crc, then the records.
std::vector<std::byte> frame_bytes_of(std::uint64_t segment_id, Lsn first_lsn,
                                      const std::vector<std::string> &payloads,
                                      std::uint8_t type = 7) {
  std::vector<std::byte> frame(sizeof(FrameHeader));
  for (const std::string &payload : payloads) {
    RecordHeader record{};
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    record.type = type;
    const auto *r = reinterpret_cast<const std::byte *>(&record);
    frame.insert(frame.end(), r, r + sizeof(record));
    const auto *p = reinterpret_cast<const std::byte *>(payload.data());
    frame.insert(frame.end(), p, p + payload.size());
  }
  FrameHeader header{};
  header.magic = frame_magic;
  header.frame_bytes = static_cast<std::uint32_t>(frame.size());
  header.records = static_cast<std::uint32_t>(payloads.size());
  header.segment_id = segment_id;
  header.first_lsn = first_lsn;
  std::memcpy(frame.data(), &header, sizeof(header));
  header.crc = crc32c(0, frame.data() + 8, frame.size() - 8);
  std::memcpy(frame.data(), &header, sizeof(header));
  return frame;
}

/// A segment file under construction: the header in block 0, frames from block 1 on.
class SegmentImage {
 public:
  SegmentImage(std::uint64_t id, Lsn first_lsn, std::size_t bytes = small_segment_bytes)
      : id_(id), bytes_(bytes) {
    SegmentHeader header{segment_magic, format_version, 0, id, first_lsn, 1700000000000};
    header.header_crc = crc32c(0, &header, sizeof(header));
    std::memcpy(bytes_.data(), &header, sizeof(header));
  }

  /// Appends a frame at the next block boundary; returns its offset.
  std::uint64_t add(Lsn first_lsn, const std::vector<std::string> &payloads,
                    std::uint8_t type = 7) {
    return put(next_, frame_bytes_of(id_, first_lsn, payloads, type));
  }
  /// Places frame bytes at `offset` (block-aligned); the next add() goes after them.
  std::uint64_t put(std::uint64_t offset, const std::vector<std::byte> &frame) {
    EXPECT_LE(offset + frame.size(), bytes_.size());
    std::memcpy(bytes_.data() + offset, frame.data(), frame.size());
    next_ = (offset + frame.size() + block_bytes - 1) / block_bytes * block_bytes;
    return offset;
  }
  std::uint64_t next() const { return next_; }
  std::vector<std::byte> &bytes() { return bytes_; }
  /// Rewrites the header's format version, with a header CRC that matches it.
  void set_version(std::uint32_t version) {
    SegmentHeader header;
    std::memcpy(&header, bytes_.data(), sizeof(header));
    header.version = version;
    header.header_crc = 0;
    header.header_crc = crc32c(0, &header, sizeof(header));
    std::memcpy(bytes_.data(), &header, sizeof(header));
  }

 private:
  std::uint64_t id_;
  std::vector<std::byte> bytes_;
  std::uint64_t next_ = block_bytes;
};

int write_file(Vfs &vfs, const std::string &path, const std::vector<std::byte> &bytes) {
  std::unique_ptr<VfsFile> file;
  OpenFlags flags;
  flags.create = true;
  if (int rc = vfs.open(path, flags, file); rc != 0) return rc;
  iovec buffer{const_cast<std::byte *>(bytes.data()), bytes.size()};
  return file->write(0, &buffer, 1, true);
}

/// What a scan handed over.
struct Scanned {
  int rc = 0;
  ScanResult result;
  std::vector<RecoveredRecord> records;  // payload views replaced by `payloads`
  std::vector<std::string> payloads;
  std::vector<FrameInfo> frames;
};

Scanned scan(Vfs &vfs, const std::string &dir = log_dir) {
  Scanned s;
  ScanVisitor visitor;
  visitor.record = [&s](const RecoveredRecord &r) {
    s.records.push_back({r.lsn, r.type, {}});
    s.payloads.emplace_back(reinterpret_cast<const char *>(r.payload.data()), r.payload.size());
    return 0;
  };
  visitor.frame = [&s](const FrameInfo &f) { s.frames.push_back(f); };
  s.rc = scan_log(vfs, dir, visitor, s.result);
  return s;
}

class ScannerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(vfs_.make_dir(log_dir), 0); }
  void write(std::uint64_t id, SegmentImage &image) {
    ASSERT_EQ(write_file(vfs_, path_of(id), image.bytes()), 0);
  }
  /// Segment 1 with frames of 1, 2 and 3 records (LSNs 1..6) at blocks 1, 2, 3.
  SegmentImage three_frames() {
    SegmentImage s(1, 1);
    s.add(1, {"a"});
    s.add(2, {"b", "c"});
    s.add(4, {"d", "e", "f"});
    return s;
  }
  /// Scans the log and expects it refused as corrupt (-EBADMSG) with an error that mentions `what`.
  void expect_corrupt_mentioning(const std::string &what) {
    const Scanned scanned = scan(vfs_);
    ASSERT_EQ(scanned.rc, -EBADMSG);
    EXPECT_NE(scanned.result.error.find(what), std::string::npos) << scanned.result.error;
  }
  /// Writes `image` (three_frames() and a last frame at `last`) as segment 1 and scans it: the
  /// three frames are kept (LSNs 1..6) and the last one is cut off as a torn tail.
  void expect_last_frame_cut_off(SegmentImage &image, std::uint64_t last) {
    write(1, image);
    const Scanned scanned = scan(vfs_);
    ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
    EXPECT_EQ(scanned.result.last_lsn, 6u);
    EXPECT_TRUE(scanned.result.torn_tail);
    EXPECT_EQ(scanned.result.tail_offset, last);
  }
  SimVfs vfs_{3};
};

// ---- names --------------------------------------------------------------------------------------

TEST(SegmentFileName, formats_twenty_digits_and_parses_back) {
  EXPECT_EQ(segment_file_name(42), "00000000000000000042.wal");
  for (std::uint64_t id : {std::uint64_t{1}, std::uint64_t{42}, std::uint64_t{1} << 40,
                           std::numeric_limits<std::uint64_t>::max()}) {
    std::uint64_t parsed = 0;
    ASSERT_TRUE(parse_segment_file_name(segment_file_name(id), parsed)) << id;
    EXPECT_EQ(parsed, id);
  }
}

TEST(SegmentFileName, rejects_other_names) {
  std::uint64_t id = 99;
  for (const char *name :
       {"LOCK", "spare-1", "42.wal", "00000000000000000042.wal.tmp", "00000000000000000042.WAL",
        "0000000000000000042a.wal", "000000000000000000042.wal", "00000000000000000000.wal",
        "99999999999999999999.wal", "18446744073709551616.wal", ""}) {
    EXPECT_FALSE(parse_segment_file_name(name, id)) << name;
  }
  EXPECT_EQ(id, 99u);  // untouched on failure
}

// ---- valid logs ---------------------------------------------------------------------------------

TEST_F(ScannerTest, empty_directory_is_an_empty_log) {
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_TRUE(s.result.segments.empty());
  EXPECT_EQ(s.result.last_lsn, 0u);
  EXPECT_EQ(s.result.tail_segment_id, 0u);
  EXPECT_EQ(s.result.tail_offset, 0u);
  EXPECT_FALSE(s.result.torn_tail);
  EXPECT_TRUE(s.records.empty());
}

TEST_F(ScannerTest, missing_directory_is_enoent) {
  ScanResult result;
  EXPECT_EQ(scan_log(vfs_, "/nowhere", {}, result), -ENOENT);
}

TEST_F(ScannerTest, other_files_in_the_directory_are_ignored) {
  std::vector<std::byte> junk(5000, std::byte{0x5A});
  ASSERT_EQ(write_file(vfs_, "/log/LOCK", std::vector<std::byte>(1)), 0);
  ASSERT_EQ(write_file(vfs_, "/log/spare-3", junk), 0);
  ASSERT_EQ(write_file(vfs_, "/log/12.wal", junk), 0);
  ASSERT_EQ(write_file(vfs_, "/log/00000000000000000000.wal", junk), 0);
  SegmentImage s = three_frames();
  write(1, s);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
  EXPECT_EQ(scanned.result.last_lsn, 6u);
  ASSERT_EQ(scanned.result.segments.size(), 1u);
}

TEST_F(ScannerTest, one_segment_gives_records_in_lsn_order_with_exact_payloads) {
  SegmentImage s(1, 1);
  const std::string big(10000, 'x');  // spans three blocks
  std::string binary("\0\xff\x01z", 4);
  s.add(1, {"first"}, 3);
  s.add(2, {"", big, binary}, 9);
  s.add(5, {"last"}, 255);
  write(1, s);

  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
  ASSERT_EQ(scanned.records.size(), 5u);
  const std::vector<std::string> payloads{"first", "", big, binary, "last"};
  const std::vector<std::uint8_t> types{3, 9, 9, 9, 255};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(scanned.records[i].lsn, i + 1);
    EXPECT_EQ(scanned.records[i].type, types[i]);
    EXPECT_EQ(scanned.payloads[i], payloads[i]) << "record " << i;
  }
  ASSERT_EQ(scanned.frames.size(), 3u);
  EXPECT_EQ(scanned.frames[0].segment_id, 1u);
  EXPECT_EQ(scanned.frames[0].offset, 4096u);
  EXPECT_EQ(scanned.frames[0].record_count, 1u);
  EXPECT_EQ(scanned.frames[0].first_lsn, 1u);
  EXPECT_EQ(scanned.frames[0].frame_bytes, sizeof(FrameHeader) + 8 + 5);
  EXPECT_EQ(scanned.frames[1].offset, 8192u);
  EXPECT_EQ(scanned.frames[1].record_count, 3u);
  EXPECT_EQ(scanned.frames[1].first_lsn, 2u);
  EXPECT_EQ(scanned.frames[2].offset, 8192u + 3 * 4096);  // after the 3-block frame
  EXPECT_EQ(scanned.frames[2].first_lsn, 5u);

  const ScanResult &r = scanned.result;
  EXPECT_EQ(r.last_lsn, 5u);
  EXPECT_EQ(r.tail_segment_id, 1u);
  EXPECT_EQ(r.tail_offset, s.next());
  EXPECT_FALSE(r.torn_tail);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].id, 1u);
  EXPECT_EQ(r.segments[0].first_lsn, 1u);
  EXPECT_EQ(r.segments[0].last_lsn, 5u);
  EXPECT_EQ(r.segments[0].bytes, s.next() - block_bytes);
}

TEST_F(ScannerTest, several_segments_continue_each_other) {
  SegmentImage one(1, 1), two(2, 4), three(3, 6);
  one.add(1, {"1", "2"});
  one.add(3, {"3"});
  two.add(4, {"4", "5"});
  three.add(6, {"6"});
  three.add(7, {"7"});
  write(1, one);
  write(2, two);
  write(3, three);

  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  ASSERT_EQ(s.records.size(), 7u);
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(s.records[i].lsn, i + 1);
    EXPECT_EQ(s.payloads[i], std::to_string(i + 1));
  }
  ASSERT_EQ(s.result.segments.size(), 3u);
  EXPECT_EQ(s.result.segments[1].id, 2u);
  EXPECT_EQ(s.result.segments[1].first_lsn, 4u);
  EXPECT_EQ(s.result.segments[1].last_lsn, 5u);
  EXPECT_EQ(s.result.segments[1].bytes, block_bytes);
  EXPECT_EQ(s.result.last_lsn, 7u);
  EXPECT_EQ(s.result.tail_segment_id, 3u);
  EXPECT_EQ(s.result.tail_offset, 3 * block_bytes);
  EXPECT_EQ(s.frames.size(), 5u);
}

TEST_F(ScannerTest, released_older_segments_leave_a_log_starting_past_lsn_1) {
  SegmentImage seven(7, 100);
  seven.add(100, {"a", "b"});
  write(7, seven);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].lsn, 100u);
  EXPECT_EQ(s.result.last_lsn, 101u);
  EXPECT_EQ(s.result.tail_segment_id, 7u);
}

TEST_F(ScannerTest, started_tail_segment_without_frames_gives_its_first_lsn_minus_one) {
  // A crash after rolling over: segment 2's header is durable, no frame yet.
  SegmentImage one(1, 1), two(2, 4);
  one.add(1, {"1", "2", "3"});
  write(1, one);
  write(2, two);
  Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.last_lsn, 3u);
  EXPECT_EQ(s.result.tail_segment_id, 2u);
  EXPECT_EQ(s.result.tail_offset, block_bytes);
  ASSERT_EQ(s.result.segments.size(), 2u);
  EXPECT_EQ(s.result.segments[1].first_lsn, 0u);
  EXPECT_EQ(s.result.segments[1].bytes, 0u);

  // The same with every older segment released: the LSNs still continue.
  ASSERT_EQ(vfs_.remove(path_of(1)), 0);
  s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.last_lsn, 3u);
  EXPECT_EQ(s.result.tail_segment_id, 2u);
}

TEST_F(ScannerTest, frames_filling_the_segment_put_the_tail_at_its_end) {
  SegmentImage one(1, 1, 4 * block_bytes);  // header + three blocks
  one.add(1, {std::string(3000, 'a')});
  one.add(2, {std::string(4000, 'b')});
  one.add(3, {"c"});
  ASSERT_EQ(one.next(), 4 * block_bytes);
  write(1, one);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.last_lsn, 3u);
  EXPECT_EQ(s.result.tail_segment_id, 1u);
  EXPECT_EQ(s.result.tail_offset, 4 * block_bytes);  // == size: the writer rolls over
  EXPECT_FALSE(s.result.torn_tail);
}

TEST_F(ScannerTest, frames_and_records_larger_than_the_read_window) {
  // A 20 MiB segment: a frame of 17 MiB (checksummed in pieces) whose middle record is 3 MiB,
  // then a 2 MiB frame of 4 KiB records (read whole), then a small one.
  SegmentImage one(1, 1, 20u << 20);
  std::vector<std::string> huge{"head", std::string(3u << 20, 'h'), std::string(14u << 20, 't')};
  std::vector<std::string> many(500, std::string(4000, 'm'));
  one.add(1, huge);
  one.add(4, many);
  one.add(504, {"end"});
  write(1, one);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  ASSERT_EQ(s.records.size(), 504u);
  EXPECT_EQ(s.payloads[1], huge[1]);
  EXPECT_EQ(s.payloads[2], huge[2]);
  EXPECT_EQ(s.payloads[250], many[0]);
  EXPECT_EQ(s.payloads[503], "end");
  EXPECT_EQ(s.result.last_lsn, 504u);
}

TEST_F(ScannerTest, the_scan_only_reads) {
  SegmentImage s = three_frames();
  write(1, s);
  const SimCounters before = vfs_.counters();
  ASSERT_EQ(scan(vfs_).rc, 0);
  const SimCounters after = vfs_.counters();
  EXPECT_EQ(after.writes, before.writes);
  EXPECT_EQ(after.flushes, before.flushes);
  EXPECT_EQ(after.allocates, before.allocates);
  EXPECT_EQ(after.renames + after.removes + after.make_dirs + after.sync_dirs,
            before.renames + before.removes + before.make_dirs + before.sync_dirs);
  EXPECT_GT(after.reads, before.reads);
}

/// A Vfs that passes everything to another and remembers the largest read asked for.
class ReadSizeVfs final : public Vfs {
 public:
  explicit ReadSizeVfs(Vfs &inner) : inner_(inner) {}
  std::size_t largest_read = 0;

  const char *name() const override { return inner_.name(); }
  int open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) override {
    std::unique_ptr<VfsFile> file;
    if (int rc = inner_.open(path, flags, file); rc != 0) return rc;
    out = std::make_unique<File>(std::move(file), largest_read);
    return 0;
  }
  int list(const std::string &dir, std::vector<std::string> &names) override {
    return inner_.list(dir, names);
  }
  int remove(const std::string &path) override { return inner_.remove(path); }
  int rename(const std::string &from, const std::string &to) override {
    return inner_.rename(from, to);
  }
  int make_dir(const std::string &path) override { return inner_.make_dir(path); }
  int sync_dir(const std::string &dir) override { return inner_.sync_dir(dir); }
  int lock(const std::string &path, std::unique_ptr<VfsFile> &out) override {
    return inner_.lock(path, out);
  }

 private:
  class File final : public VfsFile {
   public:
    File(std::unique_ptr<VfsFile> inner, std::size_t &largest)
        : inner_(std::move(inner)), largest_(largest) {}
    int write(std::uint64_t offset, const iovec *buffers, int count, bool flush) override {
      return inner_->write(offset, buffers, count, flush);
    }
    int flush() override { return inner_->flush(); }
    long read(std::uint64_t offset, void *buffer, std::size_t bytes) override {
      largest_ = std::max(largest_, bytes);
      return inner_->read(offset, buffer, bytes);
    }
    int allocate(std::uint64_t bytes) override { return inner_->allocate(bytes); }
    long long size() override { return inner_->size(); }
    bool direct() const override { return inner_->direct(); }

   private:
    std::unique_ptr<VfsFile> inner_;
    std::size_t &largest_;
  };
  Vfs &inner_;
};

TEST_F(ScannerTest, reads_are_bounded_even_over_a_big_segment) {
  // A 32 MiB segment of small frames with a torn frame in the middle: the scan reads the whole
  // file (frames, then the look-ahead to its end), but never more than 1 MiB at once.
  SegmentImage one(1, 1, 32u << 20);
  Lsn lsn = 1;
  for (int i = 0; i < 2000; ++i, ++lsn) one.add(lsn, {std::string(100 + i, 'p')});
  const std::uint64_t torn = one.add(lsn, {"torn"});
  one.bytes()[torn + 40] ^= std::byte{1};
  write(1, one);
  ReadSizeVfs counting(vfs_);
  const Scanned s = scan(counting);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.records.size(), 2000u);
  EXPECT_TRUE(s.result.torn_tail);
  EXPECT_LE(counting.largest_read, std::size_t{1} << 20);
  EXPECT_GT(counting.largest_read, 0u);
}

TEST_F(ScannerTest, works_through_the_psync_vfs_on_a_real_directory) {
  char pattern[] = "/tmp/corq-scanner-test-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  std::unique_ptr<Vfs> psync = make_psync_vfs();
  SegmentImage one = three_frames();
  SegmentImage two(2, 7);
  two.add(7, {"g"});
  ASSERT_EQ(write_file(*psync, dir + "/" + segment_file_name(1), one.bytes()), 0);
  ASSERT_EQ(write_file(*psync, dir + "/" + segment_file_name(2), two.bytes()), 0);
  const Scanned s = scan(*psync, dir);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  ASSERT_EQ(s.records.size(), 7u);
  EXPECT_EQ(s.payloads[6], "g");
  EXPECT_EQ(s.result.tail_segment_id, 2u);
  EXPECT_EQ(s.result.tail_offset, 2 * block_bytes);
}

// ---- ends that are not corruption ---------------------------------------------------------------

TEST_F(ScannerTest, torn_last_frame_with_a_bad_crc_is_cut_off) {
  SegmentImage s = three_frames();
  const std::uint64_t last = s.add(7, {"torn", "batch"});
  s.bytes()[last + sizeof(FrameHeader) + 10] ^= std::byte{0x40};
  write(1, s);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
  EXPECT_EQ(scanned.records.size(), 6u);  // the torn batch is not seen at all
  EXPECT_EQ(scanned.result.last_lsn, 6u);
  EXPECT_TRUE(scanned.result.torn_tail);
  EXPECT_EQ(scanned.result.tail_segment_id, 1u);
  EXPECT_EQ(scanned.result.tail_offset, last);
  EXPECT_EQ(scanned.result.segments[0].bytes, last - block_bytes);
}

TEST_F(ScannerTest, half_written_last_frame_is_cut_off) {
  // A 3-block frame of which only the first block (with the header) reached the disk.
  SegmentImage s = three_frames();
  const std::uint64_t last = s.add(7, {std::string(10000, 'q')});
  std::fill(s.bytes().begin() + static_cast<long>(last + block_bytes),
            s.bytes().begin() + static_cast<long>(last + 3 * block_bytes), std::byte{0});
  expect_last_frame_cut_off(s, last);
}

TEST_F(ScannerTest, frame_cut_at_the_end_of_the_file_is_cut_off) {
  // The file ends inside the last frame (frame_bytes points past the end).
  SegmentImage s = three_frames();
  const std::uint64_t last = s.add(7, {std::string(6000, 'q')});
  s.bytes().resize(last + block_bytes);
  expect_last_frame_cut_off(s, last);
}

TEST_F(ScannerTest, zero_block_ends_the_log_cleanly) {
  SegmentImage s = three_frames();
  write(1, s);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
  EXPECT_FALSE(scanned.result.torn_tail);
  EXPECT_EQ(scanned.result.tail_offset, 4 * block_bytes);
}

/// A frame of `payloads` whose header claims `record_count` records, checksummed all the same.
std::vector<std::byte> frame_claiming(std::uint32_t record_count,
                                      const std::vector<std::string> &payloads) {
  std::vector<std::byte> frame = frame_bytes_of(1, 7, payloads);
  FrameHeader header;
  std::memcpy(&header, frame.data(), sizeof(header));
  header.records = record_count;
  std::memcpy(frame.data(), &header, sizeof(header));
  header.crc = crc32c(0, frame.data() + 8, frame.size() - 8);
  std::memcpy(frame.data(), &header, sizeof(header));
  return frame;
}

TEST_F(ScannerTest, whole_frame_whose_records_do_not_fill_it_exactly_is_corruption) {
  // Its crc matches, so it is no torn write: it was written whole by a writer that broke the
  // format, and may hold confirmed records. Even at the very end that is corruption, not a tail.
  struct Case {
    std::uint32_t record_count;
    std::vector<std::string> payloads;
    const char *why;
  };
  const Case cases[] = {
      {1, {"x", "y"}, "9 bytes after the last of 1 records"},  // fewer than there are
      {3, {"a long payload", "y"}, "record 2 of 3 starts past the frame's end"},   // more
      {2, {"x", std::string(30, 'z')}, "record 1 of 30 bytes overruns the frame"}  // cut below
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.why);
    SegmentImage s = three_frames();
    std::vector<std::byte> frame = frame_claiming(c.record_count, c.payloads);
    if (c.record_count == 2) {  // cut the last record short, keeping the header's crc right
      frame.resize(frame.size() - 10);
      FrameHeader header;
      std::memcpy(&header, frame.data(), sizeof(header));
      header.frame_bytes = static_cast<std::uint32_t>(frame.size());
      std::memcpy(frame.data(), &header, sizeof(header));
      header.crc = crc32c(0, frame.data() + 8, frame.size() - 8);
      std::memcpy(frame.data(), &header, sizeof(header));
    }
    const std::uint64_t bad = s.put(s.next(), frame);
    write(1, s);
    const Scanned scanned = scan(vfs_);
    ASSERT_EQ(scanned.rc, -EBADMSG);
    EXPECT_EQ(scanned.result.error, segment_file_name(1) + ": corrupt frame at offset " +
                                        std::to_string(bad) + " (" + c.why + ")");
    EXPECT_EQ(scanned.records.size(), 6u);  // none of the bad frame's records
  }
}

TEST_F(ScannerTest, stale_frames_of_a_recycled_file_end_the_log) {
  // Segment 3 reuses the file of segment 1: behind its two new frames lie segment 1's old
  // frames, intact, with higher block offsets and (to make it harder) LSNs past the end.
  SegmentImage two(2, 1), three(3, 3);
  two.add(1, {"1", "2"});
  three.add(3, {"3"});
  three.add(4, {"4"});
  three.put(three.next(), frame_bytes_of(1, 5, {"stale"}));
  three.put(three.next(), frame_bytes_of(1, 6, {"stale"}));
  write(2, two);
  write(3, three);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.last_lsn, 4u);
  EXPECT_FALSE(s.result.torn_tail);
  EXPECT_EQ(s.result.tail_segment_id, 3u);
  EXPECT_EQ(s.result.tail_offset, 3 * block_bytes);
}

TEST_F(ScannerTest, valid_frame_past_the_end_with_only_records_already_read_is_no_evidence) {
  // Past a zero block, an intact frame of this segment holding LSNs 2..3 (which the log has):
  // nothing would be lost by ending here, so it is the end, not corruption. One holding LSN 7
  // (which the log lacks) is corruption.
  SegmentImage s = three_frames();
  const std::uint64_t copy = s.put(s.next() + block_bytes, frame_bytes_of(1, 2, {"b", "c"}));
  write(1, s);
  Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, 0) << scanned.result.error;
  EXPECT_EQ(scanned.result.last_lsn, 6u);
  EXPECT_EQ(scanned.result.tail_offset, 4 * block_bytes);

  s.put(copy + block_bytes, frame_bytes_of(1, 7, {"g"}));
  write(1, s);
  scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_NE(scanned.result.error.find("LSNs 7..7 at offset " + std::to_string(copy + block_bytes)),
            std::string::npos)
      << scanned.result.error;
}

TEST_F(ScannerTest, recycled_files_after_the_tail_are_unused_segments) {
  // Files 2 and 3 were renamed from old segments (intact headers of segments 8 and 9 inside, with
  // their frames), file 4 is preallocated zeros: all hold nothing of the log.
  SegmentImage one = three_frames();
  SegmentImage old_a(8, 500), old_b(9, 600);
  old_a.add(500, {"old"});
  old_b.add(600, {"old"});
  write(1, one);
  write(2, old_a);
  write(3, old_b);
  ASSERT_EQ(write_file(vfs_, path_of(4), std::vector<std::byte>(small_segment_bytes)), 0);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.last_lsn, 6u);
  EXPECT_EQ(s.result.tail_segment_id, 1u);
  EXPECT_FALSE(s.result.torn_tail);
  ASSERT_EQ(s.result.segments.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(s.result.segments[i].id, i + 1);
    EXPECT_EQ(s.result.segments[i].first_lsn, 0u);
    EXPECT_EQ(s.result.segments[i].last_lsn, 0u);
    EXPECT_EQ(s.result.segments[i].bytes, 0u);
  }
}

TEST_F(ScannerTest, torn_header_of_the_newest_empty_segment_is_a_torn_tail) {
  // A crash while segment 2's header was being written: the tail stays in segment 1.
  SegmentImage one = three_frames();
  SegmentImage two(2, 7);
  two.bytes()[20] ^= std::byte{0x10};  // inside the header: its crc no longer matches
  write(1, one);
  write(2, two);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_TRUE(s.result.torn_tail);
  EXPECT_EQ(s.result.last_lsn, 6u);
  EXPECT_EQ(s.result.tail_segment_id, 1u);
  EXPECT_EQ(s.result.tail_offset, 4 * block_bytes);
  ASSERT_EQ(s.result.segments.size(), 2u);
  EXPECT_EQ(s.result.segments[1].id, 2u);
}

TEST_F(ScannerTest, torn_header_of_the_only_segment_is_an_empty_log) {
  // A crash while the very first segment was being created: nothing was ever logged.
  SegmentImage one(1, 1);
  one.bytes()[3] ^= std::byte{0xFF};
  write(1, one);
  Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_TRUE(s.result.torn_tail);
  EXPECT_EQ(s.result.last_lsn, 0u);
  EXPECT_EQ(s.result.tail_segment_id, 0u);  // no segment started: the writer creates segment 1

  // An empty file (created, nothing written yet) is the same, without the tear.
  ASSERT_EQ(vfs_.remove(path_of(1)), 0);
  std::unique_ptr<VfsFile> file;
  OpenFlags create;
  create.create = true;
  ASSERT_EQ(vfs_.open(path_of(1), create, file), 0);
  s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_FALSE(s.result.torn_tail);
  EXPECT_EQ(s.result.tail_segment_id, 0u);
}

TEST_F(ScannerTest, not_started_header_after_the_tail_is_unused) {
  SegmentImage one = three_frames();
  SegmentImage two(2, 0);  // first_lsn 0: preallocated, never started
  write(1, one);
  write(2, two);
  const Scanned s = scan(vfs_);
  ASSERT_EQ(s.rc, 0) << s.result.error;
  EXPECT_EQ(s.result.tail_segment_id, 1u);
  EXPECT_FALSE(s.result.torn_tail);
}

// ---- corruption ---------------------------------------------------------------------------------

TEST_F(ScannerTest, bit_flip_in_a_middle_frame_followed_by_valid_frames_is_corruption) {
  SegmentImage s = three_frames();
  write(1, s);
  ASSERT_EQ(vfs_.flip_bit(path_of(1), 2 * block_bytes + sizeof(FrameHeader) + 9, 2), 0);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(
      scanned.result.error.rfind(segment_file_name(1) + ": corrupt frame at offset 8192 (", 0), 0u)
      << scanned.result.error;
  EXPECT_NE(scanned.result.error.find("crc mismatch"), std::string::npos) << scanned.result.error;
  EXPECT_NE(scanned.result.error.find("offset 12288"), std::string::npos) << scanned.result.error;
}

TEST_F(ScannerTest, zeroed_middle_frame_followed_by_valid_frames_is_corruption) {
  SegmentImage s = three_frames();
  std::fill(s.bytes().begin() + 2 * block_bytes, s.bytes().begin() + 3 * block_bytes, std::byte{0});
  write(1, s);
  expect_corrupt_mentioning("corrupt frame at offset 8192 (zero block");
}

TEST_F(ScannerTest, bit_flip_in_a_frame_header_field_is_corruption) {
  // segment_id, first_lsn, frame_bytes and record_count are under the crc; the magic is checked.
  for (const std::size_t field :
       {std::size_t{0}, std::size_t{9}, std::size_t{13}, std::size_t{17}, std::size_t{25}}) {
    SegmentImage s = three_frames();
    write(1, s);
    ASSERT_EQ(vfs_.flip_bit(path_of(1), block_bytes + field, 0), 0);
    const Scanned scanned = scan(vfs_);
    EXPECT_EQ(scanned.rc, -EBADMSG) << "byte " << field;
    EXPECT_NE(scanned.result.error.find("corrupt frame at offset 4096"), std::string::npos)
        << scanned.result.error;
    EXPECT_TRUE(scanned.records.empty()) << "byte " << field;
  }
}

TEST_F(ScannerTest, corrupt_last_frame_of_a_segment_before_the_next_segment_is_corruption) {
  SegmentImage one = three_frames();
  SegmentImage two(2, 7);
  two.add(7, {"g"});
  write(1, one);
  write(2, two);
  ASSERT_EQ(vfs_.flip_bit(path_of(1), 3 * block_bytes + 50, 5), 0);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(scanned.result.error.rfind(segment_file_name(1) + ": corrupt frame at offset 12288", 0),
            0u)
      << scanned.result.error;
  EXPECT_NE(scanned.result.error.find(segment_file_name(2)), std::string::npos)
      << scanned.result.error;
}

TEST_F(ScannerTest, gap_in_lsns_inside_a_segment_is_corruption) {
  SegmentImage s(1, 1);
  s.add(1, {"1"});
  s.add(2, {"2"});
  s.add(5, {"5"});  // 3 and 4 are missing
  write(1, s);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(scanned.result.error,
            segment_file_name(1) + ": corrupt frame at offset 12288 (first_lsn 5, expected 3)");
  EXPECT_EQ(scanned.records.size(), 2u);
}

TEST_F(ScannerTest, gap_in_lsns_between_segments_is_corruption) {
  SegmentImage one = three_frames(), two(2, 9);  // 7 and 8 are missing
  two.add(9, {"9"});
  write(1, one);
  write(2, two);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(scanned.result.error.rfind(segment_file_name(2) + ": corrupt segment header", 0), 0u)
      << scanned.result.error;
  EXPECT_EQ(
      scanned.result.error,
      segment_file_name(2) + ": corrupt segment header at offset 0 (first_lsn 9, expected 7)");
}

TEST_F(ScannerTest, gap_in_segment_ids_is_corruption) {
  SegmentImage one = three_frames(), three(3, 7);
  three.add(7, {"7"});
  write(1, one);
  write(3, three);
  expect_corrupt_mentioning(segment_file_name(3) + ": corrupt log: segment 2 is missing");
}

TEST_F(ScannerTest, bad_header_of_a_middle_segment_is_corruption) {
  SegmentImage one = three_frames(), two(2, 7), three(3, 8);
  two.add(7, {"7"});
  three.add(8, {"8"});
  write(1, one);
  write(2, two);
  write(3, three);
  ASSERT_EQ(vfs_.flip_bit(path_of(2), 17, 3), 0);  // segment_id in the header
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(
      scanned.result.error.rfind(
          segment_file_name(2) + ": corrupt segment header at offset 0 (header crc mismatch", 0),
      0u)
      << scanned.result.error;
}

TEST_F(ScannerTest, bad_header_of_the_last_segment_holding_frames_is_corruption) {
  // Unlike a torn header of a new segment, this one has valid frames behind it.
  SegmentImage one = three_frames(), two(2, 7);
  two.add(7, {"7"});
  write(1, one);
  write(2, two);
  ASSERT_EQ(vfs_.flip_bit(path_of(2), 30, 0), 0);
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_NE(scanned.result.error.find("corrupt segment header"), std::string::npos)
      << scanned.result.error;
  EXPECT_NE(scanned.result.error.find("LSNs 7..7 at offset 4096"), std::string::npos)
      << scanned.result.error;
}

TEST_F(ScannerTest, bad_header_of_the_first_segment_is_corruption) {
  SegmentImage one = three_frames();
  write(1, one);
  ASSERT_EQ(vfs_.flip_bit(path_of(1), 0, 0), 0);  // the magic
  const Scanned scanned = scan(vfs_);
  ASSERT_EQ(scanned.rc, -EBADMSG);
  EXPECT_EQ(
      scanned.result.error.rfind(
          segment_file_name(1) + ": corrupt segment header at offset 0 (bad segment magic", 0),
      0u)
      << scanned.result.error;
  EXPECT_TRUE(scanned.records.empty());
}

TEST_F(ScannerTest, header_of_a_later_segment_past_the_end_is_corruption) {
  // Segment 2's frames are gone (zeroed), but segment 3's header proves they existed.
  SegmentImage one = three_frames(), two(2, 7), three(3, 9);
  write(1, one);
  write(2, two);
  write(3, three);
  ASSERT_EQ(vfs_.remove(path_of(2)), 0);
  ASSERT_EQ(write_file(vfs_, path_of(2), std::vector<std::byte>(small_segment_bytes)), 0);
  expect_corrupt_mentioning("the header of " + segment_file_name(3) + " starts it at LSN 9");
}

TEST_F(ScannerTest, unsupported_format_version_is_refused) {
  SegmentImage one(1, 1);
  one.set_version(compacted_format_version + 1);
  write(1, one);
  expect_corrupt_mentioning("unsupported log format version 3");
}

TEST_F(ScannerTest, a_compacted_segment_header_without_its_info_is_corruption) {
  // Version 2 marks a compacted segment, written whole before it was renamed into place: its
  // info missing or damaged is never mistaken for a torn or unused file (which would end the log).
  SegmentImage one(1, 1);
  one.set_version(compacted_format_version);
  write(1, one);
  expect_corrupt_mentioning("corrupt compacted segment header");
}

// ---- visitor and errors -------------------------------------------------------------------------

TEST_F(ScannerTest, visitor_returning_non_zero_stops_the_scan_with_its_value) {
  SegmentImage s = three_frames();
  write(1, s);
  std::vector<Lsn> seen;
  ScanVisitor visitor;
  visitor.record = [&](const RecoveredRecord &r) {
    seen.push_back(r.lsn);
    return r.lsn == 3 ? 42 : 0;
  };
  ScanResult result;
  EXPECT_EQ(scan_log(vfs_, log_dir, visitor, result), 42);
  EXPECT_EQ(seen, (std::vector<Lsn>{1, 2, 3}));
  EXPECT_TRUE(result.error.empty()) << result.error;

  // A negative value is passed through as it is, too (not mistaken for an I/O error).
  visitor.record = [](const RecoveredRecord &) { return -EIO; };
  EXPECT_EQ(scan_log(vfs_, log_dir, visitor, result), -EIO);
  EXPECT_TRUE(result.error.empty()) << result.error;
}

TEST_F(ScannerTest, visitors_are_optional) {
  SegmentImage s = three_frames();
  write(1, s);
  ScanResult result;
  ASSERT_EQ(scan_log(vfs_, log_dir, {}, result), 0) << result.error;
  EXPECT_EQ(result.last_lsn, 6u);
}

TEST_F(ScannerTest, read_error_is_returned_with_the_file_named) {
  SegmentImage s = three_frames();
  write(1, s);
  vfs_.fail_read(1, -EIO);
  ScanResult result;
  EXPECT_EQ(scan_log(vfs_, log_dir, {}, result), -EIO);
  EXPECT_NE(result.error.find(segment_file_name(1)), std::string::npos) << result.error;
}

}  // namespace
