// tests/durability/durability_test.cpp — durable queues on real data directories: what survives a
// close and reopen (DESIGN §2 "Durability and recovery"), the sync calls, the directory lock,
// checkpoints that keep the log short, what the directory takes on disk (one segment fresh, two
// after churn), corruption reported with file and offset, and the checkpoint record's transaction
// counters replayed (older checkpoints without them too). Every test runs on both back ends
// (psync and io_uring) where the back end matters.
#include "durability/records.hpp"
#include "durability/recovery.hpp"
#include "durability/stream_records.hpp"
#include "engine/helpers.hpp"

#include "io/vfs.hpp"
#include "support/temp_dir.hpp"

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace corq::test {
namespace {

namespace fs = std::filesystem;

EnginePtr open_durable(const std::string &dir, Options options = {}) {
  ConfigPtr config = make_config(options);
  corq_engine *engine = nullptr;
  must(corq_open(dir.c_str(), config.get(), &engine), "corq_open(" + dir + ")");
  return EnginePtr(engine);
}

std::vector<std::string> wal_files(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".wal") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class Durable : public ::testing::TestWithParam<const char *> {
 protected:
  // Where io_uring cannot be set up (seccomp, kernel.io_uring_disabled, an old kernel, qemu-user,
  // which has no io_uring syscalls), io_backend=io_uring is refused at corq_open with CORQ_EIO
  // (auto falls back to psync): these tests skip there, as the log's own back-end tests do.
  void SetUp() override {
    if (std::string(GetParam()) != "io_uring") return;
    int error = 0;
    if (corq::wal::make_uring_vfs(error) == nullptr) {
      GTEST_SKIP() << "io_uring cannot be set up here: " << std::strerror(-error);
    }
  }
  Options engine_options() const { return {{"io_backend", GetParam()}}; }
  TempDir tmp_;
};

INSTANTIATE_TEST_SUITE_P(Backends, Durable, ::testing::Values("psync", "io_uring"));

/// Tests where the back end does not matter (the default, auto).
class DurableQueue : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_P(Durable, confirmed_publishes_survive_a_reopen_in_order_with_headers) {
  std::uint64_t last_id = 0;
  {
    EnginePtr engine = open_durable(tmp_.data(), engine_options());
    must_declare(engine.get(), "jobs");
    for (int i = 0; i < 100; ++i) {
      const std::string n = std::to_string(i);
      const corq_header h = header("n", n);
      last_id = publish(engine.get(), "jobs", numbered("job-", i), nullptr, {h});
    }
  }
  EnginePtr engine = open_durable(tmp_.data(), engine_options());
  EXPECT_EQ(stats(engine.get(), "jobs").ready, 100u);
  ConsumerPtr consumer = open_consumer(engine.get(), "jobs", 200);
  std::vector<corq_delivery> got = consume(consumer.get(), 200, 0);
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(payload(got[i]), numbered("job-", i));
    EXPECT_EQ(header_value(got[i], "n"), std::to_string(i));
    EXPECT_EQ(got[i].delivery_count, 1u);
  }
  // Ids keep increasing across the reopen.
  EXPECT_GT(publish(engine.get(), "jobs", "after"), last_id);
}

TEST_P(Durable, acked_messages_do_not_come_back_and_unsettled_ones_keep_their_count) {
  {
    EnginePtr engine = open_durable(tmp_.data(), engine_options());
    must_declare(engine.get(), "q");
    for (int i = 0; i < 10; ++i) publish(engine.get(), "q", numbered("m", i));
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 10);
    std::vector<corq_delivery> got = consume(consumer.get(), 10, 0);
    ASSERT_EQ(got.size(), 10u);
    for (int i = 0; i < 5; ++i) must(corq_ack(consumer.get(), got[i].tag), "ack");
    must(corq_sync(engine.get(), -1), "sync");
    // m5..m9 stay in flight: the engine goes away with them unsettled (the consumer is closed
    // after the engine, like a crash).
    EnginePtr doomed = std::move(engine);
    corq_engine *raw = doomed.release();
    corq_close(raw);
    consumer.reset();
  }
  EnginePtr engine = open_durable(tmp_.data(), engine_options());
  ConsumerPtr consumer = open_consumer(engine.get(), "q", 10);
  std::vector<corq_delivery> got = consume(consumer.get(), 10, 0);
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(payload(got[i]), numbered("m", i + 5));
    EXPECT_EQ(got[i].delivery_count, 2u) << "the first delivery was logged";
  }
}

