// engine/engine/engine.cpp — registry, lifetime and log of the engine.
#include "engine/engine.hpp"

#include "consumer/consumer.hpp"
#include "durability/recovery.hpp"
#include "txn/transaction.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>

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

Engine::Engine(const EngineOptions &options, bool start_scheduler)
    : options_(options),
      instance_id_(engine_instances.fetch_add(1, std::memory_order_relaxed) + 1),
      clock_(options.clock == ClockKind::manual),
      engine_id_(make_engine_uuid()),
      scheduler_(*this) {
  if (start_scheduler) scheduler_.start();
}

Engine::~Engine() {
  scheduler_.stop();
  log_maintainer_.stop();
  {
    std::lock_guard lock(registry_mutex_);
    for (auto &[name, queue] : queues_) queue->mark_deleted(/*forever=*/false);
    queues_.clear();
  }
  router_.clear();
  {
    // A stream and its groups point at each other: break that here (no member is left: every
    // handle holds the engine).
    std::lock_guard lock(streams_mutex_);
    for (auto &[name, stream] : streams_) stream->drop_groups();
    streams_.clear();
  }
  if (journal_ != nullptr) journal_->close();
}

int Engine::open_durable(const std::string &dir, const EngineOptions &options, Engine *&out,
                         std::string &error) {
  RecoveredState state;
  std::unique_ptr<Journal> journal;
  if (const int rc = Journal::open(dir, options, state, journal, error); rc != CORQ_OK) return rc;
  // The scheduler starts only once every recovered queue is in place: its checkpoints must see
  // the whole registry.
  std::unique_ptr<Engine> engine(new Engine(options, false));
  engine->dir_ = dir;
  engine->journal_ = std::move(journal);
  if (options.test_vfs == nullptr) engine->owned_files_ = wal::make_psync_vfs();
  engine->files_ = options.test_vfs != nullptr ? options.test_vfs : engine->owned_files_.get();
  if (const int rc = engine->load_engine_id(error); rc != CORQ_OK) {
    engine->closed_.store(true, std::memory_order_seq_cst);
    return rc;
  }
  engine->next_id_.store(state.next_message_id, std::memory_order_relaxed);
  engine->next_qid_ = state.next_qid;
  const RecoveredTxnCounters &txns = state.txn_counters;
  engine->txn_base_ = {txns.committed_total(), txns.aborted, txns.failed};
  engine->txn_persisted_ = engine->txn_base_;
  engine->install(state);
  if (const int rc = engine->install_streams(state, error); rc != CORQ_OK) {
    engine->closed_.store(true, std::memory_order_seq_cst);
    return rc;
  }
  if (const int rc = engine->reappend_committed_streams(state, error); rc != CORQ_OK) {
    engine->closed_.store(true, std::memory_order_seq_cst);
    return rc;
  }
  Engine *e = engine.get();
  engine->log_maintainer_.start([e] { e->run_log_maintenance(); });
  engine->scheduler_.start();
  out = engine.release();
  return CORQ_OK;
}

