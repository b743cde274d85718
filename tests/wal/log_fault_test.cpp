// The log against a disk that fails and crashes (SimVfs): confirmed records survive every crash,
// unconfirmed batches vanish whole, a failed write or flush stops the log for good, a torn tail is
// cut off, corruption before the tail is reported with file and offset, and a full disk stops
// normal appends while reserved ones (settlements) go on. With flush = false (sync=none), a power
// loss that reorders unflushed writes ends the log at the first lost frame (point-in-time), never
// "corrupt", while damage in flushed data still is.
#include "io/sim_vfs.hpp"
#include "log/log.hpp"
#include "log/scanner.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace corq::wal;
using Clock = std::chrono::steady_clock;

constexpr const char *log_dir = "/db";

std::span<const std::byte> bytes_of(const std::string &text) {
  return {reinterpret_cast<const std::byte *>(text.data()), text.size()};
}

struct Recovered {
  std::map<Lsn, std::string> records;
  std::function<int(const RecoveredRecord &)> visitor() {
    return [this](const RecoveredRecord &r) {
      records[r.lsn] =
          std::string(reinterpret_cast<const char *>(r.payload.data()), r.payload.size());
      return 0;
    };
  }
};

class LogFaultTest : public ::testing::Test {
 protected:
  LogOptions options() {
    LogOptions o;
    o.dir = log_dir;
    o.vfs = &vfs_;
    o.segment_bytes = 64 * 1024;
    return o;
  }
  int open(Recovered &recovered, std::unique_ptr<Log> &log) {
    error_.clear();
    return Log::open(options(), recovered.visitor(), log, error_);
  }
  std::unique_ptr<Log> must_open(Recovered &recovered) {
    std::unique_ptr<Log> log;
    EXPECT_EQ(open(recovered, log), 0) << error_;
    return log;
  }
  /// The process dies with `log` open (dropped here), the machine loses power (`vfs_.crash(seed)`),
  /// and the log is opened again into `recovered`.
  void crash_and_reopen(std::unique_ptr<Log> &log, std::uint64_t seed, Recovered &recovered) {
    log.reset();
    vfs_.crash(seed);
    log = must_open(recovered);
  }
  /// Appends and waits; returns the append's or the wait's error, or 0.
  int append_durably(Log &log, const std::string &text, Lsn &lsn,
                     AppendClass append_class = AppendClass::normal) {
    const Record record{1, bytes_of(text)};
    if (int rc = log.append({&record, 1}, lsn, append_class); rc != 0) return rc;
    return log.wait_durable(lsn, Clock::now() + std::chrono::seconds(10));
  }
  SimVfs vfs_{42};
  std::string error_;
};

TEST_F(LogFaultTest, confirmed_records_survive_a_crash) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn lsn = 0;
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(append_durably(*log, std::string("m").append(std::to_string(i)), lsn), 0);
  Recovered again;
  crash_and_reopen(log, 7, again);
  ASSERT_EQ(again.records.size(), 50u);
  EXPECT_EQ(again.records.at(50), "m49");
}

TEST_F(LogFaultTest, a_failed_write_stops_the_log_and_confirms_nothing_after) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn confirmed = 0;
  ASSERT_EQ(append_durably(*log, "before", confirmed), 0);
  vfs_.fail_write(1, -EIO);
  Lsn lsn = 0;
  EXPECT_EQ(append_durably(*log, "lost", lsn), -EIO);
  EXPECT_EQ(log->failure(), -EIO);
  EXPECT_EQ(log->durable_lsn(), confirmed) << "a confirm after the error";
  // Fail-stop: later appends and waits fail too, even though the disk would work again.
  const Record record{1, bytes_of("later")};
  EXPECT_EQ(log->append({&record, 1}, lsn), -EIO);
  EXPECT_EQ(log->wait_durable(confirmed + 1, Clock::now()), -EIO);
  Recovered again;
  crash_and_reopen(log, 3, again);
  ASSERT_EQ(again.records.size(), 1u);
  EXPECT_EQ(again.records.at(confirmed), "before");
}

