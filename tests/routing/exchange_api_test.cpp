// tests/routing/exchange_api_test.cpp — DESIGN.md §6 through the C API, one test per rule:
// exchange types, one copy per queue, exchange-to-exchange bindings and cycles, unroutable handling
// in all three forms, internal and default exchanges, the routing headers, shared bodies settled
// per queue, atomicity under overflow, dedup per target, topology changes, stats, and bad input.
#include "routing/exchange_helpers.hpp"

#include <thread>

namespace {

using namespace corq::test;
using namespace std::chrono_literals;

class Exchanges : public ::testing::Test {
 protected:
  EnginePtr engine = open_engine();
  corq_engine *e() { return engine.get(); }
  void queues(std::initializer_list<const char *> names) {
    for (const char *n : names) must_declare(e(), n);
  }
};

// ---- types
// ----------------------------------------------------------------------------------------

TEST_F(Exchanges, direct_exchange_routes_to_queues_bound_with_an_equal_key) {
  queues({"a", "b", "c"});
  must_declare_exchange(e(), "x", "direct");
  must_bind(e(), "x", "a", "red");
  must_bind(e(), "x", "b", "red");
  must_bind(e(), "x", "c", "blue");
  EXPECT_EQ(xpublish(e(), "x", "red", "r"), 2u);
  EXPECT_EQ(xpublish(e(), "x", "blue", "b"), 1u);
  EXPECT_EQ(xpublish(e(), "x", "re", "none"), 0u);
  EXPECT_EQ(xpublish(e(), "x", "*", "star is literal in direct"), 0u);
  EXPECT_EQ(drained(e(), "a"), std::multiset<std::string>{"r"});
  EXPECT_EQ(drained(e(), "b"), std::multiset<std::string>{"r"});
  EXPECT_EQ(drained(e(), "c"), std::multiset<std::string>{"b"});
}

TEST_F(Exchanges, fanout_exchange_routes_to_every_bound_queue_whatever_the_key) {
  queues({"a", "b"});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "a", "ignored");
  must_bind(e(), "x", "b", nullptr);
  EXPECT_EQ(xpublish(e(), "x", "anything.at.all", "m"), 2u);
  EXPECT_EQ(drained(e(), "a").size(), 1u);
  EXPECT_EQ(drained(e(), "b").size(), 1u);
}

TEST_F(Exchanges, topic_exchange_routes_by_pattern_with_star_and_hash) {
  queues({"orders", "errors", "all"});
  must_declare_exchange(e(), "events", "topic");
  must_bind(e(), "events", "orders", "order.*");
  must_bind(e(), "events", "errors", "*.*.error");
  must_bind(e(), "events", "all", "#");
  EXPECT_EQ(xpublish(e(), "events", "order.placed", "1"), 2u);
  EXPECT_EQ(xpublish(e(), "events", "order.placed.error", "2"), 2u);
  EXPECT_EQ(xpublish(e(), "events", "", "3"), 1u);  // "" is zero words: only '#'
  EXPECT_EQ(drained(e(), "orders"), std::multiset<std::string>{"1"});
  EXPECT_EQ(drained(e(), "errors"), std::multiset<std::string>{"2"});
  EXPECT_EQ(drained(e(), "all"), (std::multiset<std::string>{"1", "2", "3"}));
}

TEST_F(Exchanges, headers_exchange_matches_all_by_default_and_any_on_request) {
  queues({"all", "any"});
  must_declare_exchange(e(), "h", "headers");
  must_bind(e(), "h", "all", nullptr, {header("format", "pdf"), header("type", "report")});
  must_bind(e(), "h", "any", nullptr,
            {header("x-match", "any"), header("format", "pdf"), header("type", "report")});
  EXPECT_EQ(xpublish(e(), "h", "", "both", {header("format", "pdf"), header("type", "report")}),
            2u);
  EXPECT_EQ(xpublish(e(), "h", "", "one", {header("format", "pdf")}), 1u);
  EXPECT_EQ(xpublish(e(), "h", "", "none", {header("format", "zip")}), 0u);
  EXPECT_EQ(drained(e(), "all"), std::multiset<std::string>{"both"});
  EXPECT_EQ(drained(e(), "any"), (std::multiset<std::string>{"both", "one"}));
}

TEST_F(Exchanges, headers_binding_with_a_null_value_matches_on_presence_alone) {
  queues({"q"});
  must_declare_exchange(e(), "h", "headers");
  must_bind(e(), "h", "q", nullptr, {present("trace")});
  EXPECT_EQ(xpublish(e(), "h", "", "with", {header("trace", "abc")}), 1u);
  EXPECT_EQ(xpublish(e(), "h", "", "empty value", {header("trace", "")}), 1u);
  EXPECT_EQ(xpublish(e(), "h", "", "without"), 0u);
}

TEST_F(Exchanges, routing_headers_are_added_after_matching) {
  queues({"q"});
  must_declare_exchange(e(), "h", "headers");
  // x-exchange is not a header of the published message, so this binding never matches.
  must_bind(e(), "h", "q", nullptr, {header("x-match", "all-with-x"), header("x-exchange", "h")});
  EXPECT_EQ(xpublish(e(), "h", "", "m"), 0u);
}

// ---- one copy per queue, exchange-to-exchange ---------------------------------------------------

