// bench/rings/bench_harness.hpp — what every ring benchmark shares: thread placement, the wait
// policy, the start gate, the clocks and the percentile arithmetic.
//
// The ring benchmarks do not use Google Benchmark's own threads: each repetition starts its own
// producer and consumer threads, pins them to fixed CPUs, releases them together through a
// StartGate, moves a fixed number of items, and reports the wall time of that one run
// (Iterations(1) with UseManualTime). A repetition therefore always does the same work, and the
// median over repetitions is what the report uses: on a shared VM one slow run must not move the
// result.
//
// Every peer (corq, Boost.Lockfree, moodycamel, ck_ring) runs through exactly the same loops, the
// same Backoff and the same placement, so the only thing that differs between two rows is the
// queue.
#pragma once

#include <corq/platform.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace corq::bench {

/// Every bounded peer gets this capacity (corq rounds to a power of two: it is one already).
inline constexpr std::size_t ring_capacity = 4096;

/// Busy-waits this many times (cpu_relax between checks) before yielding the core. ~128 pauses is a
/// few microseconds: long enough to cover a peer that is mid-operation on the other core, short
/// enough that 8 threads on 2 cores hand the core to the thread they are waiting for.
inline constexpr unsigned backoff_spins_max = 128;

/// How much work one repetition does, and how many repetitions. `quick` shrinks everything for a
/// CI smoke run (seconds, numbers not meaningful).
struct SuiteScale {
  std::uint64_t spsc_items;   // items per repetition, SPSC per-item and bulk
  std::uint64_t mpmc_items;   // items per repetition (all producers together), MPMC
  std::uint64_t round_trips;  // recorded round trips per repetition, ping-pong
  std::uint64_t warmup_round_trips;
  int repetitions;
};

SuiteScale full_scale();
SuiteScale quick_scale();

void register_spsc_throughput(const SuiteScale &scale);
void register_ping_pong_latency(const SuiteScale &scale);
void register_mpmc_throughput(const SuiteScale &scale);

/// The CPUs this process may run on, read once (call it before any thread pins itself).
const std::vector<int> &allowed_cpus();

/// Pins the calling thread to the `logical`-th CPU this process may run on (wrapping around).
/// Returns false, leaving the thread unpinned, if the process may not change its affinity (some
/// containers) — the benchmark still runs, and reports `pinned = 0`.
bool pin_current_thread(unsigned logical);

/// The wait policy of every benchmark loop, for every peer alike: spin, then yield. It also counts
/// how often its thread had to wait (found the queue full / empty), which the benchmarks report per
/// item: it tells which side was the bottleneck.
class Backoff {
 public:
  void wait() noexcept {
    ++waits_;
    if (spins_ < backoff_spins_max) {
      ++spins_;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { spins_ = 0; }
  std::uint64_t waits() const noexcept { return waits_; }

 private:
  unsigned spins_ = 0;
  std::uint64_t waits_ = 0;
};

/// Releases all worker threads of one repetition at once, after every one of them is running and
/// pinned, so thread start-up is not part of the measured time.
class StartGate {
 public:
  explicit StartGate(unsigned workers) : workers_(workers) {}

  /// Worker side: announce readiness, wait for open().
  void arrive_and_wait() noexcept {
    ready_.fetch_add(1, std::memory_order_acq_rel);
    Backoff backoff;
    while (!open_.load(std::memory_order_acquire)) backoff.wait();
  }
  /// Coordinator side: wait until every worker arrived, then release them; returns the start time.
  std::chrono::steady_clock::time_point open() noexcept {
    Backoff backoff;
    while (ready_.load(std::memory_order_acquire) != workers_) backoff.wait();
    const auto start = std::chrono::steady_clock::now();
    open_.store(true, std::memory_order_release);
    return start;
  }

 private:
  const unsigned workers_;
  std::atomic<unsigned> ready_{0};
  std::atomic<bool> open_{false};
};

/// The latest of several threads' finish times (each finishing thread calls record()).
class FinishLine {
 public:
  void record() noexcept {
    const auto now_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    auto seen = latest_ns_.load(std::memory_order_relaxed);
    while (seen < now_ns && !latest_ns_.compare_exchange_weak(seen, now_ns)) {
    }
  }
  double seconds_since(std::chrono::steady_clock::time_point start) const noexcept {
    const auto start_ns = start.time_since_epoch().count();
    return static_cast<double>(latest_ns_.load() - start_ns) * 1e-9;
  }

 private:
  std::atomic<std::chrono::steady_clock::rep> latest_ns_{0};
};

/// A cheap timestamp for per-round-trip latency: the TSC on x86-64 (constant rate on the CPUs this
/// targets; ~10 ns to read on a VM versus ~25 ns for steady_clock), steady_clock elsewhere.
/// ns_per_tick() converts, with a ratio calibrated once against steady_clock.
std::uint64_t ticks_now() noexcept;
double ns_per_tick();

/// The current round trip of one cache line between CPU 0 and CPU 1 (median of a few thousand, a
/// millisecond or so). Every repetition records it as `core_rtt_ns`: see core_probe.cpp.
double probe_core_to_core_rtt_ns();

/// The `quantile` (0..1] of ascending `sorted` samples by the nearest-rank method (0 if empty).
inline double quantile_of_sorted(const std::vector<std::uint64_t> &sorted, double quantile) {
  if (sorted.empty()) return 0.0;
  const double exact_rank = quantile * static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(exact_rank);
  if (static_cast<double>(rank) < exact_rank) ++rank;  // ceil
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

/// Common settings of every ring benchmark: one run per repetition, wall time measured by the
/// benchmark itself, medians shown on the console (the JSON keeps every repetition too).
inline void configure_run(benchmark::internal::Benchmark *b, const SuiteScale &scale) {
  b->Iterations(1)
      ->Repetitions(scale.repetitions)
      ->UseManualTime()
      ->DisplayAggregatesOnly(scale.repetitions > 1)
      ->Unit(benchmark::kMillisecond);
}

/// Sum of the values 0..n-1: what a consumer must see if nothing was lost or duplicated.
inline constexpr std::uint64_t checksum_of_first(std::uint64_t n) { return n * (n - 1) / 2; }

}  // namespace corq::bench