TEST_P(Durable, nowait_publishes_are_confirmed_by_flush_wait_durable_and_sync) {
  EnginePtr engine = open_durable(tmp_.data(), engine_options());
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  std::vector<corq_message> batch;
  for (int i = 0; i < 64; ++i) batch.push_back(message("x"));
  std::uint64_t first = 0;
  must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, &first), "send");
  must(corq_producer_flush(producer.get(), 10'000), "flush");
  std::uint64_t id = 0;
  const corq_message one = message("y");
  must(corq_publish(engine.get(), "q", &one, &nowait, &id), "publish nowait");
  must(corq_wait_durable(engine.get(), id, 10'000), "wait_durable");
  must(corq_sync(engine.get(), 10'000), "sync");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_wait_durable(engine.get(), id + 1000, 0));
}

TEST_P(Durable, a_second_open_of_the_same_directory_is_busy_until_the_first_closes) {
  EnginePtr first = open_durable(tmp_.data(), engine_options());
  corq_engine *second = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EBUSY, corq_open(tmp_.data().c_str(), nullptr, &second));
  EXPECT_EQ(second, nullptr);
  first.reset();
  EnginePtr again = open_durable(tmp_.data(), engine_options());
}

TEST_P(Durable, stats_json_shows_the_log_back_end) {
  EnginePtr engine = open_durable(tmp_.data(), engine_options());
  char *json = nullptr;
  must(corq_stats_json(engine.get(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_NE(text.find(std::string("\"backend\":\"") + GetParam() + "\""), std::string::npos)
      << text;
  EXPECT_TRUE(is_valid_json(text)) << text;
}

/// One round of churn: `batch` sent NOWAIT on `producer`, as many taken from `consumer`, all
/// settled with one corq_ack_upto.
void send_consume_ack(corq_producer *producer, corq_consumer *consumer,
                      const std::vector<corq_message> &batch) {
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  must(corq_producer_send(producer, batch.data(), batch.size(), &nowait, nullptr), "send");
  std::vector<corq_delivery> got = consume(consumer, batch.size(), 5000);
  ASSERT_EQ(got.size(), batch.size());
  must(corq_ack_upto(consumer, got.back().tag), "ack_upto");
}

/// What `dir` and its files take on disk as du counts it: allocated blocks (st_blocks), so a
/// preallocated segment counts whole however little of it is written.
std::uint64_t disk_bytes(const std::string &dir) {
  const auto allocated = [](const std::string &path) -> std::uint64_t {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
  };
  std::uint64_t total = allocated(dir);
  for (const auto &entry : fs::directory_iterator(dir)) total += allocated(entry.path().string());
  return total;
}

/// The allowance for everything on disk but segments (the LOCK file, the directory).
constexpr std::uint64_t footprint_slack_bytes = std::uint64_t{1} << 20;

TEST_P(Durable, a_fresh_directory_with_a_thousand_small_messages_takes_one_segment_on_disk) {
  const std::uint64_t segment_bytes = std::uint64_t{4} << 20;
  Options options = engine_options();
  options.emplace_back("segment_bytes", std::to_string(segment_bytes));
  EnginePtr engine = open_durable(tmp_.data(), options);
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  const std::string body(64, 'f');  // outlives the message that points into it
  const corq_message one = message(body);
  for (int i = 0; i < 1000; ++i) {
    must(corq_producer_send(producer.get(), &one, 1, &nowait, nullptr), "send");
  }
  must(corq_producer_flush(producer.get(), -1), "flush");
  must(corq_sync(engine.get(), -1), "sync");
  EXPECT_LE(disk_bytes(tmp_.data()), segment_bytes + footprint_slack_bytes);
  producer.reset();
  engine.reset();
  EXPECT_LE(disk_bytes(tmp_.data()), segment_bytes + footprint_slack_bytes);
}

TEST_P(Durable, churn_of_many_segments_of_publish_and_ack_ends_within_two_segments_on_disk) {
  const std::uint64_t segment_bytes = std::uint64_t{1} << 20;  // the smallest: many rolls, fast
  Options options = engine_options();
  options.emplace_back("segment_bytes", std::to_string(segment_bytes));
  EnginePtr engine = open_durable(tmp_.data(), options);
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  ConsumerPtr consumer = open_consumer(engine.get(), "q", 256);
  const std::string body(400, 'c');
  const std::vector<corq_message> batch(64, message(body));
  // ~20 MB of records through 1 MiB segments.
  for (int round = 0; round < 640; ++round) {
    ASSERT_NO_FATAL_FAILURE(send_consume_ack(producer.get(), consumer.get(), batch));
  }
  must(corq_producer_flush(producer.get(), -1), "flush");
  must(corq_sync(engine.get(), -1), "sync");
  // Everything is settled: the next checkpoints (every 200 ms) release every sealed segment, and
  // what stays is the segment being written and at most one spare.
  const std::uint64_t bound = 2 * segment_bytes + footprint_slack_bytes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (disk_bytes(tmp_.data()) > bound && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LE(disk_bytes(tmp_.data()), bound);
  consumer.reset();
  producer.reset();
  engine.reset();
  EXPECT_LE(disk_bytes(tmp_.data()), bound);
}

TEST_F(DurableQueue, queues_default_to_durable_on_a_disk_engine_and_transient_ones_are_not_logged) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "durable-by-default");
    must_declare(engine.get(), "scratch", {{"durable", "false"}});
    publish(engine.get(), "durable-by-default", "kept");
    publish(engine.get(), "scratch", "lost");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(drain_acking(engine.get(), "durable-by-default"), std::vector<std::string>{"kept"});
  EXPECT_EQ(declare(engine.get(), "scratch", {{"durable", "false"}}), CORQ_OK)
      << "a transient queue is gone after a restart";
  EXPECT_EQ(stats(engine.get(), "scratch").ready, 0u);
  // The declaration and its options survive: the same options redeclare, others are EEXIST.
  EXPECT_EQ(declare(engine.get(), "durable-by-default"), CORQ_OK);
  EXPECT_EQ(declare(engine.get(), "durable-by-default", {{"max_length", "5"}}), CORQ_EEXIST);
}

TEST_F(DurableQueue, delayed_retries_and_failure_counts_survive_and_lead_to_the_dead_letter_queue) {
  const Options queue = {{"max_attempts", "2"}, {"retry_delay_ms", "0"}};
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "work", queue);
    publish(engine.get(), "work", "poison");
    const corq_publish_options delayed = publish_options(/*delay_ms=*/3'600'000);
    publish(engine.get(), "work", "later", &delayed);
    ConsumerPtr consumer = open_consumer(engine.get(), "work", 1);
    corq_delivery d = must_consume_one(consumer.get());
    must(corq_nack(consumer.get(), d.tag, 0), "nack");  // failed attempt 1 of 2
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "work").delayed, 1u) << "the delayed message keeps its due time";
  ConsumerPtr consumer = open_consumer(engine.get(), "work", 1);
  corq_delivery d = must_consume_one(consumer.get());
  EXPECT_EQ(payload(d), "poison");
  EXPECT_EQ(d.delivery_count, 2u);
  must(corq_nack(consumer.get(), d.tag, 0), "nack");  // attempt 2 of 2: dead-lettered
  consumer.reset();
  must(corq_sync(engine.get(), -1), "sync");
  engine.reset();

  engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "work").ready, 0u);
  ConsumerPtr dlq = open_consumer(engine.get(), "work.dlq", 1);
  corq_delivery dead = must_consume_one(dlq.get());
  EXPECT_EQ(payload(dead), "poison");
  EXPECT_EQ(header_value(dead, "x-death-reason"), "max_attempts");
  EXPECT_EQ(header_value(dead, "x-death-queue"), "work");
  EXPECT_EQ(header_value(dead, "x-death-count"), "1");
  must(corq_release(dlq.get(), dead.tag), "release");
  dlq.reset();
  // Redrive back to the origin; it survives another reopen there, counts reset.
  std::uint64_t moved = 0;
  must(corq_redrive(engine.get(), "work.dlq", nullptr, 0, &moved), "redrive");
  EXPECT_EQ(moved, 1u);
  must(corq_sync(engine.get(), -1), "sync");
  engine.reset();
  engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "work.dlq").ready, 0u);
  ConsumerPtr again = open_consumer(engine.get(), "work", 1);
  corq_delivery back = must_consume_one(again.get());
  EXPECT_EQ(payload(back), "poison");
  EXPECT_EQ(back.delivery_count, 1u);
}