TEST_F(LogFaultTest, a_failed_flush_is_fatal_too_and_its_data_is_not_trusted) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn lsn = 0;
  ASSERT_EQ(append_durably(*log, "kept", lsn), 0);
  // A write with flush = true flushes inside the write call; the sim counts that flush as a flush
  // operation: inject on it.
  vfs_.fail_flush(1, -EIO);
  EXPECT_EQ(append_durably(*log, "unsure", lsn), -EIO);
  EXPECT_EQ(log->failure(), -EIO);
  Recovered again;
  crash_and_reopen(log, 5, again);
  EXPECT_EQ(again.records.size(), 1u);
}

TEST_F(LogFaultTest, a_torn_batch_vanishes_whole_and_the_log_goes_on) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn lsn = 0;
  ASSERT_EQ(append_durably(*log, "first", lsn), 0);
  // A 3-record batch of ~6 KiB (two blocks), cut short by the disk: some sectors may land.
  const std::string part(2000, 'p');
  const Record batch[] = {{1, bytes_of(part)}, {1, bytes_of(part)}, {1, bytes_of(part)}};
  vfs_.short_write(1);
  Lsn batch_last = 0;
  ASSERT_EQ(log->append(batch, batch_last), 0);
  EXPECT_NE(log->wait_durable(batch_last, Clock::now() + std::chrono::seconds(10)), 0);
  Recovered again;
  crash_and_reopen(log, 11, again);
  ASSERT_EQ(again.records.size(), 1u) << "the torn batch must vanish whole";
  // The log continues where the torn frame was; the new frame replaces it.
  ASSERT_EQ(append_durably(*log, "second", lsn), 0);
  EXPECT_EQ(lsn, 2u);
  Recovered third;
  crash_and_reopen(log, 12, third);
  ASSERT_EQ(third.records.size(), 2u);
  EXPECT_EQ(third.records.at(2), "second");
}

TEST_F(LogFaultTest, corruption_before_the_tail_is_reported_with_file_and_offset) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn lsn = 0;
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(append_durably(*log, std::string("record ").append(std::to_string(i)), lsn), 0);
  log.reset();
  // Frames are one block each: flip a bit inside the second frame (offset 8192 + 40).
  const std::string segment = std::string(log_dir) + "/" + segment_file_name(1);
  ASSERT_EQ(vfs_.flip_bit(segment, 2 * block_bytes + 40, 3), 0);
  Recovered again;
  std::unique_ptr<Log> reopened;
  EXPECT_EQ(open(again, reopened), -EBADMSG);
  EXPECT_NE(error_.find(segment_file_name(1)), std::string::npos) << error_;
  EXPECT_NE(error_.find("8192"), std::string::npos) << error_;
}

TEST_F(LogFaultTest, a_full_disk_refuses_normal_appends_but_takes_reserved_ones) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  const std::string big(3000, 'x');  // one block per append
  Lsn lsn = 0;
  // Fill the disk: room for what exists now (one segment) plus nothing more. At half the segment
  // the spare cannot be made: normal appends are refused from then on, whatever the timing (they
  // wait at the spare gate for the spare maker's answer).
  vfs_.set_capacity(vfs_.used_bytes());
  int rc = 0;
  int appended = 0;
  while ((rc = append_durably(*log, big, lsn)) == 0 && appended < 1000) ++appended;
  EXPECT_EQ(rc, -ENOSPC) << "after " << appended << " appends";
  EXPECT_EQ(log->failure(), 0) << "ENOSPC for publishers is not a failure of the log";
  const std::uint64_t half = options().segment_bytes / 2;
  EXPECT_LE(log->segments().back().bytes + block_bytes, half + block_bytes)
      << "normal appends went on past the spare mark";
  // Settlements still go in: the rest of the segment is their reserve.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(append_durably(*log, big, lsn, AppendClass::reserved), 0);
  // Space freed (here: the disk grew): the next group commit asks for the spare again, and normal
  // appends are taken once it is made.
  vfs_.set_capacity(0);
  ASSERT_EQ(append_durably(*log, "ack", lsn, AppendClass::reserved), 0);
  Lsn after = 0;
  for (int tries = 0; (rc = append_durably(*log, "publish again", after)) == -ENOSPC && tries < 500;
       ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(log->failure(), 0);
}

