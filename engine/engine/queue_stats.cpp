// engine/engine/queue_stats.cpp — see queue_stats.hpp.
#include "engine/queue_stats.hpp"

#include "consumer/consumer.hpp"
#include "engine/engine.hpp"
#include "queue/queue.hpp"

#include <algorithm>

namespace corq::core {
namespace {

/// The moves in progress of one source state, read in two halves around the rest of the read.
struct BracketRead {
  std::uint64_t finished = 0, started = 0;
  std::uint64_t in_progress() const noexcept { return started > finished ? started - finished : 0; }
};

}  // namespace

corq_queue_stats read_queue_stats(Engine &engine, Queue &q) {
  corq_queue_stats s{};
  s.struct_size = sizeof(corq_queue_stats);
  // 1. What the rest must add up to: read first, so everything counted was published before it.
  s.published = q.published.load(std::memory_order_acquire);
  // 2. The brackets' finished halves: a cold move that ends after this is in the bracket.
  BracketRead from_ready, from_delayed, from_in_flight;
  from_ready.finished = q.moves_from_ready().finished();
  from_delayed.finished = q.moves_from_delayed().finished();
  from_in_flight.finished = q.moves_from_in_flight().finished();
  // 3. The states in the order of the forward moves: delayed, ready, the consumers' windows, the
  //    consumers' acks; the closed consumers' totals under the same lock as the windows (a closing
  //    consumer hands its counters over under it).
  s.delayed = q.delayed_for_stats();
  s.ready = q.ready_for_stats();
  s.bytes_ready = q.ready_bytes();
  engine.for_each_consumer(
      [&](Consumer &c) {
        if (&c.queue() != &q) return;
        ++s.consumers;
        s.in_flight += c.in_flight();
        const Consumer::Counters counters = c.counters();
        s.delivered += counters.delivered;
        s.acked += counters.acked;
        s.nacked += counters.nacked;
        s.released += counters.released;
        s.redelivered += counters.redelivered;
      },
      [&] {
        s.delivered += q.closed_delivered.load(std::memory_order_acquire);
        s.acked += q.closed_acked.load(std::memory_order_acquire);
        s.nacked += q.closed_nacked.load(std::memory_order_acquire);
        s.released += q.closed_released.load(std::memory_order_acquire);
        s.redelivered += q.closed_redelivered.load(std::memory_order_acquire);
      });
  s.nacked += q.lease_expired.load(std::memory_order_acquire);
  // 4. Where messages leave for good.
  s.dead_lettered = q.dead_lettered.load(std::memory_order_acquire);
  s.dropped = q.dropped.load(std::memory_order_acquire);
  s.purged = q.purged.load(std::memory_order_acquire);
  s.redriven = q.redriven.load(std::memory_order_acquire);
  s.expired = q.expired.load(std::memory_order_acquire);
  s.deduplicated = q.deduplicated.load(std::memory_order_acquire);
  // 5. The brackets' started halves, last: a cold move that began before this is in the bracket,
  //    counted in the state it leaves.
  from_ready.started = q.moves_from_ready().started();
  from_delayed.started = q.moves_from_delayed().started();
  from_in_flight.started = q.moves_from_in_flight().started();
  s.ready += from_ready.in_progress();
  s.delayed += from_delayed.in_progress();
  s.in_flight += from_in_flight.in_progress();

  const std::int64_t oldest = q.oldest_ready_published_ms();
  s.oldest_ready_age_ms = oldest == 0 ? 0 : std::max<std::int64_t>(0, engine.now_ms() - oldest);
  return s;
}

}  // namespace corq::core
