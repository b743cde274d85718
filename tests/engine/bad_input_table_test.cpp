// tests/engine/bad_input_table_test.cpp — the "Bad input" table of tests/README.md, row by row:
// for each kind of bad input, the code corq returns, what its detail message says, and the state
// it leaves. Rows that other suites already prove (full disk, failed flush: tests/durability/
// durability_fault_test.cpp) are named in the table; the others are proven here. The durable rows
// run on a wal::SimVfs (no real I/O, deterministic).
#include "engine/helpers.hpp"

#include <io/sim_vfs.hpp>
#include <log/scanner.hpp>

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace corq::test {
namespace {

/// The calling thread's detail message contains `fragment`.
::testing::AssertionResult detail_says(std::string_view fragment) {
  const std::string detail = corq_last_error();
  if (detail.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "detail '" << detail << "' lacks '" << fragment << "'";
}

TEST(BadInputTable, null_handle_is_einval_saying_which_argument_and_touches_nothing) {
  EnginePtr engine = open_engine();
  must_declare(engine.get(), "jobs");
  const std::string before = stats_json(engine.get());
  const corq_message m = message("x");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(nullptr, "jobs", &m, nullptr, nullptr));
  EXPECT_TRUE(detail_says("engine is NULL"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(engine.get(), "jobs", nullptr, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_ack(nullptr, 1));
  EXPECT_TRUE(detail_says("consumer is NULL"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consume(nullptr, nullptr, 1, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(nullptr, &m, 1, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(nullptr, "lease_ms", "1"));
  EXPECT_TRUE(detail_says("config is NULL"));
  EXPECT_EQ(stats_json(engine.get()), before);
}

TEST(BadInputTable, bad_queue_name_is_einval_naming_the_offset_and_declares_nothing) {
  EnginePtr engine = open_engine();
  const std::string before = stats_json(engine.get());
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(engine.get(), "bad name"));
  EXPECT_TRUE(detail_says("outside [A-Za-z0-9._:-] at offset 3"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(engine.get(), std::string(201, 'q')));
  EXPECT_TRUE(detail_says("1-200 bytes, got 201"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(engine.get(), ""));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_publish(engine.get(), "bad/name", "x"));
  EXPECT_EQ(stats_json(engine.get()), before);  // no queue, no dead-letter queue
}

TEST(BadInputTable, unknown_key_is_einval_naming_it_and_the_config_keeps_the_rest) {
  ConfigPtr config = make_config({{"max_length", "7"}});
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(config.get(), "max_lenght", "8"));
  EXPECT_TRUE(detail_says("unknown option 'max_lenght'"));
  EnginePtr engine = open_engine();
  EXPECT_CORQ_OK(corq_queue_declare(engine.get(), "jobs", config.get()));
  EXPECT_NE(stats_json(engine.get()).find("\"max_length\":7"), std::string::npos)
      << stats_json(engine.get());
  // A queue key given to corq_open is unknown there.
  ConfigPtr engine_config = make_config({{"lease_ms", "5"}});
  corq_engine *other = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_open(nullptr, engine_config.get(), &other));
  EXPECT_TRUE(detail_says("'lease_ms' is a queue option"));
  EXPECT_EQ(other, nullptr);
}

TEST(BadInputTable, bad_value_is_einval_naming_key_value_and_range_and_changes_nothing) {
  EnginePtr engine = open_engine();
  const std::string before = stats_json(engine.get());
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(engine.get(), "jobs", {{"max_length", "0"}}));
  EXPECT_TRUE(detail_says("option 'max_length': bad value '0' (expected an integer in [1,"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(engine.get(), "jobs", {{"overflow", "drop"}}));
  EXPECT_TRUE(detail_says("'overflow'"));
  EXPECT_EQ(stats_json(engine.get()), before);
  corq_engine *other = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_open({{"segment_bytes", "1KiB"}}, &other));
  EXPECT_TRUE(detail_says("option 'segment_bytes': bad value '1KiB'"));
  EXPECT_EQ(other, nullptr);
}

TEST(BadInputTable, a_value_that_can_never_be_valid_is_refused_by_config_set_and_not_stored) {
  ConfigPtr config(corq_config_new());
  ASSERT_NE(config, nullptr);
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(config.get(), "max_length", "lots"));
  EXPECT_TRUE(detail_says("corq_config_set: option 'max_length': bad value 'lots'"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(config.get(), "segment_bytes", "1KiB"));
  EXPECT_TRUE(detail_says("corq_config_set: option 'segment_bytes': bad value '1KiB'"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(config.get(), "overflow", "drop"));
  EXPECT_TRUE(detail_says("'overflow'"));
  // Refused values are not stored: the config still declares a queue with the defaults.
  EnginePtr engine = open_engine();
  EXPECT_CORQ_OK(corq_queue_declare(engine.get(), "jobs", config.get()));
  EXPECT_CORQ_OK(corq_queue_declare(engine.get(), "jobs", nullptr));  // same options: defaults
  // A good value replaces a stored one; a refused one leaves it as it was.
  EXPECT_CORQ_OK(corq_config_set(config.get(), "max_length", "5"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(config.get(), "max_length", "-5"));
  EXPECT_CORQ_OK(corq_queue_declare(engine.get(), "five", config.get()));
  const std::string json = stats_json(engine.get());
  EXPECT_NE(json.find("\"max_length\":5"), std::string::npos) << json;
}

TEST(BadInputTable, checks_of_two_keys_together_still_happen_at_use) {
  // Each value is fine alone; together they are not: only corq_queue_declare can tell.
  ConfigPtr config = make_config({{"retry_delay_ms", "500"}, {"retry_delay_max_ms", "100"}});
  EnginePtr engine = open_engine();
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare(engine.get(), "jobs", config.get()));
  EXPECT_TRUE(detail_says("'retry_delay_max_ms' (100) is below 'retry_delay_ms' (500)"));
}

TEST(BadInputTable, oversize_message_is_etoobig_and_its_batch_is_not_published) {
  EnginePtr engine = open_engine({{"max_message_bytes", "1KiB"}});
  must_declare(engine.get(), "jobs");
  EXPECT_CORQ_FAILS(CORQ_ETOOBIG, try_publish(engine.get(), "jobs", std::string(1025, 'x')));
  EXPECT_TRUE(detail_says("exceeds max_message_bytes"));
  ProducerPtr producer = open_producer(engine.get(), "jobs");
  const std::string big(1025, 'y');
  const std::vector<corq_message> batch = {message("fits"), message(big)};
  EXPECT_CORQ_FAILS(CORQ_ETOOBIG,
                    corq_producer_send(producer.get(), batch.data(), 2, nullptr, nullptr));
  EXPECT_TRUE(detail_says("message 1 of the batch"));
  EXPECT_EQ(stats(engine.get(), "jobs").ready, 0u);
  EXPECT_EQ(stats(engine.get(), "jobs").published, 0u);
}

TEST(BadInputTable, wrong_tag_is_estate_and_the_delivery_stays_held) {
  EnginePtr engine = open_engine();
  must_declare(engine.get(), "jobs");
  publish(engine.get(), "jobs", "held");
  ConsumerPtr consumer = open_consumer(engine.get(), "jobs", 4);
  const corq_delivery d = must_consume_one(consumer.get());
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(consumer.get(), d.tag + 1));
  EXPECT_TRUE(detail_says("is not an unsettled delivery of this consumer"));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(consumer.get(), 0, 0));
  EXPECT_EQ(stats(engine.get(), "jobs").in_flight, 1u);
  EXPECT_EQ(payload(d), "held");  // its data is still readable
  EXPECT_CORQ_OK(corq_ack(consumer.get(), d.tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(consumer.get(), d.tag));  // settled twice
  EXPECT_TRUE(detail_says("is not an unsettled delivery of this consumer"));
  EXPECT_EQ(stats(engine.get(), "jobs").acked, 1u);
}

TEST(BadInputTable, closed_consumer_is_eclosed_after_engine_close_and_enoent_after_delete) {
  corq_engine *engine = nullptr;
  must(corq_open(nullptr, nullptr, &engine), "open");
  must_declare(engine, "jobs");
  must_declare(engine, "gone");
  publish(engine, "jobs", "in flight");
  publish(engine, "gone", "in flight too");
  ConsumerPtr consumer = open_consumer(engine, "jobs", 4);
  ConsumerPtr orphan = open_consumer(engine, "gone", 4);
  ProducerPtr producer = open_producer(engine, "jobs");
  const corq_delivery d = must_consume_one(consumer.get());
  const corq_delivery o = must_consume_one(orphan.get());
  // Its queue deleted: consuming says so; what it holds can still be read and settled.
  must(corq_queue_delete(engine, "gone"), "delete");
  corq_delivery out[2];
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_consume(orphan.get(), out, 2, 0));
  EXPECT_TRUE(detail_says("queue 'gone' was deleted"));
  EXPECT_EQ(payload(o), "in flight too");
  EXPECT_CORQ_OK(corq_ack(orphan.get(), o.tag));
  // Woken up: consuming ends, settling would still work.
  ConsumerPtr woken = open_consumer(engine, "jobs", 1);
  must(corq_consumer_wakeup(woken.get()), "wakeup");
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(woken.get(), out, 2, 0));
  EXPECT_TRUE(detail_says("consumer was woken up (corq_consumer_wakeup)"));
  // Its engine closed: every call but close answers CORQ_ECLOSED; close still frees the handle.
  must(corq_close(engine), "close");
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(consumer.get(), out, 2, 0));
  EXPECT_TRUE(detail_says("the engine is closed"));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_ack(consumer.get(), d.tag));
  EXPECT_TRUE(detail_says("corq_ack: the engine is closed"));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_extend(consumer.get(), d.tag, 1000));
  const corq_message m = message("late");
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_producer_send(producer.get(), &m, 1, nullptr, nullptr));
  EXPECT_CORQ_OK(corq_consumer_close(consumer.release()));
  EXPECT_CORQ_OK(corq_consumer_close(orphan.release()));
}