TEST_F(Exchanges, a_queue_gets_one_copy_however_many_of_its_bindings_match) {
  queues({"q"});
  must_declare_exchange(e(), "t", "topic");
  must_bind(e(), "t", "q", "a.*");
  must_bind(e(), "t", "q", "*.b");
  must_bind(e(), "t", "q", "#");
  EXPECT_EQ(xpublish(e(), "t", "a.b", "once"), 1u);
  EXPECT_EQ(drained(e(), "q"), std::multiset<std::string>{"once"});
}

TEST_F(Exchanges, exchange_to_exchange_binding_forwards_matching_messages) {
  queues({"audit", "orders"});
  must_declare_exchange(e(), "front", "topic");
  must_declare_exchange(e(), "audit-x", "fanout");
  must(corq_exchange_bind(e(), "front", "audit-x", "order.#", nullptr, 0), "exchange_bind");
  must_bind(e(), "audit-x", "audit", "");
  must_bind(e(), "front", "orders", "order.placed");
  EXPECT_EQ(xpublish(e(), "front", "order.placed", "m"), 2u);
  EXPECT_EQ(xpublish(e(), "front", "user.created", "n"), 0u);
  EXPECT_EQ(drained(e(), "audit"), std::multiset<std::string>{"m"});
  EXPECT_EQ(exchange_stats(e(), "audit-x").published, 1u);
}

TEST_F(Exchanges, exchange_binding_cycles_deliver_each_queue_one_copy) {
  queues({"qa", "qb"});
  must_declare_exchange(e(), "a", "fanout");
  must_declare_exchange(e(), "b", "fanout");
  must(corq_exchange_bind(e(), "a", "b", "", nullptr, 0), "a->b");
  must(corq_exchange_bind(e(), "b", "a", "", nullptr, 0), "b->a");
  must(corq_exchange_bind(e(), "a", "a", "", nullptr, 0), "a->a");
  must_bind(e(), "a", "qa", "");
  must_bind(e(), "b", "qb", "");
  must_bind(e(), "b", "qa", "");
  EXPECT_EQ(xpublish(e(), "a", "", "m"), 2u);
  EXPECT_EQ(drained(e(), "qa").size(), 1u);
  EXPECT_EQ(drained(e(), "qb").size(), 1u);
}

// ---- unroutable ---------------------------------------------------------------------------------

TEST_F(Exchanges, unroutable_message_without_mandatory_is_dropped_and_counted) {
  must_declare_exchange(e(), "x", "direct");
  std::uint32_t routed = 99;
  std::uint64_t id = 0;
  EXPECT_CORQ_OK(try_xpublish(e(), "x", "k", "m", &routed, nullptr, {}, nullptr, &id));
  EXPECT_EQ(routed, 0u);
  EXPECT_NE(id, 0u);
  const corq_exchange_stats s = exchange_stats(e(), "x");
  EXPECT_EQ(s.published, 1u);
  EXPECT_EQ(s.unroutable, 1u);
  EXPECT_EQ(s.routed, 0u);
}

TEST_F(Exchanges, unroutable_message_with_mandatory_fails_and_stores_nothing) {
  queues({"q"});
  must_declare_exchange(e(), "x", "direct");
  must_bind(e(), "x", "q", "other");
  corq_publish_options o = publish_options();
  o.flags = CORQ_PUBLISH_MANDATORY;
  EXPECT_CORQ_FAILS(CORQ_EUNROUTABLE, try_xpublish(e(), "x", "k", "m", nullptr, &o));
  EXPECT_EQ(stats(e(), "q").ready, 0u);
  EXPECT_EQ(exchange_stats(e(), "x").unroutable, 1u);
}

TEST_F(Exchanges, alternate_exchange_takes_what_the_exchange_cannot_route) {
  queues({"q", "lost"});
  must_declare_exchange(e(), "alt", "fanout");
  must_declare_exchange(e(), "x", "direct", {{"alternate_exchange", "alt"}});
  must_bind(e(), "x", "q", "k");
  must_bind(e(), "alt", "lost", "");
  EXPECT_EQ(xpublish(e(), "x", "k", "routed"), 1u);
  EXPECT_EQ(xpublish(e(), "x", "nope", "alternated"), 1u);  // routed counts the alternate's queues
  EXPECT_EQ(drained(e(), "lost"), std::multiset<std::string>{"alternated"});
  const corq_exchange_stats s = exchange_stats(e(), "x");
  EXPECT_EQ(s.alternated, 1u);
  EXPECT_EQ(s.unroutable, 0u);
}

TEST_F(Exchanges, alternate_exchange_declared_later_applies_once_it_exists) {
  queues({"lost"});
  must_declare_exchange(e(), "x", "direct", {{"alternate_exchange", "alt"}});
  EXPECT_EQ(xpublish(e(), "x", "k", "before"), 0u);
  EXPECT_EQ(exchange_stats(e(), "x").unroutable, 1u);
  must_declare_exchange(e(), "alt", "fanout");
  must_bind(e(), "alt", "lost", "");
  EXPECT_EQ(xpublish(e(), "x", "k", "after"), 1u);
  EXPECT_EQ(drained(e(), "lost"), std::multiset<std::string>{"after"});
}

