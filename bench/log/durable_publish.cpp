// bench/log/durable_publish.cpp — durable throughput through the C API:
//
//   publish_64B/<backend>, publish_1KiB/<backend>   2 producers, single-message NOWAIT sends, a
//       corq_producer_flush every 4096 and at the end; nobody consumes (the queue keeps every
//       message ready). Payload MB/s, msgs/s, and `bandwidth_ratio`: payload bytes/s over the raw
//       1 MiB write+fdatasync bandwidth measured right before and right after the run
//       (`raw_MB_per_s`; targets ≥ 0.12× for 64 B, ≥ 0.5× for 1 KiB). `written_bytes_per_msg`:
//       what the process sent to storage per message (/proc/self/io).
//   pubsub_64B/<backend>   the same producers with 64 B messages plus consumers (prefetch 1024,
//       corq_ack_upto per corq_consume batch) until every message is acked and corq_sync returned;
//       `publish_ratio`: its msgs/s over publish_64B's of the same back end in the same round
//       (target ≥ 0.6×); `normalized_ratio` divides each by the raw bandwidth around it
//       (informational: how much of the ratio is the disk changing speed between the two runs).
//
// The time runs from the start gate to the last thread's end: every counted message is durable
// (and, for pubsub, acked durably). After the run the queue's stats are checked: every message
// published, and for pubsub every one acked, none left ready or in flight.
#include "durable_harness.hpp"

#include <algorithm>
#include <string>

namespace corq::bench::durable_bench {
namespace {

/// Checks the queue's counters after a run. "" or what is wrong.
std::string check_counts(corq_engine *engine, const std::string &queue, std::uint64_t published,
                         bool consumed) {
  corq_queue_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_queue_stats_get(engine, queue.c_str(), &stats); rc != CORQ_OK) {
    return corq_failure("corq_queue_stats_get", rc);
  }
  const std::uint64_t want_ready = consumed ? 0 : published;
  const std::uint64_t want_acked = consumed ? published : 0;
  if (stats.published != published || stats.ready != want_ready || stats.in_flight != 0 ||
      stats.acked != want_acked) {
    return "wrong counts after the run: published " + std::to_string(stats.published) + " (sent " +
           std::to_string(published) + "), ready " + std::to_string(stats.ready) + ", in flight " +
           std::to_string(stats.in_flight) + ", acked " + std::to_string(stats.acked);
  }
  return {};
}

void run(benchmark::State &state, std::size_t bytes, std::uint64_t msgs_per_producer,
         unsigned consumers, std::uint64_t paired_bandwidth_bytes, int round,
         const Backend &backend, const std::string &name) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  std::string queue = name + "-r" + std::to_string(round);
  std::replace(queue.begin(), queue.end(), '_', '-');  // queue names: [A-Za-z0-9._:-]
  corq_engine *engine = nullptr;
  std::string error = open_round_engine(backend, queue, engine);
  double seconds = 0, raw_before_s = 0, raw_after_s = 0;
  std::uint64_t written_bytes = 0;
  const std::uint64_t total = msgs_per_producer * producers;
  for (auto _ : state) {
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_before_s);
    const std::uint64_t written_before = process_write_bytes();
    if (error.empty()) {
      error = run_producers_consumers(engine, queue, bytes, msgs_per_producer, consumers, seconds);
    }
    written_bytes = process_write_bytes() - written_before;
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_after_s);
    if (error.empty()) error = check_counts(engine, queue, total, consumers > 0);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  retire_engine(state, engine, queue);
  if (!error.empty()) return;
  const double msgs = static_cast<double>(total);
  const double payload_bytes_per_s = msgs * static_cast<double>(bytes) / seconds;
  const double raw_bytes_per_s =
      static_cast<double>(2 * (paired_bandwidth_bytes >> 20 << 20)) / (raw_before_s + raw_after_s);
  state.counters["MB_per_s"] = payload_bytes_per_s / 1e6;
  state.counters["msgs_per_s"] = msgs / seconds;
  state.counters["written_bytes_per_msg"] = static_cast<double>(written_bytes) / msgs;
  state.counters["raw_MB_per_s"] = raw_bytes_per_s / 1e6;
  state.counters["bandwidth_ratio"] = payload_bytes_per_s / raw_bytes_per_s;
  state.counters["consumers"] = consumers;
  state.counters["round"] = round;
  if (consumers == 0 && bytes == small_msg_bytes) {
    set_publish_rate(backend.name, round, msgs / seconds);
    set_publish_rate(std::string(backend.name) + "/raw", round, raw_bytes_per_s);
  }
  if (consumers > 0) {
    const double base = publish_rate(backend.name, round);
    const double base_raw = publish_rate(std::string(backend.name) + "/raw", round);
    if (base > 0) {
      state.counters["publish_msgs_per_s"] = base;
      state.counters["publish_ratio"] = msgs / seconds / base;
      state.counters["normalized_ratio"] = (msgs / seconds / raw_bytes_per_s) / (base / base_raw);
    }
  }
}

}  // namespace

void register_publish_round(const DurableScale &scale, int round, const Backend &backend,
                            std::size_t bytes) {
  const bool small = bytes == small_msg_bytes;
  const std::uint64_t msgs = small ? scale.small_msgs_per_producer : scale.large_msgs_per_producer;
  const std::uint64_t paired = scale.paired_bandwidth_bytes;
  const std::string kind = small ? "publish_64B" : "publish_1KiB";
  const std::string name = kind + "/" + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &state) {
    run(state, bytes, msgs, 0, paired, round, backend, kind);
  }));
}

void register_pubsub_round(const DurableScale &scale, int round, const Backend &backend) {
  const std::uint64_t msgs = scale.small_msgs_per_producer;
  const std::uint64_t paired = scale.paired_bandwidth_bytes;
  const std::string name = std::string("pubsub_64B/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &state) {
    run(state, small_msg_bytes, msgs, pubsub_consumers, paired, round, backend, "pubsub_64B");
  }));
}

}  // namespace corq::bench::durable_bench
