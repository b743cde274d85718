// tests/stream/stream_cache_test.cpp — durable streams larger than the engine's stream cache
// (`stream_cache_bytes`): the oldest chunks that are in the log leave memory, and readers, groups
// and time lookups read them back from the stream's log; retention goes on over evicted records;
// a reopen of a stream larger than the cache holds memory bounded too.
#include "stream/murmur2.hpp"
#include "stream/stream_helpers.hpp"
#include "support/temp_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
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

/// Appends records numbered from..from+count-1 (payload(i) each) in batches of `per_batch`.
template <class Payload = std::string (*)(std::uint64_t)>
void append_records(corq_engine *e, const std::string &stream, std::uint64_t from,
                    std::uint64_t count, const Payload &payload = payload_of,
                    std::uint64_t per_batch = 50) {
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(e, stream.c_str(), &p), "producer_open");
  for (std::uint64_t i = from; i < from + count;) {
    std::vector<std::string> bodies;
    for (std::uint64_t j = 0; j < per_batch && i + j < from + count; ++j)
      bodies.push_back(payload(i + j));
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

/// Reads on from `expected` until the reader has nothing more (or `upto`), checking that the
/// offsets run on without a gap and each payload is `payload(offset)`; returns the next offset.
template <class Payload>
std::uint64_t read_on_checked(corq_stream_reader *reader, std::uint64_t expected,
                              const Payload &payload, std::uint64_t upto = ~std::uint64_t{0}) {
  std::vector<corq_stream_record> batch(256);
  while (expected < upto) {
    const std::size_t max =
        static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), upto - expected));
    const int n = corq_stream_read(reader, batch.data(), max, 0);
    if (n < 0) throw std::runtime_error(std::string("read: ") + corq_last_error());
    if (n == 0) break;
    for (int i = 0; i < n; ++i) {
      const corq_stream_record &rec = batch[static_cast<std::size_t>(i)];
      if (rec.offset != expected ||
          std::string(static_cast<const char *>(rec.data), rec.len) != payload(expected)) {
        ADD_FAILURE() << "record " << expected << " read back wrong (offset " << rec.offset << ")";
        return expected;
      }
      ++expected;
    }
  }
  return expected;
}

/// Reads partition 0 from `start` to its end and checks every record's payload and offset;
/// returns how many it read.
std::uint64_t read_all_checked(corq_engine *e, const std::string &stream, const char *start,
                               std::uint64_t first_expected) {
  ReaderPtr r = open_reader(e, stream, 0, start);
  return read_on_checked(r.get(), first_expected, payload_of) - first_expected;
}

/// Payload of `partition`'s record at `offset` (streams of several partitions).
std::string payload_at(std::uint32_t partition, std::uint64_t offset) {
  return "p" + std::to_string(partition) + "-" + payload_of(offset);
}

/// Appends `count` records to `partition` (a key that lands there) as one batch of the producer,
/// numbered from `offset`.
void append_to(corq_stream_producer *p, const std::string &key, std::uint32_t partition,
               std::uint64_t offset, std::uint64_t count) {
  std::vector<std::string> bodies;
  for (std::uint64_t i = 0; i < count; ++i) bodies.push_back(payload_at(partition, offset + i));
  std::vector<corq_message> batch;
  for (const std::string &b : bodies) batch.push_back(message(b));
  std::uint32_t got_partition = 0;
  std::uint64_t first = 0;
  must(corq_stream_producer_send(p, key.data(), key.size(), batch.data(), batch.size(), nullptr,
                                 &got_partition, &first),
       "send");
  ASSERT_EQ(got_partition, partition);
  ASSERT_EQ(first, offset);
}

/// Reads `partition` from offset 0 to its end; checks offsets and payloads; returns the count.
std::uint64_t read_partition_checked(corq_engine *e, const std::string &stream,
                                     std::uint32_t partition) {
  ReaderPtr r = open_reader(e, stream, partition, "earliest");
  return read_on_checked(r.get(), 0, [&](std::uint64_t o) { return payload_at(partition, o); });
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

// Records read back are read a MiB of log at a time and the reader is kept for the next load; the
// segment being written grows between loads, so what lay past its last frame must be read again.
TEST_F(StreamCache, reads_back_between_appends_to_the_segment_being_written_see_the_new_records) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s");
  std::uint64_t total = 0;
  for (int round = 0; round < 4; ++round) {
    append_records(e.get(), "s", total, 6'000);  // every round evicts what came before
    total += 6'000;
    EXPECT_EQ(read_all_checked(e.get(), "s", "earliest", 0), total) << "round " << round;
  }
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + 2 * chunk_bytes);
}

// The same at the smallest cache, where the reader's last block ends past the log's end (zeros
// of the preallocated segment) and the next load needs what was written there since.
TEST_F(StreamCache, a_kept_read_block_that_ended_past_the_log_is_read_again_when_it_grew) {
  EnginePtr e = open_durable(tmp_.data(), {{"stream_cache_bytes", std::to_string(1 << 20)}});
  must_declare_stream(e.get(), "s");
  const auto small = [](std::uint64_t i) { return payload_of(i).substr(0, 100); };
  std::uint64_t total = 0;
  const auto append_small = [&](std::uint64_t count) {
    append_records(e.get(), "s", total, count, small, 64);
    total += count;
  };
  // One reader across the appends: each step reads what is there, then more is appended.
  ReaderPtr r = open_reader(e.get(), "s", 0, "earliest");
  std::uint64_t expected = 0;
  const auto read_on = [&](std::uint64_t upto) {
    return expected = read_on_checked(r.get(), expected, small, upto);
  };
  // Chunks hold 4,096 records (~0.6 MB of log at 100 B each). Two whole chunks and a few records
  // of the third: reading the second back (evicted) reads a block that runs past the end of the
  // log. The reader stops at the chunk's end; after more appends the third is evicted too, and
  // its load starts in that block.
  constexpr std::uint64_t chunk = 4'096;
  append_small(2 * chunk + 300);
  for (std::uint64_t round = 1; round <= 6; ++round) {
    EXPECT_EQ(read_on((round + 1) * chunk), (round + 1) * chunk) << "round " << round;
    append_small(2 * chunk);
  }
  EXPECT_EQ(read_on(total), total);
}