TEST_F(Exchanges, mandatory_fails_when_the_alternate_routes_nowhere_either) {
  must_declare_exchange(e(), "alt", "fanout");
  must_declare_exchange(e(), "x", "direct", {{"alternate_exchange", "alt"}});
  corq_publish_options o = publish_options();
  o.flags = CORQ_PUBLISH_MANDATORY;
  EXPECT_CORQ_FAILS(CORQ_EUNROUTABLE, try_xpublish(e(), "x", "k", "m", nullptr, &o));
}

// ---- internal and default exchanges
// ---------------------------------------------------------------

TEST_F(Exchanges, internal_exchange_refuses_direct_publishes_but_takes_from_exchanges) {
  queues({"q"});
  must_declare_exchange(e(), "inner", "fanout", {{"internal", "true"}});
  must_declare_exchange(e(), "outer", "fanout");
  must(corq_exchange_bind(e(), "outer", "inner", "", nullptr, 0), "exchange_bind");
  must_bind(e(), "inner", "q", "");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_xpublish(e(), "inner", "", "m"));
  EXPECT_EQ(xpublish(e(), "outer", "", "m"), 1u);
}

TEST_F(Exchanges, default_exchange_routes_to_the_queue_named_by_the_key) {
  queues({"q"});
  std::uint32_t routed = 0;
  EXPECT_CORQ_OK(try_xpublish(e(), "", "q", "m", &routed));
  EXPECT_EQ(routed, 1u);
  const corq_delivery d = must_consume_one(open_consumer(e(), "q").get());
  EXPECT_EQ(header_count_of(d, "x-exchange"), 0u);  // corq_publish-like: no routing headers
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_xpublish(e(), "", "missing", "m"));
  corq_publish_options o = publish_options();
  o.flags = CORQ_PUBLISH_MANDATORY;
  EXPECT_CORQ_FAILS(CORQ_EUNROUTABLE, try_xpublish(e(), "", "missing", "m", nullptr, &o));
}

TEST_F(Exchanges, the_default_exchange_cannot_be_declared_deleted_or_bound) {
  queues({"q"});
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "", "direct", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_delete(e(), ""));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_bind(e(), "", "q", "q", nullptr, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_unbind(e(), "", "q", "q", nullptr, 0));
}

TEST_F(Exchanges, exchange_names_starting_with_corq_dot_are_reserved) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "corq.mine", "direct", nullptr));
  EXPECT_NE(std::string(corq_last_error()).find("reserved"), std::string::npos)
      << corq_last_error();
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "corq.", "topic", nullptr));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_exchange_delete(e(), "corq.mine"));  // nothing was made
  // Only the exact prefix: these are ordinary names.
  EXPECT_EQ(corq_exchange_declare(e(), "corq", "direct", nullptr), CORQ_OK);
  EXPECT_EQ(corq_exchange_declare(e(), "corq-events", "fanout", nullptr), CORQ_OK);
  EXPECT_EQ(corq_exchange_declare(e(), "my.corq.x", "topic", nullptr), CORQ_OK);
}

TEST_F(Exchanges, messages_through_a_declared_exchange_carry_x_exchange_and_x_routing_key) {
  queues({"q"});
  must_declare_exchange(e(), "x", "topic");
  must_bind(e(), "x", "q", "#");
  xpublish(e(), "x", "a.b", "m", {header("own", "1")});
  ConsumerPtr c = open_consumer(e(), "q");
  const corq_delivery d = must_consume_one(c.get());
  EXPECT_EQ(header_value(d, "x-exchange"), "x");
  EXPECT_EQ(header_value(d, "x-routing-key"), "a.b");
  EXPECT_EQ(header_value(d, "own"), "1");
}

// ---- shared bodies
// --------------------------------------------------------------------------------

TEST_F(Exchanges, fanout_copies_share_one_message_id_and_are_settled_per_queue) {
  must_declare(e(), "a");
  must_declare(e(), "b", {{"max_attempts", "1"}});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "a", "");
  must_bind(e(), "x", "b", "");
  std::uint64_t id = 0;
  std::uint32_t routed = 0;
  const std::string body(300, 'p');  // bigger than a small block: a shared body for real
  EXPECT_CORQ_OK(try_xpublish(e(), "x", "", body, &routed, nullptr, {}, nullptr, &id));
  EXPECT_EQ(routed, 2u);
  ConsumerPtr ca = open_consumer(e(), "a");
  ConsumerPtr cb = open_consumer(e(), "b");
  const corq_delivery da = must_consume_one(ca.get());
  const corq_delivery db = must_consume_one(cb.get());
  EXPECT_EQ(da.message_id, id);
  EXPECT_EQ(db.message_id, id);
  EXPECT_CORQ_OK(corq_ack(ca.get(), da.tag));  // a's copy gone: b's must still read whole
  EXPECT_EQ(payload(db), body);
  EXPECT_CORQ_OK(corq_reject(cb.get(), db.tag, "bad"));  // b dead-letters its copy
  ConsumerPtr cd = open_consumer(e(), "b.dlq");
  const corq_delivery dl = must_consume_one(cd.get());
  EXPECT_EQ(payload(dl), body);
  EXPECT_EQ(dl.message_id, id);
  EXPECT_EQ(header_value(dl, "x-exchange"), "x");
  EXPECT_EQ(stats(e(), "a").acked, 1u);
  EXPECT_EQ(stats(e(), "b").dead_lettered, 1u);
}

