// bench/streams/stream_replay.cpp — replay from memory: a reader reading a stream's retained
// records from the earliest, and what a retained record costs in memory; each next to the queue
// doing the same, in the same rounds.
//
// Scenarios:
//   replay/stream_reader   a stream (one partition, retention_records 1M) holding `replay_records`
//                          64-byte records (appended by a producer, 64 per batch, before the clock
//                          starts); one thread pinned to CPU 0 opens a reader at "earliest" and
//                          reads them all, corq_stream_read(reader, out, 256, 0): records/s. It
//                          does so `replay_passes` times, a fresh reader each time (a pass over 1M
//                          records takes only 15-25 ms here, too short to time alone on a shared
//                          machine); 1M records of ~113 B are far larger than the caches, so no
//                          pass reads from cache what the pass before left there.
//   replay/queue_consumer  baseline: a queue (default options, max_length 1M) holding as many
//                          ready messages; one pinned thread drains them, corq_consume(c, out, 256,
//                          0) with prefetch 256 and one corq_ack_upto per call: messages/s. A queue
//                          can be read once, a stream any number of times: the queue is filled
//                          again before each pass, with the clock stopped.
//   memory/stream          resident memory per retained record: a fresh child process (this binary,
//                          `--memory-probe stream N`) declares the stream, reads its resident set
//                          (/proc/self/statm), appends N = `memory_records` records in batches of
//                          64, reads it again and prints the growth, the growth of its virtual
//                          size, and corq_stream_stats' `bytes` (what retention counts: key +
//                          payload + header bytes, here 64 per record)
//   memory/queue           baseline: the same with N ready messages in a queue (corq_producer_send
//                          of 64; the engine suite's memory row, at 64 B)
// Every replayed record (message) is checked: offsets consecutive, the payload's first 8 bytes its
// sequence number. A fresh process for the memory probe matters: in the benchmark process the
// allocators keep pages that earlier scenarios freed, and reusing them would hide part of the
// growth (bench/engine/engine_memory.cpp measures queues the same way).
#include "stream_harness.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace corq::bench::streams {
namespace {

constexpr const char *target_name = "replay";
/// The child's whole output is one short line; anything longer is a malfunction.
constexpr std::size_t probe_output_bytes_max = 4096;

struct ReplayOutcome {
  double seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t records = 0;
  std::uint64_t reads = 0;
  bool pinned = false;
  std::string error{};
};

/// Appends (stream) or publishes (queue) `count` records numbered 0..count-1, 64 per call.
std::string fill(corq_engine *engine, bool stream, std::uint64_t count) {
  corq_stream_producer *stream_producer = nullptr;
  corq_producer *queue_producer = nullptr;
  const int opened = stream ? corq_stream_producer_open(engine, target_name, &stream_producer)
                            : corq_producer_open(engine, target_name, &queue_producer);
  if (opened != CORQ_OK)
    return corq_failure(stream ? "corq_stream_producer_open" : "corq_producer_open", opened);
  std::string error;
  Batch batch(batch_records);
  for (std::uint64_t done = 0; done < count && error.empty();) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_records, count - done));
    batch.number(done);
    const int rc = stream
                       ? corq_stream_producer_send(stream_producer, nullptr, 0, batch.messages(), n,
                                                   nullptr, nullptr, nullptr)
                       : corq_producer_send(queue_producer, batch.messages(), n, nullptr, nullptr);
    if (rc != CORQ_OK)
      error = corq_failure(stream ? "corq_stream_producer_send" : "corq_producer_send", rc);
    done += n;
  }
  if (stream_producer != nullptr) corq_stream_producer_close(stream_producer);
  if (queue_producer != nullptr) corq_producer_close(queue_producer);
  return error;
}

std::string replay_stream(corq_engine *engine, std::uint64_t count, ReplayOutcome &run) {
  std::vector<corq_stream_record> records(read_max);
  corq_stream_reader *reader = nullptr;
  if (const int rc = corq_stream_reader_open(engine, target_name, 0, "earliest", &reader);
      rc != CORQ_OK)
    return corq_failure("corq_stream_reader_open", rc);
  std::string error;
  const double cpu_start = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t next = 0; next < count && error.empty();) {
    const int n = corq_stream_read(reader, records.data(), records.size(), 0);
    if (n <= 0) {
      error = n == 0 ? "reader: the stream ended before every record was read"
                     : corq_failure("corq_stream_read", n);
      break;
    }
    ++run.reads;
    for (int i = 0; i < n; ++i, ++next) {
      const corq_stream_record &r = records[static_cast<std::size_t>(i)];
      if (r.offset != next || r.len != payload_bytes || sequence_of(r.data) != next) {
        error = "reader: record " + std::to_string(next) + " is missing or wrong";
        break;
      }
    }
  }
  run.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds += thread_cpu_seconds() - cpu_start;
  if (error.empty() && corq_stream_reader_skipped(reader) != 0)
    error = "reader: retention deleted records under the reader";
  corq_stream_reader_close(reader);
  return error;
}

