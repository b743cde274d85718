// engine/queue/state_moves.hpp — counting messages while they move between a queue's states, so
// that corq_queue_stats never under-counts.
//
// A queue's messages are in one of three states, each a gauge: ready (Queue::ready_, a ReadyGauge),
// delayed (Queue::delayed_count_) and in flight (each consumer's window). They leave for good
// through terminal counters that only grow: acked (per consumer), dead_lettered, dropped, purged,
// redriven. A stats read cannot read all of these at one instant, so the way a move updates them
// and the order in which a read reads them must make every message show up at least once:
//
//   Forward moves (the hot path: publish -> ready -> a consumer's window -> acked; and
//   ready/in flight -> dead letter) increment the destination before they decrement the source,
//   with release stores, and a read reads the states in that order (delayed, ready, windows,
//   terminals) with acquire loads: a read that sees the source decremented also sees the
//   destination incremented.
//
//   Every other move goes against that order somewhere (in flight -> ready or delayed on nack,
//   release, lease expiry and consumer close; delayed -> ready when a timer fires) or takes a
//   message out of a state before its destination is known (purge, expiry at the head, drop_head,
//   redrive). These are the cold paths. Each is bracketed by one StateMoves of its source state:
//   begin(n) before the source is decremented, end(n) after the destination was incremented. A
//   read loads every `finished` first and every `started` last, so `started - finished` counts
//   every bracketed move that overlapped the read (an over-count only while moves happen), and is
//   added to the source state's gauge.
//
// A message whose moves during a read are all forward is found by the ordered read; one that made a
// bracketed move during the read is found by the bracket. So one read is a lower bound: ready +
// delayed + in_flight + acked + dead_lettered + dropped + purged + redriven >= published, with
// equality whenever nothing moves. The proof sketch is in engine/README.md ("Stats that never
// under-count"); tests/engine/stats_stress_test.cpp checks it under load.
//
// Cost: two atomic adds per cold move (or per batch of them); nothing on the hot path.
#pragma once

#include <atomic>
#include <cstdint>

namespace corq::core {

class StateMoves {
 public:
  /// Before the first message of the move leaves its source state.
  void begin(std::uint64_t n) noexcept { started_.fetch_add(n, std::memory_order_acq_rel); }
  /// After the last message of the move has reached its destination (or left for good).
  void end(std::uint64_t n) noexcept { finished_.fetch_add(n, std::memory_order_release); }

  /// Read these first...
  std::uint64_t finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  /// ...and these last: started - finished >= the moves in progress at any moment in between.
  std::uint64_t started() const noexcept { return started_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> finished_{0};
};

/// begin(n) now, end(n) when the scope ends: every return path of a cold move closes its bracket.
class StateMoveScope {
 public:
  StateMoveScope(StateMoves &moves, std::uint64_t n) noexcept : moves_(moves), n_(n) {
    moves_.begin(n_);
  }
  ~StateMoveScope() { moves_.end(n_); }
  StateMoveScope(const StateMoveScope &) = delete;
  StateMoveScope &operator=(const StateMoveScope &) = delete;

 private:
  StateMoves &moves_;
  const std::uint64_t n_;
};

}  // namespace corq::core
