// tests/durability/durability_fault_test.cpp — durable queues on a simulated disk (wal::SimVfs):
// fail-stop on a failed flush or write, ENOSPC for publishers while consumers and acks go on,
// crashes that drop unflushed writes and tear the last sector, the committed transaction count a
// crash keeps exact. Deterministic: no real I/O.
#include "engine/helpers.hpp"

#include <io/sim_vfs.hpp>

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace corq::test {
namespace {

constexpr const char *dir = "/data";

EnginePtr open_sim(wal::SimVfs &vfs, Options options = {}) {
  ConfigPtr config = make_config(options);
  corq_engine *engine = nullptr;
  must(corq::testing::open_on_vfs(dir, config.get(), &vfs, &engine), "open_on_vfs");
  return EnginePtr(engine);
}

TEST(DurableFaults, a_failed_flush_fail_stops_the_engine_and_nothing_unconfirmed_is_confirmed) {
  wal::SimVfs vfs(7);
  {
    EnginePtr engine = open_sim(vfs);
    must_declare(engine.get(), "q");
    publish(engine.get(), "q", "confirmed");
    vfs.fail_flush(1, -EIO);
    EXPECT_CORQ_FAILS(CORQ_EFAILED, try_publish(engine.get(), "q", "never confirmed"));
    EXPECT_NE(std::string(corq_last_error()).find("fail"), std::string::npos);
    // From now on every durable operation says so.
    EXPECT_CORQ_FAILS(CORQ_EFAILED, try_publish(engine.get(), "q", "after"));
    EXPECT_CORQ_FAILS(CORQ_EFAILED, corq_sync(engine.get(), 0));
    EXPECT_CORQ_FAILS(CORQ_EFAILED, declare(engine.get(), "other"));
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 4);
    corq_delivery out[4];
    EXPECT_CORQ_FAILS(CORQ_EFAILED, corq_consume(consumer.get(), out, 4, 0));
    // Transient queues keep working.
    must_declare(engine.get(), "mem", {{"durable", "false"}});
    publish(engine.get(), "mem", "fine");
  }
  vfs.crash(11);
  EnginePtr engine = open_sim(vfs);
  EXPECT_EQ(drain_acking(engine.get(), "q"), std::vector<std::string>{"confirmed"});
}

// corq.h's contract for settlements on a failed log: applied in memory, not logged; ack says
// CORQ_EFAILED (its tag is gone all the same), nack and reject say CORQ_OK; after a reopen the
// messages are back.
TEST(DurableFaults, settlements_after_a_failure_apply_in_memory_and_come_back_after_a_reopen) {
  wal::SimVfs vfs(5);
  {
    EnginePtr engine = open_sim(vfs);
    must_declare(engine.get(), "q");
    for (const char *text : {"one", "two", "three"}) publish(engine.get(), "q", text);
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 4);
    corq_delivery out[4];
    ASSERT_EQ(corq_consume(consumer.get(), out, 4, 1000), 3);
    vfs.fail_flush(1, -EIO);
    EXPECT_CORQ_FAILS(CORQ_EFAILED, try_publish(engine.get(), "q", "fails the log"));
    EXPECT_CORQ_FAILS(CORQ_EFAILED, corq_ack(consumer.get(), out[0].tag));
    EXPECT_NE(std::string(corq_last_error()).find("not logged"), std::string::npos)
        << corq_last_error();
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(consumer.get(), out[0].tag));  // applied: tag gone
    EXPECT_EQ(corq_nack(consumer.get(), out[1].tag, 0), CORQ_OK);
    EXPECT_EQ(corq_reject(consumer.get(), out[2].tag, "bad"), CORQ_OK);
  }
  EnginePtr engine = open_sim(vfs);  // a restart: everything the log had, none of the above
  std::vector<std::string> back = drain_acking(engine.get(), "q");
  // The publish that failed the log was never confirmed; a restart without a power loss may find
  // it (its write reached the page cache), like any unconfirmed publish.
  std::erase(back, std::string("fails the log"));
  std::sort(back.begin(), back.end());
  EXPECT_EQ(back, (std::vector<std::string>{"one", "three", "two"}));
}

