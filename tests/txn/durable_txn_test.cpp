// tests/txn/durable_txn_test.cpp — transactions on disk engines (DESIGN.md §8), across reopens:
// a committed transaction is wholly there (its messages, its stream records, its acks of queue
// and group deliveries), an uncommitted one wholly absent (its acked inputs come back); stream
// records of a commit that stopped before reaching the streams' logs are appended by recovery,
// once, at the offsets they would have had; checkpoints and compaction over many transactions
// neither lose nor double anything; the counts since the directory was created (committed,
// aborted, failed) survive reopens, and an idle close writes nothing for them.
#include "support/temp_dir.hpp"
#include "txn/txn_helpers.hpp"

#include "engine/testing.hpp"

#include <thread>

namespace corq::test {
namespace {

std::vector<std::string> read_all(corq_engine *e, const std::string &stream,
                                  std::uint32_t partition = 0) {
  ReaderPtr r = open_reader(e, stream, partition);
  return payloads(r.get());
}

class DurableTxns : public ::testing::Test {
 protected:
  /// A disk engine on the test's directory with "in", "out" and the stream "ledger" declared.
  EnginePtr open(const Options &options = {}) {
    EnginePtr e = open_durable(tmp_.data(), options);
    must_declare(e.get(), "in");
    must_declare(e.get(), "out");
    must_declare_stream(e.get(), "ledger");
    return e;
  }
  TempDir tmp_;
};

TEST_F(DurableTxns, a_committed_transaction_is_wholly_there_after_a_reopen) {
  {
    EnginePtr e = open();
    must_declare_stream(e.get(), "payments");
    append(e.get(), "payments", "pay-1");
    append(e.get(), "payments", "pay-2");
    publish(e.get(), "in", "order-1");
    ConsumerPtr c = open_consumer(e.get(), "in", 8);
    ConsumerPtr m = open_member(e.get(), "payments", "billing");
    const corq_delivery order = must_consume_one(c.get(), 1000);
    const corq_delivery pay = must_consume_one(m.get(), 1000);
    Txn t(e.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "notify-1"));
    ASSERT_EQ(CORQ_OK, t.append("ledger", nullptr, "entry-1"));
    ASSERT_EQ(CORQ_OK, t.ack(c.get(), order.tag));
    ASSERT_EQ(CORQ_OK, t.ack(m.get(), pay.tag));
    ASSERT_EQ(CORQ_OK, t.commit(5000)) << last_error();
  }
  EnginePtr e = open();
  EXPECT_EQ(std::vector<std::string>{"notify-1"}, drain(e.get(), "out"));
  EXPECT_TRUE(drain(e.get(), "in").empty()) << "the acked input came back";
  EXPECT_EQ(std::vector<std::string>{"entry-1"}, read_all(e.get(), "ledger"));
  ConsumerPtr m = open_member(e.get(), "payments", "billing");
  const corq_delivery next = must_consume_one(m.get(), 1000);
  EXPECT_EQ("pay-2", payload(next)) << "the acked group record came back";
}

TEST_F(DurableTxns, an_uncommitted_transaction_is_wholly_absent_and_its_inputs_come_back) {
  {
    EnginePtr e = open();
    publish(e.get(), "in", "order-1");
    ConsumerPtr c = open_consumer(e.get(), "in", 8);
    const corq_delivery order = must_consume_one(c.get(), 1000);
    Txn t(e.get());
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "notify-1"));
    ASSERT_EQ(CORQ_OK, t.append("ledger", nullptr, "entry-1"));
    ASSERT_EQ(CORQ_OK, t.ack(c.get(), order.tag));
    // Closed with the transaction open: corq_close aborts it.
    e.reset();
  }
  EnginePtr e = open();
  EXPECT_TRUE(drain(e.get(), "out").empty());
  EXPECT_TRUE(read_all(e.get(), "ledger").empty());
  EXPECT_EQ(std::vector<std::string>{"order-1"}, drain(e.get(), "in"));
}

