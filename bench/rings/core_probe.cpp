// bench/rings/core_probe.cpp — how far apart the two benchmark cores are right now.
//
// On a virtual machine the host may move the virtual CPUs between physical cores (or onto two
// hyper-threads of one core) while the suite runs, and every cross-core number moves with it: a
// cache line's round trip between CPU 0 and CPU 1 has been seen to change from ~150 ns to ~700 ns
// in the middle of a run. Each repetition therefore records the current round trip first (counter
// `core_rtt_ns`), so a result can be read against the conditions it was taken in, and the report
// compares peers within one repetition round, whose conditions are close.
#include "bench_harness.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace corq::bench {
namespace {

constexpr std::uint64_t probe_round_trips = 2000;

/// The one cache line the two probe threads bounce.
struct alignas(cache_line_bytes) ProbeLine {
  std::atomic<std::uint64_t> turn{0};
  char padding[cache_line_bytes - sizeof(std::atomic<std::uint64_t>)] = {};
};

void await_turn(const ProbeLine &line, std::uint64_t turn) {
  Backoff backoff;
  while (line.turn.load(std::memory_order_acquire) != turn) backoff.wait();
}

}  // namespace

double probe_core_to_core_rtt_ns() {
  ProbeLine line;
  StartGate gate(2);
  std::vector<std::uint64_t> samples(probe_round_trips);
  std::thread pinger([&] {
    pin_current_thread(0);
    gate.arrive_and_wait();
    for (std::uint64_t i = 0; i < probe_round_trips; ++i) {
      const std::uint64_t start = ticks_now();
      line.turn.store(2 * i + 1, std::memory_order_release);  // the line goes to CPU 1...
      await_turn(line, 2 * i + 2);                            // ...and comes back
      samples[i] = ticks_now() - start;
    }
  });
  std::thread echo([&] {
    pin_current_thread(1);
    gate.arrive_and_wait();
    for (std::uint64_t i = 0; i < probe_round_trips; ++i) {
      await_turn(line, 2 * i + 1);
      line.turn.store(2 * i + 2, std::memory_order_release);
    }
  });
  gate.open();
  pinger.join();
  echo.join();
  std::sort(samples.begin(), samples.end());
  return ns_per_tick() * quantile_of_sorted(samples, 0.5);
}

}  // namespace corq::bench
