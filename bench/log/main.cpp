// bench/log/main.cpp — corq_log_bench: the write-ahead log (wal/) against the raw device it writes
// to, in one binary, one run and one directory.
//
//   corq_log_bench [--quick] [--dir PARENT] [any --benchmark_* flag]
//
// PARENT (default: $CORQ_LOG_BENCH_DIR, else the directory holding this executable, i.e. the build
// tree) gets a fresh directory `corq-log-bench.XXXXXX` holding the raw baseline file and one log
// directory per back end; it is removed when the run ends. Put it on the filesystem you want to
// measure. The filesystem, O_DIRECT use and io_uring availability are recorded in the JSON context.
//
// Rounds (see log_harness.hpp): raw device first, then the log's latency and throughput benchmarks
// on psync and io_uring (their order alternating between rounds). `--quick` runs one round of a
// fraction of the work: a smoke test that takes seconds, numbers not meaningful.
// tools/bench.sh (suite `log`) runs this; perf/report_log.py makes the table from its JSON.
#include "log_harness.hpp"

#include "io/vfs.hpp"  // wal/io/vfs.hpp: make_uring_vfs, to learn whether io_uring can be set up

#include <benchmark/benchmark.h>

#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {

LogScale log_full_scale() {
  return LogScale{.raw_file_bytes = std::uint64_t{128} << 20,
                  .raw_latency_samples = 4000,
                  .raw_fresh_latency_samples = 1000,
                  .raw_bandwidth_bytes = std::uint64_t{256} << 20,
                  .paired_bandwidth_bytes = std::uint64_t{64} << 20,
                  .latency_samples = 2000,
                  .latency_warmup_samples = 200,
                  .small_records_per_thread = 1024 * 1024,
                  .large_records_per_thread = 256 * 1024,
                  .repetitions = 5,
                  .quick = false};
}

LogScale log_quick_scale() {
  return LogScale{.raw_file_bytes = std::uint64_t{16} << 20,
                  .raw_latency_samples = 200,
                  .raw_fresh_latency_samples = 100,
                  .raw_bandwidth_bytes = std::uint64_t{16} << 20,
                  .paired_bandwidth_bytes = std::uint64_t{8} << 20,
                  .latency_samples = 200,
                  .latency_warmup_samples = 20,
                  .small_records_per_thread = 16 * 1024,
                  .large_records_per_thread = 8 * 1024,
                  .repetitions = 1,
                  .quick = true};
}

std::string open_log(const Backend &backend, std::unique_ptr<wal::Log> &out) {
  wal::LogOptions options;
  options.dir = bench_dir() + "/log-" + backend.name;
  options.segment_bytes = segment_bytes;
  options.flush = true;
  options.backend = backend.choice;
  options.direct_io = wal::DirectIoChoice::automatic;
  std::string error;
  const int rc = wal::Log::open(
      options, [](const wal::RecoveredRecord &) { return 0; }, out, error);
  if (rc != 0) return "Log::open(" + options.dir + "): " + std::strerror(-rc) + " " + error;
  if (std::strcmp(out->backend_name(), backend.name) != 0) {
    return std::string("Log::open gave back end ") + out->backend_name() + ", not " + backend.name;
  }
  return {};
}

namespace {

/// Why io_uring cannot be set up here, or "" if it can.
std::string io_uring_unavailable() {
  int error = 0;
  if (wal::make_uring_vfs(error) != nullptr) return {};
  return std::string("io_uring cannot be set up here: ") + std::strerror(-error);
}

}  // namespace
}  // namespace corq::bench::wal_bench

int main(int argc, char **argv) {
  using namespace corq::bench::wal_bench;
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  std::string parent = default_parent_dir({"CORQ_LOG_BENCH_DIR"});
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      parent = argv[++i];
    } else {
      std::fprintf(
          stderr,
          "corq_log_bench: unknown argument '%s' (--quick | --dir PARENT | --benchmark_*)\n",
          argv[i]);
      return 2;
    }
  }
  const LogScale scale = quick ? log_quick_scale() : log_full_scale();
  if (!start_bench_dir("corq_log_bench", parent, "corq-log-bench", scale.raw())) return 1;
  const std::vector<Backend> backends = {
      {corq::wal::BackendChoice::psync, "psync", ""},
      {corq::wal::BackendChoice::io_uring, "io_uring", io_uring_unavailable()}};

  benchmark::AddCustomContext("corq_scale", quick ? "quick" : "full");
  benchmark::AddCustomContext(
      "corq_io_uring", backends[1].unavailable.empty() ? "available" : backends[1].unavailable);
  benchmark::AddCustomContext("corq_segment_bytes", std::to_string(segment_bytes));
  benchmark::AddCustomContext("corq_rounds", std::to_string(scale.repetitions));
  benchmark::AddCustomContext("corq_raw_latency_samples",
                              std::to_string(scale.raw_latency_samples));
  benchmark::AddCustomContext("corq_raw_fresh_latency_samples",
                              std::to_string(scale.raw_fresh_latency_samples));
  benchmark::AddCustomContext("corq_raw_bandwidth_bytes",
                              std::to_string(scale.raw_bandwidth_bytes));
  benchmark::AddCustomContext("corq_paired_bandwidth_bytes",
                              std::to_string(scale.paired_bandwidth_bytes));
  benchmark::AddCustomContext("corq_paired_chunk_samples", std::to_string(paired_chunk_samples));
  benchmark::AddCustomContext("corq_latency_samples", std::to_string(scale.latency_samples));
  benchmark::AddCustomContext("corq_small_records_per_thread",
                              std::to_string(scale.small_records_per_thread));
  benchmark::AddCustomContext("corq_large_records_per_thread",
                              std::to_string(scale.large_records_per_thread));
  benchmark::AddCustomContext("corq_records_per_wait", std::to_string(records_per_wait));
  benchmark::AddCustomContext("corq_appenders", std::to_string(throughput_appenders));

  for (int round = 0; round < scale.repetitions; ++round) {
    register_raw_round(scale.raw(), round);
    // Alternate which back end runs first, so neither always sits right after the raw baseline.
    const Backend &first = backends[round % 2];
    const Backend &second = backends[1 - round % 2];
    for (const Backend *backend : {&first, &second})
      register_log_latency_round(scale, round, *backend);
    for (const std::size_t bytes : {small_record_bytes, large_record_bytes}) {
      for (const Backend *backend : {&first, &second}) {
        register_log_throughput_round(scale, round, *backend, bytes);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  finish_bench_dir("corq_log_bench");
  return 0;
}
