// engine/queue/queue.hpp — one queue: its ready messages, its delayed ones, its limits and
// counters.
//
// Data path (no locks):
//   publish  -> admission (ReadyGauge: the producers' line only) -> shard's MpmcRing
//   consume  <- returned list (if any) <- shard rings (home shard first)
// The ready ring of each shard has room for max_length messages, so a publish that passed admission
// finds a slot, at worst after a pop still holding one a lap back finishes (push_in_order). Its
// memory is committed lazily (see ring_storage.hpp). Admission reads and writes only the producers'
// line of the ReadyGauge while the queue is far from its limits, and a pop only the consumers'.
//
// Side paths (a mutex each, never taken by plain publish/consume/ack):
//   returned list — messages coming back (release, nack without delay, delayed ones falling due,
//                   redrive): they were admitted once already, so they bypass the limits and are
//                   delivered before the rings' contents ("requeue reorders by design");
//   timer wheel   — delayed messages (publish delay, retry backoff), advanced by the scheduler;
//   dedup window  — recent dedup ids.
//
// Priority queues (max_priority > 0): one ready ring and one returned list per priority level
// (max_priority + 1 of them, in place of shards), consumed from the highest level down, each in
// FIFO order; drop_head drops from the lowest level up. A message's level is min(its priority,
// max_priority). Each level's ring has room for max_length messages like a shard's (virtual memory,
// committed as used), so admission still guarantees a slot.
//
// Lifetime: shared_ptr. The engine's registry holds one reference; producers, consumers and the
// per-thread lookup cache of corq_publish hold others, so deleting a queue only unlinks it (it is
// marked deleted, its messages are freed, later operations get CORQ_ENOENT).
#pragma once

#include "options/options.hpp"
#include "queue/dedup_window.hpp"
#include "queue/message.hpp"
#include "queue/ready_gauge.hpp"
#include "queue/state_moves.hpp"
#include "scheduler/timer_wheel.hpp"
#include "sync/event_count.hpp"

#include <corq/mpmc_ring.hpp>
#include <corq/platform.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace corq::core {

class Engine;
class Consumer;
class Journal;

/// An element of a ready ring. Every access to its fields is atomic (std::atomic_ref), its
/// construction included, so stats can peek at a ring's head while producers refill that very slot
/// (MpmcRing::peek_front, a seqlock read that keeps the copy only if the slot did not change): a
/// plain constructor write there would be a data race even though the torn copy is thrown away.
/// On x86-64 and AArch64 these are plain moves.
struct ReadyEntry {
  ReadyEntry() noexcept { set(nullptr, 0); }
  explicit ReadyEntry(Message *m) noexcept { set(m, m->published_at_ms); }
  ReadyEntry(const ReadyEntry &o) noexcept { set(o.message(), o.published_at_ms()); }
  ReadyEntry &operator=(const ReadyEntry &o) noexcept {
    set(o.message(), o.published_at_ms());
    return *this;
  }

  /// Acquire loads: peek_front re-checks the slot's sequence after the copy.
  Message *message() const noexcept {
    return std::atomic_ref(const_cast<Message *&>(message_)).load(std::memory_order_acquire);
  }
  std::int64_t published_at_ms() const noexcept {
    return std::atomic_ref(const_cast<std::int64_t &>(published_at_ms_))
        .load(std::memory_order_acquire);
  }

 private:
  void set(Message *m, std::int64_t published_at_ms) noexcept {
    std::atomic_ref(message_).store(m, std::memory_order_relaxed);
    std::atomic_ref(published_at_ms_).store(published_at_ms, std::memory_order_relaxed);
  }
  alignas(std::atomic_ref<Message *>::required_alignment) Message *message_;
  alignas(std::atomic_ref<std::int64_t>::required_alignment) std::int64_t published_at_ms_;
};

/// Counters that only grow (the "since declared" half of corq_queue_stats).
struct QueueCounters {
  std::uint64_t published = 0, delivered = 0, acked = 0, nacked = 0, released = 0, redelivered = 0;
  std::uint64_t dead_lettered = 0, expired = 0, dropped = 0, deduplicated = 0;
};

/// Result of admission: whether and how a publish of n messages got space.
enum class Admission { admitted, full, closed };

class Queue {
 public:
  /// `qid` != 0: a durable queue with that id in the write-ahead log (engine.journal()).
  Queue(Engine &engine, std::string name, QueueOptions options, std::uint32_t qid = 0);
  ~Queue();  // frees every message still held (ready, returned, delayed); never touches the log
  Queue(const Queue &) = delete;
  Queue &operator=(const Queue &) = delete;

