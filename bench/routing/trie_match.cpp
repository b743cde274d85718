// bench/routing/trie_match.cpp — the topic matcher alone: engine/routing/topic_trie.hpp's match()
// over the same bindings and keys as topic10 and topic10000, without the engine around it.
//
// Scenarios: trie10/match, trie10000/match — one pinned thread builds a TopicTrie<int> with the
// TopicSet's patterns (destination = the binding's index) and matches the keys in turn,
// `trie_matches` times; every match must report exactly one binding (the key's hot pattern).
// Reports ns per match (wall and thread CPU time): the part of a routed publish that depends on the
// number of bindings, so the difference to topic<n>/*'s ns per publish is what the rest of the
// publish costs.
#include "routing_harness.hpp"

#include "routing/topic_trie.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace corq::bench::routing {
namespace {

struct MatchOutcome {
  double seconds = 0;
  double cpu_seconds = 0;
  std::string error{};
  std::size_t nodes = 0;
  bool pinned = false;
};

MatchOutcome match_once(std::size_t bindings, std::uint64_t matches) {
  MatchOutcome run;
  const TopicSet set = make_topic_set(bindings);
  corq::core::routing::TopicTrie<int> trie;
  int index = 0;
  bool added = false;
  for (const std::string &pattern : set.hot) trie = trie.with_binding(pattern, index++, &added);
  for (const std::string &pattern : set.filler) trie = trie.with_binding(pattern, index++, &added);
  if (trie.size() != bindings) {
    run.error = "trie has " + std::to_string(trie.size()) + " bindings";
    return run;
  }
  run.nodes = trie.node_count();
  std::vector<std::string_view> keys(set.keys.begin(), set.keys.end());
  const auto hot_count = static_cast<int>(set.hot.size());
  std::uint64_t found = 0, wrong = 0;
  std::size_t key = 0;
  const double cpu_start = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < matches; ++i) {
    trie.match(keys[key], [&](int d) {
      ++found;
      wrong += d >= hot_count ? 1 : 0;
    });
    if (++key == keys.size()) key = 0;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds = thread_cpu_seconds() - cpu_start;
  benchmark::DoNotOptimize(found);
  if (found != matches || wrong != 0)
    run.error = "trie matched " + std::to_string(found) + " bindings (" + std::to_string(wrong) +
                " filler) for " + std::to_string(matches) + " keys";
  return run;
}

void register_match(const char *name, std::size_t bindings, const RoutingScale &scale) {
  const std::uint64_t matches = scale.trie_matches;
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      MatchOutcome run;
      std::thread matcher([&] {  // pinned like the publishers, on a thread of its own
        const bool pinned = pin_current_thread(0);
        run = match_once(bindings, matches);
        run.pinned = pinned;
      });
      matcher.join();
      state.SetIterationTime(run.seconds > 0 ? run.seconds : 1e-9);
      if (!run.error.empty()) {
        state.SkipWithError(run.error.c_str());
        continue;
      }
      const double n = static_cast<double>(matches);
      state.counters["matches_per_s"] = n / run.seconds;
      state.counters["ns_per_match"] = run.seconds * 1e9 / n;
      state.counters["matches_per_cpu_s"] = n / run.cpu_seconds;
      state.counters["cpu_ns_per_match"] = run.cpu_seconds * 1e9 / n;
      state.counters["bindings"] = static_cast<double>(bindings);
      state.counters["trie_nodes"] = static_cast<double>(run.nodes);
      state.counters["pinned"] = run.pinned ? 1 : 0;
    }
  };
  benchmark::RegisterBenchmark(name, body)
      ->Iterations(1)
      ->Repetitions(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

void register_trie_match_round(const RoutingScale &scale) {
  register_match("trie10/match", scale.few_bindings, scale);
  register_match("trie10000/match", scale.many_bindings, scale);
}

}  // namespace corq::bench::routing
