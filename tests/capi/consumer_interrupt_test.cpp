// corq_consumer_interrupt: one-shot cancellation of a consume from another thread (for Go's
// context and Node's AbortSignal, issue #20) — the waiting consume, or else the next one, returns
// 0 at once, takes nothing, and the consumer stays usable; queue consumers and group members.
#include <gtest/gtest.h>

#include <corq/corq.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

struct Fixture {
  corq_engine *engine = nullptr;
  Fixture() {
    EXPECT_EQ(corq_open(nullptr, nullptr, &engine), CORQ_OK);
    EXPECT_EQ(corq_queue_declare(engine, "jobs", nullptr), CORQ_OK);
    EXPECT_EQ(corq_stream_declare(engine, "events", nullptr), CORQ_OK);
  }
  ~Fixture() { corq_close(engine); }
  void publish(const char *text) {
    const corq_message m{text, std::strlen(text), nullptr, 0, nullptr};
    ASSERT_EQ(corq_publish(engine, "jobs", &m, nullptr, nullptr), CORQ_OK);
  }
  void append(const char *text) {
    const corq_message m{text, std::strlen(text), nullptr, 0, nullptr};
    ASSERT_EQ(corq_stream_append(engine, "events", nullptr, 0, &m, nullptr, nullptr, nullptr),
              CORQ_OK);
  }
  corq_consumer *queue_consumer() {
    corq_consumer *c = nullptr;
    EXPECT_EQ(corq_consumer_open(engine, "jobs", 8, &c), CORQ_OK);
    return c;
  }
  corq_consumer *group_member() {
    corq_consumer *c = nullptr;
    EXPECT_EQ(corq_group_consumer_open(engine, "events", "g", nullptr, &c), CORQ_OK);
    return c;
  }
};

/// A consume that waits without limit returns 0 once another thread interrupts it.
void expect_waiting_consume_is_interrupted(corq_consumer *c) {
  std::atomic<int> result{-100};
  std::thread waiter([&] {
    corq_delivery d;
    result = corq_consume(c, &d, 1, -1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let it wait (either way passes)
  ASSERT_EQ(corq_consumer_interrupt(c), CORQ_OK);
  waiter.join();
  EXPECT_EQ(result.load(), 0);
}

TEST(ConsumerInterrupt, a_waiting_queue_consume_returns_zero) {
  Fixture f;
  corq_consumer *c = f.queue_consumer();
  expect_waiting_consume_is_interrupted(c);
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, a_waiting_group_consume_returns_zero) {
  Fixture f;
  corq_consumer *c = f.group_member();
  expect_waiting_consume_is_interrupted(c);
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt,
     an_interrupt_before_the_consume_makes_the_next_one_return_zero_without_taking) {
  Fixture f;
  f.publish("a");
  corq_consumer *c = f.queue_consumer();
  ASSERT_EQ(corq_consumer_interrupt(c), CORQ_OK);
  corq_delivery d;
  const auto start = Clock::now();
  EXPECT_EQ(corq_consume(c, &d, 1, -1), 0);  // at once, though a message is ready
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  corq_queue_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(corq_queue_stats_get(f.engine, "jobs", &st), CORQ_OK);
  EXPECT_EQ(st.ready, 1u);
  EXPECT_EQ(st.delivered, 0u);
  // One-shot: the consumer works as before.
  ASSERT_EQ(corq_consume(c, &d, 1, 1000), 1);
  EXPECT_EQ(std::string(static_cast<const char *>(d.data), d.len), "a");
  EXPECT_EQ(corq_ack(c, d.tag), CORQ_OK);
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, several_interrupts_count_as_one) {
  Fixture f;
  corq_consumer *c = f.queue_consumer();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(corq_consumer_interrupt(c), CORQ_OK);
  corq_delivery d;
  EXPECT_EQ(corq_consume(c, &d, 1, 0), 0);
  f.publish("b");
  EXPECT_EQ(corq_consume(c, &d, 1, 1000), 1);  // not interrupted again
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, a_group_member_interrupted_before_consuming_returns_zero_then_reads_on) {
  Fixture f;
  f.append("r0");
  corq_consumer *c = f.group_member();
  ASSERT_EQ(corq_consumer_interrupt(c), CORQ_OK);
  corq_delivery d;
  EXPECT_EQ(corq_consume(c, &d, 1, -1), 0);
  ASSERT_EQ(corq_consume(c, &d, 1, 1000), 1);
  EXPECT_EQ(std::string(static_cast<const char *>(d.data), d.len), "r0");
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, interrupt_is_not_wakeup_the_consumer_stays_usable) {
  Fixture f;
  corq_consumer *c = f.queue_consumer();
  expect_waiting_consume_is_interrupted(c);
  f.publish("c");
  corq_delivery d;
  EXPECT_EQ(corq_consume(c, &d, 1, 1000), 1);
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, interrupts_racing_with_publishes_lose_no_message) {
  Fixture f;
  corq_consumer *c = f.queue_consumer();
  constexpr int count = 2000;
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      corq_consumer_interrupt(c);
      std::this_thread::yield();
    }
  });
  std::thread producer([&] {
    for (int i = 0; i < count; ++i) f.publish("x");
  });
  int received = 0;
  corq_delivery d[8];
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (received < count && Clock::now() < deadline) {
    const int n = corq_consume(c, d, 8, 100);
    ASSERT_GE(n, 0);
    for (int i = 0; i < n; ++i) ASSERT_EQ(corq_ack(c, d[i].tag), CORQ_OK);
    received += n;
  }
  done = true;
  interrupter.join();
  producer.join();
  EXPECT_EQ(received, count);
  corq_consumer_close(c);
}

TEST(ConsumerInterrupt, null_is_einval) {
  EXPECT_EQ(corq_consumer_interrupt(nullptr), CORQ_EINVAL);
  EXPECT_NE(std::strstr(corq_last_error(), "corq_consumer_interrupt"), nullptr)
      << corq_last_error();
}

}  // namespace
