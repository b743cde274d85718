// engine/routing/exchange_publish.hpp — corq_exchange_publish: route, admit everywhere or nowhere,
// store the body once.
//
// Per publish (data plane, no lock while the topology is unchanged):
//   1. the thread's Topology snapshot (one acquire load); the thread's route cache
//      (routing/route_cache.hpp) by (exchange, key): a hit gives step 2's result without the walk
//      (one hash, two byte compares); a miss finds the exchange by name and walks;
//   2. routing: a worklist over the exchange and the exchanges its bindings lead to (each visited
//      once: cycles are safe), collecting distinct queues; an exchange whose bindings matched
//      nothing hands the message to its alternate exchange;
//   3. one target: the plain publish path (publish_batch), with x-exchange and x-routing-key added;
//   4. several: per-target dedup, then admission in every target — all or none: a refusal gives
//      back the room taken elsewhere; drop_head targets drop only once every other target has
//      room —, one body shared by one 72-byte Message per target, one log record for the durable
//      targets, then one push per target.
#pragma once

#include "engine/engine.hpp"
#include "routing/route_cache.hpp"

#include <corq/corq.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace corq::core::routing {

/// Publishes `message` through `exchange` ("" = the default exchange: the queue named
/// `routing_key`). Returns CORQ_OK or a CORQ_* code with the thread's detail message set.
/// `message_id` and `routed` may be NULL.
int exchange_publish(Engine &engine, const char *exchange, const char *routing_key,
                     const corq_message &message, const corq_publish_options *options,
                     std::uint64_t *message_id, std::uint32_t *routed);

/// The routes of declared exchange `exchange` in `topology`, for a publish: CORQ_OK, or
/// CORQ_ENOENT (none), CORQ_EINVAL (a bad name, or an internal exchange) with the detail set.
int find_publishable(const Topology &topology, const char *exchange, const Routes *&entry);

/// A transaction's routing at commit (engine/txn/): the queues `message` published to the
/// declared exchange `exchange` with `key` reaches in `topology` (each once; valid while the
/// caller holds `topology`), as corq_exchange_publish routes, counting `published` and
/// `alternated` on the exchanges it enters and `unroutable` when it reaches none. CORQ_OK
/// (`out` may be empty), or CORQ_ENOENT / CORQ_EINVAL (internal) with the detail set.
int route_in(const Topology &topology, const char *exchange, std::string_view key,
             const corq_message &message, std::vector<RoutedTarget> &out);
/// Adds to each exchange's `routed` the targets that took a message (after a commit).
void count_routed_targets(const RoutedTarget *targets, std::size_t count);

/// Dead-lettering through a queue's dead_letter_exchange (called by Queue::dead_letter): routes
/// `dead` (made by make_dead_letter, owned by the caller until this returns) by its
/// dead_letter_routing_key, or its own x-routing-key, or the origin queue's name. Each target that
/// has room now takes a copy (no blocking, no dropping: a full target is skipped); durable targets
/// get it logged first. Returns how many queues took it; `dead` is consumed either way.
std::size_t route_dead_letter(Engine &engine, const Queue &origin, Message *dead) noexcept;

}  // namespace corq::core::routing
