// engine/engine/clock.hpp — the engine's notion of time, in unix milliseconds.
//
// The system clock reads CLOCK_MONOTONIC_COARSE (monotonic: deadlines never jump with NTP; coarse:
// a few ns instead of ~20 per read, at the resolution of the kernel tick, 1-4 ms — plenty for
// leases, TTLs and publish timestamps in milliseconds) offset to unix time once at open. The manual
// clock only moves when a test says so (testing::advance_clock), so tests of delays, backoff,
// leases and TTL never sleep.
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace corq::core {

class EngineClock {
 public:
  explicit EngineClock(bool manual)
      : manual_(manual),
        unix_at_start_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()),
        monotonic_at_start_ms_(monotonic_ms()) {}

  std::int64_t now_ms() const noexcept {
    if (manual_) return unix_at_start_ms_ + manual_offset_ms_.load(std::memory_order_acquire);
    return unix_at_start_ms_ + (monotonic_ms() - monotonic_at_start_ms_);
  }
  bool manual() const noexcept { return manual_; }
  void advance(std::int64_t ms) noexcept {
    manual_offset_ms_.fetch_add(ms, std::memory_order_acq_rel);
  }

 private:
  const bool manual_;
  const std::int64_t unix_at_start_ms_;
  static std::int64_t monotonic_ms() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
  }

  const std::int64_t monotonic_at_start_ms_;
  std::atomic<std::int64_t> manual_offset_ms_{0};
};

}  // namespace corq::core
