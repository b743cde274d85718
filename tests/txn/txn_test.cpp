// tests/txn/txn_test.cpp — transactions (DESIGN.md §8) in memory, one test per rule: a commit
// applies publishes (to a queue, through exchanges), stream appends and acks of queue and group
// deliveries together; nothing of an open transaction is visible; a refused operation is not
// part of it and leaves it usable; a commit that fails applies nothing and leaves the acked
// deliveries held (lease expired, settled elsewhere, consumer closed, target deleted, target full
// under reject / block / discard=new, mandatory and unroutable); abort discards; corq_close aborts;
// the limits; the counters.
#include "txn/txn_helpers.hpp"

#include <thread>

namespace corq::test {
namespace {

/// One message published to `in` and delivered to `consumer`: its tag.
std::uint64_t deliver_one(corq_engine *e, corq_consumer *consumer, const std::string &in,
                          std::string_view payload) {
  publish(e, in, payload);
  return must_consume_one(consumer, 1000).tag;
}

class Txns : public ::testing::Test {
 protected:
  void SetUp() override {
    must_declare(e_.get(), "in");
    must_declare(e_.get(), "out");
  }
  EnginePtr e_ = open_manual_engine();
};

TEST_F(Txns, commit_applies_the_publish_and_the_ack_together) {
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "order-1");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "ledger-1"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  ASSERT_EQ(CORQ_OK, t.commit(1000)) << last_error();
  EXPECT_EQ(1u, stats(e_.get(), "in").acked);
  EXPECT_EQ(0u, stats(e_.get(), "in").in_flight);
  EXPECT_EQ(std::vector<std::string>{"ledger-1"}, drain(e_.get(), "out"));
}

TEST_F(Txns, nothing_of_an_open_transaction_is_visible) {
  must_declare_stream(e_.get(), "s");
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.append("s", nullptr, "r"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  EXPECT_EQ(0u, stats(e_.get(), "out").ready);
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
  EXPECT_EQ(1u, stats(e_.get(), "in").in_flight);
  EXPECT_EQ(0u, stats(e_.get(), "in").acked);
  ReaderPtr r = open_reader(e_.get(), "s");
  EXPECT_TRUE(read(r.get(), 8).empty());
  ASSERT_EQ(CORQ_OK, t.commit()) << last_error();
  EXPECT_EQ(1u, stats(e_.get(), "out").ready);
  EXPECT_EQ(std::vector<std::string>{"r"}, payloads(r.get()));
}

TEST_F(Txns, an_empty_transaction_commits_at_once) {
  Txn t(e_.get());
  EXPECT_EQ(CORQ_OK, t.commit(0));
}

TEST_F(Txns, message_ids_are_assigned_at_commit_in_order) {
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "a"));
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "b"));
  const std::uint64_t before = publish(e_.get(), "out", "outside");  // published meanwhile
  ASSERT_EQ(CORQ_OK, t.commit());
  ConsumerPtr c = open_consumer(e_.get(), "out", 8);
  const std::vector<corq_delivery> got = consume(c.get(), 8, 0);
  ASSERT_EQ(3u, got.size());
  EXPECT_EQ("outside", payload(got[0]));
  EXPECT_EQ("a", payload(got[1]));
  EXPECT_EQ("b", payload(got[2]));
  EXPECT_GT(got[1].message_id, before);
  EXPECT_LT(got[1].message_id, got[2].message_id);
}

TEST_F(Txns, a_refused_operation_is_not_part_of_the_transaction_which_stays_usable) {
  Txn t(e_.get());
  EXPECT_EQ(CORQ_ENOENT, t.publish("", "nope", "x"));
  EXPECT_NE(std::string::npos, last_error().find("nope"));
  EXPECT_EQ(CORQ_ENOENT, t.publish("no-exchange", "k", "x"));
  EXPECT_EQ(CORQ_ENOENT, t.append("no-stream", nullptr, "x"));
  EXPECT_EQ(CORQ_OK, t.publish("", "out", "kept"));
  ASSERT_EQ(CORQ_OK, t.commit());
  EXPECT_EQ(std::vector<std::string>{"kept"}, drain(e_.get(), "out"));
}