TEST_F(Exchanges, each_copy_expires_by_its_own_queues_ttl) {
  EnginePtr manual = open_manual_engine();
  corq_engine *m = manual.get();
  must_declare(m, "short", {{"message_ttl_ms", "100"}, {"dead_letter_queue", ""}});
  must_declare(m, "long");
  must_declare_exchange(m, "x", "fanout");
  must_bind(m, "x", "short", "");
  must_bind(m, "x", "long", "");
  EXPECT_EQ(xpublish(m, "x", "", "m"), 2u);
  advance(m, 200);
  EXPECT_EQ(stats(m, "short").ready, 0u);
  EXPECT_EQ(stats(m, "short").expired, 1u);
  EXPECT_EQ(drained(m, "long"), std::multiset<std::string>{"m"});
}

TEST_F(Exchanges, delayed_fanout_publish_reaches_every_queue_when_due) {
  EnginePtr manual = open_manual_engine();
  corq_engine *m = manual.get();
  must_declare(m, "a");
  must_declare(m, "b");
  must_declare_exchange(m, "x", "fanout");
  must_bind(m, "x", "a", "");
  must_bind(m, "x", "b", "");
  const corq_publish_options o = publish_options(/*delay_ms=*/500);
  std::uint32_t routed = 0;
  EXPECT_CORQ_OK(try_xpublish(m, "x", "", "later", &routed, &o));
  EXPECT_EQ(routed, 2u);
  EXPECT_EQ(stats(m, "a").delayed, 1u);
  advance(m, 600);
  EXPECT_EQ(drained(m, "a"), std::multiset<std::string>{"later"});
  EXPECT_EQ(drained(m, "b"), std::multiset<std::string>{"later"});
}

// ---- atomicity ----------------------------------------------------------------------------------

TEST_F(Exchanges, a_full_reject_target_fails_the_whole_publish_and_stores_nothing) {
  must_declare(e(), "roomy");
  must_declare(e(), "tight", {{"max_length", "1"}, {"overflow", "reject"}});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "roomy", "");
  must_bind(e(), "x", "tight", "");
  EXPECT_EQ(xpublish(e(), "x", "", "first"), 2u);
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_xpublish(e(), "x", "", "second"));
  EXPECT_EQ(stats(e(), "roomy").ready, 1u);
  EXPECT_EQ(stats(e(), "roomy").published, 1u);
  EXPECT_EQ(stats(e(), "tight").ready, 1u);
}

TEST_F(Exchanges, a_block_target_that_times_out_fails_the_whole_publish) {
  must_declare(e(), "roomy");
  must_declare(e(), "tight", {{"max_length", "1"}});  // overflow=block (the default)
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "roomy", "");
  must_bind(e(), "x", "tight", "");
  EXPECT_EQ(xpublish(e(), "x", "", "first"), 2u);
  const corq_publish_options o = publish_options(0, 0, /*timeout_ms=*/50);
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_xpublish(e(), "x", "", "second", nullptr, &o));
  EXPECT_EQ(stats(e(), "roomy").ready, 1u);
}

TEST_F(Exchanges, a_block_target_that_gets_room_in_time_lets_the_publish_through) {
  must_declare(e(), "roomy");
  must_declare(e(), "tight", {{"max_length", "1"}});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "roomy", "");
  must_bind(e(), "x", "tight", "");
  EXPECT_EQ(xpublish(e(), "x", "", "first"), 2u);
  std::thread freer([&] {
    std::this_thread::sleep_for(50ms);
    drain_acking(e(), "tight");
  });
  const corq_publish_options o = publish_options(0, 0, /*timeout_ms=*/10000);
  std::uint32_t routed = 0;
  EXPECT_CORQ_OK(try_xpublish(e(), "x", "", "second", &routed, &o));
  freer.join();
  EXPECT_EQ(routed, 2u);
  EXPECT_EQ(stats(e(), "roomy").ready, 2u);
}

TEST_F(Exchanges, a_refused_publish_drops_nothing_from_a_drop_head_target) {
  must_declare(e(), "dropper", {{"max_length", "1"}, {"overflow", "drop_head"}});
  must_declare(e(), "tight", {{"max_length", "1"}, {"overflow", "reject"}});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "dropper", "");
  must_bind(e(), "x", "tight", "");
  EXPECT_EQ(xpublish(e(), "x", "", "first"), 2u);
  EXPECT_CORQ_FAILS(CORQ_EFULL, try_xpublish(e(), "x", "", "second"));
  EXPECT_EQ(drained(e(), "dropper"), std::multiset<std::string>{"first"});
  EXPECT_EQ(stats(e(), "dropper").dropped + stats(e(), "dropper").dead_lettered, 0u);
}

TEST_F(Exchanges, a_drop_head_target_drops_its_oldest_when_the_publish_goes_through) {
  must_declare(e(), "dropper", {{"max_length", "1"}, {"overflow", "drop_head"}});
  must_declare(e(), "roomy");
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "dropper", "");
  must_bind(e(), "x", "roomy", "");
  EXPECT_EQ(xpublish(e(), "x", "", "first"), 2u);
  EXPECT_EQ(xpublish(e(), "x", "", "second"), 2u);
  EXPECT_EQ(drained(e(), "dropper"), std::multiset<std::string>{"second"});
  EXPECT_EQ(drained(e(), "roomy"), (std::multiset<std::string>{"first", "second"}));
}

