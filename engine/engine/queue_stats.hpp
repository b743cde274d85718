// engine/engine/queue_stats.hpp — one read of a queue's corq_queue_stats.
//
// The read never under-counts: ready + delayed + in_flight + acked + dead_lettered + dropped +
// purged + redriven >= published, equal when nothing moves. It reads the queue's counters in the
// order queue/state_moves.hpp prescribes; see there for why that is enough.
#pragma once

#include <corq/corq.h>

namespace corq::core {

class Engine;
class Queue;

/// Fills every field of the current corq_queue_stats (the C API copies the part the caller knows).
corq_queue_stats read_queue_stats(Engine &engine, Queue &queue);

}  // namespace corq::core
