// engine/engine/engine.hpp — the engine: queue registry, consumers, clock, ids, scheduler, log.
//
// Control plane (declare, delete, open/close of consumers, stats) takes `registry_mutex_`. The data
// plane reaches a queue without it: producers and consumers hold the queue, and corq_publish finds
// it through a per-thread cache validated by `registry_version_` (see lookup_for_publish).
//
// Lifetime: the engine lives until corq_close has been called AND every producer and consumer
// handle is closed (`handles_` counts them), so a handle never points at freed memory.
#pragma once

#include "engine/clock.hpp"
#include "options/options.hpp"
#include "queue/queue.hpp"
#include "scheduler/scheduler.hpp"

#include <corq/corq.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace corq::core {

class Consumer;

class Engine {
 public:
  explicit Engine(const EngineOptions &options);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  const EngineOptions &options() const noexcept { return options_; }
  std::uint64_t instance_id() const noexcept { return instance_id_; }
  EngineClock &clock() noexcept { return clock_; }
  std::int64_t now_ms() const noexcept { return clock_.now_ms(); }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  const std::atomic<bool> &closed_flag() const noexcept { return closed_; }

  /// Reserves `count` consecutive message ids; returns the first.
  std::uint64_t take_ids(std::size_t count) noexcept {
    return next_id_.fetch_add(count, std::memory_order_relaxed);
  }
  /// True if `id` has been handed out.
  bool id_assigned(std::uint64_t id) const noexcept {
    return id != 0 && id < next_id_.load(std::memory_order_relaxed);
  }

  // ---- queues (control plane) ----
  /// Declares `name` (and its dead-letter queue). Returns a CORQ_* code; `error` on failure.
  int declare(const std::string &name, const QueueOptions &options, std::string &error);
  int remove(const std::string &name, std::string &error);
  std::shared_ptr<Queue> find(std::string_view name);
  /// Like find, through a small per-thread cache: no lock while the registry is unchanged. The
  /// queue stays alive until the calling thread's next lookup. `thread_shard` gets the calling
  /// thread's shard number (each publishing thread sticks to one shard: per-thread order).
  Queue *lookup_for_publish(const char *name, std::size_t &thread_shard);
  std::vector<std::shared_ptr<Queue>> queues_snapshot();

  // ---- consumers ----
  void attach(Consumer *consumer);
  void detach(Consumer *consumer);
  /// Calls fn(Consumer&) for every attached consumer, holding the consumer list's lock.
  template <class Fn>
  void for_each_consumer(Fn &&fn) {
    std::lock_guard lock(consumers_mutex_);
    for (Consumer *c : consumers_) fn(*c);
  }

  // ---- lifetime ----
  void retain_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  /// Drops a handle's reference; deletes the engine if it was the last and the engine is closed.
  static void release_handle(Engine *engine) noexcept;
  /// corq_close: stop publishing, wake every waiter, stop the scheduler, drop the owner reference.
  static void close(Engine *engine) noexcept;

  // ---- log ----
  void set_log(corq_log_fn fn, void *user);
  void log(int level, const std::string &message) noexcept;

  Scheduler &scheduler() noexcept { return scheduler_; }

 private:
  int declare_locked(const std::string &name, const QueueOptions &options, std::string &error);

  const EngineOptions options_;
  const std::uint64_t instance_id_;
  EngineClock clock_;
  alignas(cache_line_bytes) std::atomic<std::uint64_t> next_id_{1};
  alignas(cache_line_bytes) std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> registry_version_{1};
  std::atomic<std::int64_t> handles_{1};  // the owner (until corq_close) + open handles

  std::mutex registry_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Queue>> queues_;

  std::mutex consumers_mutex_;
  std::vector<Consumer *> consumers_;

  std::mutex log_mutex_;
  corq_log_fn log_fn_ = nullptr;
  void *log_user_ = nullptr;

  Scheduler scheduler_;  // last: its thread uses the members above
};

}  // namespace corq::core