TEST_F(LogFaultTest, releasing_a_segment_on_a_full_disk_makes_it_the_spare_and_publishing_resumes) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  const std::string big(3000, 'x');
  Lsn lsn = 0;
  while (log->segments().size() < 2) ASSERT_EQ(append_durably(*log, big, lsn), 0);
  vfs_.set_capacity(vfs_.used_bytes());  // no room for another spare
  int rc = 0;
  for (int i = 0; i < 1000 && (rc = append_durably(*log, big, lsn)) == 0; ++i) {
  }
  ASSERT_EQ(rc, -ENOSPC);
  // A checkpoint made segment 1 unnecessary: its file becomes the spare, so normal appends are
  // taken again at once, with no byte more on the disk.
  ASSERT_EQ(log->release_before(log->segments().back().first_lsn), 0);
  EXPECT_EQ(append_durably(*log, "publish again", lsn), 0);
  // The roll takes that spare.
  while (log->segments().back().id < 3) ASSERT_EQ(append_durably(*log, big, lsn), 0);
  EXPECT_EQ(log->failure(), 0);
}

TEST_F(LogFaultTest, recovering_twice_gives_the_same_records) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);
  Lsn lsn = 0;
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(append_durably(*log, std::string(i * 100, 'a' + i % 26), lsn), 0);
  Recovered once, twice;
  crash_and_reopen(log, 1, once);
  log.reset();
  log = must_open(twice);
  EXPECT_EQ(once.records, twice.records);
  EXPECT_EQ(once.records.size(), 30u);
}

}  // namespace

// ---- sync=none (LogOptions::flush = false): a power loss may reorder unflushed writes ----------

class UnflushedLogTest : public LogFaultTest {
 protected:
  LogOptions unflushed_options() {
    LogOptions o = options();
    o.flush = false;
    return o;
  }
  int open_unflushed(Recovered &recovered, std::unique_ptr<Log> &log) {
    error_.clear();
    return Log::open(unflushed_options(), recovered.visitor(), log, error_);
  }
  /// Writes a zero block at `offset` of segment 1, flushed: as if a power loss lost the frame
  /// written there and kept what was written after it.
  void lose_block(std::uint64_t offset) {
    std::unique_ptr<VfsFile> file;
    const OpenFlags flags;
    ASSERT_EQ(vfs_.open(std::string(log_dir) + "/" + segment_file_name(1), flags, file), 0);
    std::vector<std::byte> zeros(block_bytes);
    const iovec buffer{zeros.data(), zeros.size()};
    ASSERT_EQ(file->write(offset, &buffer, 1, true), 0);
  }
  /// Appends "d" (written, not flushed), loses power while the log is open (a reordering disk
  /// cache: "d" may go) and reopens: "a", "b", "c" (LSNs 1..3, on the disk before) must be there.
  void append_d_then_lose_power_keeping_a_b_c(std::unique_ptr<Log> &log, std::uint64_t seed) {
    Lsn lsn = 0;
    ASSERT_EQ(append_durably(*log, "d", lsn), 0);
    vfs_.crash(seed, SimCrashMode::reorder);
    log.reset();
    Recovered after;
    ASSERT_EQ(open_unflushed(after, log), 0) << error_;
    ASSERT_GE(after.records.size(), 3u);
    EXPECT_EQ(after.records.at(1), "a");
    EXPECT_EQ(after.records.at(3), "c");
  }
  /// Appends three single-block frames "a", "b", "c" (LSNs 1..3 at offsets 4096, 8192, 12288).
  void append_three(Log &log) {
    Lsn lsn = 0;
    for (const char *text : {"a", "b", "c"}) ASSERT_EQ(append_durably(log, text, lsn), 0);
    ASSERT_EQ(lsn, 3u);
  }
};

