// tests/stream/durable_stream_test.cpp — durable streams (DESIGN.md §7) over real data directories,
// one test per rule: records, offsets, timestamps, keys and headers survive a reopen; offsets are
// never reused (also when retention emptied a partition and its segments are gone); a producer's
// batch is atomic; under sync=always a record is readable once durable (NOWAIT appends too);
// retention frees whole segment files; deletion removes the files; update=true limits and dedup
// ids survive; declarations survive the engine log's checkpoints.
#include "stream/stream_helpers.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <thread>

namespace corq::test {
namespace {

namespace fs = std::filesystem;

/// The segment files of every stream log under the data directory.
std::size_t stream_segment_files(const std::string &dir) {
  std::size_t n = 0;
  if (!fs::exists(dir + "/streams")) return 0;
  for (const auto &entry : fs::recursive_directory_iterator(dir + "/streams")) {
    if (entry.path().extension() == ".wal") ++n;
  }
  return n;
}

std::size_t stream_directories(const std::string &dir) {
  if (!fs::exists(dir + "/streams")) return 0;
  std::size_t n = 0;
  for (const auto &entry : fs::directory_iterator(dir + "/streams")) n += entry.is_directory();
  return n;
}

/// Every record of a partition, read from `start`.
std::vector<Record> read_partition(corq_engine *engine, const std::string &stream,
                                   std::uint32_t partition, const char *start = "earliest") {
  ReaderPtr r = open_reader(engine, stream, partition, start);
  std::vector<Record> out;
  for (;;) {
    std::vector<Record> got = read(r.get(), 256);
    if (got.empty()) return out;
    for (Record &rec : got) out.push_back(std::move(rec));
  }
}

template <class Done>
bool eventually(Done &&done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class DurableStream : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(DurableStream, streams_default_to_durable_on_a_disk_engine_and_stats_show_their_log) {
  EnginePtr e = open_durable(tmp_.data());
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  append(e.get(), "s", "a", "k");
  ConsumerPtr m = open_member(e.get(), "s", "g");
  const std::vector<corq_delivery> got = consume(m.get(), 4);
  ASSERT_EQ(got.size(), 1u);
  must(corq_ack(m.get(), got[0].tag), "ack");
  char *json = nullptr;
  must(corq_stats_json(e.get(), &json), "stats_json");
  const std::string text(json);
  corq_free(json);
  EXPECT_TRUE(is_valid_json(text)) << text;
  EXPECT_NE(text.find("\"durable\":true"), std::string::npos) << text;
  EXPECT_NE(text.find("\"log\":{\"sid\":1,\"segments\":1"), std::string::npos) << text;
  // The group's committed offset per partition: 1 where the record was acked, 0 in the other.
  const std::uint32_t p =
      static_cast<std::uint32_t>(std::stoul(*header_value(got[0], "x-stream-partition")));
  EXPECT_NE(text.find(p == 0 ? "\"committed\":[1,0]" : "\"committed\":[0,1]"), std::string::npos)
      << text;
  EXPECT_EQ(stream_directories(tmp_.data()), 1u);
}

TEST_F(DurableStream, records_survive_a_reopen_with_offsets_timestamps_keys_and_headers) {
  std::vector<std::vector<Record>> before(3);
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "orders", {{"partitions", "3"}});
    const std::vector<corq_header> headers = {header("kind", "created"), header("empty", "")};
    for (int i = 0; i < 60; ++i) {
      const std::string key = "customer-" + std::to_string(i % 7);
      const std::string body = "order-" + std::to_string(i);
      if (i % 5 == 0) {
        must(try_append(e.get(), "orders", body, nullptr, nullptr, headers), "append no key");
      } else if (i % 11 == 0) {
        must(try_append(e.get(), "orders", body, ""), "append empty key");
      } else {
        must(try_append(e.get(), "orders", body, key.c_str(), nullptr, headers), "append");
      }
    }
    for (std::uint32_t p = 0; p < 3; ++p) before[p] = read_partition(e.get(), "orders", p);
  }
  EnginePtr e = open_durable(tmp_.data());
  std::size_t total = 0;
  for (std::uint32_t p = 0; p < 3; ++p) {
    const std::vector<Record> after = read_partition(e.get(), "orders", p);
    ASSERT_EQ(after.size(), before[p].size()) << "partition " << p;
    for (std::size_t i = 0; i < after.size(); ++i) {
      const Record &a = after[i], &b = before[p][i];
      EXPECT_EQ(a.offset, b.offset);
      EXPECT_EQ(a.offset, i) << "dense offsets from 0";
      EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
      EXPECT_EQ(a.has_key, b.has_key);
      EXPECT_EQ(a.key, b.key);
      EXPECT_EQ(a.payload, b.payload);
      EXPECT_EQ(a.headers, b.headers);
    }
    total += after.size();
  }
  EXPECT_EQ(total, 60u);
  const corq_stream_stats s = stream_stats(e.get(), "orders");
  EXPECT_EQ(s.records, 60u);
  EXPECT_EQ(s.appended, 0u) << "counters count since the engine opened";
}

TEST_F(DurableStream, offsets_continue_after_a_reopen_and_are_never_reused) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s");
    for (int i = 0; i < 5; ++i) append(e.get(), "s", "before-" + std::to_string(i));
  }
  for (int round = 0; round < 2; ++round) {
    EnginePtr e = open_durable(tmp_.data());
    EXPECT_EQ(append(e.get(), "s", "after").offset, 5u + static_cast<std::uint64_t>(round));
  }
  EnginePtr e = open_durable(tmp_.data());
  const std::vector<Record> all = read_partition(e.get(), "s", 0);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[4].payload, "before-4");
  EXPECT_EQ(all[6].payload, "after");
}

