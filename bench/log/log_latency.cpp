// bench/log/log_latency.cpp — the latency of one durable append: one thread appends a 64-byte
// record and waits for it to be durable (wait_durable), then the next: what a producer doing
// synchronous durable publishes one at a time sees, with nothing to share a group commit with.
//
//   latency_64B/<backend>   p50/p99/p99.9/max per repetition, and the ratios to the raw 4 KiB
//                           write+flush p50/p99/p99.9 measured in the same moments (targets:
//                           p50 ≤ 1.5×, p99 ≤ 2×): every chunk of 20 log samples is followed by 20
//                           raw samples on the baseline file in the same directory, so both sets
//                           see the disk in the same state (its speed changes by several times
//                           within a minute on a shared VM); the raw percentiles are reported too
//
// Each repetition opens the back end's log (recovering what earlier repetitions left), does
// `latency_warmup_samples` unrecorded appends, records `latency_samples`, then releases every
// segment before the one being written (the log stays a segment plus its spares on disk) and
// closes the log. Open, warm-up, release and close are outside the measured time.
#include "log_harness.hpp"

#include <algorithm>
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

/// Log samples and the raw 4 KiB write+flush samples taken between them.
struct PairedSamples {
  std::vector<std::uint64_t> log_ns;
  std::vector<std::uint64_t> raw_ns;
};

/// Records `samples.log_ns.size()` append+wait round trips after `warmup` unrecorded ones, in
/// chunks of paired_chunk_samples, each chunk followed by as many raw 4 KiB write+flush samples.
/// `seconds` is the log's own time (raw writes excluded).
std::string measure(wal::Log &log, std::uint64_t warmup, PairedSamples &samples, double &seconds) {
  std::vector<std::byte> payload(small_record_bytes, std::byte{0x5a});
  const wal::Record record{1, payload};
  for (std::uint64_t i = 0; i < warmup; ++i) {
    if (const int rc = append_durably(log, record); rc != 0) {
      return std::string("warm-up append/wait_durable: ") + std::strerror(-rc);
    }
  }
  std::chrono::steady_clock::duration log_time{};
  const std::size_t total = samples.log_ns.size();
  for (std::size_t chunk_start = 0; chunk_start < total; chunk_start += paired_chunk_samples) {
    const std::size_t chunk_end = std::min<std::size_t>(chunk_start + paired_chunk_samples, total);
    for (std::size_t i = chunk_start; i < chunk_end; ++i) {
      const auto before = std::chrono::steady_clock::now();
      if (const int rc = append_durably(log, record); rc != 0) {
        return std::string("append/wait_durable: ") + std::strerror(-rc);
      }
      const auto took = std::chrono::steady_clock::now() - before;
      log_time += took;
      samples.log_ns[i] = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
    }
    for (std::size_t i = chunk_start; i < chunk_end; ++i) {
      if (std::string error = raw_small_write(samples.raw_ns[i]); !error.empty()) {
        return "raw write: " + error;
      }
    }
  }
  seconds = std::chrono::duration<double>(log_time).count();
  return {};
}

void run(benchmark::State &state, const LogScale &scale, int round, const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  std::unique_ptr<wal::Log> log;
  std::string error = open_log(backend, log);
  PairedSamples samples{std::vector<std::uint64_t>(scale.latency_samples),
                        std::vector<std::uint64_t>(scale.latency_samples)};
  for (auto _ : state) {
    double seconds = 0;
    if (error.empty()) error = measure(*log, scale.latency_warmup_samples, samples, seconds);
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
  report_paired_percentiles(state, samples.log_ns, samples.raw_ns);
  state.counters["round"] = round;
}

}  // namespace

void register_log_latency_round(const LogScale &scale, int round, const Backend &backend) {
  const std::string name = std::string("latency_64B/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State &state) { run(state, scale, round, backend); }));
}

}  // namespace corq::bench::wal_bench
