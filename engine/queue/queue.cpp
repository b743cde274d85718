// engine/queue/queue.cpp — admission, ready rings, returned list, timers and dead-lettering of a
// queue.
#include "queue/queue.hpp"

#include "routing/exchange_publish.hpp"

#include "durability/journal.hpp"
#include "engine/engine.hpp"

#include <algorithm>
#include <thread>

namespace corq::core {

Queue::Queue(Engine &engine, std::string name, QueueOptions options, std::uint32_t qid)
    : engine_(engine),
      name_(std::move(name)),
      options_(std::move(options)),
      dead_letter_name_(options_.dead_letter_queue_for(name_)),
      qid_(qid),
      journal_(qid != 0 ? engine.journal() : nullptr),
      levels_(options_.max_priority + 1),
      returned_(levels_),
      timers_(engine.now_ms()) {
  // A priority queue's rings are its levels (options forbid shards > 1 with max_priority).
  const std::uint32_t rings = levels_ > 1 ? levels_ : options_.shards;
  shards_.reserve(rings);
  for (std::uint32_t i = 0; i < rings; ++i) {
    // Each ring can hold the whole queue: admission bounds the total, not the ring.
    shards_.push_back(std::make_unique<Shard>(options_.max_length));
  }
  if (options_.dedup_window_ms > 0)
    dedup_ = std::make_unique<DedupWindow>(options_.dedup_window_ms);
}

Queue::~Queue() {
  free_all_ready(false);
  std::lock_guard lock(timers_mutex_);
  timers_.clear([](Message *m) { free_message(m); });
}

// ---- admission
// -----------------------------------------------------------------------------------

bool Queue::try_reserve(std::size_t count, std::uint64_t bytes) noexcept {
  // seq_cst inside: the gauge is the condition of the not_full_/not_empty_ waits. Room taken and
  // given back (the bytes did not fit) may have been seen as taken by a waiting publisher.
  bool gave_back = false;
  if (ready_.try_reserve(count, bytes, options_.max_length, options_.max_bytes, gave_back))
    return true;
  if (gave_back) not_full_.notify_if_waiting();
  return false;
}

void Queue::release_reservation(std::size_t count, std::uint64_t bytes) noexcept {
  ready_.give_back(count, bytes);
  not_full_.notify_if_waiting();
}

bool Queue::drop_oldest_for_room() {
  const StateMoveScope move(moves_from_ready_, 1);
  Message *oldest = nullptr;
  // On a priority queue: the oldest of the lowest priority.
  if (pop_ready_from(&oldest, 1, 0, nullptr, true) == 0) return false;
  dead_letter(oldest, "maxlen", {});
  return true;
}

Admission Queue::admit(std::size_t count, std::uint64_t bytes, std::int32_t timeout_ms,
                       const std::atomic<bool> &closed) {
  if (try_reserve(count, bytes)) return Admission::admitted;
  switch (options_.overflow) {
    case Overflow::reject: return Admission::full;
    case Overflow::drop_head:
      // Each drop frees one message's room; stop when the queue has nothing left to drop.
      while (!try_reserve(count, bytes)) {
        if (deleted()) return Admission::closed;
        if (!drop_oldest_for_room()) return Admission::full;
      }
      return Admission::admitted;
    case Overflow::block: break;
  }
  // Blocked: hold a reference on the engine so a concurrent corq_close cannot free it under us
  // (close wakes us; we return CORQ_ECLOSED). Taken only on this slow path.
  bool stopped = false;
  const auto deadline = sync::deadline_after_ms(timeout_ms);  // read the clock only when blocking
  engine_.retain_handle();
  const bool got = not_full_.await(
      [&] {
        if (closed.load(std::memory_order_acquire) || deleted()) return stopped = true;
        return try_reserve(count, bytes);
      },
      deadline);
  Engine::release_handle(&engine_);  // engine_ must not be touched after this line
  if (stopped) {
    return Admission::closed;
  }
  return got ? Admission::admitted : Admission::full;
}

// ---- pushing
// -------------------------------------------------------------------------------------

std::size_t Queue::push_rest_in_order(MpmcRing<ReadyEntry> &ring, Message *const *messages,
                                      std::size_t count, std::size_t pushed) noexcept {
  // A short claim with the ring's indices saying it is not full means a slot one lap back is still
  // held: a consumer claimed it and has not yet moved the message out (preempted mid-pop), or a
  // producer claimed it and has not yet written it. Admission counts messages, not ring positions,
  // so it cannot see this. Both finish without taking a lock, so wait for the slot: putting the
  // message on the returned list instead would let a consumer deliver it after messages this same
  // publisher sends next (FIFO broken; tests/engine/ring_lap_fifo_test.cpp).
  for (int round = 0; pushed < count && ring.size() < ring.capacity(); ++round) {
    if (round < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // the holder may be off the core
    }
    pushed += ring.try_emplace_bulk(count - pushed, [messages, pushed](std::size_t i) {
      return ReadyEntry(messages[pushed + i]);
    });
  }
  return pushed;
}

void Queue::push_admitted(Message *const *messages, std::size_t count,
                          std::size_t shard_hint) noexcept {
  if (count == 0) return;
  if (levels_ > 1) [[unlikely]] {
    // Each message to its priority's ring (a batch usually shares one priority; copies moved in
    // by dead-lettering or redrive carry their own).
    for (std::size_t i = 0; i < count; ++i) {
      note_expiry(messages[i]);
      if (messages[i]->expires_at_ms != 0)
        engine_.scheduler().poke_if_before(messages[i]->expires_at_ms);
      MpmcRing<ReadyEntry> &ring = shards_[level_of(messages[i])]->ready;
      if (!push_in_order(ring, messages + i, 1)) {
        push_returned(messages[i]);  // cannot happen while admission holds (as below)
        ready_.give_back(1, messages[i]->payload_len);
      }
    }
    not_empty_.notify_if_waiting();
    return;
  }
  const std::size_t shards = shards_.size();
  Shard &shard = *shards_[shards == 1 ? 0 : shard_hint % shards];  // no division in the usual case
  if (messages[0]->expires_at_ms != 0 || messages[count - 1]->expires_at_ms != 0) [[unlikely]] {
    // A batch shares its TTL (one publish's options), so its first and last message tell.
    for (std::size_t i = 0; i < count; ++i) {
      note_expiry(messages[i]);
      // A consumer-less queue expires its head eagerly: make sure the scheduler looks in time.
      if (messages[i]->expires_at_ms != 0)
        engine_.scheduler().poke_if_before(messages[i]->expires_at_ms);
    }
  }
  // Admission guarantees room (in messages; push_in_order waits out a slot still held by a pop).
  std::size_t pushed = push_in_order(shard.ready, messages, count);
  // Cannot happen while admission holds; if it ever did, the returned list keeps the messages.
  for (; pushed < count; ++pushed) {
    push_returned(messages[pushed]);  // counts it again: un-count the admission after (stats)
    ready_.give_back(1, messages[pushed]->payload_len);
  }
  not_empty_.notify_if_waiting();
}

void Queue::push_returned(Message *message) noexcept {
  note_expiry(message);
  message->next = nullptr;
  {
    std::lock_guard lock(returned_mutex_);
    ReturnedList &list = returned_[level_of(message)];
    if (list.tail == nullptr) {
      list.head = message;
    } else {
      list.tail->next = message;
    }
    list.tail = message;
    ready_.add(1, message->payload_len);
    returned_count_.fetch_add(1, std::memory_order_release);
  }
  not_empty_.notify_if_waiting();
}

void Queue::push_delayed(Message *message, std::int64_t due_ms) noexcept {
  {
    std::lock_guard lock(timers_mutex_);
    timers_.insert(message, due_ms);
    delayed_count_.fetch_add(1, std::memory_order_release);  // before published (stats)
  }
  engine_.scheduler().poke_if_before(due_ms);
}

bool Queue::reserve_one(std::uint64_t bytes) noexcept {
  return !deleted() && try_reserve(1, bytes);
}

bool Queue::reserve_one_dropping(std::uint64_t bytes) {
  while (!try_reserve(1, bytes)) {
    if (deleted() || !drop_oldest_for_room()) return false;
  }
  return true;
}

bool Queue::await_room(std::uint64_t bytes, sync::Clock::time_point deadline,
                       const std::atomic<bool> &closed) {
  bool stopped = false;
  engine_.retain_handle();  // as in admit: corq_close must not free the engine under the wait
  const bool room = not_full_.await(
      [&] {
        if (closed.load(std::memory_order_acquire) || deleted()) return stopped = true;
        return ready_.count() + 1 <= options_.max_length &&
               ready_.bytes() + bytes <= options_.max_bytes;
      },
      deadline);
  Engine::release_handle(&engine_);
  return room && !stopped;
}

void Queue::push_reserved(Message *message) noexcept {
  push_admitted(&message, 1, static_cast<std::size_t>(message->id));
  published.fetch_add(1, std::memory_order_release);  // after it is counted ready (stats)
}

void Queue::restore_ready(Message *const *messages, std::size_t count) noexcept {
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < count; ++i) {
    bytes += messages[i]->payload_len;
    note_expiry(messages[i]);
  }
  ready_.add(count, bytes);
  if (levels_ > 1) {
    push_admitted(messages, count, 0);  // each to its level, recovered order kept within one
    if (ttl_seen_.load(std::memory_order_relaxed)) engine_.scheduler().poke_if_before(0);
    return;
  }
  Shard &shard = *shards_[0];
  std::size_t pushed = shard.ready.try_emplace_bulk(
      count, [messages](std::size_t i) { return ReadyEntry(messages[i]); });
  for (; pushed < count; ++pushed) {  // more than max_length recovered (a smaller ring): the list
    push_returned(messages[pushed]);
    ready_.give_back(1, messages[pushed]->payload_len);
  }
  if (ttl_seen_.load(std::memory_order_relaxed)) engine_.scheduler().poke_if_before(0);
}

