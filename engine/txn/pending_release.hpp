// engine/txn/pending_release.hpp — the last step of a commit with durable stream records
// (transaction.hpp): letting go of its batch in the engine log once the streams' logs hold them.
#pragma once

#include <cstdint>
#include <memory>
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
  /// True once every wait is durable (and then shown to readers). Does not block.
  bool ready();
  /// Logs txn_applied, lets go of the hold and of the streams' txn_applying.
  void finish(Journal &journal);
};

}  // namespace corq::core::txn
