// engine/txn/pending_release.hpp — the last step of a commit with durable stream records
// (transaction.hpp): letting go of its batch in the engine log once the streams' logs hold them.
#pragma once

#include "txn/owned_message.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corq::core {
class Journal;
namespace stream {
class Stream;
}
}  // namespace corq::core

namespace corq::core::txn {

/// A committed transaction with durable stream records: once they are durable in their streams'
/// logs, a txn_applied record goes to the engine log and the batch's hold is let go
/// (Journal::release_txn_hold). Done by the commit, or by the scheduler when the commit's wait
/// timed out (Engine::defer_txn_release), or by recovery after it appended them again.
///
/// A stream's log that refuses a record with CORQ_ENOSPC (the disk is full) does not undo the
/// commit: the engine log holds the whole transaction durably and its other parts are applied, so
/// the refused record and the ones after it become `retries`, which the scheduler appends again
/// (in the commit's order, with the same partitions and transaction marks) once the disk has room
/// (Engine::finish_txn_releases). A restart before then appends them from the engine log, as for
/// any transaction whose records its streams' logs do not name.
struct PendingTxnRelease {
  struct Wait {
    std::shared_ptr<stream::Stream> stream;
    std::uint32_t partition;
    std::uint64_t lsn;  // the stream log's LSN of the last batch
  };
  std::uint64_t hold_lsn = 0;  // the engine log's batch (its first LSN)
  std::uint64_t txn_id = 0;
  std::vector<std::shared_ptr<stream::Stream>> streams;  // each once (txn_applying counted)
  std::vector<Wait> waits;
  /// A durable stream record not yet in its stream's log (see above).
  struct Retry {
    std::shared_ptr<stream::Stream> stream;
    std::uint32_t partition = 0;
    bool has_key = false;
    std::string key;
    OwnedMessage message;
    std::uint32_t seq = 0;  // its position among the transaction's durable records (TxnMark)
    std::int64_t timestamp_ms = 0;
  };
  std::vector<Retry> retries;
  std::size_t retried = 0;  // retries[0..retried) are appended (their waits added)
  /// Appends retries[retried..) in order, stopping at the first its log refuses again. True when
  /// none is left. A deleted stream's records are dropped (they went with it).
  bool retry_appends();
  /// True once every record is appended and every wait is durable (and then shown to readers).
  /// Does not block.
  bool ready();
  /// Logs txn_applied, lets go of the hold and of the streams' txn_applying.
  void finish(Journal &journal);
};

}  // namespace corq::core::txn