// ---- popping
// -------------------------------------------------------------------------------------

std::size_t Queue::pop_returned(Message **out, std::size_t max, std::uint32_t level) noexcept {
  std::lock_guard lock(returned_mutex_);
  ReturnedList &list = returned_[level];
  std::size_t n = 0;
  while (n < max && list.head != nullptr) {
    out[n++] = list.head;
    list.head = list.head->next;
  }
  if (list.head == nullptr) list.tail = nullptr;
  returned_count_.fetch_sub(n, std::memory_order_release);
  return n;
}

std::size_t Queue::pop_by_priority(Message **out, std::size_t max, bool lowest_first,
                                   std::uint64_t &bytes) noexcept {
  std::size_t n = 0;
  auto take = [out, &n, &bytes](std::size_t, ReadyEntry &&entry) {
    Message *m = entry.message();
    bytes += m->payload_len;
    out[n++] = m;
  };
  for (std::uint32_t i = 0; i < levels_ && n < max; ++i) {
    const std::uint32_t level = lowest_first ? i : levels_ - 1 - i;
    // Within a level, as on any queue: its returned messages first, then its ring.
    if (returned_count_.load(std::memory_order_acquire) != 0) {
      const std::size_t from = n;
      n += pop_returned(out + n, max - n, level);
      for (std::size_t k = from; k < n; ++k) bytes += out[k]->payload_len;
    }
    if (n < max) shards_[level]->ready.try_pop_bulk_with(max - n, take);
  }
  return n;
}

