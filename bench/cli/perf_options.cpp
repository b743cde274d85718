// bench/cli/perf_options.cpp — parsing corq-perf's flags: every value is checked in full (no
// trailing characters, inside its limits), and every cross-flag rule is checked here, so that a
// run never starts with parameters it cannot honour.
#include "perf_options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace corq::perf {
namespace {

/// Parses a whole unsigned decimal number in [min, max]; false on anything else.
bool parse_unsigned(const std::string &text, std::uint64_t min, std::uint64_t max,
                    std::uint64_t &out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;  // no sign, no space
  errno = 0;
  char *end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max) return false;
  out = value;
  return true;
}

/// Parses a whole finite decimal number in [min, max]; false on anything else.
bool parse_double(const std::string &text, double min, double max, double &out) {
  if (text.empty() || !(text[0] == '.' || (text[0] >= '0' && text[0] <= '9'))) return false;
  errno = 0;
  char *end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value) || value < min || value > max) {
    return false;
  }
  out = value;
  return true;
}

/// The parser's state: the arguments and the flag being read.
class Parser {
 public:
  Parser(int argc, const char *const *argv) : argc_(argc), argv_(argv) {}

  ParseResult run();

 private:
  bool take_value(const std::string &flag, std::string &value);
  bool fail(const std::string &message) {
    result_.outcome = ParseOutcome::usage_error;
    result_.error = message;
    return false;
  }
  bool unsigned_flag(const std::string &flag, const std::string &value, std::uint64_t min,
                     std::uint64_t max, std::uint64_t &out);
  template <class T>
  bool unsigned_flag_as(const std::string &flag, const std::string &value, std::uint64_t min,
                        std::uint64_t max, T &out) {
    std::uint64_t wide = 0;
    if (!unsigned_flag(flag, value, min, max, wide)) return false;
    out = static_cast<T>(wide);
    return true;
  }
  bool double_flag(const std::string &flag, const std::string &value, double min, double max,
                   double &out);
  bool one_flag(const std::string &flag, const std::string &inline_value, bool has_inline);
  bool check_combination();

  int argc_;
  const char *const *argv_;
  int next_ = 1;
  ParseResult result_;
};

bool Parser::take_value(const std::string &flag, std::string &value) {
  if (next_ >= argc_) return fail(flag + " needs a value");
  value = argv_[next_++];
  return true;
}

bool Parser::unsigned_flag(const std::string &flag, const std::string &value, std::uint64_t min,
                           std::uint64_t max, std::uint64_t &out) {
  if (parse_unsigned(value, min, max, out)) return true;
  return fail(flag + " takes a whole number in [" + std::to_string(min) + ", " +
              std::to_string(max) + "], got '" + value + "'");
}

bool Parser::double_flag(const std::string &flag, const std::string &value, double min, double max,
                         double &out) {
  if (parse_double(value, min, max, out)) return true;
  return fail(flag + " takes a number in [" + std::to_string(min) + ", " + std::to_string(max) +
              "], got '" + value + "'");
}

