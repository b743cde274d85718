// bench/log/durable_harness.hpp — corq_durable_bench: the durable engine through its C API against
// the raw device, in one run and one directory (tools/bench.sh, suite `durable`;
// perf/report_durable.py makes the table). The "Performance" targets for durable queues:
//
//   publish_64B/<backend>    2 producer threads, corq_producer_send of single 64 B messages with
//   publish_1KiB/<backend>   CORQ_PUBLISH_NOWAIT, corq_producer_flush every 4096 and at the end:
//                            payload MB/s, msgs/s; ratio to the raw 1 MiB write+fdatasync
//                            bandwidth measured right before and after the run (≥ 0.12× / ≥ 0.5×)
//   latency_64B/<backend>    one thread, synchronous corq_publish of 64 B (sync=always):
//                            p50/p99/p99.9, chunks of 20 alternating with 20 raw 4 KiB
//                            write+fdatasync samples; ratios p50 ≤ 1.5×, p99 ≤ 2×
//   pubsub_64B/<backend>     publish_64B's producers plus consumers (prefetch 1024, corq_consume
//                            up to 1024, corq_ack_upto per batch) until every message is acked and
//                            corq_sync returns; ratio to publish_64B of the same back end and round
//                            (≥ 0.6×)
//   recovery_unsettled/<backend>  N unsettled 64 B messages (2 producers as in publish_64B),
//                            corq_close, then the time corq_open takes to reopen them (≤ 1.5 s
//                            for 1M)
//   recovery_settled/<backend>    M 64 B messages published in batches and acked with
//                            corq_ack_upto while they come, corq_sync, corq_close; then the
//                            *.wal files in the directory (≤ 3) and the reopen time (≤ 0.2 s for
//                            6M); `disk_MiB`: what the directory takes on disk then (du)
//   stream_append_64B/<backend>   2 appenders, corq_stream_producer_send of batches of 64 records
//                            of 64 B (NOWAIT) to a durable stream, corq_sync every 4096 records:
//                            ratio to the raw bandwidth (≥ 0.15×, issue #17) and to publish_64B
//   stream_replay_disk       a durable stream 4x the engine's stream_cache_bytes, reopened, the
//   page
//                            cache dropped, read from "earliest" by one reader: payload MB/s over
//                            the device's sequential read bandwidth (>= 0.5x, issue #17) and the
//                            peak resident-set growth (durable_stream_replay.cpp)
//   footprint_fresh/<backend>     a fresh directory, one durable queue, 1,000 64 B messages
//                            published and left ready: what it takes on disk (du: allocated
//                            blocks, so preallocated segments count whole) open and after close
//   txn_<input>_to_<output>_b<B>/<sync>   consume-transform-produce, 2 worker threads: B inputs
//                            consumed, B outputs published (or appended) and B acks in one
//                            transaction, against the same work without one (the outputs sent,
//                            then the inputs acked), in alternating phases on one engine;
//                            input a queue or a consumer group on a stream, output a queue or a
//                            stream, B 1 or 100, sync always or none, on the back end
//                            io_backend=auto picks: ratio of msgs/s (≥ 0.8×, issue #18) and
//                            latency percentiles of each (durable_txn.cpp)
//
// with <backend> psync and io_uring (engine option io_backend; io_uring skipped with the reason
// when it cannot be set up). The raw baselines (raw_device.hpp) run first in every round. Every
// engine uses the default segment size (64 MiB; `--segment-mib N` sets another), direct_io=auto
// and sync=always.
//
// Publish, latency and pubsub reuse one engine directory per back end across rounds (like a
// long-running engine: its segments are reused); each benchmark declares a fresh queue, and at the
// end deletes it and gives the checkpointer up to a few seconds to release the segments before
// corq_close. The recovery benchmarks use a fresh directory each, removed afterwards.
#pragma once

#include "raw_device.hpp"

#include <corq/corq.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace corq::bench::durable_bench {