TEST_F(DurableQueue, rejects_purges_and_deletes_are_durable) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "a");
    must_declare(engine.get(), "b");
    must_declare(engine.get(), "c", {{"dead_letter_queue", ""}});
    publish(engine.get(), "a", "to-reject");
    for (int i = 0; i < 10; ++i) publish(engine.get(), "b", "purged");
    publish(engine.get(), "c", "deleted");
    ConsumerPtr consumer = open_consumer(engine.get(), "a", 1);
    corq_delivery d = must_consume_one(consumer.get());
    must(corq_reject(consumer.get(), d.tag, "bad input"), "reject");
    std::uint64_t purged = 0;
    must(corq_queue_purge(engine.get(), "b", &purged), "purge");
    EXPECT_EQ(purged, 10u);
    must(corq_queue_delete(engine.get(), "c"), "delete");
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "a").ready, 0u);
  EXPECT_EQ(stats(engine.get(), "b").ready, 0u);
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(engine.get(), "c", &s));
  ConsumerPtr dlq = open_consumer(engine.get(), "a.dlq", 1);
  corq_delivery dead = must_consume_one(dlq.get());
  EXPECT_EQ(payload(dead), "to-reject");
  EXPECT_EQ(header_value(dead, "x-death-reason"), "rejected");
  EXPECT_EQ(header_value(dead, "x-death-detail"), "bad input");
  // A deleted queue's name is free again, with other options.
  EXPECT_EQ(declare(engine.get(), "c", {{"max_length", "7"}}), CORQ_OK);
  EXPECT_EQ(stats(engine.get(), "c").ready, 0u);
}

