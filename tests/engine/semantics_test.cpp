// The semantics of DESIGN.md §2 (as refined by corq.h), one test per rule, through the C API.
//
// Time-based rules run on an engine with clock=manual: advance() moves its clock and runs the
// scheduler synchronously, so nothing here sleeps for the sake of a delay, lease or TTL. Only the
// rules about real waits (consume timeouts, blocking publishers, wakeups, close) use the system
// clock, with waits of at most ~100 ms.
//
// Boundaries follow the contract's words: a delay of d ms (or a backoff delay) is due at exactly
// publish/nack time + d, so it is not ready at d-1 and is ready at d; a lease or TTL is passed when
// the message is *older* than it, so tests look at d-1 and d+1 and leave d itself alone.
#include "engine/helpers.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

namespace {

using namespace corq::test;
using namespace std::chrono_literals;

constexpr const char *jobs = "jobs";
constexpr const char *jobs_dlq = "jobs.dlq";

/// Checks the x-death-* headers a dead-lettered delivery must carry.
void expect_x_death(const corq_delivery &d, const std::string &reason, const std::string &queue,
                    std::int64_t count, std::int64_t time_lo_ms, std::int64_t time_hi_ms) {
  EXPECT_EQ(header_value(d, "x-death-reason"), reason);
  EXPECT_EQ(header_value(d, "x-death-queue"), queue);
  EXPECT_EQ(parse_decimal(header_value(d, "x-death-count")), count)
      << "x-death-count: " << header_value(d, "x-death-count").value_or("<missing>");
  const std::optional<std::int64_t> time_ms = parse_decimal(header_value(d, "x-death-time-ms"));
  ASSERT_TRUE(time_ms.has_value())
      << "x-death-time-ms: " << header_value(d, "x-death-time-ms").value_or("<missing>");
  EXPECT_GE(*time_ms, time_lo_ms);
  EXPECT_LE(*time_ms, time_hi_ms);
  for (const char *key : {"x-death-reason", "x-death-queue", "x-death-count", "x-death-time-ms"}) {
    EXPECT_EQ(header_count_of(d, key), 1u) << key << " should appear exactly once";
  }
}

/// A window around "now" on both the engine clock and the wall clock (a manual clock starts at the
/// wall time of open; tests that check x-death-time-ms do not advance it much).
struct TimeWindow {
  std::int64_t lo_ms, hi_ms;
};
TimeWindow around_now(corq_engine *engine) {
  const std::int64_t engine_ms = corq::testing::clock_now_ms(engine);
  const std::int64_t wall_ms = unix_now_ms();
  return {std::min(engine_ms, wall_ms) - 60'000, std::max(engine_ms, wall_ms) + 60'000};
}

std::vector<std::string> payloads(const std::vector<corq_delivery> &ds) {
  std::vector<std::string> out;
  for (const corq_delivery &d : ds) out.push_back(payload(d));
  return out;
}

// ---- Queues -------------------------------------------------------------------------------------

TEST(Semantics, declaring_existing_queue_with_same_options_succeeds) {
  EnginePtr e = open_manual_engine();
  ASSERT_EQ(declare(e.get(), jobs, {{"max_length", "5"}, {"overflow", "reject"}}), CORQ_OK)
      << last_error();
  publish(e.get(), jobs, "kept");
  EXPECT_CORQ_OK(declare(e.get(), jobs, {{"max_length", "5"}, {"overflow", "reject"}}));
  // The order options are set in is not part of their identity.
  EXPECT_CORQ_OK(declare(e.get(), jobs, {{"overflow", "reject"}, {"max_length", "5"}}));
  // Redeclaring changed nothing: the message is still there, the limit still 5.
  EXPECT_EQ(stats(e.get(), jobs).ready, 1u);
  for (int i = 0; i < 4; ++i) publish(e.get(), jobs, "more");
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, "sixth"));

  // Spelling out a default value is the same option set as leaving it out.
  ASSERT_EQ(declare(e.get(), "plain"), CORQ_OK) << last_error();
  EXPECT_CORQ_OK(declare(e.get(), "plain"));
  EXPECT_CORQ_OK(declare(e.get(), "plain", {{"max_attempts", "10"}}));
}

TEST(Semantics, declaring_with_different_options_fails_eexist) {
  EnginePtr e = open_manual_engine();
  ASSERT_EQ(declare(e.get(), jobs, {{"max_length", "2"}, {"overflow", "reject"}}), CORQ_OK);
  publish(e.get(), jobs, "a");
  const corq_queue_stats before = stats(e.get(), jobs);
  EXPECT_CORQ_FAILS(CORQ_EEXIST,
                    declare(e.get(), jobs, {{"max_length", "3"}, {"overflow", "reject"}}));
  EXPECT_CORQ_FAILS(CORQ_EEXIST, declare(e.get(), jobs));
  EXPECT_CORQ_FAILS(CORQ_EEXIST, declare(e.get(), jobs, {{"max_length", "2"}}));
  // Nothing changed: same stats, and the old limit of 2 still holds.
  EXPECT_EQ(describe(stats(e.get(), jobs)), describe(before));
  publish(e.get(), jobs, "b");
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, "c"));
}

TEST(Semantics, default_dlq_is_declared_automatically) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "orders");
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_OK(corq_queue_stats_get(e.get(), "orders.dlq", &s));
  // The dead-letter queue has no dead-letter queue of its own.
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), "orders.dlq.dlq", &s));

  // A named dead-letter queue is declared instead of the default one.
  must_declare(e.get(), "payments", {{"dead_letter_queue", "graveyard"}});
  EXPECT_CORQ_OK(corq_queue_stats_get(e.get(), "graveyard", &s));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), "payments.dlq", &s));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), "graveyard.dlq", &s));
}

TEST(Semantics, empty_dead_letter_queue_drops_and_counts) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"dead_letter_queue", ""}, {"max_attempts", "1"}});
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), jobs_dlq, &s));

  publish(e.get(), jobs, "poison");
  publish(e.get(), jobs, "failing");
  ConsumerPtr c = open_consumer(e.get(), jobs, 2);
  std::vector<corq_delivery> ds = consume(c.get(), 2);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[0].tag, "bad"));
  EXPECT_CORQ_OK(corq_nack(c.get(), ds[1].tag, 0));  // max_attempts 1: dead-lettered

  s = stats(e.get(), jobs);
  EXPECT_EQ(s.dropped, 2u) << describe(s);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u) << describe(s);
  // Nothing leaves silently: every published message is accounted for.
  EXPECT_EQ(s.published, s.acked + s.dead_lettered + s.dropped) << describe(s);
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), jobs_dlq, &s));
}

TEST(Semantics, purge_removes_ready_and_reports_count) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  for (const char *p : {"in-flight", "r1", "r2", "r3"}) publish(e.get(), jobs, p);
  const corq_publish_options later = publish_options(/*delay_ms=*/1000);
  publish(e.get(), jobs, "delayed", &later);
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery held = must_consume_one(c.get());
  EXPECT_EQ(payload(held), "in-flight");

  std::uint64_t purged = 999;
  EXPECT_CORQ_OK(corq_queue_purge(e.get(), jobs, &purged));
  EXPECT_EQ(purged, 3u);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.bytes_ready, 0u) << describe(s);
  EXPECT_EQ(s.delayed, 1u) << describe(s);
  EXPECT_EQ(s.in_flight, 1u) << describe(s);
  // The in-flight delivery is untouched and settles normally; the delayed message still arrives.
  EXPECT_EQ(payload(held), "in-flight");
  EXPECT_CORQ_OK(corq_ack(c.get(), held.tag));
  advance(e.get(), 1000);
  EXPECT_EQ(payload(must_consume_one(c.get())), "delayed");
  // An empty purge reports 0, and *purged may be NULL.
  EXPECT_CORQ_OK(corq_queue_purge(e.get(), jobs, &purged));
  EXPECT_EQ(purged, 0u);
  EXPECT_CORQ_OK(corq_queue_purge(e.get(), jobs, nullptr));
}

