// tests/sim/workload.hpp — one seed of corq-sim: a seeded workload on a durable engine over a
// simulated disk, crashed at random points and recovered, with every invariant checked after each
// recovery (model.hpp). Everything the workload decides comes from the seed; the engine's own
// threads (group commit, scheduler) may still batch differently from run to run.
#pragma once

#include <cstdint>
#include <string>

namespace corq::sim {

/// Which harsh behaviours a run may use (flags of corq-sim turn them off).
struct SimModes {
  bool reorder = true;    // crashes that keep an arbitrary subset of unflushed writes
  bool sync_none = true;  // some seeds run sync=none (nothing confirmed; recovery must still work)
  bool corrupt = true;    // some seeds flip a bit in a sealed segment and expect CORQ_ECORRUPT
  bool verbose = false;   // print every operation
};

/// Runs seed `seed` on durable queues and exchanges (workload.cpp). Returns "" when every
/// invariant held, else what broke (and where).
std::string run_seed(std::uint64_t seed, const SimModes &modes);
/// The same seed's streams part: a durable stream and its consumer group (stream_workload.cpp).
std::string run_stream_seed(std::uint64_t seed, const SimModes &modes);
/// The same seed's transactions part: consume-transform-produce over queues, an exchange, streams
/// and a consumer group, every transaction all or nothing after each crash (txn_workload.cpp).
std::string run_txn_seed(std::uint64_t seed, const SimModes &modes);

}  // namespace corq::sim