using wal_bench::bench_dir;
using wal_bench::configure_log_run;
using wal_bench::paired_chunk_samples;
using wal_bench::process_read_bytes;
using wal_bench::process_write_bytes;
using wal_bench::raw_large_writes;
using wal_bench::raw_small_write;
using wal_bench::RawScale;
using wal_bench::report_paired_percentiles;
using wal_bench::report_percentiles;
using wal_bench::skipped_as_unavailable;

/// Messages between two corq_producer_flush calls of one producer (the "every 4096").
inline constexpr std::uint64_t msgs_per_flush = 4096;
inline constexpr std::size_t small_msg_bytes = 64;
inline constexpr std::size_t large_msg_bytes = 1024;
/// Producer threads of the publish, pubsub and unsettled-recovery benchmarks (the 2).
inline constexpr unsigned producers = 2;
/// Consumer threads of the pubsub benchmark, their prefetch and their corq_consume batch.
inline constexpr unsigned pubsub_consumers = 1;
inline constexpr std::uint32_t consumer_prefetch = 1024;
/// recovery_settled publishes batches of this many messages (one corq_producer_send each).
inline constexpr std::size_t settled_publish_batch = 256;
/// No wait of the benchmark may hang: a flush, sync or consume wait longer than this is an error.
inline constexpr std::int32_t wait_limit_ms = 60000;
/// The segment size the engine uses by default (64 MiB): the unit of the segment-count target.
inline constexpr std::uint64_t default_segment_bytes = std::uint64_t{64} << 20;

/// The engine option segment_bytes every benchmark engine gets (`--segment-mib N`); 0: the
/// engine's default. Set by main() before the benchmarks run.
void set_segment_bytes(std::uint64_t bytes);
std::uint64_t segment_bytes_option();

/// How much work one round does, and how many rounds.
struct DurableScale {
  RawScale raw;
  std::uint64_t paired_bandwidth_bytes;   // raw 1 MiB steps before and after each throughput run
  std::uint64_t latency_samples;          // synchronous publishes recorded per round
  std::uint64_t latency_warmup_samples;   // done first, not recorded
  std::uint64_t small_msgs_per_producer;  // publish_64B and pubsub_64B
  std::uint64_t large_msgs_per_producer;  // publish_1KiB
  std::uint64_t unsettled_msgs;           // recovery_unsettled (the issue: 1M)
  std::uint64_t settled_msgs;             // recovery_settled (the issue: 6M)
  std::uint64_t replay_cache_bytes;       // stream_replay_disk's stream_cache_bytes (stream: 4x)
  std::uint64_t txn_chunks;               // txn_*: pairs of phases (plain, txn) per round
  std::uint64_t txn_single_iterations;    // txn_*_b1: loops per worker and phase (sync=always)
  std::uint64_t txn_batch_iterations;     // txn_*_b100: loops per worker and phase (sync=always)
  int repetitions;
  bool quick;
};

DurableScale durable_full_scale();
DurableScale durable_quick_scale();

/// A back end: its io_backend value, and why it cannot be set up here (empty if it can).
struct Backend {
  const char *name;  // "psync" | "io_uring"
  std::string unavailable;
};

/// "what: CORQ_E...: ... (detail)" for a failed corq call.
std::string corq_failure(const std::string &what, int rc);

/// Opens (creating or recovering) an engine in `dir` with io_backend=<backend> and the given `sync`
/// option ("always", the engine's default, unless a benchmark says otherwise). Checks that the
/// engine really uses that back end. Returns "" or the failure (*out is then NULL).
std::string open_engine(const std::string &dir, const Backend &backend, corq_engine *&out,
                        const char *sync = "always");
/// A config from key/value pairs, or NULL (out of memory, or a key corq does not know); the caller
/// frees it with corq_config_free.
corq_config *make_config(const std::vector<std::pair<const char *, std::string>> &options);
/// Declares a durable queue without a dead-letter queue; `unbounded`: max_length 2^28 and
/// max_bytes 64 TiB (a publish-only run keeps every message ready), else the default limits.
std::string declare_queue(corq_engine *engine, const std::string &queue, bool unbounded);

