// engine/producer/publish.cpp — see publish.hpp.
#include "producer/publish.hpp"

#include "capi/error.hpp"
#include "durability/journal.hpp"

#include <cstddef>
#include <vector>

namespace corq::core {

/// The first version of corq_publish_options ends after ttl_ms; later versions only append.
constexpr std::size_t publish_options_v1_bytes =
    offsetof(corq_publish_options, ttl_ms) + sizeof(std::int64_t);
/// The version with exchanges added `priority`.
constexpr std::size_t publish_options_v2_bytes =
    offsetof(corq_publish_options, priority) + sizeof(std::int32_t);

int read_publish_options(const corq_publish_options &options_in, PublishSettings &out) {
  const corq_publish_options *options = &options_in;
  // A size the struct had in some version (it grows at its end), or larger than today's: never a
  // size that cuts a field in two.
  if (options->struct_size != publish_options_v1_bytes &&
      options->struct_size < sizeof(corq_publish_options)) {
    return capi::fail(CORQ_EINVAL,
                      "corq_publish_options.struct_size must be sizeof(corq_publish_options) (" +
                          std::to_string(sizeof(corq_publish_options)) + "), got " +
                          std::to_string(options->struct_size));
  }
  if ((options->flags & ~(CORQ_PUBLISH_NOWAIT | CORQ_PUBLISH_MANDATORY)) != 0) {
    return capi::fail(CORQ_EINVAL, "corq_publish_options.flags has unknown bits");
  }
  if (options->timeout_ms < -1)
    return capi::fail(CORQ_EINVAL, "timeout_ms must be -1 (no limit) or >= 0");
  if (options->delay_ms < 0 || options->delay_ms > delay_ms_max) {
    return capi::fail(CORQ_EINVAL,
                      "delay_ms must be in [0, 2^32-1], got " + std::to_string(options->delay_ms));
  }
  if (options->ttl_ms < 0 || options->ttl_ms > delay_ms_max) {
    return capi::fail(CORQ_EINVAL,
                      "ttl_ms must be in [0, 2^32-1], got " + std::to_string(options->ttl_ms));
  }
  // A caller built against the first version never wrote `priority`: it reads as 0.
  const std::int32_t priority =
      options->struct_size >= publish_options_v2_bytes ? options->priority : 0;
  if (priority < 0)
    return capi::fail(CORQ_EINVAL, "priority must be >= 0, got " + std::to_string(priority));
  out = {options->flags, options->timeout_ms, options->delay_ms, options->ttl_ms, priority};
  return CORQ_OK;
}

namespace {

/// Batches up to this size keep their message pointers on the stack; larger ones take one vector.
constexpr std::size_t stack_batch_max = 64;

void free_batch(Message *const *batch, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) free_message(batch[i]);
}

/// A batch admission refused: forgets its dedup ids, frees it, and reports why. Touches nothing of
/// the engine: a publish blocked on a full queue may have outlived corq_close.
int refuse_batch(Queue &queue, Message *const *batch, std::size_t accepted,
                 const corq_message *messages, std::uint64_t first, Admission admission) {
  for (std::size_t i = 0; i < accepted; ++i) {
    if (messages[batch[i]->id - first].dedup_id != nullptr && queue.dedup() != nullptr) {
      queue.dedup()->forget(messages[batch[i]->id - first].dedup_id, batch[i]->id);
    }
  }
  free_batch(batch, accepted);
  if (admission == Admission::closed) {
    return capi::fail(queue.deleted() ? CORQ_ENOENT : CORQ_ECLOSED,
                      queue.deleted() ? "queue was deleted" : "the engine is closed");
  }
  return capi::fail(CORQ_EFULL, "queue '" + queue.name() + "' is full (max_length " +
                                    std::to_string(queue.options().max_length) + ", max_bytes " +
                                    std::to_string(queue.options().max_bytes) + ")");
}

/// Logs a built batch on a durable queue. On failure, undoes the dedup records and frees the batch.
int log_batch(Queue &queue, Message *const *batch, std::size_t accepted,
              const corq_message *messages, std::uint64_t first, std::int64_t due_ms,
              wal::Lsn &lsn) {
  std::string error;
  const int rc = queue.journal()->log_publish(queue.qid(), batch, accepted, messages, first, due_ms,
                                              lsn, error);
  if (rc == CORQ_OK) return rc;
  for (std::size_t i = 0; i < accepted; ++i) {
    queue.journal()->unpin(batch[i]);
    if (messages[batch[i]->id - first].dedup_id != nullptr && queue.dedup() != nullptr) {
      queue.dedup()->forget(messages[batch[i]->id - first].dedup_id, batch[i]->id);
    }
  }
  free_batch(batch, accepted);
  return capi::fail(rc, "queue '" + queue.name() + "': " + error);
}

}  // namespace

