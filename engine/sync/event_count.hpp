// engine/sync/event_count.hpp — how a corq thread waits for a lock-free structure to change.
//
// The rings never block. When a consumer finds its ring empty (or a publisher finds a queue full)
// it must wait without burning a core, yet wake within microseconds when the state changes, and it
// must not collapse when there are more runnable threads than cores (spinning then steals the very
// core the thread it waits for needs). An EventCount gives the three-stage wait every corq wait
// uses:
//
//   1. spin:  re-check the condition `spin_checks` times, with cpu_relax() between checks;
//   2. yield: give the core away `yield_checks` times (sched_yield), re-checking each time;
//   3. sleep: futex-wait on the epoch word until a notifier bumps it or the deadline passes.
//
// The protocol (Dekker-style, so a wake is never lost):
//   waiter:    epoch = prepare_wait(); if (condition()) done; else wait(epoch, deadline);
//   notifier:  make the condition true; notify_all();
// prepare_wait() registers the waiter and reads the epoch; notify_all() bumps the epoch and wakes
// the futex only if someone is registered, so a notify with nobody asleep costs one atomic RMW and
// one load. Both sides use seq_cst on the (waiters, epoch) pair: the waiter's increment of
// `waiters_` and the notifier's increment of `epoch_` are totally ordered, so either the notifier
// sees the waiter (and wakes it) or the waiter sees the new epoch (and does not sleep).
#pragma once

#include <corq/platform.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace corq::sync {

using Clock = std::chrono::steady_clock;

/// Bounds of the spin and yield stages. Spinning ~1-2 µs covers a producer that is mid-publish on
/// the other core; past that a futex sleep (a few µs to wake) is cheaper than the stolen CPU.
inline constexpr int spin_checks = 256;
inline constexpr int yield_checks = 4;

class EventCount {
 public:
  /// Registers the caller as a waiter and returns the epoch to pass to wait(). Every prepare_wait()
  /// must be followed by exactly one wait() or cancel_wait().
  std::uint32_t prepare_wait() noexcept {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    return epoch_.load(std::memory_order_seq_cst);
  }
  /// Unregisters a waiter whose condition turned out to be true after prepare_wait().
  void cancel_wait() noexcept { waiters_.fetch_sub(1, std::memory_order_seq_cst); }

  /// Sleeps until the epoch differs from `epoch`, the deadline passes, or a spurious wake-up.
  /// Returns false if the deadline had passed. Unregisters the waiter.
  bool wait(std::uint32_t epoch, Clock::time_point deadline) noexcept;

  /// Wakes every waiter. Call after making the awaited condition true (any store will do: the
  /// epoch's read-modify-write orders it before the look at the waiters).
  void notify_all() noexcept {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) wake_all();
  }

  /// Like notify_all, but costs only a load when nobody waits — for conditions that are changed
  /// by seq_cst read-modify-writes and read by seq_cst loads (the queue's counters): then the
  /// waiter's registration and the condition change are totally ordered (Dekker), and either the
  /// notifier sees the waiter or the waiter sees the condition.
  void notify_if_waiting() noexcept {
    if (waiters_.load(std::memory_order_seq_cst) == 0) return;
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    wake_all();
  }

  /// Waits until `condition()` is true or `deadline` passes; returns the last value of condition().
  /// `condition` must be cheap and side-effect free: it is called many times.
  template <class Condition>
  bool await(Condition &&condition, Clock::time_point deadline) {
    for (int i = 0; i < spin_checks; ++i) {
      if (condition()) return true;
      cpu_relax();
    }
    for (int i = 0; i < yield_checks; ++i) {
      if (condition()) return true;
      yield_core();
    }
    for (;;) {
      const std::uint32_t epoch = prepare_wait();
      if (condition()) {
        cancel_wait();
        return true;
      }
      if (!wait(epoch, deadline)) return condition();
    }
  }

 private:
  void wake_all() noexcept;
  static void yield_core() noexcept;

  // The futex word; bumped by every notify. 32 bits because that is what futex(2) compares.
  alignas(cache_line_bytes) std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

/// Deadline `timeout_ms` from now; a negative timeout means "no limit" (time_point::max()).
Clock::time_point deadline_after_ms(std::int64_t timeout_ms) noexcept;

}  // namespace corq::sync
