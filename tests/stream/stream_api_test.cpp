// tests/stream/stream_api_test.cpp — streams through the C API (DESIGN.md §7), one test per rule:
// declaration and its options, appends (dense offsets, timestamps, Kafka's partitioner, round
// robin, dedup), retention (records, bytes, time; discard=old|new), readers (start positions,
// following the tail, wakeups, skipped records, zero-copy lifetime), stats and bad input.
#include "stream/stream_helpers.hpp"
#include "support/temp_dir.hpp"

#include <atomic>
#include <thread>

namespace corq::test {
namespace {

/// The partition Kafka's default partitioner picks for a key whose murmur2 is `hash`.
std::uint32_t kafka_partition(std::int32_t hash, std::uint32_t partitions) {
  return (static_cast<std::uint32_t>(hash) & 0x7fffffffu) % partitions;
}

// ---- declaration
// ---------------------------------------------------------------------------------

TEST(Streams, a_stream_declared_with_defaults_has_one_partition) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "events");
  const corq_stream_stats s = stream_stats(e.get(), "events");
  EXPECT_EQ(s.partitions, 1u);
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(s.groups, 0u);
}

TEST(Streams, partitions_outside_1_to_1024_are_einval) {
  EnginePtr e = open_engine();
  for (const char *bad : {"0", "1025", "-1", "many", ""}) {
    EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"partitions", bad}})) << bad;
  }
  corq_stream_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(CORQ_ENOENT, corq_stream_stats_get(e.get(), "s", &s));
  must_declare_stream(e.get(), "s", {{"partitions", "1024"}});
  EXPECT_EQ(stream_stats(e.get(), "s").partitions, 1024u);
}

TEST(Streams, redeclaring_with_the_same_options_is_a_no_op) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "3"}, {"retention_records", "10"}});
  append(e.get(), "s", "kept");
  EXPECT_EQ(CORQ_OK,
            declare_stream(e.get(), "s", {{"partitions", "3"}, {"retention_records", "10"}}));
  EXPECT_EQ(stream_stats(e.get(), "s").records, 1u);
}

TEST(Streams, redeclaring_with_other_options_is_eexist_and_changes_nothing) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "3"}, {"retention_records", "10"}});
  EXPECT_EQ(CORQ_EEXIST, declare_stream(e.get(), "s", {{"partitions", "4"}}));
  EXPECT_EQ(CORQ_EEXIST,
            declare_stream(e.get(), "s", {{"partitions", "3"}, {"retention_records", "11"}}));
  EXPECT_NE(last_error().find("update=true"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_EEXIST,
            declare_stream(e.get(), "s",
                           {{"partitions", "3"}, {"retention_records", "10"}, {"discard", "new"}}));
  EXPECT_EQ(stream_stats(e.get(), "s").partitions, 3u);
}

TEST(Streams, update_true_changes_the_retention_limits_and_applies_them) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "10"}});
  for (int i = 0; i < 8; ++i) append(e.get(), "s", "r" + std::to_string(i));
  must_declare_stream(e.get(), "s", {{"retention_records", "5"}, {"update", "true"}});
  append(e.get(), "s", "r8");  // the next append enforces the lower limit
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 5u);
  EXPECT_EQ(s.deleted, 4u);
  ReaderPtr r = open_reader(e.get(), "s");
  EXPECT_EQ(payloads(r.get()), (std::vector<std::string>{"r4", "r5", "r6", "r7", "r8"}));
}

TEST(Streams, update_true_cannot_change_the_partitions) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  EXPECT_EQ(CORQ_EEXIST, declare_stream(e.get(), "s", {{"partitions", "3"}, {"update", "true"}}));
  EXPECT_EQ(stream_stats(e.get(), "s").partitions, 2u);
}

TEST(Streams, unknown_and_queue_only_options_are_einval) {
  EnginePtr e = open_engine();
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"colour", "blue"}}));
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"max_length", "10"}}));
  EXPECT_NE(last_error().find("not a stream option"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"discard", "oldest"}}));
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"retention_ms", "-5"}}));
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"partition_segment_bytes", "10"}}));
}

TEST(Streams, durable_true_on_an_in_memory_engine_is_einval) {
  EnginePtr e = open_engine();
  EXPECT_EQ(CORQ_EINVAL, declare_stream(e.get(), "s", {{"durable", "true"}}));
  EXPECT_NE(last_error().find("disk engine"), std::string::npos) << last_error();
}

