// bench/rings/bench_harness.cpp — the parts of the harness that need a definition: which CPUs this
// process may use, pinning a thread to one of them, and the calibrated tick clock. Shared by
// corq_ring_bench and corq_engine_bench.
#include "bench_harness.hpp"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <thread>
#include <vector>

namespace corq::bench {
namespace {

struct TickCalibration {
  double ns_per_tick = 1.0;
};

std::uint64_t read_ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

/// Measures the tick rate against steady_clock over `calibration_ms`.
TickCalibration calibrate_ticks() {
  constexpr auto calibration_ms = std::chrono::milliseconds(50);
  const auto wall_start = std::chrono::steady_clock::now();
  const std::uint64_t ticks_start = read_ticks();
  std::this_thread::sleep_for(calibration_ms);
  const std::uint64_t ticks_end = read_ticks();
  const auto wall_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - wall_start)
          .count();
  return TickCalibration{wall_ns / static_cast<double>(ticks_end - ticks_start)};
}

const TickCalibration &tick_calibration() {
  static const TickCalibration calibration = calibrate_ticks();
  return calibration;
}

}  // namespace

const std::vector<int> &allowed_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> list;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) list.push_back(cpu);
      }
    }
    return list;
  }();
  return cpus;
}

bool pin_current_thread(unsigned logical) {
  const std::vector<int> &cpus = allowed_cpus();
  if (cpus.empty()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[logical % cpus.size()], &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

std::uint64_t ticks_now() noexcept { return read_ticks(); }
double ns_per_tick() { return tick_calibration().ns_per_tick; }

}  // namespace corq::bench
