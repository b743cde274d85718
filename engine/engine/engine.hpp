// engine/engine/engine.hpp — the engine: queue registry, consumers, clock, ids, scheduler, log.
//
// Control plane (declare, delete, open/close of consumers, stats) takes `registry_mutex_`. The data
// plane reaches a queue without it: producers and consumers hold the queue, and corq_publish finds
// it through a per-thread cache validated by `registry_version_` (see lookup_for_publish).
//
// Lifetime: the engine lives until corq_close has been called AND every producer and consumer
// handle is closed (`handles_` counts them), so a handle never points at freed memory.
#pragma once

#include "consumer/consumer_base.hpp"
#include "durability/journal.hpp"
#include "durability/log_maintainer.hpp"
#include "engine/clock.hpp"
#include "options/options.hpp"
#include "queue/queue.hpp"
#include "routing/request_reply.hpp"
#include "routing/router.hpp"
#include "scheduler/scheduler.hpp"
#include "stream/stream.hpp"
#include "txn/pending_release.hpp"

#include <corq/corq.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace corq::core {

namespace txn {
class Transaction;
}
class Consumer;
struct RecoveredState;

/// A random (version 4) UUID in its 36-character text form (engine_id.cpp).
std::string make_engine_uuid();

class Engine {
 public:
  explicit Engine(const EngineOptions &options) : Engine(options, true) {}
  /// A durable engine on the data directory `dir`: opens its write-ahead log, recovers the durable
  /// queues in it, and starts. Returns a CORQ_* code (`error` on failure).
  static int open_durable(const std::string &dir, const EngineOptions &options, Engine *&out,
                          std::string &error);
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
  /// Deletes queue `name`; with `expected`, only if that is the queue the name names now
  /// (auto_delete must not delete a newer queue of the same name).
  int remove(const std::string &name, std::string &error, const Queue *expected = nullptr);
  std::shared_ptr<Queue> find(std::string_view name);
  /// Like find, through a small per-thread cache: no lock while the registry is unchanged. The
  /// queue stays alive until the calling thread's next lookup. `thread_shard` gets the calling
  /// thread's shard number (each publishing thread sticks to one shard: per-thread order).
  Queue *lookup_for_publish(const char *name, std::size_t &thread_shard);
  /// The calling thread's shard number (as lookup_for_publish gives it).
  static std::size_t publishing_thread_shard() noexcept;

  // ---- exchanges and bindings (engine/topology.cpp) ----
  routing::Router &router() noexcept { return router_; }
  /// corq_exchange_declare: the router, and the log first for a durable exchange. CORQ_* code.
  int declare_exchange(const std::string &name, routing::ExchangeType type,
                       const ExchangeOptions &options, std::string &error);
  int remove_exchange(const std::string &name, std::string &error);
  /// corq_bind and friends (`add`: bind, else unbind); the log too when both ends are durable.
  int change_binding(const std::string &source, const routing::Destination &to,
                     std::string_view key, const corq_header *arguments, std::size_t argument_count,
                     bool add, std::string &error);
  std::vector<std::shared_ptr<Queue>> queues_snapshot();

  /// Request-reply's reply queue and waiters, made on the first corq_request (thread-safe).
  routing::RequestReply &request_reply();
  /// Its counters (corq_respond counts dropped responses even before any request was made here).
  routing::RequestCounters &request_counters() noexcept { return request_counters_; }

  // ---- streams (engine/streams.cpp) ----
  /// corq_stream_declare: a new stream, or the same options again (CORQ_OK), or update=true with
  /// the same shape (new retention limits); otherwise CORQ_EEXIST. CORQ_* code, `error`.
  int declare_stream(const std::string &name, const StreamOptions &options, std::string &error);
  int remove_stream(const std::string &name, std::string &error);
  std::shared_ptr<stream::Stream> find_stream(std::string_view name);
  /// Like find_stream, through a one-entry per-thread cache: no lock while the stream registry is
  /// unchanged (corq_stream_append's hot path). The stream stays alive until the calling thread's
  /// next lookup on this engine that misses (or the thread's exit).
  stream::Stream *lookup_stream_for_append(const char *name);
  std::vector<std::shared_ptr<stream::Stream>> streams_snapshot();
  /// Scheduler pass: time-based retention of every stream, and its groups' leases and retries.
  /// Returns when it is next due (0: none).
  std::int64_t enforce_stream_retention(std::int64_t now_ms);
  std::int64_t stream_resident_bytes() const noexcept {
    return stream_resident_bytes_->load(std::memory_order_relaxed);
  }
  /// corq_sync's part for durable streams: everything appended so far is on the disk.
  int sync_streams(std::chrono::steady_clock::time_point deadline, std::string &error);

