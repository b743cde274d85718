// tests/routing/route_cache_test.cpp — the publishing thread's route cache
// (engine/routing/route_cache.hpp) must be invisible: every publish routes exactly as a fresh walk
// of the current topology would, whatever the thread published before. One test per way a cached
// decision could go stale: a binding added or removed, a queue or exchange deleted or redeclared,
// another engine on the same thread, another thread changing the topology, more keys than the
// cache holds, headers deciding the route, and the exchange counters a cache hit must still count.
#include "routing/exchange_helpers.hpp"

#include <atomic>
#include <map>
#include <thread>

namespace {

using namespace corq::test;

class RouteCache : public ::testing::Test {
 protected:
  EnginePtr engine = open_engine();
  corq_engine *e() { return engine.get(); }
  void queues(std::initializer_list<const char *> names) {
    for (const char *n : names) must_declare(e(), n);
  }
};

TEST_F(RouteCache, a_binding_added_after_a_key_was_routed_takes_the_next_publish) {
  queues({"a", "b"});
  must_declare_exchange(e(), "x", "topic");
  must_bind(e(), "x", "a", "order.*");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(xpublish(e(), "x", "order.placed", "before"), 1u);
  must_bind(e(), "x", "b", "#.placed");
  EXPECT_EQ(xpublish(e(), "x", "order.placed", "after"), 2u);
  EXPECT_EQ(drained(e(), "b"), std::multiset<std::string>{"after"});
  EXPECT_EQ(drained(e(), "a").size(), 4u);
}

TEST_F(RouteCache, an_unbound_key_stops_routing_at_once) {
  queues({"a"});
  must_declare_exchange(e(), "x", "direct");
  must_bind(e(), "x", "a", "k");
  EXPECT_EQ(xpublish(e(), "x", "k", "1"), 1u);
  must(corq_unbind(e(), "x", "a", "k", nullptr, 0), "unbind");
  EXPECT_EQ(xpublish(e(), "x", "k", "2"), 0u);
  EXPECT_EQ(exchange_stats(e(), "x").unroutable, 1u);
  EXPECT_EQ(drained(e(), "a"), std::multiset<std::string>{"1"});
}

TEST_F(RouteCache, a_deleted_target_queue_is_not_routed_to_and_a_new_one_of_its_name_is) {
  queues({"a", "b"});
  must_declare_exchange(e(), "x", "fanout");
  must_bind(e(), "x", "a", "");
  must_bind(e(), "x", "b", "");
  EXPECT_EQ(xpublish(e(), "x", "k", "1"), 2u);
  must(corq_queue_delete(e(), "a"), "queue_delete");
  EXPECT_EQ(xpublish(e(), "x", "k", "2"), 1u);
  queues({"a"});  // same name, a new queue, unbound
  EXPECT_EQ(xpublish(e(), "x", "k", "3"), 1u);
  must_bind(e(), "x", "a", "");
  EXPECT_EQ(xpublish(e(), "x", "k", "4"), 2u);
  EXPECT_EQ(drained(e(), "a"), std::multiset<std::string>{"4"});
  EXPECT_EQ(drained(e(), "b"), (std::multiset<std::string>{"1", "2", "3", "4"}));
}

TEST_F(RouteCache, a_redeclared_exchange_routes_by_its_new_type_and_bindings) {
  queues({"a", "b"});
  must_declare_exchange(e(), "x", "topic");
  must_bind(e(), "x", "a", "k.*");
  EXPECT_EQ(xpublish(e(), "x", "k.1", "old"), 1u);
  must(corq_exchange_delete(e(), "x"), "exchange_delete");
  EXPECT_EQ(try_xpublish(e(), "x", "k.1", "gone"), CORQ_ENOENT);
  must_declare_exchange(e(), "x", "direct");
  must_bind(e(), "x", "b", "k.1");
  EXPECT_EQ(xpublish(e(), "x", "k.1", "new"), 1u);
  EXPECT_EQ(drained(e(), "a"), std::multiset<std::string>{"old"});
  EXPECT_EQ(drained(e(), "b"), std::multiset<std::string>{"new"});
}

TEST_F(RouteCache, an_internal_exchange_is_refused_even_after_its_key_was_routed_through_it) {
  queues({"a"});
  must_declare_exchange(e(), "inner", "direct", {{"internal", "true"}});
  must_declare_exchange(e(), "outer", "direct");
  must(corq_exchange_bind(e(), "outer", "inner", "k", nullptr, 0), "exchange_bind");
  must_bind(e(), "inner", "a", "k");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(xpublish(e(), "outer", "k", "m"), 1u);
    EXPECT_EQ(try_xpublish(e(), "inner", "k", "refused"), CORQ_EINVAL);
  }
  EXPECT_EQ(drained(e(), "a").size(), 3u);
}

TEST_F(RouteCache, repeated_publishes_count_every_exchange_entered_as_a_walk_would) {
  // outer (direct, nothing bound for "k") → its alternate "alt" (fanout) → exchange "mid" → queue.
  queues({"q"});
  must_declare_exchange(e(), "alt", "fanout");
  must_declare_exchange(e(), "mid", "topic");
  must_declare_exchange(e(), "outer", "direct", {{"alternate_exchange", "alt"}});
  must(corq_exchange_bind(e(), "alt", "mid", "", nullptr, 0), "exchange_bind");
  must_bind(e(), "mid", "q", "#");
  constexpr std::uint64_t n = 25;
  for (std::uint64_t i = 0; i < n; ++i) EXPECT_EQ(xpublish(e(), "outer", "k", "m"), 1u);
  const corq_exchange_stats outer = exchange_stats(e(), "outer");
  const corq_exchange_stats alt = exchange_stats(e(), "alt");
  const corq_exchange_stats mid = exchange_stats(e(), "mid");
  EXPECT_EQ(outer.published, n);
  EXPECT_EQ(outer.alternated, n);
  EXPECT_EQ(outer.routed, 0u);
  EXPECT_EQ(alt.published, n);
  EXPECT_EQ(alt.alternated, 0u);
  EXPECT_EQ(mid.published, n);
  EXPECT_EQ(mid.routed, n);
  EXPECT_EQ(drained(e(), "q").size(), n);
}