TEST(Semantics, delete_removes_queue) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  publish(e.get(), jobs, "held");
  publish(e.get(), jobs, "ready");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  ProducerPtr p = open_producer(e.get(), jobs);
  const corq_delivery held = must_consume_one(c.get());

  EXPECT_CORQ_OK(corq_queue_delete(e.get(), jobs));
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e.get(), jobs, &s));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_publish(e.get(), jobs, "x"));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_delete(e.get(), jobs));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_purge(e.get(), jobs, nullptr));
  corq_consumer *c2 = nullptr;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_consumer_open(e.get(), jobs, 1, &c2));
  // Attached handles get ENOENT from then on.
  const corq_message m = message("x");
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_producer_send(p.get(), &m, 1, nullptr, nullptr));
  corq_delivery out[1];
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_consume(c.get(), out, 1, 0));
  // The in-flight delivery stays readable until settled; settling just frees it.
  EXPECT_EQ(payload(held), "held");
  const int rc = corq_ack(c.get(), held.tag);
  EXPECT_TRUE(rc == CORQ_OK || rc == CORQ_ENOENT) << corq_strerror(rc) << " " << last_error();

  // The name is free again: a new, empty queue.
  ASSERT_EQ(declare(e.get(), jobs, {{"max_length", "7"}}), CORQ_OK) << last_error();
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.published, 0u) << describe(s);
}

// ---- Messages, ids, headers
// ------------------------------------------------------------------------

TEST(Semantics, message_ids_increase_in_publish_order) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "a");
  must_declare(e.get(), "b");
  ProducerPtr p = open_producer(e.get(), "b");
  std::uint64_t last = 0;
  bool first = true;
  for (int i = 0; i < 20; ++i) {
    std::uint64_t id = 0;
    if (i % 3 == 2) {
      const corq_message m = message("batch");
      ASSERT_EQ(corq_producer_send(p.get(), &m, 1, nullptr, &id), CORQ_OK) << last_error();
    } else {
      id = publish(e.get(), i % 2 ? "a" : "b", "x");
    }
    if (!first) {
      EXPECT_GT(id, last) << "publish " << i;
    }
    first = false;
    last = id;
  }
}

TEST(Semantics, producer_send_batch_gets_consecutive_ids) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  const std::uint64_t before = publish(e.get(), jobs, "before");
  ProducerPtr p = open_producer(e.get(), jobs);
  const std::vector<std::string> texts = {"m0", "m1", "m2", "m3", "m4"};
  std::vector<corq_message> batch;
  for (const std::string &t : texts) batch.push_back(message(t));
  std::uint64_t first_id = 0;
  ASSERT_EQ(corq_producer_send(p.get(), batch.data(), batch.size(), nullptr, &first_id), CORQ_OK)
      << last_error();
  EXPECT_GT(first_id, before);
  const std::uint64_t after = publish(e.get(), jobs, "after");
  EXPECT_GT(after, first_id + texts.size() - 1);
  EXPECT_CORQ_OK(corq_producer_flush(p.get(), 1000));

  ConsumerPtr c = open_consumer(e.get(), jobs, 16);
  std::vector<corq_delivery> ds = consume(c.get(), 16);
  ASSERT_EQ(ds.size(), 7u);
  EXPECT_EQ(ds[0].message_id, before);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(ds[i + 1].message_id, first_id + i);
    EXPECT_EQ(payload(ds[i + 1]), texts[i]);
  }
  EXPECT_EQ(ds[6].message_id, after);
}

TEST(Semantics, headers_round_trip) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  const std::string binary("\0\x01\xff", 3);
  const std::string long_key(255, 'k');
  std::vector<corq_header> hs = {header("content-type", "application/json"), header("bin", binary),
                                 header("empty", ""), header(long_key.c_str(), "long")};
  publish(e.get(), jobs, "body", nullptr, hs);
  // The most headers a message may carry.
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(numbered("h", i));
  std::vector<corq_header> many;
  for (const std::string &k : keys) many.push_back(header(k.c_str(), k));
  publish(e.get(), jobs, "many", nullptr, many);

  ConsumerPtr c = open_consumer(e.get(), jobs, 2);
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(payload(d), "body");
  EXPECT_EQ(d.header_count, 4u);
  EXPECT_EQ(header_value(d, "content-type"), "application/json");
  EXPECT_EQ(header_value(d, "bin"), binary);
  EXPECT_EQ(header_value(d, "empty"), "");
  EXPECT_EQ(header_value(d, long_key), "long");
  const corq_delivery d2 = must_consume_one(c.get());
  EXPECT_EQ(d2.header_count, 64u);
  for (const std::string &k : keys) EXPECT_EQ(header_value(d2, k), k);
}

TEST(Semantics, zero_length_payload_round_trips) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  corq_message m{};
  m.data = nullptr;
  m.len = 0;
  std::uint64_t id = 0;
  ASSERT_EQ(corq_publish(e.get(), jobs, &m, nullptr, &id), CORQ_OK) << last_error();
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 1u);
  EXPECT_EQ(s.bytes_ready, 0u);
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(d.message_id, id);
  EXPECT_EQ(d.len, 0u);
  EXPECT_EQ(d.header_count, 0u);
  EXPECT_CORQ_OK(corq_ack(c.get(), d.tag));
}

TEST(Semantics, published_at_ms_is_unix_time) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  const std::int64_t before_ms = unix_now_ms();
  publish(e.get(), jobs, "x");
  const std::int64_t after_ms = unix_now_ms();
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery d = must_consume_one(c.get());
  // The clocks may disagree by a tick; a few ms of slack, not seconds.
  EXPECT_GE(d.published_at_ms, before_ms - 5);
  EXPECT_LE(d.published_at_ms, after_ms + 5);
}

// ---- Ordering -----------------------------------------------------------------------------------

TEST(Semantics, shards_1_delivers_global_fifo) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"shards", "1"}});
  ProducerPtr p1 = open_producer(e.get(), jobs);
  ProducerPtr p2 = open_producer(e.get(), jobs);
  std::vector<std::string> order;
  for (int i = 0; i < 60; ++i) {
    const std::string text = std::to_string(i);
    order.push_back(text);
    const corq_message m = message(text);
    switch (i % 3) {
      case 0: publish(e.get(), jobs, text); break;
      case 1: ASSERT_EQ(corq_producer_send(p1.get(), &m, 1, nullptr, nullptr), CORQ_OK); break;
      default: ASSERT_EQ(corq_producer_send(p2.get(), &m, 1, nullptr, nullptr), CORQ_OK); break;
    }
  }
  ConsumerPtr c = open_consumer(e.get(), jobs, 1000);
  std::vector<std::string> got;
  for (int round = 0; round < 100 && got.size() < order.size(); ++round) {
    std::vector<std::string> more = payloads(consume(c.get(), 7));
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, order);
}

TEST(Semantics, ready_messages_are_delivered_in_publish_order_per_producer) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"shards", "4"}});
  constexpr int producers = 3;
  constexpr int per_producer = 100;
  std::vector<ProducerPtr> ps;
  for (int p = 0; p < producers; ++p) ps.push_back(open_producer(e.get(), jobs));
  for (int i = 0; i < per_producer; ++i) {
    for (int p = 0; p < producers; ++p) {
      std::string text = std::to_string(p);
      text += numbered(":", i);
      const corq_message m = message(text);
      ASSERT_EQ(corq_producer_send(ps[p].get(), &m, 1, nullptr, nullptr), CORQ_OK) << last_error();
    }
    publish(e.get(), jobs, numbered("9:", i));  // the shared corq_publish path
  }
  ConsumerPtr c = open_consumer(e.get(), jobs, 1000);
  std::map<int, std::vector<int>> seen;
  std::size_t total = 0;
  for (int round = 0; round < 1000 && total < (producers + 1) * per_producer; ++round) {
    for (const corq_delivery &d : consume(c.get(), 13)) {
      const std::string text = payload(d);
      const std::size_t colon = text.find(':');
      seen[std::stoi(text.substr(0, colon))].push_back(std::stoi(text.substr(colon + 1)));
      ++total;
    }
  }
  ASSERT_EQ(total, static_cast<std::size_t>((producers + 1) * per_producer));
  for (const auto &[producer, seqs] : seen) {
    const auto inversion = std::is_sorted_until(seqs.begin(), seqs.end());
    EXPECT_TRUE(inversion == seqs.end())
        << "producer " << producer << ": message " << *inversion << " delivered after message "
        << *(inversion - 1) << " (producer 9 is corq_publish from one thread)";
    EXPECT_EQ(seqs.size(), static_cast<std::size_t>(per_producer)) << "producer " << producer;
  }
}

