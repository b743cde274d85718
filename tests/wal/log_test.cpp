// Tests of the write-ahead log on the real filesystem (psync and io_uring back ends): append and
// recover, group commit under concurrency, segment rolling and release, the directory lock.
// Fault injection and crashes (SimVfs) are in log_fault_test.cpp.
#include "log/log.hpp"
#include "log/scanner.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace corq::wal;
using Clock = std::chrono::steady_clock;

/// A fresh directory under the build's temp area, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/corq-log-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

std::span<const std::byte> bytes_of(const std::string &text) {
  return {reinterpret_cast<const std::byte *>(text.data()), text.size()};
}

/// Records recovered by an open, by LSN.
struct Recovered {
  std::map<Lsn, std::pair<std::uint8_t, std::string>> records;
  std::function<int(const RecoveredRecord &)> visitor() {
    return [this](const RecoveredRecord &r) {
      records[r.lsn] = {
          r.type, std::string(reinterpret_cast<const char *>(r.payload.data()), r.payload.size())};
      return 0;
    };
  }
};

class LogTest : public ::testing::TestWithParam<BackendChoice> {
 protected:
  LogOptions options() const {
    LogOptions o;
    o.dir = dir_.path() + "/log";
    o.backend = GetParam();
    o.segment_bytes = 64 * 1024;  // small: tests roll segments
    return o;
  }
  std::unique_ptr<Log> open_log(Recovered &recovered, LogOptions o) {
    std::unique_ptr<Log> log;
    std::string error;
    const int rc = Log::open(o, recovered.visitor(), log, error);
    if (rc == -ENOSYS || rc == -EPERM) {
      skipped_ = true;
      return nullptr;
    }
    EXPECT_EQ(rc, 0) << error << " (" << std::strerror(-rc) << ")";
    return log;
  }
  TempDir dir_;
  bool skipped_ = false;
};

Lsn append_text(Log &log, const std::string &text, std::uint8_t type = 7) {
  const Record record{type, bytes_of(text)};
  Lsn lsn = 0;
  EXPECT_EQ(log.append({&record, 1}, lsn), 0);
  return lsn;
}

TEST_P(LogTest, appended_records_are_durable_and_recovered_in_order) {
  Recovered first;
  std::unique_ptr<Log> log = open_log(first, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  EXPECT_TRUE(first.records.empty());
  Lsn last = 0;
  for (int i = 0; i < 100; ++i)
    last = append_text(*log, std::string("message ").append(std::to_string(i)),
                       static_cast<std::uint8_t>(i % 5));
  EXPECT_EQ(last, 100u);
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
  EXPECT_GE(log->durable_lsn(), 100u);
  log->close();

  Recovered again;
  log = open_log(again, options());
  ASSERT_EQ(again.records.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    const auto &[type, payload] = again.records.at(static_cast<Lsn>(i + 1));
    EXPECT_EQ(type, i % 5);
    EXPECT_EQ(payload, std::string("message ").append(std::to_string(i)));
  }
  // Appending continues after the recovered tail.
  EXPECT_EQ(append_text(*log, "after"), 101u);
}

TEST_P(LogTest, a_batch_gets_consecutive_lsns) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  const std::string a = "a", b = "bb", c = "";
  const Record batch[] = {{1, bytes_of(a)}, {2, bytes_of(b)}, {3, bytes_of(c)}};
  Lsn last = 0;
  ASSERT_EQ(log->append(batch, last), 0);
  EXPECT_EQ(last, 3u);
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
  log->close();
  Recovered again;
  log = open_log(again, options());
  ASSERT_EQ(again.records.size(), 3u);
  EXPECT_EQ(again.records.at(3).second, "");
  EXPECT_EQ(again.records.at(2).first, 2);
}

