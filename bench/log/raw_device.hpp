// bench/log/raw_device.hpp — what corq_log_bench (the log alone) and corq_durable_bench (the
// durable engine through the C API) share: the benchmark directory, the raw device measured in it
// (raw_device.cpp) and the reporting helpers (bench_common.cpp). Nothing here knows the log or the
// engine, so each binary links only what it measures.
//
// The raw baselines (registered once per round by register_raw_round):
//
//   raw_4k/latency        pwrite 4 KiB + fdatasync, one at a time: p50/p99/p99.9
//   raw_4k/latency_fresh  the same into fallocated, never-written blocks (a new segment's case)
//   raw_1m/bandwidth      pwrite 1 MiB + fdatasync, back to back: MB/s
//
// and the paired samples a benchmark takes in its own moments: raw_small_write (one 4 KiB
// write+flush, interleaved with latency samples) and raw_large_writes (1 MiB write+flush steps
// right before and after a throughput run). On a shared VM whose disk changes speed several-fold
// within a minute, only raw writes made in the same moments compare.
#pragma once

#include "rings/bench_harness.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {

/// How much the raw baselines write per round.
struct RawScale {
  std::uint64_t raw_file_bytes;             // the preallocated, pre-written baseline file
  std::uint64_t raw_latency_samples;        // 4 KiB write+flush samples per round
  std::uint64_t raw_fresh_latency_samples;  // the same into never-written fallocated blocks
  std::uint64_t raw_bandwidth_bytes;        // written in 1 MiB write+flush steps per round
};

/// Where everything is written: a fresh directory made by main() (removed at exit).
const std::string &bench_dir();
void set_bench_dir(std::string dir);

/// Latency samples alternate with raw 4 KiB samples in chunks of this many.
inline constexpr std::uint64_t paired_chunk_samples = 20;

/// One 4 KiB pwrite+fdatasync at the raw file's cursor; sets its duration. "" or the failure.
std::string raw_small_write(std::uint64_t &ns);
/// `bytes` (rounded down to MiB) as 1 MiB pwrite+fdatasync steps; sets the seconds taken.
std::string raw_large_writes(std::uint64_t bytes, double &seconds);

/// Registers one round of the raw baselines (raw_4k/latency, raw_4k/latency_fresh,
/// raw_1m/bandwidth).
void register_raw_round(const RawScale &scale, int round);

/// Sets up the raw baseline file in bench_dir() (called by main() before the benchmarks run).
/// Returns an empty string or why it failed. `direct` tells whether O_DIRECT is in use.
std::string prepare_raw_file(const RawScale &scale, bool &direct);
void close_raw_file();

/// Bytes this process has caused to be sent to the storage layer (/proc/self/io write_bytes), or
/// 0 when not available.
std::uint64_t process_write_bytes();
/// Bytes this process has caused to be read from the storage layer (/proc/self/io read_bytes), or
/// 0 when not available.
std::uint64_t process_read_bytes();

/// One run per repetition (the round), manual time: the settings of every log and durable
/// benchmark.
inline void configure_log_run(benchmark::internal::Benchmark *b) {
  SuiteScale ring_scale{};
  ring_scale.repetitions = 1;
  configure_run(b, ring_scale);
}

/// p50/p99/p99.9/max (µs) of `samples_ns` (sorted here) as counters p50_us, p99_us, p999_us,
/// max_us.
void report_percentiles(benchmark::State &state, std::vector<std::uint64_t> &samples_ns);
/// The latency report of samples paired with raw 4 KiB writes taken in the same moments:
/// report_percentiles of `measured_ns`, the raw ones as raw_p50_us, raw_p99_us, raw_p999_us, the
/// ratios measured/raw as p50_ratio, p99_ratio, p999_ratio, and the count as `samples`. Sorts both.
void report_paired_percentiles(benchmark::State &state, std::vector<std::uint64_t> &measured_ns,
                               std::vector<std::uint64_t> &raw_ns);

/// A back end that cannot be set up here (`unavailable` not empty, the reason): reports the
/// benchmark as skipped with that reason and returns true, and the caller returns at once;
/// returns false, doing nothing, when `unavailable` is empty.
bool skipped_as_unavailable(benchmark::State &state, const std::string &unavailable);

/// A name for the filesystem holding `dir` ("ext4", "xfs", ... or the statfs magic in hex).
std::string filesystem_name(const std::string &dir);
/// The default parent of the benchmark directory: the first of `env_vars` that is set and not
/// empty, else the executable's own directory (the build tree), else ".".
std::string default_parent_dir(const std::vector<const char *> &env_vars);
/// Makes PARENT/<prefix>.XXXXXX; returns its absolute path or "" (and prints why).
std::string make_bench_dir(const std::string &parent, const std::string &prefix);

/// main()'s start of a run: makes PARENT/<prefix>.XXXXXX the benchmark directory (set_bench_dir),
/// prepares the raw baseline file in it, and records where the run writes in its context
/// (corq_bench_dir, corq_filesystem, corq_raw_direct_io). Returns false when it cannot, having
/// printed why (as `program`) and removed the directory.
bool start_bench_dir(const char *program, const std::string &parent, const std::string &prefix,
                     const RawScale &scale);
/// main()'s end of a run: closes the raw baseline file and removes the benchmark directory
/// (printing, as `program`, when it cannot).
void finish_bench_dir(const char *program);

}  // namespace corq::bench::wal_bench