TEST_F(Exchanges, a_dedup_id_is_checked_per_target_queue) {
  must_declare(e(), "windowed", {{"dedup_window_ms", "60000"}});
  must_declare(e(), "plain");
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "windowed", "");
  must_bind(e(), "x", "plain", "");
  std::uint32_t routed = 0;
  EXPECT_CORQ_OK(try_xpublish(e(), "x", "", "m", &routed, nullptr, {}, "id-1"));
  EXPECT_EQ(routed, 2u);
  EXPECT_CORQ_OK(try_xpublish(e(), "x", "", "m", &routed, nullptr, {}, "id-1"));
  EXPECT_EQ(routed, 1u);  // the windowed queue skipped it; the plain one has no window
  EXPECT_EQ(stats(e(), "windowed").ready, 1u);
  EXPECT_EQ(stats(e(), "windowed").deduplicated, 1u);
  EXPECT_EQ(stats(e(), "plain").ready, 2u);
  EXPECT_EQ(exchange_stats(e(), "x").routed, 3u);
}

// ---- topology changes
// -----------------------------------------------------------------------------

TEST_F(Exchanges, binding_the_same_tuple_twice_is_a_no_op) {
  queues({"q"});
  must_declare_exchange(e(), "h", "headers");
  must_bind(e(), "h", "q", "k", {header("a", "1"), header("b", "2")});
  must_bind(e(), "h", "q", "k", {header("b", "2"), header("a", "1")});  // other order: same
  EXPECT_EQ(exchange_stats(e(), "h").bindings, 1u);
  must_bind(e(), "h", "q", "other-key", {header("a", "1"), header("b", "2")});
  EXPECT_EQ(exchange_stats(e(), "h").bindings, 2u);
}

TEST_F(Exchanges, unbind_removes_exactly_that_binding) {
  queues({"q"});
  must_declare_exchange(e(), "x", "topic");
  must_bind(e(), "x", "q", "a.*");
  must_bind(e(), "x", "q", "b.*");
  EXPECT_CORQ_OK(corq_unbind(e(), "x", "q", "a.*", nullptr, 0));
  EXPECT_EQ(xpublish(e(), "x", "a.1", "m"), 0u);
  EXPECT_EQ(xpublish(e(), "x", "b.1", "m"), 1u);
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_unbind(e(), "x", "q", "a.*", nullptr, 0));
}

TEST_F(Exchanges, bindings_differing_only_in_arguments_route_until_the_last_is_unbound) {
  // Arguments are part of a binding's identity, but direct, topic and fanout exchanges route by
  // destination and key: the route stays while any of the bindings does (as in RabbitMQ).
  queues({"q"});
  const std::pair<const char *, const char *> cases[] = {
      {"direct", "k"}, {"topic", "k.*"}, {"fanout", ""}};
  for (const auto &[type, key] : cases) {
    const std::string x = std::string("x-") + type;
    must_declare_exchange(e(), x, type);
    const std::vector<corq_header> a{header("a", "1")}, b{header("b", "2")};
    must_bind(e(), x, "q", key, a);
    must_bind(e(), x, "q", key, b);
    EXPECT_EQ(exchange_stats(e(), x).bindings, 2u) << type;
    EXPECT_EQ(xpublish(e(), x, "k.1", "m"), type == std::string("direct") ? 0u : 1u) << type;
    EXPECT_EQ(xpublish(e(), x, "k", "m"), type == std::string("topic") ? 0u : 1u) << type;
    EXPECT_CORQ_OK(corq_unbind(e(), x.c_str(), "q", key, a.data(), a.size()));
    EXPECT_EQ(exchange_stats(e(), x).bindings, 1u) << type;
    const char *routed_key = type == std::string("topic") ? "k.1" : "k";
    EXPECT_EQ(xpublish(e(), x, routed_key, "m"), 1u) << type << ": the other binding still routes";
    EXPECT_CORQ_OK(corq_unbind(e(), x.c_str(), "q", key, b.data(), b.size()));
    EXPECT_EQ(xpublish(e(), x, routed_key, "m"), 0u) << type;
  }
}

TEST_F(Exchanges, a_direct_exchange_matches_the_whole_key_literally) {
  queues({"q", "r"});
  must_declare_exchange(e(), "d", "direct");
  must_bind(e(), "d", "q", "a.*");
  must_bind(e(), "d", "r", "a.b");
  must_bind(e(), "d", "r", "");
  EXPECT_EQ(xpublish(e(), "d", "a.*", "m"), 1u);  // '*' is an ordinary character here
  EXPECT_EQ(xpublish(e(), "d", "a.x", "m"), 0u);
  EXPECT_EQ(xpublish(e(), "d", "a.b", "m"), 1u);
  EXPECT_EQ(xpublish(e(), "d", "", "m"), 1u);  // the empty key is a key
  EXPECT_EQ(xpublish(e(), "d", "a.b.", "m"), 0u);
  EXPECT_EQ(drained(e(), "q").size(), 1u);
  EXPECT_EQ(drained(e(), "r").size(), 2u);
}

