// tests/corqctl/corqctl_txn_test.cpp — corqctl stats on transactions (DESIGN.md §8, issue #18):
// the counters since the directory was created, as the log tells them — the last checkpoint's
// (a clean corq_close writes one) plus the commits logged after it — in the table, the JSON and
// the Prometheus text; after a crash (a copy of the directory taken while the engine has it open)
// the committed count stays exact and what it shows is what the next corq_open restores; the
// committed transactions whose stream records a stream's log still lacks; and a log written
// before the counters existed (its checkpoint ends after next_sid) shows them unknown, with a
// note, and still opens. As corqctl_test.cpp: directories are built with the C API, the real
// corqctl runs as a child process.
#include "corqctl_run.hpp"

#include "durability/records.hpp"
#include "engine/testing.hpp"

#include <log/log.hpp>

#include <chrono>
#include <regex>

namespace {

using namespace corqctl_test;
namespace records = corq::core::records;

void must(int rc, const char *what) { ASSERT_EQ(rc, CORQ_OK) << what << ": " << corq_last_error(); }

corq_message text_message(const std::string &data) {
  return corq_message{data.data(), data.size(), nullptr, 0, nullptr};
}

/// A transaction that publishes one message to `queue` (and appends one record to `stream` when
/// it is not null), committed.
void commit_one(corq_engine *engine, const char *queue, const char *stream = nullptr) {
  corq_txn *txn = nullptr;
  must(corq_txn_begin(engine, &txn), "txn_begin");
  const std::string data = "committed";
  const corq_message m = text_message(data);
  must(corq_txn_publish(txn, "", queue, &m, nullptr), "txn_publish");
  if (stream != nullptr) must(corq_txn_append(txn, stream, nullptr, 0, &m, nullptr), "txn_append");
  must(corq_txn_commit(txn, 5000), "txn_commit");
}

void abort_one(corq_engine *engine, const char *queue) {
  corq_txn *txn = nullptr;
  must(corq_txn_begin(engine, &txn), "txn_begin");
  const std::string data = "aborted";
  const corq_message m = text_message(data);
  must(corq_txn_publish(txn, "", queue, &m, nullptr), "txn_publish");
  corq_txn_abort(txn);
}

/// A commit that fails: it acks a delivery of `queue` that the consumer settled itself after the
/// ack was added (CORQ_ESTATE, nothing applied).
void fail_one(corq_engine *engine, const char *queue) {
  publish(engine, queue, "input");
  corq_consumer *consumer = nullptr;
  must(corq_consumer_open(engine, queue, 1, &consumer), "consumer_open");
  corq_delivery d{};
  ASSERT_EQ(corq_consume(consumer, &d, 1, 1000), 1) << corq_last_error();
  corq_txn *txn = nullptr;
  must(corq_txn_begin(engine, &txn), "txn_begin");
  must(corq_txn_ack(txn, consumer, d.tag), "txn_ack");
  must(corq_ack(consumer, d.tag), "ack");  // no longer held by the time of the commit
  EXPECT_EQ(corq_txn_commit(txn, 5000), CORQ_ESTATE);
  corq_consumer_close(consumer);
}

/// The "transactions" object `stats --json` prints for these numbers.
std::string txn_json(std::uint64_t at_checkpoint, std::uint64_t after, std::uint64_t aborted,
                     std::uint64_t failed, bool known, std::uint64_t pending = 0,
                     std::uint64_t unconfirmed = 0) {
  return "\"transactions\":{\"committed_total\":" + std::to_string(at_checkpoint + after) +
         ",\"aborted_total\":" + std::to_string(aborted) +
         ",\"failed_total\":" + std::to_string(failed) +
         ",\"counters_known\":" + (known ? "true" : "false") +
         ",\"committed_at_checkpoint\":" + std::to_string(at_checkpoint) +
         ",\"committed_after_checkpoint\":" + std::to_string(after) +
         ",\"stream_reappend_pending\":" + std::to_string(pending) +
         ",\"stream_unconfirmed\":" + std::to_string(unconfirmed);
}

/// corq_stats_json's "transactions_total" of an engine opened on `dir`.
std::string engine_totals(const fs::path &dir) {
  corq_engine *engine = open_engine(dir);
  if (engine == nullptr) return "(open failed)";
  char *text = nullptr;
  EXPECT_EQ(corq_stats_json(engine, &text), CORQ_OK);
  const std::string json = text == nullptr ? "" : text;
  corq_free(text);
  corq_close(engine);
  const auto at = json.find("\"transactions_total\":");
  return at == std::string::npos ? json : json.substr(at, json.find('}', at) + 1 - at);
}

std::string totals(std::uint64_t committed, std::uint64_t failed, std::uint64_t aborted) {
  return "\"transactions_total\":{\"committed\":" + std::to_string(committed) +
         ",\"failed\":" + std::to_string(failed) + ",\"aborted\":" + std::to_string(aborted) + "}";
}

class CorqctlTxns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.root().empty()) << "mkdtemp: " << std::strerror(errno);
    dir_ = scratch_.root() / "data";
  }
  /// A durable engine on the directory with queues "in" and "out" and the stream "ledger".
  corq_engine *open() {
    corq_engine *engine = open_engine(dir_);
    if (engine == nullptr) return nullptr;
    EXPECT_EQ(corq_queue_declare(engine, "in", nullptr), CORQ_OK) << corq_last_error();
    EXPECT_EQ(corq_queue_declare(engine, "out", nullptr), CORQ_OK) << corq_last_error();
    EXPECT_EQ(corq_stream_declare(engine, "ledger", nullptr), CORQ_OK) << corq_last_error();
    return engine;
  }
  Outcome run(const std::vector<std::string> &args) { return corqctl(scratch_.root(), args); }
  Outcome stats_json(const fs::path &dir) { return run({"stats", dir.string(), "--json"}); }

  Scratch scratch_;
  fs::path dir_;
};