  // ---- consumers ----
  void attach(Consumer *consumer);
  /// Removes a closing consumer from the list (calls Consumer::begin_close under the list's lock);
  /// Consumer::close must follow.
  void detach(Consumer *consumer);
  /// Calls fn(Consumer&) for every attached consumer, holding the consumer list's lock.
  template <class Fn>
  void for_each_consumer(Fn &&fn) {
    std::lock_guard lock(consumers_mutex_);
    for (Consumer *c : consumers_) fn(*c);
  }
  /// The same, then `then()` before the lock is let go (stats: the closed consumers' totals).
  template <class Fn, class Then>
  void for_each_consumer(Fn &&fn, Then &&then) {
    std::lock_guard lock(consumers_mutex_);
    for (Consumer *c : consumers_) fn(*c);
    then();
  }

  // ---- consumers of both kinds, for transactions (engine/txn/) ----
  /// Registers an open consumer handle (a queue consumer or a group member) under a serial number
  /// never used again; unregister before it is freed. A transaction's ack names a consumer by
  /// handle and serial, so a closed consumer (or a new one at the same address) is recognised.
  void register_consumer(ConsumerBase *consumer);
  void unregister_consumer(ConsumerBase *consumer) noexcept;
  /// The serial of an open consumer of this engine, 0 if `consumer` is not one.
  std::uint64_t consumer_serial(const ConsumerBase *consumer);

