// bench/cli/perf_options.hpp — corq-perf's command line: the parameters of one run, their
// defaults and limits, the parser and the usage text.
#ifndef CORQ_BENCH_CLI_PERF_OPTIONS_HPP
#define CORQ_BENCH_CLI_PERF_OPTIONS_HPP

#include <cstdint>
#include <string>

namespace corq::perf {

/// Limits of the parameters (a bad value is a usage error, exit 2).
inline constexpr std::uint32_t threads_max = 256;  // producers, consumers
inline constexpr std::uint32_t queues_max = 256;
inline constexpr std::uint64_t size_max_bytes = 64u << 20;  // the engine's max_message_bytes limit
inline constexpr std::uint32_t batch_max = 65536;
inline constexpr std::uint32_t prefetch_max = 65536;  // corq_consumer_open's limit
inline constexpr double rate_min_per_s = 0.01;        // when not 0
inline constexpr double rate_max_per_s = 1e9;
inline constexpr double duration_max_s = 86400;
/// The payload's first bytes carry the send time; smaller messages measure no latency.
inline constexpr std::uint64_t timestamp_bytes = 8;

struct PerfOptions {
  std::uint32_t producers = 1;
  std::uint32_t consumers = 1;
  std::uint32_t queues = 1;
  std::uint32_t fanout = 1;  // >1: every message goes to each of this many queues
  std::uint64_t size_bytes = 64;
  std::uint32_t batch = 1;       // messages per corq_producer_send
  std::uint32_t prefetch = 256;  // consumer window; corq_consume takes up to this many
  std::uint32_t ack_batch = 1;   // 1: corq_ack each; N: corq_ack_upto every N deliveries
  double rate_per_s = 0;         // all producers together; 0 = closed loop, as fast as possible
  double duration_s = 10;        // measured time, after the warmup
  double warmup_s = 1;           // run but not measured
  bool durable = false;
  std::string sync = "always";    // engine option sync (with --dir)
  std::string dir;                // empty: in-memory engine
  bool nowait = false;            // CORQ_PUBLISH_NOWAIT
  std::uint64_t flush_every = 0;  // with --nowait: corq_producer_flush every N messages; 0 = at end
  bool json = false;
  bool quiet = false;  // no progress lines
};

/// What parsing decided.
enum class ParseOutcome { run, help, usage_error };

struct ParseResult {
  ParseOutcome outcome = ParseOutcome::run;
  std::string error;  // with usage_error: what was wrong, one line
  PerfOptions options;
};

/// Parses argv[1..argc). Never exits, never prints.
ParseResult parse_options(int argc, const char *const *argv);

/// The --help text.
std::string usage_text();
/// The short usage printed after a bad argument.
std::string usage_synopsis();

}  // namespace corq::perf

#endif  // CORQ_BENCH_CLI_PERF_OPTIONS_HPP