TEST(Streams, bad_stream_names_are_einval) {
  EnginePtr e = open_engine();
  EXPECT_EQ(CORQ_EINVAL, corq_stream_declare(e.get(), nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_declare(e.get(), "", nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_declare(e.get(), "has space", nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_declare(e.get(), std::string(201, 'a').c_str(), nullptr));
  EXPECT_NE(last_error().find("stream"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_EINVAL, corq_stream_declare(nullptr, "s", nullptr));
}

TEST(Streams, streams_and_queues_have_separate_names) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "orders");
  must_declare_stream(e.get(), "orders");
  publish(e.get(), "orders", "to the queue");
  append(e.get(), "orders", "to the stream");
  EXPECT_EQ(stats(e.get(), "orders").ready, 1u);
  EXPECT_EQ(stream_stats(e.get(), "orders").records, 1u);
}

TEST(Streams, deleting_a_stream_frees_its_name_and_fails_its_readers_with_enoent) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "a");
  ReaderPtr r = open_reader(e.get(), "s");
  must(corq_stream_delete(e.get(), "s"), "delete");
  corq_stream_record rec{};
  EXPECT_EQ(CORQ_ENOENT, corq_stream_read(r.get(), &rec, 1, 0));
  EXPECT_EQ(CORQ_ENOENT, corq_stream_delete(e.get(), "s"));
  EXPECT_EQ(CORQ_ENOENT, try_append(e.get(), "s", "b"));
  must_declare_stream(e.get(), "s");  // a new stream: offsets start again
  EXPECT_EQ(append(e.get(), "s", "c").offset, 0u);
}

TEST(Streams, deleting_a_stream_wakes_a_waiting_reader) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s");
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    corq_stream_record rec{};
    rc = corq_stream_read(r.get(), &rec, 1, 30'000);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  must(corq_stream_delete(e.get(), "s"), "delete");
  waiter.join();
  EXPECT_EQ(rc.load(), CORQ_ENOENT);
}

// ---- appends
// -------------------------------------------------------------------------------------

TEST(Streams, offsets_are_dense_per_partition_from_zero) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  std::vector<std::uint64_t> next(2, 0);
  for (int i = 0; i < 100; ++i) {
    const Placed p = append(e.get(), "s", "x", i % 3 == 0 ? "alpha" : "beta");
    ASSERT_LT(p.partition, 2u);
    EXPECT_EQ(p.offset, next[p.partition]++);
  }
}

TEST(Streams, timestamps_are_append_times_and_never_decrease) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "a");
  advance(e.get(), 250);
  append(e.get(), "s", "b");
  append(e.get(), "s", "c");
  ReaderPtr r = open_reader(e.get(), "s");
  const std::vector<Record> got = read(r.get(), 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].timestamp_ms - got[0].timestamp_ms, 250);
  EXPECT_EQ(got[2].timestamp_ms, got[1].timestamp_ms);
  EXPECT_GT(got[0].timestamp_ms, 1'600'000'000'000);  // unix milliseconds
}

TEST(Streams, keyed_records_go_to_the_partition_kafka_would_pick) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "7"}});
  // murmur2 values from Kafka's UtilsTest.
  const std::pair<const char *, std::int32_t> keys[] = {{"21", -973932308},
                                                        {"foobar", -790332482},
                                                        {"abc", 479470107},
                                                        {"a-little-bit-long-string", -985981536}};
  for (const auto &[key, hash] : keys)
    EXPECT_EQ(append(e.get(), "s", "v", key).partition, kafka_partition(hash, 7)) << key;
}

TEST(Streams, one_key_always_lands_in_one_partition_in_order) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "8"}});
  const std::uint32_t p = append(e.get(), "s", "0", "order-42").partition;
  for (int i = 1; i < 20; ++i)
    EXPECT_EQ(append(e.get(), "s", std::to_string(i), "order-42").partition, p);
  ReaderPtr r = open_reader(e.get(), "s", p);
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(payloads(r.get()), expected);
}

