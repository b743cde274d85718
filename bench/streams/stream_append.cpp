// bench/streams/stream_append.cpp — one thread appending 64-byte records to a stream, next to the
// same thread publishing 64-byte messages into a queue, in the same rounds.
//
// Scenarios (benchmark names `append/<path>`):
//   stream_append      corq_stream_append(engine, "append", NULL, 0, &m, ...): one record per call,
//                      no key (the stream is found by name on every call)
//   stream_producer64  corq_stream_producer_send(p, NULL, 0, batch, 64, ...): one batch of 64 per
//                      call
//   queue_publish      baseline of stream_append: corq_publish(engine, "append", &m, ...)
//   queue_producer64   baseline of stream_producer64: corq_producer_send(p, batch, 64, ...)
//
// Each repetition opens a fresh in-memory engine and declares either a stream (one partition,
// retention_records 1M, discard=old) or a queue (default options: transient, max_length 1M), then
// one thread pinned to CPU 0 appends `append_warmup` records (not measured) followed by the
// measured `append_records`, all through the same call. The stream reaches its retention during the
// warm-up, so every measured append also deletes the oldest record (and drops a chunk every 4096
// records): the steady state of a stream that keeps the last million records. The queue would fill
// up instead: every 65,536 messages the clock stops and the queue is purged on the same thread, as
// in the routing suite's publisher-alone mode (the purge is not timed; a stream's retention is, as
// it happens inside the append). Nobody reads: these rows are the write path alone.
//
// Each run reports records per second by the wall clock and by the thread's own CPU time
// (CLOCK_THREAD_CPUTIME_ID: on this shared 2-core machine other processes take the core for
// milliseconds at a time, which the wall clock counts), and the per-call time of every 8th call
// (TSC), whose p99 shows the calls that start a new chunk. At the end the stream must hold exactly
// its retention (appended = warm-up + measured, records = min(that, 1M)) and the queue exactly the
// messages of the last chunk.
#include "stream_harness.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::streams {
namespace {

enum class Path { stream_append, stream_producer, queue_publish, queue_producer };
constexpr const char *target_name = "append";

bool is_stream(Path path) { return path == Path::stream_append || path == Path::stream_producer; }
std::size_t per_call(Path path) {
  return path == Path::stream_producer || path == Path::queue_producer ? batch_records : 1;
}

struct AppendOutcome {
  double seconds = 0;      // the measured appends, wall clock (purges excluded)
  double cpu_seconds = 0;  // the same span in the thread's CPU time
  std::uint64_t records = 0;
  std::uint64_t deleted = 0;  // stream: records retention deleted during the measured appends
  std::vector<std::uint64_t> ticks;
  std::uint64_t preemptions = 0;
  bool pinned = false;
  std::string error{};
};

/// The handles of one repetition.
struct Target {
  corq_engine *engine = nullptr;
  corq_stream_producer *stream_producer = nullptr;
  corq_producer *queue_producer = nullptr;

  int append(Path path, const Batch &batch) const {
    switch (path) {
      case Path::stream_append:
        return corq_stream_append(engine, target_name, nullptr, 0, batch.messages(), nullptr,
                                  nullptr, nullptr);
      case Path::stream_producer:
        return corq_stream_producer_send(stream_producer, nullptr, 0, batch.messages(),
                                         batch.size(), nullptr, nullptr, nullptr);
      case Path::queue_publish:
        return corq_publish(engine, target_name, batch.messages(), nullptr, nullptr);
      case Path::queue_producer:
        return corq_producer_send(queue_producer, batch.messages(), batch.size(), nullptr, nullptr);
    }
    return CORQ_EINVAL;
  }
};

std::string stream_deleted(corq_engine *engine, std::uint64_t &deleted) {
  corq_stream_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_stream_stats_get(engine, target_name, &stats); rc != CORQ_OK)
    return corq_failure("corq_stream_stats_get", rc);
  deleted = stats.deleted;
  return {};
}