  const std::string &name() const noexcept { return name_; }
  const QueueOptions &options() const noexcept { return options_; }
  const std::string &dead_letter_name() const noexcept { return dead_letter_name_; }
  bool deleted() const noexcept { return deleted_.load(std::memory_order_acquire); }
  /// The queue's id in the write-ahead log; 0 for a transient queue.
  std::uint32_t qid() const noexcept { return qid_; }
  /// The write-ahead log for a durable queue, nullptr for a transient one.
  Journal *journal() const noexcept { return journal_; }

  // ---- publish side ----
  /// Reserves room for `count` messages of `bytes` payload, applying the overflow policy (block up
  /// to `timeout_ms` (-1: no limit), reject, or drop_head). `closed` is polled while blocked.
  Admission admit(std::size_t count, std::uint64_t bytes, std::int32_t timeout_ms,
                  const std::atomic<bool> &closed);
  /// Gives back the room of an admitted batch that will not be pushed after all.
  void cancel_admission(std::size_t count, std::uint64_t bytes) noexcept {
    release_reservation(count, bytes);
  }
  /// Pushes admitted messages to the shard `shard_hint % shards`, and wakes consumers.
  void push_admitted(Message *const *messages, std::size_t count, std::size_t shard_hint) noexcept;
  /// Puts a message back at the front of the line, outside the limits (it was admitted before).
  void push_returned(Message *message) noexcept;
  /// Hands a delayed message to the timer wheel, due at `due_ms` (engine clock).
  void push_delayed(Message *message, std::int64_t due_ms) noexcept;
  /// For messages moved here (dead letters, redrive): room for one message of `bytes`, without
  /// blocking; false if full or deleted. A successful reservation must be followed by
  /// push_reserved.
  bool reserve_one(std::uint64_t bytes) noexcept;
  void push_reserved(Message *message) noexcept;
  /// Exchange publishes (all matched queues or none, routing/router.cpp), drop_head queues: drops
  /// the oldest ready messages until one of `bytes` fits and reserves it; false if the queue is
  /// deleted or has nothing left to drop.
  bool reserve_one_dropping(std::uint64_t bytes);
  /// Exchange publishes, block queues: waits until one message of `bytes` may fit (a hint: the
  /// caller retries its reservations), or `deadline`, corq_close or deletion. True if it may fit.
  bool await_room(std::uint64_t bytes, sync::Clock::time_point deadline,
                  const std::atomic<bool> &closed);
  /// Gives back a reservation taken with reserve_one or reserve_one_dropping and not used.
  void cancel_reservation(std::uint64_t bytes) noexcept { release_reservation(1, bytes); }
  /// Logs that `message` (counts reset) is redriven from here to `target` (it was reserved there).
  void log_redrive(Queue &target, Message *message) noexcept;
  /// Recovery: recovered ready messages, in order, outside the limits.
  void restore_ready(Message *const *messages, std::size_t count) noexcept;

  // ---- consume side ----
  /// Pops up to `max` ready messages (returned list first, then the rings from `home_shard` on).
  /// Stats: the popped messages leave `ready` here, so the caller must count them elsewhere first:
  /// either it holds a bracket of moves_from_ready() around the call and what follows, or it names
  /// its `arriving` counter (single writer: the consumer's thread), which gets the popped count
  /// added before `ready` drops (see state_moves.hpp).
  std::size_t pop_ready(Message **out, std::size_t max, std::size_t home_shard,
                        std::atomic<std::uint64_t> *arriving = nullptr) noexcept;
  /// Consumers wait here for messages (notified by every push).
  sync::EventCount &not_empty() noexcept { return not_empty_; }
  bool has_ready() const noexcept { return ready_.count() != 0; }
  /// Wakes publishers blocked on a full queue (they re-check; engine close uses this).
  void wake_publishers() noexcept { not_full_.notify_all(); }

