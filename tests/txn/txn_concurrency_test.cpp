// tests/txn/txn_concurrency_test.cpp — transactions under concurrency (run under TSan too): worker
// threads consume from a queue and from a stream's consumer group and, for every input, publish a
// message to a queue and append a record to a stream in ONE transaction with the input's ack — the
// consume-transform-produce loop of DESIGN.md §8 — while leases run out under some of them, some
// abort, some settle an input behind their transaction's back, and a reader tails the output
// stream. All workers share the inputs and the outputs, so their transactions overlap everywhere.
//
// What must hold at the end (conservation, per input key):
//   committed + settled-outside == 1  (every input ended exactly once),
//   outputs in the queue == outputs in the stream == committed  (a commit is all or nothing),
// and the engine's transaction counters equal the commits, failures and aborts the workers saw.
// On a disk engine the same holds again after a reopen.
#include "support/sanitizers.hpp"
#include "txn/txn_helpers.hpp"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace corq::test {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t lease_ms = 150;
constexpr auto run_deadline = 180s;

struct Tally {
  std::mutex mutex;
  std::map<std::string, int> committed;       // input key -> commits that acked it
  std::map<std::string, int> settled_outside;  // input key -> plain acks that returned OK
  std::atomic<std::uint64_t> ended{0};         // inputs ended (either way)
  std::atomic<std::uint64_t> commits{0}, failed_commits{0}, aborts{0};
  std::atomic<bool> failed{false};
  std::string first_failure;
  void fail(const std::string &what) {
    std::lock_guard lock(mutex);
    if (first_failure.empty()) first_failure = what;
    failed = true;
  }
};

/// The input's key: a queue message's payload, a group delivery's payload too.
std::string key_of(const corq_delivery &d) {
  return std::string(static_cast<const char *>(d.data), d.len);
}

/// One worker: consumes a handful, transforms each into a queue message and a stream record, acks
/// each in the same transaction, and commits — or, now and then, lets the lease run out first,
/// aborts, or acks one input outside the transaction (which the commit must then refuse whole).
void work(corq_engine *engine, corq_consumer *consumer, std::uint64_t total, std::uint32_t seed,
          Tally &tally) {
  std::mt19937 rng(seed);
  const auto deadline = std::chrono::steady_clock::now() + run_deadline;
  std::vector<corq_delivery> got(8);
  while (tally.ended.load() < total && !tally.failed.load()) {
    if (std::chrono::steady_clock::now() > deadline) return tally.fail("a worker ran out of time");
    const std::size_t want = 1 + rng() % got.size();
    const int n = corq_consume(consumer, got.data(), want, 5);
    if (n < 0) return tally.fail(std::string("consume: ") + corq_strerror(n) + " " + last_error());
    if (n == 0) continue;
    Txn txn(engine);
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) {
      const corq_delivery &d = got[static_cast<std::size_t>(i)];
      keys.push_back(key_of(d));
      const std::string &key = keys.back();
      if (txn.publish("", "out", key) != CORQ_OK || txn.append("ledger", key.c_str(), key) != CORQ_OK ||
          txn.ack(consumer, d.tag) != CORQ_OK)
        return tally.fail("a transaction refused an operation: " + last_error());
    }
    const unsigned dice = rng() % 100;
    if (dice < 8) {
      // Abort: nothing happened; give the inputs back (a lease may have run out meanwhile).
      corq_txn_abort(txn.get());
      txn.forget();
      tally.aborts++;
      for (int i = 0; i < n; ++i) corq_release(consumer, got[static_cast<std::size_t>(i)].tag);
      continue;
    }
    if (dice < 12) {
      // One input settled behind the transaction's back: the commit must fail whole.
      const std::size_t i = rng() % static_cast<std::size_t>(n);
      if (corq_ack(consumer, got[i].tag) == CORQ_OK) {
        {
          std::lock_guard lock(tally.mutex);
          tally.settled_outside[keys[i]]++;
        }
        tally.ended++;
        const int rc = txn.commit();
        if (rc != CORQ_ESTATE)
          return tally.fail(std::string("a commit acking a settled input returned ") +
                            corq_strerror(rc));
        tally.failed_commits++;
        for (int j = 0; j < n; ++j) corq_release(consumer, got[static_cast<std::size_t>(j)].tag);
        continue;
      }
    } else if (dice < 16) {
      // Past the lease: the scheduler may hand the inputs to another worker first.
      std::this_thread::sleep_for(std::chrono::milliseconds(lease_ms + 30));
    }
    const int rc = txn.commit();
    if (rc == CORQ_OK) {
      tally.commits++;
      {
        std::lock_guard lock(tally.mutex);
        for (const std::string &key : keys) tally.committed[key]++;
      }
      tally.ended += keys.size();
    } else if (rc == CORQ_ESTATE) {
      // A lease ran out: nothing of the transaction happened; the inputs not yet returned go back.
      tally.failed_commits++;
      for (int i = 0; i < n; ++i) corq_release(consumer, got[static_cast<std::size_t>(i)].tag);
    } else {
      return tally.fail(std::string("commit: ") + corq_strerror(rc) + " " + last_error());
    }
  }
}

