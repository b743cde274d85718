// bench/log/log_latency.cpp — the latency of one durable append: one thread appends a 64-byte
// record and waits for it to be durable (wait_durable), then the next: what a producer doing
// synchronous durable publishes one at a time sees, with nothing to share a group commit with.
//
//   latency_64B/<backend>   p50/p99/p99.9/max per repetition, and the ratios to the raw 4 KiB
//                           write+flush p50/p99 of the same round (targets: p50 ≤ 1.5×, p99 ≤ 2×)
//
// Each repetition opens the back end's log (recovering what earlier repetitions left), does
// `latency_warmup_samples` unrecorded appends, records `latency_samples`, then releases every
// segment before the one being written (the log stays a segment plus its spares on disk) and
// closes the log. Open, warm-up, release and close are outside the measured time.
#include "log_harness.hpp"

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {
namespace {

/// Appends one record and waits until it is durable. Returns 0 or -errno.
int append_durably(wal::Log &log, const wal::Record &record) {
  wal::Lsn last = 0;
  if (const int rc = log.append({&record, 1}, last); rc != 0) return rc;
  return log.wait_durable(
      last, std::chrono::steady_clock::now() + std::chrono::seconds(durable_wait_limit_s));
}

/// Records `samples_ns.size()` append+wait round trips after `warmup` unrecorded ones.
std::string measure(wal::Log &log, std::uint64_t warmup, std::vector<std::uint64_t> &samples_ns,
                    double &seconds) {
  std::vector<std::byte> payload(small_record_bytes, std::byte{0x5a});
  const wal::Record record{1, payload};
  for (std::uint64_t i = 0; i < warmup; ++i) {
    if (const int rc = append_durably(log, record); rc != 0) {
      return std::string("warm-up append/wait_durable: ") + std::strerror(-rc);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t &sample : samples_ns) {
    const auto before = std::chrono::steady_clock::now();
    if (const int rc = append_durably(log, record); rc != 0) {
      return std::string("append/wait_durable: ") + std::strerror(-rc);
    }
    sample = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now() - before)
                                            .count());
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
}

void run(benchmark::State &state, const LogScale &scale, int round, const Backend &backend) {
  if (!backend.unavailable.empty()) {
    state.SkipWithError(("skipped: " + backend.unavailable).c_str());
    for (auto _ : state) {
    }
    return;
  }
  std::unique_ptr<wal::Log> log;
  std::string error = open_log(backend, log);
  std::vector<std::uint64_t> samples_ns(scale.latency_samples);
  for (auto _ : state) {
    double seconds = 0;
    if (error.empty()) error = measure(*log, scale.latency_warmup_samples, samples_ns, seconds);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  if (log != nullptr) {
    // Single-threaded and everything durable: the writer is idle, so releasing cannot race it.
    log->release_before(log->durable_lsn() + 1);
    state.counters["direct_io"] = log->direct_io() ? 1 : 0;
    state.SetLabel(std::string(log->backend_name()) + (log->direct_io() ? ", O_DIRECT" : ""));
    log->close();
  }
  if (!error.empty()) return;
  report_percentiles(state, samples_ns);  // sorts
  const RawRound &raw = raw_round();
  if (raw.round == round && raw.p50_ns > 0) {
    state.counters["raw_p50_us"] = raw.p50_ns / 1e3;
    state.counters["raw_p99_us"] = raw.p99_ns / 1e3;
    state.counters["p50_ratio"] = quantile_of_sorted(samples_ns, 0.50) / raw.p50_ns;
    state.counters["p99_ratio"] = quantile_of_sorted(samples_ns, 0.99) / raw.p99_ns;
    state.counters["p999_ratio"] = quantile_of_sorted(samples_ns, 0.999) / raw.p999_ns;
  }
  state.counters["samples"] = static_cast<double>(samples_ns.size());
  state.counters["round"] = round;
}

}  // namespace

void register_log_latency_round(const LogScale &scale, int round, const Backend &backend) {
  const std::string name = std::string("latency_64B/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State &state) { run(state, scale, round, backend); }));
}

}  // namespace corq::bench::wal_bench
