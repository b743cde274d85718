// bench/streams/stream_harness.hpp — what the stream benchmarks share: the suite scale, the
// stream and queue they use, the clocks and counters, and the registration of each part.
//
// The stream benchmarks measure the in-memory streams (DESIGN §7, issue #17) through the C API
// (corq_stream_append, corq_stream_producer_send, corq_stream_read), exactly as an embedding
// program calls it, next to the queue doing the same job — corq_publish, corq_producer_send,
// corq_consume + corq_ack_upto — measured in the same binary and the same rounds. They reuse the
// ring harness (rings/bench_harness.hpp): pinning, Backoff, StartGate, FinishLine, the TSC clock,
// percentiles, one run per repetition. Every repetition does a fixed amount of work.
//
// Durable streams are not built yet: every row is in memory. Tail following has a partition
// reader's row and a consumer group's row.
#pragma once

#include "rings/bench_harness.hpp"

#include <corq/corq.h>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace corq::bench::streams {

/// Payload of every record and message (the size).
inline constexpr std::size_t payload_bytes = 64;
/// Records per corq_stream_producer_send and messages per corq_producer_send.
inline constexpr std::size_t batch_records = 64;
/// Most records per corq_stream_read, and the queue consumer's prefetch window (and most
/// deliveries per corq_consume).
inline constexpr std::size_t read_max = 256;
inline constexpr std::uint32_t prefetch = 256;
/// The streams keep this many records per partition (retention_records, discard=old): memory
/// stays bounded however long a run appends. One partition everywhere.
inline constexpr std::uint64_t retention_records = 1'000'000;
/// Tail following: the appender waits while it is more than `tail_window` records ahead of the
/// reader, checking every `flow_check_records` (a stream has no back-pressure of its own; see
/// stream_tail.cpp). tail_window + flow_check_records stays below the retention, so retention
/// never deletes a record the reader has not read.
inline constexpr std::uint64_t tail_window = retention_records / 8 * 7;
inline constexpr std::uint64_t flow_check_records = 1024;
static_assert(tail_window + flow_check_records < retention_records);
/// How long corq_stream_read / corq_consume wait for the first record (ms); a reader or consumer
/// that saw nothing for `idle_limit_s` gives up (the appender must have failed).
inline constexpr std::int32_t wait_timeout_ms = 10;
inline constexpr double idle_limit_s = 10.0;
/// Every `latency_sample_every`-th append call is timed on its own (TSC before and after).
inline constexpr std::uint64_t latency_sample_every = 8;
/// Single-thread appends into a queue: every `purge_chunk` messages the clock stops and the queue
/// is purged (as the routing suite's publisher-alone mode does), so it stays small.
inline constexpr std::uint64_t purge_chunk = 65'536;
/// A publish that meets a full queue (CORQ_EFULL, after corq's own 30 s wait) is retried this many
/// times before the run fails. Not expected: max_length is 1M and the consumer keeps up.
inline constexpr unsigned full_retries_max = 4;

/// How much work one repetition does, and how many repetitions (rounds).
struct StreamScale {
  std::uint64_t append_records;  // measured appends per repetition (one thread)
  std::uint64_t append_warmup;   // through the same path first, not measured: the stream reaches
                                 // its retention, so the measured appends delete as they go
  std::uint64_t tail_records;    // measured records per repetition, appender -> reader (a multiple
                                 // of 64, as is tail_warmup)
  std::uint64_t tail_warmup;     // appended (stream) / pushed through (queue) before the run
  std::uint64_t replay_records;  // retained records a reader replays from earliest
  int replay_passes;             // passes over them per repetition (a fresh reader each)
  std::uint64_t memory_records;  // records (messages) the memory probe's child appends
  int repetitions;
  bool quick;
};

StreamScale stream_full_scale();
StreamScale stream_quick_scale();

/// Registration: every benchmark once per round; main() registers `repetitions` rounds so the
/// scenarios take turns and a noisy minute on the shared machine hits them alike.
void register_append_round(const StreamScale &scale);
void register_tail_round(const StreamScale &scale);
void register_replay_round(const StreamScale &scale);
void register_memory_round(const StreamScale &scale);
void register_lag_round();

/// The memory probe's child-process entry (stream_replay.cpp): `kind` is "stream" or "queue".
/// Prints one line `rss_growth_bytes=N vm_growth_bytes=N records=N stats_bytes=N` and returns the
/// exit status.
int run_memory_probe(const std::string &kind, std::uint64_t records);

/// An in-memory engine, closed when this goes out of scope.
class BenchEngine {
 public:
  BenchEngine() = default;
  BenchEngine(const BenchEngine &) = delete;
  BenchEngine &operator=(const BenchEngine &) = delete;
  ~BenchEngine() {
    if (engine_ != nullptr) corq_close(engine_);
  }
  /// Opens the engine; returns an error text (empty if fine).
  std::string open();
  /// Declares a transient stream with one partition and retention_records (discard=old).
  std::string declare_stream(const char *name);
  /// Declares a transient queue with default options (max_length 1M).
  std::string declare_queue(const char *name);
  corq_engine *get() const noexcept { return engine_; }

 private:
  corq_engine *engine_ = nullptr;
};

/// `count` messages of payload_bytes, each with its own payload buffer: the first 8 bytes of each
/// are set per send (a sequence number), the rest is 0xab.
class Batch {
 public:
  explicit Batch(std::size_t count);
  /// Writes first + i into message i's first 8 bytes.
  void number(std::uint64_t first) noexcept;
  const corq_message *messages() const noexcept { return messages_.data(); }
  std::size_t size() const noexcept { return messages_.size(); }

 private:
  std::vector<unsigned char> payloads_;
  std::vector<corq_message> messages_;
};

/// The sequence number a payload carries (its first 8 bytes).
std::uint64_t sequence_of(const void *data) noexcept;

/// "what failed: CORQ_E...: detail" for an error code just returned on this thread.
std::string corq_failure(const char *what, int code);

/// Involuntary context switches of the calling thread so far (getrusage RUSAGE_THREAD).
std::uint64_t preemptions_of_this_thread() noexcept;

/// CPU time the calling thread has used, in seconds (CLOCK_THREAD_CPUTIME_ID): it does not run
/// while another process holds the core. A system call: read it around runs and chunks.
double thread_cpu_seconds() noexcept;

/// The load average (1 / 5 / 15 minutes) from /proc/loadavg, as text; "unknown" if unreadable.
std::string load_average();

/// Percentiles in ns of samples in TSC ticks (sorted in place).
struct LatencyNs {
  double p50 = 0, p99 = 0, p999 = 0;
};
LatencyNs latency_of_ticks(std::vector<std::uint64_t> &ticks);

/// One run per repetition, the time set by the benchmark (UseManualTime), milliseconds.
inline void configure_stream_run(benchmark::internal::Benchmark *b) {
  b->Iterations(1)->Repetitions(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace corq::bench::streams