TEST_F(DurableStream, a_producer_batch_survives_whole) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s", {{"partitions", "4"}});
    corq_stream_producer *p = nullptr;
    must(corq_stream_producer_open(e.get(), "s", &p), "producer_open");
    std::vector<std::string> bodies;
    for (int i = 0; i < 50; ++i) bodies.push_back("b" + std::to_string(i));
    std::vector<corq_message> batch;
    for (const std::string &b : bodies) batch.push_back(message(b));
    std::uint32_t partition = 0;
    std::uint64_t first = 0;
    must(corq_stream_producer_send(p, "key", 3, batch.data(), batch.size(), nullptr, &partition,
                                   &first),
         "producer_send");
    EXPECT_EQ(first, 0u);
    corq_stream_producer_close(p);
  }
  EnginePtr e = open_durable(tmp_.data());
  std::size_t total = 0;
  for (std::uint32_t p = 0; p < 4; ++p) {
    const std::vector<Record> got = read_partition(e.get(), "s", p);
    if (got.empty()) continue;
    ASSERT_EQ(got.size(), 50u);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].payload, "b" + std::to_string(i));
    total += got.size();
  }
  EXPECT_EQ(total, 50u);
}

TEST_F(DurableStream, a_nowait_append_becomes_readable_once_durable_without_another_append) {
  EnginePtr e = open_durable(tmp_.data());
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s", 0, "earliest");
  corq_publish_options o{};
  o.struct_size = sizeof o;
  o.flags = CORQ_PUBLISH_NOWAIT;
  Placed placed;
  must(try_append(e.get(), "s", "quick", nullptr, &placed, {}, nullptr, &o), "append nowait");
  // The log's writer makes it visible when its group commit is durable: the waiting read wakes.
  const std::vector<Record> got = read(r.get(), 8, 10'000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "quick");
  must(corq_sync(e.get(), -1), "sync");
}

TEST_F(DurableStream, nowait_appends_are_readable_as_soon_as_corq_sync_returns) {
  // The log's writer woke corq_sync before it made the records readable: a reader right after
  // the sync found 1 of 40 now and then (found by the exactly-once example's checker).
  EnginePtr e = open_durable(tmp_.data());
  must_declare_stream(e.get(), "s");
  corq_publish_options o{};
  o.struct_size = sizeof o;
  o.flags = CORQ_PUBLISH_NOWAIT;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 40; ++i)
      must(try_append(e.get(), "s", "r", nullptr, nullptr, {}, nullptr, &o), "append nowait");
    must(corq_sync(e.get(), -1), "sync");
    EXPECT_EQ(read_partition(e.get(), "s", 0).size(), 40u * (round + 1)) << "round " << round;
  }
}

TEST_F(DurableStream, sync_none_streams_are_readable_at_once_and_survive_a_clean_close) {
  {
    EnginePtr e = open_durable(tmp_.data(), {{"sync", "none"}});
    must_declare_stream(e.get(), "s");
    ReaderPtr r = open_reader(e.get(), "s", 0, "earliest");
    append(e.get(), "s", "one");
    EXPECT_EQ(read(r.get(), 8).size(), 1u) << "no wait for the disk under sync=none";
  }
  EnginePtr e = open_durable(tmp_.data(), {{"sync", "none"}});
  const std::vector<Record> got = read_partition(e.get(), "s", 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "one");
}

