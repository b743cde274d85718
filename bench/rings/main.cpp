// bench/rings/main.cpp — corq_ring_bench: corq's rings against Boost.Lockfree, moodycamel and
// Concurrency Kit, all in one binary and one run, so every ratio compares numbers taken on the same
// machine minutes apart.
//
//   corq_ring_bench [--quick] [--repetitions=N] [any --benchmark_* flag]
//
// Scenarios (benchmark names are `<scenario>/<peer>`, peers `corq`, `boost`, `moodycamel`, and in
// the SPSC scenarios `readerwriterqueue` and `ck_ring`):
//   spsc_per_item   one producer core, one consumer core, one uint64 per push/pop      items/s
//   spsc_bulk256    the same with batches of 256                                       items/s
//   ping_pong       round trip through two SPSC queues, one thread echoes             p50/p99/p99.9
//   ns mpmc_NpNc       N producers and N consumers on one MPMC queue (N = 1, 2, 4)        items/s
// `--quick` runs each scenario once with a fraction of the items (a smoke test, seconds long);
// `--repetitions=N` overrides the number of repetitions (Google Benchmark's own flag cannot: each
// benchmark sets its count in code).
// tools/bench.sh runs this and perf/report_rings.py turns its JSON into the table and the plot.
#include "bench_harness.hpp"

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench {

SuiteScale full_scale() {
  return SuiteScale{.spsc_items = 8'000'000,
                    .mpmc_items = 4'000'000,
                    .round_trips = 200'000,
                    .warmup_round_trips = 10'000,
                    .repetitions = 7};
}

SuiteScale quick_scale() {
  return SuiteScale{.spsc_items = 400'000,
                    .mpmc_items = 200'000,
                    .round_trips = 10'000,
                    .warmup_round_trips = 1'000,
                    .repetitions = 1};
}

}  // namespace corq::bench

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  int repetitions = 0;  // 0: the scale's own
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--repetitions=", 14) == 0 && std::atoi(argv[i] + 14) > 0) {
      repetitions = std::atoi(argv[i] + 14);
    } else {
      std::fprintf(stderr,
                   "corq_ring_bench: unknown argument '%s' (--quick | --repetitions=N | "
                   "--benchmark_*)\n",
                   argv[i]);
      return 2;
    }
  }
  using namespace corq::bench;
  SuiteScale scale = quick ? quick_scale() : full_scale();
  if (repetitions != 0) scale.repetitions = repetitions;
  (void)allowed_cpus();  // before any thread pins itself
  (void)ns_per_tick();   // calibrate the tick clock outside every measured region

  benchmark::AddCustomContext("corq_scale", quick ? "quick" : "full");
  benchmark::AddCustomContext("corq_ring_capacity", std::to_string(ring_capacity));
  benchmark::AddCustomContext("corq_spsc_items", std::to_string(scale.spsc_items));
  benchmark::AddCustomContext("corq_mpmc_items", std::to_string(scale.mpmc_items));
  benchmark::AddCustomContext("corq_round_trips", std::to_string(scale.round_trips));
  benchmark::AddCustomContext("corq_allowed_cpus", std::to_string(allowed_cpus().size()));
  benchmark::AddCustomContext("corq_ns_per_tick", std::to_string(ns_per_tick()));

  register_spsc_throughput(scale);
  register_ping_pong_latency(scale);
  register_mpmc_throughput(scale);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