TEST_F(Txns, bad_arguments_get_the_documented_codes) {
  corq_txn *raw = nullptr;
  EXPECT_EQ(CORQ_EINVAL, corq_txn_begin(nullptr, &raw));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_begin(e_.get(), nullptr));
  const corq_message m = message("x");
  EXPECT_EQ(CORQ_EINVAL, corq_txn_publish(nullptr, "", "out", &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_append(nullptr, "s", nullptr, 0, &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_ack(nullptr, nullptr, 1));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_commit(nullptr, 0));
  corq_txn_abort(nullptr);  // a no-op
  Txn t(e_.get());
  EXPECT_EQ(CORQ_EINVAL, corq_txn_publish(t.get(), nullptr, "out", &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_publish(t.get(), "", nullptr, &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_publish(t.get(), "", "out", nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_publish(t.get(), "", "bad name!", &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_append(t.get(), nullptr, nullptr, 0, &m, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_append(t.get(), "s", nullptr, 3, &m, nullptr));
  must_declare_stream(e_.get(), "s");
  const corq_publish_options delayed = publish_options(10);
  EXPECT_EQ(CORQ_EINVAL, corq_txn_append(t.get(), "s", nullptr, 0, &m, &delayed));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_ack(t.get(), nullptr, 1));
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  EXPECT_EQ(CORQ_ESTATE, t.ack(c.get(), 12345));
  std::vector<char> big(2u << 20, 'x');  // over max_message_bytes (1 MiB)
  const corq_message huge{big.data(), big.size(), nullptr, 0, nullptr};
  EXPECT_EQ(CORQ_ETOOBIG, corq_txn_publish(t.get(), "", "out", &huge, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_txn_commit(t.get(), -2));  // and spent (freed)
  t.forget();
}

TEST_F(Txns, the_same_delivery_cannot_be_acked_twice_in_one_transaction) {
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  EXPECT_EQ(CORQ_ESTATE, t.ack(c.get(), tag));
  EXPECT_NE(std::string::npos, last_error().find("already"));
  EXPECT_EQ(CORQ_OK, t.commit());
}

TEST_F(Txns, a_consumer_of_another_engine_is_refused) {
  EnginePtr other = open_engine();
  must_declare(other.get(), "q");
  ConsumerPtr c = open_consumer(other.get(), "q", 8);
  publish(other.get(), "q", "x");
  const std::uint64_t tag = must_consume_one(c.get(), 1000).tag;
  Txn t(e_.get());
  EXPECT_EQ(CORQ_EINVAL, t.ack(c.get(), tag));
}

TEST_F(Txns, a_delivery_settled_by_the_consumer_itself_fails_the_commit_and_nothing_happens) {
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  ASSERT_EQ(CORQ_OK, corq_ack(c.get(), tag));  // the consumer settles it itself
  EXPECT_EQ(CORQ_ESTATE, t.commit());
  EXPECT_NE(std::string::npos, last_error().find(std::to_string(tag)));
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
}

TEST_F(Txns, a_lease_that_expired_fails_the_commit_and_the_delivery_is_returned) {
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  advance(e_.get(), 31'000);  // past the default lease (30 s)
  EXPECT_EQ(CORQ_ESTATE, t.commit());
  EXPECT_NE(std::string::npos, last_error().find("lease expired"));
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
  const corq_queue_stats in = stats(e_.get(), "in");
  EXPECT_EQ(1u, in.ready + in.delayed);  // returned (a failed attempt: maybe a retry backoff)
  EXPECT_EQ(0u, in.acked);
}

TEST_F(Txns, a_failed_commit_leaves_the_acked_deliveries_held) {
  must_declare(e_.get(), "small", {{"max_length", "1"}, {"overflow", "reject"}});
  publish(e_.get(), "small", "filler");
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.publish("", "small", "q"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  EXPECT_EQ(CORQ_EFULL, t.commit());
  EXPECT_NE(std::string::npos, last_error().find("small"));
  EXPECT_EQ(0u, stats(e_.get(), "out").published);  // the room taken in "out" was given back
  EXPECT_EQ(0u, stats(e_.get(), "out").ready);
  EXPECT_EQ(1u, stats(e_.get(), "in").in_flight);
  EXPECT_EQ(CORQ_OK, corq_ack(c.get(), tag)) << "the delivery is still held";
  EXPECT_EQ(1u, stats(e_.get(), "small").ready);
}

TEST_F(Txns, a_closed_consumer_fails_the_commit) {
  corq_consumer *raw = nullptr;
  must(corq_consumer_open(e_.get(), "in", 8, &raw), "consumer_open");
  const std::uint64_t tag = deliver_one(e_.get(), raw, "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.ack(raw, tag));
  must(corq_consumer_close(raw), "consumer_close");
  EXPECT_EQ(CORQ_ESTATE, t.commit());
  EXPECT_NE(std::string::npos, last_error().find("closed"));
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
}

TEST_F(Txns, a_target_deleted_before_commit_fails_it_with_enoent) {
  must_declare(e_.get(), "gone");
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.publish("", "gone", "q"));
  ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  must(corq_queue_delete(e_.get(), "gone"), "delete");
  EXPECT_EQ(CORQ_ENOENT, t.commit());
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
  EXPECT_EQ(1u, stats(e_.get(), "in").in_flight);
}

TEST_F(Txns, a_deleted_stream_fails_the_commit_with_enoent) {
  must_declare_stream(e_.get(), "s");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.append("s", nullptr, "r"));
  must(corq_stream_delete(e_.get(), "s"), "stream_delete");
  EXPECT_EQ(CORQ_ENOENT, t.commit());
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
}

TEST_F(Txns, under_overflow_block_the_commit_waits_for_room_up_to_its_timeout) {
  must_declare(e_.get(), "tight", {{"max_length", "1"}});  // overflow=block by default
  publish(e_.get(), "tight", "filler");
  {
    Txn t(e_.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "tight", "waits"));
    EXPECT_EQ(CORQ_EFULL, t.commit(50));
    EXPECT_NE(std::string::npos, last_error().find("timeout_ms"));
  }
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "tight", "gets in"));
  std::thread consumer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ConsumerPtr c = open_consumer(e_.get(), "tight", 1);
    const corq_delivery d = must_consume_one(c.get(), 1000);
    must(corq_ack(c.get(), d.tag), "ack");
  });
  EXPECT_EQ(CORQ_OK, t.commit(10'000)) << last_error();
  consumer.join();
  EXPECT_EQ(std::vector<std::string>{"gets in"}, drain(e_.get(), "tight"));
}

TEST_F(Txns, a_stream_at_its_discard_new_limit_fails_the_commit_with_efull) {
  must_declare_stream(e_.get(), "s", {{"retention_records", "2"}, {"discard", "new"}});
  append(e_.get(), "s", "one");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.append("s", nullptr, "two"));
  ASSERT_EQ(CORQ_OK, t.append("s", nullptr, "three"));  // the two together pass the limit
  EXPECT_EQ(CORQ_EFULL, t.commit());
  EXPECT_NE(std::string::npos, last_error().find("discard=new"));
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
  EXPECT_EQ(1u, stream_stats(e_.get(), "s").appended);
}

TEST_F(Txns, abort_discards_everything_and_the_deliveries_stay_held) {
  ConsumerPtr c = open_consumer(e_.get(), "in", 8);
  const std::uint64_t tag = deliver_one(e_.get(), c.get(), "in", "x");
  {
    Txn t(e_.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
    ASSERT_EQ(CORQ_OK, t.ack(c.get(), tag));
  }  // aborted
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
  EXPECT_EQ(CORQ_OK, corq_ack(c.get(), tag));
  EXPECT_NE(std::string::npos, stats_json(e_.get()).find("\"aborted\":1"));
}

TEST_F(Txns, a_publish_through_an_exchange_fans_out_atomically_and_routes_at_commit) {
  must(corq_exchange_declare(e_.get(), "events", "topic", nullptr), "exchange_declare");
  must_declare(e_.get(), "a");
  must_declare(e_.get(), "b");
  must(corq_bind(e_.get(), "events", "a", "order.*", nullptr, 0), "bind a");
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("events", "order.placed", "o1"));
  must(corq_bind(e_.get(), "events", "b", "#", nullptr, 0), "bind b");  // before the commit
  ASSERT_EQ(CORQ_OK, t.commit()) << last_error();
  EXPECT_EQ(std::vector<std::string>{"o1"}, drain(e_.get(), "a"));
  EXPECT_EQ(std::vector<std::string>{"o1"}, drain(e_.get(), "b"));
}

TEST_F(Txns, a_mandatory_publish_that_routes_nowhere_at_commit_fails_it) {
  must(corq_exchange_declare(e_.get(), "events", "direct", nullptr), "exchange_declare");
  must(corq_bind(e_.get(), "events", "out", "k", nullptr, 0), "bind");
  corq_publish_options mandatory = publish_options();
  mandatory.flags = CORQ_PUBLISH_MANDATORY;
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "in", "p"));
  ASSERT_EQ(CORQ_OK, t.publish("events", "k", "m", &mandatory));
  must(corq_unbind(e_.get(), "events", "out", "k", nullptr, 0), "unbind");
  EXPECT_EQ(CORQ_EUNROUTABLE, t.commit());
  EXPECT_EQ(0u, stats(e_.get(), "in").published);
}

