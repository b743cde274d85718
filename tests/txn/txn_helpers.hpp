// tests/txn/txn_helpers.hpp — what the transaction suites share: an RAII transaction (aborted
// unless committed) over the C API, and "consume one, get its tag" helpers.
#pragma once

#include "stream/stream_helpers.hpp"

#include <corq/corq.h>

namespace corq::test {

/// A corq_txn that is aborted when it goes out of scope unless commit() spent it.
class Txn {
 public:
  explicit Txn(corq_engine *engine) { must(corq_txn_begin(engine, &txn_), "txn_begin"); }
  ~Txn() {
    if (txn_ != nullptr) corq_txn_abort(txn_);
  }
  Txn(const Txn &) = delete;
  Txn &operator=(const Txn &) = delete;
  corq_txn *get() const { return txn_; }
  /// The transaction was spent by a direct C call (corq_txn_commit frees it).
  void forget() { txn_ = nullptr; }
  /// corq_txn_commit (which frees the transaction whatever it returns).
  int commit(std::int32_t timeout_ms = -1) {
    const int rc = corq_txn_commit(txn_, timeout_ms);
    txn_ = nullptr;
    return rc;
  }
  int publish(const char *exchange, const char *key, std::string_view payload,
              const corq_publish_options *options = nullptr,
              const std::vector<corq_header> &headers = {}, const char *dedup_id = nullptr) {
    const corq_message m = message(payload, headers, dedup_id);
    return corq_txn_publish(txn_, exchange, key, &m, options);
  }
  int append(const char *stream, const char *key, std::string_view payload,
             const std::vector<corq_header> &headers = {}) {
    const corq_message m = message(payload, headers);
    return corq_txn_append(txn_, stream, key, key == nullptr ? 0 : std::strlen(key), &m, nullptr);
  }
  int ack(corq_consumer *consumer, std::uint64_t tag) { return corq_txn_ack(txn_, consumer, tag); }

 private:
  corq_txn *txn_ = nullptr;
};

/// The message ids and payloads a queue holds now, consumed and acked.
inline std::vector<std::string> drain(corq_engine *engine, const std::string &queue) {
  return drain_acking(engine, queue);
}

}  // namespace corq::test