std::size_t Queue::pop_ready(Message **out, std::size_t max, std::size_t home_shard,
                             std::atomic<std::uint64_t> *arriving) noexcept {
  return pop_ready_from(out, max, home_shard, arriving, false);
}

std::size_t Queue::pop_ready_from(Message **out, std::size_t max, std::size_t home_shard,
                                  std::atomic<std::uint64_t> *arriving,
                                  bool lowest_first) noexcept {
  std::size_t n = 0;
  std::uint64_t bytes = 0;
  // Sum the bytes while each message pointer is in hand (one pass over the popped messages).
  auto take = [out, &n, &bytes](std::size_t, ReadyEntry &&entry) {
    Message *m = entry.message();
    bytes += m->payload_len;
    out[n++] = m;
  };
  const std::size_t shards = shards_.size();
  if (levels_ > 1) [[unlikely]] {
    n = pop_by_priority(out, max, lowest_first, bytes);
  } else {
    if (returned_count_.load(std::memory_order_acquire) != 0) [[unlikely]] {
      n = pop_returned(out, max, 0);
      for (std::size_t i = 0; i < n; ++i) bytes += out[i]->payload_len;
    }
    if (shards == 1) [[likely]] {
      if (n < max) shards_[0]->ready.try_pop_bulk_with(max - n, take);
    } else {
      for (std::size_t s = 0; s < shards && n < max; ++s)
        shards_[(home_shard + s) % shards]->ready.try_pop_bulk_with(max - n, take);
    }
  }
  if (n == 0) return 0;
  // Counted as arriving before they stop counting as ready; the removal (a release) publishes it.
  if (arriving != nullptr)
    arriving->store(arriving->load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  ready_.remove(n, bytes);
  not_full_.notify_if_waiting();
  return n;
}

std::int64_t Queue::oldest_ready_published_ms() {
  // The heads only (the returned list's and each ring's), as the header promises: O(shards) under
  // one short lock. Walking the whole returned list made each stats read O(requeued messages) and
  // held the lock consumers pop under for all of it.
  std::int64_t oldest = 0;
  {
    std::lock_guard lock(returned_mutex_);
    for (const ReturnedList &list : returned_) {
      if (list.head != nullptr && (oldest == 0 || list.head->published_at_ms < oldest))
        oldest = list.head->published_at_ms;
    }
  }
  for (auto &shard : shards_) {
    ReadyEntry head;
    if (shard->ready.peek_front(head)) {
      const std::int64_t t = head.published_at_ms();
      if (oldest == 0 || t < oldest) oldest = t;
    }
  }
  return oldest;
}

// ---- timers
// --------------------------------------------------------------------------------------

void Queue::advance_timers(std::int64_t now_ms) {
  // Collect under the lock, act outside it: firing may dead-letter into another queue.
  Message *due_head = nullptr;
  std::uint64_t due = 0;
  {
    std::lock_guard lock(timers_mutex_);
    if (timers_.size() == 0 && timers_.now_ms() >= now_ms) return;
    timers_.advance(now_ms, [&](Message *m) {
      m->next = due_head;
      due_head = m;
      ++due;
    });
    if (due == 0) return;
    moves_from_delayed_.begin(due);  // stats: counted as delayed until they arrive
    delayed_count_.fetch_sub(due, std::memory_order_release);
  }
  // The list is newest-fired first; reverse so earlier-due messages become ready first.
  Message *ordered = nullptr;
  while (due_head != nullptr) {
    Message *next = due_head->next;
    due_head->next = ordered;
    ordered = due_head;
    due_head = next;
  }
  while (ordered != nullptr) {
    Message *next = ordered->next;
    if (ordered->expired(now_ms)) {
      expired.fetch_add(1, std::memory_order_relaxed);
      dead_letter(ordered, "expired", {});
    } else {
      push_returned(ordered);
    }
    ordered = next;
  }
  moves_from_delayed_.end(due);
}

// ---- eager expiry
// ----------------------------------------------------------------------------------

void Queue::attach_consumer(const void *consumer) {
  std::lock_guard lock(sweep_mutex_);
  ++consumers_attached_;
  if (!options_.single_active_consumer) return;
  consumers_in_order_.push_back(consumer);
  if (consumers_in_order_.size() == 1) active_consumer_.store(consumer, std::memory_order_release);
}

void Queue::detach_consumer(const void *consumer) {
  {
    std::lock_guard lock(sweep_mutex_);
    --consumers_attached_;
    if (!options_.single_active_consumer) return;
    std::erase(consumers_in_order_, consumer);
    if (active_consumer_.load(std::memory_order_relaxed) != consumer) return;
    // The next in open order takes over (the one leaving released its deliveries before).
    active_consumer_.store(consumers_in_order_.empty() ? nullptr : consumers_in_order_.front(),
                           std::memory_order_release);
  }
  not_empty_.notify_all();  // the new active consumer may be waiting
}

std::uint32_t Queue::consumers_attached() {
  std::lock_guard lock(sweep_mutex_);
  return consumers_attached_;
}

void Queue::push_returned_front(Message *message) noexcept {
  std::lock_guard lock(returned_mutex_);
  ReturnedList &list = returned_[level_of(message)];
  message->next = list.head;
  list.head = message;
  if (list.tail == nullptr) list.tail = message;
  ready_.add(1, message->payload_len);
  returned_count_.fetch_add(1, std::memory_order_release);
}

bool Queue::expire_ready(std::int64_t now_ms) {
  if (!ttl_seen_.load(std::memory_order_relaxed) || ready() == 0 || deleted()) return false;
  std::lock_guard lock(sweep_mutex_);
  if (consumers_attached_ != 0) return false;  // consumers expire what they meet
  // A head that stays is looked at where it lies when it can be: at the front of the returned
  // list of a queue without priorities. Taking it out and putting it back counts it, for that
  // moment, as a move in progress (stats may over-count a move, never under-count), and did so on
  // every scheduler pass: a stats read beside a pass saw one ready message as two.
  if (levels_ == 1) {
    std::lock_guard returned_lock(returned_mutex_);
    const Message *head = returned_[0].head;
    if (head != nullptr && !head->expired(now_ms)) return true;
  }
  // Like RabbitMQ, expiry happens at the head: stop at the first message still alive. With no
  // consumer attached nobody else pops, so taking the head and putting it back reorders nothing
  // (and puts it at the front of the returned list, where the next pass finds it as above).
  for (;;) {
    const StateMoveScope move(moves_from_ready_, 1);
    Message *head = nullptr;
    if (pop_ready(&head, 1, 0) == 0) return false;
    if (!head->expired(now_ms)) {
      push_returned_front(head);
      return true;
    }
    expired.fetch_add(1, std::memory_order_relaxed);
    dead_letter(head, "expired", {});
  }
}

// ---- control plane
// -------------------------------------------------------------------------------

void Queue::free_all_ready(bool unpin) noexcept {
  Message *batch[64];
  std::size_t n;
  while ((n = pop_ready(batch, 64, 0)) != 0) {
    for (std::size_t i = 0; i < n; ++i) {
      if (unpin && journal_ != nullptr) journal_->unpin(batch[i]);
      free_message(batch[i]);
    }
  }
}

std::uint64_t Queue::purge() {
  std::uint64_t total = 0;
  constexpr std::size_t batch_max = 256;
  Message *batch[batch_max];
  for (;;) {
    const StateMoveScope move(moves_from_ready_, batch_max);
    const std::size_t n = pop_ready(batch, batch_max, 0);
    if (n == 0) break;
    // One record per 256 messages; not waited for, like every settlement.
    if (journal_ != nullptr) journal_->log_remove(qid_, batch, n);
    for (std::size_t i = 0; i < n; ++i) free_message(batch[i]);
    purged.fetch_add(n, std::memory_order_release);
    total += n;
  }
  return total;
}

Message *Queue::begin_redrive() noexcept {
  moves_from_ready_.begin(1);
  Message *m = nullptr;
  if (pop_ready(&m, 1, 0) == 0) {
    moves_from_ready_.end(1);
    return nullptr;
  }
  return m;
}

void Queue::finish_redrive(Message *message, bool moved) noexcept {
  if (moved) {
    redriven.fetch_add(1, std::memory_order_release);
  } else {
    push_returned(message);  // stays at the front of the line
  }
  moves_from_ready_.end(1);
}

void Queue::discard_deleted(Message *message) noexcept {
  if (journal_ != nullptr) journal_->unpin(message);
  free_message(message);
}

void Queue::mark_deleted(bool forever) {
  deleted_.store(true, std::memory_order_seq_cst);
  not_empty_.notify_all();  // deleted_ is not a counter: the unconditional notify orders it
  not_full_.notify_all();
  free_all_ready(forever);
  std::lock_guard lock(timers_mutex_);
  if (forever) {
    timers_.clear([this](Message *m) { discard_deleted(m); });
  } else {
    timers_.clear([](Message *m) { free_message(m); });
  }
  delayed_count_.store(0, std::memory_order_relaxed);
}

// ---- dead-lettering
// ------------------------------------------------------------------------------

std::shared_ptr<Queue> Queue::dead_letter_target() {
  if (dead_letter_name_.empty()) return nullptr;
  std::lock_guard lock(dead_letter_mutex_);
  std::shared_ptr<Queue> target = dead_letter_cache_.lock();
  if (target == nullptr || target->deleted()) {
    target = engine_.find(dead_letter_name_);
    dead_letter_cache_ = target;
  }
  return target;
}

void Queue::log_dead_letter_move(Queue &target, Message *original, Message *moved,
                                 const DeathNote &note) noexcept {
  if (journal_ != nullptr && target.journal_ != nullptr) {
    // The copy carries the original's place in the log (make_dead_letter keeps log_bucket).
    journal_->log_dead_letter(qid_, target.qid_, *moved, note.reason, note.origin_queue,
                              note.detail, note.time_ms);
  } else if (journal_ != nullptr) {
    // Into a transient queue: for the log, the message is gone.
    journal_->log_remove(qid_, &original, 1);
    moved->log_bucket = 0;
  } else if (target.journal_ != nullptr) {
    // From a transient queue into a durable one: the copy is published there.
    wal::Lsn lsn = 0;
    std::string error;
    moved->log_bucket = 0;
    if (target.journal_->log_publish(target.qid_, &moved, 1, nullptr, 0, 0, lsn, error) !=
        CORQ_OK) {
      moved->log_bucket = 0;
      engine_.log(CORQ_LOG_WARN, "queue '" + target.name_ + "': dead letter " +
                                     std::to_string(moved->id) + " not logged: " + error);
    }
  }
}

void Queue::log_redrive(Queue &target, Message *message) noexcept {
  if (journal_ != nullptr && target.journal_ != nullptr) {
    journal_->log_redrive(qid_, target.qid_, *message);
  } else if (journal_ != nullptr) {
    journal_->log_remove(qid_, &message, 1);
  } else if (target.journal_ != nullptr) {
    wal::Lsn lsn = 0;
    std::string error;
    if (target.journal_->log_publish(target.qid_, &message, 1, nullptr, 0, 0, lsn, error) !=
        CORQ_OK) {
      engine_.log(CORQ_LOG_WARN, "queue '" + target.name_ + "': redriven message " +
                                     std::to_string(message->id) + " not logged: " + error);
    }
  }
}

void Queue::dead_letter(Message *message, std::string_view reason,
                        std::string_view detail) noexcept {
  if (!options_.dead_letter_exchange.empty())
    return dead_letter_through_exchange(message, reason, detail);
  std::shared_ptr<Queue> target = dead_letter_target();
  if (target != nullptr) {
    const DeathNote note{reason, name_, engine_.now_ms(), detail};
    Message *moved = make_dead_letter(*message, note);
    if (moved != nullptr) {
      if (target->options().message_ttl_ms > 0) {
        moved->expires_at_ms = note.time_ms + target->options().message_ttl_ms;
      }
      if (target->reserve_one(moved->payload_len)) {
        log_dead_letter_move(*target, message, moved, note);  // before anyone can settle it there
        target->push_reserved(moved);
        free_message(message);
        dead_lettered.fetch_add(1, std::memory_order_release);  // stats: the caller un-counts it
        return;
      }
      free_message(moved);
      engine_.log(CORQ_LOG_WARN, "queue '" + name_ + "': dead-letter queue '" + dead_letter_name_ +
                                     "' is full; message " + std::to_string(message->id) +
                                     " (reason " + std::string(reason) + ") dropped");
    } else {
      engine_.log(CORQ_LOG_ERROR, "queue '" + name_ + "': out of memory dead-lettering message " +
                                      std::to_string(message->id) + "; dropped");
    }
  } else if (!dead_letter_name_.empty()) {
    engine_.log(CORQ_LOG_WARN, "queue '" + name_ + "': dead-letter queue '" + dead_letter_name_ +
                                   "' does not exist; message " + std::to_string(message->id) +
                                   " (reason " + std::string(reason) + ") dropped");
  } else {
    engine_.log(CORQ_LOG_DEBUG, "queue '" + name_ + "': message " + std::to_string(message->id) +
                                    " dropped (reason " + std::string(reason) +
                                    ", no dead-letter queue)");
  }
  dropped.fetch_add(1, std::memory_order_release);  // stats: the caller un-counts it after
  if (journal_ != nullptr) journal_->log_remove(qid_, &message, 1);
  free_message(message);
}

void Queue::dead_letter_through_exchange(Message *message, std::string_view reason,
                                         std::string_view detail) noexcept {
  const DeathNote note{reason, name_, engine_.now_ms(), detail};
  // The copies routed below get pins of their own before this one is released: both count
  // among the id's pins meanwhile (durability/ledger.hpp).
  if (journal_ != nullptr) journal_->ledger().share(message);
  Message *dead = make_dead_letter(*message, note);
  const std::size_t taken = dead == nullptr ? 0 : routing::route_dead_letter(engine_, *this, dead);
  if (taken == 0) {
    engine_.log(CORQ_LOG_WARN, "queue '" + name_ + "': dead-letter exchange '" +
                                   options_.dead_letter_exchange + "' took message " +
                                   std::to_string(message->id) + " (reason " + std::string(reason) +
                                   ") nowhere; dropped");
  }
  // The copies are logged where they went (before this): a crash in between leaves the message
  // in both places, never in neither (at-least-once, like every dead-letter move).
  if (journal_ != nullptr) journal_->log_remove(qid_, &message, 1);
  free_message(message);
  // Stats: the caller un-counts it from where it was.
  (taken != 0 ? dead_lettered : dropped).fetch_add(1, std::memory_order_release);
}

}  // namespace corq::core
