// engine/queue/ready_gauge.hpp — how many messages (and payload bytes) a queue holds ready, kept
// as two totals that producers and consumers each write on their own cache line.
//
// Why: a single ready counter is written by every publish (admission) and every pop (removal), so
// its cache line changed cores twice per message between a publisher and a consumer on another
// core — on this 2-core VM about a third of a drained single-message publish (issue #15). Here:
//
//   in   (producers' line): messages admitted, plus messages put back (nack, release, returned),
//        minus reservations given back (admission refused later, a failed publish);
//   out  (consumers' line): messages popped. It only grows.
//   ready = in - out.
//
// Producers check admission against `seen_out`, a copy of `out` kept on their own line: a stale
// copy is smaller than `out`, so the estimate in + count - seen_out is never below the truth, and
// admission can only be refused too early, never granted wrongly. Only an estimate over the limit
// reads the consumers' line, and then refreshes the copy. So a queue far from its limits costs its
// producers no read of the consumers' line and its consumers no read of the producers' (a
// consumer's pop takes from the ring, whose cells say whether it is empty; it reads this gauge only
// when it is about to wait).
//
// Invariants: out <= in at every instant (only admitted, not given back, messages are popped), and
// readers load out before in, so in - out read that way is never below the ready count at the
// first load (it may be above it: a read is an upper bound while messages move, and never
// negative — a give-back between the loads is clamped). Estimates use signed arithmetic: a copy of
// `out` newer than the producer's `in` (other producers admitted, consumers popped in between)
// makes the estimate small, never wrong — the CAS on `in` then fails and re-reads it, or succeeds
// with a value that bounds the truth from above as before.
//
// Memory order: every read-modify-write is seq_cst, as the single counter's were: the totals are
// the conditions of the queue's not_full/not_empty waits (sync/event_count.hpp's protocol needs the
// condition's store and the waiter check totally ordered). A removal's RMW also releases what the
// consumer did before it (arriving counts, for stats: state_moves.hpp).
#pragma once

#include <corq/platform.hpp>

#include <atomic>
#include <cstdint>

namespace corq::core {

class ReadyGauge {
 public:
  /// Producers: reserves room for `count` messages of `bytes` payload bytes if the queue stays
  /// within `max_length` messages and `max_bytes` bytes. False (nothing reserved) otherwise;
  /// `gave_back` then says whether room was taken for a moment and given back (the bytes did not
  /// fit), which a waiter for room may have seen as taken.
  bool try_reserve(std::uint64_t count, std::uint64_t bytes, std::uint64_t max_length,
                   std::uint64_t max_bytes, bool &gave_back) noexcept {
    gave_back = false;
    std::uint64_t in = in_count_.load(std::memory_order_seq_cst);
    std::uint64_t seen = seen_out_count_.load(std::memory_order_relaxed);
    for (;;) {
      if (over(in + count, seen, max_length)) {
        const std::uint64_t fresh = out_count_.load(std::memory_order_seq_cst);
        if (fresh != seen) {
          seen = fresh;
          seen_out_count_.store(fresh, std::memory_order_relaxed);
          in = in_count_.load(std::memory_order_seq_cst);
          continue;
        }
        return false;
      }
      if (in_count_.compare_exchange_weak(in, in + count, std::memory_order_seq_cst,
                                          std::memory_order_seq_cst))
        break;
    }
    const std::uint64_t total = in_bytes_.fetch_add(bytes, std::memory_order_seq_cst) + bytes;
    std::uint64_t seen_bytes = seen_out_bytes_.load(std::memory_order_relaxed);
    if (over(total, seen_bytes, max_bytes)) {
      seen_bytes = out_bytes_.load(std::memory_order_seq_cst);
      seen_out_bytes_.store(seen_bytes, std::memory_order_relaxed);
      // `total` may be stale by now (others reserved after us): still an upper bound of ours.
      if (over(in_bytes_.load(std::memory_order_seq_cst), seen_bytes, max_bytes)) {
        give_back(count, bytes);
        gave_back = true;
        return false;
      }
    }
    return true;
  }

  /// Producers (or anyone undoing an admission): gives back a reservation that never became ready.
  void give_back(std::uint64_t count, std::uint64_t bytes) noexcept {
    in_count_.fetch_sub(count, std::memory_order_seq_cst);
    in_bytes_.fetch_sub(bytes, std::memory_order_seq_cst);
  }
  /// Messages made ready without admission (put back after delivery, recovered).
  void add(std::uint64_t count, std::uint64_t bytes) noexcept {
    in_count_.fetch_add(count, std::memory_order_seq_cst);
    in_bytes_.fetch_add(bytes, std::memory_order_seq_cst);
  }
  /// Consumers: messages taken out of the ready state.
  void remove(std::uint64_t count, std::uint64_t bytes) noexcept {
    out_count_.fetch_add(count, std::memory_order_seq_cst);
    out_bytes_.fetch_add(bytes, std::memory_order_seq_cst);
  }

  /// Ready messages (an upper bound while messages move; see the invariants above).
  std::uint64_t count(std::memory_order order = std::memory_order_seq_cst) const noexcept {
    const std::uint64_t out = out_count_.load(load_order(order));
    const std::uint64_t in = in_count_.load(load_order(order));
    return in > out ? in - out : 0;
  }
  /// Ready payload bytes (the same way).
  std::uint64_t bytes(std::memory_order order = std::memory_order_seq_cst) const noexcept {
    const std::uint64_t out = out_bytes_.load(load_order(order));
    const std::uint64_t in = in_bytes_.load(load_order(order));
    return in > out ? in - out : 0;
  }

 private:
  /// `in - out > limit`, in signed arithmetic (out may be newer than in: see above).
  static bool over(std::uint64_t in, std::uint64_t out, std::uint64_t limit) noexcept {
    const auto estimate = static_cast<std::int64_t>(in - out);
    return estimate > 0 && static_cast<std::uint64_t>(estimate) > limit;
  }
  static constexpr std::memory_order load_order(std::memory_order order) noexcept {
    return order == std::memory_order_relaxed   ? std::memory_order_relaxed
           : order == std::memory_order_seq_cst ? std::memory_order_seq_cst
                                                : std::memory_order_acquire;
  }

  // Producers' line: written by every admission, read by consumers only when they are about to
  // wait (and by stats).
  alignas(cache_line_bytes) std::atomic<std::uint64_t> in_count_{0};
  std::atomic<std::uint64_t> in_bytes_{0};
  std::atomic<std::uint64_t> seen_out_count_{0};  // copies of out_*, refreshed near the limits
  std::atomic<std::uint64_t> seen_out_bytes_{0};
  // Consumers' line: written by every pop, read by producers only near the limits.
  alignas(cache_line_bytes) std::atomic<std::uint64_t> out_count_{0};
  std::atomic<std::uint64_t> out_bytes_{0};
};

}  // namespace corq::core
