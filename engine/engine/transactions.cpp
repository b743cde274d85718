// engine/engine/transactions.cpp — the engine's side of transactions (engine/txn/): the registry
// of open consumers and transactions, deferred releases, and recovery's re-appends.
#include "engine/engine.hpp"

#include "durability/recovery.hpp"
#include "txn/transaction.hpp"

#include <algorithm>
#include <map>

namespace corq::core {

void Engine::register_consumer(ConsumerBase *consumer) {
  std::lock_guard lock(handles_mutex_);
  consumer_serials_[consumer] = next_consumer_serial_++;
}

void Engine::unregister_consumer(ConsumerBase *consumer) noexcept {
  std::lock_guard lock(handles_mutex_);
  consumer_serials_.erase(consumer);
}

std::uint64_t Engine::consumer_serial(const ConsumerBase *consumer) {
  std::lock_guard lock(handles_mutex_);
  const auto it = consumer_serials_.find(consumer);
  return it == consumer_serials_.end() ? 0 : it->second;
}

void Engine::register_txn(txn::Transaction *t) {
  std::lock_guard lock(handles_mutex_);
  open_txns_.emplace(t, true);
  if (closed()) t->close_by_engine();  // corq_close ran meanwhile
}

void Engine::unregister_txn(txn::Transaction *t) noexcept {
  std::lock_guard lock(handles_mutex_);
  open_txns_.erase(t);
}

std::uint64_t Engine::txns_open() {
  std::lock_guard lock(handles_mutex_);
  return open_txns_.size();
}

void Engine::defer_txn_release(txn::PendingTxnRelease release) {
  std::lock_guard lock(txn_releases_mutex_);
  txn_releases_.push_back(std::move(release));
}

void Engine::finish_txn_releases() {
  std::vector<txn::PendingTxnRelease> ready;
  {
    std::lock_guard lock(txn_releases_mutex_);
    if (txn_releases_.empty()) return;
    for (auto it = txn_releases_.begin(); it != txn_releases_.end();) {
      // Records a full disk refused are appended again first (rare: only such releases have any).
      if (it->retry_appends() && it->ready()) {
        ready.push_back(std::move(*it));
        it = txn_releases_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!ready.empty() && !journal_->flushes()) {
    // sync=none (Commit::finish_durable): the records on the disk before txn_applied says so,
    // one flush per stream for every release of this pass. A stream whose flush fails (its log
    // fail-stopped) keeps its releases: the engine log keeps their batches, and the next open
    // finds the records in that stream's log or appends them again.
    std::vector<stream::Stream *> flushed, failed;
    for (auto it = ready.begin(); it != ready.end();) {
      bool ok = true;
      for (const auto &s : it->streams) {
        if (s->deleted() || std::find(flushed.begin(), flushed.end(), s.get()) != flushed.end())
          continue;
        std::string error;
        if (std::find(failed.begin(), failed.end(), s.get()) == failed.end() &&
            s->sync(std::chrono::steady_clock::time_point::max(), error) == CORQ_OK) {
          flushed.push_back(s.get());
        } else {
          failed.push_back(s.get());
          ok = false;
        }
      }
      if (ok) {
        ++it;
      } else {
        std::lock_guard lock(txn_releases_mutex_);
        txn_releases_.push_back(std::move(*it));
        it = ready.erase(it);
      }
    }
  }
  for (txn::PendingTxnRelease &r : ready) r.finish(*journal_);
}

int Engine::reappend_committed_streams(RecoveredState &state, std::string &error) {
  // Per transaction, in log order: its records for streams whose logs do not name it.
  std::map<std::uint32_t, std::shared_ptr<stream::Stream>> by_sid;
  for (const auto &s : streams_snapshot())
    if (s->sid() != 0) by_sid[s->sid()] = s;
  std::size_t i = 0;
  while (i < state.txn_appends.size()) {
    const std::uint64_t txn_id = state.txn_appends[i].txn_id;
    std::size_t end = i;
    while (end < state.txn_appends.size() && state.txn_appends[end].txn_id == txn_id) ++end;
    if (state.txns_applied.contains(txn_id)) {
      i = end;
      continue;
    }
    txn::PendingTxnRelease release;
    release.txn_id = txn_id;
    for (std::size_t k = i; k < end; ++k) {
      const RecoveredTxnAppend &a = state.txn_appends[k];
      const auto seq = static_cast<std::uint32_t>(k - i);  // as the commit numbered them
      const auto found = by_sid.find(a.sid);
      if (found == by_sid.end()) continue;  // deleted since
      stream::Stream &s = *found->second;
      if (s.log()->holds_txn_record(txn_id, seq) || a.partition >= s.partition_count()) continue;
      if (std::find(release.streams.begin(), release.streams.end(), found->second) ==
          release.streams.end()) {
        s.txn_applying.fetch_add(1, std::memory_order_acq_rel);
        release.streams.push_back(found->second);
      }
      std::vector<corq_header> headers;
      for (const auto &[key, value] : a.headers)
        headers.push_back({key.c_str(), value.data(), value.size()});
      corq_message m{};
      m.data = a.payload.data();
      m.len = a.payload.size();
      m.headers = headers.empty() ? nullptr : headers.data();
      m.header_count = headers.size();
      m.dedup_id = a.dedup_id.empty() ? nullptr : a.dedup_id.c_str();
      wal::Lsn lsn = 0;
      if (const int rc =
              s.append_committed(a.partition, a.has_key ? a.key.data() : nullptr, a.key.size(), m,
                                 now_ms(), stream::TxnMark{txn_id, seq}, lsn, error);
          rc != CORQ_OK) {
        error = "appending committed transaction " + std::to_string(txn_id) + " to stream '" +
                s.name() + "' again: " + error;
        return rc;
      }
      if (lsn != 0) release.waits.push_back({found->second, a.partition, lsn});
    }
    i = end;
    if (release.streams.empty()) continue;
    for (const auto &w : release.waits) {
      if (const int rc = w.stream->confirm_committed(
              w.partition, w.lsn, std::chrono::steady_clock::time_point::max(), error);
          rc != CORQ_OK)
        return rc;
    }
    // sync=none: the records on the disk before txn_applied says they are (as finish_txn_releases).
    if (!journal_->flushes()) {
      for (const auto &s : release.streams) {
        if (const int rc = s->sync(std::chrono::steady_clock::time_point::max(), error);
            rc != CORQ_OK)
          return rc;
      }
    }
    // There is no batch to let go of: the recovered log holds it until a checkpoint passes it.
    release.hold_lsn = 0;
    release.finish(*journal_);
  }
  for (const auto &[sid, s] : by_sid) s->log()->forget_recovered_txns();
  return CORQ_OK;
}

}  // namespace corq::core