// ---- Consume ------------------------------------------------------------------------------------

TEST(Semantics, prefetch_limits_unsettled_deliveries) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  for (int i = 0; i < 10; ++i) publish(e.get(), jobs, std::to_string(i));
  ConsumerPtr c = open_consumer(e.get(), jobs, 3);
  std::vector<corq_delivery> ds = consume(c.get(), 10);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(consume(c.get(), 10).size(), 0u) << "a full window gives nothing";
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.in_flight, 3u) << describe(s);
  EXPECT_EQ(s.ready, 7u) << describe(s);
  // Each way of settling frees one slot.
  EXPECT_CORQ_OK(corq_ack(c.get(), ds[0].tag));
  EXPECT_EQ(consume(c.get(), 10).size(), 1u);
  EXPECT_EQ(consume(c.get(), 10).size(), 0u);
  EXPECT_CORQ_OK(corq_nack(c.get(), ds[1].tag, 0));
  EXPECT_EQ(consume(c.get(), 10).size(), 1u);
  EXPECT_CORQ_OK(corq_release(c.get(), ds[2].tag));
  EXPECT_EQ(consume(c.get(), 10).size(), 1u);
  EXPECT_EQ(consume(c.get(), 10).size(), 0u);
  EXPECT_EQ(stats(e.get(), jobs).in_flight, 3u);
  // Another consumer has a window of its own.
  ConsumerPtr c2 = open_consumer(e.get(), jobs, 2);
  EXPECT_EQ(consume(c2.get(), 10).size(), 2u);
  EXPECT_EQ(stats(e.get(), jobs).in_flight, 5u);
}

TEST(Semantics, consume_times_out_with_zero) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  ConsumerPtr c = open_consumer(e.get(), jobs, 4);
  corq_delivery out[4];
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(corq_consume(c.get(), out, 4, 60), 0) << last_error();
  const std::int64_t waited_ms = elapsed_ms(start);
  EXPECT_GE(waited_ms, 55);
  EXPECT_LT(waited_ms, 2000);
}

TEST(Semantics, consume_polls_with_timeout_zero) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  ConsumerPtr c = open_consumer(e.get(), jobs, 4);
  corq_delivery out[4];
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(corq_consume(c.get(), out, 4, 0), 0) << last_error();
  EXPECT_LT(elapsed_ms(start), 500) << "a poll must not wait";
  publish(e.get(), jobs, "x");
  EXPECT_EQ(corq_consume(c.get(), out, 4, 0), 1) << last_error();
  EXPECT_EQ(payload(out[0]), "x");
}

TEST(Semantics, consume_with_minus_one_waits_until_a_message_arrives) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  ConsumerPtr c = open_consumer(e.get(), jobs, 4);
  std::atomic<bool> returned{false};
  std::thread publisher([&] {
    std::this_thread::sleep_for(30ms);
    publish(e.get(), jobs, "late");
    // A watchdog, so a lost wake fails this test instead of hanging it.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!returned.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (!returned.load()) corq_consumer_wakeup(c.get());
  });
  corq_delivery out[4];
  const int n = corq_consume(c.get(), out, 4, -1);
  returned = true;
  publisher.join();
  ASSERT_EQ(n, 1) << corq_strerror(n) << " " << last_error();
  EXPECT_EQ(payload(out[0]), "late");
}

TEST(Semantics, wakeup_makes_consume_return_eclosed_but_settling_works) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  publish(e.get(), jobs, "held");
  ConsumerPtr c = open_consumer(e.get(), jobs, 4);
  const corq_delivery held = must_consume_one(c.get());

  // A consume blocked without limit on an empty queue is ended by wakeup from another thread.
  std::atomic<int> blocked_rc{1};
  std::thread worker([&] {
    corq_delivery out[4];
    blocked_rc = corq_consume(c.get(), out, 4, -1);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(blocked_rc.load(), 1) << "consume(-1) returned before any wakeup";
  EXPECT_CORQ_OK(corq_consumer_wakeup(c.get()));
  worker.join();
  EXPECT_EQ(blocked_rc.load(), CORQ_ECLOSED) << corq_strerror(blocked_rc.load());

  // Later consumes fail too, even with messages ready, and take nothing.
  publish(e.get(), jobs, "ready");
  corq_delivery out[4];
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(c.get(), out, 4, 0));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(c.get(), out, 4, 50));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  // Settling what it holds still works (graceful stop).
  EXPECT_EQ(payload(held), "held");
  EXPECT_CORQ_OK(corq_ack(c.get(), held.tag));
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.acked, 1u) << describe(s);
  EXPECT_EQ(s.in_flight, 0u) << describe(s);
  EXPECT_CORQ_OK(corq_consumer_wakeup(c.get()));  // idempotent
}

TEST(Semantics, close_wakes_blocked_consumer_with_eclosed) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs);
  corq_consumer *c = nullptr;
  ASSERT_EQ(corq_consumer_open(e.get(), jobs, 4, &c), CORQ_OK);
  std::atomic<int> blocked_rc{1};
  std::thread worker([&] {
    corq_delivery out[4];
    blocked_rc = corq_consume(c, out, 4, -1);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(blocked_rc.load(), 1) << "consume(-1) returned before close";
  EXPECT_CORQ_OK(corq_close(e.release()));
  worker.join();
  EXPECT_EQ(blocked_rc.load(), CORQ_ECLOSED) << corq_strerror(blocked_rc.load());
  // The handle now only accepts its close function.
  corq_delivery out[1];
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(c, out, 1, 0));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_ack(c, 1));
  EXPECT_CORQ_OK(corq_consumer_close(c));
}

TEST(Semantics, close_wakes_blocked_publisher_with_eclosed) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs, {{"max_length", "1"}, {"overflow", "block"}});
  publish(e.get(), jobs, "fills it");
  corq_producer *p = nullptr;
  ASSERT_EQ(corq_producer_open(e.get(), jobs, &p), CORQ_OK);
  std::atomic<int> blocked_rc{1};
  corq_engine *raw = e.get();
  std::thread publisher([&blocked_rc, raw] {
    const corq_publish_options forever = publish_options(0, 0, /*timeout_ms=*/-1);
    blocked_rc = try_publish(raw, jobs, "waits", &forever);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(blocked_rc.load(), 1) << "a publish to a full block queue returned early";
  EXPECT_CORQ_OK(corq_close(e.release()));
  publisher.join();
  EXPECT_EQ(blocked_rc.load(), CORQ_ECLOSED) << corq_strerror(blocked_rc.load());
  const corq_message m = message("after close");
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_producer_send(p, &m, 1, nullptr, nullptr));
  corq_producer_close(p);
}

// ---- Settle -------------------------------------------------------------------------------------

TEST(Semantics, ack_upto_acks_every_outstanding_tag_up_to) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  for (int i = 0; i < 6; ++i) publish(e.get(), jobs, std::to_string(i));
  ConsumerPtr c = open_consumer(e.get(), jobs, 5);
  std::vector<corq_delivery> t = consume(c.get(), 5);
  ASSERT_EQ(t.size(), 5u);
  for (std::size_t i = 1; i < t.size(); ++i) EXPECT_GT(t[i].tag, t[i - 1].tag) << "tags increase";

  EXPECT_CORQ_OK(corq_ack(c.get(), t[0].tag));
  EXPECT_CORQ_OK(corq_release(c.get(), t[2].tag));
  // Acks t1 and t3 (t0 is already acked, t2 released); leaves t4 alone.
  EXPECT_CORQ_OK(corq_ack_upto(c.get(), t[3].tag));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.acked, 3u) << describe(s);
  EXPECT_EQ(s.in_flight, 1u) << describe(s);
  EXPECT_EQ(s.ready, 2u) << describe(s);  // the 6th message and the released one
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), t[1].tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), t[3].tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack_upto(c.get(), t[3].tag));  // none outstanding <= t3
  EXPECT_CORQ_OK(corq_ack(c.get(), t[4].tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack_upto(c.get(), t[4].tag));
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.acked, 4u) << describe(s);
  EXPECT_EQ(s.in_flight, 0u) << describe(s);
}