  // ---- scheduler ----
  /// Fires the delayed messages due by `now_ms`: each becomes ready (or is dead-lettered if
  /// expired).
  void advance_timers(std::int64_t now_ms);
  /// Dead-letters expired messages at the head of the ready list(s) — only while no consumer is
  /// attached (with consumers, expiry happens as they meet the messages, and inspecting the head
  /// under them could reorder deliveries). True if messages with a TTL may still be waiting.
  bool expire_ready(std::int64_t now_ms);
  /// Consumers register so that expire_ready knows whether it may look at the head.
  /// `consumer` identifies the consumer (single_active_consumer keeps them in open order).
  void attach_consumer(const void *consumer);
  void detach_consumer(const void *consumer);
  /// single_active_consumer: whether `consumer` is the one that may receive now (always true on
  /// other queues).
  bool may_receive(const void *consumer) const noexcept {
    return !options_.single_active_consumer ||
           active_consumer_.load(std::memory_order_acquire) == consumer;
  }
  /// Consumers attached now (auto_delete).
  std::uint32_t consumers_attached();
  std::uint64_t delayed() const noexcept { return delayed_count_.load(std::memory_order_relaxed); }
  /// Priority levels: max_priority + 1 on a priority queue, else 1.
  std::uint32_t priority_levels() const noexcept { return levels_; }

  // ---- control plane ----
  /// Frees every ready message (logging their removal on a durable queue); returns how many.
  std::uint64_t purge();
  /// corq_redrive's step: takes the message at the head of the ready list for a move elsewhere
  /// (nullptr if none). The move is bracketed in moves_from_ready(): finish it with
  /// finish_redrive(true) once the message is reserved in its target, or put it back with
  /// finish_redrive(false).
  Message *begin_redrive() noexcept;
  void finish_redrive(Message *message, bool moved) noexcept;
  /// Marks the queue deleted, wakes everything waiting on it, frees ready and delayed messages.
  /// `forever`: corq_queue_delete (the log already says so: the messages' log records are
  /// released); otherwise the engine is being destroyed and the log keeps them for recovery.
  void mark_deleted(bool forever);
  /// Frees a message that leaves with its queue's deletion (unpinned from the log if durable).
  void discard_deleted(Message *message) noexcept;
  DedupWindow *dedup() noexcept { return dedup_.get(); }

  /// Called when a message leaves for good; counts it and frees it (or moves it to the DLQ, or
  /// through the dead_letter_exchange).
  void dead_letter(Message *message, std::string_view reason, std::string_view detail) noexcept;

  // Counters, relaxed: statistics, not synchronization. `published` is bumped by every publish: it
  // gets a line of its own, away from the read-mostly fields consumers read on every delivery.
  alignas(cache_line_bytes) std::atomic<std::uint64_t> published{0};
  alignas(cache_line_bytes) std::atomic<std::uint64_t> deduplicated{0};
  std::atomic<std::uint64_t> dead_lettered{0}, expired{0}, dropped{0};
  /// Messages that left by corq_queue_purge and by corq_redrive (moved out of this queue).
  std::atomic<std::uint64_t> purged{0}, redriven{0};
  /// Lease expiries: failed attempts counted by the scheduler (reported within `nacked`).
  std::atomic<std::uint64_t> lease_expired{0};
  /// Totals of consumers that have closed (live consumers are summed at stats time).
  std::atomic<std::uint64_t> closed_delivered{0}, closed_acked{0}, closed_nacked{0},
      closed_released{0}, closed_redelivered{0};

  /// Cold moves in progress, by the state they leave (see state_moves.hpp). Consumers bracket
  /// nack, release, reject, lease expiry and close in moves_from_in_flight().
  StateMoves &moves_from_ready() noexcept { return moves_from_ready_; }
  StateMoves &moves_from_delayed() noexcept { return moves_from_delayed_; }
  StateMoves &moves_from_in_flight() noexcept { return moves_from_in_flight_; }

  std::uint64_t ready() const noexcept { return ready_.count(std::memory_order_relaxed); }
  /// For stats: acquire loads, in the order state_moves.hpp prescribes.
  std::uint64_t ready_for_stats() const noexcept { return ready_.count(std::memory_order_acquire); }
  std::uint64_t delayed_for_stats() const noexcept {
    return delayed_count_.load(std::memory_order_acquire);
  }
  std::uint64_t ready_bytes() const noexcept { return ready_.bytes(std::memory_order_relaxed); }
  /// Publish time of the oldest message at the head of the ready list(s); 0 if none.
  std::int64_t oldest_ready_published_ms();

  Engine &engine() noexcept { return engine_; }

 private:
  struct Shard {
    explicit Shard(std::size_t capacity) : ready(capacity) {}
    MpmcRing<ReadyEntry> ready;
  };

  /// A ready list in front of a level's ring (see the returned list above); guarded by
  /// returned_mutex_.
  struct ReturnedList {
    Message *head = nullptr;
    Message *tail = nullptr;
  };