TEST_F(Exchanges, deleting_a_queue_removes_its_bindings) {
  queues({"q", "r"});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "q", "");
  must_bind(e(), "x", "r", "");
  must(corq_queue_delete(e(), "q"), "delete q");
  EXPECT_EQ(exchange_stats(e(), "x").bindings, 1u);
  EXPECT_EQ(xpublish(e(), "x", "", "m"), 1u);
  must_declare(e(), "q");  // a new queue of the same name is not bound
  EXPECT_EQ(xpublish(e(), "x", "", "m"), 1u);
}

TEST_F(Exchanges, deleting_an_exchange_removes_bindings_from_and_to_it) {
  queues({"q"});
  must_declare_exchange(e(), "src", "fanout");
  must_declare_exchange(e(), "mid", "fanout");
  must(corq_exchange_bind(e(), "src", "mid", "", nullptr, 0), "src->mid");
  must_bind(e(), "mid", "q", "");
  EXPECT_EQ(xpublish(e(), "src", "", "m"), 1u);
  EXPECT_CORQ_OK(corq_exchange_delete(e(), "mid"));
  EXPECT_EQ(exchange_stats(e(), "src").bindings, 0u);
  EXPECT_EQ(xpublish(e(), "src", "", "m"), 0u);
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_exchange_delete(e(), "mid"));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_xpublish(e(), "mid", "", "m"));
}

TEST_F(Exchanges, redeclaring_with_the_same_type_succeeds_and_with_another_is_eexist) {
  EXPECT_CORQ_OK(declare_exchange(e(), "x", "topic"));
  EXPECT_CORQ_OK(declare_exchange(e(), "x", "topic"));
  EXPECT_CORQ_FAILS(CORQ_EEXIST, declare_exchange(e(), "x", "direct"));
  EXPECT_CORQ_FAILS(CORQ_EEXIST, declare_exchange(e(), "x", "topic", {{"internal", "true"}}));
}

TEST_F(Exchanges, exchanges_and_queues_have_separate_namespaces) {
  must_declare(e(), "same");
  must_declare_exchange(e(), "same", "fanout");
  must_bind(e(), "same", "same", "");
  EXPECT_EQ(xpublish(e(), "same", "", "m"), 1u);
}

// ---- stats --------------------------------------------------------------------------------------

TEST_F(Exchanges, stats_count_bindings_publishes_copies_and_unroutables) {
  queues({"a", "b"});
  must_declare_exchange(e(), "x", "direct");
  must_bind(e(), "x", "a", "k");
  must_bind(e(), "x", "b", "k");
  xpublish(e(), "x", "k", "1");
  xpublish(e(), "x", "k", "2");
  xpublish(e(), "x", "nope", "3");
  const corq_exchange_stats s = exchange_stats(e(), "x");
  EXPECT_EQ(s.bindings, 2u);
  EXPECT_EQ(s.published, 3u);
  EXPECT_EQ(s.routed, 4u);
  EXPECT_EQ(s.unroutable, 1u);
  EXPECT_EQ(s.alternated, 0u);
}