TEST_P(LogTest, concurrent_appenders_share_group_commits_and_lose_nothing) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  constexpr int threads = 4, per_thread = 500;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const std::string text = std::to_string(t) + ":" + std::to_string(i);
        const Record record{static_cast<std::uint8_t>(t), bytes_of(text)};
        Lsn lsn = 0;
        if (log->append({&record, 1}, lsn) != 0) ++failures;
        if (i % 50 == 0 && log->wait_durable(lsn, Clock::now() + std::chrono::seconds(10)) != 0)
          ++failures;
      }
    });
  }
  for (auto &w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const Lsn last = log->last_appended_lsn();
  EXPECT_EQ(last, static_cast<Lsn>(threads * per_thread));
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
  log->close();
  // Group commit: the records went to disk in far fewer frames (writes + flushes) than records.
  std::uint64_t frames = 0;
  ScanVisitor count_frames;
  count_frames.record = [](const RecoveredRecord &) { return 0; };
  count_frames.frame = [&](const FrameInfo &) { ++frames; };
  ScanResult scan;
  const auto vfs = make_psync_vfs();
  ASSERT_EQ(scan_log(*vfs, options().dir, count_frames, scan), 0);
  EXPECT_LT(frames, static_cast<std::uint64_t>(threads * per_thread) / 2) << "no group commit?";
  Recovered again;
  log = open_log(again, options());
  ASSERT_EQ(again.records.size(), static_cast<std::size_t>(threads * per_thread));
  // Per appender, its records come back in the order it appended them.
  std::map<int, int> next;
  for (const auto &[lsn, record] : again.records) {
    const std::string &text = record.second;
    const int t = std::stoi(text.substr(0, text.find(':')));
    const int i = std::stoi(text.substr(text.find(':') + 1));
    EXPECT_EQ(i, next[t]++) << "thread " << t << " at lsn " << lsn;
  }
}

TEST_P(LogTest, released_segments_are_not_recovered_and_files_are_reused) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  const std::string big(3000, 'x');
  Lsn last = 0;
  for (int i = 0; i < 100; ++i) last = append_text(*log, big);  // ~300 KiB: several segments
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
  const std::vector<SegmentInfo> before = log->segments();
  ASSERT_GE(before.size(), 3u);
  const Lsn keep_from = before[before.size() - 2].first_lsn;
  ASSERT_EQ(log->release_before(keep_from), 0);
  const std::vector<SegmentInfo> after = log->segments();
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(after.front().first_lsn, keep_from);
  log->close();
  // Only segment files of live segments plus at most a few preallocated spares remain.
  std::size_t segment_files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(options().dir)) {
    std::uint64_t id = 0;
    segment_files += parse_segment_file_name(entry.path().filename().string(), id);
  }
  EXPECT_EQ(segment_files, 2u);
  Recovered again;
  log = open_log(again, options());
  ASSERT_FALSE(again.records.empty());
  EXPECT_EQ(again.records.begin()->first, keep_from);
  EXPECT_EQ(again.records.rbegin()->first, last);
}

TEST_P(LogTest, a_second_opener_of_the_directory_is_refused) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  // flock locks belong to the open file description: a second open in this process conflicts
  // like another process would.
  std::unique_ptr<Log> second;
  std::string error;
  Recovered r2;
  EXPECT_EQ(Log::open(options(), r2.visitor(), second, error), -EWOULDBLOCK);
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  log->close();
  EXPECT_EQ(Log::open(options(), r2.visitor(), second, error), 0) << error;
}

TEST_P(LogTest, a_batch_larger_than_a_segment_is_refused) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  const std::string huge(80 * 1024, 'h');
  const Record record{1, bytes_of(huge)};
  Lsn lsn = 0;
  EXPECT_EQ(log->append({&record, 1}, lsn), -EMSGSIZE);
  EXPECT_EQ(append_text(*log, "still fine"), 1u);
}

TEST_P(LogTest, reports_its_backend) {
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, options());
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  const std::string name = log->backend_name();
  EXPECT_EQ(name, GetParam() == BackendChoice::psync ? "psync" : "io_uring");
}

