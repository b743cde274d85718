// The header-only C++ wrapper (corq.hpp): RAII handles, errors as corq::Error with the code,
// zero-copy Delivery and StreamRecord views, and the same semantics as the C API underneath.
#include <corq/corq.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST(CppWrapper, engine_id_is_the_c_apis) {
  corq::Engine engine = corq::Engine::in_memory();
  const std::string id = engine.id();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_EQ(engine.id(), id);
  EXPECT_NE(corq::Engine::in_memory().id(), id);
}

TEST(CppWrapper, publish_consume_ack_round_trip_with_headers) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("jobs");
  const std::array<corq_header, 1> headers{{{"trace", "abc", 3}}};
  const std::uint64_t id = engine.publish("jobs", corq::Message{"payload", headers});
  corq::Consumer consumer = engine.consumer("jobs", 8);
  std::optional<corq::Delivery> d = consumer.consume_one(0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message_id(), id);
  EXPECT_EQ(d->text(), "payload");
  EXPECT_EQ(d->data().size(), 7u);
  EXPECT_EQ(d->header("trace"), "abc");
  EXPECT_FALSE(d->header("missing").has_value());
  EXPECT_EQ(d->delivery_count(), 1u);
  consumer.ack(*d);
  EXPECT_EQ(engine.stats("jobs").acked, 1u);
}

TEST(CppWrapper, errors_throw_with_the_c_code_and_detail) {
  corq::Engine engine = corq::Engine::in_memory();
  try {
    engine.declare("bad name");
    FAIL() << "declare did not throw";
  } catch (const corq::Error &e) {
    EXPECT_EQ(e.code(), CORQ_EINVAL);
    EXPECT_NE(std::string(e.what()).find("queue name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(engine.declare("jobs", {{"no_such_option", "1"}}), corq::Error);
  EXPECT_THROW(engine.publish("missing", "x"), corq::Error);
  engine.declare("jobs");
  corq::Consumer consumer = engine.consumer("jobs", 1);
  try {
    consumer.ack(12345);
    FAIL() << "ack of an unknown tag did not throw";
  } catch (const corq::Error &e) {
    EXPECT_EQ(e.code(), CORQ_ESTATE);
  }
}

TEST(CppWrapper, producer_batch_and_consume_span) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("jobs");
  corq::Producer producer = engine.producer("jobs");
  std::vector<corq_message> batch;
  const std::vector<std::string> texts = {"a", "b", "c"};
  for (const std::string &t : texts) batch.push_back(corq::Message{t}.c());
  const std::uint64_t first = producer.send(batch);
  producer.flush();
  corq::Consumer consumer = engine.consumer("jobs", 16);
  std::array<corq::Delivery, 16> out;
  const std::size_t n = consumer.consume(out, 0);
  ASSERT_EQ(n, 3u);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(out[i].message_id(), first + i);
    EXPECT_EQ(out[i].text(), texts[i]);
  }
  consumer.ack_upto(out[2].tag());
  EXPECT_EQ(engine.stats("jobs").acked, 3u);
}

TEST(CppWrapper, nack_release_reject_and_redrive) {
  corq::Engine engine = corq::Engine::in_memory({{"clock", "manual"}});
  engine.declare("jobs", {{"max_attempts", "5"}});
  engine.publish("jobs", "one");
  corq::Consumer consumer = engine.consumer("jobs", 4);
  auto d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  consumer.nack(*d, 0);
  d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->delivery_count(), 2u);
  consumer.release(*d);
  d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  consumer.reject(*d, "poison");
  EXPECT_EQ(engine.stats("jobs.dlq").ready, 1u);
  EXPECT_EQ(engine.redrive("jobs.dlq"), 1u);
  d = consumer.consume_one(0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header("x-death-reason"), "rejected");
  EXPECT_EQ(d->header("x-death-detail"), "poison");
  consumer.ack(*d);
}