TEST_F(Txns, stream_appends_and_group_acks_commit_with_the_rest) {
  must_declare_stream(e_.get(), "payments", {{"partitions", "4"}});
  must_declare_stream(e_.get(), "ledger", {{"partitions", "4"}});
  append(e_.get(), "payments", "pay-1", "alice");
  ConsumerPtr m = open_member(e_.get(), "payments", "billing");
  const corq_delivery d = must_consume_one(m.get(), 1000);
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.append("ledger", "alice", "entry-1"));
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "notify-1"));
  ASSERT_EQ(CORQ_OK, t.ack(m.get(), d.tag));
  EXPECT_EQ(0u, group_stats(e_.get(), "payments", "billing").acked);
  ASSERT_EQ(CORQ_OK, t.commit()) << last_error();
  EXPECT_EQ(1u, group_stats(e_.get(), "payments", "billing").acked);
  // The key picks the partition as corq_stream_append would.
  Placed where = append(e_.get(), "ledger", "entry-2", "alice");
  ReaderPtr r = open_reader(e_.get(), "ledger", where.partition);
  EXPECT_EQ((std::vector<std::string>{"entry-1", "entry-2"}), payloads(r.get()));
  EXPECT_EQ(std::vector<std::string>{"notify-1"}, drain(e_.get(), "out"));
}

