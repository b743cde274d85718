// bench/cli/perf_run.hpp — one corq-perf run: the engine, its queues, the producer and consumer
// threads, the progress lines, and what the run measured.
#ifndef CORQ_BENCH_CLI_PERF_RUN_HPP
#define CORQ_BENCH_CLI_PERF_RUN_HPP

#include "latency_histogram.hpp"
#include "perf_options.hpp"

#include <cstdint>
#include <string>

namespace corq::perf {

/// How long the consumers may take, after the producers stopped, to drain what was published.
inline constexpr std::int64_t drain_timeout_ns = 30'000'000'000;

struct RunResult {
  /// Non-empty when a corq call failed: "<call>(<queue>): <corq_strerror>: <corq_last_error>".
  std::string error;
  double measured_s = 0;
  // Messages sent with a send time inside the measured window, deliveries inside it.
  std::uint64_t published = 0;
  std::uint64_t consumed = 0;
  // Everything, warmup and drain included.
  std::uint64_t published_total = 0;
  std::uint64_t consumed_total = 0;
  /// Published but not consumed when the drain timed out (0 when drained).
  std::uint64_t not_drained = 0;
  /// Sends that found the queue full for a whole publish timeout and were retried.
  std::uint64_t full_retries = 0;
  /// Latency (ns) of the messages sent in the measured window; merged over consumer threads.
  bool latency_measured = false;
  LatencyHistogram latency_ns;
  std::uint64_t latency_max_ns = 0;  // exact (the histogram's max is a bucket bound)
};

/// Runs the load described by options; progress lines go to stderr unless options.quiet.
RunResult run_perf(const PerfOptions &options);

/// CLOCK_MONOTONIC in nanoseconds: the clock of the payload timestamps.
std::int64_t monotonic_ns() noexcept;

}  // namespace corq::perf

#endif  // CORQ_BENCH_CLI_PERF_RUN_HPP