TEST(DurableFaults, a_failed_write_fail_stops_too) {
  wal::SimVfs vfs(3);
  EnginePtr engine = open_sim(vfs);
  must_declare(engine.get(), "q");
  vfs.fail_write(1, -EIO);
  EXPECT_CORQ_FAILS(CORQ_EFAILED, try_publish(engine.get(), "q", "x"));
  ProducerPtr producer = open_producer(engine.get(), "q");
  const corq_message m = message("y");
  EXPECT_CORQ_FAILS(CORQ_EFAILED, corq_producer_send(producer.get(), &m, 1, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EFAILED, corq_producer_flush(producer.get(), 0));
  char *json = nullptr;
  must(corq_stats_json(engine.get(), &json), "stats");
  EXPECT_NE(std::string(json).find("\"failed\":true"), std::string::npos) << json;
  corq_free(json);
}

TEST(DurableFaults, a_full_disk_stops_publishers_but_not_consumers_and_publishing_resumes) {
  wal::SimVfs vfs(5);
  const Options small = {{"segment_bytes", "1MiB"}};
  EnginePtr engine = open_sim(vfs, small);
  must_declare(engine.get(), "q");
  // Room for what exists now plus a few more segments.
  vfs.set_capacity(vfs.used_bytes() + 6 * 1024 * 1024);
  const std::string body(2000, 'b');
  int accepted = 0;
  int rc = CORQ_OK;
  for (int i = 0; i < 10'000 && rc == CORQ_OK; ++i) {
    rc = try_publish(engine.get(), "q", body);
    if (rc == CORQ_OK) ++accepted;
  }
  ASSERT_EQ(rc, CORQ_ENOSPC) << last_error();
  EXPECT_NE(std::string(corq_last_error()).find("full"), std::string::npos);
  ASSERT_GT(accepted, 0);
  // Consumers and acks keep working on the full disk. Their reserve is the rest of the segment
  // being written (half of it at least, wal/log/log.hpp): each batch is settled with one
  // corq_ack_upto, so the settlements fit it whatever the timing (on this instant simulated disk,
  // acks one by one can each be a group commit of their own, a 4 KiB block each).
  {
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 1024);
    std::size_t settled = 0;
    for (std::vector<corq_delivery> batch; !(batch = consume(consumer.get(), 256, 0)).empty();) {
      must(corq_ack_upto(consumer.get(), batch.back().tag), "ack_upto on a full disk");
      settled += batch.size();
    }
    EXPECT_EQ(settled, static_cast<std::size_t>(accepted));
  }
  must(corq_sync(engine.get(), 10'000), "sync after acks");
  // Checkpoints release the acked segments: publishing resumes.
  bool resumed = false;
  for (int attempt = 0; attempt < 100 && !resumed; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    resumed = try_publish(engine.get(), "q", "again") == CORQ_OK;
  }
  EXPECT_TRUE(resumed) << last_error();
}

TEST(DurableFaults, crashes_keep_every_confirmed_message_and_nothing_else) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    wal::SimVfs vfs(seed);
    std::set<std::string> confirmed;
    std::set<std::string> attempted;
    {
      EnginePtr engine = open_sim(vfs, {{"segment_bytes", "1MiB"}});
      must_declare(engine.get(), "q");
      ProducerPtr producer = open_producer(engine.get(), "q");
      corq_publish_options nowait = publish_options();
      nowait.flags = CORQ_PUBLISH_NOWAIT;
      const int batches = 5 + static_cast<int>(seed % 7);
      for (int b = 0; b < batches; ++b) {
        std::vector<std::string> bodies;
        std::string prefix = "s";
        prefix += std::to_string(b);
        prefix += '-';
        for (int i = 0; i < 20; ++i) bodies.push_back(numbered(prefix, i));
        std::vector<corq_message> batch;
        for (const std::string &body : bodies) batch.push_back(message(body));
        must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr),
             "send");
        attempted.insert(bodies.begin(), bodies.end());
        if (b % 2 == 0) {  // only flushed batches are confirmed
          must(corq_producer_flush(producer.get(), -1), "flush");
          for (const std::string &body : attempted) confirmed.insert(body);
        }
      }
      // The process dies here. Its handles are closed afterwards, but every file and lock of
      // "before the crash" is dead (-EIO): closing cannot write anything any more.
      vfs.crash(seed * 31);
    }
    EnginePtr engine = open_sim(vfs, {{"segment_bytes", "1MiB"}});
    const std::vector<std::string> got = drain_acking(engine.get(), "q");
    const std::set<std::string> recovered(got.begin(), got.end());
    EXPECT_EQ(recovered.size(), got.size()) << "seed " << seed << ": a message came back twice";
    for (const std::string &body : confirmed)
      EXPECT_TRUE(recovered.count(body)) << "seed " << seed << ": lost confirmed " << body;
    for (const std::string &body : recovered)
      EXPECT_TRUE(attempted.count(body)) << "seed " << seed << ": never published " << body;
  }
}