TEST_F(Txns, a_group_delivery_acked_elsewhere_fails_the_commit) {
  must_declare_stream(e_.get(), "s");
  append(e_.get(), "s", "r");
  ConsumerPtr m = open_member(e_.get(), "s", "g");
  const corq_delivery d = must_consume_one(m.get(), 1000);
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
  ASSERT_EQ(CORQ_OK, t.ack(m.get(), d.tag));
  ASSERT_EQ(CORQ_OK, corq_ack(m.get(), d.tag));
  EXPECT_EQ(CORQ_ESTATE, t.commit());
  EXPECT_EQ(0u, stats(e_.get(), "out").published);
}

TEST_F(Txns, a_group_delivery_under_a_commit_that_fails_is_still_held) {
  must_declare_stream(e_.get(), "s");
  must_declare(e_.get(), "full", {{"max_length", "1"}, {"overflow", "reject"}});
  publish(e_.get(), "full", "filler");
  append(e_.get(), "s", "r");
  ConsumerPtr m = open_member(e_.get(), "s", "g");
  const corq_delivery d = must_consume_one(m.get(), 1000);
  Txn t(e_.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "full", "p"));
  ASSERT_EQ(CORQ_OK, t.ack(m.get(), d.tag));
  EXPECT_EQ(CORQ_EFULL, t.commit());
  EXPECT_EQ(CORQ_OK, corq_ack(m.get(), d.tag));
}