TEST(Streams, records_without_a_key_go_round_robin) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "4"}});
  std::vector<int> per_partition(4, 0);
  for (int i = 0; i < 40; ++i) ++per_partition[append(e.get(), "s", "x").partition];
  EXPECT_EQ(per_partition, (std::vector<int>{10, 10, 10, 10}));
}

TEST(Streams, a_key_of_length_zero_is_a_key) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "5"}});
  const corq_message m = message("v");
  std::uint32_t first = 99, p = 99;
  ASSERT_EQ(CORQ_OK, corq_stream_append(e.get(), "s", "", 0, &m, nullptr, &first, nullptr));
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(CORQ_OK, corq_stream_append(e.get(), "s", "", 0, &m, nullptr, &p, nullptr));
    EXPECT_EQ(p, first);  // hashed, not round robin
  }
  ReaderPtr r = open_reader(e.get(), "s", first);
  const std::vector<Record> got = read(r.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_key);
  EXPECT_EQ(got[0].key, "");
}

TEST(Streams, key_headers_and_payload_come_back_as_appended) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  Placed p;
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", std::string("bin\0ary", 7), "the-key", &p,
                                {header("type", "created"), header("empty", "")}));
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", "", nullptr));  // empty payload, no key
  ReaderPtr r = open_reader(e.get(), "s");
  const std::vector<Record> got = read(r.get(), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, std::string("bin\0ary", 7));
  EXPECT_EQ(got[0].key, "the-key");
  EXPECT_EQ(got[0].headers,
            (std::vector<std::pair<std::string, std::string>>{{"type", "created"}, {"empty", ""}}));
  EXPECT_FALSE(got[1].has_key);
  EXPECT_EQ(got[1].payload, "");
  EXPECT_EQ(got[1].offset, 1u);
}

TEST(Streams, publish_options_that_do_not_apply_to_streams_are_einval) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  corq_publish_options delayed = publish_options(100);
  corq_publish_options ttl = publish_options(0, 100);
  corq_publish_options prio = publish_options();
  prio.priority = 1;
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  for (const corq_publish_options *o : {&delayed, &ttl, &prio}) {
    EXPECT_EQ(CORQ_EINVAL, try_append(e.get(), "s", "x", nullptr, nullptr, {}, nullptr, o));
  }
  EXPECT_EQ(stream_stats(e.get(), "s").appended, 0u);
  EXPECT_EQ(CORQ_OK, try_append(e.get(), "s", "x", nullptr, nullptr, {}, nullptr, &nowait));
}

TEST(Streams, bad_appends_are_refused_and_append_nothing) {
  EnginePtr e = open_engine({{"max_message_bytes", "1KiB"}});
  must_declare_stream(e.get(), "s");
  const corq_message m = message("x");
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_append(e.get(), "s", nullptr, 3, &m, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_append(e.get(), "s", nullptr, 0, nullptr, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_append(nullptr, "s", nullptr, 0, &m, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_append(e.get(), nullptr, nullptr, 0, &m, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_ENOENT, try_append(e.get(), "nope", "x"));
  EXPECT_EQ(CORQ_ETOOBIG, try_append(e.get(), "s", std::string(1025, 'x')));
  const std::string big_key(600, 'k');
  EXPECT_EQ(CORQ_ETOOBIG, try_append(e.get(), "s", std::string(600, 'x'), big_key.c_str()));
  EXPECT_EQ(CORQ_EINVAL, try_append(e.get(), "s", "x", nullptr, nullptr, {header("", "v")}));
  EXPECT_EQ(stream_stats(e.get(), "s").appended, 0u);
}

TEST(Streams, a_dedup_id_within_the_window_returns_the_original_place) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "3"}, {"dedup_window_ms", "1000"}});
  Placed first, again;
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", "once", nullptr, &first, {}, "id-1"));
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", "twice", nullptr, &again, {}, "id-1"));
  EXPECT_EQ(again.partition, first.partition);
  EXPECT_EQ(again.offset, first.offset);
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.deduplicated, 1u);
  advance(e.get(), 1000);  // out of the window: a new record
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", "later", nullptr, &again, {}, "id-1"));
  EXPECT_EQ(stream_stats(e.get(), "s").records, 2u);
}

