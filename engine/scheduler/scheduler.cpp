// engine/scheduler/scheduler.cpp — the scheduler thread's loop and one pass over timers and leases.
#include "scheduler/scheduler.hpp"

#include "consumer/consumer.hpp"
#include "engine/engine.hpp"

namespace corq::core {

void Scheduler::start() {
  thread_ = std::thread([this] { loop(); });
}

void Scheduler::stop() noexcept {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  wake_.notify_all();
  thread_.join();
}

void Scheduler::run_pass(std::int64_t now_ms) {
  std::lock_guard lock(pass_mutex_);
  bool timed_work = false;
  for (const auto &queue : engine_.queues_snapshot()) {
    queue->advance_timers(now_ms);
    const bool ttl_waiting = queue->expire_ready(now_ms);
    timed_work |= queue->delayed() != 0 || ttl_waiting;
  }
  engine_.for_each_consumer([&](Consumer &consumer) {
    consumer.expire_leases(now_ms);
    timed_work |= consumer.in_flight() != 0;
  });
  idle_.store(!timed_work, std::memory_order_relaxed);
}

void Scheduler::loop() {
  while (!stopping_.load(std::memory_order_acquire)) {
    run_pass(engine_.now_ms());
    // Ticking while there is timed work; otherwise sleep until poked (or a while, as a backstop).
    // poke() tests idle_ before notifying: a poke between our pass and our wait is caught by the
    // epoch taken in prepare_wait below.
    const bool idle = idle_.load(std::memory_order_relaxed);
    const auto deadline = sync::deadline_after_ms(idle ? idle_wait_ms : tick_ms);
    const std::uint32_t epoch = wake_.prepare_wait();
    if (stopping_.load(std::memory_order_acquire)) {
      wake_.cancel_wait();
      break;
    }
    wake_.wait(epoch, deadline);
  }
}

}  // namespace corq::core
