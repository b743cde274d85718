// engine/scheduler/scheduler.hpp — the one thread that owns time.
//
// Every `tick_ms` while there is timed work (delayed messages, unsettled deliveries), and otherwise
// when poked, the scheduler runs one pass: each queue's timer wheel fires what is due (delays,
// retry backoff), and each consumer's window gives up deliveries whose lease has expired. A pass
// holds `pass_mutex_`, so a test's advance_clock can run a pass synchronously and
// deterministically.
#pragma once

#include "sync/event_count.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

namespace corq::core {

class Engine;

class Scheduler {
 public:
  /// How often the scheduler looks at timers and leases while there are any: the resolution of
  /// delays, backoff and leases on the system clock.
  static constexpr std::int64_t tick_ms = 2;
  /// The longest it sleeps when there is nothing timed (it is poked when work appears).
  static constexpr std::int64_t idle_wait_ms = 1000;

  explicit Scheduler(Engine &engine) : engine_(engine) {}
  ~Scheduler() { stop(); }
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  void start();
  void stop() noexcept;
  /// Runs one pass at `now_ms` on the calling thread (tests; the thread's own loop).
  void run_pass(std::int64_t now_ms);
  /// Wakes the thread if it is idle; cheap (one load) when it is already ticking.
  void poke() noexcept {
    if (idle_.load(std::memory_order_relaxed)) wake_.notify_all();
  }

 private:
  void loop();

  Engine &engine_;
  std::thread thread_;
  std::mutex pass_mutex_;
  sync::EventCount wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> idle_{false};
};

}  // namespace corq::core
