// Tests of log compaction (Log::compact, format.hpp's compacted segments): kept records come back
// with their LSNs and dropped ones do not; later segments and appends continue the log; compacted
// segments merge; a crash between the rename and the removal of the originals, or right after a
// compaction that took every sealed segment, recovers; damage in a compacted segment is corruption.
#include "log/log.hpp"
#include "log/scanner.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace corq::wal;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/corq-compaction-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

/// Records are "<index>" padded to 200 bytes; the ones the test keeps have index % 50 == 0.
std::string payload_of(std::uint64_t index) {
  std::string text = std::to_string(index);
  text.resize(200, '.');
  return text;
}
std::uint64_t index_of(const RecoveredRecord &r) {
  return std::strtoull(reinterpret_cast<const char *>(r.payload.data()), nullptr, 10);
}
bool kept(const RecoveredRecord &r) { return index_of(r) % 50 == 0; }

class CompactionTest : public ::testing::Test {
 protected:
  LogOptions options() const {
    LogOptions o;
    o.dir = dir_.path() + "/log";
    o.backend = BackendChoice::psync;
    o.segment_bytes = 64 * 1024;
    return o;
  }
  /// Opens the log, collecting every recovered record (index by LSN).
  std::unique_ptr<Log> open_log(std::map<Lsn, std::uint64_t> &recovered, int expect_rc = 0) {
    std::unique_ptr<Log> log;
    std::string error;
    recovered.clear();
    const int rc = Log::open(
        options(),
        [&](const RecoveredRecord &r) {
          recovered[r.lsn] = index_of(r);
          return 0;
        },
        log, error);
    EXPECT_EQ(rc, expect_rc) << error;
    last_error_ = error;
    return log;
  }
  /// Closes `log` cleanly and opens it again, collecting what it recovers into `recovered`.
  void reopen(std::unique_ptr<Log> &log, std::map<Lsn, std::uint64_t> &recovered) {
    log->close();
    log.reset();
    log = open_log(recovered);
  }
  /// Appends records index [from, to), one batch each, and waits until they are durable.
  void append(Log &log, std::uint64_t from, std::uint64_t to) {
    Lsn last = 0;
    for (std::uint64_t i = from; i < to; ++i) {
      const std::string text = payload_of(i);
      const Record record{1, {reinterpret_cast<const std::byte *>(text.data()), text.size()}};
      ASSERT_EQ(log.append({&record, 1}, last), 0);
      lsn_of_[i] = last;
    }
    ASSERT_EQ(log.wait_durable(last, std::chrono::steady_clock::time_point::max()), 0);
  }
  /// Compacts every sealed segment but the newest `spare_sealed` ones, keeping `kept`.
  CompactionStats compact_sealed(Log &log, std::size_t leave = 0) {
    const std::vector<SegmentInfo> segments = log.segments();
    EXPECT_GE(segments.size(), 3u + leave);
    const std::uint64_t first = segments.front().id;
    const std::uint64_t last = segments[segments.size() - 2 - leave].id;
    CompactionStats stats;
    EXPECT_EQ(log.compact(first, last, kept, 0.5, stats), 0);
    return stats;
  }
  /// What recovery must give: indexes [0, n) that are kept or lie after `dropped_below` (the
  /// first index not in a compacted range), at the LSNs they were appended with.
  std::map<Lsn, std::uint64_t> expected(std::uint64_t n, std::uint64_t dropped_below) const {
    std::map<Lsn, std::uint64_t> out;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (i >= dropped_below || i % 50 == 0) out[lsn_of_.at(i)] = i;
    }
    return out;
  }
  /// The first index whose record lies after the compacted range (from the log's segments).
  std::uint64_t first_index_after(const Log &log) const {
    Lsn through = 0;
    for (const SegmentInfo &s : log.segments())
      if (s.compacted_through_id != 0) through = s.last_lsn;
    std::uint64_t index = 0;
    while (lsn_of_.count(index) != 0 && lsn_of_.at(index) <= through) ++index;
    return index;
  }
  std::vector<std::string> wal_files() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(options().dir)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 4 && name.substr(name.size() - 4) == ".wal") names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  TempDir dir_;
  std::map<std::uint64_t, Lsn> lsn_of_;
  std::string last_error_;
};

TEST_F(CompactionTest, kept_records_come_back_with_their_lsns_and_the_log_goes_on) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 2000);  // ~7 segments of 64 KiB
  const std::size_t files_before = wal_files().size();
  const CompactionStats stats = compact_sealed(*log);
  ASSERT_TRUE(stats.replaced);
  EXPECT_GE(stats.segments_in, 3u);
  EXPECT_GT(stats.records_in, stats.records_kept);
  EXPECT_LT(stats.bytes_kept * 10, stats.bytes_in);
  EXPECT_LT(wal_files().size(), files_before);
  EXPECT_FALSE(fs::exists(options().dir + "/compacting.tmp"));
  const std::uint64_t after = first_index_after(*log);
  EXPECT_GT(after, 1000u);
  append(*log, 2000, 2100);  // appends go on after a compaction
  reopen(log, recovered);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(recovered, expected(2100, after));
  EXPECT_EQ(log->last_appended_lsn(), lsn_of_.at(2099));
  append(*log, 2100, 2110);  // and after a reopen
  reopen(log, recovered);
  EXPECT_EQ(recovered, expected(2110, after));
}

