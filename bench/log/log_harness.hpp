// bench/log/log_harness.hpp — what the write-ahead-log benchmarks share: the suite scale, the
// benchmark directory, the raw device's numbers of the current round, and the reporting helpers.
//
// corq_log_bench measures the raw device and the Log in ONE process and ONE directory, so a ratio
// compares the log with the disk it actually ran on, seconds apart:
//
//   raw_4k/latency        pwrite 4 KiB + fdatasync, one at a time: p50/p99/p99.9 (raw_device.cpp)
//   raw_4k/latency_fresh  the same into fallocated, never-written blocks (a new segment's case)
//   raw_1m/bandwidth      pwrite 1 MiB + fdatasync, back to back: MB/s (raw_device.cpp)
//   latency_64B/<backend>     append one 64-byte record, wait_durable: p50/p99/p99.9
//   (log_latency.cpp) throughput_64B/<backend>  2 appenders, single-record batches, wait_durable
//   every 4096 records throughput_1KiB/<backend> the same with 1 KiB records: payload MB/s,
//   records/s (log_throughput.cpp)
//
// with <backend> psync and io_uring. main() registers `repetitions` rounds; each round measures the
// raw device and then every log benchmark. The log's ratio to the device (a counter of each log
// repetition) is taken against raw writes made in the same moments: the latency benchmark
// alternates chunks of log samples with chunks of raw 4 KiB samples, the throughput benchmark
// writes raw 1 MiB blocks right before and right after its run. On a shared VM whose disk speeds up
// and slows down several-fold within a minute, the median of those per-round paired ratios is the
// stable number; the raw_* benchmarks give the device's own figures.
//
// Each repetition is one fixed amount of work (Iterations(1), manual time), as in the ring and
// engine benchmarks (rings/bench_harness.hpp): the report takes medians over rounds.
#pragma once

#include "raw_device.hpp"  // the raw device, the benchmark directory, the reporting helpers

#include "log/log.hpp"  // wal/log/log.hpp (corq_wal's include root)

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {

/// Records between two wait_durable calls of one throughput appender (the issue's "flushed every
/// 4096").
inline constexpr std::uint64_t records_per_wait = 4096;
/// The payload sizes the issue names.
inline constexpr std::size_t small_record_bytes = 64;
inline constexpr std::size_t large_record_bytes = 1024;
/// Appender threads of the throughput benchmark (the "2 producers").
inline constexpr unsigned throughput_appenders = 2;
/// No wait of the benchmark may hang: a durability wait longer than this is an error.
inline constexpr std::int64_t durable_wait_limit_s = 60;
/// The log's segment size (the engine's default, 64 MiB). Footprint of one log directory: the
/// segment being written, two spares, and what one repetition writes before it releases.
inline constexpr std::uint64_t segment_bytes = std::uint64_t{64} << 20;

/// How much work one repetition does, and how many rounds.
struct LogScale {
  std::uint64_t raw_file_bytes;             // the raw baselines' preallocated, pre-written file
  std::uint64_t raw_latency_samples;        // 4 KiB write+flush samples per repetition
  std::uint64_t raw_fresh_latency_samples;  // the same into never-written fallocated blocks
  std::uint64_t raw_bandwidth_bytes;        // written in 1 MiB write+flush steps per repetition
  std::uint64_t paired_bandwidth_bytes;     // raw 1 MiB steps before and after each throughput run
  std::uint64_t latency_samples;            // append+wait samples per repetition
  std::uint64_t latency_warmup_samples;     // done first, not recorded
  std::uint64_t small_records_per_thread;   // 64 B throughput, per appender
  std::uint64_t large_records_per_thread;   // 1 KiB throughput, per appender
  int repetitions;
  bool quick;

  RawScale raw() const {
    return RawScale{raw_file_bytes, raw_latency_samples, raw_fresh_latency_samples,
                    raw_bandwidth_bytes};
  }
};

LogScale log_full_scale();
LogScale log_quick_scale();

/// The back ends a log benchmark runs on. `unavailable` is empty, or why this back end cannot be
/// set up here (its benchmarks are then reported as skipped, with that reason).
struct Backend {
  wal::BackendChoice choice;
  const char *name;  // "psync" | "io_uring": the second part of the benchmark names
  std::string unavailable;
};

/// Registration of one round's benchmarks (raw first — register_raw_round(scale.raw(), round) —
/// then the log benchmarks; the order of the two back ends alternates between rounds so neither
/// always runs right after the raw baseline).
void register_log_latency_round(const LogScale &scale, int round, const Backend &backend);
void register_log_throughput_round(const LogScale &scale, int round, const Backend &backend,
                                   std::size_t record_bytes);

/// Opens (creating or recovering) the log of `backend` in bench_dir()/log-<name>. Returns an empty
/// string or the failure.
std::string open_log(const Backend &backend, std::unique_ptr<wal::Log> &out);

}  // namespace corq::bench::wal_bench