/// The appends of one repetition, on the calling (pinned) thread.
std::string append_all(Path path, const Target &target, const StreamScale &scale,
                       AppendOutcome &run) {
  const std::size_t count = per_call(path);
  const std::uint64_t warmup_calls = scale.append_warmup / count;
  const std::uint64_t measured_calls = scale.append_records / count;
  const std::uint64_t total_calls = warmup_calls + measured_calls;
  const std::uint64_t purge_calls = purge_chunk / count;  // 65,536 is a multiple of 64
  const bool stream = is_stream(path);
  const char *what = path == Path::stream_append     ? "corq_stream_append"
                     : path == Path::stream_producer ? "corq_stream_producer_send"
                     : path == Path::queue_publish   ? "corq_publish"
                                                     : "corq_producer_send";
  Batch batch(count);
  run.records = measured_calls * count;
  run.ticks.clear();
  run.ticks.reserve(measured_calls / latency_sample_every + 1);
  std::uint64_t deleted_before = 0;
  using Clock = std::chrono::steady_clock;
  Clock::time_point start{};
  Clock::duration measured{};
  double cpu_start = 0;
  for (std::uint64_t call = 0; call < total_calls; ++call) {
    const bool measuring = call >= warmup_calls;
    if (!stream && call % purge_calls == 0 && call != 0) {
      if (measuring && call != warmup_calls) {
        measured += Clock::now() - start;
        run.cpu_seconds += thread_cpu_seconds() - cpu_start;
      }
      if (const int rc = corq_queue_purge(target.engine, target_name, nullptr); rc != CORQ_OK)
        return corq_failure("corq_queue_purge", rc);
      if (measuring && call != warmup_calls) {
        cpu_start = thread_cpu_seconds();
        start = Clock::now();
      }
    }
    if (call == warmup_calls) {
      if (stream) {
        if (std::string error = stream_deleted(target.engine, deleted_before); !error.empty())
          return error;
      }
      cpu_start = thread_cpu_seconds();
      start = Clock::now();
    }
    batch.number(call * count);
    const bool sampled = measuring && call % latency_sample_every == 0;
    const std::uint64_t before = sampled ? ticks_now() : 0;
    const int rc = target.append(path, batch);
    if (sampled) run.ticks.push_back(ticks_now() - before);
    if (rc != CORQ_OK) return corq_failure(what, rc);
  }
  measured += Clock::now() - start;
  run.cpu_seconds += thread_cpu_seconds() - cpu_start;
  run.seconds = std::chrono::duration<double>(measured).count();

  const std::uint64_t total = total_calls * count;
  if (stream) {
    corq_stream_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_stream_stats_get(target.engine, target_name, &stats); rc != CORQ_OK)
      return corq_failure("corq_stream_stats_get", rc);
    const std::uint64_t kept = total < retention_records ? total : retention_records;
    if (stats.appended != total || stats.records != kept || stats.deleted != total - kept)
      return "the stream counts " + std::to_string(stats.appended) + " appended, " +
             std::to_string(stats.records) + " retained, " + std::to_string(stats.deleted) +
             " deleted; expected " + std::to_string(total) + ", " + std::to_string(kept) + ", " +
             std::to_string(total - kept);
    run.deleted = stats.deleted - deleted_before;
    return {};
  }
  corq_queue_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_queue_stats_get(target.engine, target_name, &stats); rc != CORQ_OK)
    return corq_failure("corq_queue_stats_get", rc);
  const std::uint64_t left = (total - 1) % purge_chunk + 1;
  if (stats.ready != left)
    return "the queue holds " + std::to_string(stats.ready) +
           " messages after the last chunk, expected " + std::to_string(left);
  return {};
}

AppendOutcome run_once(Path path, const StreamScale &scale) {
  AppendOutcome run;
  BenchEngine engine;
  Target target;
  if (run.error = engine.open(); !run.error.empty()) return run;
  target.engine = engine.get();
  run.error =
      is_stream(path) ? engine.declare_stream(target_name) : engine.declare_queue(target_name);
  if (!run.error.empty()) return run;
  if (path == Path::stream_producer) {
    if (const int rc =
            corq_stream_producer_open(engine.get(), target_name, &target.stream_producer);
        rc != CORQ_OK) {
      run.error = corq_failure("corq_stream_producer_open", rc);
      return run;
    }
  }
  if (path == Path::queue_producer) {
    if (const int rc = corq_producer_open(engine.get(), target_name, &target.queue_producer);
        rc != CORQ_OK) {
      run.error = corq_failure("corq_producer_open", rc);
      return run;
    }
  }
  std::thread appender([&] {
    run.pinned = pin_current_thread(0);
    const std::uint64_t before = preemptions_of_this_thread();
    run.error = append_all(path, target, scale, run);
    run.preemptions = preemptions_of_this_thread() - before;
  });
  appender.join();
  if (target.stream_producer != nullptr) corq_stream_producer_close(target.stream_producer);
  if (target.queue_producer != nullptr) corq_producer_close(target.queue_producer);
  return run;
}

void report(benchmark::State &state, AppendOutcome &run, Path path) {
  state.SetIterationTime(run.seconds > 0 ? run.seconds : 1e-9);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const auto n = static_cast<double>(run.records);
  const LatencyNs latency = latency_of_ticks(run.ticks);
  state.counters["records_per_s"] = n / run.seconds;
  state.counters["ns_per_record"] = run.seconds * 1e9 / n;
  state.counters["records_per_cpu_s"] = n / run.cpu_seconds;
  state.counters["cpu_ns_per_record"] = run.cpu_seconds * 1e9 / n;
  state.counters["records"] = n;
  state.counters["records_per_call"] = static_cast<double>(per_call(path));
  state.counters["p50_ns"] = latency.p50;
  state.counters["p99_ns"] = latency.p99;
  state.counters["p999_ns"] = latency.p999;
  if (is_stream(path)) state.counters["deleted_per_record"] = static_cast<double>(run.deleted) / n;
  state.counters["preemptions"] = static_cast<double>(run.preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

void register_path(const char *name, Path path, const StreamScale &scale) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      AppendOutcome run = run_once(path, scale);
      report(state, run, path);
    }
  };
  configure_stream_run(benchmark::RegisterBenchmark(name, body));
}

}  // namespace

void register_append_round(const StreamScale &scale) {
  register_path("append/stream_append", Path::stream_append, scale);
  register_path("append/queue_publish", Path::queue_publish, scale);
  register_path("append/stream_producer64", Path::stream_producer, scale);
  register_path("append/queue_producer64", Path::queue_producer, scale);
}

}  // namespace corq::bench::streams