/// Reads one flag (and its value: inline after '=' or the next argument).
bool Parser::one_flag(const std::string &flag, const std::string &inline_value, bool has_inline) {
  PerfOptions &o = result_.options;
  const bool is_switch = flag == "--durable" || flag == "--json" || flag == "--nowait" ||
                         flag == "--quiet" || flag == "--help" || flag == "-h";
  if (is_switch) {
    if (has_inline) return fail(flag + " takes no value");
    if (flag == "--durable") o.durable = true;
    if (flag == "--json") o.json = true;
    if (flag == "--nowait") o.nowait = true;
    if (flag == "--quiet") o.quiet = true;
    if (flag == "--help" || flag == "-h") result_.outcome = ParseOutcome::help;
    return true;
  }
  static constexpr std::string_view valued[] = {
      "--producers", "--consumers", "--queues", "--size", "--batch", "--prefetch",    "--ack-batch",
      "--rate",      "--duration",  "--warmup", "--sync", "--dir",   "--flush-every", "--fanout"};
  bool known = false;
  for (std::string_view name : valued) known = known || flag == name;
  if (!known) return fail("unknown flag '" + flag + "'");
  std::string value = inline_value;
  if (!has_inline && !take_value(flag, value)) return false;

  if (flag == "--producers") return unsigned_flag_as(flag, value, 1, threads_max, o.producers);
  if (flag == "--consumers") return unsigned_flag_as(flag, value, 1, threads_max, o.consumers);
  if (flag == "--queues") return unsigned_flag_as(flag, value, 1, queues_max, o.queues);
  if (flag == "--fanout") return unsigned_flag_as(flag, value, 1, queues_max, o.fanout);
  if (flag == "--size") return unsigned_flag_as(flag, value, 0, size_max_bytes, o.size_bytes);
  if (flag == "--batch") return unsigned_flag_as(flag, value, 1, batch_max, o.batch);
  if (flag == "--prefetch") return unsigned_flag_as(flag, value, 1, prefetch_max, o.prefetch);
  if (flag == "--ack-batch") return unsigned_flag_as(flag, value, 1, prefetch_max, o.ack_batch);
  if (flag == "--flush-every") {
    return unsigned_flag_as(flag, value, 0, std::uint64_t{1} << 40, o.flush_every);
  }
  if (flag == "--rate") return double_flag(flag, value, 0, rate_max_per_s, o.rate_per_s);
  if (flag == "--duration") return double_flag(flag, value, 0.1, duration_max_s, o.duration_s);
  if (flag == "--warmup") return double_flag(flag, value, 0, duration_max_s, o.warmup_s);
  if (flag == "--sync") {
    if (value != "always" && value != "none") {
      return fail("--sync takes 'always' or 'none', got '" + value + "'");
    }
    o.sync = value;
    return true;
  }
  // --dir
  if (value.empty()) return fail("--dir needs a non-empty path");
  o.dir = value;
  return true;
}

/// Rules between flags.
bool Parser::check_combination() {
  const PerfOptions &o = result_.options;
  if (o.queues > o.producers || o.queues > o.consumers) {
    return fail("--queues (" + std::to_string(o.queues) +
                ") must not exceed --producers or --consumers: every queue needs both");
  }
  if (o.fanout > 1 && o.queues != 1) {
    return fail("--fanout (" + std::to_string(o.fanout) +
                ") makes its own queues perf-0..perf-N-1: leave --queues at 1");
  }
  if (o.fanout > o.consumers) {
    return fail("--fanout (" + std::to_string(o.fanout) +
                ") must not exceed --consumers: every queue needs a consumer");
  }
  if (o.ack_batch > o.prefetch) {
    return fail("--ack-batch (" + std::to_string(o.ack_batch) + ") must not exceed --prefetch (" +
                std::to_string(o.prefetch) + "): the window would fill before the ack");
  }
  if (o.durable && o.dir.empty()) return fail("--durable needs --dir PATH");
  if (o.flush_every != 0 && !o.nowait) return fail("--flush-every only applies with --nowait");
  if (o.rate_per_s > 0 && o.rate_per_s < rate_min_per_s) {
    return fail("--rate takes 0 (closed loop) or at least " + std::to_string(rate_min_per_s));
  }
  return true;
}

ParseResult Parser::run() {
  while (next_ < argc_ && result_.outcome != ParseOutcome::usage_error) {
    const std::string argument = argv_[next_++];
    if (argument.rfind("-", 0) != 0) {
      fail("unexpected argument '" + argument + "'");
      break;
    }
    const std::size_t equals = argument.find('=');
    const bool has_inline = equals != std::string::npos;
    const std::string flag = has_inline ? argument.substr(0, equals) : argument;
    one_flag(flag, has_inline ? argument.substr(equals + 1) : std::string(), has_inline);
  }
  if (result_.outcome == ParseOutcome::run) check_combination();
  return result_;
}

}  // namespace

