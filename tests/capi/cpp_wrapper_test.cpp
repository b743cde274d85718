// The header-only C++ wrapper (corq.hpp): RAII handles, errors as corq::Error with the code,
// zero-copy Delivery views, and the same semantics as the C API underneath.
#include <corq/corq.hpp>

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

namespace {

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

}  // namespace
