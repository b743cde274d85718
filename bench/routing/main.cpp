// bench/routing/main.cpp — corq_routing_bench: pub/sub routing through the C API (issue #16's
// performance targets), with its baselines in the same binary and the same rounds.
//
//   corq_routing_bench [--quick] [any --benchmark_* flag]
//
// Scenarios (benchmark names `<scenario>/<mode>`; see routing_throughput.cpp, trie_match.cpp):
//   plain/*                corq_publish to one queue: publishes/s, p50/p99 ns per call
//   direct/*               direct exchange, one binding, one queue: the same
//   topic10/*, topic10000/*   topic exchange with 10 / 10,000 bindings, each publish reaching
//                          exactly one queue (checked): routed publishes/s, p50/p99 ns per call
//   fanout4/*              fanout exchange to 4 queues: publishes/s (each 4 copies)
//   mode drained: a consumer thread on the other core empties the queues; alone: the publisher
//   alone, queues purged between chunks (untimed)
//   trie10/match, trie10000/match   the topic matcher alone on the same bindings and keys
// `repetitions` rounds, each running every benchmark once in this order, so the scenarios take
// turns and a noisy minute on the shared machine hits them alike; the report takes medians over
// rounds and ratios paired within a round.
// `--quick` runs each once with a fraction of the work (a smoke test; numbers not meaningful).
// tools/bench.sh (suite `routing`) runs this; perf/report_routing.py makes the table from its JSON.
#include "routing_harness.hpp"

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace corq::bench::routing {

RoutingScale routing_full_scale() {
  return RoutingScale{.publishes = 2'000'000,
                      .warmup_publishes = std::uint64_t{1} << 20,  // a lap of each 1M ready ring
                      .trie_matches = 4'000'000,
                      .many_bindings = 10'000,
                      .few_bindings = 10,
                      .repetitions = 7,
                      .quick = false};
}

RoutingScale routing_quick_scale() {
  return RoutingScale{.publishes = 100'000,
                      .warmup_publishes = 20'000,
                      .trie_matches = 200'000,
                      .many_bindings = 10'000,
                      .few_bindings = 10,
                      .repetitions = 1,
                      .quick = true};
}

std::string corq_failure(const char *what, int code) {
  return std::string(what) + ": " + corq_strerror(code) + " (" + corq_last_error() + ")";
}

std::uint64_t preemptions_of_this_thread() noexcept {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_nivcsw);
}

double thread_cpu_seconds() noexcept {
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return 0;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

LatencyNs latency_of_ticks(std::vector<std::uint64_t> &ticks) {
  std::sort(ticks.begin(), ticks.end());
  const double ns = ns_per_tick();
  return LatencyNs{.p50 = quantile_of_sorted(ticks, 0.50) * ns,
                   .p99 = quantile_of_sorted(ticks, 0.99) * ns,
                   .p999 = quantile_of_sorted(ticks, 0.999) * ns};
}

/// The first three fields of /proc/loadavg ("1.37 2.36 3.18"), or "unknown".
std::string load_average() {
  std::FILE *f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "unknown";
  double one = 0, five = 0, fifteen = 0;
  const int read = std::fscanf(f, "%lf %lf %lf", &one, &five, &fifteen);
  std::fclose(f);
  if (read != 3) return "unknown";
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f / %.2f / %.2f", one, five, fifteen);
  return text;
}

}  // namespace corq::bench::routing

int main(int argc, char **argv) {
  using namespace corq::bench::routing;
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "corq_routing_bench: unknown argument '%s' (--quick | --benchmark_*)\n",
                   argv[i]);
      return 2;
    }
  }
  const RoutingScale scale = quick ? routing_quick_scale() : routing_full_scale();
  (void)corq::bench::allowed_cpus();  // before any thread pins itself
  (void)corq::bench::ns_per_tick();   // calibrate the tick clock outside every run

  benchmark::AddCustomContext("corq_scale", quick ? "quick" : "full");
  benchmark::AddCustomContext("corq_version", corq_version_string());
  benchmark::AddCustomContext("corq_publishes", std::to_string(scale.publishes));
  benchmark::AddCustomContext("corq_warmup_publishes", std::to_string(scale.warmup_publishes));
  benchmark::AddCustomContext("corq_trie_matches", std::to_string(scale.trie_matches));
  benchmark::AddCustomContext("corq_payload_bytes", std::to_string(payload_bytes));
  benchmark::AddCustomContext("corq_latency_sample_every", std::to_string(latency_sample_every));
  benchmark::AddCustomContext("corq_repetitions", std::to_string(scale.repetitions));
  benchmark::AddCustomContext("corq_loadavg_start", load_average());
  benchmark::AddCustomContext("corq_allowed_cpus",
                              std::to_string(corq::bench::allowed_cpus().size()));

  for (int round = 0; round < scale.repetitions; ++round) {
    register_routing_throughput_round(scale);
    register_trie_match_round(scale);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