ParseResult parse_options(int argc, const char *const *argv) { return Parser(argc, argv).run(); }

std::string usage_synopsis() {
  return "usage: corq-perf [--producers N] [--consumers N] [--queues N] [--fanout N] [--size "
         "BYTES] [--batch N]\n"
         "                 [--prefetch N] [--ack-batch N] [--rate MSGS_PER_S] [--duration S]\n"
         "                 [--warmup S] [--durable] [--dir PATH] [--sync always|none] [--nowait]\n"
         "                 [--flush-every N] [--json] [--quiet] [--help]\n"
         "corq-perf --help describes them.\n";
}

std::string usage_text() {
  return R"(usage: corq-perf [flags]

Load generator for corq over its C API: producers publish to queues, consumers consume and ack,
and every message's latency from publish to delivery is measured.

  --producers N     producer threads, each with a corq_producer (1-256; default 1)
  --consumers N     consumer threads, each with a corq_consumer (1-256; default 1)
  --queues N        queues perf-0..perf-N-1; producer i and consumer i use queue i mod N
                    (1-256, at most --producers and --consumers; default 1)
  --fanout N        fan-out: queues perf-0..perf-N-1, every producer publishes each batch to all
                    of them (one corq_producer per queue); consumer i uses queue i mod N; rates
                    and latencies count every copy (1-256, at most --consumers; default 1)
  --size BYTES      payload size (0-67108864; default 64); below 8 no latency is measured
  --batch N         messages per corq_producer_send (1-65536; default 1)
  --prefetch N      consumer window, and most deliveries per corq_consume (1-65536; default 256)
  --ack-batch N     1: corq_ack every delivery; N > 1: one corq_ack_upto per N deliveries
                    (at most --prefetch; default 1)
  --rate MSGS_PER_S open loop: all producers together send this many messages per second on a
                    fixed schedule (0 = closed loop, as fast as possible; default 0)
  --duration S      measured seconds (0.1-86400; default 10)
  --warmup S        seconds run before measuring starts (default 1)
  --durable         durable queues (needs --dir)
  --dir PATH        data directory: a disk engine (corq_open(PATH, ...))
  --sync always|none  engine option sync, with --dir (default always)
  --nowait          publish with CORQ_PUBLISH_NOWAIT (do not wait for durability)
  --flush-every N   with --nowait: corq_producer_flush after every N messages (default 0: at end)
  --json            print one JSON object on stdout instead of the summary
  --quiet           no progress lines on stderr
  --help            this text

Latency: each message carries its send time (CLOCK_MONOTONIC ns) in its first 8 bytes; the
consumer records delivery time minus send time into a log-bucketed histogram (2 significant
digits), one per consumer thread, merged at the end. Closed loop: the send time is read just
before corq_producer_send. Open loop (--rate > 0): batch k of a producer is due at
start + k x batch / (rate / producers) whatever happened before, and its messages carry that
*intended* time, not the moment the send actually happened. A producer that falls behind (a
stall in the engine, a full queue, a descheduled thread) sends late and catches up at once, and
the delay shows up as latency of every message that should have gone out meanwhile, instead of
being hidden by a schedule that slowed down (coordinated omission).

Output: one progress line per second on stderr (elapsed, publish and consume rate, p99 latency of
that second, ready/in-flight messages), then a summary on stdout (or with --json one object with
published_per_s, consumed_per_s, mb_per_s, latency_us {p50, p90, p99, p999, max}, the parameters).
After --duration the producers stop and the consumers drain what was published (up to 30 s), so
the latency of every measured message is counted; rates count the measured seconds only.

Exit codes: 0 done, 1 a corq call failed (its error is printed), 2 bad arguments.
)";
}

}  // namespace corq::perf