TEST_F(DurableTxns, recovery_appends_stream_records_a_commit_did_not_reach_once) {
  {
    EnginePtr e = open();
    append(e.get(), "ledger", "before");
    publish(e.get(), "in", "order-1");
    ConsumerPtr c = open_consumer(e.get(), "in", 8);
    const corq_delivery order = must_consume_one(c.get(), 1000);
    corq::testing::set_txn_stop_before_streams(true);
    Txn t(e.get());
    ASSERT_EQ(CORQ_OK, t.append("ledger", nullptr, "entry-1"));
    ASSERT_EQ(CORQ_OK, t.append("ledger", nullptr, "entry-2"));
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "notify-1"));
    ASSERT_EQ(CORQ_OK, t.ack(c.get(), order.tag));
    const int rc = t.commit(5000);
    corq::testing::set_txn_stop_before_streams(false);
    ASSERT_EQ(CORQ_OK, rc) << last_error();
    EXPECT_EQ(std::vector<std::string>{"before"}, read_all(e.get(), "ledger"))
        << "the test hook let the commit stop before the streams";
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    EnginePtr e = open();
    const std::vector<std::string> want = {"before", "entry-1", "entry-2"};
    EXPECT_EQ(want, read_all(e.get(), "ledger")) << "reopen " << reopen;
    ReaderPtr r = open_reader(e.get(), "ledger", 0, "offset:1");
    const std::vector<Record> got = read(r.get(), 8);
    ASSERT_EQ(2u, got.size());
    EXPECT_EQ(1u, got[0].offset);
    EXPECT_EQ(2u, got[1].offset);
    if (reopen == 0) {
      EXPECT_EQ(std::vector<std::string>{"notify-1"}, drain(e.get(), "out"));
      EXPECT_TRUE(drain(e.get(), "in").empty());
    }
  }
}

TEST_F(DurableTxns, a_fan_out_inside_a_transaction_reaches_every_durable_queue_after_a_reopen) {
  {
    EnginePtr e = open();
    must(corq_exchange_declare(e.get(), "events", "fanout", nullptr), "exchange_declare");
    must_declare(e.get(), "a");
    must_declare(e.get(), "b");
    must(corq_bind(e.get(), "events", "a", "", nullptr, 0), "bind a");
    must(corq_bind(e.get(), "events", "b", "", nullptr, 0), "bind b");
    Txn t(e.get());
    ASSERT_EQ(CORQ_OK, t.publish("events", "", "e1"));
    ASSERT_EQ(CORQ_OK, t.publish("events", "", "e2"));
    ASSERT_EQ(CORQ_OK, t.commit(5000)) << last_error();
  }
  EnginePtr e = open();
  EXPECT_EQ((std::vector<std::string>{"e1", "e2"}), drain(e.get(), "a"));
  EXPECT_EQ((std::vector<std::string>{"e1", "e2"}), drain(e.get(), "b"));
}