TEST_F(DurableQueue, the_dedup_window_survives_a_reopen) {
  std::uint64_t original = 0;
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "q", {{"dedup_window_ms", "600000"}});
    corq_message m = message("once");
    m.dedup_id = "order-42";
    must(corq_publish(engine.get(), "q", &m, nullptr, &original), "publish");
    EXPECT_EQ(drain_acking(engine.get(), "q").size(),
              1u);  // consumed and acked: only the window remains
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  corq_message m = message("again");
  m.dedup_id = "order-42";
  std::uint64_t id = 0;
  must(corq_publish(engine.get(), "q", &m, nullptr, &id), "publish duplicate");
  EXPECT_EQ(id, original);
  EXPECT_EQ(stats(engine.get(), "q").ready, 0u);
}

TEST_F(DurableQueue, checkpoints_keep_the_log_to_a_few_segments_while_messages_come_and_go) {
  const Options small = {{"segment_bytes", "1MiB"}};
  EnginePtr engine = open_durable(tmp_.data(), small);
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  ConsumerPtr consumer = open_consumer(engine.get(), "q", 256);
  const std::string body(200, 'p');
  const std::vector<corq_message> batch(64, message(body));
  std::size_t max_segments = 0;
  // ~25 MB of records through 1 MiB segments: without release that is ~25 segments.
  for (int round = 0; round < 1500; ++round) {
    ASSERT_NO_FATAL_FAILURE(send_consume_ack(producer.get(), consumer.get(), batch));
    if (round % 100 == 99) {
      must(corq_producer_flush(producer.get(), -1), "flush");
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // a checkpoint interval
      max_segments = std::max(max_segments, wal_files(tmp_.data()).size());
    }
  }
  EXPECT_LE(max_segments, 4u);
  consumer.reset();
  producer.reset();
  engine.reset();
  const auto start = std::chrono::steady_clock::now();
  engine = open_durable(tmp_.data(), small);
  const auto reopen = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(stats(engine.get(), "q").ready, 0u);
  EXPECT_LT(reopen, std::chrono::seconds(2));
}

