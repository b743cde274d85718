// engine/consumer/consumer.cpp — consuming into the prefetch window, and settling out of it.
#include "consumer/consumer.hpp"

#include "capi/error.hpp"
#include "durability/journal.hpp"
#include "engine/engine.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace corq::core {

Consumer::Consumer(Engine &engine, std::shared_ptr<Queue> queue, std::uint32_t prefetch,
                   std::uint64_t consumer_index)
    : ConsumerBase(false),
      engine_(engine),
      queue_(std::move(queue)),
      prefetch_(prefetch),
      slot_bits_(static_cast<std::uint32_t>(std::bit_width(prefetch - 1u))),
      slot_mask_((std::uint64_t{1} << slot_bits_) - 1),
      home_shard_(static_cast<std::size_t>(consumer_index)),
      slots_(new Slot[prefetch]),
      popped_(prefetch),
      settled_slots_(prefetch) {
  free_slots_.reserve(prefetch);
  for (std::uint32_t i = prefetch; i > 0; --i) free_slots_.push_back(i - 1);  // slot 0 on top
  queue_->attach_consumer(this);
}

Consumer::~Consumer() { queue_->detach_consumer(this); }

int Consumer::closed_code() const noexcept {
  if (engine_.closed()) return capi::fail(CORQ_ECLOSED, "the engine is closed");
  if (woken_.load(std::memory_order_acquire)) {
    return capi::fail(CORQ_ECLOSED, "consumer was woken up (corq_consumer_wakeup)");
  }
  if (queue_->deleted())
    return capi::fail(CORQ_ENOENT, "queue '" + queue_->name() + "' was deleted");
  return CORQ_OK;
}

// ---- consuming
// -----------------------------------------------------------------------------------

inline int Consumer::deliver(Message *message, std::int64_t now_ms, corq_delivery &out) {
  const std::uint32_t slot_number = free_slots_.back();
  free_slots_.pop_back();
  Slot &slot = slots_[slot_number];
  const std::uint64_t tag = next_sequence_++ << slot_bits_ | slot_number;
  ++message->delivery_count;
  slot.message = message;
  slot.tag = tag;
  slot.lease_deadline_ms.store(now_ms + queue_->options().lease_ms, std::memory_order_relaxed);
  // Release: the scheduler that sees in_flight also sees message and deadline.
  slot.state.store(tag << 2 | slot_in_flight, std::memory_order_release);

  out.tag = tag;
  out.message_id = message->id;
  out.data = message->payload();
  out.len = message->payload_len;
  out.headers = message->header_count != 0 ? message->headers() : nullptr;
  out.header_count = message->header_count;
  out.delivery_count = message->delivery_count;
  out.published_at_ms = message->published_at_ms;
  if (message->delivery_count > 1) bump(redelivered_);
  return 1;
}

