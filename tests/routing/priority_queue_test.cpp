// tests/routing/priority_queue_test.cpp — priority queues (DESIGN.md §6 "Priority"): the queue
// option max_priority (0 none, 1-32) delivers higher corq_publish_options.priority first, FIFO
// within one priority; a priority above the maximum counts as the maximum; overflow=drop_head drops
// the oldest of the lowest priority. Also: requeued, delayed, dead-lettered and fanned-out
// messages keep their priority, and priorities survive a restart.
#include "routing/exchange_helpers.hpp"
#include "support/temp_dir.hpp"

namespace corq::test {
namespace {

corq_publish_options with_priority(std::int32_t priority) {
  corq_publish_options o = publish_options();
  o.priority = priority;
  return o;
}

/// Publishes `payload` with `priority` to `queue`.
void publish_at(corq_engine *e, const std::string &queue, std::string_view payload,
                std::int32_t priority) {
  const corq_publish_options o = with_priority(priority);
  publish(e, queue, payload, &o);
}

/// Every ready payload of `queue`, in delivery order (acked).
std::vector<std::string> order_of(corq_engine *e, const std::string &queue) {
  return drain_acking(e, queue);
}

using Order = std::vector<std::string>;

EnginePtr open_durable_engine(const std::string &dir) {
  corq_engine *engine = nullptr;
  must(corq_open(dir.c_str(), nullptr, &engine), "corq_open(" + dir + ")");
  return EnginePtr(engine);
}

TEST(PriorityQueues, higher_priorities_are_delivered_first) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "10"}});
  publish_at(e.get(), "q", "p0", 0);
  publish_at(e.get(), "q", "p7", 7);
  publish_at(e.get(), "q", "p3", 3);
  publish_at(e.get(), "q", "p10", 10);
  publish_at(e.get(), "q", "p1", 1);
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"p10", "p7", "p3", "p1", "p0"}));
}

TEST(PriorityQueues, messages_of_one_priority_keep_their_publish_order) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "5"}});
  for (int i = 0; i < 50; ++i) {
    publish_at(e.get(), "q", "low" + std::to_string(i), 1);
    publish_at(e.get(), "q", "high" + std::to_string(i), 4);
  }
  Order expected;
  for (int i = 0; i < 50; ++i) expected.push_back("high" + std::to_string(i));
  for (int i = 0; i < 50; ++i) expected.push_back("low" + std::to_string(i));
  EXPECT_EQ(order_of(e.get(), "q"), expected);
}

TEST(PriorityQueues, a_priority_above_max_priority_counts_as_max_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "3"}});
  publish_at(e.get(), "q", "p2", 2);
  publish_at(e.get(), "q", "p9", 9);  // counts as 3: FIFO with the next one
  publish_at(e.get(), "q", "p3", 3);
  publish_at(e.get(), "q", "p1000", 1000);
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"p9", "p3", "p1000", "p2"}));
}

TEST(PriorityQueues, a_queue_without_max_priority_ignores_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q");
  publish_at(e.get(), "q", "a", 0);
  publish_at(e.get(), "q", "b", 9);
  publish_at(e.get(), "q", "c", 32);
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"a", "b", "c"}));
}

TEST(PriorityQueues, default_priority_is_zero_the_lowest) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "2"}});
  publish(e.get(), "q", "none");  // NULL options
  publish_at(e.get(), "q", "one", 1);
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"one", "none"}));
}

TEST(PriorityQueues, a_producer_batch_takes_the_priority_of_its_options) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "4"}});
  ProducerPtr producer = open_producer(e.get(), "q");
  std::vector<corq_message> low{message("l1"), message("l2")};
  std::vector<corq_message> high{message("h1"), message("h2")};
  const corq_publish_options lo = with_priority(1), hi = with_priority(4);
  must(corq_producer_send(producer.get(), low.data(), low.size(), &lo, nullptr), "send low");
  must(corq_producer_send(producer.get(), high.data(), high.size(), &hi, nullptr), "send high");
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"h1", "h2", "l1", "l2"}));
}