TEST_F(CorqctlTxns, stats_show_committed_aborted_and_failed_after_a_clean_close) {
  corq_engine *engine = open();
  ASSERT_NE(engine, nullptr);
  commit_one(engine, "out");
  commit_one(engine, "out", "ledger");
  commit_one(engine, "out");
  abort_one(engine, "out");
  abort_one(engine, "out");
  fail_one(engine, "in");
  ASSERT_EQ(corq_close(engine), CORQ_OK);  // writes a checkpoint: the counters changed

  const Outcome json = stats_json(dir_);
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out, txn_json(3, 0, 2, 1, true) + "}}\n")) << describe(json);

  const Outcome text = run({"stats", dir_.string()});
  ASSERT_EQ(text.exit_code, exit_ok) << describe(text);
  EXPECT_TRUE(contains(text.out,
                       "\ntransactions: 3 committed (0 after the last checkpoint), 2 aborted, 1 "
                       "failed since the directory was created; 0 committed awaiting their stream "
                       "records' re-append at the next open (0 not confirmed applied)\n"))
      << describe(text);

  const Outcome prom = run({"stats", dir_.string(), "--prometheus"});
  ASSERT_EQ(prom.exit_code, exit_ok) << describe(prom);
  for (const char *sample :
       {"# TYPE corq_transactions_committed_total gauge\n", "corq_transactions_committed_total 3\n",
        "corq_transactions_aborted_total 2\n", "corq_transactions_failed_total 1\n",
        "corq_transactions_counters_known 1\n", "corq_transactions_stream_reappend_pending 0\n",
        "corq_transactions_stream_unconfirmed 0\n"})
    EXPECT_TRUE(contains(prom.out, sample)) << sample << "\n" << describe(prom);
  const std::regex line_format(
      R"re((# HELP [a-z_]+ .+)|(# TYPE [a-z_]+ gauge)|([a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?))re");
  std::istringstream lines(prom.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;

  const Outcome dump = run({"dump", dir_.string()});
  ASSERT_EQ(dump.exit_code, exit_ok) << describe(dump);
  EXPECT_TRUE(contains(dump.out, " txn_commit txn=0\n")) << describe(dump);  // no stream records
  EXPECT_TRUE(contains(dump.out, " txn_committed=3 txn_aborted=2 txn_failed=1 ")) << describe(dump);

  // The engine restores what corqctl shows.
  EXPECT_EQ(engine_totals(dir_), totals(3, 1, 2));
}

