// engine/consumer/consumer.hpp — a consumer and its prefetch window.
//
// The window is a fixed array of `prefetch` slots owned by the consumer's thread. A delivery's tag
// names its slot and a per-consumer sequence number:
//
//     tag = sequence << slot_bits | slot          (sequence starts at 1 and only grows)
//
// so tags increase per consumer, and settling is O(1): the slot is `tag & slot_mask`, and the slot
// must still hold that very tag. Free slots sit on a stack (the consumer's thread only).
//
// The scheduler thread expires leases. To decide races with the consumer's own settling without a
// lock, each slot's state word packs the tag and the state, and both sides change it only by CAS:
//     tag << 2 | in_flight  ->  tag << 2 | free      (the consumer settles)
//     tag << 2 | in_flight  ->  tag << 2 | expiring  (the scheduler expires the lease, copies the
//                                                   message, then stores tag << 2 | expired)
// The winner owns the outcome. Because tags never repeat, a stale CAS can never hit a newer
// delivery (no ABA). An expired slot keeps its message (the consumer may still be reading it — the
// delivery's memory is valid until the next corq_consume); the scheduler requeues a copy, and the
// consumer frees the original and the slot on its next call.
#pragma once

#include "consumer/consumer_base.hpp"
#include "queue/queue.hpp"

#include <corq/corq.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace corq::core {

class Engine;

class Consumer : public ConsumerBase {
 public:
  Consumer(Engine &engine, std::shared_ptr<Queue> queue, std::uint32_t prefetch,
           std::uint64_t consumer_index);
  ~Consumer();
  Consumer(const Consumer &) = delete;
  Consumer &operator=(const Consumer &) = delete;

  /// corq_consume: returns the number of deliveries written to out, or a negative CORQ_* code.
  int consume(corq_delivery *out, std::size_t max, std::int32_t timeout_ms);

  int ack(std::uint64_t tag);
  int ack_upto(std::uint64_t tag);
  int nack(std::uint64_t tag, std::int64_t delay_ms);
  int release(std::uint64_t tag);
  int reject(std::uint64_t tag, const char *reason);
  int extend(std::uint64_t tag, std::int64_t lease_ms);

  /// Any thread: makes the current and later consume calls return CORQ_ECLOSED.
  void wakeup() noexcept;
  /// Any thread, one-shot: the consume call waiting now, or else the next one, returns 0 at once.
  void interrupt() noexcept;
  /// Engine::detach, under the consumer list's lock: folds this consumer's counters into the
  /// queue's closed_* totals and opens the stats bracket of its unsettled deliveries (they stop
  /// counting as this consumer's in_flight when it leaves the list; see queue/state_moves.hpp).
  void begin_close() noexcept;
  /// After Engine::detach: releases every unsettled delivery and closes that bracket.
  void close();

  /// Scheduler thread: expires the leases that ended by `now_ms`; returns the earliest deadline
  /// of the leases still running (INT64_MAX if none).
  std::int64_t expire_leases(std::int64_t now_ms);

  /// The message of in-flight delivery `tag`, or nullptr if `tag` is not one (corq_respond reads
  /// the request's headers before settling it). Valid until the delivery is settled.
  const Message *held(std::uint64_t tag) const noexcept;
  Queue &queue() noexcept { return *queue_; }
  Engine &engine() noexcept { return engine_; }

  // ---- transactions (engine/txn/), the consumer's thread ----
  /// A commit takes delivery `tag` out of the lease's reach (its slot goes in_flight -> free, a
  /// CAS the scheduler's expiry then loses) and returns its message; nullptr with CORQ_ESTATE set
  /// if it is not held any more (settled, or the lease expired).
  Message *txn_claim(std::uint64_t tag);
  /// The commit failed: the delivery is in flight again (a lease that ran out meanwhile expires
  /// at the scheduler's next pass).
  void txn_unclaim(std::uint64_t tag) noexcept;
  /// The commit is logged (its remove record is in the transaction's batch): the claimed
  /// delivery is acked.
  void txn_complete_ack(std::uint64_t tag) noexcept;
  const std::shared_ptr<Queue> &queue_handle() const noexcept { return queue_; }
  /// Unsettled deliveries, for stats: a message popped from the ready list counts here from before
  /// it leaves `ready` until it is settled (acquire loads; see queue/state_moves.hpp).
  std::uint64_t in_flight() const noexcept;
  struct Counters {
    std::uint64_t delivered, acked, nacked, released, redelivered;
  };
  Counters counters() const noexcept;

