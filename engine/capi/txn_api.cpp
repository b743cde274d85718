// engine/capi/txn_api.cpp — the C API of transactions (DESIGN.md §8): corq_txn_*.
//
// A corq_txn is a txn::Transaction. It holds a handle on the engine (the engine outlives it), is
// listed in the engine's open transactions (corq_close marks them aborted), and is freed by
// corq_txn_commit, whatever that returns, or by corq_txn_abort.
#include "capi/handles.hpp"
#include "txn/transaction.hpp"

using namespace corq::core;
using namespace corq::capi;

namespace {

txn::Transaction *txn_of(corq_txn *t) noexcept { return reinterpret_cast<txn::Transaction *>(t); }

/// Unregisters and frees a transaction (its acks, never claimed outside a commit, stay held).
void free_txn(txn::Transaction *t) noexcept {
  Engine &engine = t->engine();
  engine.unregister_txn(t);
  delete t;
  Engine::release_handle(&engine);
}

/// Runs an operation of `t` with the one-thread-at-a-time check around it.
template <class Body>
int with_txn(corq_txn *t, const char *function, Body &&body) noexcept {
  if (t == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": txn is NULL");
  txn::Transaction &txn = *txn_of(t);
  if (!txn.enter(function)) return CORQ_ESTATE;
  const int rc = guarded(function, [&] { return body(txn); });
  txn.leave();
  return rc;
}

}  // namespace

extern "C" {

int corq_txn_begin(corq_engine *engine, corq_txn **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_txn_begin: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_txn_begin: engine is NULL");
  return guarded("corq_txn_begin", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_txn_begin: the engine is closed");
    auto t = std::make_unique<txn::Transaction>(e);
    e.register_txn(t.get());
    e.retain_handle();
    *out = reinterpret_cast<corq_txn *>(t.release());
    return CORQ_OK;
  });
}

int corq_txn_publish(corq_txn *txn, const char *exchange, const char *routing_key,
                     const corq_message *message, const corq_publish_options *options) {
  if (exchange == nullptr) return fail(CORQ_EINVAL, "corq_txn_publish: exchange is NULL");
  if (message == nullptr) return fail(CORQ_EINVAL, "corq_txn_publish: message is NULL");
  if (exchange[0] == '\0') {
    if (routing_key == nullptr)
      return fail(CORQ_EINVAL, "corq_txn_publish: routing_key (the queue) is NULL");
    if (const int rc = check_queue_name(routing_key); rc != CORQ_OK) return rc;
  }
  return with_txn(txn, "corq_txn_publish", [&](txn::Transaction &t) {
    return t.publish(exchange, routing_key, *message, options);
  });
}

int corq_txn_append(corq_txn *txn, const char *stream, const void *key, size_t key_len,
                    const corq_message *message, const corq_publish_options *options) {
  if (stream == nullptr) return fail(CORQ_EINVAL, "corq_txn_append: stream is NULL");
  if (message == nullptr) return fail(CORQ_EINVAL, "corq_txn_append: message is NULL");
  if (const int rc = check_queue_name(stream); rc != CORQ_OK) return rc;
  return with_txn(txn, "corq_txn_append", [&](txn::Transaction &t) {
    return t.append(stream, key, key_len, *message, options);
  });
}

int corq_txn_ack(corq_txn *txn, corq_consumer *consumer, uint64_t tag) {
  if (consumer == nullptr) return fail(CORQ_EINVAL, "corq_txn_ack: consumer is NULL");
  return with_txn(txn, "corq_txn_ack", [&](txn::Transaction &t) { return t.ack(consumer, tag); });
}

int corq_txn_commit(corq_txn *txn, int32_t timeout_ms) {
  if (txn == nullptr) return fail(CORQ_EINVAL, "corq_txn_commit: txn is NULL");
  if (timeout_ms < -1) {
    // Spent all the same (a commit always frees): nothing of it happened.
    free_txn(txn_of(txn));
    return fail(CORQ_EINVAL,
                "corq_txn_commit: timeout_ms must be -1 or >= 0; the transaction "
                "was aborted");
  }
  txn::Transaction *t = txn_of(txn);
  if (!t->enter("corq_txn_commit")) return CORQ_ESTATE;  // another thread has it: not freed
  Engine &engine = t->engine();
  const int rc = guarded("corq_txn_commit", [&] { return t->commit(timeout_ms); });
  // A commit that reached its log batch counts as committed even if its wait then failed.
  (rc == CORQ_OK || rc == CORQ_ETIMEDOUT ? engine.txn_counters().committed
                                         : engine.txn_counters().failed)
      .fetch_add(1, std::memory_order_relaxed);
  t->leave();
  free_txn(t);
  return rc;
}

void corq_txn_abort(corq_txn *txn) {
  if (txn == nullptr) return;
  txn::Transaction *t = txn_of(txn);
  t->engine().txn_counters().aborted.fetch_add(1, std::memory_order_relaxed);
  free_txn(t);
}

}  // extern "C"