TEST(CppWrapper, wakeup_from_another_thread_ends_a_blocking_consume) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("jobs");
  corq::Consumer consumer = engine.consumer("jobs", 4);
  int code = 0;
  std::thread worker([&] {
    try {
      consumer.consume_one(-1);
    } catch (const corq::Error &e) {
      code = e.code();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  consumer.wakeup();
  worker.join();
  EXPECT_EQ(code, CORQ_ECLOSED);
}

TEST(CppWrapper, handles_move_and_close_once) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("jobs");
  engine.publish("jobs", "x");
  corq::Consumer a = engine.consumer("jobs", 1);
  ASSERT_TRUE(a.consume_one(0));
  corq::Consumer b = std::move(a);  // the delivery now belongs to b's handle
  EXPECT_EQ(a.handle(), nullptr);
  EXPECT_EQ(engine.stats("jobs").in_flight, 1u);
  b.close();  // releases the unsettled delivery
  EXPECT_EQ(engine.stats("jobs").ready, 1u);
  corq::Engine moved = std::move(engine);
  EXPECT_EQ(moved.purge("jobs"), 1u);
  EXPECT_NE(moved.stats_json().find("\"jobs\""), std::string::npos);
}

// ---- streams

/// The payloads of records, in order.
std::vector<std::string> texts(std::span<const corq::StreamRecord> records) {
  std::vector<std::string> out;
  for (const corq::StreamRecord &r : records) out.emplace_back(r.text());
  return out;
}

/// What e.what() says, for the detail checks.
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

TEST(CppWrapper, stream_append_with_a_key_goes_where_kafka_puts_it_and_without_round_robin) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("events", {{"partitions", "7"}});
  // murmur2("21") is -973932308 (Kafka's UtilsTest); & 0x7fffffff = 1173551340.
  const std::uint32_t expected = 1173551340u % 7;
  const std::array<corq_header, 1> headers{{{"type", "created", 7}}};
  const corq::Appended keyed = engine.append("events", corq::Message{"v", headers}, "21");
  EXPECT_EQ(keyed.partition, expected);
  EXPECT_EQ(keyed.offset, 0u);
  EXPECT_EQ(engine.append("events", "w", "21").partition, expected);  // same key, same partition
  std::array<int, 7> per_partition{};
  for (int i = 0; i < 14; ++i) ++per_partition[engine.append("events", "x").partition];
  for (int count : per_partition) EXPECT_EQ(count, 2);
  // An empty key is a key (hashed, so always one partition), unlike no key.
  const std::uint32_t empty = engine.append("events", "e", std::string_view()).partition;
  EXPECT_EQ(engine.append("events", "f", "").partition, empty);

  corq::StreamReader reader = engine.stream_reader("events", expected, "earliest");
  const std::span<const corq::StreamRecord> got = reader.read(16, 0);
  ASSERT_GE(got.size(), 3u);  // "v", "w" and two round-robin records, maybe the empty-key ones
  EXPECT_EQ(got[0].key(), "21");
  EXPECT_EQ(got[0].text(), "v");
  EXPECT_EQ(got[0].data().size(), 1u);
  EXPECT_EQ(got[0].header("type"), "created");
  EXPECT_EQ(got[0].partition(), expected);
  EXPECT_EQ(got[0].offset(), 0u);
  EXPECT_EQ(got[1].offset(), 1u);
  EXPECT_GT(got[0].timestamp_ms(), 1'600'000'000'000);
  EXPECT_LE(got[0].timestamp_ms(), got[1].timestamp_ms());
  EXPECT_FALSE(got[2].key().has_value());  // a round-robin record
  corq::StreamReader empty_reader = engine.stream_reader("events", empty);
  bool saw_empty_key = false;
  for (const corq::StreamRecord &r : empty_reader.read(64, 0)) {
    if (r.text() == "e") {
      saw_empty_key = true;
      ASSERT_TRUE(r.key().has_value());
      EXPECT_EQ(*r.key(), "");
    }
  }
  EXPECT_TRUE(saw_empty_key);
}