TEST(Streams, a_refused_append_does_not_record_its_dedup_id) {
  EnginePtr e = open_engine();
  must_declare_stream(
      e.get(), "s", {{"dedup_window_ms", "60000"}, {"retention_records", "1"}, {"discard", "new"}});
  append(e.get(), "s", "fills it");
  EXPECT_EQ(CORQ_EFULL, try_append(e.get(), "s", "x", nullptr, nullptr, {}, "id-9"));
  must_declare_stream(e.get(), "s",
                      {{"dedup_window_ms", "60000"},
                       {"retention_records", "2"},
                       {"discard", "new"},
                       {"update", "true"}});
  Placed p;
  ASSERT_EQ(CORQ_OK, try_append(e.get(), "s", "x", nullptr, &p, {}, "id-9"));
  EXPECT_EQ(p.offset, 1u);  // appended, not swallowed as a duplicate of the refused one
}

// ---- retention
// -----------------------------------------------------------------------------------

TEST(Streams, retention_records_deletes_the_oldest_records) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "3"}});
  for (int i = 0; i < 5; ++i) append(e.get(), "s", std::to_string(i));
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.deleted, 2u);
  EXPECT_EQ(s.appended, 5u);
  ReaderPtr r = open_reader(e.get(), "s");
  const std::vector<Record> got = read(r.get(), 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 2u);  // offsets are never reused: the first retained is 2
  EXPECT_EQ(got[0].payload, "2");
}

TEST(Streams, retention_bytes_deletes_the_oldest_records_but_keeps_the_newest) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_bytes", "100"}});
  for (int i = 0; i < 5; ++i) append(e.get(), "s", std::string(30, static_cast<char>('a' + i)));
  EXPECT_EQ(stream_stats(e.get(), "s").records, 3u);  // 90 bytes
  EXPECT_EQ(stream_stats(e.get(), "s").bytes, 90u);
  append(e.get(), "s", std::string(500, 'z'));  // alone over the limit: it stays, alone
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.bytes, 500u);
}

TEST(Streams, retention_ms_deletes_records_older_than_it) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s", {{"retention_ms", "1000"}});
  append(e.get(), "s", "old");
  advance(e.get(), 600);
  append(e.get(), "s", "new");
  advance(e.get(), 400);  // "old" is 1000 ms old: gone, without any append
  corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.deleted, 1u);
  advance(e.get(), 600);
  s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(append(e.get(), "s", "next").offset, 2u);
}

TEST(Streams, retention_can_empty_a_full_chunk_and_appends_go_on_in_the_next) {
  // A chunk holds 4,096 records. Fill one exactly, let retention_ms delete them all (the emptied
  // chunk stays: appends would go on in it), then append into a new chunk and let retention run
  // again: it must find the oldest record in the new chunk, not read past the old one (ASan).
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s", {{"retention_ms", "100"}});
  for (int i = 0; i < 4096; ++i) append(e.get(), "s", "old");
  advance(e.get(), 100);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 0u);
  EXPECT_EQ(append(e.get(), "s", "new-0").offset, 4096u);
  EXPECT_EQ(append(e.get(), "s", "new-1").offset, 4097u);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 2u);
  advance(e.get(), 50);
  append(e.get(), "s", "new-2");
  advance(e.get(), 60);  // new-0 and new-1 are 110 ms old: gone; new-2 (60 ms) stays
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.deleted, 4098u);
  EXPECT_EQ(s.bytes, 5u);
  ReaderPtr r = open_reader(e.get(), "s");
  EXPECT_EQ(payloads(r.get()), (std::vector<std::string>{"new-2"}));
}

TEST(Streams, discard_new_refuses_appends_past_the_record_limit_and_changes_nothing) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "2"}, {"discard", "new"}});
  append(e.get(), "s", "a");
  append(e.get(), "s", "b");
  EXPECT_EQ(CORQ_EFULL, try_append(e.get(), "s", "c"));
  EXPECT_NE(last_error().find("discard=new"), std::string::npos) << last_error();
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.appended, 2u);
  EXPECT_EQ(s.deleted, 0u);
}

TEST(Streams, discard_new_refuses_appends_past_the_byte_limit) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_bytes", "10"}, {"discard", "new"}});
  append(e.get(), "s", "12345678");
  EXPECT_EQ(CORQ_EFULL, try_append(e.get(), "s", "abc"));
  append(e.get(), "s", "ab");
  EXPECT_EQ(stream_stats(e.get(), "s").bytes, 10u);
}

