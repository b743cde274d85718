// engine/txn/transaction.hpp — corq_txn: publishes, stream appends and acks applied together or
// not at all (DESIGN.md §8).
//
// A transaction only gathers until commit: each operation is checked at once (names, sizes, the
// tag) and copied; nothing is routed, admitted, logged or claimed before corq_txn_commit. Commit:
//
//   1. claim the acked deliveries (a queue consumer's slot CASes in_flight -> free, which the
//      scheduler's lease expiry can no longer win; a group slot becomes `held`): one that is gone
//      (lease expired, settled, consumer closed) fails the commit — CORQ_ESTATE;
//   2. route the publishes in one topology snapshot, pick each append's partition; a deleted
//      target is CORQ_ENOENT, a mandatory publish that reaches nothing CORQ_EUNROUTABLE, a stream
//      partition past a discard=new limit CORQ_EFULL;
//   3. admission in every queue, all or none (room reserved per message and target; under
//      overflow=block the commit waits for room up to its timeout, under reject it fails);
//   4. one log batch for everything durable (Journal::log_transaction): publish / publish_fanout
//      records, remove records for acks of durable queues, group_progress "settled in generation
//      g" for acks of durable groups, txn_append records (payload included) for durable streams,
//      and last a txn_commit record, which counts the commit (records.hpp, checkpoint). A failed
//      append undoes steps 1-3 and the commit reports it: nothing happened;
//   5. apply: messages pushed, acks settled, transient streams appended — the moment a plain
//      publish would push. Then, for durable streams, the engine log is flushed through the batch
//      (also under sync=none: a stream's log must never hold a transaction the engine log may
//      lose), the records are appended to their streams' logs marked with the transaction's id,
//      and, once durable there, a txn_applied record lets go of the batch (Journal's hold);
//   6. under sync=always the commit returns once all of it is durable.
//
// Why the stream records go through the engine log first (the cost: their payload is written
// twice): a stream's offsets are dense and never change, so a transaction's records cannot sit in
// a stream's log before the commit is decided — a crash would leave a hole or force the offsets
// after them to move. Written after the decision, the stream's log is a prefix after a crash, and
// recovery appends a committed transaction's missing records at the end, where they would have
// gone (Engine::reappend_committed_streams).
//
// Threads: a transaction is used by one thread at a time (the thread of the consumers it acks
// for); a second thread entering is detected (CORQ_ESTATE) but not excluded beyond that.
#pragma once

#include "consumer/consumer_base.hpp"
#include "producer/publish.hpp"
#include "txn/pending_release.hpp"

#include <corq/corq.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace corq::core {
class Engine;
class Journal;
namespace stream {
class Stream;
}
}  // namespace corq::core

namespace corq::core::txn {

/// engine/testing.hpp's set_txn_stop_before_streams.
extern std::atomic<bool> testing_stop_before_streams;

class Transaction {
 public:
  /// Operations and bytes one transaction holds at most (bytes: the engine's max_txn_bytes).
  static constexpr std::size_t max_operations = 65536;

  explicit Transaction(Engine &engine);
  ~Transaction();
  Transaction(const Transaction &) = delete;
  Transaction &operator=(const Transaction &) = delete;

  Engine &engine() noexcept { return engine_; }

  // Each returns CORQ_OK or a CORQ_* code with the thread's detail set; a refused operation is not
  // part of the transaction.
  int publish(const char *exchange, const char *routing_key, const corq_message &message,
              const corq_publish_options *options);
  int append(const char *stream, const void *key, std::size_t key_len, const corq_message &message,
             const corq_publish_options *options);
  int ack(corq_consumer *consumer, std::uint64_t tag);
  /// Everything or nothing (see above). The transaction is spent afterwards.
  int commit(std::int32_t timeout_ms);

  /// corq_close: the transaction is aborted; its handle only takes corq_txn_abort.
  void close_by_engine() noexcept { closed_by_engine_.store(true, std::memory_order_release); }
  bool closed_by_engine() const noexcept {
    return closed_by_engine_.load(std::memory_order_acquire);
  }
  /// Marks the calling thread inside; false (CORQ_ESTATE set) if another thread is.
  bool enter(const char *function) noexcept;
  void leave() noexcept { in_use_.store(false, std::memory_order_release); }

 private:
  struct PublishOp {
    std::string exchange, routing_key;
    OwnedMessage message;
    PublishSettings settings;
    std::shared_ptr<Queue> queue;  // the default exchange's queue, found when added
  };
  struct AppendOp {
    std::shared_ptr<stream::Stream> stream;
    bool has_key = false;
    std::string key;
    OwnedMessage message;
    std::uint32_t partition = 0;  // chosen at commit
  };
  struct AckOp {
    ConsumerBase *consumer;
    std::uint64_t serial;  // the consumer's registration (Engine::consumer_serial)
    std::uint64_t tag;
  };

  /// validate_message, with the function's name in the detail.
  int check_message(const char *function, const corq_message &message);
  /// CORQ_ECLOSED / CORQ_ETOOBIG checks every operation makes first.
  int admit_operation(const char *function, std::uint64_t bytes);

  Engine &engine_;
  std::vector<PublishOp> publishes_;
  std::vector<AppendOp> appends_;
  std::vector<AckOp> acks_;
  std::set<std::pair<const ConsumerBase *, std::uint64_t>> acked_;  // acks_, for the twice check
  std::uint64_t bytes_ = 0;
  std::atomic<bool> in_use_{false};
  std::atomic<bool> closed_by_engine_{false};

  friend class Commit;
};

}  // namespace corq::core::txn
