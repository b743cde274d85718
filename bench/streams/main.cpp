// bench/streams/main.cpp — corq_stream_bench: the in-memory streams through the C API (issue #17,
// DESIGN §7), with their queue baselines in the same binary and the same rounds.
//
//   corq_stream_bench [--quick] [any --benchmark_* flag]
//   corq_stream_bench --memory-probe stream|queue RECORDS   (internal: see stream_replay.cpp)
//
// Scenarios (benchmark names `<scenario>/<path>`; see stream_append.cpp, stream_tail.cpp,
// stream_replay.cpp):
//   append/stream_append      one thread, corq_stream_append of one record (no key): records/s
//   append/stream_producer64  one thread, corq_stream_producer_send of 64: records/s
//   append/queue_publish      baseline: corq_publish of one message into a transient queue
//   append/queue_producer64   baseline: corq_producer_send of 64 into a transient queue
//   tail/stream_reader        an appender (producer batches of 64) on one core, a reader following
//                             the tail (corq_stream_read, max 256) on the other: records/s end to
//                             end
//   tail/queue_consumer       baseline: a producer (batches of 64) and a consumer (prefetch 256,
//                             corq_ack_upto per batch) on a queue: messages/s end to end
//   replay/stream_reader      a reader reading the 1M retained records from earliest: records/s
//                             (5 passes, a fresh reader each)
//   replay/queue_consumer     baseline: a consumer draining 1M ready messages (consume 256 +
//                             corq_ack_upto): messages/s (5 passes, refilled untimed)
//   memory/stream, memory/queue   resident memory per retained record / ready message (1M of
//                             64 B, a fresh child process each), next to corq_stream_stats bytes
// `repetitions` rounds, each running every benchmark once in this order, so the scenarios take
// turns and a noisy minute on the shared machine hits them alike; the report takes medians over
// rounds and ratios paired within a round.
// `--quick` runs each once with a fraction of the work (a smoke test; numbers not meaningful).
// tools/bench.sh (suite `streams`) runs this; perf/report_streams.py makes the table from its JSON.
#include "stream_harness.hpp"

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace corq::bench::streams {

StreamScale stream_full_scale() {
  return StreamScale{.append_records = 2'000'000,
                     .append_warmup = std::uint64_t{1} << 20,  // past retention_records (1M)
                     .tail_records = 8'000'000,
                     .tail_warmup = std::uint64_t{1} << 20,
                     .replay_records = 1'000'000,
                     .replay_passes = 5,
                     .memory_records = 1'000'000,
                     .repetitions = 7,
                     .quick = false};
}

StreamScale stream_quick_scale() {
  return StreamScale{.append_records = 100'000,
                     .append_warmup = 20'000,
                     .tail_records = 200'000,
                     .tail_warmup = 16'384,  // a multiple of 64
                     .replay_records = 100'000,
                     .replay_passes = 2,
                     .memory_records = 100'000,
                     .repetitions = 1,
                     .quick = true};
}

std::string corq_failure(const char *what, int code) {
  // Piece by piece: GCC 12 warns (-Wrestrict, a false positive) on operator+ chains with literals.
  std::string text(what);
  text += ": ";
  text += corq_strerror(code);
  text += " (";
  text += corq_last_error();
  text += ")";
  return text;
}

std::string BenchEngine::open() {
  if (const int rc = corq_open(nullptr, nullptr, &engine_); rc != CORQ_OK) {
    engine_ = nullptr;
    return corq_failure("corq_open", rc);
  }
  return {};
}

std::string BenchEngine::declare_stream(const char *name) {
  corq_config *options = corq_config_new();
  if (options == nullptr) return "corq_config_new: out of memory";
  const std::string records = std::to_string(retention_records);
  int rc = corq_config_set(options, "partitions", "1");
  if (rc == CORQ_OK) rc = corq_config_set(options, "retention_records", records.c_str());
  if (rc == CORQ_OK) rc = corq_config_set(options, "discard", "old");
  if (rc == CORQ_OK) rc = corq_stream_declare(engine_, name, options);
  corq_config_free(options);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_stream_declare", rc);
}

std::string BenchEngine::declare_queue(const char *name) {
  const int rc = corq_queue_declare(engine_, name, nullptr);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_queue_declare", rc);
}

Batch::Batch(std::size_t count) : payloads_(count * payload_bytes, 0xab), messages_(count) {
  for (std::size_t i = 0; i < count; ++i)
    messages_[i] = corq_message{&payloads_[i * payload_bytes], payload_bytes, nullptr, 0, nullptr};
}

void Batch::number(std::uint64_t first) noexcept {
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    const std::uint64_t seq = first + i;
    std::memcpy(&payloads_[i * payload_bytes], &seq, sizeof(seq));
  }
}

