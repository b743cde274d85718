// The spare segment (wal/log/log.cpp, "the spare"): a fresh log is one segment file; the spare is
// made — by its own thread, off the writer's path — once the segment being written is half full;
// at most one spare is kept and released segments take its place; a roll with no spare ready
// makes the next segment itself; normal appends past the mark wait for the spare maker's answer,
// settlements never do. On the simulated disk (SimVfs), so file counts and sizes are exact.
#include "io/sim_vfs.hpp"
#include "log/log.hpp"
#include "log/scanner.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace corq::wal;
using Clock = std::chrono::steady_clock;

constexpr const char *log_dir = "/db";
constexpr std::uint64_t segment_bytes = 64 * 1024;
/// The longest a test waits for the spare maker (it needs microseconds; a loaded machine more).
constexpr auto answer_wait_max = std::chrono::seconds(10);

std::span<const std::byte> bytes_of(const std::string &text) {
  return {reinterpret_cast<const std::byte *>(text.data()), text.size()};
}

/// A SimVfs whose allocate() of spare files blocks while the gate is closed: the spare maker is
/// "slow" for as long as a test wants.
class GatedVfs final : public Vfs {
 public:
  explicit GatedVfs(SimVfs &disk) : disk_(disk) {}
  const char *name() const override { return "gated-sim"; }
  int open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) override {
    std::unique_ptr<VfsFile> inner;
    if (const int rc = disk_.open(path, flags, inner); rc != 0) return rc;
    out =
        std::make_unique<File>(*this, std::move(inner), path.find("/spare-") != std::string::npos);
    return 0;
  }
  int list(const std::string &dir, std::vector<std::string> &names) override {
    return disk_.list(dir, names);
  }
  int remove(const std::string &path) override { return disk_.remove(path); }
  int rename(const std::string &from, const std::string &to) override {
    return disk_.rename(from, to);
  }
  int make_dir(const std::string &path) override { return disk_.make_dir(path); }
  int sync_dir(const std::string &dir) override { return disk_.sync_dir(dir); }
  int lock(const std::string &path, std::unique_ptr<VfsFile> &out) override {
    return disk_.lock(path, out);
  }

  void close_gate() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  /// Spare allocations that reached the gate so far.
  int arrived() const {
    std::lock_guard lock(mutex_);
    return arrived_;
  }

 private:
  class File final : public VfsFile {
   public:
    File(GatedVfs &vfs, std::unique_ptr<VfsFile> inner, bool spare)
        : vfs_(vfs), inner_(std::move(inner)), spare_(spare) {}
    int write(std::uint64_t offset, const iovec *buffers, int count, bool flush) override {
      return inner_->write(offset, buffers, count, flush);
    }
    int flush() override { return inner_->flush(); }
    long read(std::uint64_t offset, void *buffer, std::size_t bytes) override {
      return inner_->read(offset, buffer, bytes);
    }
    int allocate(std::uint64_t bytes) override {
      if (spare_) vfs_.pass();
      return inner_->allocate(bytes);
    }
    long long size() override { return inner_->size(); }
    bool direct() const override { return inner_->direct(); }

   private:
    GatedVfs &vfs_;
    std::unique_ptr<VfsFile> inner_;
    bool spare_;
  };

  void pass() {
    std::unique_lock lock(mutex_);
    ++arrived_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }

  SimVfs &disk_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  int arrived_ = 0;
};