// io_uring: group commits go out as fixed-buffer writes from the registered buffers, also after
// the buffers grow (a big batch reallocates them) and across segment rolls; what they wrote is
// what recovery reads. psync has no registration.
TEST_P(LogTest, group_commits_are_written_from_registered_buffers_on_io_uring) {
  Recovered r;
  LogOptions o = options();
  std::unique_ptr<Log> log = open_log(r, o);
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  Lsn last = 0;
  for (int i = 0; i < 200; ++i) {
    // Every 50th record is big: the appenders' buffer reallocates and is registered again.
    const std::string text = i % 50 == 49 ? std::string(40000, static_cast<char>('a' + i % 26))
                                          : std::string("record ").append(std::to_string(i));
    last = append_text(*log, text);
    if (i % 10 == 0) {
      ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
    }
  }
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(10)), 0);
  if (GetParam() == BackendChoice::psync) {
    EXPECT_EQ(log->registered_writes(), 0u);
  } else {
    EXPECT_GT(log->registered_writes(), 0u) << "no group commit used a registered buffer";
  }
  log->close();
  Recovered again;
  log = open_log(again, o);
  ASSERT_EQ(again.records.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    const std::string text = i % 50 == 49 ? std::string(40000, static_cast<char>('a' + i % 26))
                                          : std::string("record ").append(std::to_string(i));
    EXPECT_EQ(again.records.at(static_cast<Lsn>(i + 1)).second, text) << "record " << i;
  }
}

/// What `dir` takes on disk as du counts it: allocated blocks (a preallocated segment counts
/// whole).
std::uint64_t disk_bytes(const std::string &dir) {
  const auto allocated = [](const std::string &path) -> std::uint64_t {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
  };
  std::uint64_t total = allocated(dir);
  for (const auto &entry : std::filesystem::directory_iterator(dir)) {
    total += allocated(entry.path().string());
  }
  return total;
}

constexpr std::uint64_t footprint_slack_bytes = std::uint64_t{1} << 20;  // the "+ 1 MiB"

TEST_P(LogTest, a_fresh_log_with_a_few_records_takes_one_segment_on_disk) {
  LogOptions o = options();
  o.segment_bytes = std::uint64_t{4} << 20;
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, o);
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  Lsn last = 0;
  for (int i = 0; i < 1000; ++i) last = append_text(*log, std::string(64, 'm'));
  ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(30)), 0);
  EXPECT_LE(disk_bytes(o.dir), o.segment_bytes + footprint_slack_bytes);
  log->close();
  EXPECT_LE(disk_bytes(o.dir), o.segment_bytes + footprint_slack_bytes);
}

TEST_P(LogTest, churn_through_many_segments_stays_within_two_segments_on_disk) {
  LogOptions o = options();
  o.segment_bytes = std::uint64_t{1} << 20;
  Recovered r;
  std::unique_ptr<Log> log = open_log(r, o);
  if (skipped_) GTEST_SKIP() << "io_uring unavailable here";
  // ~24 segments of 32 KiB batches; like checkpoints after acks, every roll releases what came
  // before the segment being written.
  const std::string body(1000, 'c');
  std::vector<Record> batch(32, Record{1, bytes_of(body)});
  std::uint64_t peak = 0;
  std::uint64_t rolls = 0;
  for (std::uint64_t id = log->segments().back().id; rolls < 24;) {
    Lsn last = 0;
    ASSERT_EQ(log->append(batch, last), 0);
    ASSERT_EQ(log->wait_durable(last, Clock::now() + std::chrono::seconds(30)), 0);
    if (log->segments().back().id == id) continue;
    id = log->segments().back().id;
    ++rolls;
    ASSERT_EQ(log->release_before(log->segments().back().first_lsn), 0);
    peak = std::max(peak, disk_bytes(o.dir));
  }
  EXPECT_LE(peak, 2 * o.segment_bytes + footprint_slack_bytes);
  log->close();
  EXPECT_LE(disk_bytes(o.dir), 2 * o.segment_bytes + footprint_slack_bytes);
}

INSTANTIATE_TEST_SUITE_P(Backends, LogTest,
                         ::testing::Values(BackendChoice::psync, BackendChoice::io_uring),
                         [](const auto &info) {
                           return info.param == BackendChoice::psync ? "psync" : "io_uring";
                         });

}  // namespace
