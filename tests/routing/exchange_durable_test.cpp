// tests/routing/exchange_durable_test.cpp — fan-out into durable queues (DESIGN.md §6
// "Durability", and the atomic publish): one publish_fanout record puts the message in every
// durable target; after a reopen each queue has its copy (same id, same headers) until that queue
// settles it, whatever the other queues did; the log keeps the record while any copy lives, even
// through compaction.
#include "routing/exchange_helpers.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <thread>

namespace corq::test {
namespace {

EnginePtr open_durable(const std::string &dir, const Options &options = {}) {
  ConfigPtr config = make_config(options);
  corq_engine *engine = nullptr;
  must(corq_open(dir.c_str(), config.get(), &engine), "corq_open(" + dir + ")");
  return EnginePtr(engine);
}

/// Queues a and b (durable), t (transient), a fanout exchange "x" bound to all three.
void fan_out_topology(corq_engine *e) {
  must_declare(e, "a");
  must_declare(e, "b");
  must_declare(e, "t", {{"durable", "false"}});
  must_declare_exchange(e, "x", "fanout");
  for (const char *q : {"a", "b", "t"}) must_bind(e, "x", q, "");
}

/// Declares a and b again after a reopen (durable: they come back with their messages).
std::optional<corq_delivery> first_in(corq_engine *e, const std::string &queue,
                                      ConsumerPtr &consumer) {
  consumer = open_consumer(e, queue, 16);
  return consume_one(consumer.get(), 0);
}

/// ~25 MB of publish + ack through queue "churn" (declared here), in 1 MiB segments, pausing for
/// checkpoints: what makes the log compact the segments behind it. Returns the compactions so far.
std::uint64_t churn_until_compacted(corq_engine *engine) {
  must_declare(engine, "churn");
  ProducerPtr producer = open_producer(engine, "churn");
  ConsumerPtr consumer = open_consumer(engine, "churn", 256);
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  const std::string body(200, 'p');
  std::vector<corq_message> batch(64, message(body));
  for (int round = 0; round < 1500; ++round) {
    must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr), "send");
    std::vector<corq_delivery> got = consume(consumer.get(), 64, 1000);
    if (got.size() != 64u) throw std::runtime_error("churn: a batch did not come back whole");
    must(corq_ack_upto(consumer.get(), got.back().tag), "ack_upto");
    if (round % 100 == 99) {
      must(corq_producer_flush(producer.get(), -1), "flush");
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // a checkpoint interval
    }
  }
  char *json = nullptr;
  must(corq_stats_json(engine, &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  const std::size_t at = text.find("\"compactions\":");
  if (at == std::string::npos) throw std::runtime_error("no compactions in " + text);
  return std::strtoull(text.c_str() + at + 14, nullptr, 10);
}

class DurableFanout : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(DurableFanout, every_durable_target_has_the_message_after_a_reopen) {
  std::uint64_t id = 0;
  {
    EnginePtr engine = open_durable(tmp_.data());
    fan_out_topology(engine.get());
    std::uint32_t routed = 0;
    EXPECT_CORQ_OK(try_xpublish(engine.get(), "x", "k", "order-1", &routed, nullptr,
                                {header("h", "v")}, nullptr, &id));
    EXPECT_EQ(routed, 3u);
  }
  EnginePtr engine = open_durable(tmp_.data());
  for (const char *q : {"a", "b"}) {
    ConsumerPtr consumer;
    const std::optional<corq_delivery> d = first_in(engine.get(), q, consumer);
    ASSERT_TRUE(d.has_value()) << q;
    EXPECT_EQ(payload(*d), "order-1") << q;
    EXPECT_EQ(d->message_id, id) << q;
    EXPECT_EQ(header_value(*d, "h"), "v") << q;
    EXPECT_EQ(header_value(*d, "x-exchange"), "x") << q;
    EXPECT_EQ(header_value(*d, "x-routing-key"), "k") << q;
  }
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_delete(engine.get(), "t"));  // transient: gone
}

TEST_F(DurableFanout, a_copy_settled_in_one_queue_stays_in_the_others_after_a_reopen) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    fan_out_topology(engine.get());
    EXPECT_EQ(xpublish(engine.get(), "x", "", "m"), 3u);
    EXPECT_EQ(drain_acking(engine.get(), "a"), std::vector<std::string>{"m"});
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "a").ready, 0u);
  EXPECT_EQ(drain_acking(engine.get(), "b"), std::vector<std::string>{"m"});
}