/// Every output, by key: (messages in "out", records in "ledger"). Drains "out".
std::map<std::string, std::pair<int, int>> outputs(corq_engine *engine) {
  std::map<std::string, std::pair<int, int>> out;
  for (const std::string &payload : drain_acking(engine, "out")) out[payload].first++;
  for (std::uint32_t p = 0; p < 3; ++p) {
    ReaderPtr r = open_reader(engine, "ledger", p);
    for (;;) {
      const std::vector<Record> got = read(r.get(), 256);
      if (got.empty()) break;
      for (const Record &rec : got) {
        if (rec.key != rec.payload) ADD_FAILURE() << "ledger record " << rec.offset << " mixed up";
        out[rec.payload].second++;
      }
    }
  }
  return out;
}

int count_of(const std::map<std::string, int> &counts, const std::string &key) {
  const auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

std::uint64_t json_count(const std::string &json, const std::string &key) {
  const std::string at = "\"transactions\":{";
  const std::size_t t = json.find(at);
  if (t == std::string::npos) return ~std::uint64_t{0};
  const std::size_t k = json.find("\"" + key + "\":", t);
  if (k == std::string::npos) return ~std::uint64_t{0};
  return std::stoull(json.substr(k + key.size() + 3));
}

class TxnConcurrency : public ::testing::TestWithParam<bool> {};

TEST_P(TxnConcurrency, overlapping_consume_transform_produce_transactions_conserve_every_input) {
  const bool durable = GetParam();
  std::string dir;
  EnginePtr e;
  if (durable) {
    dir = "/tmp/corq-txn-concurrency-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    e = open_durable(dir, {{"sync", "none"}, {"segment_bytes", "1MiB"}});
  } else {
    e = open_engine();
  }
  const std::string lease = std::to_string(lease_ms);
  must_declare(e.get(), "in", {{"lease_ms", lease}, {"max_attempts", "0"}});
  must_declare(e.get(), "out");
  must_declare_stream(e.get(), "ledger", {{"partitions", "3"}});
  must_declare_stream(e.get(), "events", {{"partitions", "2"}});
  const std::uint64_t queue_inputs = scaled(3'000, 3), stream_inputs = scaled(2'000, 3);
  const std::uint64_t total = queue_inputs + stream_inputs;
  for (std::uint64_t i = 0; i < queue_inputs; ++i) publish(e.get(), "in", "q" + std::to_string(i));
  for (std::uint64_t i = 0; i < stream_inputs; ++i) {
    const std::string key = "s" + std::to_string(i);
    append(e.get(), "events", key, key.c_str());
  }

  Tally tally;
  std::atomic<bool> stop_reader{false};
  std::vector<std::thread> threads;
  // The inputs' consumers: three on the queue, two members of the stream's group.
  std::vector<ConsumerPtr> consumers;
  for (int i = 0; i < 3; ++i) consumers.push_back(open_consumer(e.get(), "in", 8));
  for (int i = 0; i < 2; ++i) {
    corq_consumer *member = nullptr;
    ConfigPtr config =
        make_config({{"prefetch", "8"}, {"lease_ms", lease}, {"max_attempts", "0"}});
    must(corq_group_consumer_open(e.get(), "events", "g", config.get(), &member), "group open");
    consumers.emplace_back(member);
  }
  for (std::size_t i = 0; i < consumers.size(); ++i) {
    threads.emplace_back([&, i] {
      work(e.get(), consumers[i].get(), total, static_cast<std::uint32_t>(i + 1), tally);
    });
  }
  // A reader tails the output stream: it never sees a record twice nor one out of order.
  threads.emplace_back([&] {
    std::vector<ReaderPtr> readers;
    std::vector<std::uint64_t> next(3, 0);
    for (std::uint32_t p = 0; p < 3; ++p) readers.push_back(open_reader(e.get(), "ledger", p));
    while (!stop_reader.load()) {
      for (std::uint32_t p = 0; p < 3; ++p) {
        for (const Record &rec : read(readers[p].get(), 64, 1)) {
          if (rec.offset != next[p]) tally.fail("the reader skipped or repeated an offset");
          next[p] = rec.offset + 1;
        }
      }
    }
  });
  for (std::size_t i = 0; i + 1 < threads.size(); ++i) threads[i].join();
  stop_reader = true;
  threads.back().join();
  ASSERT_FALSE(tally.failed.load()) << tally.first_failure;
  consumers.clear();

  const auto check = [&](corq_engine *engine, const char *when) {
    const std::map<std::string, std::pair<int, int>> out = outputs(engine);
    std::size_t bad = 0;
    for (std::uint64_t i = 0; i < total; ++i) {
      const std::string key =
          i < queue_inputs ? "q" + std::to_string(i) : "s" + std::to_string(i - queue_inputs);
      const int committed = count_of(tally.committed, key);
      const int outside = count_of(tally.settled_outside, key);
      const auto it = out.find(key);
      const std::pair<int, int> got = it == out.end() ? std::pair{0, 0} : it->second;
      if (committed + outside != 1 || got.first != committed || got.second != committed) {
        if (++bad <= 10) {
          ADD_FAILURE() << when << ": input " << key << ": committed " << committed
                        << ", settled outside " << outside << ", " << got.first
                        << " messages out, " << got.second << " ledger records";
        }
      }
    }
    EXPECT_EQ(bad, 0u) << when;
    const corq_queue_stats in = stats(engine, "in");
    EXPECT_EQ(in.ready + in.in_flight + in.delayed, 0u) << when << ": " << describe(in);
    corq_group_stats g{};
    g.struct_size = sizeof g;
    must(corq_group_stats_get(engine, "events", "g", &g), "group_stats");
    EXPECT_EQ(g.lag, 0u) << when;
    EXPECT_EQ(g.in_flight, 0u) << when;
  };
  check(e.get(), "after the run");
  const std::string json = stats_json(e.get());
  EXPECT_EQ(json_count(json, "committed"), tally.commits.load()) << json;
  EXPECT_EQ(json_count(json, "failed"), tally.failed_commits.load()) << json;
  EXPECT_EQ(json_count(json, "aborted"), tally.aborts.load()) << json;
  EXPECT_EQ(json_count(json, "open"), 0u) << json;
  std::printf("transactions: %llu committed, %llu failed, %llu aborted, %zu inputs settled outside\n",
              static_cast<unsigned long long>(tally.commits.load()),
              static_cast<unsigned long long>(tally.failed_commits.load()),
              static_cast<unsigned long long>(tally.aborts.load()), tally.settled_outside.size());
  if (!durable) return;

  // The ledger again after a reopen (the queue "out" was drained above): nothing of a failed or
  // aborted transaction, everything of a committed one, no input back.
  e.reset();
  e = open_durable(dir);
  std::map<std::string, int> ledger;
  for (std::uint32_t p = 0; p < 3; ++p) {
    ReaderPtr r = open_reader(e.get(), "ledger", p);
    for (;;) {
      const std::vector<Record> got = read(r.get(), 256);
      if (got.empty()) break;
      for (const Record &rec : got) ledger[rec.payload]++;
    }
  }
  std::size_t bad = 0;
  for (const auto &[key, committed] : tally.committed) {
    if (count_of(ledger, key) != committed && ++bad <= 10)
      ADD_FAILURE() << "after the reopen: " << key << " has " << count_of(ledger, key)
                    << " ledger records";
  }
  EXPECT_EQ(bad, 0u);
  std::size_t records = 0, outside = 0;
  for (const auto &[key, n] : ledger) records += static_cast<std::size_t>(n);
  for (const auto &[key, n] : tally.settled_outside) outside += static_cast<std::size_t>(n);
  EXPECT_EQ(records, tally.ended.load() - outside);
  const corq_queue_stats in = stats(e.get(), "in");
  EXPECT_EQ(in.ready + in.delayed, 0u) << "inputs came back: " << describe(in);
  EXPECT_EQ(stats(e.get(), "out").ready, 0u);
  corq_group_stats g{};
  g.struct_size = sizeof g;
  must(corq_group_stats_get(e.get(), "events", "g", &g), "group_stats");
  EXPECT_EQ(g.lag, 0u) << "group inputs came back";
  e.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

INSTANTIATE_TEST_SUITE_P(Engines, TxnConcurrency, ::testing::Values(false, true),
                         [](const auto &info) { return info.param ? "durable" : "in_memory"; });

}  // namespace
}  // namespace corq::test