TEST(Semantics, settling_unknown_or_settled_tag_is_estate_and_changes_nothing) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  publish(e.get(), jobs, "a");
  publish(e.get(), jobs, "b");
  publish(e.get(), jobs, "c");
  ConsumerPtr c = open_consumer(e.get(), jobs, 2);
  std::vector<corq_delivery> ds = consume(c.get(), 2);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_CORQ_OK(corq_ack(c.get(), ds[0].tag));
  const corq_queue_stats before = stats(e.get(), jobs);

  const std::uint64_t settled = ds[0].tag;
  const std::uint64_t unknown = ds[1].tag + 1000;
  for (std::uint64_t tag : {settled, unknown}) {
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), tag));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(c.get(), tag, 0));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(c.get(), tag, -1));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_release(c.get(), tag));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_reject(c.get(), tag, "why"));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_extend(c.get(), tag, 1000));
  }
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack_upto(c.get(), settled));
  EXPECT_EQ(describe(stats(e.get(), jobs)), describe(before));
  corq_queue_stats dlq = stats(e.get(), jobs_dlq);
  EXPECT_EQ(dlq.ready, 0u) << describe(dlq);
  // The outstanding delivery is untouched and still settles; the window is still 1 slot full.
  EXPECT_EQ(payload(ds[1]), "b");
  EXPECT_EQ(consume(c.get(), 2).size(), 1u);
  EXPECT_CORQ_OK(corq_ack(c.get(), ds[1].tag));
}

TEST(Semantics, nack_past_max_attempts_dead_letters_with_reason_max_attempts) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_attempts", "3"}});
  const std::uint64_t id = publish(e.get(), jobs, "work", nullptr, {header("trace", "t-1")});
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  for (std::uint32_t attempt = 1; attempt <= 2; ++attempt) {
    const corq_delivery d = must_consume_one(c.get());
    EXPECT_EQ(d.message_id, id);
    EXPECT_EQ(d.delivery_count, attempt);
    EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 0));
    corq_queue_stats s = stats(e.get(), jobs);
    EXPECT_EQ(s.ready, 1u) << "after failure " << attempt << ": " << describe(s);
    EXPECT_EQ(s.dead_lettered, 0u) << describe(s);
  }
  const corq_delivery last = must_consume_one(c.get());
  EXPECT_EQ(last.delivery_count, 3u);
  EXPECT_CORQ_OK(corq_nack(c.get(), last.tag, 0));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 1u);

  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 1);
  const corq_delivery dead = must_consume_one(dc.get());
  EXPECT_EQ(payload(dead), "work");
  EXPECT_EQ(header_value(dead, "trace"), "t-1");
  const TimeWindow w = around_now(e.get());
  expect_x_death(dead, "max_attempts", jobs, 1, w.lo_ms, w.hi_ms);
}

TEST(Semantics, nack_with_explicit_delay_returns_after_that_delay) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"retry_delay_ms", "10000"}});
  publish(e.get(), jobs, "x");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 500));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.delayed, 1u) << describe(s);
  EXPECT_EQ(s.nacked, 1u) << describe(s);
  advance(e.get(), 499);
  EXPECT_FALSE(consume_one(c.get()).has_value());
  advance(e.get(), 1);
  const std::optional<corq_delivery> again = consume_one(c.get());
  ASSERT_TRUE(again.has_value()) << describe(stats(e.get(), jobs));
  EXPECT_EQ(again->delivery_count, 2u);
}

TEST(Semantics, reject_dead_letters_at_once_with_x_death_headers) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_attempts", "10"}});
  publish(e.get(), jobs, "poison", nullptr, {header("a", "1"), header("b", "2")});
  publish(e.get(), jobs, "poison without reason");
  ConsumerPtr c = open_consumer(e.get(), jobs, 2);
  std::vector<corq_delivery> ds = consume(c.get(), 2);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].delivery_count, 1u);
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[0].tag, "bad json"));
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[1].tag, nullptr));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.dead_lettered, 2u) << describe(s);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u) << describe(s);

  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 2);
  std::vector<corq_delivery> dead = consume(dc.get(), 2);
  ASSERT_EQ(dead.size(), 2u);
  const TimeWindow w = around_now(e.get());
  EXPECT_EQ(payload(dead[0]), "poison");
  EXPECT_EQ(header_value(dead[0], "a"), "1");
  EXPECT_EQ(header_value(dead[0], "b"), "2");
  expect_x_death(dead[0], "rejected", jobs, 1, w.lo_ms, w.hi_ms);
  EXPECT_EQ(header_value(dead[0], "x-death-detail"), "bad json");
  EXPECT_EQ(payload(dead[1]), "poison without reason");
  expect_x_death(dead[1], "rejected", jobs, 1, w.lo_ms, w.hi_ms);
  EXPECT_EQ(header_count_of(dead[1], "x-death-detail"), 0u) << "no reason, no detail header";
}

TEST(Semantics, release_is_not_a_failed_attempt) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_attempts", "1"}});
  publish(e.get(), jobs, "x");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  for (std::uint32_t n = 1; n <= 4; ++n) {
    const std::optional<corq_delivery> d = consume_one(c.get());
    ASSERT_TRUE(d.has_value()) << "release " << n - 1 << " dead-lettered the message? "
                               << describe(stats(e.get(), jobs));
    EXPECT_EQ(d->delivery_count, n);
    EXPECT_CORQ_OK(corq_release(c.get(), d->tag));
  }
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.released, 4u) << describe(s);
  EXPECT_EQ(s.nacked, 0u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 0u) << describe(s);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  // The first real failure reaches max_attempts=1.
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 0));
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 1);
  const corq_delivery dead = must_consume_one(dc.get());
  EXPECT_EQ(header_value(dead, "x-death-reason"), "max_attempts");
}

TEST(Semantics, lease_expiry_counts_as_failed_attempt_with_backoff) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs,
               {{"lease_ms", "1000"},
                {"retry_delay_ms", "100"},
                {"retry_backoff", "2"},
                {"max_attempts", "2"}});
  publish(e.get(), jobs, "slow");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery first = must_consume_one(c.get());
  EXPECT_EQ(first.delivery_count, 1u);

  advance(e.get(), 999);  // t=999: within the lease
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.in_flight, 1u) << describe(s);
  advance(e.get(), 2);  // t=1001: the lease expired; first failure: backoff 100 ms
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.in_flight, 0u) << describe(s);
  EXPECT_EQ(s.delayed, 1u) << describe(s);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), first.tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_extend(c.get(), first.tag, 1000));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(c.get(), first.tag, 0));
  advance(e.get(), 98);  // t=1099: the backoff (from 1000 or 1001) is not over
  EXPECT_FALSE(consume_one(c.get()).has_value()) << describe(stats(e.get(), jobs));
  advance(e.get(), 2);  // t=1101: over either way
  const std::optional<corq_delivery> second = consume_one(c.get());
  ASSERT_TRUE(second.has_value()) << describe(stats(e.get(), jobs));
  EXPECT_EQ(second->delivery_count, 2u);

  // The second expiry is the second failed attempt: max_attempts=2 dead-letters it.
  advance(e.get(), 1001);
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), second->tag));
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 1);
  const std::optional<corq_delivery> dead = consume_one(dc.get());
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(header_value(*dead, "x-death-reason"), "max_attempts");
  EXPECT_EQ(payload(*dead), "slow");
}