TEST_F(DurableFanout, a_dead_lettered_copy_and_the_other_copy_both_survive_a_reopen) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    fan_out_topology(engine.get());
    EXPECT_EQ(xpublish(engine.get(), "x", "", "m"), 3u);
    ConsumerPtr consumer = open_consumer(engine.get(), "a");
    const corq_delivery d = must_consume_one(consumer.get());
    must(corq_reject(consumer.get(), d.tag, "poison"), "reject");
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "a").ready, 0u);
  ConsumerPtr consumer;
  const std::optional<corq_delivery> dead = first_in(engine.get(), "a.dlq", consumer);
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(header_value(*dead, "x-death-reason"), "rejected");
  EXPECT_EQ(drain_acking(engine.get(), "b"), std::vector<std::string>{"m"});
}

// Found with corq-sim's fan-out model in mind: copies share their message id, and recovery keys
// messages by (queue id, message id). A copy dead-lettered into a queue that holds another copy of
// the same message (here a's own dead-letter queue is bound to the exchange too; a queue whose
// dead_letter_queue is another target, or a redrive back into a target, does the same) makes two
// messages with one key: before the reopen a.dlq holds both, after it one.
TEST_F(DurableFanout, a_copy_dead_lettered_next_to_another_copy_keeps_both_after_a_reopen) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "a");  // declares a.dlq too
    must_declare_exchange(engine.get(), "x", "fanout");
    must_bind(engine.get(), "x", "a", "");
    must_bind(engine.get(), "x", "a.dlq", "");
    EXPECT_EQ(xpublish(engine.get(), "x", "", "m"), 2u);
    ConsumerPtr consumer = open_consumer(engine.get(), "a");
    const corq_delivery d = must_consume_one(consumer.get());
    must(corq_reject(consumer.get(), d.tag, "poison"), "reject");
    must(corq_sync(engine.get(), -1), "sync");
    ASSERT_EQ(stats(engine.get(), "a.dlq").ready, 2u) << "before the reopen";
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "a.dlq").ready, 2u)
      << "the dead-lettered copy and the copy published to a.dlq: one was lost by the reopen";
}

TEST_F(DurableFanout, a_fanout_with_only_one_durable_target_is_an_ordinary_publish_record) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "a");
    must_declare(engine.get(), "t", {{"durable", "false"}});
    must_declare_exchange(engine.get(), "x", "fanout");
    must_bind(engine.get(), "x", "a", "");
    must_bind(engine.get(), "x", "t", "");
    EXPECT_EQ(xpublish(engine.get(), "x", "", "m"), 2u);
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(drain_acking(engine.get(), "a"), std::vector<std::string>{"m"});
}

// The id stays live in the log's ledger while any copy lives: compaction, which drops records of
// settled ids from old segments, must keep the fan-out record for the copy that stays.
TEST_F(DurableFanout, compaction_keeps_the_record_while_one_copy_lives) {
  const Options small = {{"segment_bytes", "1MiB"}};
  std::uint64_t compactions = 0;
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare(engine.get(), "a");
    must_declare(engine.get(), "b");
    must_declare_exchange(engine.get(), "x", "fanout");
    must_bind(engine.get(), "x", "a", "");
    must_bind(engine.get(), "x", "b", "");
    EXPECT_EQ(xpublish(engine.get(), "x", "", "stays in b"), 2u);
    EXPECT_EQ(drain_acking(engine.get(), "a"), std::vector<std::string>{"stays in b"});
    compactions = churn_until_compacted(engine.get());
  }
  EXPECT_GE(compactions, 1u) << "the test needs a compaction to prove anything";
  EnginePtr engine = open_durable(tmp_.data(), small);
  EXPECT_EQ(stats(engine.get(), "a").ready, 0u);
  EXPECT_EQ(drain_acking(engine.get(), "b"), std::vector<std::string>{"stays in b"});
  // The exchange and its bindings came through the checkpoints and compactions too.
  EXPECT_EQ(xpublish(engine.get(), "x", "", "after"), 2u);
}

