// tests/sim/restart_after_failed_flush_test.cpp — regression tests for what corq-sim found.
//
// A failed flush leaves its write readable (the page cache) but not on the disk. A process that
// restarts without a power loss recovers that frame as valid and builds on it; before the fix, a
// later power loss then left a hole under confirmed frames and corq_open reported CORQ_ECORRUPT
// (found by `corq-sim --seeds 300 --no-sync-none`, e.g. seed 61: "corrupt frame at offset 417792
// (zero block; but a valid frame ... follows)"). The log now writes the recovered tail again at
// open (wal/log/log.cpp, persist_tail).
#include "engine/testing.hpp"

#include <io/sim_vfs.hpp>

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

namespace corq::sim {
namespace {

constexpr const char *dir = "/data";

corq_engine *open_sim(wal::SimVfs &vfs, int &rc) {
  corq_config *config = corq_config_new();
  corq_config_set(config, "segment_bytes", "1MiB");
  corq_engine *engine = nullptr;
  rc = testing::open_on_vfs(dir, config, &vfs, &engine);
  corq_config_free(config);
  return engine;
}

int publish(corq_engine *engine, const std::string &body) {
  const corq_message m{body.data(), body.size(), nullptr, 0, nullptr};
  return corq_publish(engine, "q", &m, nullptr, nullptr);
}

std::vector<std::string> recovered_payloads(wal::SimVfs &vfs) {
  testing::LogSnapshot snapshot;
  std::string error;
  EXPECT_EQ(testing::snapshot_log(vfs, dir, snapshot, error), CORQ_OK) << error;
  std::vector<std::string> out;
  for (const testing::SnapshotMessage &m : snapshot.queues["q"]) out.push_back(m.payload);
  return out;
}

TEST(RestartAfterFailedFlush, a_power_loss_later_keeps_what_was_confirmed_after_the_restart) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    wal::SimVfs vfs(seed);
    int rc = 0;
    corq_engine *engine = open_sim(vfs, rc);
    ASSERT_EQ(rc, CORQ_OK);
    ASSERT_EQ(corq_queue_declare(engine, "q", nullptr), CORQ_OK);
    ASSERT_EQ(publish(engine, "confirmed-1"), CORQ_OK);
    vfs.fail_flush(1, -EIO);
    EXPECT_EQ(publish(engine, "never-confirmed"), CORQ_EFAILED);
    corq_close(engine);  // the process restarts; the disk keeps running (no power loss)

    engine = open_sim(vfs, rc);
    ASSERT_EQ(rc, CORQ_OK) << corq_last_error();
    ASSERT_EQ(publish(engine, "confirmed-2"), CORQ_OK);
    vfs.crash(seed * 7919);  // now the power fails
    corq_close(engine);

    const std::vector<std::string> got = recovered_payloads(vfs);
    EXPECT_NE(std::find(got.begin(), got.end(), "confirmed-1"), got.end()) << seed;
    EXPECT_NE(std::find(got.begin(), got.end(), "confirmed-2"), got.end()) << seed;
    engine = open_sim(vfs, rc);
    EXPECT_EQ(rc, CORQ_OK) << "seed " << seed << ": " << corq_last_error();
    if (engine != nullptr) corq_close(engine);
  }
}

}  // namespace
}  // namespace corq::sim