// Found by fuzz_capi: "redrive everything" from a queue into itself took the same messages again
// and again (seconds to forever). "All" is what was ready when the call started, each moved once.
TEST(BadInputTable, redrive_of_a_queue_into_itself_moves_each_ready_message_once) {
  EnginePtr engine = open_engine();
  must_declare(engine.get(), "loop");
  for (int i = 0; i < 3; ++i) publish(engine.get(), "loop", numbered("m", i));
  std::uint64_t moved = 0;
  EXPECT_CORQ_OK(corq_redrive(engine.get(), "loop", "loop", 0, &moved));
  EXPECT_EQ(moved, 3u);
  EXPECT_EQ(stats(engine.get(), "loop").ready, 3u);
  // Redriven messages keep x-death-queue: redriving their queue "to the origin" is into itself.
  {
    ConsumerPtr consumer = open_consumer(engine.get(), "loop", 3);
    for (const corq_delivery &d : consume(consumer.get(), 3))
      must(corq_reject(consumer.get(), d.tag, nullptr), "reject");
  }
  EXPECT_CORQ_OK(corq_redrive(engine.get(), "loop.dlq", nullptr, 0, &moved));
  EXPECT_EQ(moved, 3u);
  EXPECT_CORQ_OK(corq_redrive(engine.get(), "loop", nullptr, 0, &moved));
  EXPECT_EQ(moved, 3u);
  EXPECT_EQ(stats(engine.get(), "loop").ready, 3u);
}

