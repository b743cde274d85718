// corq::Transaction, the C++ wrapper's RAII transaction (corq.hpp over corq_txn_*): a commit makes
// its publishes deliverable, its appends readable and its acks final; abort, the destructor and an
// exception unwinding the scope discard it; refused operations throw at once and leave it usable;
// a commit that fails throws with nothing applied; after commit or abort the object is empty and
// every operation throws CORQ_ECLOSED. The rules themselves are tests/txn's; these prove the
// wrapper passes them through. Leases run on the manual clock (engine/testing.hpp).
#include <corq/corq.hpp>

#include "engine/testing.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

/// How many messages the consume-transform-produce test moves.
constexpr int relay_messages = 100;

/// An in-memory engine on the manual clock with queues "in" and "out" and stream "s".
corq::Engine engine_with_in_out_and_stream() {
  corq::Engine engine = corq::Engine::in_memory({{"clock", "manual"}});
  engine.declare("in");
  engine.declare("out");
  engine.declare_stream("s");
  return engine;
}

/// Moves the manual clock, so that leases due by then have expired.
void advance(corq::Engine &engine, std::int64_t ms) {
  ASSERT_EQ(corq::testing::advance_clock(engine.handle(), ms), CORQ_OK);
}

/// The payloads a queue holds now, consumed and acked.
std::vector<std::string> drain(corq::Engine &engine, const std::string &queue) {
  corq::Consumer consumer = engine.consumer(queue, 1024);
  std::vector<std::string> out;
  while (auto d = consumer.consume_one(0)) {
    out.emplace_back(d->text());
    consumer.ack(*d);
  }
  return out;
}

/// The payloads of partition 0 of a stream from the start.
std::vector<std::string> records(corq::Engine &engine, const std::string &stream) {
  corq::StreamReader reader = engine.stream_reader(stream, 0, "earliest");
  std::vector<std::string> out;
  for (const corq::StreamRecord &r : reader.read(1024, 0)) out.emplace_back(r.text());
  return out;
}

/// The corq::Error f() throws (a failure if it throws none).
template <typename F>
corq::Error error_of(F &&f) {
  try {
    f();
  } catch (const corq::Error &e) {
    return e;
  }
  ADD_FAILURE() << "no corq::Error thrown";
  return corq::Error(CORQ_OK, "");
}

TEST(CppTransaction, commit_makes_the_publish_deliverable_and_the_append_readable) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Transaction txn = engine.transaction();
  EXPECT_TRUE(txn);
  txn.publish("", "out", "p1");
  txn.append("s", corq::Message{"r1"}, "key-1");
  EXPECT_EQ(engine.stats("out").ready, 0u) << "visible before commit";
  EXPECT_TRUE(records(engine, "s").empty()) << "readable before commit";
  txn.commit();
  EXPECT_FALSE(txn);
  EXPECT_EQ(drain(engine, "out"), std::vector<std::string>{"p1"});
  EXPECT_EQ(records(engine, "s"), std::vector<std::string>{"r1"});
}

TEST(CppTransaction, a_publish_through_an_exchange_routes_at_commit) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.declare_exchange("events", "topic");
  engine.bind("events", "out", "order.*");
  corq::Transaction txn = engine.transaction();
  txn.publish("events", "order.placed", corq::Message{"o1"});
  txn.commit(1000);
  EXPECT_EQ(drain(engine, "out"), std::vector<std::string>{"o1"});
}

TEST(CppTransaction, abort_discards_publishes_appends_and_acks) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  corq::Consumer consumer = engine.consumer("in", 8);
  const std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  corq::Transaction txn = engine.transaction();
  txn.publish("", "out", "p");
  txn.append("s", "r");
  txn.ack(consumer, *d);
  txn.abort();
  EXPECT_FALSE(txn);
  txn.abort();  // a no-op once empty
  EXPECT_EQ(engine.stats("out").published, 0u);
  EXPECT_TRUE(records(engine, "s").empty());
  EXPECT_EQ(engine.stats("in").acked, 0u);
  consumer.ack(*d);  // still held: the aborted ack was not applied
  EXPECT_EQ(engine.stats("in").acked, 1u);
}