std::string drain_queue(corq_engine *engine, std::uint64_t count, ReplayOutcome &run) {
  std::vector<corq_delivery> deliveries(read_max);
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_consumer_open(engine, target_name, prefetch, &consumer); rc != CORQ_OK)
    return corq_failure("corq_consumer_open", rc);
  std::string error;
  const double cpu_start = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t next = 0; next < count && error.empty();) {
    const int n = corq_consume(consumer, deliveries.data(), deliveries.size(), 0);
    if (n <= 0) {
      error = n == 0 ? "consumer: the queue ran dry before every message was read"
                     : corq_failure("corq_consume", n);
      break;
    }
    ++run.reads;
    for (int i = 0; i < n; ++i, ++next) {
      const corq_delivery &d = deliveries[static_cast<std::size_t>(i)];
      if (d.len != payload_bytes || sequence_of(d.data) != next) {
        error = "consumer: message " + std::to_string(next) + " is missing or wrong";
        break;
      }
    }
    if (!error.empty()) break;
    if (const int rc = corq_ack_upto(consumer, deliveries[static_cast<std::size_t>(n - 1)].tag);
        rc != CORQ_OK)
      error = corq_failure("corq_ack_upto", rc);
  }
  run.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds += thread_cpu_seconds() - cpu_start;
  corq_consumer_close(consumer);
  return error;
}

/// `passes` passes over `count` records: the stream filled once and read by a fresh reader from
/// earliest each pass; the queue filled again (untimed) before each drain.
ReplayOutcome replay_once(bool stream, std::uint64_t count, int passes) {
  ReplayOutcome run;
  run.records = count * static_cast<std::uint64_t>(passes);
  BenchEngine engine;
  if (run.error = engine.open(); !run.error.empty()) return run;
  run.error = stream ? engine.declare_stream(target_name) : engine.declare_queue(target_name);
  if (!run.error.empty()) return run;
  std::thread reader([&] {
    run.pinned = pin_current_thread(0);
    for (int pass = 0; pass < passes && run.error.empty(); ++pass) {
      if (pass == 0 || !stream) run.error = fill(engine.get(), stream, count);
      if (run.error.empty())
        run.error = stream ? replay_stream(engine.get(), count, run)
                           : drain_queue(engine.get(), count, run);
    }
  });
  reader.join();
  return run;
}

void report_replay(benchmark::State &state, const ReplayOutcome &run) {
  state.SetIterationTime(run.seconds > 0 ? run.seconds : 1e-9);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const auto n = static_cast<double>(run.records);
  state.counters["records_per_s"] = n / run.seconds;
  state.counters["ns_per_record"] = run.seconds * 1e9 / n;
  state.counters["records_per_cpu_s"] = n / run.cpu_seconds;
  state.counters["cpu_ns_per_record"] = run.cpu_seconds * 1e9 / n;
  state.counters["records"] = n;
  state.counters["records_per_read"] = run.reads == 0 ? 0 : n / static_cast<double>(run.reads);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

// ---- the memory probe (child process) ---------------------------------------------------------

/// Resident set and virtual size of this process in bytes (/proc/self/statm, in pages).
void memory_of_this_process(std::uint64_t &resident, std::uint64_t &virtual_size) {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  resident = resident_pages * page;
  virtual_size = size_pages * page;
}

int probe(bool stream, std::uint64_t records) {
  BenchEngine engine;
  std::string error = engine.open();
  if (error.empty())
    error = stream ? engine.declare_stream(target_name) : engine.declare_queue(target_name);
  if (!error.empty()) {
    std::fprintf(stderr, "memory probe: %s\n", error.c_str());
    return 1;
  }
  std::uint64_t rss_before = 0, vm_before = 0, rss_after = 0, vm_after = 0;
  memory_of_this_process(rss_before, vm_before);
  if (error = fill(engine.get(), stream, records); !error.empty()) {
    std::fprintf(stderr, "memory probe: %s\n", error.c_str());
    return 1;
  }
  memory_of_this_process(rss_after, vm_after);
  std::uint64_t held = 0, counted_bytes = 0;
  if (stream) {
    corq_stream_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_stream_stats_get(engine.get(), target_name, &stats); rc != CORQ_OK) {
      std::fprintf(stderr, "memory probe: %s\n", corq_failure("corq_stream_stats_get", rc).c_str());
      return 1;
    }
    held = stats.records;
    counted_bytes = stats.bytes;
  } else {
    corq_queue_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_queue_stats_get(engine.get(), target_name, &stats); rc != CORQ_OK) {
      std::fprintf(stderr, "memory probe: %s\n", corq_failure("corq_queue_stats_get", rc).c_str());
      return 1;
    }
    held = stats.ready;
    counted_bytes = stats.bytes_ready;
  }
  if (held != records) {
    std::fprintf(stderr, "memory probe: %" PRIu64 " held, expected %" PRIu64 "\n", held, records);
    return 1;
  }
  std::printf("rss_growth_bytes=%" PRIu64 " vm_growth_bytes=%" PRIu64 " records=%" PRIu64
              " stats_bytes=%" PRIu64 "\n",
              rss_after > rss_before ? rss_after - rss_before : 0,
              vm_after > vm_before ? vm_after - vm_before : 0, records, counted_bytes);
  return 0;
}