// A dead letter moved between durable queues carries its place in the log with it: once it is
// acked in the dead-letter queue, nothing of it stays live in the ledger (before the fix the
// moved copy lost the original's pin, which then stayed counted forever: its segment could never
// be released, and compaction kept its records).
TEST_F(DurableQueue, a_dead_letter_acked_in_its_dead_letter_queue_leaves_the_log_ledger) {
  EnginePtr engine = open_durable(tmp_.data());
  must_declare(engine.get(), "q");
  const std::uint64_t id = publish(engine.get(), "q", "poison");
  {
    ConsumerPtr c = open_consumer(engine.get(), "q");
    must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
  }
  EXPECT_EQ(testing::log_id_live(engine.get(), id), 1) << "in q.dlq: still live";
  EXPECT_EQ(drain_acking(engine.get(), "q.dlq"), std::vector<std::string>{"poison"});
  EXPECT_EQ(testing::log_id_live(engine.get(), id), 0) << "acked: its pin must be gone";
}

TEST_F(DurableQueue, a_live_message_in_an_old_segment_keeps_its_segment_and_survives_checkpoints) {
  const Options small = {{"segment_bytes", "1MiB"}};
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare(engine.get(), "keep");
    must_declare(engine.get(), "churn");
    publish(engine.get(), "keep", "the one that stays");
    const std::string body(1000, 'c');
    corq_publish_options nowait = publish_options();
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    for (int i = 0; i < 4000; ++i) publish(engine.get(), "churn", body, &nowait);
    EXPECT_EQ(drain_acking(engine.get(), "churn").size(), 4000u);
    must(corq_sync(engine.get(), -1), "sync");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EnginePtr engine = open_durable(tmp_.data(), small);
  EXPECT_EQ(drain_acking(engine.get(), "keep"), std::vector<std::string>{"the one that stays"});
  EXPECT_EQ(stats(engine.get(), "churn").ready, 0u);
}

// A compaction that asked the ledger record by record kept a dead letter's publish record (seen
// live), then met its dead_letter record after the dead letter had been acked (seen settled) and
// dropped it: recovered, the message came back in the queue it had left (the conservation test
// found it under TSan, 1 run in 8). The hook acks the dead letter right at that moment.
TEST_F(DurableQueue, a_dead_letter_acked_while_a_compaction_scans_its_records_stays_acked) {
  const Options small = {{"segment_bytes", "1MiB"}};
  struct Hook {
    corq_consumer *consumer;
    std::uint64_t tag;
    std::atomic<int> acked{1};  // the ack's code; 1: not yet
  };
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare(engine.get(), "q");
    must_declare(engine.get(), "churn");
    publish(engine.get(), "q", "dead letter");
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 1);
    must(corq_reject(consumer.get(), must_consume_one(consumer.get()).tag, "poison"), "reject");
    ConsumerPtr dlq = open_consumer(engine.get(), "q.dlq", 1);
    Hook hook{dlq.get(), must_consume_one(dlq.get()).tag};
    testing::set_compaction_hook(
        [](void *arg) {
          auto *h = static_cast<Hook *>(arg);
          h->acked = corq_ack(h->consumer, h->tag);
        },
        &hook);
    ProducerPtr producer = open_producer(engine.get(), "churn");
    ConsumerPtr churn = open_consumer(engine.get(), "churn", 256);
    corq_publish_options nowait = publish_options();
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    const std::string body(200, 'p');  // outlives the messages that point into it
    std::vector<corq_message> batch(64, message(body));
    // Segments roll, checkpoints follow, and the first compaction (from the log's first segment,
    // which holds both records of the dead letter) runs the hook.
    for (int round = 0; round < 3000 && hook.acked == 1; ++round) {
      must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr),
           "send");
      std::vector<corq_delivery> got = consume(churn.get(), 64, 1000);
      ASSERT_EQ(got.size(), 64u);
      must(corq_ack_upto(churn.get(), got.back().tag), "ack_upto");
      if (round % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    testing::set_compaction_hook(nullptr, nullptr);
    ASSERT_EQ(hook.acked.load(), CORQ_OK) << "no compaction met the dead letter";
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data(), small);
  EXPECT_EQ(stats(engine.get(), "q").ready, 0u) << "the dead letter came back in its queue";
  EXPECT_EQ(stats(engine.get(), "q.dlq").ready, 0u);
}

