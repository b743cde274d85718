// tests/stream/stream_concurrency_test.cpp — appenders and tail-following readers on one stream at
// once, with retention deleting under the readers (run under TSan too): every reader sees each
// partition's offsets in order without holes except the ones it is told it skipped, every record
// it sees carries the payload appended at that offset, and the records of one read stay intact
// while appends and retention go on.
#include "stream/murmur2.hpp"
#include "stream/stream_helpers.hpp"
#include "support/sanitizers.hpp"
#include "support/temp_dir.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace corq::test {
namespace {

/// What threads report: the first failure's text, and whether any failed.
struct FirstFailure {
  std::atomic<bool> failed{false};
  void note(const std::string &what) {
    std::lock_guard lock(mutex);
    if (text.empty()) text = what;
    failed = true;
  }
  std::string first() {
    std::lock_guard lock(mutex);
    return text;
  }
  std::mutex mutex;
  std::string text;
};

TEST(StreamConcurrency, readers_follow_appenders_in_order_while_retention_deletes) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}, {"retention_records", "3000"}});
  const int per_appender = static_cast<int>(scaled(40'000));
  constexpr int appenders = 2;
  std::atomic<int> appenders_done{0};
  FirstFailure failure;
  std::atomic<bool> &failed = failure.failed;
  auto fail = [&](const std::string &what) { failure.note(what); };

  std::vector<std::thread> threads;
  for (int a = 0; a < appenders; ++a) {
    threads.emplace_back([&, a] {
      for (int i = 0; i < per_appender; ++i) {
        // The payload names its key; keys "a0"/"a1" each go to one partition.
        const std::string key = "k" + std::to_string(a);
        const std::string body = key + ":" + std::to_string(i);
        if (try_append(e.get(), "s", body, key.c_str()) != CORQ_OK) fail("append failed");
      }
      appenders_done.fetch_add(1);
    });
  }
  std::atomic<std::uint64_t> seen_total{0};
  for (std::uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      // offset:0, not earliest: a reader that starts late (a loaded machine) would begin past what
      // retention already deleted, and those offsets would count as neither read nor skipped
      // (CI failed on that once). offset:0 counts them as skipped.
      ReaderPtr r = open_reader(e.get(), "s", p, "offset:0");
      std::uint64_t expected = 0, seen_here = 0;
      std::map<std::string, int> last_per_key;
      std::vector<corq_stream_record> batch(256);
      for (;;) {
        // Looked at before the read: once every appender had finished, a read that finds nothing
        // means the reader has seen (or skipped) all. (A separate "drain" read after a timeout
        // once dropped the records it returned from the count: CI caught the hole.)
        const bool appenders_finished = appenders_done.load() == appenders;
        const int n =
            corq_stream_read(r.get(), batch.data(), batch.size(), appenders_finished ? 0 : 20);
        if (n < 0) return fail("read failed");
        if (n == 0) {
          if (appenders_finished) break;
          continue;
        }
        for (int i = 0; i < n; ++i) {
          const Record rec = copy_record(batch[static_cast<std::size_t>(i)]);
          if (rec.partition != p) return fail("record of another partition");
          // Dense: the next offset, or a jump that skipped() accounts for.
          if (rec.offset < expected) return fail("offset went back");
          expected = rec.offset + 1;
          const std::size_t colon = rec.payload.find(':');
          if (colon == std::string::npos || rec.payload.substr(0, colon) != rec.key)
            return fail("payload does not match its key: " + rec.payload);
          const int seq = std::stoi(rec.payload.substr(colon + 1));
          auto [it, fresh] = last_per_key.try_emplace(rec.key, seq);
          if (!fresh) {
            if (seq <= it->second) return fail("a key's records out of order");
            it->second = seq;
          }
        }
        seen_here += static_cast<std::uint64_t>(n);
        seen_total.fetch_add(static_cast<std::uint64_t>(n));
      }
      // Everything the partition ever held was either read or skipped.
      const std::uint64_t skipped = corq_stream_reader_skipped(r.get());
      if (seen_here + skipped != expected) {
        return fail("partition " + std::to_string(p) + ": read " + std::to_string(seen_here) +
                    " + skipped " + std::to_string(skipped) + " != " + std::to_string(expected));
      }
    });
  }
  for (std::thread &t : threads) t.join();
  EXPECT_FALSE(failed.load()) << failure.first();
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.appended, static_cast<std::uint64_t>(appenders * per_appender));
  EXPECT_EQ(s.records + s.deleted, s.appended);
  EXPECT_LE(s.records, 2u * 3000);
  EXPECT_GT(seen_total.load(), 0u);
}