TEST(Streams, discard_new_still_deletes_by_retention_ms) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s",
                      {{"retention_records", "1"}, {"discard", "new"}, {"retention_ms", "100"}});
  append(e.get(), "s", "a");
  EXPECT_EQ(CORQ_EFULL, try_append(e.get(), "s", "b"));
  advance(e.get(), 100);
  EXPECT_EQ(append(e.get(), "s", "c").offset, 1u);
}

TEST(Streams, a_transient_stream_keeps_at_most_one_gib_per_partition_by_default) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  char *json = nullptr;
  must(corq_stats_json(e.get(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_NE(text.find("\"retention_bytes\":1073741824"), std::string::npos) << text;
}

// ---- readers
// -------------------------------------------------------------------------------------

TEST(Streams, readers_start_at_earliest_latest_offset_or_time) {
  EnginePtr e = open_manual_engine();
  must_declare_stream(e.get(), "s");
  append(e.get(), "s", "a");
  advance(e.get(), 100);
  const std::int64_t t = [&] {
    ReaderPtr r = open_reader(e.get(), "s");
    return read(r.get(), 1)[0].timestamp_ms + 100;
  }();
  append(e.get(), "s", "b");
  append(e.get(), "s", "c");
  ReaderPtr earliest = open_reader(e.get(), "s", 0, "earliest");
  ReaderPtr latest = open_reader(e.get(), "s", 0, "latest");
  ReaderPtr at_two = open_reader(e.get(), "s", 0, "offset:2");
  ReaderPtr at_end = open_reader(e.get(), "s", 0, "offset:3");  // the end: latest
  const std::string time_start = "time:" + std::to_string(t);
  ReaderPtr by_time = open_reader(e.get(), "s", 0, time_start.c_str());
  ReaderPtr after_all = open_reader(e.get(), "s", 0, ("time:" + std::to_string(t + 1)).c_str());
  append(e.get(), "s", "d");
  EXPECT_EQ(payloads(earliest.get()), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(payloads(latest.get()), (std::vector<std::string>{"d"}));
  EXPECT_EQ(payloads(at_two.get()), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(payloads(at_end.get()), (std::vector<std::string>{"d"}));
  EXPECT_EQ(payloads(by_time.get()), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(payloads(after_all.get()), (std::vector<std::string>{"d"}));
}

TEST(Streams, bad_starts_and_partitions_are_einval) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  append(e.get(), "s", "a", "k");
  corq_stream_reader *r = reinterpret_cast<corq_stream_reader *>(1);
  for (const char *bad : {"", "first", "offset:", "offset:x", "offset:-1", "offset:5",
                          "time:", "time:soon", "Earliest", "offset:1 "}) {
    EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_open(e.get(), "s", 0, bad, &r)) << bad;
    EXPECT_EQ(r, nullptr);
  }
  EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_open(e.get(), "s", 2, "earliest", &r));
  EXPECT_NE(last_error().find("partition"), std::string::npos) << last_error();
  EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_open(e.get(), "s", 0, nullptr, &r));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_open(e.get(), "s", 0, "earliest", nullptr));
  EXPECT_EQ(CORQ_ENOENT, corq_stream_reader_open(e.get(), "nope", 0, "earliest", &r));
  ReaderPtr ok = open_reader(e.get(), "s", 0, "offset:0");
  corq_stream_record rec{};
  EXPECT_EQ(CORQ_EINVAL, corq_stream_read(ok.get(), &rec, 0, 0));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_read(ok.get(), nullptr, 1, 0));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_read(nullptr, &rec, 1, 0));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_read(ok.get(), &rec, 1, -2));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_close(nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_reader_wakeup(nullptr));
  EXPECT_EQ(corq_stream_reader_skipped(nullptr), 0u);
}

TEST(Streams, an_offset_below_the_first_retained_starts_there_and_counts_skipped) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "2"}});
  for (int i = 0; i < 6; ++i) append(e.get(), "s", std::to_string(i));
  ReaderPtr r = open_reader(e.get(), "s", 0, "offset:1");
  EXPECT_EQ(corq_stream_reader_skipped(r.get()), 3u);
  EXPECT_EQ(payloads(r.get()), (std::vector<std::string>{"4", "5"}));
}

