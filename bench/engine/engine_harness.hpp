// bench/engine/engine_harness.hpp — what the engine benchmarks share beyond the ring harness: the
// suite scale, an in-memory engine with one bench queue, the wall clock the latency samples use,
// and the board on which the throughput runs leave their rate for the latency runs.
//
// The engine benchmarks measure corq through its C API (corq.h), exactly as an embedding program
// calls it, next to moodycamel::ConcurrentQueue (with tokens) in the same binary and the same run.
// They reuse the ring harness (rings/bench_harness.hpp): pinning, Backoff, StartGate, FinishLine,
// percentiles, one-run-per-repetition with medians. Every repetition does a fixed amount of work.
#pragma once

#include "rings/bench_harness.hpp"

#include <corq/corq.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace corq::bench::engine {

/// Prefetch window of every consumer (the setting).
inline constexpr std::uint32_t prefetch = 256;
/// Messages per corq_producer_send / corq_consume in the batch scenario, and items per
/// enqueue_bulk / try_dequeue_bulk for moodycamel.
inline constexpr std::size_t batch_messages = 64;
/// How long a consumer's corq_consume waits for the first message. Small: a consumer that timed
/// out just calls again; a consumer that has seen nothing for `idle_timeouts_max` calls in a row
/// gives up (the producer must have failed) and the benchmark reports an error instead of hanging.
inline constexpr std::int32_t consume_timeout_ms = 10;
inline constexpr unsigned idle_timeouts_max = 1000;  // 10 s without a single message
/// A publish that meets a full queue (CORQ_EFULL) is retried; this many in a row is a failure.
/// (Not expected: max_length is 1M and the consumer keeps up. Each try blocks up to the default
/// publish timeout of 30 s inside corq before returning CORQ_EFULL.)
inline constexpr unsigned full_retries_max = 4;
/// The queue every engine benchmark uses (default options: transient, max_length 1M, shards 1).
inline constexpr const char *queue_name = "bench";

/// How much work one repetition does, and how many repetitions.
struct EngineScale {
  std::uint64_t single_messages;          // per repetition, one message per call (1a)
  std::uint64_t batch_messages;           // per repetition, 64 per call (1b)
  std::uint64_t warmup_messages;          // pushed through a fresh queue before it is measured
  std::uint64_t memory_messages;          // ready messages in the memory probe (2)
  std::uint64_t latency_messages;         // recorded per repetition (3)
  std::uint64_t latency_warmup_messages;  // sent first at the same rate, not recorded
  double latency_rate_fraction;           // of the best single-message rate of 1a
  std::uint64_t ping_pong_round_trips;    // recorded per repetition, the bare-ring baseline of 3
  std::uint64_t ping_pong_warmup_round_trips;
  int repetitions;
  bool quick;
};

EngineScale engine_full_scale();
EngineScale engine_quick_scale();

/// Registration. Memory runs its repetitions back to back (a child process each: nothing in it
/// depends on what else runs). Throughput and latency are registered once per round, one repetition
/// of every benchmark per round, and main() registers `repetitions` rounds: corq and moodycamel
/// take turns, so a noisy minute on a shared machine hits both alike (a deterministic interleaving;
/// the latency rounds come last because they take their rate from the single-message runs).
void register_engine_memory(const EngineScale &scale);
void register_engine_throughput_round(const EngineScale &scale);
void register_engine_latency_round(const EngineScale &scale);

/// The memory probe's child-process entry (see engine_memory.cpp): `peer` is "corq" or
/// "moodycamel". Prints one line `rss_growth_bytes=N messages=N` and returns the exit status.
int run_memory_probe(const std::string &peer, std::uint64_t messages);

/// The Google Benchmark settings of every engine benchmark (one run per repetition, manual time,
/// medians on the console): the ring harness's, with `repetitions` repetitions.
inline void configure_engine_run(benchmark::internal::Benchmark *b, int repetitions) {
  SuiteScale ring_scale{};
  ring_scale.repetitions = repetitions;
  configure_run(b, ring_scale);
}

/// Involuntary context switches of the calling thread so far (getrusage RUSAGE_THREAD): how often
/// something else took its core. Each benchmark reports the count over its measured run as
/// `preemptions`: on a shared machine it tells a clean repetition from a disturbed one.
std::uint64_t preemptions_of_this_thread() noexcept;

/// Wall-clock nanoseconds (steady_clock): comparable across cores, which the latency samples need
/// (the send time is stamped on one core, the delivery time on the other).
inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// An in-memory engine (corq_open(NULL, ...)) with the bench queue declared with default options.
/// Opening or declaring failing throws std::runtime_error with corq's detail message.
class BenchEngine {
 public:
  BenchEngine();
  ~BenchEngine();
  BenchEngine(const BenchEngine &) = delete;
  BenchEngine &operator=(const BenchEngine &) = delete;

  corq_engine *get() const noexcept { return engine_; }
  /// Pushes `messages` 8-byte messages through the queue on the calling thread (batches of 64,
  /// consumed and acked at once), so that the measured run meets a queue whose ready ring pages are
  /// already committed — the steady state of a long-running service, not its first minute.
  void warm_up(std::uint64_t messages);

 private:
  corq_engine *engine_ = nullptr;
};

/// "what failed: CORQ_E...: detail" for an error code just returned on this thread.
std::string corq_failure(const char *what, int code);

/// The best single-message rates (msgs/s) of the corq 1a repetitions of this run: the latency
/// benchmark runs its publisher at a fraction of the best median. Thread-safe.
class RateBoard {
 public:
  void record(const std::string &scenario, double messages_per_s);
  /// The highest, over scenarios, of each scenario's median rate; 0 if nothing was recorded.
  double best_median() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::vector<double>>> rates_;
};

RateBoard &single_rate_board();

/// One 1a corq repetition (producer_send of one message per call), run outside Google Benchmark:
/// the latency benchmark calls it when it runs without 1a in the same process (a filter). Returns
/// msgs/s, or 0 on failure.
double measure_single_send_rate(std::uint64_t messages, std::uint64_t warmup_messages);

}  // namespace corq::bench::engine