/// What a probe child printed, or why there is nothing to read.
struct ProbeOutput {
  std::string text;
  std::string error;  // empty: the child ran and exited 0
};

/// Runs `this binary --memory-probe kind records` and collects its stdout.
ProbeOutput spawn_probe(const std::string &kind, std::uint64_t records) {
  int out[2];
  if (::pipe(out) != 0) return {{}, std::string("pipe failed: ") + std::strerror(errno)};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::string self = "/proc/self/exe", flag = "--memory-probe", kind_arg = kind;
  std::string count = std::to_string(records);
  char *argv[] = {self.data(), flag.data(), kind_arg.data(), count.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ProbeOutput result;
  char buffer[256];
  ssize_t got = 0;
  // Read to EOF (so the child never blocks on a full pipe), keep at most probe_output_bytes_max.
  while (spawned == 0 && (got = ::read(out[0], buffer, sizeof(buffer))) > 0) {
    const auto room = probe_output_bytes_max - std::min(probe_output_bytes_max, result.text.size());
    result.text.append(buffer, std::min(room, static_cast<std::size_t>(got)));
  }
  ::close(out[0]);
  if (spawned != 0) return {{}, std::string("posix_spawn failed: ") + std::strerror(spawned)};
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    result.error = "the memory probe child failed (its stderr is above)";
  return result;
}

/// One repetition: one child process, its growth divided by its record count.
void measure_memory(benchmark::State &state, const std::string &kind, std::uint64_t records) {
  const auto start = std::chrono::steady_clock::now();
  ProbeOutput probe_output = spawn_probe(kind, records);
  state.SetIterationTime(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::uint64_t rss = 0, vm = 0, counted = 0, stats_bytes = 0;
  if (probe_output.error.empty() &&
      std::sscanf(probe_output.text.c_str(),
                  "rss_growth_bytes=%" SCNu64 " vm_growth_bytes=%" SCNu64 " records=%" SCNu64
                  " stats_bytes=%" SCNu64,
                  &rss, &vm, &counted, &stats_bytes) != 4) {
    probe_output.error = "the memory probe printed something unexpected: " + probe_output.text;
  }
  if (!probe_output.error.empty() || counted == 0) {
    state.SkipWithError(probe_output.error.empty() ? "the memory probe counted no records"
                                                   : probe_output.error.c_str());
    return;
  }
  const auto n = static_cast<double>(counted);
  state.counters["bytes_per_record"] = static_cast<double>(rss) / n;
  state.counters["vm_bytes_per_record"] = static_cast<double>(vm) / n;
  state.counters["stats_bytes_per_record"] = static_cast<double>(stats_bytes) / n;
  state.counters["overhead_bytes_per_record"] =
      (static_cast<double>(rss) - static_cast<double>(stats_bytes)) / n;
  state.counters["rss_growth_mib"] = static_cast<double>(rss) / (1024.0 * 1024.0);
  state.counters["records"] = n;
}

}  // namespace

int run_memory_probe(const std::string &kind, std::uint64_t records) {
  if (records == 0) return std::fprintf(stderr, "memory probe: records must be > 0\n"), 2;
  if (kind != "stream" && kind != "queue") {
    std::fprintf(stderr, "memory probe: unknown kind '%s' (stream | queue)\n", kind.c_str());
    return 2;
  }
  try {
    return probe(kind == "stream", records);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "memory probe: %s\n", e.what());
    return 1;
  }
}

void register_replay_round(const StreamScale &scale) {
  const std::uint64_t records = scale.replay_records;
  const int passes = scale.replay_passes;
  for (const bool stream : {true, false}) {
    const auto body = [=](benchmark::State &state) {
      for (auto _ : state) report_replay(state, replay_once(stream, records, passes));
    };
    configure_stream_run(benchmark::RegisterBenchmark(
        stream ? "replay/stream_reader" : "replay/queue_consumer", body));
  }
}

void register_memory_round(const StreamScale &scale) {
  const std::uint64_t records = scale.memory_records;
  for (const std::string kind : {"stream", "queue"}) {
    const auto body = [=](benchmark::State &state) {
      for (auto _ : state) measure_memory(state, kind, records);
    };
    configure_stream_run(benchmark::RegisterBenchmark(("memory/" + kind).c_str(), body));
  }
}

}  // namespace corq::bench::streams