int Consumer::consume(corq_delivery *out, std::size_t max, std::int32_t timeout_ms) {
  // Three flags, checked inline; closed_code() builds the error only when one is set.
  if (engine_.closed() || woken_.load(std::memory_order_acquire) || queue_->deleted())
      [[unlikely]] {
    return closed_code();
  }
  if (interrupted_.load(std::memory_order_relaxed)) [[unlikely]] {
    if (interrupted_.exchange(false, std::memory_order_acq_rel)) return 0;
  }
  Journal *const journal = queue_->journal();
  if (journal != nullptr && journal->failure_code() != CORQ_OK) [[unlikely]] {
    return capi::fail(CORQ_EFAILED, journal->failure_text());
  }
  if (expired_pending_.load(std::memory_order_acquire) != 0) reclaim_expired();
  const std::size_t room = std::min<std::size_t>(max, free_slots_.size());
  if (room == 0) return 0;  // window full (or max == 0): nothing can be delivered now

  sync::Clock::time_point deadline{};  // read the clock only if we have to wait
  bool deadline_set = false;
  for (;;) {
    // single_active_consumer: a consumer that is not the active one receives nothing (yet).
    const std::size_t popped =
        queue_->may_receive(this) ? queue_->pop_ready(popped_.data(), room, home_shard_, &arriving_)
                                  : 0;
    if (popped != 0) {
      const std::int64_t now_ms = engine_.now_ms();
      std::size_t delivered = 0;
      for (std::size_t i = 0; i < popped; ++i) {
        Message *m = popped_[i];
        if (m->expired(now_ms)) {
          queue_->expired.fetch_add(1, std::memory_order_relaxed);
          queue_->dead_letter(m, "expired", {});
          continue;
        }
        delivered += deliver(m, now_ms, out[delivered]);
      }
      // Stats: in their slots (or dead-lettered) before they stop counting as arriving.
      bump(outstanding_, delivered);
      arriving_.store(0, std::memory_order_release);
      if (delivered != 0) {
        // The delivery counts survive a crash (not waited for: a lost record only means the
        // count restarts one lower).
        if (journal != nullptr) journal->log_deliver(queue_->qid(), out, delivered);
        bump(delivered_, delivered);
        // Leases are timed work: wake the scheduler if it plans to sleep past this batch's.
        engine_.scheduler().poke_if_before(now_ms + queue_->options().lease_ms);
        return static_cast<int>(delivered);
      }
      continue;  // everything popped had expired: look again
    }
    if (timeout_ms == 0) return 0;
    if (!deadline_set) {
      deadline = sync::deadline_after_ms(timeout_ms);
      deadline_set = true;
    }
    bool stop = false;
    bool interrupted = false;
    const bool ready = queue_->not_empty().await(
        [&] {
          if (woken_.load(std::memory_order_acquire) || engine_.closed() || queue_->deleted()) {
            return stop = true;
          }
          if (interrupted_.load(std::memory_order_acquire)) return interrupted = true;
          return queue_->has_ready() && queue_->may_receive(this);
        },
        deadline);
    if (stop) return closed_code();
    if (interrupted && interrupted_.exchange(false, std::memory_order_acq_rel)) return 0;
    if (!ready) return 0;  // timed out
  }
}

// ---- settling
// ------------------------------------------------------------------------------------

namespace {

/// The error of a settle that found no such delivery; out of line, so that the settle fast path is
/// small enough to inline into ack.
[[gnu::cold, gnu::noinline]] void settle_failed(const char *operation, std::uint64_t tag,
                                                const char *why) {
  capi::fail(CORQ_ESTATE, std::string(operation) + ": tag " + std::to_string(tag) + why);
}

}  // namespace

inline Message *Consumer::settle(std::uint64_t tag, const char *operation,
                                 std::uint32_t &slot_number) {
  slot_number = static_cast<std::uint32_t>(tag & slot_mask_);
  if (tag == 0 || slot_number >= prefetch_ || slots_[slot_number].tag != tag) [[unlikely]] {
    settle_failed(operation, tag, " is not an unsettled delivery of this consumer");
    return nullptr;
  }
  Slot &slot = slots_[slot_number];
  std::uint64_t expected = tag << 2 | slot_in_flight;
  if (!slot.state.compare_exchange_strong(expected, tag << 2 | slot_free,
                                          std::memory_order_acq_rel)) [[unlikely]] {
    settle_failed(
        operation, tag,
        (expected & state_mask) >= slot_expired ? " lease expired" : " was already settled");
    return nullptr;
  }
  return slot.message;
}

template <typename Move>
int Consumer::settle_and_move(std::uint64_t tag, const char *operation, Move &&move) {
  std::uint32_t slot_number = 0;
  Message *m = settle(tag, operation, slot_number);
  if (m == nullptr) return CORQ_ESTATE;
  const StateMoveScope bracket(queue_->moves_from_in_flight(), 1);
  free_slot(slot_number);
  move(m);
  return CORQ_OK;
}