TEST(CppWrapper, stream_readers_start_at_earliest_latest_or_an_offset) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s");
  for (const char *t : {"a", "b", "c"}) engine.append("s", t);
  corq::StreamReader earliest = engine.stream_reader("s", 0, "earliest");
  corq::StreamReader latest = engine.stream_reader("s", 0, "latest");
  corq::StreamReader from_one = engine.stream_reader("s", 0, "offset:1");
  EXPECT_EQ(texts(earliest.read(2, 0)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(texts(earliest.read(8, 0)), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(latest.read(8, 0).empty());
  EXPECT_EQ(texts(from_one.read(8, 0)), (std::vector<std::string>{"b", "c"}));
  engine.append("s", "d");
  EXPECT_EQ(texts(latest.read(8, 0)), (std::vector<std::string>{"d"}));
  // Into a span of the caller's, as Consumer::consume does.
  std::array<corq::StreamRecord, 4> out;
  corq::StreamReader at_end = engine.stream_reader("s", 0, "offset:3");
  ASSERT_EQ(at_end.read(out, 0), 1u);
  EXPECT_EQ(out[0].text(), "d");
  EXPECT_EQ(out[0].offset(), 3u);
}

TEST(CppWrapper, stream_reader_follows_the_tail_with_a_timeout_and_wakes_up) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s");
  corq::StreamReader reader = engine.stream_reader("s", 0, "latest");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(reader.read(8, 30).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(25));
  std::thread appender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    engine.append("s", "late");
  });
  const std::span<const corq::StreamRecord> got = reader.read(8, 10'000);
  appender.join();
  EXPECT_EQ(texts(got), (std::vector<std::string>{"late"}));
  // A wakeup from another thread ends a read that waits without limit: no records, no error.
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    reader.wakeup();
  });
  EXPECT_TRUE(reader.read(8, -1).empty());
  waker.join();
}

TEST(CppWrapper, stream_reader_counts_what_retention_deleted_as_skipped) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s", {{"retention_records", "3"}});
  corq::StreamReader reader = engine.stream_reader("s");
  for (int i = 0; i < 5; ++i) engine.append("s", std::to_string(i));
  const std::span<const corq::StreamRecord> got = reader.read(8, 0);
  EXPECT_EQ(texts(got), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(got[0].offset(), 2u);
  EXPECT_EQ(reader.skipped(), 2u);
  // offset:0 below the first retained record starts there and counts the difference.
  corq::StreamReader late = engine.stream_reader("s", 0, "offset:0");
  EXPECT_EQ(late.skipped(), 2u);
  const corq_stream_stats s = engine.stream_stats("s");
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.deleted, 2u);
  EXPECT_EQ(s.appended, 5u);
}

TEST(CppWrapper, a_group_consumer_reads_a_stream_through_the_consumer_calls) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("events", {{"partitions", "2"}});
  engine.append("events", "placed", std::string_view("order-1"));
  corq::Consumer member = engine.group_consumer("events", "billing", {{"mode", "shared"}});
  std::optional<corq::Delivery> d = member.consume_one(0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->text(), "placed");
  EXPECT_EQ(d->message_id(), 0u);  // the record's offset
  member.ack(*d);
  corq_group_stats s = engine.group_stats("events", "billing");
  EXPECT_EQ(s.acked, 1u);
  EXPECT_EQ(s.lag, 0u);
  engine.group_seek("events", "billing", "earliest");
  EXPECT_EQ(engine.group_stats("events", "billing").lag, 1u);
  try {
    engine.group_consumer("events", "billing", {{"mode", "ordered"}});
    FAIL() << "a member with other options must be refused";
  } catch (const corq::Error &e) {
    EXPECT_EQ(e.code(), CORQ_EEXIST);
  }
  engine.group_delete("events", "billing");
  try {
    engine.group_stats("events", "billing");
    FAIL() << "a deleted group has no stats";
  } catch (const corq::Error &e) {
    EXPECT_EQ(e.code(), CORQ_ENOENT);
  }
}