void Engine::install(RecoveredState &state) {
  // Queues first (in declaration order), then their messages.
  std::unordered_map<std::uint32_t, std::shared_ptr<Queue>> by_qid;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto &[qid, recovered] : state.queues) {
      auto queue = std::make_shared<Queue>(*this, recovered.name, recovered.options, qid);
      if (DedupWindow *window = queue->dedup(); window != nullptr) {
        for (const auto &[key, entry] : recovered.dedup)
          window->restore(key, entry.message_id, entry.recorded_ms, now_ms());
        window->restored();
      }
      queues_.insert_or_assign(recovered.name, queue);
      by_qid.emplace(qid, std::move(queue));
    }
    registry_version_.fetch_add(1, std::memory_order_release);
  }
  install_topology(state, by_qid);
  // Ready messages in id order: the order they were published in.
  std::vector<std::pair<std::uint64_t, RecoveredMessage>> ordered;
  ordered.reserve(state.messages.size());
  for (auto &[key, m] : state.messages) ordered.emplace_back(key.id, m);
  state.messages.clear();  // ownership moves to `ordered`, then to the queues
  // Grouped per queue, in id order within each (one sort).
  std::sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) {
    return a.second.qid != b.second.qid ? a.second.qid < b.second.qid : a.first < b.first;
  });
  std::vector<Message *> ready;
  std::uint32_t ready_qid = 0;
  auto flush_ready = [&] {
    if (!ready.empty()) by_qid[ready_qid]->restore_ready(ready.data(), ready.size());
    ready.clear();
  };
  for (auto &[id, m] : ordered) {
    auto it = by_qid.find(m.qid);
    if (it == by_qid.end()) {  // its queue is gone (a dead-letter move to a deleted queue)
      journal_->unpin(m.message);
      free_message(m.message);
      continue;
    }
    if (m.qid != ready_qid) {
      flush_ready();
      ready_qid = m.qid;
    }
    if (m.due_ms != 0) {
      it->second->push_delayed(m.message, m.due_ms);
    } else {
      ready.push_back(m.message);
    }
  }
  flush_ready();
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
    std::uint32_t dlq_qid = 0;
    if (dlq_options.durable) {
      dlq_qid = next_qid_++;
      if (const int rc = journal_->log_declare(dlq_qid, dead_letter, dlq_options, error);
          rc != CORQ_OK) {
        return rc;
      }
    }
    queues_.emplace(dead_letter, std::make_shared<Queue>(*this, dead_letter, dlq_options, dlq_qid));
  }
  std::uint32_t qid = 0;
  if (options.durable) {
    // Logged (and durable) before the queue exists: a publish to it can only follow.
    qid = next_qid_++;
    if (const int rc = journal_->log_declare(qid, name, options, error); rc != CORQ_OK) {
      registry_version_.fetch_add(1, std::memory_order_release);
      return rc;
    }
  }
  queues_.emplace(name, std::make_shared<Queue>(*this, name, options, qid));
  registry_version_.fetch_add(1, std::memory_order_release);
  return CORQ_OK;
}

int Engine::remove(const std::string &name, std::string &error, const Queue *expected) {
  std::shared_ptr<Queue> queue;
  {
    std::lock_guard lock(registry_mutex_);
    if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
    auto it = queues_.find(name);
    if (it == queues_.end() || (expected != nullptr && it->second.get() != expected))
      return error = "no queue named '" + name + "'", CORQ_ENOENT;
    if (it->second->qid() != 0) {
      if (const int rc = journal_->log_delete(it->second->qid(), error); rc != CORQ_OK) return rc;
    }
    queue = std::move(it->second);
    queues_.erase(it);
    registry_version_.fetch_add(1, std::memory_order_release);
  }
  queue->mark_deleted(/*forever=*/true);
  router_.forget_queue(*queue);  // after mark_deleted: a bind racing with this sees it deleted
  return CORQ_OK;
}

std::shared_ptr<Queue> Engine::find(std::string_view name) {
  std::lock_guard lock(registry_mutex_);
  auto it = queues_.find(std::string(name));
  return it == queues_.end() ? nullptr : it->second;
}

std::size_t Engine::publishing_thread_shard() noexcept {
  PublishThreadState &state = publish_thread;
  if (!state.shard_assigned) {
    state.shard = publish_threads_seen.fetch_add(1, std::memory_order_relaxed);
    state.shard_assigned = true;
  }
  return state.shard;
}

