// engine/capi/consume_api.cpp — the C API of consumers: open, consume, settle, wake up, close.
#include "capi/handles.hpp"

using namespace corq::core;
using namespace corq::capi;

namespace {

std::atomic<std::uint64_t> consumers_opened{0};

/// Common guard: a NULL consumer.
int check_consumer(corq_consumer *consumer, const char *function) {
  if (consumer == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": consumer is NULL");
  return CORQ_OK;
}

/// Guard of the settle functions: after corq_close a handle only accepts corq_consumer_close.
inline int check_settle(corq_consumer *consumer, const char *function) {
  if (consumer == nullptr) [[unlikely]]
    return check_consumer(consumer, function);
  Engine &engine = is_group_member(consumer) ? group_member_of(consumer)->engine()
                                             : consumer_of(consumer)->queue().engine();
  if (engine.closed()) [[unlikely]] {
    return fail(CORQ_ECLOSED, std::string(function) + ": the engine is closed");
  }
  return CORQ_OK;
}

/// Runs `queue_op` on a queue consumer or `group_op` on a group member (one predictable branch).
template <class QueueOp, class GroupOp>
inline int dispatch(corq_consumer *consumer, QueueOp &&queue_op, GroupOp &&group_op) {
  if (is_group_member(consumer)) [[unlikely]]
    return group_op(*group_member_of(consumer));
  return queue_op(*consumer_of(consumer));
}

}  // namespace

extern "C" {

int corq_consumer_open(corq_engine *engine, const char *queue, uint32_t prefetch,
                       corq_consumer **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_consumer_open: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_consumer_open: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  if (prefetch == 0 || prefetch > prefetch_max) {
    return fail(CORQ_EINVAL, "corq_consumer_open: prefetch must be in [1, 65536], got " +
                                 std::to_string(prefetch));
  }
  return guarded("corq_consumer_open", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_consumer_open: the engine is closed");
    std::shared_ptr<Queue> q = e.find(queue);
    if (q == nullptr)
      return fail(CORQ_ENOENT, std::string("corq_consumer_open: no queue named '") + queue + "'");
    auto *consumer = new Consumer(e, std::move(q), prefetch,
                                  consumers_opened.fetch_add(1, std::memory_order_relaxed));
    e.retain_handle();
    e.attach(consumer);
    e.register_consumer(consumer);
    *out = handle_of(consumer);
    return CORQ_OK;
  });
}

int corq_consume(corq_consumer *consumer, corq_delivery *out, size_t max, int32_t timeout_ms) {
  if (const int rc = check_consumer(consumer, "corq_consume"); rc != CORQ_OK) return rc;
  if (out == nullptr && max != 0) return fail(CORQ_EINVAL, "corq_consume: out is NULL");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_consume: timeout_ms must be -1 or >= 0");
  return guarded("corq_consume", [&] {
    return dispatch(
        consumer, [&](Consumer &c) { return c.consume(out, max, timeout_ms); },
        [&](stream::GroupMember &m) { return m.consume(out, max, timeout_ms); });
  });
}

int corq_ack(corq_consumer *consumer, uint64_t tag) {
  if (const int rc = check_settle(consumer, "corq_ack"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) [[unlikely]]
    return guarded("corq_ack", [&] { return group_member_of(consumer)->ack(tag); });
  return consumer_of(consumer)->ack(tag);
}

int corq_ack_upto(corq_consumer *consumer, uint64_t tag) {
  if (const int rc = check_settle(consumer, "corq_ack_upto"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) [[unlikely]]
    return guarded("corq_ack_upto", [&] { return group_member_of(consumer)->ack_upto(tag); });
  return consumer_of(consumer)->ack_upto(tag);
}

int corq_nack(corq_consumer *consumer, uint64_t tag, int64_t delay_ms) {
  if (const int rc = check_settle(consumer, "corq_nack"); rc != CORQ_OK) return rc;
  return guarded("corq_nack", [&] {
    return dispatch(
        consumer, [&](Consumer &c) { return c.nack(tag, delay_ms); },
        [&](stream::GroupMember &m) { return m.nack(tag, delay_ms); });
  });
}

int corq_release(corq_consumer *consumer, uint64_t tag) {
  if (const int rc = check_settle(consumer, "corq_release"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) [[unlikely]]
    return guarded("corq_release", [&] { return group_member_of(consumer)->release(tag); });
  return consumer_of(consumer)->release(tag);
}

int corq_reject(corq_consumer *consumer, uint64_t tag, const char *reason) {
  if (const int rc = check_settle(consumer, "corq_reject"); rc != CORQ_OK) return rc;
  return guarded("corq_reject", [&] {
    return dispatch(
        consumer, [&](Consumer &c) { return c.reject(tag, reason); },
        [&](stream::GroupMember &m) { return m.reject(tag, reason); });
  });
}

int corq_extend(corq_consumer *consumer, uint64_t tag, int64_t lease_ms) {
  if (const int rc = check_settle(consumer, "corq_extend"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) [[unlikely]]
    return guarded("corq_extend", [&] { return group_member_of(consumer)->extend(tag, lease_ms); });
  return consumer_of(consumer)->extend(tag, lease_ms);
}

int corq_consumer_wakeup(corq_consumer *consumer) {
  if (const int rc = check_consumer(consumer, "corq_consumer_wakeup"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) {
    group_member_of(consumer)->wakeup();
  } else {
    consumer_of(consumer)->wakeup();
  }
  return CORQ_OK;
}

int corq_consumer_interrupt(corq_consumer *consumer) {
  if (const int rc = check_consumer(consumer, "corq_consumer_interrupt"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) {
    group_member_of(consumer)->interrupt();
  } else {
    consumer_of(consumer)->interrupt();
  }
  return CORQ_OK;
}

int corq_consumer_close(corq_consumer *consumer) {
  if (const int rc = check_consumer(consumer, "corq_consumer_close"); rc != CORQ_OK) return rc;
  if (is_group_member(consumer)) {
    // Leaves its group (its unsettled deliveries are released), then lets the engine go.
    stream::GroupMember *m = group_member_of(consumer);
    m->engine().unregister_consumer(m);
    guarded("corq_consumer_close", [&] {
      m->close();
      return CORQ_OK;
    });
    delete m;
    return CORQ_OK;
  }
  Consumer *c = consumer_of(consumer);
  Engine &engine = c->queue().engine();
  engine.unregister_consumer(c);
  engine.detach(c);  // from now on the scheduler no longer touches its window
  c->close();
  std::shared_ptr<Queue> queue = c->queue_handle();
  delete c;
  // auto_delete: the last consumer gone takes the queue with it (its deliveries were released
  // above, so they go too). A consumer opened meanwhile keeps it.
  if (queue->options().auto_delete && queue->consumers_attached() == 0 && !engine.closed()) {
    std::string ignored;  // ENOENT: already deleted (by another closing consumer, or a user)
    guarded("corq_consumer_close",
            [&] { return engine.remove(queue->name(), ignored, queue.get()); });
  }
  Engine::release_handle(&engine);
  return CORQ_OK;
}

}  // extern "C"