TEST(Semantics, extend_postpones_lease_expiry) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"lease_ms", "1000"}});
  publish(e.get(), jobs, "x");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  const corq_delivery d = must_consume_one(c.get());
  advance(e.get(), 800);
  EXPECT_CORQ_OK(corq_extend(c.get(), d.tag, 1000));  // now expires at t=1800
  advance(e.get(), 900);                              // t=1700
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.in_flight, 1u) << "extended lease expired early: " << describe(s);
  advance(e.get(), 101);  // t=1801
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.in_flight, 0u) << describe(s);
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c.get(), d.tag));
}

TEST(Semantics, backoff_grows_by_retry_backoff_and_caps_at_retry_delay_max_ms) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs,
               {{"retry_delay_ms", "100"},
                {"retry_backoff", "3"},
                {"retry_delay_max_ms", "1000"},
                {"max_attempts", "0"}});
  publish(e.get(), jobs, "x");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  // 100 * 3^(n-1) after the n-th failure: 100, 300, 900, then capped at 1000.
  const std::int64_t expected_delays_ms[] = {100, 300, 900, 1000, 1000};
  std::uint32_t count = 1;
  corq_delivery d = must_consume_one(c.get());
  for (std::int64_t delay_ms : expected_delays_ms) {
    EXPECT_EQ(d.delivery_count, count);
    ASSERT_EQ(corq_nack(c.get(), d.tag, -1), CORQ_OK) << last_error();
    EXPECT_EQ(stats(e.get(), jobs).delayed, 1u);
    advance(e.get(), delay_ms - 1);
    EXPECT_FALSE(consume_one(c.get()).has_value())
        << "failure " << count << ": ready before " << delay_ms << " ms";
    advance(e.get(), 1);
    const std::optional<corq_delivery> next = consume_one(c.get());
    ASSERT_TRUE(next.has_value()) << "failure " << count << ": not ready after " << delay_ms
                                  << " ms: " << describe(stats(e.get(), jobs));
    d = *next;
    ++count;
  }
  EXPECT_EQ(d.delivery_count, count);
}

TEST(Semantics, consumer_close_releases_unsettled_deliveries) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_attempts", "1"}});
  for (const char *p : {"a", "b", "c"}) publish(e.get(), jobs, p);
  ConsumerPtr c1 = open_consumer(e.get(), jobs, 10);
  std::vector<corq_delivery> ds = consume(c1.get(), 10);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_CORQ_OK(corq_ack(c1.get(), ds[0].tag));
  EXPECT_EQ(stats(e.get(), jobs).consumers, 1u);
  EXPECT_CORQ_OK(corq_consumer_close(c1.release()));

  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 2u) << describe(s);
  EXPECT_EQ(s.in_flight, 0u) << describe(s);
  EXPECT_EQ(s.consumers, 0u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 0u) << "a close is not a failed attempt: " << describe(s);
  ConsumerPtr c2 = open_consumer(e.get(), jobs, 10);
  std::vector<corq_delivery> again = consume(c2.get(), 10);
  ASSERT_EQ(again.size(), 2u);
  std::set<std::string> texts;
  for (const corq_delivery &d : again) {
    texts.insert(payload(d));
    EXPECT_EQ(d.delivery_count, 2u);
  }
  EXPECT_EQ(texts, (std::set<std::string>{"b", "c"}));
}

TEST(Semantics, delivery_count_counts_every_delivery_including_released) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs,
               {{"lease_ms", "1000"}, {"retry_delay_ms", "100"}, {"max_attempts", "0"}});
  publish(e.get(), jobs, "x");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(d.delivery_count, 1u);
  EXPECT_CORQ_OK(corq_release(c.get(), d.tag));
  d = must_consume_one(c.get());
  EXPECT_EQ(d.delivery_count, 2u);
  EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 0));
  d = must_consume_one(c.get());
  EXPECT_EQ(d.delivery_count, 3u);
  advance(e.get(), 1001);  // lease expires: the second failure, backoff 200 ms
  advance(e.get(), 300);   // backoff over
  d = must_consume_one(c.get());
  EXPECT_EQ(d.delivery_count, 4u);
  EXPECT_CORQ_OK(corq_consumer_close(c.release()));  // releases it
  ConsumerPtr c2 = open_consumer(e.get(), jobs, 1);
  d = must_consume_one(c2.get());
  EXPECT_EQ(d.delivery_count, 5u);
  const corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.delivered, 5u) << describe(s);
  EXPECT_EQ(s.redelivered, 4u) << describe(s);
}

// ---- Backpressure -------------------------------------------------------------------------------

TEST(Semantics, overflow_reject_returns_efull) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_length", "2"}, {"overflow", "reject"}});
  publish(e.get(), jobs, "1");
  publish(e.get(), jobs, "2");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, "3"));
  EXPECT_LT(elapsed_ms(start), 500) << "reject must not wait (the default timeout is 30 s)";
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 2u) << describe(s);
  EXPECT_EQ(s.published, 2u) << describe(s);
  // A batch that does not fit is refused whole.
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  must_consume_one(c.get());  // one slot free now
  ProducerPtr p = open_producer(e.get(), jobs);
  const std::vector<corq_message> two = {message("a"), message("b")};
  EXPECT_CORQ_FAILS(CORQ_EFULL, corq_producer_send(p.get(), two.data(), 2, nullptr, nullptr));
  EXPECT_EQ(stats(e.get(), jobs).ready, 1u);
  EXPECT_CORQ_OK(corq_producer_send(p.get(), two.data(), 1, nullptr, nullptr));
  EXPECT_EQ(stats(e.get(), jobs).ready, 2u);
}

TEST(Semantics, overflow_block_waits_then_efull_and_wakes_when_space_frees) {
  EnginePtr e = open_engine();
  must_declare(e.get(), jobs, {{"max_length", "1"}, {"overflow", "block"}});
  publish(e.get(), jobs, "first");
  const corq_publish_options short_wait = publish_options(0, 0, /*timeout_ms=*/60);
  auto start = std::chrono::steady_clock::now();
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, "too many", &short_wait));
  const std::int64_t waited_ms = elapsed_ms(start);
  EXPECT_GE(waited_ms, 55) << "overflow=block must wait for its timeout";
  EXPECT_LT(waited_ms, 2000);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  EXPECT_EQ(s.published, 1u) << describe(s);

  // A waiting publisher is let in as soon as a ready slot frees (a consume takes it).
  std::atomic<int> blocked_rc{1};
  std::atomic<std::int64_t> blocked_ms{0};
  std::thread publisher([&] {
    const corq_publish_options long_wait = publish_options(0, 0, /*timeout_ms=*/10000);
    const auto t0 = std::chrono::steady_clock::now();
    blocked_rc = try_publish(e.get(), jobs, "second", &long_wait);
    blocked_ms = elapsed_ms(t0);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(blocked_rc.load(), 1) << "publish to a full block queue returned early";
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  EXPECT_EQ(payload(must_consume_one(c.get())), "first");
  publisher.join();
  EXPECT_EQ(blocked_rc.load(), CORQ_OK) << corq_strerror(blocked_rc.load());
  EXPECT_LT(blocked_ms.load(), 5000) << "the publisher was not woken when space freed";
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  EXPECT_EQ(s.published, 2u) << describe(s);
}

TEST(Semantics, overflow_drop_head_dead_letters_oldest_with_reason_maxlen) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_length", "2"}, {"overflow", "drop_head"}});
  publish(e.get(), jobs, "oldest");
  publish(e.get(), jobs, "middle");
  EXPECT_CORQ_OK(try_publish(e.get(), jobs, "newest"));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 2u) << describe(s);
  EXPECT_EQ(s.published, 3u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  ConsumerPtr c = open_consumer(e.get(), jobs, 10);
  EXPECT_EQ(payloads(consume(c.get(), 10)), (std::vector<std::string>{"middle", "newest"}));
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 10);
  std::vector<corq_delivery> dead = consume(dc.get(), 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(payload(dead[0]), "oldest");
  const TimeWindow w = around_now(e.get());
  expect_x_death(dead[0], "maxlen", jobs, 1, w.lo_ms, w.hi_ms);
}

