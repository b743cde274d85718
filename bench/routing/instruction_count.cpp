// bench/routing/instruction_count.cpp — corq_routing_count: one routing scenario's publishes on one
// thread, a fixed number of them, for callgrind's instructions per publish
// (perf/routing_instructions.sh, which counts only inside corq_publish / corq_exchange_publish with
// --toggle-collect, so set-up, the 10,000 binds and the purges are left out).
//
//   corq_routing_count plain|direct|topic10|topic10000|topic10000-fresh|fanout4 PUBLISHES
//
// The same engine, queues, bindings and keys as corq_routing_bench (topic_patterns.cpp); every
// publish must report the scenario's `routed`; the queues are purged every 4096 publishes.
#include "routing_harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using corq::bench::routing::TopicSet;

int fail(const char *what, int code) {
  std::fprintf(stderr, "corq_routing_count: %s: %s (%s)\n", what, corq_strerror(code),
               corq_last_error());
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  const char *modes = "plain|direct|topic10|topic10000|topic10000-fresh|fanout4";
  if (argc != 3) {
    std::fprintf(stderr, "usage: corq_routing_count %s PUBLISHES\n", modes);
    return 2;
  }
  const std::string mode = argv[1];
  const std::uint64_t publishes = std::strtoull(argv[2], nullptr, 10);
  corq_engine *engine = nullptr;
  if (const int rc = corq_open(nullptr, nullptr, &engine); rc != CORQ_OK) return fail("open", rc);
  std::vector<std::string> queues, keys;
  std::string exchange;
  std::uint32_t expected = 1;
  int rc = CORQ_OK;
  auto declare = [&](const std::string &q) {
    queues.push_back(q);
    if (rc == CORQ_OK) rc = corq_queue_declare(engine, q.c_str(), nullptr);
  };
  auto bind = [&](const std::string &q, const std::string &key) {
    if (rc == CORQ_OK) rc = corq_bind(engine, exchange.c_str(), q.c_str(), key.c_str(), nullptr, 0);
  };
  if (mode == "plain") {
    declare("plain");
    keys = {""};
  } else if (mode == "direct") {
    exchange = "bench.direct";
    rc = corq_exchange_declare(engine, exchange.c_str(), "direct", nullptr);
    declare("direct-q");
    bind("direct-q", "orders");
    keys = {"orders"};
  } else if (mode == "fanout4") {
    exchange = "bench.fanout";
    expected = 4;
    rc = corq_exchange_declare(engine, exchange.c_str(), "fanout", nullptr);
    for (int i = 0; i < 4; ++i) {
      declare("fanout-" + std::to_string(i));
      bind(queues.back(), "");
    }
    keys = {"orders"};
  } else if (mode == "topic10" || mode == "topic10000" || mode == "topic10000-fresh") {
    const TopicSet set = corq::bench::routing::make_topic_set(mode == "topic10" ? 10 : 10'000);
    exchange = "bench.topic";
    rc = corq_exchange_declare(engine, exchange.c_str(), "topic", nullptr);
    for (std::size_t i = 0; i < set.hot_queues; ++i) declare("topic-" + std::to_string(i));
    for (std::size_t i = 0; i < set.hot.size(); ++i) bind(queues[set.hot_queue[i]], set.hot[i]);
    std::vector<std::string> filler_queues;
    for (std::size_t i = 0; i < set.filler_queues && !set.filler.empty(); ++i) {
      filler_queues.push_back("topic-filler-" + std::to_string(i));
      if (rc == CORQ_OK) rc = corq_queue_declare(engine, filler_queues.back().c_str(), nullptr);
    }
    for (std::size_t i = 0; i < set.filler.size(); ++i)
      bind(filler_queues[i % filler_queues.size()], set.filler[i]);
    keys = mode == "topic10000-fresh" ? set.fresh_keys : set.keys;
  } else {
    std::fprintf(stderr, "corq_routing_count: unknown scenario '%s' (%s)\n", mode.c_str(), modes);
    return 2;
  }
  if (rc != CORQ_OK) return fail("set-up", rc);

  unsigned char payload[corq::bench::routing::payload_bytes];
  std::memset(payload, 0xab, sizeof(payload));
  const corq_message message{payload, sizeof(payload), nullptr, 0, nullptr};
  std::size_t key = 0;
  for (std::uint64_t seq = 0; seq < publishes; ++seq) {
    if (seq % 4096 == 0) {
      for (const std::string &q : queues) {
        if (const int prc = corq_queue_purge(engine, q.c_str(), nullptr); prc != CORQ_OK)
          return fail("corq_queue_purge", prc);
      }
    }
    std::memcpy(payload, &seq, sizeof(seq));
    std::uint32_t routed = 1;
    const int prc = exchange.empty()
                        ? corq_publish(engine, queues[0].c_str(), &message, nullptr, nullptr)
                        : corq_exchange_publish(engine, exchange.c_str(), keys[key].c_str(),
                                                &message, nullptr, nullptr, &routed);
    if (prc != CORQ_OK) return fail("publish", prc);
    if (routed != expected) {
      std::fprintf(stderr, "corq_routing_count: key '%s' routed to %u queues, expected %u\n",
                   keys[key].c_str(), routed, expected);
      return 1;
    }
    if (++key == keys.size()) key = 0;
  }
  corq_close(engine);
  std::printf("%s: %llu publishes\n", mode.c_str(), static_cast<unsigned long long>(publishes));
  return 0;
}