TEST(CppTransaction, the_destructor_aborts_an_uncommitted_transaction) {
  corq::Engine engine = engine_with_in_out_and_stream();
  {
    corq::Transaction txn = engine.transaction();
    txn.publish("", "out", "p");
    txn.append("s", "r");
  }
  EXPECT_EQ(engine.stats("out").published, 0u);
  EXPECT_TRUE(records(engine, "s").empty());
  EXPECT_NE(engine.stats_json().find("\"aborted\":1"), std::string::npos);
}

TEST(CppTransaction, an_exception_that_leaves_the_scope_aborts_it) {
  corq::Engine engine = engine_with_in_out_and_stream();
  EXPECT_THROW(
      {
        corq::Transaction txn = engine.transaction();
        txn.publish("", "out", "p");
        throw std::runtime_error("transform failed");
      },
      std::runtime_error);
  EXPECT_EQ(engine.stats("out").published, 0u);
}

TEST(CppTransaction, a_committed_ack_is_final_after_a_reopen_of_the_consumer_and_past_the_lease) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  {
    corq::Consumer consumer = engine.consumer("in", 8);
    const std::optional<corq::Delivery> d = consumer.consume_one(0);
    ASSERT_TRUE(d);
    corq::Transaction txn = engine.transaction();
    txn.ack(consumer, *d);
    EXPECT_EQ(engine.stats("in").in_flight, 1u) << "applied before commit";
    txn.commit();
    // Closing the consumer below would release only what it still holds.
  }
  advance(engine, 31'000);  // past the default lease (30 s)
  corq::Consumer again = engine.consumer("in", 8);
  EXPECT_FALSE(again.consume_one(0).has_value());
  const corq_queue_stats in = engine.stats("in");
  EXPECT_EQ(in.acked, 1u);
  EXPECT_EQ(in.ready + in.in_flight + in.delayed, 0u);
}

TEST(CppTransaction, an_aborted_ack_leaves_the_delivery_held_and_it_comes_back_after_close) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  {
    corq::Consumer consumer = engine.consumer("in", 8);
    const std::optional<corq::Delivery> d = consumer.consume_one(0);
    ASSERT_TRUE(d);
    {
      corq::Transaction txn = engine.transaction();
      txn.ack(consumer, *d);
    }  // aborted
    EXPECT_EQ(engine.stats("in").in_flight, 1u);
  }  // closing the consumer releases the delivery it still holds
  corq::Consumer again = engine.consumer("in", 8);
  const std::optional<corq::Delivery> d = again.consume_one(0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text(), "x");
  EXPECT_EQ(d->delivery_count(), 2u);
}

TEST(CppTransaction, consume_transform_produce_moves_each_message_exactly_once) {
  corq::Engine engine = engine_with_in_out_and_stream();
  for (int i = 0; i < relay_messages; ++i) engine.publish("in", "m" + std::to_string(i));
  corq::Consumer consumer = engine.consumer("in", 16);
  int relayed = 0;
  while (auto d = consumer.consume_one(0)) {
    corq::Transaction txn = engine.transaction();
    txn.publish("", "out", "T(" + std::string(d->text()) + ")");
    txn.ack(consumer, *d);
    txn.commit();
    ++relayed;
    ASSERT_LE(relayed, relay_messages) << "a message came twice";
  }
  EXPECT_EQ(relayed, relay_messages);
  const corq_queue_stats in = engine.stats("in");
  EXPECT_EQ(in.ready + in.in_flight + in.delayed, 0u);
  EXPECT_EQ(in.acked, static_cast<std::uint64_t>(relay_messages));
  const std::vector<std::string> out = drain(engine, "out");
  ASSERT_EQ(out.size(), static_cast<std::size_t>(relay_messages));
  for (int i = 0; i < relay_messages; ++i) EXPECT_EQ(out[i], "T(m" + std::to_string(i) + ")");
}