// Durable streams larger than the cache: readers replaying evicted records (reading chunks back
// from the log, sharing its kept read buffer and chunk memory pool) while an appender goes on and
// retention deletes from the front. Every record read carries the payload appended at its offset,
// in order; records deleted under a reader count as skipped.
TEST(StreamConcurrency, replays_of_evicted_records_while_appends_and_retention_go_on) {
  TempDir tmp;
  EnginePtr e = open_durable(tmp.data(), {{"stream_cache_bytes", std::to_string(1 << 20)}});
  must_declare_stream(e.get(), "s", {{"partitions", "2"}, {"retention_records", "30000"}});
  const std::string filler(200, 'x');
  const auto body_of = [&](std::uint32_t partition, std::uint64_t offset) {
    return std::to_string(partition) + ":" + std::to_string(offset) + ":" + filler;
  };
  // Keys that land on partitions 0 and 1.
  std::string keys[2];
  for (int i = 0; keys[0].empty() || keys[1].empty(); ++i) {
    const std::string k = "k" + std::to_string(i);
    const std::uint32_t p = core::stream::partition_for_key(k.data(), k.size(), 2);
    if (keys[p].empty()) keys[p] = k;
  }
  const int batches = static_cast<int>(scaled(600));
  std::atomic<bool> appending{true};
  FirstFailure failure;
  std::atomic<bool> &failed = failure.failed;
  auto fail = [&](const std::string &what) { failure.note(what); };
  std::uint64_t next[2] = {0, 0};
  const auto append_batch = [&](corq_stream_producer *p, std::uint32_t part) {
    std::vector<std::string> bodies;
    for (int i = 0; i < 50; ++i) bodies.push_back(body_of(part, next[part] + i));
    std::vector<corq_message> batch;
    for (const std::string &b : bodies) batch.push_back(message(b));
    if (corq_stream_producer_send(p, keys[part].data(), keys[part].size(), batch.data(),
                                  batch.size(), nullptr, nullptr, nullptr) != CORQ_OK)
      fail(std::string("send: ") + corq_last_error());
    next[part] += 50;
  };
  corq_stream_producer *producer = nullptr;
  must(corq_stream_producer_open(e.get(), "s", &producer), "producer_open");
  for (int b = 0; b < batches / 2; ++b) append_batch(producer, static_cast<std::uint32_t>(b % 2));
  std::thread appender([&] {
    for (int b = batches / 2; b < batches; ++b)
      append_batch(producer, static_cast<std::uint32_t>(b % 2));
    appending = false;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      const std::uint32_t part = static_cast<std::uint32_t>(r % 2);
      for (int pass = 0; pass < 2 && !failed; ++pass) {
        corq_stream_reader *reader = nullptr;
        if (corq_stream_reader_open(e.get(), "s", part, "offset:0", &reader) != CORQ_OK) {
          fail("reader_open");
          return;
        }
        std::vector<corq_stream_record> out(128);
        std::uint64_t expected = 0;
        for (;;) {
          const int n = corq_stream_read(reader, out.data(), out.size(), 0);
          if (n < 0) {
            fail(std::string("read: ") + corq_last_error());
            break;
          }
          if (n == 0) {
            if (!appending) break;
            std::this_thread::yield();
            continue;
          }
          for (int i = 0; i < n; ++i) {
            const corq_stream_record &rec = out[static_cast<std::size_t>(i)];
            if (rec.offset < expected || std::string(static_cast<const char *>(rec.data),
                                                     rec.len) != body_of(part, rec.offset)) {
              fail("partition " + std::to_string(part) + ": offset " + std::to_string(rec.offset) +
                   " read wrong (expected >= " + std::to_string(expected) + ")");
              break;
            }
            expected = rec.offset + 1;
          }
        }
        corq_stream_reader_close(reader);
      }
    });
  }
  appender.join();
  for (std::thread &t : readers) t.join();
  EXPECT_FALSE(failed) << failure.first();
  // And once the appender stopped, a late reader still starts at the first retained record.
  corq_stream_reader *late = nullptr;
  must(corq_stream_reader_open(e.get(), "s", 0, "earliest", &late), "reader_open");
  std::vector<corq_stream_record> out(16);
  EXPECT_GE(corq_stream_read(late, out.data(), out.size(), 0), 0);
  corq_stream_reader_close(late);
  corq_stream_producer_close(producer);
  e.reset();
}

}  // namespace
}  // namespace corq::test
