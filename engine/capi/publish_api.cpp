// engine/capi/publish_api.cpp — the C API of publishing: corq_publish, producers, durability waits.
#include "capi/handles.hpp"

using namespace corq::core;
using namespace corq::capi;

namespace {

/// Each producer (like each corq_publish thread, see Engine::lookup_for_publish) sticks to one
/// shard, so its messages keep their order; different producers spread over the shards.
std::atomic<std::size_t> producers_seen{0};

}  // namespace

extern "C" {

int corq_publish(corq_engine *engine, const char *queue, const corq_message *message,
                 const corq_publish_options *options, uint64_t *message_id) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_publish: engine is NULL");
  if (message == nullptr) return fail(CORQ_EINVAL, "corq_publish: message is NULL");
  if (queue == nullptr) return fail(CORQ_EINVAL, "corq_publish: queue name is NULL");
  return guarded("corq_publish", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_publish: the engine is closed");
    std::size_t shard = 0;
    Queue *q = e.lookup_for_publish(queue, shard);
    if (q == nullptr) {
      if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
      return fail(CORQ_ENOENT, std::string("corq_publish: no queue named '") + queue + "'");
    }
    return publish_batch(e, *q, message, 1, options, shard, message_id);
  });
}

int corq_wait_durable(corq_engine *engine, uint64_t message_id, int32_t timeout_ms) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_wait_durable: engine is NULL");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_wait_durable: timeout_ms must be -1 or >= 0");
  Engine &e = *engine_of(engine);
  if (e.closed()) return fail(CORQ_ECLOSED, "corq_wait_durable: the engine is closed");
  if (!e.id_assigned(message_id)) {
    return fail(CORQ_EINVAL, "corq_wait_durable: message id " + std::to_string(message_id) +
                                 " was never assigned");
  }
  Journal *journal = e.journal();
  if (journal == nullptr) return CORQ_OK;  // in-memory: as durable as it will ever be
  // The message's publish record was appended before its publish returned its id, so it is
  // covered by everything appended so far.
  std::string error;
  const int rc = journal->sync(timeout_ms, error);
  return rc == CORQ_OK ? rc : fail(rc, "corq_wait_durable: " + error);
}

int corq_producer_open(corq_engine *engine, const char *queue, corq_producer **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_producer_open: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_producer_open: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  return guarded("corq_producer_open", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_producer_open: the engine is closed");
    std::shared_ptr<Queue> q = e.find(queue);
    if (q == nullptr)
      return fail(CORQ_ENOENT, std::string("corq_producer_open: no queue named '") + queue + "'");
    auto *producer =
        new Producer{&e, std::move(q), producers_seen.fetch_add(1, std::memory_order_relaxed)};
    e.retain_handle();
    *out = reinterpret_cast<corq_producer *>(producer);
    return CORQ_OK;
  });
}

int corq_producer_send(corq_producer *producer, const corq_message *msgs, size_t count,
                       const corq_publish_options *options, uint64_t *first_message_id) {
  if (producer == nullptr) return fail(CORQ_EINVAL, "corq_producer_send: producer is NULL");
  if (msgs == nullptr && count != 0) return fail(CORQ_EINVAL, "corq_producer_send: msgs is NULL");
  Producer &p = *producer_of(producer);
  return guarded("corq_producer_send", [&] {
    std::uint64_t lsn = 0;
    const int rc =
        publish_batch(*p.engine, *p.queue, msgs, count, options, p.shard, first_message_id, &lsn);
    if (lsn != 0) p.last_lsn = lsn;
    return rc;
  });
}

int corq_producer_flush(corq_producer *producer, int32_t timeout_ms) {
  if (producer == nullptr) return fail(CORQ_EINVAL, "corq_producer_flush: producer is NULL");
  if (timeout_ms < -1)
    return fail(CORQ_EINVAL, "corq_producer_flush: timeout_ms must be -1 or >= 0");
  Producer &p = *producer_of(producer);
  if (p.engine->closed()) return fail(CORQ_ECLOSED, "corq_producer_flush: the engine is closed");
  if (p.queue->deleted()) return fail(CORQ_ENOENT, "corq_producer_flush: the queue was deleted");
  Journal *journal = p.queue->journal();
  if (journal == nullptr) return CORQ_OK;  // transient: everything sent is as durable as it gets
  if (journal->failure_code() != CORQ_OK) {
    return fail(CORQ_EFAILED, "corq_producer_flush: " + journal->failure_text());
  }
  std::string error;
  const int rc = journal->wait(p.last_lsn, timeout_ms, error);
  return rc == CORQ_OK ? rc : fail(rc, "corq_producer_flush: " + error);
}

void corq_producer_close(corq_producer *producer) {
  if (producer == nullptr) return;
  Producer *p = producer_of(producer);
  Engine *engine = p->engine;
  delete p;
  Engine::release_handle(engine);
}

}  // extern "C"