TEST_F(Exchanges, stats_json_lists_exchanges_with_their_stats) {
  must_declare_exchange(e(), "events", "topic");
  char *json = nullptr;
  must(corq_stats_json(e(), &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  EXPECT_TRUE(is_valid_json(text)) << text;
  EXPECT_NE(text.find("\"exchanges\":{\"events\":{\"type\":\"topic\""), std::string::npos) << text;
}

// ---- dead-letter exchanges ----------------------------------------------------------------------

TEST_F(Exchanges, dead_letters_go_through_the_dead_letter_exchange_by_their_own_routing_key) {
  must_declare_exchange(e(), "dlx", "topic");
  must_declare(e(), "failed-orders");
  must_bind(e(), "dlx", "failed-orders", "order.#");
  must_declare(e(), "work", {{"dead_letter_exchange", "dlx"}});
  must_declare_exchange(e(), "in", "direct");
  must_bind(e(), "in", "work", "order.new");
  EXPECT_EQ(xpublish(e(), "in", "order.new", "m"), 1u);
  {
    ConsumerPtr c = open_consumer(e(), "work");
    const corq_delivery d = must_consume_one(c.get());
    must(corq_reject(c.get(), d.tag, "bad order"), "reject");
  }
  ConsumerPtr c = open_consumer(e(), "failed-orders");
  const corq_delivery dead = must_consume_one(c.get());
  EXPECT_EQ(payload(dead), "m");
  EXPECT_EQ(header_value(dead, "x-death-reason"), "rejected");
  EXPECT_EQ(header_value(dead, "x-death-queue"), "work");
  EXPECT_EQ(stats(e(), "work").dead_lettered, 1u);
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_delete(e(), "work.dlq"));  // none was declared
}

TEST_F(Exchanges, dead_letter_routing_key_replaces_the_messages_own) {
  must_declare_exchange(e(), "dlx", "direct");
  must_declare(e(), "parking");
  must_bind(e(), "dlx", "parking", "parked");
  must_declare(e(), "work",
               {{"dead_letter_exchange", "dlx"}, {"dead_letter_routing_key", "parked"}});
  publish(e(), "work", "m");
  ConsumerPtr c = open_consumer(e(), "work");
  must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
  EXPECT_EQ(drained(e(), "parking"), std::multiset<std::string>{"m"});
}

TEST_F(Exchanges, a_message_published_to_its_queue_dead_letters_under_the_queues_name) {
  must_declare_exchange(e(), "dlx", "direct");
  must_declare(e(), "dead-work");
  must_bind(e(), "dlx", "dead-work", "work");
  must_declare(e(), "work", {{"dead_letter_exchange", "dlx"}, {"max_attempts", "1"}});
  publish(e(), "work", "m");
  ConsumerPtr c = open_consumer(e(), "work");
  must(corq_nack(c.get(), must_consume_one(c.get()).tag, 0), "nack");
  EXPECT_EQ(drained(e(), "dead-work"), std::multiset<std::string>{"m"});
}

TEST_F(Exchanges, a_dead_letter_exchange_fans_dead_letters_out) {
  must_declare_exchange(e(), "dlx", "fanout");
  must_declare(e(), "audit");
  must_declare(e(), "retry-later");
  must_bind(e(), "dlx", "audit", "");
  must_bind(e(), "dlx", "retry-later", "");
  must_declare(e(), "work", {{"dead_letter_exchange", "dlx"}});
  publish(e(), "work", std::string(300, 'p'));
  ConsumerPtr c = open_consumer(e(), "work");
  must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
  EXPECT_EQ(drained(e(), "audit").size(), 1u);
  EXPECT_EQ(drained(e(), "retry-later").size(), 1u);
  EXPECT_EQ(stats(e(), "work").dead_lettered, 1u);
}

TEST_F(Exchanges, a_dead_letter_exchange_not_declared_yet_drops_and_counts) {
  must_declare(e(), "work", {{"dead_letter_exchange", "later"}});
  publish(e(), "work", "m");
  ConsumerPtr c = open_consumer(e(), "work");
  must(corq_reject(c.get(), must_consume_one(c.get()).tag, nullptr), "reject");
  EXPECT_EQ(stats(e(), "work").dropped, 1u);
  EXPECT_EQ(stats(e(), "work").dead_lettered, 0u);
}

TEST_F(Exchanges, dead_letter_queue_and_dead_letter_exchange_exclude_each_other) {
  EXPECT_CORQ_FAILS(
      CORQ_EINVAL,
      declare(e(), "work", {{"dead_letter_queue", "x"}, {"dead_letter_exchange", "y"}}));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(e(), "work", {{"dead_letter_exchange", "bad name"}}));
  EXPECT_CORQ_FAILS(CORQ_EINVAL,
                    declare(e(), "work", {{"dead_letter_routing_key", std::string(256, 'k')}}));
}

// ---- single active consumer
// -----------------------------------------------------------------------

TEST_F(Exchanges, single_active_consumer_hands_over_in_open_order_with_released_deliveries) {
  must_declare(e(), "ordered", {{"single_active_consumer", "true"}});
  for (const char *p : {"1", "2", "3"}) publish(e(), "ordered", p);
  ConsumerPtr first = open_consumer(e(), "ordered");
  ConsumerPtr second = open_consumer(e(), "ordered");
  ConsumerPtr third = open_consumer(e(), "ordered");
  const corq_delivery d1 = must_consume_one(first.get());
  EXPECT_EQ(payload(d1), "1");
  EXPECT_FALSE(consume_one(second.get(), 0).has_value());  // not the active one
  EXPECT_FALSE(consume_one(third.get(), 0).has_value());
  must(corq_ack(first.get(), d1.tag), "ack");
  const corq_delivery d2 = must_consume_one(first.get());  // held when it closes
  EXPECT_EQ(payload(d2), "2");
  first.reset();  // "2" is released, and the second consumer takes over
  EXPECT_EQ(payload(must_consume_one(second.get())), "2");
  EXPECT_EQ(payload(must_consume_one(second.get())), "3");
  EXPECT_FALSE(consume_one(third.get(), 0).has_value());
}

TEST_F(Exchanges, a_waiting_consumer_is_woken_when_it_becomes_the_active_one) {
  must_declare(e(), "ordered", {{"single_active_consumer", "true"}});
  ConsumerPtr first = open_consumer(e(), "ordered");
  ConsumerPtr second = open_consumer(e(), "ordered");
  publish(e(), "ordered", "m");
  std::optional<corq_delivery> got;
  std::thread waiter([&] { got = consume_one(second.get(), 10000); });
  std::this_thread::sleep_for(50ms);
  first.reset();
  waiter.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(payload(*got), "m");
}

// ---- temporary subscriber queues
// ------------------------------------------------------------------

TEST_F(Exchanges, a_temp_queue_gets_a_generated_name_and_goes_when_its_last_consumer_closes) {
  char name[32];
  EXPECT_CORQ_OK(corq_queue_declare_temp(e(), nullptr, name, sizeof name));
  const std::string queue = name;
  EXPECT_EQ(queue.rfind("corq.gen-", 0), 0u) << queue;
  EXPECT_EQ(queue.size(), 25u) << queue;
  must_declare_exchange(e(), "news", "fanout");
  must_bind(e(), "news", queue, "");
  {
    ConsumerPtr first = open_consumer(e(), queue);
    ConsumerPtr second = open_consumer(e(), queue);
    EXPECT_EQ(xpublish(e(), "news", "", "m"), 1u);
    const corq_delivery d = must_consume_one(first.get());
    EXPECT_EQ(payload(d), "m");
    first.reset();
    EXPECT_EQ(stats(e(), queue).consumers, 1u);  // one left: the queue stays
    EXPECT_EQ(stats(e(), queue).ready, 1u);      // the closed consumer's delivery came back
  }
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e(), queue.c_str(), &s));
  EXPECT_EQ(exchange_stats(e(), "news").bindings, 0u);  // its binding went with it
  EXPECT_EQ(xpublish(e(), "news", "", "m"), 0u);
}