TEST(PriorityQueues, drop_head_drops_the_oldest_of_the_lowest_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q",
               {{"max_priority", "5"}, {"max_length", "3"}, {"overflow", "drop_head"}});
  publish_at(e.get(), "q", "low-old", 1);
  publish_at(e.get(), "q", "high-old", 5);
  publish_at(e.get(), "q", "low-new", 1);
  publish_at(e.get(), "q", "high-new", 5);  // full: low-old goes
  EXPECT_EQ(order_of(e.get(), "q.dlq"), (Order{"low-old"}));
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"high-old", "high-new", "low-new"}));
  EXPECT_EQ(stats(e.get(), "q").dead_lettered, 1u);
}

TEST(PriorityQueues, drop_head_takes_a_higher_priority_only_when_no_lower_one_is_left) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q",
               {{"max_priority", "5"}, {"max_length", "2"}, {"overflow", "drop_head"}});
  publish_at(e.get(), "q", "h1", 5);
  publish_at(e.get(), "q", "h2", 5);
  publish_at(e.get(), "q", "low", 0);  // the lowest in the queue is h1: it goes
  EXPECT_EQ(order_of(e.get(), "q.dlq"), (Order{"h1"}));
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"h2", "low"}));
}

TEST(PriorityQueues, a_released_message_goes_back_ahead_of_its_priority_but_behind_higher_ones) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "5"}});
  publish_at(e.get(), "q", "low-a", 1);
  publish_at(e.get(), "q", "low-b", 1);
  {
    ConsumerPtr c = open_consumer(e.get(), "q", 1);
    const corq_delivery d = must_consume_one(c.get());
    ASSERT_EQ(payload(d), "low-a");
    publish_at(e.get(), "q", "high", 5);
    must(corq_release(c.get(), d.tag), "release");
  }
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"high", "low-a", "low-b"}));
}

TEST(PriorityQueues, a_delayed_message_is_ordered_by_its_priority_when_due) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "q", {{"max_priority", "5"}});
  corq_publish_options delayed = with_priority(5);
  delayed.delay_ms = 100;
  publish(e.get(), "q", "high-delayed", &delayed);
  publish_at(e.get(), "q", "low", 0);
  publish_at(e.get(), "q", "mid", 3);
  advance(e.get(), 100);
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"high-delayed", "mid", "low"}));
}

TEST(PriorityQueues, a_dead_letter_keeps_its_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q.dlq", {{"max_priority", "5"}});
  must_declare(e.get(), "q", {{"max_priority", "5"}});
  publish_at(e.get(), "q", "high", 5);
  publish_at(e.get(), "q", "low", 1);
  {
    ConsumerPtr c = open_consumer(e.get(), "q", 2);
    const std::vector<corq_delivery> got = consume(c.get(), 2);
    ASSERT_EQ(got.size(), 2u);
    // Rejected in the opposite order of their priorities: the DLQ still delivers high first.
    must(corq_reject(c.get(), got[1].tag, "no"), "reject low");
    must(corq_reject(c.get(), got[0].tag, "no"), "reject high");
  }
  EXPECT_EQ(order_of(e.get(), "q.dlq"), (Order{"high", "low"}));
}

TEST(PriorityQueues, fanned_out_copies_are_ordered_by_each_queues_own_max_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "prio", {{"max_priority", "10"}});
  must_declare(e.get(), "capped", {{"max_priority", "2"}});
  must_declare(e.get(), "plain");
  must_declare_exchange(e.get(), "x", "fanout");
  for (const char *q : {"prio", "capped", "plain"}) must_bind(e.get(), "x", q, "");
  const corq_publish_options p1 = with_priority(1), p5 = with_priority(5), p9 = with_priority(9);
  ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "x", "", "p1", nullptr, &p1));
  ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "x", "", "p5", nullptr, &p5));
  ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "x", "", "p9", nullptr, &p9));
  EXPECT_EQ(order_of(e.get(), "prio"), (Order{"p9", "p5", "p1"}));
  EXPECT_EQ(order_of(e.get(), "capped"), (Order{"p5", "p9", "p1"}));  // 5 and 9 both count as 2
  EXPECT_EQ(order_of(e.get(), "plain"), (Order{"p1", "p5", "p9"}));
}

