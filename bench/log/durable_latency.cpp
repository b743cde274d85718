// bench/log/durable_latency.cpp — latency_64B/<backend>: one thread publishes a 64-byte message
// with corq_publish (sync=always: the call returns once the message is durable), then the next.
// Every chunk of 20 publishes is followed by 20 raw 4 KiB pwrite+fdatasync samples in the same
// directory, so the ratios (p50 ≤ 1.5×, p99 ≤ 2× the raw p50/p99) compare moments of the same disk.
// Open, declare, warm-up, queue delete and close are outside the measured time.
#include "durable_harness.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

struct PairedSamples {
  std::vector<std::uint64_t> publish_ns;
  std::vector<std::uint64_t> raw_ns;
};

std::string measure(corq_engine *engine, const std::string &queue, std::uint64_t warmup,
                    PairedSamples &samples, double &seconds) {
  std::vector<unsigned char> payload(small_msg_bytes, 0x5a);
  const corq_message message{payload.data(), payload.size(), nullptr, 0, nullptr};
  for (std::uint64_t i = 0; i < warmup; ++i) {
    if (const int rc = corq_publish(engine, queue.c_str(), &message, nullptr, nullptr); rc != 0) {
      return corq_failure("warm-up corq_publish", rc);
    }
  }
  std::chrono::steady_clock::duration publish_time{};
  const std::size_t total = samples.publish_ns.size();
  for (std::size_t chunk_start = 0; chunk_start < total; chunk_start += paired_chunk_samples) {
    const std::size_t chunk_end = std::min<std::size_t>(chunk_start + paired_chunk_samples, total);
    for (std::size_t i = chunk_start; i < chunk_end; ++i) {
      const auto before = std::chrono::steady_clock::now();
      if (const int rc = corq_publish(engine, queue.c_str(), &message, nullptr, nullptr); rc != 0) {
        return corq_failure("corq_publish", rc);
      }
      const auto took = std::chrono::steady_clock::now() - before;
      publish_time += took;
      samples.publish_ns[i] = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
    }
    for (std::size_t i = chunk_start; i < chunk_end; ++i) {
      if (std::string error = raw_small_write(samples.raw_ns[i]); !error.empty()) {
        return "raw write: " + error;
      }
    }
  }
  seconds = std::chrono::duration<double>(publish_time).count();
  return {};
}

void run(benchmark::State &state, const DurableScale &scale, int round, const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  const std::string queue = "latency-r" + std::to_string(round);
  corq_engine *engine = nullptr;
  std::string error = open_round_engine(backend, queue, engine);
  PairedSamples samples{std::vector<std::uint64_t>(scale.latency_samples),
                        std::vector<std::uint64_t>(scale.latency_samples)};
  for (auto _ : state) {
    double seconds = 0;
    if (error.empty())
      error = measure(engine, queue, scale.latency_warmup_samples, samples, seconds);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  retire_engine(state, engine, queue);
  if (!error.empty()) return;
  report_paired_percentiles(state, samples.publish_ns, samples.raw_ns);
  state.counters["round"] = round;
}

}  // namespace

void register_latency_round(const DurableScale &scale, int round, const Backend &backend) {
  const std::string name = std::string("latency_64B/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State &state) { run(state, scale, round, backend); }));
}

}  // namespace corq::bench::durable_bench