// A dead letter routed through an exchange gets pins of its own while its origin's is released:
// the id must stay live for compaction while any of its copies lives.
TEST_F(DurableFanout, compaction_keeps_dead_letters_routed_through_an_exchange) {
  const Options small = {{"segment_bytes", "1MiB"}};
  std::uint64_t compactions = 0;
  {
    EnginePtr engine = open_durable(tmp_.data(), small);
    must_declare_exchange(engine.get(), "dlx", "fanout");
    must_declare(engine.get(), "audit");
    must_declare(engine.get(), "parking");
    must_bind(engine.get(), "dlx", "audit", "");
    must_bind(engine.get(), "dlx", "parking", "");
    must_declare(engine.get(), "work", {{"dead_letter_exchange", "dlx"}});
    publish(engine.get(), "work", "dead");
    {
      ConsumerPtr c = open_consumer(engine.get(), "work");
      must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
    }
    EXPECT_EQ(drain_acking(engine.get(), "audit"), std::vector<std::string>{"dead"});
    compactions = churn_until_compacted(engine.get());
  }
  EXPECT_GE(compactions, 1u) << "the test needs a compaction to prove anything";
  EnginePtr engine = open_durable(tmp_.data(), small);
  EXPECT_EQ(stats(engine.get(), "audit").ready, 0u);
  EXPECT_EQ(drain_acking(engine.get(), "parking"), std::vector<std::string>{"dead"});
}

// ---- durable topology ---------------------------------------------------------------------------

TEST_F(DurableFanout, durable_exchanges_and_bindings_survive_a_reopen) {
  const std::vector<corq_header> args = {header("x-match", "any"), header("format", "pdf"),
                                         present("trace")};
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "orders");
    must_declare(engine.get(), "reports");
    must_declare(engine.get(), "audit");
    must_declare_exchange(engine.get(), "events", "topic", {{"alternate_exchange", "lost"}});
    must_declare_exchange(engine.get(), "docs", "headers");
    must_declare_exchange(engine.get(), "fan", "fanout", {{"internal", "true"}});
    must_bind(engine.get(), "events", "orders", "order.*.placed");
    must_bind(engine.get(), "docs", "reports", "", args);
    must(corq_exchange_bind(engine.get(), "events", "fan", "#", nullptr, 0), "exchange_bind");
    must_bind(engine.get(), "fan", "audit", "");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(xpublish(engine.get(), "events", "order.eu.placed", "o"), 2u);  // orders + audit
  EXPECT_EQ(xpublish(engine.get(), "events", "user.created", "u"), 1u);     // audit
  EXPECT_EQ(xpublish(engine.get(), "docs", "", "r", {header("trace", "1")}), 1u);
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_xpublish(engine.get(), "fan", "", "internal"));
  EXPECT_CORQ_FAILS(CORQ_EEXIST, declare_exchange(engine.get(), "events", "direct"));
  EXPECT_CORQ_OK(
      declare_exchange(engine.get(), "events", "topic", {{"alternate_exchange", "lost"}}));
  EXPECT_EQ(exchange_stats(engine.get(), "events").bindings, 2u);
  must_bind(engine.get(), "docs", "reports", "", args);  // the same binding: still one
  EXPECT_EQ(exchange_stats(engine.get(), "docs").bindings, 1u);
}