TEST_F(UnflushedLogTest, a_lost_unflushed_frame_ends_the_log_and_the_later_one_is_invalidated) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  append_three(*log);
  log.reset();
  lose_block(2 * block_bytes);  // "b" lost, "c" kept: what a reordering disk cache can do
  Recovered again;
  ASSERT_EQ(open_unflushed(again, log), 0) << "not corruption: " << error_;
  ASSERT_EQ(again.records.size(), 1u);
  EXPECT_EQ(again.records.at(1), "a");
  // "c" (LSN 3) must not come back as the continuation of what is written now: "d" gets LSN 2 at
  // offset 8192, ending exactly where "c" was.
  Lsn lsn = 0;
  ASSERT_EQ(append_durably(*log, "d", lsn), 0);
  EXPECT_EQ(lsn, 2u);
  log.reset();
  Recovered third;
  ASSERT_EQ(open_unflushed(third, log), 0) << error_;
  EXPECT_EQ(third.records, (std::map<Lsn, std::string>{{1, "a"}, {2, "d"}}));
}

TEST_F(UnflushedLogTest, the_same_hole_in_flushed_frames_is_corruption) {
  Recovered r;
  std::unique_ptr<Log> log = must_open(r);  // flush = true (sync=always)
  append_three(*log);
  log.reset();
  lose_block(2 * block_bytes);
  Recovered again;
  EXPECT_EQ(open(again, log), -EBADMSG);
  EXPECT_NE(error_.find("offset 8192"), std::string::npos) << error_;
  EXPECT_NE(error_.find("12288"), std::string::npos) << error_;
}

TEST_F(UnflushedLogTest, sealed_segments_are_flushed_so_damage_there_is_still_corruption) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  Lsn lsn = 0;
  const std::string text(3000, 's');
  for (int i = 0; i < 40; ++i) ASSERT_EQ(append_durably(*log, text, lsn), 0);  // ~3 segments
  const std::vector<SegmentInfo> segments = log->segments();
  ASSERT_GE(segments.size(), 3u);
  const Lsn sealed_last = segments[segments.size() - 2].last_lsn;
  vfs_.crash(9);  // power loss while open: the tail segment's frames are gone, sealed ones stay
  log.reset();
  Recovered after_loss;
  ASSERT_EQ(open_unflushed(after_loss, log), 0) << error_;
  EXPECT_EQ(after_loss.records.size(), sealed_last);
  log.reset();
  const std::string segment = std::string(log_dir) + "/" + segment_file_name(1);
  ASSERT_EQ(vfs_.flip_bit(segment, 2 * block_bytes + 100, 1), 0);
  Recovered again;
  EXPECT_EQ(open_unflushed(again, log), -EBADMSG);
  EXPECT_NE(error_.find(segment_file_name(1)), std::string::npos) << error_;
}

TEST_F(UnflushedLogTest, a_power_loss_never_takes_the_log_back_past_an_open_or_a_close) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  append_three(*log);
  log.reset();    // a clean close flushes
  vfs_.crash(3);  // power loss
  Recovered again;
  ASSERT_EQ(open_unflushed(again, log), 0) << error_;
  EXPECT_EQ(again.records.size(), 3u);
  append_d_then_lose_power_keeping_a_b_c(log, 4);
}

