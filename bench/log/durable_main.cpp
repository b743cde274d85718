// bench/log/durable_main.cpp — corq_durable_bench: durable queues through the C API against the raw
// device they write to, in one binary, one run and one directory (see durable_harness.hpp).
//
//   corq_durable_bench [--quick] [--dir PARENT] [--segment-mib N] [--rounds N] [--benchmark_*]
//
// PARENT (default: $CORQ_DURABLE_BENCH_DIR, else $CORQ_LOG_BENCH_DIR, else the directory holding
// this executable, i.e. the build tree) gets a fresh directory `corq-durable-bench.XXXXXX` holding
// the raw baseline file and the engines' data directories; it is removed when the run ends.
//
// Rounds: raw device first, then latency, publish (64 B, then pubsub and the stream append right
// after it, and 1 KiB), the stream replay from disk, recovery and the fresh directory's footprint
// on psync and io_uring (which back end goes first alternates between rounds), then the
// transactions (one back end, sync=always and sync=none). `--segment-mib N`
// gives every engine segment_bytes = N MiB (to compare segment sizes; default: the engine's own);
// `--rounds N` runs N rounds instead of 3.
// `--quick` runs one round of a fraction of the work (100k unsettled / 300k settled messages for
// recovery instead of 1M / 6M): a smoke test that takes seconds, numbers not meaningful.
// tools/bench.sh (suite `durable`) runs this; perf/report_durable.py makes the table from its JSON.
#include "durable_harness.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

namespace corq::bench::durable_bench {

DurableScale durable_full_scale() {
  return DurableScale{.raw = {.raw_file_bytes = std::uint64_t{128} << 20,
                              .raw_latency_samples = 2000,
                              .raw_fresh_latency_samples = 500,
                              .raw_bandwidth_bytes = std::uint64_t{128} << 20},
                      .paired_bandwidth_bytes = std::uint64_t{64} << 20,
                      .latency_samples = 2000,
                      .latency_warmup_samples = 200,
                      .small_msgs_per_producer = 1024 * 1024,
                      .large_msgs_per_producer = 256 * 1024,
                      .unsettled_msgs = 1000000,
                      .settled_msgs = 6000000,
                      .replay_cache_bytes = std::uint64_t{64} << 20,
                      .txn_chunks = 20,
                      .txn_single_iterations = 50,
                      .txn_batch_iterations = 20,
                      .repetitions = 3,
                      .quick = false};
}

DurableScale durable_quick_scale() {
  return DurableScale{.raw = {.raw_file_bytes = std::uint64_t{16} << 20,
                              .raw_latency_samples = 200,
                              .raw_fresh_latency_samples = 100,
                              .raw_bandwidth_bytes = std::uint64_t{16} << 20},
                      .paired_bandwidth_bytes = std::uint64_t{8} << 20,
                      .latency_samples = 200,
                      .latency_warmup_samples = 20,
                      .small_msgs_per_producer = 32 * 1024,
                      .large_msgs_per_producer = 8 * 1024,
                      .unsettled_msgs = 100000,
                      .settled_msgs = 300000,
                      .replay_cache_bytes = std::uint64_t{1} << 20,
                      .txn_chunks = 2,
                      .txn_single_iterations = 20,
                      .txn_batch_iterations = 2,
                      .repetitions = 1,
                      .quick = true};
}

namespace {

/// Why an engine on io_uring cannot be set up here, or "" if it can (a probe engine in the
/// benchmark directory, removed at once).
std::string io_uring_unavailable() {
  const std::string dir = bench_dir() + "/probe-io_uring";
  corq_engine *engine = nullptr;
  std::string error = open_engine(dir, Backend{"io_uring", ""}, engine);
  if (engine != nullptr) corq_close(engine);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return error.empty() ? std::string() : "io_uring cannot be set up here: " + error;
}

}  // namespace
}  // namespace corq::bench::durable_bench