TEST_F(Exchanges, temp_queues_get_distinct_names_and_no_dead_letter_queue) {
  char a[32], b[32];
  EXPECT_CORQ_OK(corq_queue_declare_temp(e(), nullptr, a, sizeof a));
  EXPECT_CORQ_OK(corq_queue_declare_temp(e(), nullptr, b, sizeof b));
  EXPECT_STRNE(a, b);
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e(), (std::string(a) + ".dlq").c_str(), &s));
}

TEST_F(Exchanges, a_queue_that_never_had_a_consumer_stays_despite_auto_delete) {
  must_declare(e(), "lazy", {{"auto_delete", "true"}});
  publish(e(), "lazy", "m");
  EXPECT_EQ(stats(e(), "lazy").ready, 1u);
}

TEST_F(Exchanges, an_auto_delete_queue_goes_with_its_last_consumer_but_not_its_successor) {
  must_declare(e(), "session", {{"auto_delete", "true"}});
  ConsumerPtr c = open_consumer(e(), "session");
  must(corq_queue_delete(e(), "session"), "delete");
  must_declare(e(), "session");  // a new queue, same name, not auto_delete
  c.reset();                     // the old queue's last consumer: must not take the new one
  EXPECT_EQ(stats(e(), "session").ready, 0u);
}

TEST_F(Exchanges, declare_temp_refuses_bad_arguments) {
  char name[32];
  char small[31];
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(nullptr, nullptr, name, sizeof name));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(e(), nullptr, nullptr, 32));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(e(), nullptr, small, sizeof small));
  ConfigPtr durable = make_config({{"durable", "true"}});
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(e(), durable.get(), name, sizeof name));
  ConfigPtr kept = make_config({{"auto_delete", "false"}});
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(e(), kept.get(), name, sizeof name));
  ConfigPtr engine_key = make_config({{"sync", "none"}});
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare_temp(e(), engine_key.get(), name, sizeof name));
}

// ---- bad input ----------------------------------------------------------------------------------

TEST_F(Exchanges, bad_arguments_are_refused_with_a_detail_message) {
  queues({"q"});
  must_declare_exchange(e(), "x", "topic");
  must_declare_exchange(e(), "h", "headers");
  const std::string long_key(256, 'k');
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(nullptr, "y", "topic", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), nullptr, "topic", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "y", nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "y", "fan-out", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_declare(e(), "bad name", "topic", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare_exchange(e(), "y", "topic", {{"internal", "maybe"}}));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, declare_exchange(e(), "y", "topic", {{"max_length", "5"}}));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_bind(e(), "x", "q", long_key.c_str(), nullptr, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_bind(e(), "x", "q", "k", nullptr, 1));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_bind(e(), "nope", "q", "k", nullptr, 0));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_bind(e(), "x", "nope", "k", nullptr, 0));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_exchange_bind(e(), "x", "nope", "k", nullptr, 0));
  const corq_header bad_match[] = {header("x-match", "most")};
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_bind(e(), "h", "q", "", bad_match, 1));
  const corq_header null_key[] = {{nullptr, "v", 1}};
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_bind(e(), "h", "q", "", null_key, 1));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_xpublish(e(), "x", long_key.c_str(), "m"));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_xpublish(e(), "nope", "k", "m"));
  const corq_message m = message("m");
  EXPECT_CORQ_FAILS(CORQ_EINVAL,
                    corq_exchange_publish(e(), nullptr, "k", &m, nullptr, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL,
                    corq_exchange_publish(e(), "x", "k", nullptr, nullptr, nullptr, nullptr));
  corq_publish_options bad_flags = publish_options();
  bad_flags.flags = 0x80;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_xpublish(e(), "x", "k", "m", nullptr, &bad_flags));
  corq_publish_options negative = publish_options();
  negative.priority = -1;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_xpublish(e(), "x", "k", "m", nullptr, &negative));
  corq_exchange_stats small{};
  small.struct_size = 8;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_stats_get(e(), "x", &small));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_exchange_stats_get(e(), "x", nullptr));
  corq_exchange_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_exchange_stats_get(e(), "nope", &s));
  // Nothing above changed the topology.
  EXPECT_EQ(exchange_stats(e(), "x").bindings, 0u);
  EXPECT_EQ(exchange_stats(e(), "h").bindings, 0u);
}

TEST_F(Exchanges, calls_on_a_closed_engine_return_eclosed) {
  must_declare_exchange(e(), "x", "fanout");
  corq_engine *raw = engine.release();
  // corq_close frees the engine once no handle holds it: keep one by opening a producer first.
  must_declare(raw, "q");
  ProducerPtr keep = open_producer(raw, "q");
  must(corq_close(raw), "close");
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, try_xpublish(raw, "x", "", "m"));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_exchange_declare(raw, "y", "topic", nullptr));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_bind(raw, "x", "q", "", nullptr, 0));
}

}  // namespace