// Messages that stay (a backlog, a dead letter, a delivery held by a slow consumer) pin their
// segments: compaction rewrites the old segments keeping only their records, so the log stays a
// few segments long while the rest of the traffic comes and goes, and a reopen finds each of them
// with its headers, delivery count and dead-letter move.
TEST_F(DurableQueue, messages_that_stay_do_not_keep_the_log_growing) {
  const Options small = {{"segment_bytes", "1MiB"}};
  std::uint64_t compactions = 0;
  std::size_t max_files = 0;
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare(engine.get(), "keep", {{"max_attempts", "0"}});
    must_declare(engine.get(), "churn");
    publish(engine.get(), "keep", "backlog", nullptr, {header("h", "v1")});
    publish(engine.get(), "keep", "delivered twice");
    publish(engine.get(), "keep", "dead letter");
    {
      ConsumerPtr consumer = open_consumer(engine.get(), "keep", 16);
      const std::vector<corq_delivery> got = consume(consumer.get(), 3, 1000);
      ASSERT_EQ(got.size(), 3u);
      must(corq_release(consumer.get(), got[0].tag), "release");
      must(corq_release(consumer.get(), got[1].tag), "release");
      must(corq_reject(consumer.get(), got[2].tag, "poison"), "reject");
      const std::vector<corq_delivery> again = consume(consumer.get(), 2, 1000);
      ASSERT_EQ(again.size(), 2u);
      must(corq_release(consumer.get(), again[0].tag), "release");
      // again[1] ("delivered twice") stays in flight until the consumer closes.
    }
    ProducerPtr producer = open_producer(engine.get(), "churn");
    ConsumerPtr consumer = open_consumer(engine.get(), "churn", 256);
    corq_publish_options nowait = publish_options();
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    const std::string body(200, 'p');
    std::vector<corq_message> batch(64, message(body));
    // ~25 MB of records through 1 MiB segments; the three messages above are in the first one.
    for (int round = 0; round < 1500; ++round) {
      must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr),
           "send");
      std::vector<corq_delivery> got = consume(consumer.get(), 64, 1000);
      ASSERT_EQ(got.size(), 64u);
      must(corq_ack_upto(consumer.get(), got.back().tag), "ack_upto");
      if (round % 100 == 99) {
        must(corq_producer_flush(producer.get(), -1), "flush");
        std::this_thread::sleep_for(std::chrono::milliseconds(250));  // a checkpoint interval
        max_files = std::max(max_files, wal_files(tmp_.data()).size());
      }
    }
    char *json = nullptr;
    must(corq_stats_json(engine.get(), &json), "stats_json");
    const std::string text = json;
    corq_free(json);
    const std::size_t at = text.find("\"compactions\":");
    ASSERT_NE(at, std::string::npos) << text;
    compactions = std::strtoull(text.c_str() + at + 14, nullptr, 10);
  }
  EXPECT_GE(compactions, 1u);
  EXPECT_LE(max_files, 6u) << "without compaction the log would hold ~25 segments";
  std::uint64_t bytes = 0;
  for (const std::string &name : wal_files(tmp_.data()))
    bytes += fs::file_size(tmp_.data() + "/" + name);
  EXPECT_LE(bytes, 6u << 20);

  EnginePtr engine = open_durable(tmp_.data(), small);
  EXPECT_EQ(stats(engine.get(), "churn").ready, 0u);
  ConsumerPtr consumer = open_consumer(engine.get(), "keep", 16);
  std::vector<corq_delivery> got = consume(consumer.get(), 2, 1000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(payload(got[0]), "backlog");
  EXPECT_EQ(header_value(got[0], "h"), "v1");
  EXPECT_EQ(got[0].delivery_count, 3u);  // two deliveries before the reopen, this one
  EXPECT_EQ(payload(got[1]), "delivered twice");
  EXPECT_EQ(got[1].delivery_count, 3u);
  ConsumerPtr dead = open_consumer(engine.get(), "keep.dlq", 16);
  got = consume(dead.get(), 2, 1000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(payload(got[0]), "dead letter");
  EXPECT_EQ(header_value(got[0], "x-death-reason"), "rejected");
  EXPECT_EQ(header_value(got[0], "x-death-detail"), "poison");
}

TEST_F(DurableQueue, a_flipped_bit_in_a_sealed_segment_is_corruption_with_file_and_offset) {
  const Options small = {{"segment_bytes", "1MiB"}};
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare(engine.get(), "q");
    const std::string body(1000, 'z');
    corq_publish_options nowait = publish_options();
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    for (int i = 0; i < 3000; ++i) publish(engine.get(), "q", body, &nowait);  // 3 segments, live
    must(corq_sync(engine.get(), -1), "sync");
  }
  const std::vector<std::string> files = wal_files(tmp_.data());
  ASSERT_GE(files.size(), 3u);
  const std::string victim = tmp_.data() + "/" + files[0];
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);  // inside the first frame, after the segment header block
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(4096 + 100);
    f.write(&c, 1);
  }
  corq_engine *engine = nullptr;
  EXPECT_CORQ_FAILS(CORQ_ECORRUPT, corq_open(tmp_.data().c_str(), nullptr, &engine));
  EXPECT_EQ(engine, nullptr);
  const std::string detail = corq_last_error();
  EXPECT_NE(detail.find(files[0]), std::string::npos) << detail;
  EXPECT_NE(detail.find("offset"), std::string::npos) << detail;
}

