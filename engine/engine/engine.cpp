// engine/engine/engine.cpp — registry, lifetime and log of the engine.
#include "engine/engine.hpp"

#include "consumer/consumer.hpp"

#include <algorithm>
#include <array>

namespace corq::core {
namespace {

std::atomic<std::uint64_t> engine_instances{0};

/// corq_publish's per-thread cache of name -> queue, so the hot path takes no lock.
struct PublishCacheEntry {
  std::uint64_t engine_instance = 0;
  std::uint64_t registry_version = 0;
  std::string name;
  std::shared_ptr<Queue> queue;
};
constexpr std::size_t publish_cache_entries = 8;

/// Everything corq_publish keeps per thread, in one thread_local: in a shared library each distinct
/// thread_local costs a __tls_get_addr call per access.
struct PublishThreadState {
  std::array<PublishCacheEntry, publish_cache_entries> cache;
  std::size_t victim = 0;
  std::size_t shard = 0;  // this thread's shard on sharded queues (assigned on first use)
  bool shard_assigned = false;
};
thread_local PublishThreadState publish_thread;
std::atomic<std::size_t> publish_threads_seen{0};

}  // namespace

Engine::Engine(const EngineOptions &options)
    : options_(options),
      instance_id_(engine_instances.fetch_add(1, std::memory_order_relaxed) + 1),
      clock_(options.clock == ClockKind::manual),
      scheduler_(*this) {
  scheduler_.start();
}

Engine::~Engine() {
  scheduler_.stop();
  std::lock_guard lock(registry_mutex_);
  for (auto &[name, queue] : queues_) queue->mark_deleted();
  queues_.clear();
}

// ---- registry
// ------------------------------------------------------------------------------------

int Engine::declare(const std::string &name, const QueueOptions &options, std::string &error) {
  std::lock_guard lock(registry_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  return declare_locked(name, options, error);
}

int Engine::declare_locked(const std::string &name, const QueueOptions &options,
                           std::string &error) {
  if (auto it = queues_.find(name); it != queues_.end()) {
    if (it->second->options() == options) return CORQ_OK;
    error = "queue '" + name +
            "' exists with different options: " + queue_options_json(it->second->options(), name) +
            " vs " + queue_options_json(options, name);
    return CORQ_EEXIST;
  }
  const std::string dead_letter = options.dead_letter_queue_for(name);
  if (dead_letter == name)
    return error = "a queue cannot be its own dead-letter queue", CORQ_EINVAL;
  if (!dead_letter.empty() && queues_.find(dead_letter) == queues_.end()) {
    std::string name_error;
    if (!valid_queue_name(dead_letter.c_str(), name_error)) {
      error = "dead-letter queue name '" + dead_letter + "': " + name_error +
              " (set dead_letter_queue to a shorter name, or \"\")";
      return CORQ_EINVAL;
    }
    // Auto-declared: default options, same durability, no dead-letter queue of its own.
    QueueOptions dlq_options;
    dlq_options.durable = options.durable;
    dlq_options.dead_letter_queue_set = true;
    dlq_options.dead_letter_queue.clear();
    queues_.emplace(dead_letter, std::make_shared<Queue>(*this, dead_letter, dlq_options));
  }
  queues_.emplace(name, std::make_shared<Queue>(*this, name, options));
  registry_version_.fetch_add(1, std::memory_order_release);
  return CORQ_OK;
}

int Engine::remove(const std::string &name, std::string &error) {
  std::shared_ptr<Queue> queue;
  {
    std::lock_guard lock(registry_mutex_);
    if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
    auto it = queues_.find(name);
    if (it == queues_.end()) return error = "no queue named '" + name + "'", CORQ_ENOENT;
    queue = std::move(it->second);
    queues_.erase(it);
    registry_version_.fetch_add(1, std::memory_order_release);
  }
  queue->mark_deleted();
  return CORQ_OK;
}

std::shared_ptr<Queue> Engine::find(std::string_view name) {
  std::lock_guard lock(registry_mutex_);
  auto it = queues_.find(std::string(name));
  return it == queues_.end() ? nullptr : it->second;
}

Queue *Engine::lookup_for_publish(const char *name, std::size_t &thread_shard) {
  PublishThreadState &state = publish_thread;
  if (!state.shard_assigned) {
    state.shard = publish_threads_seen.fetch_add(1, std::memory_order_relaxed);
    state.shard_assigned = true;
  }
  thread_shard = state.shard;
  const std::uint64_t version = registry_version_.load(std::memory_order_acquire);
  for (auto &entry : state.cache) {
    if (entry.engine_instance == instance_id_ && entry.registry_version == version &&
        entry.name == name) {
      return entry.queue.get();  // the cache entry keeps it alive for the caller's call
    }
  }
  // Miss: drop this engine's stale entries (they may pin deleted queues), then look up.
  for (auto &entry : state.cache) {
    if (entry.engine_instance == instance_id_ && entry.registry_version != version) entry = {};
  }
  std::shared_ptr<Queue> queue = find(name);
  if (queue == nullptr) return nullptr;
  PublishCacheEntry &slot = state.cache[state.victim++ % publish_cache_entries];
  slot = {instance_id_, version, name, std::move(queue)};
  return slot.queue.get();
}

std::vector<std::shared_ptr<Queue>> Engine::queues_snapshot() {
  std::lock_guard lock(registry_mutex_);
  std::vector<std::shared_ptr<Queue>> all;
  all.reserve(queues_.size());
  for (auto &[name, queue] : queues_) all.push_back(queue);
  std::sort(all.begin(), all.end(), [](auto &a, auto &b) { return a->name() < b->name(); });
  return all;
}

// ---- consumers
// -----------------------------------------------------------------------------------

void Engine::attach(Consumer *consumer) {
  std::lock_guard lock(consumers_mutex_);
  consumers_.push_back(consumer);
}

void Engine::detach(Consumer *consumer) {
  std::lock_guard lock(consumers_mutex_);
  consumers_.erase(std::remove(consumers_.begin(), consumers_.end(), consumer), consumers_.end());
}

// ---- lifetime
// ------------------------------------------------------------------------------------

void Engine::release_handle(Engine *engine) noexcept {
  if (engine->handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete engine;
}

void Engine::close(Engine *engine) noexcept {
  {
    std::lock_guard lock(engine->registry_mutex_);
    engine->closed_.store(true, std::memory_order_seq_cst);
    engine->registry_version_.fetch_add(1, std::memory_order_release);
  }
  // Wake everyone blocked in consume or in a blocked publish: they see closed_ and return.
  for (auto &queue : engine->queues_snapshot()) {
    queue->not_empty().notify_all();
    queue->wake_publishers();
  }
  engine->scheduler_.stop();
  engine->log(CORQ_LOG_INFO, "engine closed");
  release_handle(engine);
}

// ---- log
// -----------------------------------------------------------------------------------------

void Engine::set_log(corq_log_fn fn, void *user) {
  std::lock_guard lock(log_mutex_);
  log_fn_ = fn;
  log_user_ = user;
}

void Engine::log(int level, const std::string &message) noexcept {
  std::lock_guard lock(log_mutex_);
  if (log_fn_ != nullptr) log_fn_(log_user_, level, message.c_str());
}

}  // namespace corq::core