/// One transaction on the C API: publishes `body` to "out", acks `tag` of `consumer` when not
/// null, and commits — after the consumer acked the tag itself when `settle_first` (the commit
/// then fails: CORQ_ESTATE). Returns the commit's code.
int run_txn(corq_engine *engine, const std::string &body, corq_consumer *consumer = nullptr,
            std::uint64_t tag = 0, bool settle_first = false) {
  corq_txn *txn = nullptr;
  must(corq_txn_begin(engine, &txn), "txn_begin");
  const corq_message m = message(body);
  must(corq_txn_publish(txn, "", "out", &m, nullptr), "txn_publish");
  if (consumer != nullptr) must(corq_txn_ack(txn, consumer, tag), "txn_ack");
  if (settle_first) must(corq_ack(consumer, tag), "ack");
  return corq_txn_commit(txn, 5000);
}

std::uint64_t json_number(const std::string &json, const std::string &key) {
  const auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::stoull(json.substr(at + key.size() + 3));
}

// corq_stats_json "transactions_total" after a crash: committed is exact — the last checkpoint's
// count plus the commit records after it — also when checkpoints and compaction ran while
// transactions committed; aborted and failed are what the last checkpoint counted (here the one
// corq_close wrote), as the engine README says.
TEST(DurableFaults, a_crash_keeps_the_committed_transaction_count_exact_through_checkpoints) {
  constexpr int n = 400;
  const Options small = {{"segment_bytes", "1MiB"}};
  wal::SimVfs vfs(9);
  {
    EnginePtr engine = open_sim(vfs, small);
    must_declare(engine.get(), "in");
    must_declare(engine.get(), "out");
    ASSERT_EQ(CORQ_OK, run_txn(engine.get(), "c1"));
    ASSERT_EQ(CORQ_OK, run_txn(engine.get(), "c2"));
    corq_txn *aborted = nullptr;
    must(corq_txn_begin(engine.get(), &aborted), "txn_begin");
    corq_txn_abort(aborted);
    publish(engine.get(), "in", "input");
    ConsumerPtr consumer = open_consumer(engine.get(), "in", 1);
    const corq_delivery d = must_consume_one(consumer.get(), 1000);
    EXPECT_EQ(CORQ_ESTATE, run_txn(engine.get(), "f", consumer.get(), d.tag, true));
  }  // closed cleanly: its checkpoint holds 2 committed, 1 aborted, 1 failed
  {
    EnginePtr engine = open_sim(vfs, small);
    // Big inputs, acked by the transactions; small outputs kept in "out", which pin the sealed
    // segments: checkpoints, and compactions that drop the inputs and the counted commit records.
    ConsumerPtr consumer = open_consumer(engine.get(), "in", 16);
    const std::string input(6000, 'x');
    for (int i = 0; i < n; ++i) {
      publish(engine.get(), "in", input);
      const corq_delivery d = must_consume_one(consumer.get(), 1000);
      ASSERT_EQ(CORQ_OK, run_txn(engine.get(), "o", consumer.get(), d.tag)) << corq_last_error();
      // A checkpoint interval now and then (the last one after everything was logged).
      if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    const std::string json = stats_json(engine.get());
    EXPECT_GT(json_number(json, "checkpoints"), 0u) << "no checkpoint ran: " << json;
    vfs.crash(17);
  }
  EnginePtr engine = open_sim(vfs, small);
  const std::string json = stats_json(engine.get());
  EXPECT_NE(json.find("\"transactions_total\":{\"committed\":" + std::to_string(2 + n) +
                      ",\"failed\":1,\"aborted\":1}"),
            std::string::npos)
      << json;
  EXPECT_EQ(static_cast<std::size_t>(2 + n), drain_acking(engine.get(), "out").size());
}

}  // namespace
}  // namespace corq::test
