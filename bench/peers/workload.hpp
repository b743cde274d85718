// bench/peers/workload.hpp — the durable work-queue scenario over any PeerSystem, and its result.
#ifndef CORQ_BENCH_PEERS_WORKLOAD_HPP
#define CORQ_BENCH_PEERS_WORKLOAD_HPP

#include <cstdint>
#include <string>

#include "peer.hpp"

namespace corq::peers {

struct ScenarioResult {
  double elapsed_s = 0;           // first publish to last ack
  double msgs_per_s = 0;          // distinct messages acked / elapsed_s (redeliveries not counted)
  std::uint64_t consumed = 0;     // deliveries acked (duplicates included)
  std::uint64_t missing = 0;      // ids never delivered
  std::uint64_t duplicates = 0;   // deliveries of an id already delivered
  std::uint64_t redelivered = 0;  // deliveries the system itself flagged as redeliveries
  std::uint64_t corrupt = 0;      // deliveries whose payload was not what was published
  bool id_sum_ok = false;         // sum of the distinct delivered ids == 0 + 1 + ... + (N-1)
  std::uint64_t latency_p50_us = 0, latency_p99_us = 0, latency_p999_us = 0, latency_max_us = 0;
  std::string error;  // the first failure of a producer or consumer ("" if none)

  bool exactly_once() const {
    return error.empty() && missing == 0 && duplicates == 0 && corrupt == 0 && id_sum_ok;
  }
  /// Every message arrived intact, and every second delivery of an id was one the system itself
  /// flagged as a redelivery (at-least-once delivery, as AMQP allows): nothing lost, nothing
  /// silently duplicated.
  bool at_least_once() const {
    return error.empty() && missing == 0 && corrupt == 0 && id_sum_ok && duplicates <= redelivered;
  }
  /// "exactly once", "at least once" (flagged redeliveries) or "failed".
  const char *delivery() const {
    return exactly_once() ? "exactly once" : at_least_once() ? "at least once" : "failed";
  }
};

/// Runs the scenario: options.producers threads publish options.messages in confirmed batches,
/// options.consumers threads consume and ack them all, then every id is checked to have been
/// delivered exactly once with its payload intact. Calls system.setup() first and
/// system.teardown() last. Never throws for a system's failure: it is in result.error.
ScenarioResult run_scenario(const PeerOptions &options, PeerSystem &system);

}  // namespace corq::peers

#endif  // CORQ_BENCH_PEERS_WORKLOAD_HPP