  // ---- transactions (engine/txn/) ----
  /// corq_txn_begin / the end of one (commit or abort): open transactions are aborted by close.
  void register_txn(txn::Transaction *t);
  void unregister_txn(txn::Transaction *t) noexcept;
  /// A commit whose streams' logs were not durable by its deadline: the scheduler finishes it.
  void defer_txn_release(txn::PendingTxnRelease release);
  /// Scheduler pass: finishes the deferred releases whose stream records are durable now.
  void finish_txn_releases();
  /// Counters since open (corq_stats_json "transactions"). `committed_unlogged` and
  /// `failed_unlogged`: the commits among them that logged no batch (note_unlogged_commit).
  struct TxnCounters {
    std::atomic<std::uint64_t> committed{0}, aborted{0}, failed{0};
    std::atomic<std::uint64_t> committed_unlogged{0}, failed_unlogged{0};
    /// Stream records of committed transactions that a full disk made wait (PendingTxnRelease).
    std::atomic<std::uint64_t> appends_deferred{0};
  };
  TxnCounters &txn_counters() noexcept { return txn_counters_; }
  /// A commit that logged no batch (nothing durable in it, or it failed before its batch): the
  /// checkpoints count it, as they count a logged one by its txn_commit record.
  void note_unlogged_commit(bool committed) noexcept {
    (committed ? txn_counters_.committed_unlogged : txn_counters_.failed_unlogged)
        .fetch_add(1, std::memory_order_relaxed);
  }
  void note_txn_appends_deferred(std::uint64_t records) noexcept {
    txn_counters_.appends_deferred.fetch_add(records, std::memory_order_relaxed);
  }
  /// Transactions since the data directory was created (an in-memory engine: since open).
  struct TxnTotals {
    std::uint64_t committed = 0, aborted = 0, failed = 0;
    bool operator==(const TxnTotals &) const = default;
  };
  /// corq_stats_json "transactions_total": what the log held at open plus the counters since.
  TxnTotals txn_totals() const noexcept;
  std::uint64_t txns_open();
  /// A transaction wrote records to a durable stream's log (a sync=none checkpoint flushes them).
  void note_txn_stream_writes() noexcept {
    txn_stream_writes_.store(true, std::memory_order_release);
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

  // ---- durability ----
  /// The write-ahead log, or nullptr for an in-memory engine.
  Journal *journal() noexcept { return journal_.get(); }
  const std::string &dir() const noexcept { return dir_; }
  /// corq_engine_id: the data directory's UUID (DIR/ENGINE_ID), or this in-memory engine's own.
  const std::string &engine_id() const noexcept { return engine_id_; }
  /// Scheduler pass: every `checkpoint_interval_ms` of engine time, asks the log maintainer
  /// thread to write a checkpoint and release log segments when that frees any, and to compact
  /// when sealed segments pile up (run_log_maintenance). Never waits for that work.
  void maintain_log(std::int64_t now_ms);
  /// Log maintenance runs finished so far (tests).
  std::uint64_t log_maintenance_runs() const { return log_maintainer_.runs(); }
  static constexpr std::int64_t checkpoint_interval_ms = 200;

 private:
  Engine(const EngineOptions &options, bool start_scheduler);
  int declare_locked(const std::string &name, const QueueOptions &options, std::string &error);
  /// Creates durable queue objects and hands them their messages after recovery.
  void install(RecoveredState &state);
  /// Recovery's durable exchanges and bindings into the router (after the queues).
  void install_topology(RecoveredState &state,
                        const std::unordered_map<std::uint32_t, std::shared_ptr<Queue>> &by_qid);
  /// A checkpoint's records of every durable exchange and binding.
  void encode_topology(std::vector<std::vector<std::byte>> &payloads,
                       std::vector<std::uint8_t> &types);
  /// `closing`: corq_close's checkpoint (the transactions still open count as aborted).
  int checkpoint(wal::Lsn floor, std::string &error, bool closing = false);
  /// The transaction counters a checkpoint writes, and in `through` its txn_counted_through
  /// (records.hpp). After Journal::note_group_copy (compaction relies on it).
  TxnTotals txn_totals_to_log(wal::Lsn &through, bool closing);
  /// corq_close: a checkpoint when aborts, failures or commits since the last one would
  /// otherwise be lost from the persisted counters (an idle close writes nothing).
  void persist_txn_counters_at_close() noexcept;
  /// Recovery's durable streams: each one's log replayed into it (engine/streams.cpp). Removes
  /// the directories of streams the log no longer declares. CORQ_* code.
  int install_streams(RecoveredState &state, std::string &error);
  /// A checkpoint's records of every durable stream (streams_mutex_ held).
  void encode_streams(std::vector<std::vector<std::byte>> &payloads,
                      std::vector<std::uint8_t> &types);
  /// A checkpoint's records of every durable group: each one's state copied under its own mutex.
  /// Called before the registry's lock is taken (a group dead-lettering holds its mutex and takes
  /// the registry's).
  void encode_groups(std::vector<std::vector<std::byte>> &payloads,
                     std::vector<std::uint8_t> &types);
  /// A durable stream's log configuration in this engine's directory.
  stream::StreamLogConfig stream_log_config(std::uint32_t sid, const StreamOptions &options) const;
  /// Closes every durable stream's log (engine close).
  void close_stream_logs();
  /// The log maintainer thread's work: checkpoint, release, compaction.
  void run_log_maintenance();
  /// Recovery: appends the records of committed transactions that their durable streams' logs do
  /// not hold (engine/txn/transaction.hpp), after install_streams. CORQ_* code.
  int reappend_committed_streams(RecoveredState &state, std::string &error);
  /// Reads DIR/ENGINE_ID into engine_id_, or makes and durably writes one (engine_id.cpp).
  int load_engine_id(std::string &error);

  const EngineOptions options_;
  const std::uint64_t instance_id_;
  EngineClock clock_;
  alignas(cache_line_bytes) std::atomic<std::uint64_t> next_id_{1};
  alignas(cache_line_bytes) std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> registry_version_{1};
  std::atomic<std::int64_t> handles_{1};  // the owner (until corq_close) + open handles

  std::mutex registry_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Queue>> queues_;

  routing::Router router_{instance_id_};
  std::mutex request_reply_mutex_;
  std::unique_ptr<routing::RequestReply> request_reply_;  // request_reply_mutex_
  routing::RequestCounters request_counters_;
  std::mutex streams_mutex_;
  std::unordered_map<std::string, std::shared_ptr<stream::Stream>> streams_;  // streams_mutex_
  std::atomic<std::uint64_t> streams_version_{1};  // bumped when a stream is added or removed
  std::uint32_t next_sid_ = 1;                     // streams_mutex_: durable stream ids
  /// Record memory durable streams keep resident (bounded by options_.stream_cache_bytes). Shared
  /// with their partitions: a stream may outlive the engine (a thread's append cache holds it).
  std::shared_ptr<std::atomic<std::int64_t>> stream_resident_bytes_ =
      std::make_shared<std::atomic<std::int64_t>>(0);
  std::mutex topology_mutex_;               // exchange and binding changes with their records
  std::atomic<std::uint32_t> next_xid_{1};  // exchange ids (topology_mutex_ for increments)

  std::mutex consumers_mutex_;
  std::vector<Consumer *> consumers_;

  std::mutex handles_mutex_;  // open consumers of both kinds, and open transactions
  std::unordered_map<const ConsumerBase *, std::uint64_t> consumer_serials_;
  std::uint64_t next_consumer_serial_ = 1;
  std::unordered_map<txn::Transaction *, bool> open_txns_;
  std::mutex txn_releases_mutex_;
  std::vector<txn::PendingTxnRelease> txn_releases_;  // txn_releases_mutex_
  TxnCounters txn_counters_;
  TxnTotals txn_base_;       // recovered at open (const after)
  TxnTotals txn_persisted_;  // by the last checkpoint (log maintainer thread, then close)
  std::atomic<bool> txn_stream_writes_{false};

  std::mutex log_mutex_;
  corq_log_fn log_fn_ = nullptr;
  void *log_user_ = nullptr;

  // Durability (disk engines only). journal_ outlives the queues' use of it: ~Engine clears the
  // registry before members are destroyed, and queues never touch it from their destructors.
  std::string dir_;
  std::string engine_id_;  // set at construction (in-memory) or by load_engine_id (disk)
  std::unique_ptr<Journal> journal_;
  /// Directory operations of durable streams (create, list, remove): the test Vfs when there is
  /// one, else the real file system.
  std::unique_ptr<wal::Vfs> owned_files_;
  wal::Vfs *files_ = nullptr;
  /// Removes a durable stream's directory and everything in it. 0 or -errno.
  int remove_stream_directory(const std::string &path);
  std::uint32_t next_qid_ = 1;           // registry_mutex_
  std::int64_t last_checkpoint_ms_ = 0;  // scheduler passes (serialized)
  LogMaintainer log_maintainer_;         // its thread uses journal_ and the registry

  Scheduler scheduler_;  // last: its thread uses the members above
};

}  // namespace corq::core
