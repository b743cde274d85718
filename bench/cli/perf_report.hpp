// bench/cli/perf_report.hpp — what corq-perf prints at the end: a human summary or one JSON object.
#ifndef CORQ_BENCH_CLI_PERF_REPORT_HPP
#define CORQ_BENCH_CLI_PERF_REPORT_HPP

#include "perf_options.hpp"
#include "perf_run.hpp"

#include <string>

namespace corq::perf {

/// Latency percentiles in microseconds (percentiles capped at the exact max).
struct LatencySummary {
  double p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
  std::uint64_t count;
};
LatencySummary summarize_latency(const RunResult &result);

/// The summary for people: parameters, rates, latency; ends with a newline.
std::string format_summary(const PerfOptions &options, const RunResult &result);

/// One JSON object (one line): published_per_s, consumed_per_s, mb_per_s (consumed payload,
/// 10^6 bytes per second), latency_us {p50, p90, p99, p999, max, mean, count} or null when the
/// payload is too small to carry a timestamp, counts, and "parameters".
std::string format_json(const PerfOptions &options, const RunResult &result);

}  // namespace corq::perf

#endif  // CORQ_BENCH_CLI_PERF_REPORT_HPP
