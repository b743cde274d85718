// tests/stream/stream_cache_test.cpp — durable streams larger than the engine's stream cache
// (`stream_cache_bytes`): the oldest chunks that are in the log leave memory, and readers, groups
// and time lookups read them back from the stream's log; retention goes on over evicted records;
// a reopen of a stream larger than the cache holds memory bounded too.
#include "stream/stream_helpers.hpp"
#include "support/temp_dir.hpp"

#include <thread>

namespace corq::test {
namespace {

constexpr std::size_t record_bytes = 1000;
constexpr std::uint64_t cache_bytes = 4ull << 20;
/// A chunk's memory with 1,000-byte records: a 1 MiB arena plus 4,096 descriptors.
constexpr std::uint64_t chunk_bytes = (1ull << 20) + 4096 * 56;

EnginePtr open_cached(const std::string &dir, Options options = {}) {
  options.emplace_back("stream_cache_bytes", std::to_string(cache_bytes));
  return open_durable(dir, options);
}

/// Record i's payload: its number, then filler derived from it (a record read back wrong shows).
std::string payload_of(std::uint64_t i) {
  std::string p = "r" + std::to_string(i) + ":";
  while (p.size() < record_bytes) p += static_cast<char>('a' + (i + p.size()) % 26);
  return p;
}

void append_records(corq_engine *e, const std::string &stream, std::uint64_t from,
                    std::uint64_t count) {
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(e, stream.c_str(), &p), "producer_open");
  for (std::uint64_t i = from; i < from + count;) {
    std::vector<std::string> bodies;
    for (std::uint64_t j = 0; j < 50 && i + j < from + count; ++j)
      bodies.push_back(payload_of(i + j));
    std::vector<corq_message> batch;
    for (const std::string &b : bodies) batch.push_back(message(b));
    must(corq_stream_producer_send(p, nullptr, 0, batch.data(), batch.size(), nullptr, nullptr,
                                   nullptr),
         "send");
    i += bodies.size();
  }
  corq_stream_producer_close(p);
}

std::uint64_t resident_bytes(corq_engine *e) {
  char *json = nullptr;
  must(corq_stats_json(e, &json), "stats_json");
  const std::string text(json);
  corq_free(json);
  const std::size_t at = text.find("\"resident_bytes\":");
  if (at == std::string::npos) throw std::runtime_error("no resident_bytes in " + text);
  return std::stoull(text.substr(at + 17));
}

/// Reads partition 0 from `start` to its end and checks every record's payload and offset.
std::uint64_t read_all_checked(corq_engine *e, const std::string &stream, const char *start,
                               std::uint64_t first_expected) {
  ReaderPtr r = open_reader(e, stream, 0, start);
  std::vector<corq_stream_record> batch(256);
  std::uint64_t expected = first_expected, n_total = 0;
  for (;;) {
    const int n = corq_stream_read(r.get(), batch.data(), batch.size(), 0);
    if (n < 0) throw std::runtime_error(std::string("read: ") + corq_last_error());
    if (n == 0) return n_total;
    for (int i = 0; i < n; ++i) {
      const corq_stream_record &rec = batch[static_cast<std::size_t>(i)];
      EXPECT_EQ(rec.offset, expected);
      const std::string got(static_cast<const char *>(rec.data), rec.len);
      if (got != payload_of(rec.offset)) {
        ADD_FAILURE() << "record " << rec.offset << " read back wrong";
        return n_total;
      }
      ++expected;
    }
    n_total += static_cast<std::uint64_t>(n);
  }
}

class StreamCache : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(StreamCache, a_stream_ten_times_the_cache_stays_within_it_and_reads_back_whole) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s");
  append_records(e.get(), "s", 0, 40'000);  // ~40 MB of payload, 10x the cache
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + 2 * chunk_bytes);
  EXPECT_EQ(read_all_checked(e.get(), "s", "earliest", 0), 40'000u);
  EXPECT_EQ(read_all_checked(e.get(), "s", "offset:12345", 12'345), 40'000u - 12'345);
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + 2 * chunk_bytes);
}

TEST_F(StreamCache, a_group_reads_evicted_records_back_in_order) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s");
  append_records(e.get(), "s", 0, 20'000);
  ConsumerPtr m = open_member(e.get(), "s", "g");
  std::uint64_t expected = 0;
  for (;;) {
    const std::vector<corq_delivery> got = consume(m.get(), 256);
    if (got.empty()) break;
    for (const corq_delivery &d : got) {
      ASSERT_EQ(d.message_id, expected);
      ASSERT_EQ(payload(d), payload_of(expected));
      ++expected;
    }
    must(corq_ack_upto(m.get(), got.back().tag), "ack_upto");
  }
  EXPECT_EQ(expected, 20'000u);
  EXPECT_EQ(group_stats(e.get(), "s", "g").lag, 0u);
}

TEST_F(StreamCache, a_time_start_inside_evicted_records_finds_the_exact_record) {
  EnginePtr e = open_cached(tmp_.data(), {{"clock", "manual"}});
  must_declare_stream(e.get(), "s");
  std::vector<std::int64_t> stamps;
  for (std::uint64_t i = 0; i < 12'000; i += 1000) {
    append_records(e.get(), "s", i, 1000);
    advance(e.get(), 10);  // each thousand records 10 ms after the previous thousand
  }
  ReaderPtr all = open_reader(e.get(), "s", 0, "offset:4500");
  const std::vector<Record> at = read(all.get(), 1);
  ASSERT_EQ(at.size(), 1u);
  // The first record stamped at 4,500's time is 4,000 (a thousand share a stamp).
  const std::string start = "time:" + std::to_string(at[0].timestamp_ms);
  ReaderPtr r = open_reader(e.get(), "s", 0, start.c_str());
  const std::vector<Record> got = read(r.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 4000u);
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + 2 * chunk_bytes);
}

TEST_F(StreamCache, retention_keeps_exactly_its_records_over_evicted_chunks) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s", {{"retention_records", "15000"}});
  append_records(e.get(), "s", 0, 30'000);
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 15'000u);
  EXPECT_EQ(s.deleted, 15'000u);
  EXPECT_EQ(read_all_checked(e.get(), "s", "earliest", 15'000), 15'000u);
}

TEST_F(StreamCache, a_reopen_of_a_stream_larger_than_the_cache_holds_memory_bounded) {
  {
    EnginePtr e = open_cached(tmp_.data());
    must_declare_stream(e.get(), "s");
    append_records(e.get(), "s", 0, 30'000);
  }
  EnginePtr e = open_cached(tmp_.data());
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + 2 * chunk_bytes);
  EXPECT_EQ(read_all_checked(e.get(), "s", "earliest", 0), 30'000u);
  EXPECT_EQ(append(e.get(), "s", payload_of(30'000)).offset, 30'000u);
}

TEST_F(StreamCache, stream_cache_bytes_below_1_mib_is_einval) {
  corq_engine *engine = nullptr;
  ConfigPtr config;
  EXPECT_EQ(CORQ_EINVAL, try_make_config({{"stream_cache_bytes", "1000"}}, config));
  EXPECT_EQ(engine, nullptr);
}

}  // namespace
}  // namespace corq::test