TEST(Semantics, overflow_drop_head_applies_to_max_bytes_too) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_bytes", "100"}, {"overflow", "drop_head"}});
  publish(e.get(), jobs, std::string(60, 'a'));
  publish(e.get(), jobs, std::string(40, 'b'));
  EXPECT_CORQ_OK(try_publish(e.get(), jobs, std::string(30, 'c')));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_LE(s.bytes_ready, 100u) << describe(s);
  EXPECT_EQ(s.bytes_ready, 70u) << describe(s);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 4);
  const std::optional<corq_delivery> dead = consume_one(dc.get());
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->len, 60u);
  EXPECT_EQ(header_value(*dead, "x-death-reason"), "maxlen");
}

TEST(Semantics, max_bytes_is_enforced) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_bytes", "100"}, {"overflow", "reject"}});
  publish(e.get(), jobs, std::string(60, 'a'));
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, std::string(41, 'b')));
  publish(e.get(), jobs, std::string(40, 'c'));  // exactly 100 bytes ready
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_publish(e.get(), jobs, "d"));
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.bytes_ready, 100u) << describe(s);
  EXPECT_EQ(s.ready, 2u) << describe(s);
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  EXPECT_EQ(must_consume_one(c.get()).len, 60u);
  EXPECT_EQ(stats(e.get(), jobs).bytes_ready, 40u);
  publish(e.get(), jobs, std::string(60, 'e'));
}

// ---- TTL ----------------------------------------------------------------------------------------

TEST(Semantics, message_ttl_expired_is_dead_lettered_not_delivered) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"message_ttl_ms", "1000"}});
  publish(e.get(), jobs, "perishable", nullptr, {header("k", "v")});
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  advance(e.get(), 999);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  advance(e.get(), 2);  // older than its TTL now
  EXPECT_FALSE(consume_one(c.get()).has_value()) << "an expired message was delivered";
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.expired, 1u) << describe(s);
  EXPECT_EQ(s.delivered, 0u) << describe(s);
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 1);
  const std::optional<corq_delivery> dead = consume_one(dc.get());
  ASSERT_TRUE(dead.has_value()) << describe(stats(e.get(), jobs_dlq));
  EXPECT_EQ(payload(*dead), "perishable");
  EXPECT_EQ(header_value(*dead, "k"), "v");
  const TimeWindow w = around_now(e.get());
  expect_x_death(*dead, "expired", jobs, 1, w.lo_ms, w.hi_ms);
}

TEST(Semantics, per_message_ttl_overrides_queue_ttl) {
  // Observed through consume, which must never deliver an expired message, so this holds whether
  // the engine expires messages when its clock moves or when a consumer meets them.
  EnginePtr e = open_manual_engine();
  for (const char *q : {"shorter", "longer", "default"}) {
    must_declare(e.get(), q, {{"message_ttl_ms", "1000"}});
  }
  const corq_publish_options shorter = publish_options(0, /*ttl_ms=*/200);
  const corq_publish_options longer = publish_options(0, /*ttl_ms=*/5000);
  publish(e.get(), "shorter", "short", &shorter);
  publish(e.get(), "longer", "long", &longer);
  publish(e.get(), "default", "queue default");
  ConsumerPtr cs = open_consumer(e.get(), "shorter", 1);
  ConsumerPtr cl = open_consumer(e.get(), "longer", 1);
  ConsumerPtr cd = open_consumer(e.get(), "default", 1);

  advance(e.get(), 201);
  EXPECT_FALSE(consume_one(cs.get()).has_value()) << "a 200 ms TTL did not shorten the queue's";
  advance(e.get(), 800);  // t=1001
  EXPECT_FALSE(consume_one(cd.get()).has_value()) << "the queue's TTL did not apply";
  advance(e.get(), 3000);  // t=4001
  const std::optional<corq_delivery> d = consume_one(cl.get());
  ASSERT_TRUE(d.has_value()) << "a 5000 ms TTL did not lengthen the queue's";
  EXPECT_EQ(payload(*d), "long");

  for (const auto &[queue, text] :
       {std::pair{"shorter", "short"}, std::pair{"default", "queue default"}}) {
    const corq_queue_stats s = stats(e.get(), queue);
    EXPECT_EQ(s.expired, 1u) << queue << ": " << describe(s);
    ConsumerPtr dc = open_consumer(e.get(), std::string(queue) + ".dlq", 4);
    const std::optional<corq_delivery> dead = consume_one(dc.get());
    ASSERT_TRUE(dead.has_value()) << queue;
    EXPECT_EQ(payload(*dead), text);
    EXPECT_EQ(header_value(*dead, "x-death-reason"), "expired");
  }
}

TEST(Semantics, ttl_expiry_takes_effect_when_the_clock_moves_without_a_consumer) {
  // engine/testing.hpp: when advance_clock returns, "every delay, retry backoff, lease and TTL due
  // by the new time has taken effect" — an expired message is dead-lettered, not left counted as
  // ready until some consumer happens to meet it.
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"message_ttl_ms", "1000"}});
  const corq_publish_options brief = publish_options(0, /*ttl_ms=*/200);
  publish(e.get(), jobs, "brief", &brief);
  publish(e.get(), jobs, "queue default");
  advance(e.get(), 201);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.expired, 1u) << describe(s);
  EXPECT_EQ(s.ready, 1u) << describe(s);
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 1u);
  advance(e.get(), 800);  // t=1001
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.expired, 2u) << describe(s);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.bytes_ready, 0u) << describe(s);
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 2u);
}

TEST(Semantics, delayed_or_requeued_message_past_its_ttl_is_dead_lettered_not_delivered) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"message_ttl_ms", "1000"}, {"max_attempts", "0"}});
  // Delayed beyond its TTL: when the delay ends, the message is already too old.
  const corq_publish_options late = publish_options(/*delay_ms=*/2000);
  publish(e.get(), jobs, "delayed too long", &late);
  // Delivered in time, then nacked with a delay that outlives its TTL.
  publish(e.get(), jobs, "requeued too long");
  ConsumerPtr c = open_consumer(e.get(), jobs, 4);
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(payload(d), "requeued too long");
  EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 2000));
  advance(e.get(), 2001);
  EXPECT_FALSE(consume_one(c.get()).has_value()) << "a message past its TTL was delivered";
  const corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.expired, 2u) << describe(s);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed, 0u) << describe(s);
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 4);
  std::vector<corq_delivery> dead = consume(dc.get(), 4);
  ASSERT_EQ(dead.size(), 2u);
  for (const corq_delivery &x : dead) EXPECT_EQ(header_value(x, "x-death-reason"), "expired");
}

TEST(Semantics, dead_lettering_into_a_full_or_missing_dlq_is_counted_not_silent) {
  // Nothing leaves a queue silently: when the dead-letter queue cannot take a message, the message
  // is dropped and counted (and the counters still add up).
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "graveyard", {{"max_length", "1"}, {"overflow", "reject"}});
  must_declare(e.get(), jobs, {{"dead_letter_queue", "graveyard"}});
  for (const char *p : {"a", "b", "c"}) publish(e.get(), jobs, p);
  ConsumerPtr c = open_consumer(e.get(), jobs, 3);
  std::vector<corq_delivery> ds = consume(c.get(), 3);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[0].tag, nullptr));
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[1].tag, nullptr));  // the graveyard is full
  EXPECT_CORQ_OK(corq_queue_delete(e.get(), "graveyard"));
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[2].tag, nullptr));  // no graveyard at all
  const corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.dead_lettered, 1u) << describe(s);
  EXPECT_EQ(s.dropped, 2u) << describe(s);
  EXPECT_EQ(s.published, s.acked + s.dead_lettered + s.dropped) << describe(s);
}

// ---- Dedup --------------------------------------------------------------------------------------