// A stream's log interleaves its partitions' batches: each partition reads back only its own
// records, in order, whichever partition was read last.
TEST_F(StreamCache, partitions_interleaved_in_the_log_read_back_each_its_own_records) {
  constexpr std::uint32_t partitions = 3;
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s", {{"partitions", std::to_string(partitions)}});
  std::vector<std::string> keys(partitions);
  for (std::uint32_t found = 0, i = 0; found < partitions; ++i) {
    const std::string key = "k" + std::to_string(i);
    std::string &slot = keys[core::stream::partition_for_key(key.data(), key.size(), partitions)];
    if (slot.empty()) slot = key, ++found;
  }
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(e.get(), "s", &p), "producer_open");
  std::vector<std::uint64_t> next(partitions, 0);
  for (int batch = 0; batch < 600; ++batch) {
    const std::uint32_t part = static_cast<std::uint32_t>(batch * 7 % partitions);
    const std::uint64_t count = 10 + static_cast<std::uint64_t>(batch % 5) * 9;
    append_to(p, keys[part], part, next[part], count);
    next[part] += count;
  }
  corq_stream_producer_close(p);
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint32_t part : {2u, 0u, 1u}) {
      EXPECT_EQ(read_partition_checked(e.get(), "s", part), next[part]) << "partition " << part;
    }
  }
  // Each partition's newest chunk (being written) stays in memory, whatever the cache.
  EXPECT_LE(resident_bytes(e.get()), cache_bytes + (partitions + 1) * chunk_bytes);
}

// One producer batch is one frame of the log, however large: a batch of 3 MB (three times the
// reader's 1 MiB block) reads back whole, and so do the batches around it.
TEST_F(StreamCache, a_batch_larger_than_the_read_block_reads_back_whole) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s");
  append_records(e.get(), "s", 0, 1'000);
  {
    corq_stream_producer *p = nullptr;
    must(corq_stream_producer_open(e.get(), "s", &p), "producer_open");
    std::vector<std::string> bodies;
    for (std::uint64_t i = 1'000; i < 4'000; ++i) bodies.push_back(payload_of(i));
    std::vector<corq_message> batch;
    for (const std::string &b : bodies) batch.push_back(message(b));
    must(corq_stream_producer_send(p, nullptr, 0, batch.data(), batch.size(), nullptr, nullptr,
                                   nullptr),
         "send");
    corq_stream_producer_close(p);
  }
  append_records(e.get(), "s", 4'000, 8'000);  // evicts the large batch
  EXPECT_EQ(read_all_checked(e.get(), "s", "earliest", 0), 12'000u);
  EXPECT_EQ(read_all_checked(e.get(), "s", "offset:2500", 2'500), 12'000u - 2'500);
}

// Records read back are checked (each frame's CRC): a byte flipped on disk under an open engine
// makes the read fail with CORQ_ECORRUPT and a detail naming the segment; nothing wrong is
// returned, and the records still in memory stay readable.
TEST_F(StreamCache, a_flipped_byte_in_an_evicted_record_is_reported_not_returned) {
  EnginePtr e = open_cached(tmp_.data());
  must_declare_stream(e.get(), "s");
  append_records(e.get(), "s", 0, 10'000);
  std::string segment;
  for (const auto &entry :
       std::filesystem::recursive_directory_iterator(tmp_.data() + "/streams")) {
    const std::string path = entry.path().string();
    if (path.ends_with(".wal") && (segment.empty() || path < segment)) segment = path;
  }
  ASSERT_FALSE(segment.empty());
  {
    const int fd = ::open(segment.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, 300'000), 1);  // inside the records of the first chunks
    byte = static_cast<char>(byte ^ 0x20);
    ASSERT_EQ(::pwrite(fd, &byte, 1, 300'000), 1);
    ::close(fd);
  }
  ReaderPtr r = open_reader(e.get(), "s", 0, "earliest");
  std::vector<corq_stream_record> batch(256);
  int rc = 0;
  std::uint64_t read = 0;
  while ((rc = corq_stream_read(r.get(), batch.data(), batch.size(), 0)) > 0) {
    for (int i = 0; i < rc; ++i) {
      const corq_stream_record &rec = batch[static_cast<std::size_t>(i)];
      ASSERT_EQ(std::string(static_cast<const char *>(rec.data), rec.len), payload_of(rec.offset));
    }
    read += static_cast<std::uint64_t>(rc);
  }
  EXPECT_EQ(rc, CORQ_ECORRUPT);
  EXPECT_LT(read, 1'000u);  // it stops at the damaged frame, within the first MB
  EXPECT_NE(std::string(corq_last_error()).find(".wal"), std::string::npos) << corq_last_error();
  // The newest records are in memory, and read as ever.
  EXPECT_EQ(read_all_checked(e.get(), "s", "offset:9900", 9'900), 100u);
}

TEST_F(StreamCache, stream_cache_bytes_below_1_mib_is_einval) {
  corq_engine *engine = nullptr;
  ConfigPtr config;
  EXPECT_EQ(CORQ_EINVAL, try_make_config({{"stream_cache_bytes", "1000"}}, config));
  EXPECT_EQ(engine, nullptr);
}

}  // namespace
}  // namespace corq::test