Queue *Engine::lookup_for_publish(const char *name, std::size_t &thread_shard) {
  PublishThreadState &state = publish_thread;
  thread_shard = publishing_thread_shard();
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
  // Under the lock a stats read holds while it reads the consumers and the closed_* totals: it
  // sees this consumer's counters either in the consumer or in the queue, never in neither.
  consumer->begin_close();
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
  for (auto &stream : engine->streams_snapshot()) stream->wake_readers();
  {
    // Open transactions are aborted: their handles take only corq_txn_abort from now on.
    std::lock_guard lock(engine->handles_mutex_);
    for (auto &[t, open] : engine->open_txns_) t->close_by_engine();
  }
  {
    // Request-reply's waiters return CORQ_ECLOSED, and its reply consumer closes (it holds a
    // handle on the engine, which would otherwise never be freed).
    std::lock_guard lock(engine->request_reply_mutex_);
    if (engine->request_reply_ != nullptr) engine->request_reply_->shutdown();
  }
  engine->scheduler_.stop();
  engine->log_maintainer_.stop();  // a compaction under way finishes first
  engine->persist_txn_counters_at_close();
  // Graceful: what was appended is written and flushed, the files are closed and the directory's
  // lock is released (a later open in this process or another may recover it at once).
  if (engine->journal_ != nullptr) engine->journal_->close();
  engine->close_stream_logs();
  engine->log(CORQ_LOG_INFO, "engine closed");
  release_handle(engine);
}

// ---- checkpoints
// ---------------------------------------------------------------------------------

void Engine::maintain_log(std::int64_t now_ms) {
  if (journal_ == nullptr || journal_->closed() || journal_->failure_code() != CORQ_OK) return;
  if (now_ms - last_checkpoint_ms_ < checkpoint_interval_ms) return;
  last_checkpoint_ms_ = now_ms;
  log_maintainer_.request();
}

void Engine::run_log_maintenance() {
  if (journal_ == nullptr || journal_->closed() || journal_->failure_code() != CORQ_OK) return;
  const wal::Lsn floor = journal_->live_floor();
  // Segments are released when every message in them is settled. A message that stays (a
  // backlog, a dead letter, a long delay) pins its segment and every later one: those are
  // compacted instead, right after a checkpoint re-declared what their other records said.
  const bool compact = journal_->compaction_due();
  if (!compact && !journal_->release_possible(floor)) return;
  std::string error;
  if (const int rc = checkpoint(floor, error); rc != CORQ_OK) {
    log(CORQ_LOG_WARN, "checkpoint failed: " + error);
    return;
  }
  if (!compact) return;
  wal::CompactionStats stats;
  if (const int rc = journal_->compact(stats, error); rc != CORQ_OK) {
    log(CORQ_LOG_WARN, "compaction failed: " + error);
  } else if (stats.replaced) {
    log(CORQ_LOG_INFO, "compacted " + std::to_string(stats.segments_in) + " log segments: kept " +
                           std::to_string(stats.records_kept) + " of " +
                           std::to_string(stats.records_in) + " records, " +
                           std::to_string(stats.bytes_kept) + " of " +
                           std::to_string(stats.bytes_in) + " bytes");
  }
}

Engine::TxnTotals Engine::txn_totals() const noexcept {
  const TxnCounters &c = txn_counters_;
  return {txn_base_.committed + c.committed.load(std::memory_order_relaxed),
          txn_base_.aborted + c.aborted.load(std::memory_order_relaxed),
          txn_base_.failed + c.failed.load(std::memory_order_relaxed)};
}

Engine::TxnTotals Engine::txn_totals_to_log(wal::Lsn &through, bool closing) {
  // Logged commits by their txn_commit records, so that the count and `through` agree: recovery
  // adds exactly the records after `through`. (A commit whose batch was logged but which then
  // failed — a failed log — counts committed here, as it is after a restart.)
  const std::uint64_t logged = journal_->txn_commits_logged(through);
  const TxnCounters &c = txn_counters_;
  TxnTotals totals{
      txn_base_.committed + logged + c.committed_unlogged.load(std::memory_order_relaxed),
      txn_base_.aborted + c.aborted.load(std::memory_order_relaxed),
      txn_base_.failed + c.failed_unlogged.load(std::memory_order_relaxed)};
  // corq_close aborted the ones still open; corq_txn_abort counts them later, after this record.
  if (closing) totals.aborted += txns_open();
  return totals;
}