/// What the engine's stats say about its log.
struct LogInfo {
  std::string backend;
  bool direct_io = false;
  std::uint64_t segments = 0;
  std::uint64_t segment_bytes_used = 0;
  std::uint64_t checkpoints = 0;
};
LogInfo log_info(corq_engine *engine);

/// The shared directory of the publish, latency and pubsub benchmarks of `backend`.
std::string engine_dir(const Backend &backend);
/// Opens the engine of engine_dir(backend) and declares the unbounded durable `queue` in it: the
/// start of a publish or latency run. Returns "" or the failure; *out may be set even on failure
/// (retire_engine closes it).
std::string open_round_engine(const Backend &backend, const std::string &queue, corq_engine *&out);
/// The end of that run: labels the benchmark from the engine's log (label_from), deletes `queue`,
/// waits up to a few seconds for the checkpointer to release the segments it held (down to
/// three), records the segments left as a counter, and closes the engine. Does nothing
/// when `engine` is NULL.
void retire_engine(benchmark::State &state, corq_engine *engine, const std::string &queue);

/// *.wal files in `dir` and their total size.
std::uint64_t count_wal_files(const std::string &dir, std::uint64_t *bytes = nullptr);
/// What `dir` and everything in it take on disk, as du counts: allocated blocks (st_blocks), so
/// a preallocated segment counts whole however little of it is written.
std::uint64_t disk_bytes(const std::string &dir);

/// Sets the benchmark's label from the engine's log (back end, O_DIRECT).
void label_from(benchmark::State &state, const LogInfo &info);

/// Publish-only msgs/s of publish_64B/<backend> in `round` (0 if it did not run): pubsub's base.
void set_publish_rate(const std::string &backend, int round, double msgs_per_s);
double publish_rate(const std::string &backend, int round);

/// One producer on `queue`: `msgs` single `bytes`-byte messages sent with CORQ_PUBLISH_NOWAIT, a
/// corq_producer_flush every msgs_per_flush and after the last. Returns "" or the failure.
std::string produce(corq_engine *engine, const std::string &queue, std::size_t bytes,
                    std::uint64_t msgs);

/// Runs `producers` threads, each opening a corq_producer on `queue` and sending `msgs` single
/// messages of `bytes` with CORQ_PUBLISH_NOWAIT, flushing every msgs_per_flush and at the end, and
/// `consumers` threads (0 for publish only) consuming up to consumer_prefetch and acking each batch
/// with corq_ack_upto until producers*msgs are acked, then corq_sync. All start behind one gate;
/// `seconds` runs from the gate to the last thread's end (consumers: after corq_sync).
std::string run_producers_consumers(corq_engine *engine, const std::string &queue,
                                    std::size_t bytes, std::uint64_t msgs, unsigned consumers,
                                    double &seconds);

void register_latency_round(const DurableScale &scale, int round, const Backend &backend);
void register_publish_round(const DurableScale &scale, int round, const Backend &backend,
                            std::size_t bytes);
void register_pubsub_round(const DurableScale &scale, int round, const Backend &backend);
/// durable_stream.cpp: stream_append_64B (after publish_64B of the same round: its baseline).
void register_stream_append_round(const DurableScale &scale, int round, const Backend &backend);
/// durable_stream_replay.cpp: stream_replay_disk (once per round: reads do not depend on the
/// back end).
void register_stream_replay_round(const DurableScale &scale, int round);
void register_recovery_round(const DurableScale &scale, int round, const Backend &backend);
void register_footprint_round(int round, const Backend &backend);
/// durable_txn.cpp: consume-transform-produce in transactions against the same calls without one
/// (issue #18), on `backend`, under sync=always and sync=none.
void register_txn_round(const DurableScale &scale, int round, const Backend &backend);

}  // namespace corq::bench::durable_bench