inline void Consumer::free_slot(std::uint32_t slot_number) noexcept {
  Slot &slot = slots_[slot_number];
  slot.message = nullptr;
  slot.tag = 0;
  free_slots_.push_back(slot_number);
  outstanding_.store(outstanding_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}

int Consumer::log_removal_durable(Message *const *messages, std::size_t count,
                                  const char *operation) {
  Journal *const journal = queue_->journal();
  const int rc = journal->log_remove(queue_->qid(), messages, count);
  if (rc == CORQ_OK) return rc;
  return capi::fail(rc, std::string(operation) +
                            ": settled in memory but not logged: " + journal->failure_text());
}

const Message *Consumer::held(std::uint64_t tag) const noexcept {
  const auto slot_number = static_cast<std::uint32_t>(tag & slot_mask_);
  if (tag == 0 || slot_number >= prefetch_ || slots_[slot_number].tag != tag) return nullptr;
  const Slot &slot = slots_[slot_number];
  if (slot.state.load(std::memory_order_acquire) != (tag << 2 | slot_in_flight)) return nullptr;
  return slot.message;
}

int Consumer::ack(std::uint64_t tag) {
  std::uint32_t slot_number = 0;
  Message *m = settle(tag, "ack", slot_number);
  if (m == nullptr) return CORQ_ESTATE;
  const int rc = log_removal(&m, 1, "ack");
  free_message(m);
  bump(acked_);  // stats: acked before it stops counting in flight
  free_slot(slot_number);
  return rc;
}

Message *Consumer::txn_claim(std::uint64_t tag) {
  std::uint32_t slot_number = 0;
  return settle(tag, "corq_txn_commit", slot_number);
}

void Consumer::txn_unclaim(std::uint64_t tag) noexcept {
  // Only this thread moves a slot out of `free`, and the slot still names the tag: a plain store.
  slots_[tag & slot_mask_].state.store(tag << 2 | slot_in_flight, std::memory_order_release);
}

void Consumer::txn_complete_ack(std::uint64_t tag) noexcept {
  const auto slot_number = static_cast<std::uint32_t>(tag & slot_mask_);
  free_message(slots_[slot_number].message);
  bump(acked_);  // stats: acked before it stops counting in flight
  free_slot(slot_number);
}

int Consumer::ack_upto(std::uint64_t tag) {
  std::uint64_t acked = 0;
  // Occupied slots cluster at low numbers (the free stack hands out the most recently freed, and
  // starts with slot 0): stop once every occupied slot has been seen, so a large prefetch with few
  // deliveries outstanding costs a few slots, not the whole window.
  const std::uint64_t occupied = outstanding_.load(std::memory_order_relaxed);
  std::uint64_t seen = 0;
  for (std::uint32_t i = 0; i < prefetch_ && seen < occupied; ++i) {
    Slot &slot = slots_[i];
    const std::uint64_t slot_tag = slot.tag;
    if (slot_tag == 0) continue;
    ++seen;
    if (slot_tag > tag) continue;
    // settle() without its checks (the slot holds this very tag): the CAS decides the race with
    // the scheduler expiring the lease; a lost race just leaves the slot to the expiry.
    std::uint64_t expected = slot_tag << 2 | slot_in_flight;
    if (!slot.state.compare_exchange_strong(expected, slot_tag << 2 | slot_free,
                                            std::memory_order_acq_rel)) {
      continue;  // expired meanwhile
    }
    settled_slots_[acked] = i;
    popped_[acked++] = slot.message;
  }
  if (acked == 0) {
    return capi::fail(CORQ_ESTATE,
                      "ack_upto: no unsettled delivery with tag <= " + std::to_string(tag));
  }
  const int rc = log_removal(popped_.data(), acked, "ack_upto");  // one record for all of them
  for (std::uint64_t i = 0; i < acked; ++i) free_message(popped_[i]);
  bump(acked_, acked);                         // stats: acked before they stop counting in flight
  for (std::uint64_t i = 0; i < acked; ++i) {  // free_slot for each, one outstanding_ store
    Slot &slot = slots_[settled_slots_[i]];
    slot.message = nullptr;
    slot.tag = 0;
    free_slots_.push_back(settled_slots_[i]);
  }
  outstanding_.store(outstanding_.load(std::memory_order_relaxed) - acked,
                     std::memory_order_release);
  return rc;
}

void Consumer::fail_attempt(Message *message, std::int64_t delay_ms, std::int64_t now_ms) {
  const QueueOptions &o = queue_->options();
  ++message->failed_attempts;
  if (queue_->deleted()) {
    queue_->discard_deleted(message);
    return;
  }
  if (o.max_attempts != 0 && message->failed_attempts >= o.max_attempts) {
    queue_->dead_letter(message, "max_attempts", {});
    return;
  }
  if (delay_ms < 0) {
    // retry_delay_ms * retry_backoff^(n-1), capped; computed in double, clamped before converting.
    const double exponent = static_cast<double>(message->failed_attempts - 1);
    const double raw = static_cast<double>(o.retry_delay_ms) * std::pow(o.retry_backoff, exponent);
    delay_ms = raw >= static_cast<double>(o.retry_delay_max_ms) ? o.retry_delay_max_ms
                                                                : static_cast<std::int64_t>(raw);
  }
  // Logged before it is back in the queue (its next settlement must follow this record).
  if (Journal *journal = queue_->journal(); journal != nullptr) {
    journal->log_retry(queue_->qid(), *message, delay_ms == 0 ? 0 : now_ms + delay_ms);
  }
  if (delay_ms == 0) {
    queue_->push_returned(message);
  } else {
    queue_->push_delayed(message, now_ms + delay_ms);
  }
}

int Consumer::nack(std::uint64_t tag, std::int64_t delay_ms) {
  if (delay_ms < -1 || delay_ms > delay_ms_max) {
    return capi::fail(CORQ_EINVAL, "nack: delay_ms must be -1 (backoff) or in [0, 2^32-1], got " +
                                       std::to_string(delay_ms));
  }
  return settle_and_move(tag, "nack", [&](Message *m) {
    bump(nacked_);
    fail_attempt(m, delay_ms, engine_.now_ms());
  });
}

int Consumer::release(std::uint64_t tag) {
  return settle_and_move(tag, "release", [&](Message *m) {
    bump(released_);
    if (queue_->deleted()) {
      queue_->discard_deleted(m);
    } else {
      queue_->push_returned(m);  // not a failed attempt: nothing to log (the count was logged)
    }
  });
}

int Consumer::reject(std::uint64_t tag, const char *reason) {
  const std::size_t reason_len = reason == nullptr ? 0 : strnlen(reason, 1025);
  if (reason_len > 1024) return capi::fail(CORQ_EINVAL, "reject: reason is longer than 1024 bytes");
  return settle_and_move(tag, "reject", [&](Message *m) {
    if (queue_->deleted()) {
      queue_->discard_deleted(m);
    } else {
      queue_->dead_letter(m, "rejected",
                          std::string_view(reason == nullptr ? "" : reason, reason_len));
    }
  });
}

int Consumer::extend(std::uint64_t tag, std::int64_t lease_ms) {
  if (lease_ms <= 0 || lease_ms > delay_ms_max) {
    return capi::fail(CORQ_EINVAL,
                      "extend: lease_ms must be in [1, 2^32-1], got " + std::to_string(lease_ms));
  }
  const std::uint64_t slot_number = tag & slot_mask_;
  if (tag == 0 || slot_number >= prefetch_ || slots_[slot_number].tag != tag ||
      (slots_[slot_number].state.load(std::memory_order_acquire) & state_mask) != slot_in_flight) {
    return capi::fail(CORQ_ESTATE, "extend: tag " + std::to_string(tag) +
                                       " is not an unsettled delivery with a live lease");
  }
  const std::int64_t deadline_ms = engine_.now_ms() + lease_ms;
  slots_[slot_number].lease_deadline_ms.store(deadline_ms, std::memory_order_relaxed);
  engine_.scheduler().poke_if_before(deadline_ms);  // shorter than the lease it was given
  return CORQ_OK;
}

// ---- lease expiry and shutdown
// -------------------------------------------------------------------

std::int64_t Consumer::expire_leases(std::int64_t now_ms) {
  std::int64_t earliest = INT64_MAX;
  if (outstanding_.load(std::memory_order_relaxed) == 0) return earliest;
  for (std::uint32_t i = 0; i < prefetch_; ++i) {
    Slot &slot = slots_[i];
    std::uint64_t state = slot.state.load(std::memory_order_acquire);
    if ((state & state_mask) != slot_in_flight) continue;
    const std::int64_t deadline = slot.lease_deadline_ms.load(std::memory_order_relaxed);
    if (deadline > now_ms) {
      earliest = std::min(earliest, deadline);
      continue;
    }
    const std::uint64_t tag_bits = state & ~state_mask;
    if (!slot.state.compare_exchange_strong(state, tag_bits | slot_expiring,
                                            std::memory_order_acq_rel)) {
      continue;  // settled meanwhile: the consumer won
    }
    // We own the outcome; the consumer may still read the original, so requeue a copy. Until the
    // slot says expired, the consumer leaves the original alone. Stats: bracketed from before it
    // stops counting in flight (expired_pending_) until the copy is in its next state.
    const StateMoveScope bracket(queue_->moves_from_in_flight(), 1);
    Message *copy = copy_message(*slot.message);
    expired_pending_.fetch_add(1, std::memory_order_release);
    slot.state.store(tag_bits | slot_expired, std::memory_order_release);
    queue_->lease_expired.fetch_add(1, std::memory_order_relaxed);
    if (copy == nullptr) {
      if (Journal *journal = queue_->journal(); journal != nullptr)
        journal->log_remove(queue_->qid(), &slot.message, 1);
      engine_.log(CORQ_LOG_ERROR,
                  "queue '" + queue_->name() +
                      "': out of memory requeueing an expired lease; message dropped");
      queue_->dropped.fetch_add(1, std::memory_order_release);
      continue;
    }
    fail_attempt(copy, -1, now_ms);
  }
  return earliest;
}

void Consumer::reclaim_expired() {
  for (std::uint32_t i = 0; i < prefetch_; ++i) {
    Slot &slot = slots_[i];
    const std::uint64_t state = slot.state.load(std::memory_order_acquire);
    if ((state & state_mask) != slot_expired) continue;
    free_message(slot.message);
    slot.state.store(state & ~state_mask, std::memory_order_relaxed);  // free
    // Stats read outstanding_ then expired_pending_: lower the subtrahend first, so in_flight()
    // never dips below its value while the pair changes.
    expired_pending_.fetch_sub(1, std::memory_order_acq_rel);
    free_slot(i);
  }
}

void Consumer::wakeup() noexcept {
  woken_.store(true, std::memory_order_release);
  queue_->not_empty().notify_all();
}

void Consumer::interrupt() noexcept {
  interrupted_.store(true, std::memory_order_release);
  queue_->not_empty().notify_all();
}

void Consumer::begin_close() noexcept {
  // Under the engine's consumer lock: neither the scheduler nor a stats read is looking at us.
  closing_in_flight_ = in_flight();
  queue_->moves_from_in_flight().begin(closing_in_flight_);
  const Counters c = counters();
  queue_->closed_delivered.fetch_add(c.delivered, std::memory_order_release);
  queue_->closed_acked.fetch_add(c.acked, std::memory_order_release);
  queue_->closed_nacked.fetch_add(c.nacked, std::memory_order_release);
  queue_->closed_released.fetch_add(c.released, std::memory_order_release);
  queue_->closed_redelivered.fetch_add(c.redelivered, std::memory_order_release);
}

void Consumer::close() {
  // The engine has detached this consumer, so the scheduler no longer looks at its slots.
  std::uint64_t released = 0;
  for (std::uint32_t i = 0; i < prefetch_; ++i) {
    Slot &slot = slots_[i];
    const std::uint64_t state = slot.state.load(std::memory_order_acquire);
    if ((state & state_mask) == slot_free) continue;
    Message *m = slot.message;
    slot.state.store(state & ~state_mask, std::memory_order_relaxed);
    if ((state & state_mask) == slot_in_flight && !queue_->deleted() && !engine_.closed()) {
      ++released;
      queue_->push_returned(m);
    } else if ((state & state_mask) == slot_in_flight && queue_->deleted()) {
      queue_->discard_deleted(m);
    } else {
      free_message(m);  // an expired original (its copy is live), or the engine closed: the log
                        // keeps the message for the next open
    }
    slot.message = nullptr;
    slot.tag = 0;
  }
  outstanding_.store(0, std::memory_order_relaxed);
  expired_pending_.store(0, std::memory_order_relaxed);
  queue_->closed_released.fetch_add(released, std::memory_order_release);
  queue_->moves_from_in_flight().end(closing_in_flight_);
}

std::uint64_t Consumer::in_flight() const noexcept {
  // In the order messages pass through: arriving, then a slot, then (lease expiry) expired.
  const std::uint64_t arriving = arriving_.load(std::memory_order_acquire);
  const std::uint64_t outstanding = outstanding_.load(std::memory_order_acquire);
  const std::uint64_t expired = expired_pending_.load(std::memory_order_acquire);
  return arriving + (outstanding > expired ? outstanding - expired : 0);
}

Consumer::Counters Consumer::counters() const noexcept {
  return {delivered_.load(std::memory_order_acquire), acked_.load(std::memory_order_acquire),
          nacked_.load(std::memory_order_acquire), released_.load(std::memory_order_acquire),
          redelivered_.load(std::memory_order_acquire)};
}

}  // namespace corq::core