TEST_F(DurableStream, retention_frees_whole_segment_files_and_applies_again_after_a_reopen) {
  const std::string body(400, 'r');
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s",
                        {{"partition_segment_bytes", "64KiB"}, {"retention_records", "100"}});
    corq_stream_producer *p = nullptr;
    must(corq_stream_producer_open(e.get(), "s", &p), "producer_open");
    const std::vector<corq_message> batch(50, message(body));
    for (int i = 0; i < 40; ++i) {  // 2,000 records of 400 B: 800 KB through 64 KiB segments
      must(corq_stream_producer_send(p, nullptr, 0, batch.data(), batch.size(), nullptr, nullptr,
                                     nullptr),
           "send");
    }
    corq_stream_producer_close(p);
    EXPECT_EQ(stream_stats(e.get(), "s").records, 100u);
    // The scheduler's retention pass releases the segments behind the retained records.
    EXPECT_TRUE(eventually([&] { return stream_segment_files(tmp_.data()) <= 4; }))
        << stream_segment_files(tmp_.data()) << " segment files";
  }
  EXPECT_LE(stream_segment_files(tmp_.data()), 4u);
  EnginePtr e = open_durable(tmp_.data());
  const std::vector<Record> got = read_partition(e.get(), "s", 0);
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(got.front().offset, 1900u);
  EXPECT_EQ(got.back().offset, 1999u);
  EXPECT_EQ(append(e.get(), "s", "next").offset, 2000u);
}

TEST_F(DurableStream, an_emptied_partition_keeps_its_next_offset_after_its_segments_are_gone) {
  const std::string body(400, 'e');
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s",
                        {{"partition_segment_bytes", "64KiB"}, {"retention_ms", "300"}});
    corq_stream_producer *p = nullptr;
    must(corq_stream_producer_open(e.get(), "s", &p), "producer_open");
    const std::vector<corq_message> batch(50, message(body));
    for (int i = 0; i < 10; ++i) {
      must(corq_stream_producer_send(p, nullptr, 0, batch.data(), batch.size(), nullptr, nullptr,
                                     nullptr),
           "send");
    }
    corq_stream_producer_close(p);
    EXPECT_TRUE(eventually([&] { return stream_stats(e.get(), "s").records == 0; }));
    EXPECT_TRUE(eventually([&] { return stream_segment_files(tmp_.data()) <= 2; }))
        << stream_segment_files(tmp_.data()) << " segment files";
  }
  EnginePtr e = open_durable(tmp_.data());
  EXPECT_EQ(stream_stats(e.get(), "s").records, 0u);
  EXPECT_EQ(append(e.get(), "s", "after").offset, 500u) << "offsets 0-499 are never used again";
}

/// Appends 500 records of 400 bytes (several 64 KiB segments) to stream "s" of `engine`.
void append_500(corq_engine *engine) {
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(engine, "s", &p), "producer_open");
  const std::string body(400, 'r');  // outlives the messages that point into it
  const std::vector<corq_message> batch(50, message(body));
  for (int i = 0; i < 10; ++i) {
    must(corq_stream_producer_send(p, nullptr, 0, batch.data(), batch.size(), nullptr, nullptr,
                                   nullptr),
         "send");
  }
  corq_stream_producer_close(p);
}

TEST_F(DurableStream, a_batch_appended_while_segments_are_released_keeps_its_segments) {
  // The release takes its floor while the partition is empty; a batch appended right then (the
  // hook) must not be counted below the floor: its segments would go while the marks record
  // names its records as retained, and the reopen would refuse the stream as corrupt.
  const Options manual{{"clock", "manual"}};
  {
    EnginePtr e = open_durable(tmp_.data(), manual);
    must_declare_stream(e.get(), "s",
                        {{"partition_segment_bytes", "64KiB"}, {"retention_ms", "60000"}});
    append_500(e.get());
    advance(e.get(), 120'000);  // retention deletes all 500, and the release frees their segments
    ASSERT_EQ(stream_stats(e.get(), "s").records, 0u);
    append(e.get(), "s", "one");  // offset 500
    corq::testing::set_stream_release_hook(
        [](void *engine) { append_500(static_cast<corq_engine *>(engine)); }, e.get());
    advance(e.get(), 120'000);  // deletes offset 500; its release runs the hook
    corq::testing::set_stream_release_hook(nullptr, nullptr);
    EXPECT_EQ(stream_stats(e.get(), "s").records, 500u);
  }
  // A manual clock restarts at the real time: the 500 records (stamped 240 s ahead) stay.
  EnginePtr e = open_durable(tmp_.data(), manual);
  const std::vector<Record> records = read_partition(e.get(), "s", 0);
  ASSERT_EQ(records.size(), 500u);
  EXPECT_EQ(records.front().offset, 501u);
  EXPECT_EQ(records.back().offset, 1000u);
}

TEST_F(DurableStream, deleting_a_durable_stream_removes_its_files_and_it_stays_deleted) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "gone");
    must_declare_stream(e.get(), "kept");
    append(e.get(), "gone", "x");
    append(e.get(), "kept", "y");
    EXPECT_EQ(stream_directories(tmp_.data()), 2u);
    must(corq_stream_delete(e.get(), "gone"), "delete");
    EXPECT_EQ(stream_directories(tmp_.data()), 1u);
  }
  EnginePtr e = open_durable(tmp_.data());
  corq_stream_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(CORQ_ENOENT, corq_stream_stats_get(e.get(), "gone", &s));
  EXPECT_EQ(stream_stats(e.get(), "kept").records, 1u);
  // A stream declared again under the old name starts from offset 0, in a directory of its own.
  must_declare_stream(e.get(), "gone");
  EXPECT_EQ(append(e.get(), "gone", "fresh").offset, 0u);
  EXPECT_EQ(stream_directories(tmp_.data()), 2u);
}

