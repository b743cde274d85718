// tests/corqctl/corqctl_live_test.cpp — the reading commands on a directory a running service is
// writing. A thread of this process publishes, consumes and acks as fast as it can on a durable
// queue (sync=none, 1 MiB segments, so the tail moves all the time and checkpoints release and
// reuse segments), while corqctl inspect, verify, stats, dlq list and dump run on the directory
// again and again. None of them may report the moving log as corrupt (the scanner alone does, when
// the writer fills the tail during a scan: see tools/corqctl/log_view.hpp). No timing is asserted:
// a command may also see the writer idle.
#include "corqctl_run.hpp"

#include "support/sanitizers.hpp"

#include <atomic>
#include <thread>

namespace {

using namespace corqctl_test;

/// Runs of each command while the writer runs.
constexpr std::size_t rounds = corq::test::scaled(8, 2);
/// The writer stops after this many messages even if the commands are slow to finish.
constexpr std::uint64_t writer_messages_max = 2'000'000;

TEST(CorqctlLive, reading_commands_never_call_a_log_being_written_corrupt) {
  Scratch scratch;
  ASSERT_FALSE(scratch.root().empty());
  const fs::path dir = scratch.root() / "data";
  corq_engine *engine = open_engine(dir, "none");
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(corq_queue_declare(engine, "work", nullptr), CORQ_OK) << corq_last_error();
  corq_consumer *consumer = nullptr;
  ASSERT_EQ(corq_consumer_open(engine, "work", 16, &consumer), CORQ_OK);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  std::thread writer([&] {
    const std::string payload(2000, 'x');
    corq_delivery d[16];
    for (std::uint64_t i = 0; i < writer_messages_max && !stop.load(); ++i) {
      publish(engine, "work", payload);
      const int n = corq_consume(consumer, d, 16, 0);
      for (int k = 0; k < n; ++k) corq_ack(consumer, d[k].tag);
      written.store(i + 1, std::memory_order_relaxed);
    }
  });

  const std::string d = dir.string();
  const std::vector<std::vector<std::string>> commands = {{"inspect", d},
                                                          {"verify", d},
                                                          {"stats", d, "--json"},
                                                          {"dlq", "list", d, "work"},
                                                          {"dump", d, "--queue", "work"}};
  for (std::size_t round = 0; round < rounds; ++round) {
    for (const auto &args : commands) {
      const Outcome r = corqctl(scratch.root(), args);
      // A segment released under a streaming dump is reported as such (exit 3), never as corrupt.
      const bool released = r.exit_code == exit_unreadable &&
                            contains(r.err, "released the segment while it was being read");
      EXPECT_TRUE(r.exit_code == exit_ok || released) << args[0] << "\n" << describe(r);
      EXPECT_FALSE(contains(r.err, "CORRUPT")) << describe(r);
    }
  }
  stop.store(true);
  writer.join();
  EXPECT_GT(written.load(), 0u);
  corq_consumer_close(consumer);
  ASSERT_EQ(corq_close(engine), CORQ_OK);

  const Outcome quiet = corqctl(scratch.root(), {"verify", d});
  EXPECT_EQ(quiet.exit_code, exit_ok) << describe(quiet);
  EXPECT_FALSE(contains(quiet.out, "being written")) << describe(quiet);
}

}  // namespace