TEST(CppTransaction, a_group_members_ack_commits_with_an_append) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.declare_stream("payments");
  engine.append("payments", "pay-1");
  corq::Consumer member = engine.group_consumer("payments", "billing");
  const std::optional<corq::Delivery> d = member.consume_one(0);
  ASSERT_TRUE(d);
  corq::Transaction txn = engine.transaction();
  txn.append("s", "entry-1");
  txn.ack(member, *d);
  EXPECT_EQ(engine.group_stats("payments", "billing").acked, 0u);
  txn.commit();
  EXPECT_EQ(engine.group_stats("payments", "billing").acked, 1u);
  EXPECT_EQ(records(engine, "s"), std::vector<std::string>{"entry-1"});
}

TEST(CppTransaction, a_tag_the_consumer_does_not_hold_is_estate_at_once_and_the_txn_stays_usable) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Consumer consumer = engine.consumer("in", 8);
  corq::Transaction txn = engine.transaction();
  EXPECT_EQ(error_of([&] { txn.ack(consumer, 12345); }).code(), CORQ_ESTATE);
  engine.publish("in", "x");
  const std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  txn.ack(consumer, *d);
  const corq::Error twice = error_of([&] { txn.ack(consumer, *d); });
  EXPECT_EQ(twice.code(), CORQ_ESTATE);
  EXPECT_NE(std::string(twice.what()).find("already"), std::string::npos) << twice.what();
  txn.publish("", "out", "kept");
  txn.commit();
  EXPECT_EQ(engine.stats("in").acked, 1u);
  EXPECT_EQ(drain(engine, "out"), std::vector<std::string>{"kept"});
}

TEST(CppTransaction, an_unknown_queue_exchange_or_stream_is_refused_at_once) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Transaction txn = engine.transaction();
  const corq::Error queue = error_of([&] { txn.publish("", "nope", "x"); });
  EXPECT_EQ(queue.code(), CORQ_ENOENT);
  EXPECT_NE(std::string(queue.what()).find("nope"), std::string::npos) << queue.what();
  EXPECT_EQ(error_of([&] { txn.publish("no-exchange", "k", "x"); }).code(), CORQ_ENOENT);
  EXPECT_EQ(error_of([&] { txn.append("no-stream", "x"); }).code(), CORQ_ENOENT);
  EXPECT_TRUE(txn) << "a refused operation does not end the transaction";
  txn.publish("", "out", "kept");
  txn.append("s", "kept");
  txn.commit();
  EXPECT_EQ(drain(engine, "out"), std::vector<std::string>{"kept"});
  EXPECT_EQ(records(engine, "s"), std::vector<std::string>{"kept"});
}

TEST(CppTransaction, bad_arguments_throw_einval_or_etoobig) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Transaction txn = engine.transaction();
  EXPECT_EQ(error_of([&] { txn.publish("", "bad name!", "x"); }).code(), CORQ_EINVAL);
  corq::PublishOptions delayed;
  delayed.delay_ms = 10;
  EXPECT_EQ(error_of([&] { txn.append("s", "x", std::nullopt, delayed); }).code(), CORQ_EINVAL);
  corq::Consumer closed;  // no handle
  EXPECT_EQ(error_of([&] { txn.ack(closed, 1); }).code(), CORQ_EINVAL);
  const std::string big(2u << 20, 'x');  // over max_message_bytes (1 MiB)
  EXPECT_EQ(error_of([&] { txn.publish("", "out", big); }).code(), CORQ_ETOOBIG);
  txn.publish("", "out", "kept");
  txn.commit();
  EXPECT_EQ(drain(engine, "out"), std::vector<std::string>{"kept"});
}