TEST(PriorityQueues, a_direct_exchange_publish_carries_its_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "3"}});
  must_declare_exchange(e.get(), "d", "direct");
  must_bind(e.get(), "d", "q", "k");
  const corq_publish_options p0 = with_priority(0), p3 = with_priority(3);
  ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "d", "k", "low", nullptr, &p0));
  ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "d", "k", "high", nullptr, &p3));
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"high", "low"}));
}

TEST(PriorityQueues, priorities_survive_a_restart) {
  TempDir dir;
  {
    EnginePtr e = open_durable_engine(dir.data());
    must_declare(e.get(), "q", {{"max_priority", "5"}});
    must_declare(e.get(), "r", {{"max_priority", "5"}});
    must_declare_exchange(e.get(), "x", "fanout");
    must_bind(e.get(), "x", "q", "");
    must_bind(e.get(), "x", "r", "");
    publish_at(e.get(), "q", "a0", 0);
    publish_at(e.get(), "q", "b5", 5);
    publish_at(e.get(), "q", "c2", 2);
    const corq_publish_options p4 = with_priority(4), p7 = with_priority(7);
    ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "x", "", "fan4", nullptr, &p4));  // publish_fanout
    ASSERT_EQ(CORQ_OK, try_xpublish(e.get(), "x", "", "fan7", nullptr, &p7));  // counts as 5
    publish_at(e.get(), "q", "d5", 5);
  }
  EnginePtr e = open_durable_engine(dir.data());
  EXPECT_EQ(order_of(e.get(), "q"), (Order{"b5", "fan7", "d5", "fan4", "c2", "a0"}));
  EXPECT_EQ(order_of(e.get(), "r"), (Order{"fan7", "fan4"}));
}

TEST(PriorityQueues, bad_max_priority_values_are_einval) {
  EnginePtr e = open_engine();
  for (const char *bad : {"33", "-1", "1000", "two", "", "1.5"}) {
    EXPECT_EQ(CORQ_EINVAL, declare(e.get(), "q", {{"max_priority", bad}})) << bad;
  }
  EXPECT_EQ(CORQ_EINVAL, declare(e.get(), "q", {{"max_priority", "4"}, {"shards", "2"}}));
  EXPECT_NE(last_error().find("max_priority"), std::string::npos) << last_error();
  // Nothing was declared by any of them.
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(CORQ_ENOENT, corq_queue_stats_get(e.get(), "q", &s));
  must_declare(e.get(), "q", {{"max_priority", "32"}});
  must_declare(e.get(), "q0", {{"max_priority", "0"}, {"shards", "4"}});
}

TEST(PriorityQueues, redeclaring_with_another_max_priority_is_eexist) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "4"}});
  EXPECT_EQ(CORQ_EEXIST, declare(e.get(), "q", {{"max_priority", "5"}}));
  EXPECT_EQ(CORQ_EEXIST, declare(e.get(), "q"));
  EXPECT_EQ(CORQ_OK, declare(e.get(), "q", {{"max_priority", "4"}}));
}

TEST(PriorityQueues, a_negative_priority_is_einval_and_stores_nothing) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "4"}});
  const corq_publish_options bad = with_priority(-1);
  EXPECT_EQ(CORQ_EINVAL, try_publish(e.get(), "q", "x", &bad));
  EXPECT_NE(last_error().find("priority"), std::string::npos) << last_error();
  EXPECT_EQ(stats(e.get(), "q").ready, 0u);
}

TEST(PriorityQueues, stats_json_shows_max_priority) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "7"}});
  char *json = nullptr;
  must(corq_stats_json(e.get(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_NE(text.find("\"max_priority\":7"), std::string::npos) << text;
}

}  // namespace
}  // namespace corq::test
