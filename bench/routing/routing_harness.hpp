// bench/routing/routing_harness.hpp — what the routing benchmarks share: the suite scale, the
// binding and key sets of the topic scenarios, and the registration of each part.
//
// The routing benchmarks measure pub/sub routing (DESIGN §6, issue #16) through the C API
// (corq_exchange_publish), exactly as an embedding program calls it, next to the baselines the
// issue's targets name — a plain corq_publish to one queue and a direct exchange to one queue —
// measured in the same binary and the same rounds. They reuse the ring harness
// (rings/bench_harness.hpp): pinning, Backoff, StartGate, the TSC clock, percentiles,
// one-run-per-repetition with medians. Every repetition does a fixed amount of work.
#pragma once

#include "rings/bench_harness.hpp"

#include <corq/corq.h>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace corq::bench::routing {

/// Payload of every published message (the size).
inline constexpr std::size_t payload_bytes = 64;
/// Prefetch window of the draining consumers, and most deliveries per corq_consume.
inline constexpr std::uint32_t prefetch = 256;
inline constexpr std::size_t consume_batch = 64;
/// Every `latency_sample_every`-th publish is timed on its own (TSC before and after the call):
/// cheap enough not to move the throughput, and the same for every scenario.
inline constexpr std::uint64_t latency_sample_every = 8;
/// A consumer that has seen nothing for this long gives up (the publisher must have failed).
inline constexpr double drain_idle_limit_s = 10.0;

/// How much work one repetition does, and how many repetitions (rounds).
struct RoutingScale {
  std::uint64_t publishes;         // measured publishes per repetition (one publishing thread)
  std::uint64_t warmup_publishes;  // through the same path first, not measured
  std::uint64_t trie_matches;      // per repetition of the match-only rows
  std::size_t many_bindings;       // the big topic exchange (10,000)
  std::size_t few_bindings;        // the small one (10)
  int repetitions;
  bool quick;
};

RoutingScale routing_full_scale();
RoutingScale routing_quick_scale();

/// The topic scenario's binding patterns and routing keys (topic_patterns.cpp).
///
/// `hot` are the patterns the published keys match: ten, one per service svc00..svc09, each of a
/// different shape (literal, '*' and '#' in various places, 4 and 5 words), bound to queue
/// hot index % hot_queues. `keys` are the published routing keys (4 and 5 words): each matches
/// exactly one hot pattern, so every publish reaches exactly one queue. `filler` are realistic
/// patterns over the same vocabulary (3–5 words; a mix of literals, '*' and '#'; services svc00..
/// svc99, so they share trie nodes with the hot ones) chosen so that none matches any key: the
/// 10,000-binding exchange is hot + filler, the 10-binding one is hot alone, and a publish matches
/// the same queue in both — checked on every publish through `routed`.
///
/// `fresh_keys` are for the route cache's miss path (engine/routing/route_cache.hpp remembers the
/// queues of recent (exchange, key) pairs; `keys` hit it after their first publish): 65,536 keys,
/// far more than the 1,024 a thread remembers, so publishing them in turn misses every time. Each
/// is a key of one of the nine hot patterns with a wildcard (eu.svc00.order.created has none) whose
/// word at the pattern's first wildcard is replaced by a word of its own ("w" and the key's index):
/// the hot pattern still matches it, and a filler pattern that matched it would have to match that
/// word by a wildcard and so match the original key too, which no filler does. Every publish
/// checks `routed` anyway.
struct TopicSet {
  std::vector<std::string> hot;
  std::vector<std::size_t> hot_queue;  // queue index of each hot pattern
  std::vector<std::string> filler;
  std::vector<std::string> keys;
  std::vector<std::string> fresh_keys;
  std::size_t hot_queues = 0;
  std::size_t filler_queues = 0;
};

/// The set with hot.size() + filler.size() == total_bindings (at least the ten hot patterns).
/// Deterministic. Throws std::logic_error if a key does not match exactly one hot pattern, or a
/// filler pattern matches a key (a reference matcher checks every pair).
TopicSet make_topic_set(std::size_t total_bindings);

/// RabbitMQ's topic rule on whole strings, by recursion: the benchmark's reference, to build the
/// sets (not to measure).
bool topic_matches(const std::string &pattern, const std::string &key);

/// Registration: every benchmark once per round; main() registers `repetitions` rounds so that the
/// scenarios take turns and a noisy minute on a shared machine hits all alike.
void register_routing_throughput_round(const RoutingScale &scale);
void register_trie_match_round(const RoutingScale &scale);

/// Involuntary context switches of the calling thread so far (getrusage RUSAGE_THREAD).
std::uint64_t preemptions_of_this_thread() noexcept;

/// "what failed: CORQ_E...: detail" for an error code just returned on this thread.
std::string corq_failure(const char *what, int code);

/// CPU time the calling thread has used, in seconds (CLOCK_THREAD_CPUTIME_ID): unlike the wall
/// clock it does not run while another process holds the core, so on a shared machine it gives
/// the cost of the work itself. A system call: read it around runs and chunks, not per publish.
double thread_cpu_seconds() noexcept;

/// The load average (1 / 5 / 15 minutes) from /proc/loadavg, as text; "unknown" if unreadable.
std::string load_average();

/// Percentiles in ns of samples in TSC ticks (sorted in place).
struct LatencyNs {
  double p50 = 0, p99 = 0, p999 = 0;
};
LatencyNs latency_of_ticks(std::vector<std::uint64_t> &ticks);

}  // namespace corq::bench::routing