TEST(Streams, a_reader_behind_retention_moves_on_and_counts_what_it_missed) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "3"}});
  append(e.get(), "s", "0");
  ReaderPtr r = open_reader(e.get(), "s");
  for (int i = 1; i < 10; ++i) append(e.get(), "s", std::to_string(i));
  const std::vector<Record> got = read(r.get(), 10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 7u);
  EXPECT_EQ(corq_stream_reader_skipped(r.get()), 7u);
}

TEST(Streams, a_read_follows_the_tail_and_returns_when_a_record_arrives) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s", 0, "latest");
  std::vector<Record> got;
  std::thread waiter([&] { got = read(r.get(), 8, 30'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  append(e.get(), "s", "arrived");
  waiter.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "arrived");
}

TEST(Streams, a_read_with_nothing_to_read_returns_zero_after_its_timeout) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(read(r.get(), 1, 30).empty());
  EXPECT_GE(elapsed_ms(start), 25);
}

TEST(Streams, wakeup_makes_a_waiting_read_return_zero_at_once) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s");
  std::atomic<int> rc{-100};
  std::thread waiter([&] {
    corq_stream_record rec{};
    rc = corq_stream_read(r.get(), &rec, 1, -1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  must(corq_stream_reader_wakeup(r.get()), "wakeup");
  waiter.join();
  EXPECT_EQ(rc.load(), 0);
}

TEST(Streams, a_wakeup_before_a_read_ends_the_next_wait_but_not_the_one_after) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  ReaderPtr r = open_reader(e.get(), "s");
  must(corq_stream_reader_wakeup(r.get()), "wakeup");
  append(e.get(), "s", "x");
  EXPECT_EQ(read(r.get(), 1, 10'000).size(), 1u);  // records present: returned, wakeup kept
  EXPECT_TRUE(read(r.get(), 1, 10'000).empty());   // would wait: the wakeup ends it at once
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(read(r.get(), 1, 30).empty());  // consumed: this one waits its timeout
  EXPECT_GE(elapsed_ms(start), 25);
}

TEST(Streams, closing_the_engine_ends_a_waiting_read_with_eclosed) {
  corq_engine *engine = nullptr;
  must(corq_open(nullptr, nullptr, &engine), "open");
  must_declare_stream(engine, "s");
  corq_stream_reader *r = nullptr;
  must(corq_stream_reader_open(engine, "s", 0, "earliest", &r), "reader_open");
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    corq_stream_record rec{};
    rc = corq_stream_read(r, &rec, 1, -1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  must(corq_close(engine), "close");
  waiter.join();
  EXPECT_EQ(rc.load(), CORQ_ECLOSED);
  must(corq_stream_reader_close(r), "reader_close");  // frees the engine (the last handle)
}

TEST(Streams, reads_cross_chunk_boundaries_in_order) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  const int n = 10'000;  // more than two chunks of 4096 records
  for (int i = 0; i < n; ++i) append(e.get(), "s", std::to_string(i));
  ReaderPtr r = open_reader(e.get(), "s");
  int expected = 0;
  for (;;) {
    const std::vector<Record> got = read(r.get(), 999);
    if (got.empty()) break;
    for (const Record &rec : got) {
      ASSERT_EQ(rec.offset, static_cast<std::uint64_t>(expected));
      ASSERT_EQ(rec.payload, std::to_string(expected));
      ++expected;
    }
  }
  EXPECT_EQ(expected, n);
}

TEST(Streams, records_stay_valid_until_the_next_read_even_after_retention_deletes_them) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "10"}});
  for (int i = 0; i < 10; ++i) append(e.get(), "s", "early-" + std::to_string(i));
  ReaderPtr r = open_reader(e.get(), "s");
  std::vector<corq_stream_record> held(10);
  ASSERT_EQ(10, corq_stream_read(r.get(), held.data(), held.size(), 0));
  // Retention deletes all ten, and enough appends follow to drop their chunk from the partition.
  for (int i = 0; i < 9000; ++i) append(e.get(), "s", "later-" + std::to_string(i));
  EXPECT_EQ(stream_stats(e.get(), "s").records, 10u);
  for (int i = 0; i < 10; ++i) {  // still readable (ASan would catch a use after free)
    EXPECT_EQ(copy_record(held[static_cast<std::size_t>(i)]).payload, "early-" + std::to_string(i));
  }
  const std::vector<Record> next = read(r.get(), 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].offset, 9000u);
  EXPECT_EQ(corq_stream_reader_skipped(r.get()), 8990u);
}