TEST_F(Txns, max_txn_bytes_bounds_what_a_transaction_holds) {
  EnginePtr e = open_engine({{"max_txn_bytes", "100"}});
  must_declare(e.get(), "q");
  Txn t(e.get());
  ASSERT_EQ(CORQ_OK, t.publish("", "q", std::string(60, 'a')));
  EXPECT_EQ(CORQ_ETOOBIG, t.publish("", "q", std::string(60, 'b')));
  EXPECT_NE(std::string::npos, last_error().find("max_txn_bytes"));
  ASSERT_EQ(CORQ_OK, t.commit());
  EXPECT_EQ(1u, drain(e.get(), "q").size());
  corq_engine *raw = nullptr;
  ConfigPtr config = make_config({{"max_txn_bytes", "200000000"}, {"segment_bytes", "1048576"}});
  EXPECT_EQ(CORQ_EINVAL, corq_open(nullptr, config.get(), &raw));
}

TEST_F(Txns, a_transaction_holds_at_most_65536_operations) {
  Txn t(e_.get());
  for (int i = 0; i < 65536; ++i) ASSERT_EQ(CORQ_OK, t.publish("", "out", ""));
  EXPECT_EQ(CORQ_ETOOBIG, t.publish("", "out", ""));
  EXPECT_NE(std::string::npos, last_error().find("65536"));
  ASSERT_EQ(CORQ_OK, t.commit());
  EXPECT_EQ(65536u, stats(e_.get(), "out").ready);
}

TEST_F(Txns, corq_close_aborts_open_transactions_whose_handles_then_take_only_abort) {
  corq_engine *raw = nullptr;
  must(corq_open(nullptr, nullptr, &raw), "open");
  must_declare(raw, "q");
  corq_txn *t = nullptr;
  must(corq_txn_begin(raw, &t), "txn_begin");
  const corq_message m = message("x");
  ASSERT_EQ(CORQ_OK, corq_txn_publish(t, "", "q", &m, nullptr));
  must(corq_close(raw), "close");
  EXPECT_EQ(CORQ_ECLOSED, corq_txn_publish(t, "", "q", &m, nullptr));
  corq_txn_abort(t);  // frees it; the engine's memory goes with the last handle
}

TEST_F(Txns, stats_json_counts_transactions) {
  {
    Txn t(e_.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
    ASSERT_EQ(CORQ_OK, t.commit());
  }
  {
    Txn t(e_.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
    must(corq_queue_delete(e_.get(), "out"), "delete");
    EXPECT_EQ(CORQ_ENOENT, t.commit());
  }
  Txn open(e_.get());
  const std::string json = stats_json(e_.get());
  EXPECT_NE(std::string::npos,
            json.find("\"transactions\":{\"committed\":1,\"failed\":1,\"aborted\":0,\"open\":1}"))
      << json;
}

TEST_F(Txns, stats_json_transactions_total_of_an_in_memory_engine_counts_since_open) {
  {
    Txn t(e_.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "p"));
    ASSERT_EQ(CORQ_OK, t.commit());
  }
  { Txn aborted(e_.get()); }
  const std::string json = stats_json(e_.get());
  EXPECT_NE(std::string::npos,
            json.find("\"transactions\":{\"committed\":1,\"failed\":0,\"aborted\":1,\"open\":0},"
                      "\"transactions_total\":{\"committed\":1,\"failed\":0,\"aborted\":1}"))
      << json;
}

}  // namespace
}  // namespace corq::test