TEST(Semantics, dedup_within_window_returns_original_id) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"dedup_window_ms", "1000"}});
  const std::uint64_t original = publish(e.get(), jobs, "first", nullptr, {}, "order-1");
  advance(e.get(), 999);
  std::uint64_t id = 0;
  EXPECT_CORQ_OK(try_publish(e.get(), jobs, "second", nullptr, &id, {}, "order-1"));
  EXPECT_EQ(id, original);
  const std::uint64_t other = publish(e.get(), jobs, "third", nullptr, {}, "order-2");
  EXPECT_GT(other, original);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.published, 2u) << describe(s);
  EXPECT_EQ(s.deduplicated, 1u) << describe(s);
  EXPECT_EQ(s.ready, 2u) << describe(s);

  // In a batch, a duplicate is accepted without effect and still uses an id.
  ProducerPtr p = open_producer(e.get(), jobs);
  const std::vector<corq_message> batch = {message("b1", {}, "order-3"),
                                           message("b2", {}, "order-3")};
  std::uint64_t first_id = 0;
  ASSERT_EQ(corq_producer_send(p.get(), batch.data(), 2, nullptr, &first_id), CORQ_OK)
      << last_error();
  EXPECT_GT(publish(e.get(), jobs, "after"), first_id + 1);
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.deduplicated, 2u) << describe(s);
  EXPECT_EQ(s.ready, 4u) << describe(s);
  ConsumerPtr c = open_consumer(e.get(), jobs, 10);
  EXPECT_EQ(payloads(consume(c.get(), 10)),
            (std::vector<std::string>{"first", "third", "b1", "after"}));
}

TEST(Semantics, dedup_after_window_publishes_anew) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"dedup_window_ms", "1000"}});
  const std::uint64_t original = publish(e.get(), jobs, "first", nullptr, {}, "order-1");
  advance(e.get(), 1001);
  const std::uint64_t again = publish(e.get(), jobs, "second", nullptr, {}, "order-1");
  EXPECT_GT(again, original);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.published, 2u) << describe(s);
  EXPECT_EQ(s.deduplicated, 0u) << describe(s);
  EXPECT_EQ(s.ready, 2u) << describe(s);
}

TEST(Semantics, dedup_ids_are_per_queue) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "a", {{"dedup_window_ms", "1000"}});
  must_declare(e.get(), "b", {{"dedup_window_ms", "1000"}});
  const std::uint64_t in_a = publish(e.get(), "a", "x", nullptr, {}, "same");
  const std::uint64_t in_b = publish(e.get(), "b", "x", nullptr, {}, "same");
  EXPECT_NE(in_a, in_b);
  EXPECT_EQ(stats(e.get(), "b").ready, 1u);
  EXPECT_EQ(stats(e.get(), "b").deduplicated, 0u);
}

TEST(Semantics, dedup_id_has_no_effect_without_a_window) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  const std::uint64_t a = publish(e.get(), jobs, "a", nullptr, {}, "same");
  const std::uint64_t b = publish(e.get(), jobs, "b", nullptr, {}, "same");
  EXPECT_NE(a, b);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 2u) << describe(s);
  EXPECT_EQ(s.deduplicated, 0u) << describe(s);
}

// ---- Delays -------------------------------------------------------------------------------------

TEST(Semantics, delayed_publish_becomes_ready_after_delay) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  const corq_publish_options later = publish_options(/*delay_ms=*/1000);
  const std::uint64_t id = publish(e.get(), jobs, "later", &later);
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.delayed, 1u) << describe(s);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.published, 1u) << describe(s);
  EXPECT_FALSE(consume_one(c.get()).has_value());
  advance(e.get(), 999);
  EXPECT_FALSE(consume_one(c.get()).has_value()) << "delivered before its delay";
  advance(e.get(), 1);
  const std::optional<corq_delivery> d = consume_one(c.get());
  ASSERT_TRUE(d.has_value()) << describe(stats(e.get(), jobs));
  EXPECT_EQ(d->message_id, id);
  EXPECT_EQ(d->delivery_count, 1u);
  EXPECT_EQ(payload(*d), "later");
  s = stats(e.get(), jobs);
  EXPECT_EQ(s.delayed, 0u) << describe(s);
}

// ---- Redrive ------------------------------------------------------------------------------------

TEST(Semantics, redrive_moves_back_to_origin) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"max_attempts", "2"}});
  publish(e.get(), jobs, "retry me", nullptr, {header("trace", "t-9")});
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  for (int i = 0; i < 2; ++i) EXPECT_CORQ_OK(corq_nack(c.get(), must_consume_one(c.get()).tag, 0));
  ASSERT_EQ(stats(e.get(), jobs_dlq).ready, 1u);

  std::uint64_t moved = 99;
  EXPECT_CORQ_OK(corq_redrive(e.get(), jobs_dlq, nullptr, 0, &moved));
  EXPECT_EQ(moved, 1u);
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 0u);
  EXPECT_EQ(stats(e.get(), jobs).ready, 1u);

  // Back with payload, headers and x-death-*; failed attempts start again from zero.
  corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(payload(d), "retry me");
  EXPECT_EQ(header_value(d, "trace"), "t-9");
  EXPECT_EQ(header_value(d, "x-death-queue"), jobs);
  EXPECT_EQ(header_value(d, "x-death-reason"), "max_attempts");
  EXPECT_CORQ_OK(corq_nack(c.get(), d.tag, 0));
  EXPECT_EQ(stats(e.get(), jobs).ready, 1u) << "one failure after redrive dead-lettered it again";
  // Dead-lettered a second time: x-death-count says 2.
  d = must_consume_one(c.get());
  EXPECT_CORQ_OK(corq_reject(c.get(), d.tag, nullptr));
  ConsumerPtr dc = open_consumer(e.get(), jobs_dlq, 1);
  const corq_delivery dead = must_consume_one(dc.get());
  const TimeWindow w = around_now(e.get());
  expect_x_death(dead, "rejected", jobs, 2, w.lo_ms, w.hi_ms);
  EXPECT_EQ(header_value(dead, "trace"), "t-9");
}

TEST(Semantics, redrive_to_named_queue) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs);
  must_declare(e.get(), "other");
  for (const char *p : {"a", "b", "c"}) publish(e.get(), jobs, p);
  ConsumerPtr c = open_consumer(e.get(), jobs, 3);
  for (const corq_delivery &d : consume(c.get(), 3))
    EXPECT_CORQ_OK(corq_reject(c.get(), d.tag, nullptr));
  ASSERT_EQ(stats(e.get(), jobs_dlq).ready, 3u);

  std::uint64_t moved = 0;
  EXPECT_CORQ_OK(corq_redrive(e.get(), jobs_dlq, "other", 2, &moved));
  EXPECT_EQ(moved, 2u);
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 1u);
  EXPECT_EQ(stats(e.get(), "other").ready, 2u);
  EXPECT_EQ(stats(e.get(), jobs).ready, 0u);
  ConsumerPtr oc = open_consumer(e.get(), "other", 4);
  std::vector<corq_delivery> got = consume(oc.get(), 4);
  ASSERT_EQ(got.size(), 2u);
  for (const corq_delivery &d : got) EXPECT_EQ(header_value(d, "x-death-queue"), jobs);

  // A missing target stops the redrive and leaves the message where it was.
  moved = 99;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_redrive(e.get(), jobs_dlq, "nowhere", 0, &moved));
  EXPECT_EQ(stats(e.get(), jobs_dlq).ready, 1u);
}

// ---- Observability ------------------------------------------------------------------------------