TEST_F(CorqctlTxns, after_a_crash_committed_stays_exact_and_is_what_the_next_open_restores) {
  corq_engine *engine = open();
  ASSERT_NE(engine, nullptr);
  commit_one(engine, "out");
  abort_one(engine, "out");
  ASSERT_EQ(corq_close(engine), CORQ_OK);  // checkpoint: 1 committed, 1 aborted

  engine = open();
  ASSERT_NE(engine, nullptr);
  commit_one(engine, "out");
  commit_one(engine, "out", "ledger");
  commit_one(engine, "out");
  abort_one(engine, "out");
  abort_one(engine, "out");
  fail_one(engine, "in");
  // One segment, nothing to release or compact: no checkpoint since the open. The copy is the
  // directory as a crash would leave it (every commit here waited for the disk; corq_sync makes
  // the lazily logged records there too).
  must(corq_sync(engine, 5000), "sync");
  const fs::path crashed = scratch_.root() / "crashed";
  std::error_code ec;
  fs::copy(dir_, crashed, fs::copy_options::recursive, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(corq_close(engine), CORQ_OK);

  const Outcome json = stats_json(crashed);
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  // Committed: the checkpoint's 1 and the 3 commit records after it. The aborts and the failure
  // since that checkpoint wrote nothing: lost with the process.
  EXPECT_TRUE(contains(json.out, txn_json(1, 3, 1, 0, true))) << describe(json);
  const Outcome text = run({"stats", crashed.string()});
  EXPECT_TRUE(contains(text.out,
                       "transactions: 4 committed (3 after the last checkpoint), 1 "
                       "aborted, 0 failed since the directory was created"))
      << describe(text);
  EXPECT_EQ(engine_totals(crashed), totals(4, 0, 1));
  // The directory closed cleanly has them all.
  EXPECT_EQ(engine_totals(dir_), totals(4, 1, 3));
}

TEST_F(CorqctlTxns, stats_count_committed_transactions_whose_stream_records_await_recovery) {
  corq_engine *engine = open();
  ASSERT_NE(engine, nullptr);
  // The commit stops once the engine log holds it, before the stream's log does (as if the
  // process died there): recovery appends the records.
  corq::testing::set_txn_stop_before_streams(true);
  corq_txn *txn = nullptr;
  must(corq_txn_begin(engine, &txn), "txn_begin");
  const std::string data = "entry";
  const corq_message m = text_message(data);
  must(corq_txn_append(txn, "ledger", nullptr, 0, &m, nullptr), "txn_append");
  must(corq_txn_append(txn, "ledger", nullptr, 0, &m, nullptr), "txn_append");
  const int rc = corq_txn_commit(txn, 5000);
  corq::testing::set_txn_stop_before_streams(false);
  ASSERT_EQ(rc, CORQ_OK) << corq_last_error();
  ASSERT_EQ(corq_close(engine), CORQ_OK);

  Outcome json = stats_json(dir_);
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out, txn_json(1, 0, 0, 0, true, 1, 1))) << describe(json);
  const Outcome text = run({"stats", dir_.string()});
  EXPECT_TRUE(contains(text.out,
                       "; 1 committed awaiting their stream records' re-append at the next open "
                       "(1 not confirmed applied)\n"))
      << describe(text);
  const Outcome prom = run({"stats", dir_.string(), "--prometheus"});
  EXPECT_TRUE(contains(prom.out, "corq_transactions_stream_reappend_pending 1\n"))
      << describe(prom);

  // The next open appends them and confirms it.
  engine = open();
  ASSERT_NE(engine, nullptr);
  corq_stream_stats s{};
  s.struct_size = sizeof s;
  must(corq_stream_stats_get(engine, "ledger", &s), "stream_stats");
  EXPECT_EQ(s.records, 2u);
  ASSERT_EQ(corq_close(engine), CORQ_OK);
  json = stats_json(dir_);
  EXPECT_TRUE(contains(json.out, txn_json(1, 0, 0, 0, true, 0, 0))) << describe(json);
}

/// Writes a log as corq wrote it before the transaction counters: a checkpoint that ends after
/// next_sid, and the declaration of queue "legacy".
void write_log_without_counters(const fs::path &dir) {
  corq::wal::LogOptions options;
  options.dir = dir.string();
  options.segment_bytes = 1048576;
  std::unique_ptr<corq::wal::Log> log;
  std::string error;
  ASSERT_EQ(corq::wal::Log::open(
                options, [](const corq::wal::RecoveredRecord &) { return 0; }, log, error),
            0)
      << error;
  std::vector<std::byte> checkpoint, declare;
  records::Writer c(checkpoint);
  c.u64(1);  // next_message_id
  c.u32(2);  // next_qid
  c.u32(1);  // next_xid
  c.u32(1);  // next_sid
  records::Writer d(declare);
  d.u32(1);
  d.str16("legacy");
  d.str32("");
  const corq::wal::Record batch[] = {{records::checkpoint, checkpoint},
                                     {records::declare, declare}};
  corq::wal::Lsn lsn = 0;
  ASSERT_EQ(log->append(batch, lsn), 0);
  ASSERT_EQ(log->wait_durable(lsn, std::chrono::steady_clock::now() + std::chrono::seconds(30)), 0);
}

TEST_F(CorqctlTxns, a_log_from_before_the_counters_shows_them_unknown_and_still_opens) {
  write_log_without_counters(dir_);
  Outcome json = stats_json(dir_);
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out, "\"legacy\":{\"ready\":0")) << describe(json);
  EXPECT_TRUE(contains(json.out, txn_json(0, 0, 0, 0, false) + ",\"note\":\"no checkpoint"))
      << describe(json);
  Outcome text = run({"stats", dir_.string()});
  ASSERT_EQ(text.exit_code, exit_ok) << describe(text);
  EXPECT_FALSE(contains(text.out, "transactions:")) << describe(text);  // nothing to say
  const Outcome prom = run({"stats", dir_.string(), "--prometheus"});
  EXPECT_TRUE(contains(prom.out, "corq_transactions_counters_known 0\n")) << describe(prom);

  // Recovery reads the old checkpoint; the engine starts counting, and its next checkpoint
  // carries the counters.
  EXPECT_EQ(engine_totals(dir_), totals(0, 0, 0));
  corq_engine *engine = open();
  ASSERT_NE(engine, nullptr);
  commit_one(engine, "legacy");
  text = run({"stats", dir_.string()});  // before any checkpoint: unknown, but committed counted
  EXPECT_TRUE(contains(text.out,
                       "\ntransactions: 1 committed (the log's commit records), aborted and failed "
                       "unknown"))
      << describe(text);
  abort_one(engine, "legacy");
  ASSERT_EQ(corq_close(engine), CORQ_OK);
  json = stats_json(dir_);
  EXPECT_TRUE(contains(json.out, txn_json(1, 0, 1, 0, true) + "}}\n")) << describe(json);
}

}  // namespace