TEST(Streams, one_read_returns_at_most_max_records) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  for (int i = 0; i < 10; ++i) append(e.get(), "s", "x");
  ReaderPtr r = open_reader(e.get(), "s");
  EXPECT_EQ(read(r.get(), 4).size(), 4u);
  EXPECT_EQ(read(r.get(), 4).size(), 4u);
  EXPECT_EQ(read(r.get(), 4).size(), 2u);
}

// ---- producers
// -----------------------------------------------------------------------------------

struct StreamProducerClose {
  void operator()(corq_stream_producer *p) const { corq_stream_producer_close(p); }
};
using StreamProducerPtr = std::unique_ptr<corq_stream_producer, StreamProducerClose>;

StreamProducerPtr open_stream_producer(corq_engine *e, const char *stream) {
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(e, stream, &p), "stream_producer_open");
  return StreamProducerPtr(p);
}

TEST(StreamProducers, a_batch_goes_to_one_partition_with_consecutive_offsets_and_one_timestamp) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "4"}});
  StreamProducerPtr p = open_stream_producer(e.get(), "s");
  std::vector<corq_message> batch{message("a"), message("b"), message("c")};
  std::uint32_t partition = 99;
  std::uint64_t first = 99;
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), "21", 2, batch.data(), batch.size(),
                                               nullptr, &partition, &first));
  EXPECT_EQ(partition, kafka_partition(-973932308, 4));
  EXPECT_EQ(first, 0u);
  ReaderPtr r = open_reader(e.get(), "s", partition);
  const std::vector<Record> got = read(r.get(), 10);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].offset, i);
    EXPECT_EQ(got[i].key, "21");
    EXPECT_EQ(got[i].timestamp_ms, got[0].timestamp_ms);
  }
  EXPECT_EQ(got[2].payload, "c");
}

TEST(StreamProducers, batches_without_a_key_go_round_robin_a_batch_at_a_time) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "2"}});
  StreamProducerPtr p = open_stream_producer(e.get(), "s");
  std::vector<corq_message> batch(5, message("x"));
  std::uint32_t a = 9, b = 9;
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), nullptr, 0, batch.data(), batch.size(),
                                               nullptr, &a, nullptr));
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), nullptr, 0, batch.data(), batch.size(),
                                               nullptr, &b, nullptr));
  EXPECT_NE(a, b);
  ReaderPtr ra = open_reader(e.get(), "s", a);
  ReaderPtr rb = open_reader(e.get(), "s", b);
  EXPECT_EQ(payloads(ra.get()).size(), 5u);
  EXPECT_EQ(payloads(rb.get()).size(), 5u);
}

TEST(StreamProducers, a_refused_batch_appends_none_of_its_records) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"retention_records", "3"}, {"discard", "new"}});
  StreamProducerPtr p = open_stream_producer(e.get(), "s");
  std::vector<corq_message> two(2, message("x")), four(4, message("y"));
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), nullptr, 0, two.data(), 2, nullptr, nullptr,
                                               nullptr));
  EXPECT_EQ(CORQ_EFULL, corq_stream_producer_send(p.get(), nullptr, 0, four.data(), 4, nullptr,
                                                  nullptr, nullptr));
  const std::vector<corq_header> empty_key{header("", "v")};  // outlives the messages
  std::vector<corq_message> bad{message("ok"), message("bad", empty_key)};
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_send(p.get(), nullptr, 0, bad.data(), 2, nullptr,
                                                   nullptr, nullptr));
  EXPECT_NE(last_error().find("record 1"), std::string::npos) << last_error();
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.appended, 2u);
}