 private:
  // expiring: the scheduler is copying the message (the consumer may neither settle nor reclaim);
  // expired: the copy is requeued, the consumer reclaims the original on its next call.
  enum : std::uint64_t {
    slot_free = 0,
    slot_in_flight = 1,
    slot_expired = 2,
    slot_expiring = 3,
    state_mask = 3
  };

  struct Slot {
    std::atomic<std::uint64_t> state{slot_free};  // tag << 2 | state
    std::atomic<std::int64_t> lease_deadline_ms{0};
    Message *message = nullptr;
    std::uint64_t tag = 0;
  };

  /// Takes the message of an in-flight delivery out of its slot, or returns nullptr with the
  /// thread's error set (CORQ_ESTATE) if the tag is not an in-flight delivery. The slot stays
  /// counted in flight until the caller frees it (free_slot), after it counted the message in its
  /// next state: stats never miss it.
  Message *settle(std::uint64_t tag, const char *operation, std::uint32_t &slot_number);
  /// nack, release, reject: settle, then move the message out of the window inside a bracket of
  /// moves_from_in_flight (its next state comes before `in_flight` in a stats read).
  template <typename Move>
  int settle_and_move(std::uint64_t tag, const char *operation, Move &&move);
  void free_slot(std::uint32_t slot) noexcept;
  void reclaim_expired();
  int deliver(Message *message, std::int64_t now_ms, corq_delivery &out);
  /// A failed attempt (nack, lease expiry): dead-letter or schedule the retry.
  void fail_attempt(Message *message, std::int64_t delay_ms, std::int64_t now_ms);
  /// On a durable queue, logs that `messages` left (ack); CORQ_OK or the log's failure.
  int log_removal(Message *const *messages, std::size_t count, const char *operation) {
    if (queue_->journal() == nullptr) return CORQ_OK;  // transient: nothing to log (inline)
    return log_removal_durable(messages, count, operation);
  }
  int log_removal_durable(Message *const *messages, std::size_t count, const char *operation);
  int closed_code() const noexcept;

  static void bump(std::atomic<std::uint64_t> &counter, std::uint64_t n = 1) noexcept {
    // Only the consumer's thread writes: a load and a store, no read-modify-write needed. Release:
    // a stats read that sees it sees the counts made before it (queue/state_moves.hpp).
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  Engine &engine_;
  std::shared_ptr<Queue> queue_;
  const std::uint32_t prefetch_;
  const std::uint32_t slot_bits_;
  const std::uint64_t slot_mask_;
  const std::size_t home_shard_;
  std::unique_ptr<Slot[]> slots_;
  std::vector<std::uint32_t> free_slots_;  // stack of free slot numbers
  std::uint64_t next_sequence_ = 1;
  std::vector<Message *> popped_;             // scratch for pop_ready, sized prefetch
  std::vector<std::uint32_t> settled_slots_;  // scratch for ack_upto, sized prefetch
  std::uint64_t closing_in_flight_ = 0;       // begin_close's bracket, closed by close()

  std::atomic<bool> woken_{false};
  std::atomic<bool> interrupted_{false};           // corq_consumer_interrupt, taken by one consume
  std::atomic<std::uint64_t> arriving_{0};         // popped, not yet in a slot (consumer writes)
  std::atomic<std::uint64_t> outstanding_{0};      // slots not free (consumer writes)
  std::atomic<std::uint64_t> expired_pending_{0};  // expired, not yet reclaimed (scheduler adds)
  std::atomic<std::uint64_t> delivered_{0}, acked_{0}, nacked_{0}, released_{0}, redelivered_{0};
};

}  // namespace corq::core