// ---- durable rows, on a simulated disk ----------------------------------------------------------

constexpr const char *data_dir = "/data";

int open_sim(wal::SimVfs &vfs, corq_engine **out) {
  ConfigPtr config = make_config({{"segment_bytes", "1MiB"}});
  return corq::testing::open_on_vfs(data_dir, config.get(), &vfs, out);
}

/// open_sim that must succeed, with the queue "q" declared: the engine whose files a test
/// then damages or locks.
EnginePtr open_sim_with_queue(wal::SimVfs &vfs) {
  corq_engine *raw = nullptr;
  must(open_sim(vfs, &raw), "open");
  EnginePtr engine(raw);
  must_declare(engine.get(), "q");
  return engine;
}

TEST(BadInputTable, corrupt_segment_is_ecorrupt_naming_file_and_offset_and_leaves_it_untouched) {
  wal::SimVfs vfs(1);
  {
    EnginePtr engine = open_sim_with_queue(vfs);
    for (int i = 0; i < 3; ++i) publish(engine.get(), "q", numbered("m", i));  // one frame each
  }
  const std::string file = std::string(data_dir) + "/" + wal::segment_file_name(1);
  // Block 1 holds the first frame (the declaration); later frames stay valid after it.
  ASSERT_EQ(vfs.flip_bit(file, wal::block_bytes + 40, 3), 0);
  std::vector<std::byte> before;
  ASSERT_EQ(vfs.contents(file, before), 0);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the same answer every time
    corq_engine *engine = nullptr;
    EXPECT_CORQ_FAILS(CORQ_ECORRUPT, open_sim(vfs, &engine));
    EXPECT_TRUE(detail_says(wal::segment_file_name(1)));
    EXPECT_TRUE(detail_says("offset 4096"));
    EXPECT_EQ(engine, nullptr);
  }
  std::vector<std::byte> after;
  ASSERT_EQ(vfs.contents(file, after), 0);
  EXPECT_TRUE(before == after) << "a failed open changed the segment";
}

TEST(BadInputTable, locked_directory_is_ebusy_and_the_first_engine_keeps_working) {
  wal::SimVfs vfs(1);
  EnginePtr first = open_sim_with_queue(vfs);
  corq_engine *second = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EBUSY, open_sim(vfs, &second));
  EXPECT_TRUE(detail_says("is in use by another process (its LOCK file is locked)"));
  EXPECT_EQ(second, nullptr);
  publish(first.get(), "q", "still works");
  EXPECT_EQ(drain_acking(first.get(), "q"), std::vector<std::string>{"still works"});
}

}  // namespace
}  // namespace corq::test
