// tests/stream/group_recovery_test.cpp — how recovery replays a durable group's progress records
// (engine/durability/records.hpp, group_progress): a checkpoint's copy of a group, taken before its
// batch is appended, comes after acks logged meanwhile and must not undo them; a copy taken before
// a seek must not undo the seek; a copy whose reset was released is the base.
#include "durability/records.hpp"
#include "durability/recovery.hpp"
#include "durability/stream_records.hpp"

#include <gtest/gtest.h>

namespace corq::core {
namespace {

using records::Progress;

class GroupReplay : public ::testing::Test {
 protected:
  void declare() {
    std::vector<std::byte> payload;
    records::encode_group_declare(payload, 1, "g", GroupOptions{});
    apply(records::declare_group, payload);
  }
  void progress(Progress kind, std::uint64_t a, std::uint64_t b) {
    std::vector<std::byte> payload;
    records::encode_group_progress(payload, 1, "g", kind, 0, a, b);
    apply(records::group_progress, payload);
  }
  const RecoveredGroupPartition &partition() { return state_.groups.at({1, "g"}).partitions.at(0); }

 private:
  void apply(std::uint8_t type, const std::vector<std::byte> &payload) {
    ASSERT_EQ(0, state_.apply(wal::RecoveredRecord{++lsn_, type, payload})) << state_.error;
  }
  RecoveredState state_;
  wal::Lsn lsn_ = 0;
};

TEST_F(GroupReplay, a_checkpoint_copy_after_acks_logged_meanwhile_does_not_move_the_offset_back) {
  declare();
  progress(Progress::reset, 660, 1);
  progress(Progress::settle, 662, 660);  // settled above the committed offset
  progress(Progress::settle, 660, 661);
  // The copy was taken here: committed 661, 662 settled ...
  progress(Progress::settle, 661, 663);  // ... these acks were logged before its batch
  progress(Progress::settle, 663, 664);
  declare();
  progress(Progress::snapshot_committed, 661, 1);
  progress(Progress::snapshot_settled, 662, 1);
  EXPECT_EQ(partition().committed, 664u);
  EXPECT_TRUE(partition().settled.empty());
}

TEST_F(GroupReplay, a_copy_taken_before_a_seek_does_not_undo_it) {
  declare();
  progress(Progress::reset, 0, 1);
  progress(Progress::settle, 0, 100);
  // Copied at committed 100 (generation 1); then a seek to 10 (generation 2) was logged first.
  progress(Progress::reset, 10, 2);
  declare();
  progress(Progress::snapshot_committed, 100, 1);
  progress(Progress::snapshot_settled, 150, 1);
  progress(Progress::snapshot_failed, 120, 1 << 8 | 3);
  EXPECT_EQ(partition().generation, 2u);
  EXPECT_EQ(partition().committed, 10u);
  EXPECT_TRUE(partition().settled.empty());
  EXPECT_TRUE(partition().failed.empty());
}

TEST_F(GroupReplay, a_copy_of_a_newer_generation_is_the_base_when_its_reset_was_released) {
  declare();
  progress(Progress::snapshot_committed, 40, 3);  // the log before the checkpoint is gone
  progress(Progress::snapshot_settled, 42, 3);
  progress(Progress::snapshot_failed, 41, 3 << 8 | 2);
  EXPECT_EQ(partition().generation, 3u);
  EXPECT_EQ(partition().committed, 40u);
  EXPECT_EQ(partition().settled, (std::set<std::uint64_t>{42}));
  EXPECT_EQ(partition().failed.at(41), 2u);
}

}  // namespace
}  // namespace corq::core