// The checkpoint record's transaction counters (engine/durability/records.hpp), replayed: a
// checkpoint written before they existed (ending after next_qid, next_xid or next_sid) still
// recovers, the counters unknown; with them, the last checkpoint's counts plus the txn_commit
// records after the LSN it counted through — some of which come before its own record.
struct TxnCounterReplay {
  /// A checkpoint record cut to `bytes` (12, 16, 20: older formats; 52: with the counters).
  void checkpoint(std::size_t bytes, std::uint64_t committed = 0, std::uint64_t aborted = 0,
                  std::uint64_t failed = 0, std::uint64_t through = 0) {
    std::vector<std::byte> payload;
    core::records::Writer w(payload);
    w.u64(7);  // next_message_id
    w.u32(3);  // next_qid
    w.u32(2);  // next_xid
    w.u32(4);  // next_sid
    w.u64(committed);
    w.u64(aborted);
    w.u64(failed);
    w.u64(through);
    payload.resize(bytes);
    apply(core::records::checkpoint, payload);
  }
  void commit(std::uint64_t txn_id = 0) {
    std::vector<std::byte> payload;
    core::records::Writer(payload).u64(txn_id);
    apply(core::records::txn_commit, payload);
  }
  void apply(std::uint8_t type, const std::vector<std::byte> &payload) {
    ASSERT_EQ(0, state.apply(wal::RecoveredRecord{++lsn, type, payload})) << state.error;
  }
  core::RecoveredState state;
  wal::Lsn lsn = 0;
};

TEST(TxnCounters, checkpoints_from_before_the_counters_recover_with_them_unknown) {
  for (const std::size_t bytes : {12u, 16u, 20u}) {
    SCOPED_TRACE(bytes);
    TxnCounterReplay log;
    log.commit();
    log.checkpoint(bytes);
    log.commit(9);
    const core::RecoveredState &s = log.state;
    EXPECT_FALSE(s.txn_counters.from_checkpoint);
    EXPECT_EQ(2u, s.txn_counters.committed_total()) << "the commit records the log holds";
    EXPECT_EQ(0u, s.txn_counters.aborted);
    EXPECT_EQ(0u, s.txn_counters.failed);
    EXPECT_EQ(10u, s.next_message_id);  // past the transaction id, as txn_append
    EXPECT_EQ(3u, s.next_qid);
    EXPECT_EQ(bytes >= 16 ? 2u : 1u, s.next_xid);
    EXPECT_EQ(bytes >= 20 ? 4u : 1u, s.next_sid);
  }
}