class SpareTest : public ::testing::Test {
 protected:
  LogOptions options(Vfs *vfs = nullptr) {
    LogOptions o;
    o.dir = log_dir;
    o.vfs = vfs != nullptr ? vfs : &disk_;
    o.segment_bytes = segment_bytes;
    return o;
  }
  std::unique_ptr<Log> must_open(Vfs *vfs = nullptr) {
    std::unique_ptr<Log> log;
    std::string error;
    EXPECT_EQ(Log::open(
                  options(vfs), [&](const RecoveredRecord &r) { return recover(r); }, log, error),
              0)
        << error;
    return log;
  }
  int recover(const RecoveredRecord &r) {
    recovered_[r.lsn] =
        std::string(reinterpret_cast<const char *>(r.payload.data()), r.payload.size());
    return 0;
  }
  /// Appends one record and waits until it is durable; the append's or the wait's error, or 0.
  static int append_durably(Log &log, const std::string &text,
                            AppendClass append_class = AppendClass::normal) {
    const Record record{1, bytes_of(text)};
    Lsn lsn = 0;
    if (int rc = log.append({&record, 1}, lsn, append_class); rc != 0) return rc;
    return log.wait_durable(lsn, Clock::now() + std::chrono::seconds(10));
  }
  /// Files of the log directory by kind.
  struct Files {
    int segments = 0;
    int spares = 0;
  };
  Files files() {
    std::vector<std::string> names;
    EXPECT_EQ(disk_.list(log_dir, names), 0);
    Files f;
    for (const std::string &name : names) {
      std::uint64_t id = 0;
      f.segments += parse_segment_file_name(name, id);
      f.spares += name.rfind("spare-", 0) == 0;
    }
    return f;
  }
  /// Waits (bounded) until the directory holds `spares` spare files.
  bool wait_for_spares(int spares) {
    const auto deadline = Clock::now() + answer_wait_max;
    while (files().spares != spares && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return files().spares == spares;
  }
  /// The write offset of the segment being written (where its next frame goes).
  static std::uint64_t offset_of_current(const Log &log) {
    return log.segments().back().bytes + block_bytes;
  }

  SimVfs disk_{17};
  std::map<Lsn, std::string> recovered_;
  const std::string block_record_ = std::string(3000, 'r');  // one 4 KiB frame per append
};

TEST_F(SpareTest, a_fresh_log_with_a_few_records_is_one_segment_file_and_no_spare) {
  std::unique_ptr<Log> log = must_open();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(append_durably(*log, "small " + std::to_string(i)), 0);
  log->close();
  EXPECT_EQ(files().segments, 1);
  EXPECT_EQ(files().spares, 0);
  // The file of the directory is the one segment (and the LOCK file, empty).
  EXPECT_LE(disk_.used_bytes(), segment_bytes);
}

TEST_F(SpareTest, the_spare_is_made_once_the_segment_is_half_full_and_the_roll_takes_it) {
  std::unique_ptr<Log> log = must_open();
  // Below the mark nobody asked for a spare, so none is made (no waiting can change that).
  while (offset_of_current(*log) + block_bytes < segment_bytes / 2) {
    ASSERT_EQ(append_durably(*log, block_record_), 0);
    ASSERT_EQ(files().spares, 0) << "a spare at offset " << offset_of_current(*log);
  }
  ASSERT_EQ(append_durably(*log, block_record_), 0);  // the frame that reaches the mark
  EXPECT_GE(offset_of_current(*log), segment_bytes / 2);
  EXPECT_TRUE(wait_for_spares(1)) << "no spare after the segment passed half full";
  // The roll renames the spare into the next segment: still two files.
  while (log->segments().size() < 2) ASSERT_EQ(append_durably(*log, block_record_), 0);
  EXPECT_EQ(files().segments, 2);
  EXPECT_EQ(files().spares, 0);
  EXPECT_EQ(disk_.counters().allocates, 2u) << "segment 1 at open, the spare at half";
}

TEST_F(SpareTest, a_roll_with_no_spare_ready_makes_the_segment_and_only_normal_appends_wait) {
  GatedVfs gated(disk_);
  gated.close_gate();  // the spare maker will be stuck in its fallocate
  std::unique_ptr<Log> log = must_open(&gated);
  int appended = 0;
  while (offset_of_current(*log) < segment_bytes / 2) {
    ASSERT_EQ(append_durably(*log, block_record_), 0);
    ++appended;
  }
  const auto deadline = Clock::now() + answer_wait_max;
  while (gated.arrived() == 0 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(gated.arrived(), 1) << "the spare maker was not asked at half full";
  // A normal append now waits for the spare maker's answer...
  std::future<int> held =
      std::async(std::launch::async, [&] { return append_durably(*log, "waits for the spare"); });
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  // ...while the writer goes on: settlements fill the segment and roll into one the writer makes
  // itself, the spare maker still stuck.
  while (log->segments().size() < 2) {
    ASSERT_EQ(append_durably(*log, block_record_, AppendClass::reserved), 0);
    ++appended;
  }
  ASSERT_EQ(append_durably(*log, "in segment 2", AppendClass::reserved), 0);
  EXPECT_EQ(files().segments, 2);
  EXPECT_EQ(files().spares, 1) << "the spare maker's file, still being allocated";
  gated.open_gate();
  EXPECT_EQ(held.get(), 0);
  EXPECT_EQ(files().spares, 1) << "its spare is kept for the next roll";
  log.reset();
  recovered_.clear();
  log = must_open();
  ASSERT_EQ(recovered_.size(), static_cast<std::size_t>(appended + 2));
  EXPECT_EQ(std::next(recovered_.rbegin())->second, "in segment 2");
  EXPECT_EQ(recovered_.rbegin()->second, "waits for the spare");
}

TEST_F(SpareTest, released_segments_take_the_place_of_the_spare_and_at_most_one_is_kept) {
  std::unique_ptr<Log> log = must_open();
  while (log->segments().size() < 6) ASSERT_EQ(append_durably(*log, block_record_), 0);
  // Each roll took the spare made at half (normal appends past the mark waited for it).
  ASSERT_EQ(files().spares, 0);
  ASSERT_EQ(log->release_before(log->segments().back().first_lsn), 0);
  EXPECT_EQ(files().segments, 1);
  EXPECT_EQ(files().spares, 1);
  // The segment being written and one spare: two segments' worth on the disk (+ the LOCK file).
  EXPECT_LE(disk_.used_bytes(), 2 * segment_bytes);
  // The next roll takes the recycled file: nothing new is allocated.
  const std::uint64_t allocates = disk_.counters().allocates;
  const std::uint64_t last_id = log->segments().back().id;
  while (log->segments().back().id == last_id) ASSERT_EQ(append_durably(*log, block_record_), 0);
  EXPECT_EQ(disk_.counters().allocates, allocates);
}

TEST_F(SpareTest, a_directory_with_several_spares_keeps_one_and_an_empty_log_starts_in_it) {
  ASSERT_EQ(disk_.make_dir(log_dir), 0);
  for (int i = 1; i <= 3; ++i) {
    std::unique_ptr<VfsFile> file;
    OpenFlags flags;
    flags.create = true;
    ASSERT_EQ(disk_.open(std::string(log_dir) + "/spare-" + std::to_string(i), flags, file), 0);
    ASSERT_EQ(file->allocate(segment_bytes), 0);
  }
  std::unique_ptr<Log> log = must_open();
  // One was kept, and this empty log made its first segment of it: nothing new allocated.
  EXPECT_EQ(files().spares, 0);
  EXPECT_EQ(files().segments, 1);
  EXPECT_EQ(disk_.counters().allocates, 3u);
  EXPECT_LE(disk_.used_bytes(), segment_bytes);
}

}  // namespace