void Engine::persist_txn_counters_at_close() noexcept {
  if (journal_ == nullptr || journal_->closed() || journal_->failure_code() != CORQ_OK) return;
  try {
    wal::Lsn through = 0;
    if (txn_totals_to_log(through, true) == txn_persisted_) return;
    std::string error;
    if (const int rc = checkpoint(journal_->live_floor(), error, true); rc != CORQ_OK) {
      // Only counters are lost: aborts and failures since the last checkpoint.
      log(CORQ_LOG_WARN, "checkpoint at close failed: " + error);
    }
  } catch (const std::exception &e) {
    log(CORQ_LOG_WARN, std::string("checkpoint at close failed: ") + e.what());
  }
}

int Engine::checkpoint(wal::Lsn floor, std::string &error, bool closing) {
  // sync=none: a transaction's stream records are written, not flushed, when its batch is let
  // go of; before this checkpoint may release that batch (`floor` was taken after the let-go)
  // they are made to survive a power loss too. Before any registry lock: sync_streams takes
  // the streams' one.
  if (!journal_->flushes() && txn_stream_writes_.exchange(false, std::memory_order_acq_rel)) {
    if (const int rc = sync_streams(std::chrono::steady_clock::time_point::max(), error);
        rc != CORQ_OK)
      return rc;
  }
  // The registry is held while the batch is built and appended: a declare or delete is ordered
  // entirely before the checkpoint (and in it) or after it (and in the log after it).
  std::vector<std::vector<std::byte>> payloads;
  std::vector<std::uint8_t> types;
  // Groups first, each copied under its own mutex (not under the registry's: lock order). A
  // group's progress logged after its copy must not be released with the records before this
  // checkpoint: nothing from here on is.
  const wal::Lsn copy_lsn = journal_->last_appended() + 1;
  floor = std::min(floor, copy_lsn);
  journal_->note_group_copy(copy_lsn);
  // After the group copy's LSN is noted: a txn_commit record the count misses comes after it,
  // and compaction keeps those (Journal::compaction_keeps).
  wal::Lsn txn_through = 0;
  const TxnTotals txn_totals = txn_totals_to_log(txn_through, closing);
  std::vector<std::vector<std::byte>> group_payloads;
  std::vector<std::uint8_t> group_types;
  encode_groups(group_payloads, group_types);
  std::unique_lock lock(registry_mutex_);
  {
    auto &p = payloads.emplace_back();
    records::Writer w(p);
    w.u64(next_id_.load(std::memory_order_relaxed));
    w.u32(next_qid_);
    w.u32(next_xid_.load());
    std::lock_guard streams(streams_mutex_);
    w.u32(next_sid_);
    w.u64(txn_totals.committed);
    w.u64(txn_totals.aborted);
    w.u64(txn_totals.failed);
    w.u64(txn_through);
    types.push_back(records::checkpoint);
  }
  for (const auto &[name, queue] : queues_) {
    if (queue->qid() == 0) continue;
    Journal::encode_declare(payloads.emplace_back(), queue->qid(), name, queue->options());
    types.push_back(records::declare);
    if (DedupWindow *window = queue->dedup(); window != nullptr) {
      auto &d = payloads.emplace_back();
      records::Writer dw(d);
      dw.u32(queue->qid());
      const std::size_t count_at = d.size();
      dw.u32(0);
      std::uint32_t n = 0;
      window->for_each(now_ms(), [&](std::string_view key, std::uint64_t id, std::int64_t at) {
        dw.u64(id);
        dw.i64(at);
        dw.str16(key);
        ++n;
      });
      std::memcpy(d.data() + count_at, &n, sizeof n);
      types.push_back(records::dedup);
    }
  }
  encode_topology(payloads, types);  // after the queues its bindings name
  // Streams are held until the batch is in the log: a stream declared meanwhile is logged after
  // it (declare_stream logs under streams_mutex_), never released with the records before it.
  std::lock_guard streams(streams_mutex_);
  encode_streams(payloads, types);
  for (std::size_t i = 0; i < group_payloads.size(); ++i) {
    payloads.push_back(std::move(group_payloads[i]));
    types.push_back(group_types[i]);
  }
  const int rc =
      journal_->checkpoint(payloads, types, floor, next_id_.load(std::memory_order_relaxed), error);
  if (rc == CORQ_OK) txn_persisted_ = txn_totals;
  return rc;
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
