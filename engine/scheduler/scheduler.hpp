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
  /// Resolution of delays and retry backoff while any are pending (the wheel is advanced this
  /// often), and of TTL expiry at the head of consumer-less queues.
  static constexpr std::int64_t tick_ms = 2;
  /// The longest it sleeps with nothing timed ahead (a backstop; work that appears pokes it).
  static constexpr std::int64_t idle_wait_ms = 1000;

  explicit Scheduler(Engine &engine) : engine_(engine) {}
  ~Scheduler() { stop(); }
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  void start();
  void stop() noexcept;
  /// Runs one pass at `now_ms` on the calling thread (tests; the thread's own loop). Returns when
  /// the next pass is due (engine clock ms): the earliest lease deadline, or now + tick_ms while
  /// delayed messages or TTL sweeps are pending, or now + idle_wait_ms.
  std::int64_t run_pass(std::int64_t now_ms);

  /// Something timed is due at `due_ms`: wakes the thread if it plans to sleep past that. One
  /// relaxed load when it will be awake in time anyway — the common case, since lease deadlines
  /// of new deliveries only grow.
  void poke_if_before(std::int64_t due_ms) noexcept {
    if (due_ms >= next_pass_ms_.load(std::memory_order_relaxed)) return;
    if (!poked_.load(std::memory_order_relaxed)) poked_.store(true, std::memory_order_seq_cst);
    wake_.notify_all();
  }

 private:
  void loop();

  Engine &engine_;
  std::thread thread_;
  std::mutex pass_mutex_;
  sync::EventCount wake_;
  std::atomic<bool> stopping_{false};
  /// When the thread will next run a pass (engine clock ms); pokes for later work are not needed.
  std::atomic<std::int64_t> next_pass_ms_{0};
  /// Set by poke_if_before, cleared by the loop: a poke between a pass and the sleep is not lost.
  std::atomic<bool> poked_{false};
};

}  // namespace corq::core