TEST(CppTransaction, a_delivery_settled_before_commit_fails_it_and_nothing_is_applied) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  corq::Consumer consumer = engine.consumer("in", 8);
  const std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  corq::Transaction txn = engine.transaction();
  txn.publish("", "out", "p");
  txn.append("s", "r");
  txn.ack(consumer, *d);
  consumer.ack(*d);  // settled outside the transaction
  const corq::Error failed = error_of([&] { txn.commit(); });
  EXPECT_EQ(failed.code(), CORQ_ESTATE);
  EXPECT_NE(std::string(failed.what()).find(std::to_string(d->tag())), std::string::npos)
      << failed.what();
  EXPECT_FALSE(txn) << "a commit ends the transaction whatever it returns";
  EXPECT_EQ(engine.stats("out").published, 0u);
  EXPECT_TRUE(records(engine, "s").empty());
}

TEST(CppTransaction, a_lease_that_expired_before_commit_fails_it_with_estate) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  corq::Consumer consumer = engine.consumer("in", 8);
  const std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  corq::Transaction txn = engine.transaction();
  txn.publish("", "out", "p");
  txn.ack(consumer, *d);
  advance(engine, 31'000);
  EXPECT_EQ(error_of([&] { txn.commit(); }).code(), CORQ_ESTATE);
  EXPECT_EQ(engine.stats("out").published, 0u);
  EXPECT_EQ(engine.stats("in").acked, 0u);
}

TEST(CppTransaction, after_commit_or_abort_every_operation_throws_eclosed) {
  corq::Engine engine = engine_with_in_out_and_stream();
  engine.publish("in", "x");
  corq::Consumer consumer = engine.consumer("in", 8);
  const std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  for (const bool commit : {true, false}) {
    corq::Transaction txn = engine.transaction();
    if (commit) {
      txn.commit();
    } else {
      txn.abort();
    }
    EXPECT_EQ(txn.handle(), nullptr);
    EXPECT_EQ(error_of([&] { txn.publish("", "out", "x"); }).code(), CORQ_ECLOSED);
    EXPECT_EQ(error_of([&] { txn.append("s", "x"); }).code(), CORQ_ECLOSED);
    EXPECT_EQ(error_of([&] { txn.ack(consumer, *d); }).code(), CORQ_ECLOSED);
    const corq::Error again = error_of([&] { txn.commit(); });
    EXPECT_EQ(again.code(), CORQ_ECLOSED);
    EXPECT_NE(std::string(again.what()).find("no longer open"), std::string::npos) << again.what();
  }
  corq::Transaction never_begun;
  EXPECT_EQ(error_of([&] { never_begun.commit(); }).code(), CORQ_ECLOSED);
  EXPECT_EQ(engine.stats("out").published, 0u);
  consumer.ack(*d);  // none of the refused acks reached it
}

TEST(CppTransaction, moves_hand_the_transaction_over_and_assignment_aborts_the_old_one) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Transaction a = engine.transaction();
  a.publish("", "out", "from-a");
  corq::Transaction b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(error_of([&] { a.publish("", "out", "x"); }).code(), CORQ_ECLOSED);
  b.publish("", "out", "from-b");
  corq::Transaction c = engine.transaction();
  c.publish("", "out", "from-c");
  c = std::move(b);  // aborts c's own transaction
  c.commit();
  EXPECT_EQ(drain(engine, "out"), (std::vector<std::string>{"from-a", "from-b"}));
  EXPECT_NE(engine.stats_json().find("\"aborted\":1"), std::string::npos);
}

TEST(CppTransaction, closing_the_engine_aborts_it_and_the_handle_only_frees) {
  corq::Engine engine = engine_with_in_out_and_stream();
  corq::Transaction txn = engine.transaction();
  txn.publish("", "out", "p");
  engine.close();
  EXPECT_EQ(error_of([&] { txn.publish("", "out", "p"); }).code(), CORQ_ECLOSED);
  EXPECT_EQ(error_of([&] { txn.commit(); }).code(), CORQ_ECLOSED);  // and freed
  EXPECT_FALSE(txn);
  EXPECT_EQ(error_of([&] { (void)engine.transaction(); }).code(), CORQ_EINVAL);
}

}  // namespace