TEST_F(DurableTxns, many_transactions_through_checkpoints_neither_lose_nor_double_anything) {
  constexpr int n = 300;
  for (const char *sync : {"always", "none"}) {
    SCOPED_TRACE(sync);
    TempDir dir;
    {
      EnginePtr e = open_durable(dir.data(), {{"sync", sync}, {"segment_bytes", "1048576"}});
      must_declare(e.get(), "in");
      must_declare(e.get(), "out");
      must_declare_stream(e.get(), "payments", {{"partitions", "2"}});
      must_declare_stream(e.get(), "ledger", {{"partitions", "3"}});
      for (int i = 0; i < n; ++i) append(e.get(), "payments", numbered("pay-", i));
      ConsumerPtr m = open_member(e.get(), "payments", "g");
      for (int i = 0; i < n; ++i) {
        const corq_delivery d = must_consume_one(m.get(), 1000);
        Txn t(e.get());
        const std::string body = payload(d) + std::string(5000, '.');  // fill segments
        ASSERT_EQ(CORQ_OK, t.append("ledger", payload(d).c_str(), body));
        ASSERT_EQ(CORQ_OK, t.publish("", "out", payload(d)));
        ASSERT_EQ(CORQ_OK, t.ack(m.get(), d.tag));
        ASSERT_EQ(CORQ_OK, t.commit(5000)) << last_error();
        if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    EnginePtr e = open_durable(dir.data(), {{"sync", sync}});
    EXPECT_EQ(static_cast<std::size_t>(n), drain(e.get(), "out").size());
    std::size_t records = 0;
    for (std::uint32_t p = 0; p < 3; ++p) records += read_all(e.get(), "ledger", p).size();
    EXPECT_EQ(static_cast<std::size_t>(n), records);
    ConsumerPtr m = open_member(e.get(), "payments", "g");
    EXPECT_FALSE(consume_one(m.get(), 0).has_value()) << "an acked payment came back";
  }
}

/// Runs `commits` committed transactions (a publish to "out" each), `aborts` aborted ones and
/// `failures` failed commits (each acks a delivery of "in" that its consumer then settled itself:
/// CORQ_ESTATE) on an engine opened by DurableTxns::open.
void run_txns(corq_engine *e, int commits, int aborts, int failures) {
  for (int i = 0; i < commits; ++i) {
    Txn t(e);
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "c"));
    ASSERT_EQ(CORQ_OK, t.commit(5000)) << last_error();
  }
  for (int i = 0; i < aborts; ++i) {
    Txn t(e);  // aborted as it goes out of scope
    ASSERT_EQ(CORQ_OK, t.publish("", "out", "a"));
  }
  for (int i = 0; i < failures; ++i) {
    publish(e, "in", "input");
    ConsumerPtr c = open_consumer(e, "in", 1);
    const corq_delivery d = must_consume_one(c.get(), 1000);
    Txn t(e);
    ASSERT_EQ(CORQ_OK, t.ack(c.get(), d.tag));
    must(corq_ack(c.get(), d.tag), "ack");
    EXPECT_EQ(CORQ_ESTATE, t.commit(5000));
  }
}

/// corq_stats_json's "transactions_total" object with these numbers.
std::string totals(int committed, int failed, int aborted) {
  return "\"transactions_total\":{\"committed\":" + std::to_string(committed) +
         ",\"failed\":" + std::to_string(failed) + ",\"aborted\":" + std::to_string(aborted) + "}";
}

TEST_F(DurableTxns, transaction_totals_survive_reopens_and_add_up_across_them) {
  {
    EnginePtr e = open();
    run_txns(e.get(), 3, 2, 1);
    const std::string json = stats_json(e.get());
    EXPECT_NE(std::string::npos, json.find(totals(3, 1, 2))) << json;
    Txn still_open(e.get());
    ASSERT_EQ(CORQ_OK, still_open.publish("", "out", "x"));
    e.reset();  // corq_close aborts it (its handle is freed after)
  }
  {
    EnginePtr e = open();
    const std::string json = stats_json(e.get());
    EXPECT_NE(std::string::npos,
              json.find("\"transactions\":{\"committed\":0,\"failed\":0,\"aborted\":0,"
                        "\"open\":0},"))
        << "since open: nothing" << json;
    EXPECT_NE(std::string::npos, json.find(totals(3, 1, 3))) << json;
    run_txns(e.get(), 1, 1, 1);
    EXPECT_NE(std::string::npos, stats_json(e.get()).find(totals(4, 2, 4)));
  }
  EnginePtr e = open();
  const std::string json = stats_json(e.get());
  EXPECT_NE(std::string::npos, json.find(totals(4, 2, 4))) << json;
}

TEST_F(DurableTxns, a_close_without_transactions_since_the_last_checkpoint_writes_no_checkpoint) {
  { EnginePtr e = open(); }
  const auto log_records = [this] {
    EnginePtr e = open();
    const std::string json = stats_json(e.get());
    return json.substr(json.find("\"durable_lsn\":"), 40);
  };
  const std::string before = log_records();
  EXPECT_EQ(before, log_records()) << "an idle open and close wrote something";
}

}  // namespace
}  // namespace corq::test