// Many power losses of a reordering disk cache in the middle of unflushed appends: recovery always
// opens (never "corrupt"), keeps a prefix of what was appended, and the log goes on from there.
TEST_F(UnflushedLogTest, reordered_power_losses_always_recover_a_prefix) {
  std::vector<std::string> appended;  // by LSN - 1, as the log holds them
  for (std::uint64_t round = 0; round < 60; ++round) {
    Recovered r;
    std::unique_ptr<Log> log;
    ASSERT_EQ(open_unflushed(r, log), 0) << "round " << round << ": " << error_;
    ASSERT_LE(r.records.size(), appended.size()) << "round " << round;
    Lsn expect = 1;
    for (const auto &[lsn, text] : r.records) {
      ASSERT_EQ(lsn, expect++) << "round " << round << ": not a prefix";
      ASSERT_EQ(text, appended[lsn - 1]) << "round " << round;
    }
    appended.resize(r.records.size());
    const int count = 1 + static_cast<int>(round * 7 % 23);
    for (int i = 0; i < count; ++i) {
      const std::string text = std::to_string(round) + "." + std::to_string(i) +
                               std::string((round * 131 + i * 977) % 5000, 'x');
      Lsn lsn = 0;
      ASSERT_EQ(append_durably(*log, text, lsn), 0);
      ASSERT_EQ(lsn, appended.size() + 1);
      appended.push_back(text);
    }
    vfs_.crash(1000 + round, round % 2 == 0 ? SimCrashMode::reorder : SimCrashMode::torn_tail);
    log.reset();
  }
}

// Found by corq-sim (seed 906): with sync=none a failed flush loses every unflushed frame of the
// tail segment to the disk while reads still return them. A restart without a power loss then
// recovers them from the page cache; unless the open writes them again, a later successful flush
// (the segment's at roll) does not, and a power loss leaves a hole before the next segment.
TEST_F(UnflushedLogTest, an_open_after_a_failed_flush_writes_the_unflushed_frames_again) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  append_three(*log);
  vfs_.fail_flush(1, -EIO);  // the flush at close fails: the frames are lost to the disk
  log.reset();
  Recovered again;  // a restart, no power loss: the page cache still has them
  ASSERT_EQ(open_unflushed(again, log), 0) << error_;
  ASSERT_EQ(again.records.size(), 3u);
  Lsn lsn = 0;
  const std::string text(3000, 'r');
  for (int i = 0; i < 30; ++i) ASSERT_EQ(append_durably(*log, text, lsn), 0);  // rolls segments
  ASSERT_GE(log->segments().size(), 2u);
  vfs_.crash(21);  // power loss while open
  log.reset();
  Recovered third;
  ASSERT_EQ(open_unflushed(third, log), 0) << "a hole before a later segment: " << error_;
  ASSERT_GE(third.records.size(), 3u);
  EXPECT_EQ(third.records.at(3), "c");
}

TEST_F(UnflushedLogTest, flush_through_puts_everything_before_it_on_the_disk) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  append_three(*log);
  const std::uint64_t flushes = vfs_.counters().flushes;
  ASSERT_EQ(log->flush_through(3, Clock::now() + std::chrono::seconds(10)), 0);
  EXPECT_GT(vfs_.counters().flushes, flushes) << "no flush happened";
  EXPECT_EQ(log->flush_through(3, Clock::now()), 0) << "already flushed: no wait";
  append_d_then_lose_power_keeping_a_b_c(log, 5);
}

// The first frame written after a flush is not marked unflushed (nothing before it in its segment
// can be lost any more): it is evidence again, so damage to the flushed frames before it is
// reported, not cut.
TEST_F(UnflushedLogTest, the_frame_after_a_flush_is_evidence_again) {
  Recovered r;
  std::unique_ptr<Log> log;
  ASSERT_EQ(open_unflushed(r, log), 0) << error_;
  append_three(*log);
  ASSERT_EQ(log->flush_through(3, Clock::now() + std::chrono::seconds(10)), 0);
  Lsn lsn = 0;
  ASSERT_EQ(append_durably(*log, "d", lsn), 0);  // at 16384, not marked
  ASSERT_EQ(append_durably(*log, "e", lsn), 0);  // at 20480, marked
  log.reset();
  lose_block(2 * block_bytes);  // "b" (flushed) damaged
  Recovered again;
  EXPECT_EQ(open_unflushed(again, log), -EBADMSG);
  EXPECT_NE(error_.find("16384"), std::string::npos) << error_;
}
