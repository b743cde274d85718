// engine/txn/owned_message.hpp — a corq_message copied for later: a transaction's publishes and
// appends (transaction.hpp), and the stream records a commit appends again once the disk has room
// (pending_release.hpp).
#pragma once

#include <corq/corq.h>

#include <cstdint>
#include <string>
#include <vector>

namespace corq::core::txn {

/// A corq_message copied for later (payload, headers, dedup id).
class OwnedMessage {
 public:
  /// Copies `m` (which the caller validated).
  explicit OwnedMessage(const corq_message &m);
  OwnedMessage(OwnedMessage &&) noexcept = default;
  OwnedMessage &operator=(OwnedMessage &&) noexcept = default;
  /// A corq_message over the copy (valid while this lives and is not moved).
  const corq_message &view();
  /// Payload, header keys and values: what counts against max_txn_bytes.
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  std::string payload_;
  std::vector<std::string> strings_;  // key, value, key, value, ...
  std::string dedup_id_;
  bool has_dedup_ = false;
  std::vector<corq_header> headers_;
  corq_message view_{};
  std::uint64_t bytes_ = 0;
};

}  // namespace corq::core::txn
