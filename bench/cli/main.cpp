// bench/cli/main.cpp — corq-perf, the load generator for corq (like RabbitMQ PerfTest or
// kafka-producer-perf-test): parse the flags, run, print. Exit codes: 0 done, 1 a corq call
// failed, 2 bad arguments. The flags and the latency method are described in usage_text().
#include "perf_options.hpp"
#include "perf_report.hpp"
#include "perf_run.hpp"

#include <cstdio>

int main(int argc, char **argv) {
  using namespace corq::perf;
  const ParseResult parsed = parse_options(argc, argv);
  if (parsed.outcome == ParseOutcome::help) {
    std::fputs(usage_text().c_str(), stdout);
    return 0;
  }
  if (parsed.outcome == ParseOutcome::usage_error) {
    std::fprintf(stderr, "corq-perf: %s\n%s", parsed.error.c_str(), usage_synopsis().c_str());
    return 2;
  }
  const PerfOptions &options = parsed.options;
  if (options.size_bytes < timestamp_bytes && !options.quiet) {
    std::fprintf(stderr, "corq-perf: --size %llu is under 8 bytes: latency is not measured\n",
                 static_cast<unsigned long long>(options.size_bytes));
  }
  const RunResult result = run_perf(options);
  if (!result.error.empty()) {
    std::fprintf(stderr, "corq-perf: %s\n", result.error.c_str());
    return 1;
  }
  const std::string report =
      options.json ? format_json(options, result) : format_summary(options, result);
  std::fputs(report.c_str(), stdout);
  return 0;
}
