// tests/routing/priority_concurrency_test.cpp — a priority queue under concurrent producers and
// consumers (run under TSan too): every message is delivered exactly once, and a consumer never
// sees the messages of one producer at one priority out of their publish order.
#include "routing/exchange_helpers.hpp"
#include "support/sanitizers.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace corq::test {
namespace {

TEST(PriorityConcurrency,
     concurrent_publishers_and_consumers_lose_nothing_and_keep_fifo_per_level) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", {{"max_priority", "7"}, {"max_length", "512"}});
  const int per_producer = static_cast<int>(scaled(20'000));
  constexpr int producers = 2, consumers = 2;
  std::atomic<int> producers_done{0};
  std::mutex seen_mutex;
  std::set<std::string> seen;
  std::atomic<bool> failed{false};

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        corq_publish_options o = publish_options();
        o.priority = (i * 7 + p * 3) % 9;  // 0..8: 8 counts as 7
        const std::string body = std::to_string(p) + ":" +
                                 std::to_string(o.priority < 7 ? o.priority : 7) + ":" +
                                 std::to_string(i);
        if (try_publish(e.get(), "q", body, &o) != CORQ_OK) failed = true;
      }
      producers_done.fetch_add(1);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      ConsumerPtr consumer = open_consumer(e.get(), "q", 32);
      // (producer, level) -> the last sequence number this consumer saw.
      std::map<std::pair<int, int>, int> last;
      for (;;) {
        std::vector<corq_delivery> got = consume(consumer.get(), 32, 20);
        if (got.empty()) {
          if (producers_done.load() == producers && stats(e.get(), "q").ready == 0) break;
          continue;
        }
        for (const corq_delivery &d : got) {
          const std::string body = payload(d);
          int p = 0, level = 0, i = 0;
          if (std::sscanf(body.c_str(), "%d:%d:%d", &p, &level, &i) != 3) failed = true;
          auto [it, fresh] = last.try_emplace({p, level}, i);
          if (!fresh) {
            if (i <= it->second) failed = true;  // out of order within one producer and level
            it->second = i;
          }
          std::lock_guard lock(seen_mutex);
          if (!seen.insert(body).second) failed = true;  // delivered twice
        }
        must(corq_ack_upto(consumer.get(), got.back().tag), "ack_upto");
      }
    });
  }
  for (std::thread &t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(producers * per_producer));
  const corq_queue_stats s = stats(e.get(), "q");
  EXPECT_EQ(s.ready, 0u);
  EXPECT_EQ(s.acked, static_cast<std::uint64_t>(producers * per_producer));
}

}  // namespace
}  // namespace corq::test