TEST(TxnCounters, the_last_checkpoints_counts_plus_the_commit_records_it_did_not_count) {
  TxnCounterReplay log;
  const core::RecoveredTxnCounters &t = log.state.txn_counters;
  log.commit();  // LSN 1
  log.commit();  // LSN 2
  log.commit();  // LSN 3: logged after the checkpoint read its count, before its record
  log.checkpoint(52, 10, 4, 2, 2);
  EXPECT_TRUE(t.from_checkpoint);
  EXPECT_EQ(11u, t.committed_total());
  EXPECT_EQ(4u, t.aborted);
  EXPECT_EQ(2u, t.failed);
  log.commit();  // LSN 5
  EXPECT_EQ(12u, t.committed_total());
  log.checkpoint(52, 12, 5, 3, 5);  // counted everything: nothing after it
  EXPECT_EQ(12u, t.committed_total());
  EXPECT_TRUE(t.commits_after.empty());
  EXPECT_EQ(5u, t.aborted);
  EXPECT_EQ(3u, t.failed);
}

/// Group progress records replayed in log order, as recovery meets them.
struct GroupReplay {
  GroupReplay() {
    std::vector<std::byte> payload;
    core::records::encode_group_declare(payload, 1, "g", core::GroupOptions{});
    apply(core::records::declare_group, payload);
  }
  void progress(core::records::Progress kind, std::uint64_t a, std::uint64_t b,
                std::optional<std::uint64_t> generation = std::nullopt) {
    std::vector<std::byte> payload;
    core::records::encode_group_progress(payload, 1, "g", kind, 0, a, b,
                                         generation ? &*generation : nullptr);
    apply(core::records::group_progress, payload);
  }
  void apply(std::uint8_t type, const std::vector<std::byte> &payload) {
    ASSERT_EQ(0, state.apply(wal::RecoveredRecord{++lsn, type, payload})) << state.error;
  }
  const core::RecoveredGroupPartition &partition() {
    return state.groups.at({1, "g"}).partitions[0];
  }
  core::RecoveredState state;
  wal::Lsn lsn = 0;
};

// A checkpoint copies a group, an ack is logged, then the checkpoint's batch with the copy: the
// ack comes first in the log. When that checkpoint released the reset that began the group's
// generation, recovery met the ack at generation 0 and the copy's generation 1 then replaced it
// as the base: the durable ack was undone (the SIGKILL test, seed 6606). A settle names its
// generation now.
TEST(GroupProgressReplay,
     an_ack_logged_after_a_copy_whose_generation_began_in_released_segments_stays) {
  using core::records::Progress;
  GroupReplay log;
  log.progress(Progress::settle, 183, 184, 1);         // offset 183 acked in generation 1
  log.progress(Progress::snapshot_committed, 183, 1);  // the copy, taken just before the ack
  EXPECT_EQ(log.partition().generation, 1u);
  EXPECT_EQ(log.partition().committed, 184u);
}

TEST(GroupProgressReplay, a_transactions_group_ack_logged_after_such_a_copy_stays_too) {
  using core::records::Progress;
  GroupReplay log;
  log.progress(Progress::snapshot_settled, 185, 1);  // a transaction's ack of 185, generation 1
  log.progress(Progress::snapshot_committed, 183, 1);
  EXPECT_EQ(log.partition().committed, 183u);
  EXPECT_EQ(log.partition().settled, (std::set<std::uint64_t>{185}));
}

TEST(GroupProgressReplay, a_settle_of_a_generation_a_seek_ended_is_ignored) {
  using core::records::Progress;
  GroupReplay log;
  log.progress(Progress::reset, 10, 1);
  log.progress(Progress::reset, 3, 2);        // a seek back to 3
  log.progress(Progress::settle, 10, 11, 1);  // of generation 1: void
  EXPECT_EQ(log.partition().committed, 3u);
  EXPECT_TRUE(log.partition().settled.empty());
  log.progress(Progress::settle, 3, 4, 2);
  log.progress(Progress::settle, 5, 4);  // a log from before settles named generations
  EXPECT_EQ(log.partition().committed, 4u);
  EXPECT_EQ(log.partition().settled, (std::set<std::uint64_t>{5}));
}

}  // namespace
}  // namespace corq::test