int publish_batch(Engine &engine, Queue &queue, const corq_message *messages, std::size_t count,
                  const corq_publish_options *options, std::size_t shard_hint,
                  std::uint64_t *first_id, std::uint64_t *logged_lsn, std::size_t *accepted_out,
                  const RoutingStamp *stamp) {
  PublishSettings settings;  // NULL options (the common case) keep the defaults without a call
  if (options != nullptr) {
    if (const int rc = read_publish_options(*options, settings); rc != CORQ_OK) return rc;
  }
  if (engine.closed()) [[unlikely]]
    return capi::fail(CORQ_ECLOSED, "the engine is closed");
  if (queue.deleted()) [[unlikely]]
    return capi::fail(CORQ_ENOENT, "queue '" + queue.name() + "' was deleted");
  if (count > queue.options().max_length) [[unlikely]] {
    return capi::fail(CORQ_EINVAL, "a batch of " + std::to_string(count) +
                                       " messages can never fit max_length " +
                                       std::to_string(queue.options().max_length));
  }
  const std::uint64_t max_message_bytes = engine.options().max_message_bytes;
  for (std::size_t i = 0; i < count; ++i) {
    if (is_plain_message(messages[i], max_message_bytes)) [[likely]]
      continue;  // nothing more to check: no headers, no dedup id, data and size fine
    const char *error = nullptr;
    const int rc = validate_message(messages[i], max_message_bytes, error);
    if (rc != CORQ_OK)
      return capi::fail(rc, "message " + std::to_string(i) + " of the batch: " + error);
  }
  if (count == 0) return CORQ_OK;

  const std::uint64_t first = engine.take_ids(count);
  const std::int64_t now_ms = engine.now_ms();
  const std::int64_t ttl_ms =
      settings.ttl_ms > 0 ? settings.ttl_ms : queue.options().message_ttl_ms;
  const std::int64_t expires_at_ms = ttl_ms > 0 ? now_ms + ttl_ms : 0;
  Message *stack_batch[stack_batch_max];
  std::vector<Message *> heap_batch;
  if (count > stack_batch_max) heap_batch.resize(count);
  Message **batch = count > stack_batch_max ? heap_batch.data() : stack_batch;

  std::size_t accepted = 0;
  std::uint64_t bytes = 0;
  std::uint64_t reported_id = first;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t id = first + i;
    if (messages[i].dedup_id != nullptr && queue.dedup() != nullptr) {
      std::uint64_t original = 0;
      if (queue.dedup()->seen_or_record(messages[i].dedup_id, id, now_ms, original)) {
        queue.deduplicated.fetch_add(1, std::memory_order_relaxed);
        if (count == 1) reported_id = original;
        continue;
      }
    }
    Message *m = stamp == nullptr
                     ? make_message(messages[i], id, now_ms, expires_at_ms)
                     : make_routed_message(messages[i], *stamp, id, now_ms, expires_at_ms);
    if (m == nullptr) {
      free_batch(batch, accepted);
      return capi::fail(CORQ_ENOMEM, "out of memory building message " + std::to_string(i));
    }
    if (settings.priority != 0) [[unlikely]]
      m->set_priority(std::min<std::uint32_t>(static_cast<std::uint32_t>(settings.priority),
                                              max_priority_limit));
    batch[accepted++] = m;
    bytes += m->payload_len;
  }
  if (first_id != nullptr) *first_id = reported_id;
  if (accepted_out != nullptr) *accepted_out = accepted;
  if (accepted == 0) return CORQ_OK;
  Journal *const journal = queue.journal();
  if (journal == nullptr && settings.delay_ms == 0) [[likely]] {
    // A transient queue's plain publish: admission, the ring, done (nothing to log or wait for).
    const Admission admission =
        queue.admit(accepted, bytes, settings.timeout_ms, engine.closed_flag());
    if (admission != Admission::admitted) [[unlikely]]
      return refuse_batch(queue, batch, accepted, messages, first, admission);
    queue.push_admitted(batch, accepted, shard_hint);
    queue.published.fetch_add(accepted, std::memory_order_relaxed);
    if (logged_lsn != nullptr) *logged_lsn = 0;
    return CORQ_OK;
  }
  wal::Lsn lsn = 0;
  // Durable: wait for the group commit holding the batch, unless told not to. sync=none waits
  // only for the write (the page cache): a process crash then loses nothing confirmed.
  auto confirm = [&]() -> int {
    if (logged_lsn != nullptr) *logged_lsn = lsn;
    if (journal == nullptr || (settings.flags & CORQ_PUBLISH_NOWAIT) != 0) return CORQ_OK;
    std::string error;
    const int rc = journal->wait(lsn, -1, error);
    return rc == CORQ_OK ? rc : capi::fail(rc, "queue '" + queue.name() + "': " + error);
  };

  if (settings.delay_ms > 0) {
    if (journal != nullptr) {
      const int rc =
          log_batch(queue, batch, accepted, messages, first, now_ms + settings.delay_ms, lsn);
      if (rc != CORQ_OK) return rc;
    }
    for (std::size_t i = 0; i < accepted; ++i)
      queue.push_delayed(batch[i], now_ms + settings.delay_ms);
    queue.published.fetch_add(accepted, std::memory_order_relaxed);
    return confirm();
  }

  const Admission admission =
      queue.admit(accepted, bytes, settings.timeout_ms, engine.closed_flag());
  if (admission != Admission::admitted)
    return refuse_batch(queue, batch, accepted, messages, first, admission);
  if (journal != nullptr) {
    // Logged after admission (a publish refused for room is never in the log) and before the
    // push (no consumer can settle a message whose publish record is not yet in the log order).
    const int rc = log_batch(queue, batch, accepted, messages, first, 0, lsn);
    if (rc != CORQ_OK) {
      queue.cancel_admission(accepted, bytes);
      return rc;
    }
  }
  queue.push_admitted(batch, accepted, shard_hint);
  queue.published.fetch_add(accepted, std::memory_order_relaxed);
  return confirm();
}

}  // namespace corq::core