TEST_F(CompactionTest, a_compacted_segment_merges_with_later_ones) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 1500);
  ASSERT_TRUE(compact_sealed(*log).replaced);
  append(*log, 1500, 3000);
  ASSERT_TRUE(compact_sealed(*log).replaced);
  std::size_t compacted = 0;
  for (const SegmentInfo &s : log->segments()) compacted += s.compacted_through_id != 0;
  EXPECT_EQ(compacted, 1u);  // merged into one
  const std::uint64_t after = first_index_after(*log);
  EXPECT_GT(after, 2500u);
  reopen(log, recovered);
  EXPECT_EQ(recovered, expected(3000, after));
}

TEST_F(CompactionTest, nothing_changes_when_it_is_not_worth_it) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 1000);
  const std::vector<std::string> before = wal_files();
  const std::vector<SegmentInfo> segments = log->segments();
  CompactionStats stats;
  ASSERT_EQ(log->compact(
                segments.front().id, segments[segments.size() - 2].id,
                [](const RecoveredRecord &) { return true; }, 0.5, stats),
            0);
  EXPECT_FALSE(stats.replaced);
  EXPECT_EQ(wal_files(), before);
  EXPECT_FALSE(fs::exists(options().dir + "/compacting.tmp"));
  CompactionStats bad;
  EXPECT_EQ(log->compact(segments.back().id, segments.back().id, kept, 0.5, bad), -EINVAL)
      << "the segment being written is never compacted";
  reopen(log, recovered);
  EXPECT_EQ(recovered.size(), 1000u);
}

TEST_F(CompactionTest, originals_left_by_a_crash_before_their_removal_are_skipped) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 2000);
  const std::string backup = dir_.path() + "/backup";
  fs::create_directory(backup);
  for (const std::string &name : wal_files())
    fs::copy_file(options().dir + "/" + name, backup + "/" + name);
  ASSERT_TRUE(compact_sealed(*log).replaced);
  const std::uint64_t after = first_index_after(*log);
  log->close();
  log.reset();
  // As if the process died right after the rename: the originals the compacted segment replaced
  // are still there, and so is a half-written temporary file of a later compaction.
  const std::vector<std::string> now = wal_files();
  std::size_t restored = 0;
  for (const auto &e : fs::directory_iterator(backup)) {
    const std::string name = e.path().filename().string();
    if (std::find(now.begin(), now.end(), name) == now.end()) {
      fs::copy_file(e.path(), options().dir + "/" + name);
      ++restored;
    }
  }
  ASSERT_GE(restored, 2u);
  std::ofstream(options().dir + "/compacting.tmp") << "half written";
  log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(recovered, expected(2000, after));
  EXPECT_EQ(wal_files().size(), now.size()) << "superseded files are recycled at open";
  EXPECT_FALSE(fs::exists(options().dir + "/compacting.tmp"));
  append(*log, 2000, 2050);
  reopen(log, recovered);
  EXPECT_EQ(recovered, expected(2050, after));
}

TEST_F(CompactionTest, a_log_whose_chain_ends_on_a_compacted_segment_opens_and_goes_on) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 2000);
  ASSERT_TRUE(compact_sealed(*log).replaced);
  const std::uint64_t after = first_index_after(*log);
  const std::uint64_t first_id = log->segments().front().id;
  ASSERT_NE(log->segments().front().compacted_through_id, 0u);
  const Lsn next_lsn = lsn_of_.at(after);  // the first LSN after the compacted range
  log->close();
  log.reset();
  // Drop every segment after the compacted one (as if the tail had never been written).
  const std::string compacted_name = segment_file_name(first_id);
  for (const std::string &name : wal_files())
    if (name != compacted_name) fs::remove(options().dir + "/" + name);
  log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(recovered, expected(after, after));
  append(*log, 5000, 5010);
  EXPECT_EQ(lsn_of_.at(5000), next_lsn);
  reopen(log, recovered);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(recovered.size(), expected(after, after).size() + 10);
  EXPECT_EQ(recovered.rbegin()->second, 5009u);
}

TEST_F(CompactionTest, damage_inside_a_compacted_segment_is_corruption) {
  std::map<Lsn, std::uint64_t> recovered;
  auto log = open_log(recovered);
  ASSERT_NE(log, nullptr);
  append(*log, 0, 2000);
  ASSERT_TRUE(compact_sealed(*log).replaced);
  const std::uint64_t first = log->segments().front().id;
  log->close();
  log.reset();
  const std::string path = options().dir + "/" + segment_file_name(first);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 + 100);
    file.put('#');
  }
  open_log(recovered, -EBADMSG);
  EXPECT_NE(last_error_.find(segment_file_name(first)), std::string::npos) << last_error_;
  EXPECT_NE(last_error_.find("compacted"), std::string::npos) << last_error_;
}

}  // namespace
