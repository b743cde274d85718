// bench/log/durable_recovery.cpp — how long corq_open takes to recover a data directory, and how
// much of the directory a settled history leaves:
//
//   recovery_unsettled/<backend>  a fresh directory; 2 producers publish `unsettled_msgs` 64 B
//       messages in all (single NOWAIT sends, a flush every 4096, as publish_64B) and nobody
//       consumes; corq_close; then corq_open of the directory is timed (`reopen_s`, target ≤ 1.5 s
//       for 1M) and the recovered queue must hold every message ready.
//   recovery_settled/<backend>    a fresh directory; one producer publishes `settled_msgs` 64 B
//       messages in batches of 256 (corq_producer_send, NOWAIT, a flush every 4096), one consumer
//       (prefetch 1024) acks each corq_consume batch with corq_ack_upto as they come (the queue's
//       default max_length bounds what is ready); corq_sync; corq_close; then the *.wal files in
//       the directory are counted (`wal_files`, target ≤ 3 of the default 64 MiB) and corq_open is
//       timed (`reopen_s`, target ≤ 0.2 s for 6M); the recovered queue must be empty.
//       `disk_open_MiB` / `disk_MiB`: what the directory takes on disk (du: allocated blocks)
//       right before corq_close and after it, whether or not a checkpoint ran after the last
//       acks; `disk_idle_MiB`: the same once the checkpointer caught up — after the reopen, given
//       up to a few seconds (not measured) to release every sealed segment, then corq_close
//       (target: ≤ two segments + 1 MiB).
//
// The measured time of a repetition is the reopen. Each directory is removed afterwards.
#include "durable_harness.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

constexpr const char *queue_name = "recovery";

/// Publishes `msgs` in batches of settled_publish_batch while one consumer acks them.
std::string publish_and_ack(corq_engine *engine, std::uint64_t msgs) {
  std::string producer_error, consumer_error;
  std::thread producer_thread([&] {
    corq_producer *producer = nullptr;
    if (const int rc = corq_producer_open(engine, queue_name, &producer); rc != CORQ_OK) {
      producer_error = corq_failure("corq_producer_open", rc);
      return;
    }
    std::vector<unsigned char> payload(small_msg_bytes, 0x3c);
    const std::vector<corq_message> batch(
        settled_publish_batch, corq_message{payload.data(), payload.size(), nullptr, 0, nullptr});
    corq_publish_options options{};
    options.struct_size = sizeof(options);
    options.flags = CORQ_PUBLISH_NOWAIT;
    options.timeout_ms = wait_limit_ms;
    std::uint64_t since_flush = 0;
    for (std::uint64_t sent = 0; sent < msgs && producer_error.empty();) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(settled_publish_batch, msgs - sent));
      if (const int rc = corq_producer_send(producer, batch.data(), n, &options, nullptr);
          rc != 0) {
        producer_error = corq_failure("corq_producer_send", rc);
        break;
      }
      sent += n;
      since_flush += n;
      if (since_flush >= msgs_per_flush || sent == msgs) {
        since_flush = 0;
        if (const int rc = corq_producer_flush(producer, wait_limit_ms); rc != 0) {
          producer_error = corq_failure("corq_producer_flush", rc);
        }
      }
    }
    corq_producer_close(producer);
  });
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_consumer_open(engine, queue_name, consumer_prefetch, &consumer);
      rc != CORQ_OK) {
    consumer_error = corq_failure("corq_consumer_open", rc);
  }
  std::vector<corq_delivery> deliveries(consumer_prefetch);
  std::uint64_t acked = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (consumer_error.empty() && acked < msgs) {
    const int n = corq_consume(consumer, deliveries.data(), deliveries.size(), 20);
    if (n < 0) {
      consumer_error = corq_failure("corq_consume", n);
    } else if (n > 0) {
      const int rc = corq_ack_upto(consumer, deliveries[static_cast<std::size_t>(n) - 1].tag);
      if (rc != CORQ_OK) consumer_error = corq_failure("corq_ack_upto", rc);
      acked += static_cast<std::uint64_t>(n);
      last_progress = std::chrono::steady_clock::now();
    } else if (!producer_error.empty() || std::chrono::steady_clock::now() - last_progress >
                                              std::chrono::milliseconds(wait_limit_ms)) {
      consumer_error =
          "stalled at " + std::to_string(acked) + " of " + std::to_string(msgs) + " acked";
    }
  }
  producer_thread.join();
  if (consumer != nullptr) corq_consumer_close(consumer);
  if (!producer_error.empty()) return producer_error;
  if (!consumer_error.empty()) return consumer_error;
  if (const int rc = corq_sync(engine, wait_limit_ms); rc != CORQ_OK) {
    return corq_failure("corq_sync", rc);
  }
  return {};
}

