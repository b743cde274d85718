// engine/producer/publish.hpp — the publish path shared by corq_publish and corq_producer_send.
//
// Per batch: validate options and messages, take ids (one atomic add), build the message blocks
// (one mimalloc allocation each), filter duplicates (only with a dedup window), then either hand
// the batch to the timer wheel (delay_ms > 0) or pass admission once for the whole batch and push
// it into one shard's ring with one claim. This is also the one place a durable queue will write
// its publish records to the log (the write-ahead log issue plugs in here).
#pragma once

#include "engine/engine.hpp"

#include <corq/corq.h>

namespace corq::core {

/// A producer handle: a queue, the shard its batches go to (always the same one, so its messages
/// keep their order on a sharded queue) and the engine reference that keeps the engine alive while
/// the handle is open.
struct Producer {
  Engine *engine;
  std::shared_ptr<Queue> queue;
  std::size_t shard;
  std::uint64_t last_lsn = 0;  // of its latest logged batch (corq_producer_flush waits for it)
};

/// The options of a publish after validation, with defaults filled in.
struct PublishSettings {
  std::uint32_t flags = 0;
  std::int32_t timeout_ms = 30'000;
  std::int64_t delay_ms = 0;
  std::int64_t ttl_ms = 0;
  std::int32_t priority = 0;
};

/// Validates corq_publish_options (any struct_size from the first version on). Returns CORQ_OK or
/// CORQ_EINVAL with the thread's detail message set.
int read_publish_options(const corq_publish_options &options, PublishSettings &out);

/// Publishes `count` messages to `queue`. Returns CORQ_OK or a CORQ_* error (with the thread's
/// detail message set). `first_id` gets the first id of the batch (for a single deduplicated
/// message: the original's id). On a durable queue the batch is logged first (one atomic log
/// batch) and, unless CORQ_PUBLISH_NOWAIT, the call waits until it is durable; `logged_lsn` (may be
/// NULL) gets the batch's last LSN; `accepted_out` (may be NULL) the number of messages taken
/// (the others were duplicates the dedup window swallowed); `stamp` (may be NULL): the messages
/// came through a declared exchange and get its headers (routing/exchange_publish.cpp).
int publish_batch(Engine &engine, Queue &queue, const corq_message *messages, std::size_t count,
                  const corq_publish_options *options, std::size_t shard_hint,
                  std::uint64_t *first_id, std::uint64_t *logged_lsn = nullptr,
                  std::size_t *accepted_out = nullptr, const RoutingStamp *stamp = nullptr);

}  // namespace corq::core