  bool try_reserve(std::size_t count, std::uint64_t bytes) noexcept;
  /// Pushes `messages` into `ring` in order; returns how many went in (fewer only if the ring is
  /// really full, which admission rules out).
  static std::size_t push_in_order(MpmcRing<ReadyEntry> &ring, Message *const *messages,
                                   std::size_t count) noexcept {
    const std::size_t pushed =
        ring.try_emplace_bulk(count, [messages](std::size_t i) { return ReadyEntry(messages[i]); });
    if (pushed == count) [[likely]]
      return pushed;
    return push_rest_in_order(ring, messages, count, pushed);
  }
  /// push_in_order's slow path: the first `pushed` went in, the rest wait for their slots.
  [[gnu::noinline]] static std::size_t push_rest_in_order(MpmcRing<ReadyEntry> &ring,
                                                          Message *const *messages,
                                                          std::size_t count,
                                                          std::size_t pushed) noexcept;
  /// The priority level `m` is kept at (0 on a queue without priorities).
  std::uint32_t level_of(const Message *m) const noexcept {
    const std::uint32_t p = m->priority();
    return p < levels_ ? p : levels_ - 1;
  }
  /// pop_ready's body. `lowest_first`: from the lowest priority level up (drop_head).
  std::size_t pop_ready_from(Message **out, std::size_t max, std::size_t home_shard,
                             std::atomic<std::uint64_t> *arriving, bool lowest_first) noexcept;
  /// Priority queues: pops from the levels in priority order (highest first unless
  /// `lowest_first`); adds the popped payload bytes to `bytes`.
  std::size_t pop_by_priority(Message **out, std::size_t max, bool lowest_first,
                              std::uint64_t &bytes) noexcept;
  void dead_letter_through_exchange(Message *message, std::string_view reason,
                                    std::string_view detail) noexcept;
  /// Logs a dead-letter move of `original` (now `moved`) from here to `target`.
  void log_dead_letter_move(Queue &target, Message *original, Message *moved,
                            const DeathNote &note) noexcept;
  void release_reservation(std::size_t count, std::uint64_t bytes) noexcept;
  bool drop_oldest_for_room();
  std::size_t pop_returned(Message **out, std::size_t max, std::uint32_t level) noexcept;
  void free_all_ready(bool unpin) noexcept;
  std::shared_ptr<Queue> dead_letter_target();

  // Read-only after construction (read by every publish and delivery): its own lines.
  alignas(cache_line_bytes) Engine &engine_;
  const std::string name_;
  const QueueOptions options_;
  const std::string dead_letter_name_;
  const std::uint32_t qid_;
  Journal *const journal_;
  const std::uint32_t levels_;  // priority levels: max_priority + 1, or 1

  std::vector<std::unique_ptr<Shard>> shards_;

  // Admission state: producers add on one line, consumers subtract on another (ready_gauge.hpp).
  ReadyGauge ready_;
  alignas(cache_line_bytes) sync::EventCount not_empty_;
  sync::EventCount not_full_;
  alignas(cache_line_bytes) std::atomic<bool> deleted_{false};

  std::mutex returned_mutex_;
  std::vector<ReturnedList> returned_;  // one per priority level
  std::atomic<std::uint64_t> returned_count_{0};

  std::mutex timers_mutex_;
  TimerWheel timers_;
  std::atomic<std::uint64_t> delayed_count_{0};

  std::unique_ptr<DedupWindow> dedup_;

  /// Set once a message with an expiry time was made ready here: only then does expire_ready work.
  std::atomic<bool> ttl_seen_{false};
  void note_expiry(const Message *m) noexcept {
    if (m->expires_at_ms != 0 && !ttl_seen_.load(std::memory_order_relaxed)) {
      ttl_seen_.store(true, std::memory_order_relaxed);
    }
  }
  void push_returned_front(Message *message) noexcept;
  std::mutex sweep_mutex_;                        // expire_ready vs consumers attaching
  std::uint32_t consumers_attached_ = 0;          // guarded by sweep_mutex_
  std::vector<const void *> consumers_in_order_;  // single_active_consumer (sweep_mutex_)
  std::atomic<const void *> active_consumer_{nullptr};

  std::mutex dead_letter_mutex_;
  std::weak_ptr<Queue> dead_letter_cache_;

  // Cold moves in progress (stats only; see state_moves.hpp). Apart from the hot lines above.
  alignas(cache_line_bytes) StateMoves moves_from_ready_;
  StateMoves moves_from_delayed_;
  StateMoves moves_from_in_flight_;
};

}  // namespace corq::core