/// Gives the checkpointer (every 200 ms) up to a few seconds to release every sealed segment of a
/// log whose messages are all settled.
void wait_for_release(corq_engine *engine) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (log_info(engine).segments > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

/// The recovered queue's ready count must be `want` (and nothing in flight or delayed).
std::string check_recovered(corq_engine *engine, std::uint64_t want) {
  corq_queue_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_queue_stats_get(engine, queue_name, &stats); rc != CORQ_OK) {
    return corq_failure("corq_queue_stats_get after reopen", rc);
  }
  if (stats.ready != want || stats.in_flight != 0 || stats.delayed != 0) {
    return "after reopen: ready " + std::to_string(stats.ready) + " (want " + std::to_string(want) +
           "), in flight " + std::to_string(stats.in_flight) + ", delayed " +
           std::to_string(stats.delayed);
  }
  return {};
}

void run(benchmark::State &state, bool settled, std::uint64_t msgs, int round,
         const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  const std::string dir = bench_dir() + "/recovery-" + (settled ? "settled-" : "unsettled-") +
                          backend.name + "-r" + std::to_string(round);
  std::string error;
  double fill_s = 0, close_s = 0, reopen_s = 0;
  std::uint64_t wal_files = 0, wal_bytes = 0, wal_files_reopened = 0;
  std::uint64_t disk_open = 0, disk_closed = 0, disk_idle = 0;
  LogInfo info;
  for (auto _ : state) {
    corq_engine *engine = nullptr;
    error = open_engine(dir, backend, engine);
    if (error.empty()) error = declare_queue(engine, queue_name, !settled);
    const auto fill_start = std::chrono::steady_clock::now();
    if (error.empty()) {
      if (settled) {
        error = publish_and_ack(engine, msgs);
      } else {
        error = run_producers_consumers(engine, queue_name, small_msg_bytes, msgs / producers, 0,
                                        fill_s);
      }
    }
    fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count();
    if (engine != nullptr) {
      info = log_info(engine);
      disk_open = disk_bytes(dir);
      const auto close_start = std::chrono::steady_clock::now();
      corq_close(engine);
      close_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - close_start).count();
      engine = nullptr;
    }
    wal_files = count_wal_files(dir, &wal_bytes);
    disk_closed = disk_bytes(dir);
    if (error.empty()) {
      const auto open_start = std::chrono::steady_clock::now();
      error = open_engine(dir, backend, engine);
      reopen_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - open_start).count();
    }
    if (error.empty()) error = check_recovered(engine, settled ? 0 : msgs / producers * producers);
    if (settled && error.empty()) wait_for_release(engine);
    if (engine != nullptr) corq_close(engine);
    disk_idle = disk_bytes(dir);
    wal_files_reopened = count_wal_files(dir);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(reopen_s);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!error.empty()) return;
  label_from(state, info);
  state.counters["msgs"] = static_cast<double>(settled ? msgs : msgs / producers * producers);
  state.counters["reopen_s"] = reopen_s;
  state.counters["fill_s"] = fill_s;
  state.counters["fill_msgs_per_s"] = static_cast<double>(msgs) / fill_s;
  state.counters["close_s"] = close_s;
  state.counters["wal_files"] = static_cast<double>(wal_files);
  state.counters["wal_MiB"] = static_cast<double>(wal_bytes) / (1 << 20);
  state.counters["disk_open_MiB"] = static_cast<double>(disk_open) / (1 << 20);
  state.counters["disk_MiB"] = static_cast<double>(disk_closed) / (1 << 20);
  if (settled) state.counters["disk_idle_MiB"] = static_cast<double>(disk_idle) / (1 << 20);
  state.counters["wal_files_after_reopen"] = static_cast<double>(wal_files_reopened);
  state.counters["checkpoints"] = static_cast<double>(info.checkpoints);
  state.counters["round"] = round;
}

}  // namespace

void register_recovery_round(const DurableScale &scale, int round, const Backend &backend) {
  const std::uint64_t unsettled = scale.unsettled_msgs, settled = scale.settled_msgs;
  configure_log_run(benchmark::RegisterBenchmark(
      (std::string("recovery_unsettled/") + backend.name).c_str(),
      [=](benchmark::State &state) { run(state, false, unsettled, round, backend); }));
  configure_log_run(benchmark::RegisterBenchmark(
      (std::string("recovery_settled/") + backend.name).c_str(),
      [=](benchmark::State &state) { run(state, true, settled, round, backend); }));
}

}  // namespace corq::bench::durable_bench