TEST(StreamProducers, the_first_records_dedup_id_names_the_batch) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"dedup_window_ms", "60000"}});
  StreamProducerPtr p = open_stream_producer(e.get(), "s");
  std::vector<corq_message> batch{message("a", {}, "batch-1"), message("b")};
  std::uint64_t first = 9, again = 9;
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), nullptr, 0, batch.data(), 2, nullptr,
                                               nullptr, &first));
  ASSERT_EQ(CORQ_OK, corq_stream_producer_send(p.get(), nullptr, 0, batch.data(), 2, nullptr,
                                               nullptr, &again));
  EXPECT_EQ(first, again);
  EXPECT_EQ(stream_stats(e.get(), "s").records, 2u);
  EXPECT_EQ(stream_stats(e.get(), "s").deduplicated, 1u);
  std::vector<corq_message> second_named{message("a"), message("b", {}, "not-allowed")};
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_send(p.get(), nullptr, 0, second_named.data(), 2,
                                                   nullptr, nullptr, nullptr));
  EXPECT_NE(last_error().find("dedup_id"), std::string::npos) << last_error();
}

TEST(StreamProducers, bad_arguments_and_a_deleted_stream_are_refused) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s");
  corq_stream_producer *raw = reinterpret_cast<corq_stream_producer *>(1);
  EXPECT_EQ(CORQ_ENOENT, corq_stream_producer_open(e.get(), "nope", &raw));
  EXPECT_EQ(raw, nullptr);
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_open(e.get(), "s", nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_open(nullptr, "s", &raw));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_open(e.get(), "bad name", &raw));
  StreamProducerPtr p = open_stream_producer(e.get(), "s");
  const corq_message m = message("x");
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_producer_send(p.get(), nullptr, 0, &m, 0, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_producer_send(p.get(), nullptr, 0, nullptr, 1, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_producer_send(p.get(), nullptr, 2, &m, 1, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL,
            corq_stream_producer_send(nullptr, nullptr, 0, &m, 1, nullptr, nullptr, nullptr));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_producer_close(nullptr));
  must(corq_stream_delete(e.get(), "s"), "delete");
  EXPECT_EQ(CORQ_ENOENT,
            corq_stream_producer_send(p.get(), nullptr, 0, &m, 1, nullptr, nullptr, nullptr));
}

TEST(StreamProducers, a_producer_keeps_the_engine_alive_until_it_closes) {
  corq_engine *engine = nullptr;
  must(corq_open(nullptr, nullptr, &engine), "open");
  must_declare_stream(engine, "s");
  corq_stream_producer *p = nullptr;
  must(corq_stream_producer_open(engine, "s", &p), "producer_open");
  must(corq_close(engine), "close");
  const corq_message m = message("x");
  EXPECT_EQ(CORQ_ECLOSED,
            corq_stream_producer_send(p, nullptr, 0, &m, 1, nullptr, nullptr, nullptr));
  must(corq_stream_producer_close(p), "producer_close");  // frees the engine (ASan: no leak)
}

// ---- stats and groups
// ----------------------------------------------------------------------------

TEST(Streams, stats_count_records_bytes_and_appends_across_partitions) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "s", {{"partitions", "3"}});
  for (int i = 0; i < 9; ++i) append(e.get(), "s", "1234", nullptr);
  append(e.get(), "s", "12", "key");  // 3 key bytes + 2 payload bytes
  const corq_stream_stats s = stream_stats(e.get(), "s");
  EXPECT_EQ(s.partitions, 3u);
  EXPECT_EQ(s.records, 10u);
  EXPECT_EQ(s.bytes, 9u * 4 + 5);
  EXPECT_EQ(s.appended, 10u);
  corq_stream_stats small{};
  small.struct_size = 8;
  EXPECT_EQ(CORQ_EINVAL, corq_stream_stats_get(e.get(), "s", &small));
  corq_stream_stats out{};
  out.struct_size = sizeof out;
  EXPECT_EQ(CORQ_ENOENT, corq_stream_stats_get(e.get(), "nope", &out));
  EXPECT_EQ(CORQ_EINVAL, corq_stream_stats_get(e.get(), "s", nullptr));
}

TEST(Streams, stats_json_lists_streams_with_their_partitions) {
  EnginePtr e = open_engine();
  must_declare_stream(e.get(), "events", {{"partitions", "2"}});
  append(e.get(), "events", "x");
  char *json = nullptr;
  must(corq_stats_json(e.get(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_TRUE(is_valid_json(text)) << text;
  EXPECT_NE(text.find("\"streams\":{\"events\":"), std::string::npos) << text;
  EXPECT_NE(text.find("\"end_offset\":1"), std::string::npos) << text;
}

}  // namespace
}  // namespace corq::test