TEST_F(DurableStream, a_directory_no_declaration_names_is_removed_on_open) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s");
  }
  fs::create_directories(tmp_.data() + "/streams/0000000099");
  EnginePtr e = open_durable(tmp_.data());
  EXPECT_FALSE(fs::exists(tmp_.data() + "/streams/0000000099"));
  EXPECT_EQ(stream_directories(tmp_.data()), 1u);
}

TEST_F(DurableStream, retention_limits_changed_with_update_survive_a_reopen) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s", {{"retention_records", "10"}});
    must_declare_stream(e.get(), "s", {{"retention_records", "3"}, {"update", "true"}});
    for (int i = 0; i < 8; ++i) append(e.get(), "s", std::to_string(i));
  }
  EnginePtr e = open_durable(tmp_.data());
  EXPECT_EQ(declare_stream(e.get(), "s", {{"retention_records", "3"}}), CORQ_OK);
  EXPECT_EQ(declare_stream(e.get(), "s", {{"retention_records", "10"}}), CORQ_EEXIST);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 3u);
}

TEST_F(DurableStream, dedup_ids_within_the_window_are_remembered_across_a_reopen) {
  Placed original;
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "s", {{"partitions", "2"}, {"dedup_window_ms", "600000"}});
    append(e.get(), "s", "filler", "k");
    must(try_append(e.get(), "s", "payment", "k", &original, {}, "pay-1"), "append");
  }
  EnginePtr e = open_durable(tmp_.data());
  Placed again;
  must(try_append(e.get(), "s", "payment", "k", &again, {}, "pay-1"), "append again");
  EXPECT_EQ(again.partition, original.partition);
  EXPECT_EQ(again.offset, original.offset);
  EXPECT_EQ(stream_stats(e.get(), "s").deduplicated, 1u);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 2u);
}

TEST_F(DurableStream, transient_streams_on_a_disk_engine_are_gone_after_a_reopen) {
  {
    EnginePtr e = open_durable(tmp_.data());
    must_declare_stream(e.get(), "scratch", {{"durable", "false"}});
    append(e.get(), "scratch", "lost");
    EXPECT_EQ(stream_directories(tmp_.data()), 0u);
  }
  EnginePtr e = open_durable(tmp_.data());
  corq_stream_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(CORQ_ENOENT, corq_stream_stats_get(e.get(), "scratch", &s));
}

TEST_F(DurableStream, declarations_survive_the_engine_logs_checkpoints_and_releases) {
  const Options small = {{"segment_bytes", "1MiB"}};
  {
    EnginePtr e = open_durable(tmp_.data(), small);
    must_declare_stream(e.get(), "s", {{"partitions", "2"}});
    append(e.get(), "s", "kept", "k");
    // Churn the engine's own log through many segments: checkpoints release the segment that
    // held the stream's declaration, so only a checkpoint's copy of it can bring it back.
    must_declare(e.get(), "q");
    ProducerPtr producer = open_producer(e.get(), "q");
    ConsumerPtr consumer = open_consumer(e.get(), "q", 256);
    const std::string body(2000, 'c');
    const std::vector<corq_message> batch(64, message(body));
    for (int round = 0; round < 60; ++round) {
      must(corq_producer_send(producer.get(), batch.data(), batch.size(), nullptr, nullptr),
           "send");
      std::size_t got = 0;
      while (got < batch.size()) {
        const std::vector<corq_delivery> d = consume(consumer.get(), 64, 1000);
        ASSERT_FALSE(d.empty());
        must(corq_ack_upto(consumer.get(), d.back().tag), "ack_upto");
        got += d.size();
      }
      if (round % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    must(corq_sync(e.get(), -1), "sync");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EnginePtr e = open_durable(tmp_.data(), small);
  EXPECT_EQ(stream_stats(e.get(), "s").partitions, 2u);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 1u);
  // The next stream gets a fresh id, not the one the checkpoint's stream has.
  must_declare_stream(e.get(), "t");
  EXPECT_EQ(stream_directories(tmp_.data()), 2u);
}

}  // namespace
}  // namespace corq::test
