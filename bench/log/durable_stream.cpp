// bench/log/durable_stream.cpp — durable stream appends through the C API (issue #17's "durable
// append of 64-byte records through a producer (NOWAIT batches + flush): ≥ 0.15× the device's
// bandwidth in payload bytes, like durable queues"):
//
//   stream_append_64B/<backend>   2 appender threads, each with its own corq_stream_producer on a
//       durable stream of 2 partitions (thread t appends with key "t", so each keeps to one
//       partition), corq_stream_producer_send of batches of 64 records of 64 B with
//       CORQ_PUBLISH_NOWAIT, and corq_sync every 4,096 records and at the end (a stream producer
//       has no flush of its own: corq_sync waits for the stream's log). Payload MB/s, records/s,
//       `bandwidth_ratio` over the raw 1 MiB write+fdatasync bandwidth measured right before and
//       right after the run, and `publish_ratio` over publish_64B's msgs/s of the same back end and
//       round (the durable queue doing the same job with single-message sends).
//
// The time runs from the start gate to the last thread's end: every counted record is durable.
// After the run the stream must hold every record appended.
#include "durable_harness.hpp"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

constexpr std::size_t stream_batch = 64;

std::string append_records(corq_engine *engine, const std::string &stream, unsigned thread,
                           std::uint64_t records) {
  corq_stream_producer *producer = nullptr;
  if (const int rc = corq_stream_producer_open(engine, stream.c_str(), &producer); rc != CORQ_OK)
    return corq_failure("corq_stream_producer_open", rc);
  std::vector<unsigned char> payload(small_msg_bytes, 0xa5);
  const std::vector<corq_message> batch(
      stream_batch, corq_message{payload.data(), payload.size(), nullptr, 0, nullptr});
  corq_publish_options options{};
  options.struct_size = sizeof(options);
  options.flags = CORQ_PUBLISH_NOWAIT;
  options.timeout_ms = wait_limit_ms;
  const std::string key = std::to_string(thread);
  std::string error;
  std::uint64_t since_sync = 0;
  for (std::uint64_t sent = 0; sent < records && error.empty();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(stream_batch, records - sent));
    if (const int rc = corq_stream_producer_send(producer, key.data(), key.size(), batch.data(), n,
                                                 &options, nullptr, nullptr);
        rc != CORQ_OK) {
      error = corq_failure("corq_stream_producer_send", rc);
      break;
    }
    sent += n;
    since_sync += n;
    if (since_sync >= msgs_per_flush || sent == records) {
      since_sync = 0;
      if (const int rc = corq_sync(engine, wait_limit_ms); rc != CORQ_OK)
        error = corq_failure("corq_sync", rc);
    }
  }
  corq_stream_producer_close(producer);
  return error;
}

std::string check_records(corq_engine *engine, const std::string &stream, std::uint64_t total) {
  corq_stream_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_stream_stats_get(engine, stream.c_str(), &stats); rc != CORQ_OK)
    return corq_failure("corq_stream_stats_get", rc);
  if (stats.records != total || stats.appended != total) {
    return "the stream holds " + std::to_string(stats.records) + " records (" +
           std::to_string(stats.appended) + " appended), sent " + std::to_string(total);
  }
  return {};
}

void run(benchmark::State &state, std::uint64_t records_per_thread,
         std::uint64_t paired_bandwidth_bytes, int round, const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  const std::string stream = "stream-append-64B-r" + std::to_string(round);
  corq_engine *engine = nullptr;
  // open_round_engine also declares a queue of this name: retire_engine deletes it again.
  std::string error = open_round_engine(backend, stream, engine);
  if (error.empty()) {
    corq_config *config = corq_config_new();
    corq_config_set(config, "partitions", "2");
    if (const int rc = corq_stream_declare(engine, stream.c_str(), config); rc != CORQ_OK)
      error = corq_failure("corq_stream_declare", rc);
    corq_config_free(config);
  }
  double seconds = 0, raw_before_s = 0, raw_after_s = 0;
  std::uint64_t written_bytes = 0;
  const std::uint64_t total = records_per_thread * producers;
  for (auto _ : state) {
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_before_s);
    const std::uint64_t written_before = process_write_bytes();
    if (error.empty()) {
      StartGate gate(producers);
      FinishLine finish;
      std::vector<std::string> errors(producers);
      std::vector<std::thread> threads;
      for (unsigned t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
          gate.arrive_and_wait();
          errors[t] = append_records(engine, stream, t, records_per_thread);
          finish.record();
        });
      }
      const auto start = gate.open();
      for (std::thread &thread : threads) thread.join();
      seconds = finish.seconds_since(start);
      for (const std::string &e : errors) {
        if (error.empty() && !e.empty()) error = e;
      }
    }
    written_bytes = process_write_bytes() - written_before;
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_after_s);
    if (error.empty()) error = check_records(engine, stream, total);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  if (engine != nullptr) corq_stream_delete(engine, stream.c_str());
  retire_engine(state, engine, stream);
  if (!error.empty()) return;
  const double n = static_cast<double>(total);
  const double payload_bytes_per_s = n * static_cast<double>(small_msg_bytes) / seconds;
  const double raw_bytes_per_s =
      static_cast<double>(2 * (paired_bandwidth_bytes >> 20 << 20)) / (raw_before_s + raw_after_s);
  state.counters["MB_per_s"] = payload_bytes_per_s / 1e6;
  state.counters["msgs_per_s"] = n / seconds;
  state.counters["written_bytes_per_msg"] = static_cast<double>(written_bytes) / n;
  state.counters["raw_MB_per_s"] = raw_bytes_per_s / 1e6;
  state.counters["bandwidth_ratio"] = payload_bytes_per_s / raw_bytes_per_s;
  state.counters["round"] = round;
  if (const double base = publish_rate(backend.name, round); base > 0) {
    state.counters["publish_msgs_per_s"] = base;
    state.counters["publish_ratio"] = n / seconds / base;
  }
}

}  // namespace

void register_stream_append_round(const DurableScale &scale, int round, const Backend &backend) {
  const std::uint64_t records = scale.small_msgs_per_producer;
  const std::uint64_t paired = scale.paired_bandwidth_bytes;
  const std::string name = std::string("stream_append_64B/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State &state) { run(state, records, paired, round, backend); }));
}

}  // namespace corq::bench::durable_bench