TEST_F(RouteCache, headers_decide_every_publish_through_a_headers_exchange) {
  // The same exchange and key, different headers: never answered from a remembered route.
  queues({"red", "blue"});
  must_declare_exchange(e(), "entry", "direct");
  must_declare_exchange(e(), "h", "headers");
  must(corq_exchange_bind(e(), "entry", "h", "k", nullptr, 0), "exchange_bind");
  must_bind(e(), "h", "red", "", {header("colour", "red")});
  must_bind(e(), "h", "blue", "", {header("colour", "blue")});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(xpublish(e(), "entry", "k", "r", {header("colour", "red")}), 1u);
    EXPECT_EQ(xpublish(e(), "entry", "k", "b", {header("colour", "blue")}), 1u);
    EXPECT_EQ(xpublish(e(), "entry", "k", "none", {header("colour", "green")}), 0u);
  }
  EXPECT_EQ(drained(e(), "red"), (std::multiset<std::string>{"r", "r", "r"}));
  EXPECT_EQ(drained(e(), "blue"), (std::multiset<std::string>{"b", "b", "b"}));
}

TEST_F(RouteCache, more_distinct_keys_than_it_holds_still_route_each_to_its_queue) {
  // 3,000 keys over 8 queues, twice in different orders: evicted entries are recomputed right.
  constexpr int queue_count = 8, key_count = 3000;
  must_declare_exchange(e(), "x", "topic");
  for (int q = 0; q < queue_count; ++q) {
    const std::string name = "q" + std::to_string(q);
    must_declare(e(), name);
    must_bind(e(), "x", name, ("*.s" + std::to_string(q) + ".#").c_str());
  }
  std::map<std::string, std::multiset<std::string>> expected;
  auto publish_key = [&](int k) {
    const std::string key = "k" + std::to_string(k) + ".s" + std::to_string(k % queue_count) +
                            ".tail" + std::to_string(k % 7);
    ASSERT_EQ(xpublish(e(), "x", key.c_str(), key), 1u) << key;
    expected["q" + std::to_string(k % queue_count)].insert(key);
  };
  for (int k = 0; k < key_count; ++k) publish_key(k);
  for (int k = key_count; k-- > 0;) publish_key((k * 7919) % key_count);
  for (int q = 0; q < queue_count; ++q) {
    const std::string name = "q" + std::to_string(q);
    EXPECT_EQ(drained(e(), name), expected[name]) << name;
  }
}

TEST_F(RouteCache, one_thread_publishing_to_two_engines_routes_each_by_its_own_topology) {
  EnginePtr other = open_engine();
  must_declare(e(), "mine");
  must_declare(other.get(), "theirs");
  must_declare_exchange(e(), "x", "direct");
  must_declare_exchange(other.get(), "x", "direct");
  must_bind(e(), "x", "mine", "k");
  must_bind(other.get(), "x", "theirs", "k");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(xpublish(e(), "x", "k", "a"), 1u);
    EXPECT_EQ(xpublish(other.get(), "x", "k", "b"), 1u);
  }
  EXPECT_EQ(drained(e(), "mine"), (std::multiset<std::string>{"a", "a", "a", "a"}));
  EXPECT_EQ(drained(other.get(), "theirs"), (std::multiset<std::string>{"b", "b", "b", "b"}));
}

TEST_F(RouteCache, a_binding_made_on_another_thread_is_seen_by_the_next_publish_after_it) {
  // The publisher keeps routing one key from its cache while the main thread binds queue i and
  // then says so; every publish that starts after it heard of binding i reaches queue i.
  constexpr int rounds = 200;
  must_declare_exchange(e(), "x", "topic");
  for (int i = 0; i < rounds; ++i) must_declare(e(), "q" + std::to_string(i));
  std::atomic<int> bound{0};      // bindings made so far
  std::atomic<int> published{0};  // publishes that started after the publisher read `bound`
  std::atomic<bool> stop{false};
  std::atomic<int> stale{0};
  std::thread publisher([&] {
    while (!stop.load(std::memory_order_acquire)) {
      const int known = bound.load(std::memory_order_acquire);
      std::uint32_t routed = 0;
      if (try_xpublish(e(), "x", "a.b.c", "m", &routed) != CORQ_OK ||
          routed < static_cast<std::uint32_t>(known))
        stale.fetch_add(1);
      published.fetch_add(1, std::memory_order_release);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    must_bind(e(), "x", "q" + std::to_string(i), i % 2 == 0 ? "a.#" : "*.b.*");
    bound.store(i + 1, std::memory_order_release);
    // Two publishes at least that began after this bind, before the next one (bounded memory).
    const int before = published.load(std::memory_order_acquire);
    while (published.load(std::memory_order_acquire) < before + 2) std::this_thread::yield();
  }
  stop.store(true, std::memory_order_release);
  publisher.join();
  EXPECT_EQ(stale.load(), 0) << "a publish missed a binding made before it started";
}

}  // namespace