TEST(Semantics, stats_fields_agree_with_operations) {
  // Reading of the counters (corq.h does not define each one): published counts accepted messages
  // (not deduplicated ones); delivered counts every delivery and redelivered those with
  // delivery_count > 1; nacked/released count those calls; dead_lettered counts every message this
  // queue moved to its dead-letter queue, whatever the reason, and expired the TTL ones among them;
  // dropped counts those lost for want of a dead-letter queue.
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"dedup_window_ms", "100000"}, {"lease_ms", "100000"}});
  struct Expect {
    std::uint64_t ready, in_flight, delayed, consumers, bytes_ready;
    std::uint64_t published, delivered, acked, nacked, released, redelivered;
    std::uint64_t dead_lettered, expired, dropped, deduplicated;
    std::int64_t oldest_ready_age_ms;  // -1: not checked
  };
  auto check = [&](const char *step, const Expect &x) {
    const corq_queue_stats s = stats(e.get(), jobs);
    corq_queue_stats want{};
    want.ready = x.ready;
    want.in_flight = x.in_flight;
    want.delayed = x.delayed;
    want.consumers = x.consumers;
    want.bytes_ready = x.bytes_ready;
    want.published = x.published;
    want.delivered = x.delivered;
    want.acked = x.acked;
    want.nacked = x.nacked;
    want.released = x.released;
    want.redelivered = x.redelivered;
    want.dead_lettered = x.dead_lettered;
    want.expired = x.expired;
    want.dropped = x.dropped;
    want.deduplicated = x.deduplicated;
    want.oldest_ready_age_ms =
        x.oldest_ready_age_ms >= 0 ? x.oldest_ready_age_ms : s.oldest_ready_age_ms;
    EXPECT_EQ(describe(s), describe(want)) << "after: " << step;
    EXPECT_EQ(s.published,
              s.ready + s.in_flight + s.delayed + s.acked + s.dead_lettered + s.dropped)
        << "after: " << step << ": nothing may leave a queue silently";
  };

  check("declare", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  publish(e.get(), jobs, std::string(10, 'a'));
  publish(e.get(), jobs, std::string(20, 'b'));
  publish(e.get(), jobs, std::string(30, 'c'), nullptr, {}, "d-1");
  publish(e.get(), jobs, std::string(40, 'c'), nullptr, {}, "d-1");  // a duplicate
  check("3 publishes and a duplicate", {3, 0, 0, 0, 60, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  advance(e.get(), 250);
  check("250 ms", {3, 0, 0, 0, 60, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 250});

  ConsumerPtr c = open_consumer(e.get(), jobs, 10);
  check("consumer open", {3, 0, 0, 1, 60, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 250});
  std::vector<corq_delivery> ds = consume(c.get(), 10);
  ASSERT_EQ(ds.size(), 3u);
  check("3 deliveries", {0, 3, 0, 1, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  EXPECT_CORQ_OK(corq_ack(c.get(), ds[0].tag));
  check("ack", {0, 2, 0, 1, 0, 3, 3, 1, 0, 0, 0, 0, 0, 0, 1, 0});
  EXPECT_CORQ_OK(corq_release(c.get(), ds[1].tag));
  check("release", {1, 1, 0, 1, 20, 3, 3, 1, 0, 1, 0, 0, 0, 0, 1, -1});
  EXPECT_CORQ_OK(corq_nack(c.get(), ds[2].tag, 0));
  check("nack", {2, 0, 0, 1, 50, 3, 3, 1, 1, 1, 0, 0, 0, 0, 1, -1});
  ds = consume(c.get(), 10);
  ASSERT_EQ(ds.size(), 2u);
  check("2 redeliveries", {0, 2, 0, 1, 0, 3, 5, 1, 1, 1, 2, 0, 0, 0, 1, 0});
  EXPECT_CORQ_OK(corq_reject(c.get(), ds[1].tag, nullptr));
  check("reject", {0, 1, 0, 1, 0, 3, 5, 1, 1, 1, 2, 1, 0, 0, 1, 0});

  const corq_publish_options brief = publish_options(0, /*ttl_ms=*/100);
  publish(e.get(), jobs, std::string(7, 'x'), &brief);
  check("publish with ttl", {1, 1, 0, 1, 7, 4, 5, 1, 1, 1, 2, 1, 0, 0, 1, 0});
  advance(e.get(), 101);
  // A poll meets the expired message, so the counters below hold whether the engine expires
  // messages as the clock moves or when a consumer meets them (the former is checked elsewhere).
  EXPECT_EQ(consume(c.get(), 10).size(), 0u) << "an expired message was delivered";
  check("ttl passed", {0, 1, 0, 1, 0, 4, 5, 1, 1, 1, 2, 2, 1, 0, 1, 0});

  const corq_publish_options later = publish_options(/*delay_ms=*/1000);
  publish(e.get(), jobs, std::string(5, 'y'), &later);
  check("delayed publish", {0, 1, 1, 1, 0, 5, 5, 1, 1, 1, 2, 2, 1, 0, 1, 0});
  EXPECT_CORQ_OK(corq_ack(c.get(), ds[0].tag));
  check("second ack", {0, 0, 1, 1, 0, 5, 5, 2, 1, 1, 2, 2, 1, 0, 1, 0});
  EXPECT_CORQ_OK(corq_consumer_close(c.release()));
  check("consumer close", {0, 0, 1, 0, 0, 5, 5, 2, 1, 1, 2, 2, 1, 0, 1, 0});
  advance(e.get(), 1000);
  check("delay over", {1, 0, 0, 0, 5, 5, 5, 2, 1, 1, 2, 2, 1, 0, 1, -1});
  std::uint64_t purged = 0;
  EXPECT_CORQ_OK(corq_queue_purge(e.get(), jobs, &purged));
  EXPECT_EQ(purged, 1u);
  corq_queue_stats s = stats(e.get(), jobs);
  EXPECT_EQ(s.ready, 0u) << describe(s);
  EXPECT_EQ(s.bytes_ready, 0u) << describe(s);
  EXPECT_EQ(s.oldest_ready_age_ms, 0) << describe(s);
}

TEST(Semantics, stats_json_is_valid_json_mentioning_each_queue) {
  EnginePtr e = open_manual_engine();
  const std::vector<std::string> names = {"alpha", "beta.v2", "gamma:x-1_Z"};
  for (const std::string &n : names) must_declare(e.get(), n);
  publish(e.get(), "alpha", "x");
  char *json = nullptr;
  ASSERT_EQ(corq_stats_json(e.get(), &json), CORQ_OK) << last_error();
  ASSERT_NE(json, nullptr);
  const std::string text(json);
  corq_free(json);
  EXPECT_TRUE(is_valid_json(text)) << text;
  for (const std::string &n : names) {
    EXPECT_NE(text.find("\"" + n + "\""), std::string::npos) << n << " missing from " << text;
    EXPECT_NE(text.find("\"" + n + ".dlq\""), std::string::npos)
        << n << ".dlq missing from " << text;
  }
  // An engine without queues still gives valid JSON.
  EnginePtr empty = open_manual_engine();
  ASSERT_EQ(corq_stats_json(empty.get(), &json), CORQ_OK) << last_error();
  EXPECT_TRUE(is_valid_json(json)) << json;
  corq_free(json);
}

struct LogSink {
  std::atomic<int> calls{0};
  std::atomic<int> bad_calls{0};
};
void record_log(void *user, int level, const char *message) {
  auto *sink = static_cast<LogSink *>(user);
  sink->calls++;
  if (level < CORQ_LOG_ERROR || level > CORQ_LOG_DEBUG || message == nullptr ||
      message[0] == '\0') {
    sink->bad_calls++;
  }
}

TEST(Semantics, log_callback_receives_messages) {
  // Dropping a message (dead_letter_queue "") is logged; lines are well formed, and none arrive
  // after the callback is removed.
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), jobs, {{"dead_letter_queue", ""}});
  LogSink sink;
  EXPECT_CORQ_OK(corq_set_log_callback(e.get(), record_log, &sink));
  publish(e.get(), jobs, "dropped");
  ConsumerPtr c = open_consumer(e.get(), jobs, 1);
  EXPECT_CORQ_OK(corq_reject(c.get(), must_consume_one(c.get()).tag, "poison"));
  EXPECT_GT(sink.calls.load(), 0) << "dropping a message was not logged";
  EXPECT_EQ(sink.bad_calls.load(), 0);
  EXPECT_CORQ_OK(corq_set_log_callback(e.get(), nullptr, nullptr));
  const int calls = sink.calls.load();
  publish(e.get(), jobs, "dropped too");
  EXPECT_CORQ_OK(corq_reject(c.get(), must_consume_one(c.get()).tag, "poison"));
  EXPECT_CORQ_OK(corq_queue_delete(e.get(), jobs));
  EXPECT_EQ(sink.calls.load(), calls) << "the callback was called after it was removed";
}

}  // namespace