int main(int argc, char **argv) {
  using namespace corq::bench::durable_bench;
  using corq::bench::wal_bench::default_parent_dir;
  using corq::bench::wal_bench::finish_bench_dir;
  using corq::bench::wal_bench::register_raw_round;
  using corq::bench::wal_bench::start_bench_dir;
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  std::uint64_t segment_mib = 0;
  int rounds = 0;  // 0: the scale's own
  std::string parent = default_parent_dir({"CORQ_DURABLE_BENCH_DIR", "CORQ_LOG_BENCH_DIR"});
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      parent = argv[++i];
    } else if (std::strcmp(argv[i], "--segment-mib") == 0 && i + 1 < argc) {
      segment_mib = std::strtoull(argv[++i], nullptr, 10);
      if (segment_mib == 0) {
        std::fprintf(stderr, "corq_durable_bench: --segment-mib needs a number of MiB >= 1\n");
        return 2;
      }
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
      if (rounds < 1) {
        std::fprintf(stderr, "corq_durable_bench: --rounds needs a number >= 1\n");
        return 2;
      }
    } else {
      std::fprintf(
          stderr,
          "corq_durable_bench: unknown argument '%s' (--quick | --dir PARENT | --segment-mib N | "
          "--rounds N | --benchmark_*)\n",
          argv[i]);
      return 2;
    }
  }
  set_segment_bytes(segment_mib << 20);
  DurableScale scale = quick ? durable_quick_scale() : durable_full_scale();
  if (rounds != 0) scale.repetitions = rounds;
  if (!start_bench_dir("corq_durable_bench", parent, "corq-durable-bench", scale.raw)) return 1;
  const std::vector<Backend> backends = {{"psync", ""}, {"io_uring", io_uring_unavailable()}};

  const auto context = [](const char *key, auto value) {
    if constexpr (std::is_convertible_v<decltype(value), std::string>) {
      benchmark::AddCustomContext(key, value);
    } else {
      benchmark::AddCustomContext(key, std::to_string(value));
    }
  };
  context("corq_scale", quick ? "quick" : "full");
  context("corq_io_uring", backends[1].unavailable.empty() ? "available" : backends[1].unavailable);
  context("corq_segment_bytes", segment_mib != 0 ? segment_mib << 20 : default_segment_bytes);
  context("corq_rounds", scale.repetitions);
  context("corq_raw_latency_samples", scale.raw.raw_latency_samples);
  context("corq_raw_bandwidth_bytes", scale.raw.raw_bandwidth_bytes);
  context("corq_paired_bandwidth_bytes", scale.paired_bandwidth_bytes);
  context("corq_paired_chunk_samples", corq::bench::wal_bench::paired_chunk_samples);
  context("corq_latency_samples", scale.latency_samples);
  context("corq_small_msgs_per_producer", scale.small_msgs_per_producer);
  context("corq_large_msgs_per_producer", scale.large_msgs_per_producer);
  context("corq_unsettled_msgs", scale.unsettled_msgs);
  context("corq_settled_msgs", scale.settled_msgs);
  context("corq_msgs_per_flush", msgs_per_flush);
  context("corq_producers", producers);
  context("corq_consumers", pubsub_consumers);
  context("corq_consumer_prefetch", consumer_prefetch);
  context("corq_settled_publish_batch", settled_publish_batch);
  context("corq_replay_cache_bytes", scale.replay_cache_bytes);
  context("corq_txn_chunks", scale.txn_chunks);
  context("corq_txn_single_iterations", scale.txn_single_iterations);
  context("corq_txn_batch_iterations", scale.txn_batch_iterations);

  for (int round = 0; round < scale.repetitions; ++round) {
    register_raw_round(scale.raw, round);
    // Alternate which back end runs first, so neither always sits right after the raw baseline.
    const Backend &first = backends[round % 2];
    const Backend &second = backends[1 - round % 2];
    for (const Backend *backend : {&first, &second}) register_latency_round(scale, round, *backend);
    for (const Backend *backend : {&first, &second}) {
      register_publish_round(scale, round, *backend, small_msg_bytes);
      register_pubsub_round(scale, round, *backend);  // right after its publish-only base
      register_stream_append_round(scale, round, *backend);
    }
    for (const Backend *backend : {&first, &second}) {
      register_publish_round(scale, round, *backend, large_msg_bytes);
    }
    register_stream_replay_round(scale, round);
    for (const Backend *backend : {&first, &second}) {
      register_recovery_round(scale, round, *backend);
      register_footprint_round(round, *backend);
    }
    // Transactions against the same work without one, paired inside each benchmark: one back
    // end, the one io_backend=auto picks (io_uring where it can be set up), under both sync modes.
    register_txn_round(scale, round, backends[1].unavailable.empty() ? backends[1] : backends[0]);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  finish_bench_dir("corq_durable_bench");
  return 0;
}