TEST_F(DurableFanout, a_binding_to_a_transient_queue_goes_with_it_and_the_exchange_stays) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "subscriber", {{"durable", "false"}});
    must_declare_exchange(engine.get(), "news", "fanout");
    must_bind(engine.get(), "news", "subscriber", "");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(exchange_stats(engine.get(), "news").bindings, 0u);
  must_declare(engine.get(), "subscriber", {{"durable", "false"}});
  EXPECT_EQ(xpublish(engine.get(), "news", "", "m"), 0u);
}

TEST_F(DurableFanout, a_dead_letter_through_an_exchange_survives_a_reopen_where_it_went) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare_exchange(engine.get(), "dlx", "fanout");
    must_declare(engine.get(), "audit");
    must_declare(engine.get(), "parking");
    must_bind(engine.get(), "dlx", "audit", "");
    must_bind(engine.get(), "dlx", "parking", "");
    must_declare(engine.get(), "work", {{"dead_letter_exchange", "dlx"}});
    publish(engine.get(), "work", "m");
    ConsumerPtr c = open_consumer(engine.get(), "work");
    must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
    must(corq_sync(engine.get(), -1), "sync");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_EQ(stats(engine.get(), "work").ready, 0u);
  EXPECT_EQ(drain_acking(engine.get(), "audit"), std::vector<std::string>{"m"});
  EXPECT_EQ(drain_acking(engine.get(), "parking"), std::vector<std::string>{"m"});
}

TEST_F(DurableFanout, a_temp_queue_and_its_binding_do_not_survive_a_reopen) {
  std::string temp;
  {
    EnginePtr engine = open_durable(tmp_.data());
    char name[32];
    must(corq_queue_declare_temp(engine.get(), nullptr, name, sizeof name), "declare_temp");
    temp = name;
    must_declare_exchange(engine.get(), "news", "fanout");
    must_bind(engine.get(), "news", temp, "");
    EXPECT_EQ(xpublish(engine.get(), "news", "", "m"), 1u);
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_delete(engine.get(), temp.c_str()));
  EXPECT_EQ(exchange_stats(engine.get(), "news").bindings, 0u);
}

TEST_F(DurableFanout, a_transient_exchange_does_not_survive_a_reopen) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare_exchange(engine.get(), "scratch", "direct", {{"durable", "false"}});
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_xpublish(engine.get(), "scratch", "", "m"));
}

TEST_F(DurableFanout, deletions_and_unbinds_stay_done_after_a_reopen) {
  {
    EnginePtr engine = open_durable(tmp_.data());
    must_declare(engine.get(), "q");
    must_declare(engine.get(), "gone");
    must_declare_exchange(engine.get(), "x", "direct");
    must_declare_exchange(engine.get(), "doomed", "fanout");
    must_bind(engine.get(), "x", "q", "a");
    must_bind(engine.get(), "x", "q", "b");
    must_bind(engine.get(), "x", "gone", "a");
    must(corq_exchange_bind(engine.get(), "x", "doomed", "a", nullptr, 0), "exchange_bind");
    must(corq_unbind(engine.get(), "x", "q", "b", nullptr, 0), "unbind");
    must(corq_queue_delete(engine.get(), "gone"), "delete queue");
    must(corq_exchange_delete(engine.get(), "doomed"), "delete exchange");
  }
  EnginePtr engine = open_durable(tmp_.data());
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_xpublish(engine.get(), "doomed", "", "m"));
  EXPECT_EQ(exchange_stats(engine.get(), "x").bindings, 1u);
  EXPECT_EQ(xpublish(engine.get(), "x", "a", "m"), 1u);
  EXPECT_EQ(xpublish(engine.get(), "x", "b", "m"), 0u);
  // A new exchange gets a new id: nothing of the deleted one's bindings comes back through it.
  must_declare_exchange(engine.get(), "doomed", "fanout");
  EXPECT_EQ(exchange_stats(engine.get(), "doomed").bindings, 0u);
}

}  // namespace
}  // namespace corq::test
