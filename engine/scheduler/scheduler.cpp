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
  stopping_.store(true, std::memory_order_seq_cst);
  wake_.notify_all();
  thread_.join();
}

std::int64_t Scheduler::run_pass(std::int64_t now_ms) {
  std::lock_guard lock(pass_mutex_);
  std::int64_t next_ms = now_ms + idle_wait_ms;
  for (const auto &queue : engine_.queues_snapshot()) {
    queue->advance_timers(now_ms);
    const bool ttl_waiting = queue->expire_ready(now_ms);
    if (queue->delayed() != 0 || ttl_waiting) next_ms = std::min(next_ms, now_ms + tick_ms);
  }
  if (const std::int64_t due = engine_.enforce_stream_retention(now_ms); due != 0)
    next_ms = std::min(next_ms, due);
  engine_.for_each_consumer(
      [&](Consumer &consumer) { next_ms = std::min(next_ms, consumer.expire_leases(now_ms)); });
  if (engine_.journal() != nullptr) {
    engine_.finish_txn_releases();
    engine_.maintain_log(now_ms);
    // Checkpoints keep the log short while messages come and go: look again soon.
    next_ms = std::min(next_ms, now_ms + Engine::checkpoint_interval_ms);
  }
  return std::max(next_ms, now_ms + 1);
}

void Scheduler::loop() {
  while (!stopping_.load(std::memory_order_seq_cst)) {
    poked_.store(false, std::memory_order_seq_cst);
    const std::int64_t now_ms = engine_.now_ms();
    const std::int64_t next_ms = run_pass(now_ms);
    next_pass_ms_.store(next_ms, std::memory_order_seq_cst);
    // Dekker with poke_if_before: it publishes poked_ then looks for waiters; we register as a
    // waiter then look at poked_ — one of us sees the other, so no poke is lost.
    const std::uint32_t epoch = wake_.prepare_wait();
    if (stopping_.load(std::memory_order_seq_cst) || poked_.load(std::memory_order_seq_cst)) {
      wake_.cancel_wait();
      continue;
    }
    // On the manual clock engine time does not pass while we sleep: only pokes and tests move it.
    const std::int64_t sleep_ms =
        engine_.clock().manual() ? idle_wait_ms : std::min(next_ms - now_ms, idle_wait_ms);
    wake_.wait(epoch, sync::deadline_after_ms(sleep_ms));
  }
}

}  // namespace corq::core