TEST(CppWrapper, stream_producer_sends_a_batch_to_one_partition_with_its_key) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s", {{"partitions", "7"}, {"dedup_window_ms", "60000"}});
  corq::StreamProducer producer = engine.stream_producer("s");
  const std::vector<std::string> texts_in = {"a", "b", "c"};
  std::vector<corq_message> batch;
  for (const std::string &t : texts_in) batch.push_back(corq::Message{t}.c());
  batch[0].dedup_id = "batch-1";
  const corq::AppendedBatch sent = producer.send(batch, "21");
  EXPECT_EQ(sent.partition, 1173551340u % 7);
  EXPECT_EQ(sent.first_offset, 0u);
  const corq::AppendedBatch again = producer.send(batch, "21");  // the same dedup_id: nothing
  EXPECT_EQ(again.partition, sent.partition);
  EXPECT_EQ(again.first_offset, 0u);
  const corq::AppendedBatch one = producer.send(corq::Message{"d"}, "21");
  EXPECT_EQ(one.first_offset, 3u);
  const corq::AppendedBatch unkeyed = producer.send(corq::Message{"e"});
  EXPECT_LT(unkeyed.partition, 7u);

  corq::StreamReader reader = engine.stream_reader("s", sent.partition);
  const std::span<const corq::StreamRecord> got = reader.read(8, 0);
  ASSERT_GE(got.size(), 4u);
  EXPECT_EQ(got[0].text(), "a");
  EXPECT_EQ(got[2].text(), "c");
  EXPECT_EQ(got[3].text(), "d");
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].offset(), i);
    EXPECT_EQ(got[i].key(), "21");
  }
  EXPECT_EQ(got[0].timestamp_ms(), got[2].timestamp_ms());  // one timestamp per batch
  const corq_stream_stats s = engine.stream_stats("s");
  EXPECT_EQ(s.partitions, 7u);
  EXPECT_EQ(s.appended, 5u);
  EXPECT_EQ(s.deduplicated, 1u);
  EXPECT_EQ(s.records, 5u);
  EXPECT_EQ(s.bytes, 5u * 1 + 4u * 2);  // payloads, and the key of the four keyed records
  EXPECT_EQ(s.groups, 0u);
  EXPECT_EQ(error_of([&] { producer.send(std::span<const corq_message>()); }).code(), CORQ_EINVAL);
  producer.close();
  EXPECT_EQ(producer.handle(), nullptr);
}

TEST(CppWrapper, stream_errors_throw_with_the_c_code_and_detail) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s", {{"partitions", "2"}});
  engine.append("s", "x");
  const auto check = [](const corq::Error &e, int code, const char *detail) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(detail), std::string::npos) << e.what();
  };
  check(error_of([&] { engine.append("nope", "x"); }), CORQ_ENOENT, "no stream named 'nope'");
  check(error_of([&] { engine.stream_reader("nope"); }), CORQ_ENOENT, "no stream named 'nope'");
  check(error_of([&] { engine.stream_producer("nope"); }), CORQ_ENOENT, "no stream named 'nope'");
  check(error_of([&] { engine.stream_stats("nope"); }), CORQ_ENOENT, "no stream named 'nope'");
  check(error_of([&] { engine.remove_stream("nope"); }), CORQ_ENOENT, "nope");
  check(error_of([&] { engine.stream_reader("s", 0, "soon"); }), CORQ_EINVAL, "bad start 'soon'");
  check(error_of([&] { engine.stream_reader("s", 0, "offset:2"); }), CORQ_EINVAL, "past the end");
  check(error_of([&] { engine.stream_reader("s", 2); }), CORQ_EINVAL, "no partition 2");
  check(error_of([&] { engine.declare_stream("bad name"); }), CORQ_EINVAL, "stream name");
  check(error_of([&] {
          engine.declare_stream("t", {{"partitions", "0"}});
        }),
        CORQ_EINVAL, "partitions");
  check(error_of([&] {
          engine.declare_stream("t", {{"durable", "true"}});
        }),
        CORQ_EINVAL, "disk engine");
  check(error_of([&] { engine.declare_stream("s", {{"partitions", "3"}}); }), CORQ_EEXIST, "s");
  corq::PublishOptions delayed;
  delayed.delay_ms = 5;
  check(error_of([&] { engine.append("s", "x", std::nullopt, delayed); }), CORQ_EINVAL,
        "must be 0 for a stream");
  corq::StreamReader reader = engine.stream_reader("s");
  check(error_of([&] { reader.read(0, 0); }), CORQ_EINVAL, "max must be at least 1");
  engine.remove_stream("s");
  check(error_of([&] { reader.read(1, 0); }), CORQ_ENOENT, "deleted");
}

TEST(CppWrapper, stream_handles_move_and_close_once) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare_stream("s");
  corq::StreamProducer p = engine.stream_producer("s");
  corq::StreamProducer q = std::move(p);
  EXPECT_EQ(p.handle(), nullptr);
  q.send(corq::Message{"x"});
  corq::StreamReader a = engine.stream_reader("s");
  const std::span<const corq::StreamRecord> got = a.read(1, 0);
  corq::StreamReader b = std::move(a);  // the records stay valid: b holds the same handle
  EXPECT_EQ(a.handle(), nullptr);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text(), "x");
  EXPECT_EQ(b.skipped(), 0u);
  b.close();
  EXPECT_EQ(b.handle(), nullptr);
}

}  // namespace
