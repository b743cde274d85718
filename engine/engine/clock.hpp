// engine/engine/clock.hpp — the engine's notion of time, in unix milliseconds.
//
// The system clock reads steady_clock (monotonic: deadlines never jump with NTP) offset to unix
// time once at open. The manual clock only moves when a test says so (testing::advance_clock), so
// tests of delays, backoff, leases and TTL never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace corq {

class EngineClock {
 public:
  explicit EngineClock(bool manual)
      : manual_(manual),
        unix_at_start_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()),
        steady_at_start_(std::chrono::steady_clock::now()) {}

  std::int64_t now_ms() const noexcept {
    if (manual_) return unix_at_start_ms_ + manual_offset_ms_.load(std::memory_order_acquire);
    const auto elapsed = std::chrono::steady_clock::now() - steady_at_start_;
    return unix_at_start_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  }
  bool manual() const noexcept { return manual_; }
  void advance(std::int64_t ms) noexcept { manual_offset_ms_.fetch_add(ms, std::memory_order_acq_rel); }

 private:
  const bool manual_;
  const std::int64_t unix_at_start_ms_;
  const std::chrono::steady_clock::time_point steady_at_start_;
  std::atomic<std::int64_t> manual_offset_ms_{0};
};

}  // namespace corq