std::uint64_t sequence_of(const void *data) noexcept {
  std::uint64_t seq = 0;
  std::memcpy(&seq, data, sizeof(seq));
  return seq;
}

std::uint64_t preemptions_of_this_thread() noexcept {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_nivcsw);
}

double thread_cpu_seconds() noexcept {
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return 0;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

LatencyNs latency_of_ticks(std::vector<std::uint64_t> &ticks) {
  std::sort(ticks.begin(), ticks.end());
  const double ns = ns_per_tick();
  return LatencyNs{.p50 = quantile_of_sorted(ticks, 0.50) * ns,
                   .p99 = quantile_of_sorted(ticks, 0.99) * ns,
                   .p999 = quantile_of_sorted(ticks, 0.999) * ns};
}

/// The first three fields of /proc/loadavg ("1.37 2.36 3.18"), or "unknown".
std::string load_average() {
  std::FILE *f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "unknown";
  double one = 0, five = 0, fifteen = 0;
  const int read = std::fscanf(f, "%lf %lf %lf", &one, &five, &fifteen);
  std::fclose(f);
  if (read != 3) return "unknown";
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f / %.2f / %.2f", one, five, fifteen);
  return text;
}

}  // namespace corq::bench::streams

int main(int argc, char **argv) {
  using namespace corq::bench::streams;
  if (argc == 4 && std::strcmp(argv[1], "--memory-probe") == 0) {
    return run_memory_probe(argv[2], std::strtoull(argv[3], nullptr, 10));
  }
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "corq_stream_bench: unknown argument '%s' (--quick | --benchmark_*)\n",
                   argv[i]);
      return 2;
    }
  }
  const StreamScale scale = quick ? stream_quick_scale() : stream_full_scale();
  (void)corq::bench::allowed_cpus();  // before any thread pins itself
  (void)corq::bench::ns_per_tick();   // calibrate the tick clock outside every run

  benchmark::AddCustomContext("corq_scale", quick ? "quick" : "full");
  benchmark::AddCustomContext("corq_version", corq_version_string());
  benchmark::AddCustomContext("corq_payload_bytes", std::to_string(payload_bytes));
  benchmark::AddCustomContext("corq_batch_records", std::to_string(batch_records));
  benchmark::AddCustomContext("corq_read_max", std::to_string(read_max));
  benchmark::AddCustomContext("corq_prefetch", std::to_string(prefetch));
  benchmark::AddCustomContext("corq_retention_records", std::to_string(retention_records));
  benchmark::AddCustomContext("corq_purge_chunk", std::to_string(purge_chunk));
  benchmark::AddCustomContext("corq_append_records", std::to_string(scale.append_records));
  benchmark::AddCustomContext("corq_append_warmup", std::to_string(scale.append_warmup));
  benchmark::AddCustomContext("corq_tail_records", std::to_string(scale.tail_records));
  benchmark::AddCustomContext("corq_tail_warmup", std::to_string(scale.tail_warmup));
  benchmark::AddCustomContext("corq_replay_records", std::to_string(scale.replay_records));
  benchmark::AddCustomContext("corq_replay_passes", std::to_string(scale.replay_passes));
  benchmark::AddCustomContext("corq_memory_records", std::to_string(scale.memory_records));
  benchmark::AddCustomContext("corq_latency_sample_every", std::to_string(latency_sample_every));
  benchmark::AddCustomContext("corq_repetitions", std::to_string(scale.repetitions));
  benchmark::AddCustomContext("corq_loadavg_start", load_average());
  benchmark::AddCustomContext("corq_allowed_cpus",
                              std::to_string(corq::bench::allowed_cpus().size()));

  for (int round = 0; round < scale.repetitions; ++round) {
    register_append_round(scale);
    register_tail_round(scale);
    register_replay_round(scale);
    register_memory_round(scale);
    register_lag_round();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
