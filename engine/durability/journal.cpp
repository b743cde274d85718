// engine/durability/journal.cpp — see journal.hpp.
#include "durability/journal.hpp"

#include "durability/recovery.hpp"
#include "durability/topology_records.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace corq::core {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_of(std::int32_t timeout_ms) {
  if (timeout_ms < 0) return Clock::now() + std::chrono::hours(24 * 365 * 100);  // no limit
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

/// Scratch space for encoding record heads: one per thread, reused (no allocation per publish once
/// warm).
thread_local std::vector<std::byte> scratch;
/// A compaction goes ahead only if what it keeps is at most this share of what it reads.
constexpr double max_compacted_fraction = 0.5;
thread_local std::vector<wal::Record> scratch_records;
thread_local std::vector<std::size_t> scratch_ends;

/// The append hook that pins a publish batch: record i of the batch is message i.
struct PinContext {
  LiveLedger *ledger;
  Message *const *messages;
};
void pin_batch(void *context, wal::Lsn first, wal::Lsn last) {
  auto *c = static_cast<PinContext *>(context);
  for (wal::Lsn lsn = first; lsn <= last; ++lsn) c->ledger->pin(c->messages[lsn - first], lsn);
}

/// A fan-out record: every copy is pinned at the one record.
struct FanoutPinContext {
  LiveLedger *ledger;
  Message *const *copies;
  std::size_t count;
};
void pin_fanout(void *context, wal::Lsn first, wal::Lsn /*last*/) {
  auto *c = static_cast<FanoutPinContext *>(context);
  for (std::size_t i = 0; i < c->count; ++i) c->ledger->pin(c->copies[i], first);
}

}  // namespace

wal::BackendChoice backend_choice(const EngineOptions &options) noexcept {
  return options.io_backend == IoBackend::io_uring ? wal::BackendChoice::io_uring
         : options.io_backend == IoBackend::psync  ? wal::BackendChoice::psync
                                                   : wal::BackendChoice::automatic;
}

wal::DirectIoChoice direct_io_choice(const EngineOptions &options) noexcept {
  return options.direct_io == DirectIo::on    ? wal::DirectIoChoice::on
         : options.direct_io == DirectIo::off ? wal::DirectIoChoice::off
                                              : wal::DirectIoChoice::automatic;
}

int Journal::open(const std::string &dir, const EngineOptions &options, RecoveredState &state,
                  std::unique_ptr<Journal> &out, std::string &error) {
  std::unique_ptr<Journal> journal(new Journal(options.sync == SyncMode::always));
  wal::LogOptions log_options;
  log_options.dir = dir;
  log_options.segment_bytes = options.segment_bytes;
  log_options.flush = options.sync == SyncMode::always;
  log_options.backend = backend_choice(options);
  log_options.direct_io = direct_io_choice(options);
  log_options.vfs = options.test_vfs;
  std::string log_error;
  const int rc = wal::Log::open(
      log_options, [&](const wal::RecoveredRecord &record) { return state.apply(record); },
      journal->log_, log_error);
  if (rc != 0) {
    if (!state.error.empty()) {
      error = "recovery of '" + dir + "': " + state.error;
      return rc == -ENOMEM ? CORQ_ENOMEM : CORQ_ECORRUPT;
    }
    if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
      error = "data directory '" + dir + "' is in use by another process (its LOCK file is locked)";
      return CORQ_EBUSY;
    }
    if (rc == -EBADMSG) {
      error = "data directory '" + dir + "' is corrupt: " + log_error;
      return CORQ_ECORRUPT;
    }
    error =
        "cannot open data directory '" + dir + "': " + log_error + " (" + std::strerror(-rc) + ")";
    if (rc == -ENOSPC) return CORQ_ENOSPC;
    if (rc == -ENOMEM) return CORQ_ENOMEM;
    return CORQ_EIO;
  }
  // Recovered messages are live: pin them where their publish records are. Copies of one id in
  // several queues (a fan-out) keep the id live until the last of them leaves.
  // Found by sorting the ids (a million messages: tens of ms; a map counting every id cost 0.4 s
  // here), since shared ids are few.
  std::unordered_set<std::uint64_t> shared_ids;
  {
    std::vector<std::uint64_t> ids;
    ids.reserve(state.messages.size());
    for (const auto &[key, m] : state.messages) ids.push_back(key.id);
    std::sort(ids.begin(), ids.end());
    for (std::size_t i = 1; i < ids.size(); ++i) {
      if (ids[i] == ids[i - 1]) shared_ids.insert(ids[i]);
    }
  }
  for (auto &[key, m] : state.messages) {
    if (!shared_ids.empty() && shared_ids.contains(key.id))
      m.message->flags = static_cast<std::uint16_t>(m.message->flags | Message::shared_id);
    journal->ledger_.pin(m.message, m.lsn);
  }
  // Nothing lies below the log's first record: the checkpointer's scan for the first live bucket
  // starts there, not at LSN 0 (a log that starts at a high LSN would otherwise cost a scan of
  // every bucket below it — for a header with a huge first_lsn, a scheduler that never stops).
  wal::Lsn first_lsn = journal->log_->last_appended_lsn() + 1;
  for (const wal::SegmentInfo &segment : journal->log_->segments()) {
    if (segment.first_lsn != 0) {
      first_lsn = std::min(first_lsn, segment.first_lsn);
      break;
    }
  }
  journal->floor_scan_bucket_ = LiveLedger::bucket_of(first_lsn);
  // Every txn_commit record recovered is in the engine's restored count (RecoveredTxnCounters).
  journal->txn_commits_through_ = journal->log_->last_appended_lsn();
  out = std::move(journal);
  return CORQ_OK;
}

Journal::~Journal() { close(); }

void Journal::close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (log_ != nullptr) log_->close();  // null when open failed
}

std::string Journal::failure_text() const {
  const int f = log_->failure();
  if (f == 0) return {};
  return std::string("the write-ahead log failed (") + std::strerror(-f) +
         "); the engine is fail-stopped: close it and open the directory again to recover";
}

int Journal::map_error(int rc, std::string &error) const {
  if (rc == 0) return CORQ_OK;
  if (log_->failure() != 0) {
    error = failure_text();
    return CORQ_EFAILED;
  }
  switch (rc) {
    case -ENOSPC:
      error =
          "the disk is full: the write-ahead log cannot take new messages (consumers and "
          "acks keep working; publishing resumes when space frees up)";
      return CORQ_ENOSPC;
    case -EMSGSIZE:
      error = "the batch is larger than a log segment (segment_bytes)";
      return CORQ_ETOOBIG;
    case -ESHUTDOWN: error = "the engine is closed"; return CORQ_ECLOSED;
    case -ETIMEDOUT: error = "timed out waiting for the write-ahead log"; return CORQ_ETIMEDOUT;
    default: error = std::string("write-ahead log: ") + std::strerror(-rc); return CORQ_EIO;
  }
}

// ---- data path
// -----------------------------------------------------------------------------------

int Journal::log_publish(std::uint32_t qid, Message *const *messages, std::size_t count,
                         const corq_message *sources, std::uint64_t first_id, std::int64_t due_ms,
                         wal::Lsn &lsn, std::string &error) {
  std::vector<std::byte> &head = scratch;
  std::vector<std::size_t> &ends = scratch_ends;
  std::vector<wal::Record> &batch = scratch_records;
  head.clear();
  ends.clear();
  batch.clear();
  records::Writer w(head);
  for (std::size_t i = 0; i < count; ++i) {
    const Message &m = *messages[i];
    const char *dedup_id = sources == nullptr ? nullptr : sources[m.id - first_id].dedup_id;
    encode_publish(w, qid, m, dedup_id == nullptr ? std::string_view() : dedup_id, due_ms);
    ends.push_back(head.size());
  }
  // Spans into `head` only now: it may have moved while growing.
  std::size_t start = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Message &m = *messages[i];
    batch.push_back({m.priority() == 0 ? records::publish : records::publish_priority,
                     {head.data() + start, ends[i] - start},
                     {static_cast<const std::byte *>(m.payload()), m.payload_len}});
    start = ends[i];
  }
  PinContext context{&ledger_, messages};
  const wal::AppendHook hook{pin_batch, &context};
  const int rc = log_->append(batch, lsn, wal::AppendClass::normal, &hook);
  return map_error(rc, error);
}

int Journal::log_publish_fanout(const std::uint32_t *qids, Message *const *copies,
                                std::size_t count, const char *dedup_id, std::int64_t due_ms,
                                wal::Lsn &lsn, std::string &error) {
  std::vector<std::byte> &head = scratch;
  head.clear();
  records::Writer w(head);
  const Message &m = *copies[0];
  const std::uint8_t type = encode_fanout(
      w, qids, copies, count, dedup_id == nullptr ? std::string_view() : dedup_id, due_ms);
  const wal::Record record{type,
                           {head.data(), head.size()},
                           {static_cast<const std::byte *>(m.payload()), m.payload_len}};
  FanoutPinContext context{&ledger_, copies, count};
  const wal::AppendHook hook{pin_fanout, &context};
  const int rc = log_->append({&record, 1}, lsn, wal::AppendClass::normal, &hook);
  return map_error(rc, error);
}

namespace {
void encode_headers(records::Writer &w, const Message &m) {
  w.u16(m.header_count);
  const corq_header *h = m.headers();
  for (std::uint32_t k = 0; k < m.header_count; ++k) {
    w.str16(h[k].key);
    w.str32({static_cast<const char *>(h[k].value), h[k].value_len});
  }
}
}  // namespace

std::uint8_t Journal::encode_publish(records::Writer &w, std::uint32_t qid, const Message &m,
                                     std::string_view dedup_id, std::int64_t due_ms) {
  if (m.priority() != 0) [[unlikely]]
    w.u8(static_cast<std::uint8_t>(m.priority()));  // records::publish_priority
  w.u32(qid);
  w.u64(m.id);
  w.i64(m.published_at_ms);
  w.i64(m.expires_at_ms);
  w.i64(due_ms);
  w.u32(m.delivery_count);
  w.u32(m.failed_attempts);
  w.str16(dedup_id);
  encode_headers(w, m);
  return m.priority() == 0 ? records::publish : records::publish_priority;
}

std::uint8_t Journal::encode_fanout(records::Writer &w, const std::uint32_t *qids,
                                    Message *const *copies, std::size_t count,
                                    std::string_view dedup_id, std::int64_t due_ms) {
  const Message &m = *copies[0];
  if (m.priority() != 0) [[unlikely]]
    w.u8(static_cast<std::uint8_t>(m.priority()));  // records::publish_fanout_priority
  w.u64(m.id);
  w.u16(static_cast<std::uint16_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    w.u32(qids[i]);
    w.i64(copies[i]->expires_at_ms);
  }
  w.i64(m.published_at_ms);
  w.i64(due_ms);
  w.str16(dedup_id);
  encode_headers(w, m);
  return m.priority() == 0 ? records::publish_fanout : records::publish_fanout_priority;
}

// ---- transactions
// --------------------------------------------------------------------------------

namespace {
/// The append hook of a transaction's batch: pins its messages at their records, holds it and
/// counts it.
struct TxnHookContext {
  LiveLedger *ledger;
  const TxnBatch *batch;
  std::multiset<wal::Lsn> *holds;
  std::mutex *holds_mutex;
  std::uint64_t *commits_logged;
  wal::Lsn *commits_through;
};
void txn_hook(void *context, wal::Lsn first, wal::Lsn last) {
  auto *c = static_cast<TxnHookContext *>(context);
  for (const auto &[entry, message] : c->batch->pins) c->ledger->pin(message, first + entry);
  std::lock_guard lock(*c->holds_mutex);
  c->holds->insert(first);  // a checkpoint's floor, taken after this append, sees it
  // In LSN order (hooks run inside the append): the count and the LSN of the last txn_commit
  // record it includes always agree.
  ++*c->commits_logged;
  *c->commits_through = last;
}
}  // namespace

int Journal::log_transaction(TxnBatch &batch, wal::Lsn &lsn, std::string &error) {
  // Every commit batch ends with its txn_commit record: the hook counts batches as commits.
  assert(!batch.entries.empty() && batch.entries.back().type == records::txn_commit);
  std::vector<wal::Record> records;
  records.reserve(batch.entries.size());
  for (const TxnBatch::Entry &e : batch.entries) {
    records.push_back(
        {e.type, {batch.heads.data() + e.head_begin, e.head_end - e.head_begin}, e.tail});
  }
  // The hold's node is allocated before the append: the hook must not fail.
  TxnHookContext context{&ledger_,
                         &batch,
                         &txn_holds_,
                         &txn_holds_mutex_,
                         &txn_commits_logged_,
                         &txn_commits_through_};
  const wal::AppendHook hook{txn_hook, &context};
  const int rc = log_->append(records, lsn, wal::AppendClass::normal, &hook);
  if (rc != 0) return map_error(rc, error);
  // Unpinned only once the removing records are in the log's order (as log_remove).
  for (Message *m : batch.removed) ledger_.unpin(m);
  return CORQ_OK;
}

void Journal::release_txn_hold(wal::Lsn lsn, const std::vector<std::byte> &applied,
                               wal::Lsn &applied_lsn) {
  applied_lsn = 0;
  if (!applied.empty()) {
    // Before the hold goes: a checkpoint that then releases the transaction's batch comes after
    // this record in the log.
    const wal::Record record{records::txn_applied, applied};
    log_->append({&record, 1}, applied_lsn, wal::AppendClass::reserved, nullptr,
                 wal::Urgency::lazy);
  }
  std::lock_guard lock(txn_holds_mutex_);
  if (const auto it = txn_holds_.find(lsn); it != txn_holds_.end()) txn_holds_.erase(it);
}

std::size_t Journal::txn_holds() const {
  std::lock_guard lock(txn_holds_mutex_);
  return txn_holds_.size();
}

std::uint64_t Journal::txn_commits_logged(wal::Lsn &through) const {
  std::lock_guard lock(txn_holds_mutex_);
  through = txn_commits_through_;
  return txn_commits_logged_;
}

wal::Lsn Journal::txn_hold_floor() const {
  std::lock_guard lock(txn_holds_mutex_);
  return txn_holds_.empty() ? ~wal::Lsn{0} : *txn_holds_.begin();
}

int Journal::append_reserved(std::uint8_t type, const std::vector<std::byte> &payload,
                             wal::Urgency urgency) {
  const wal::Record record{type, payload};
  wal::Lsn lsn = 0;
  const int rc = log_->append({&record, 1}, lsn, wal::AppendClass::reserved, nullptr, urgency);
  if (rc == 0) return CORQ_OK;
  std::string ignored;
  return map_error(rc, ignored);
}

int Journal::log_remove(std::uint32_t qid, Message *const *messages, std::size_t count) {
  std::vector<std::byte> &payload = scratch;
  payload.clear();
  records::Writer w(payload);
  w.u32(qid);
  w.u32(static_cast<std::uint32_t>(count));
  for (std::size_t i = 0; i < count; ++i) w.u64(messages[i]->id);
  const int rc = append_reserved(records::remove, payload, wal::Urgency::lazy);
  // Unpinned only after the record is in the log's order: a checkpoint cannot release the publish
  // record while the record that removes it could still be missing.
  for (std::size_t i = 0; i < count; ++i) ledger_.unpin(messages[i]);
  return rc;
}

int Journal::log_deliver(std::uint32_t qid, const corq_delivery *deliveries, std::size_t count) {
  std::vector<std::byte> &payload = scratch;
  payload.clear();
  records::Writer w(payload);
  w.u32(qid);
  w.u32(static_cast<std::uint32_t>(count));
  for (std::size_t i = 0; i < count; ++i) w.u64(deliveries[i].message_id);
  return append_reserved(records::deliver, payload, wal::Urgency::lazy);
}

int Journal::log_retry(std::uint32_t qid, const Message &message, std::int64_t due_ms) {
  std::vector<std::byte> &payload = scratch;
  payload.clear();
  records::Writer w(payload);
  w.u32(qid);
  w.u64(message.id);
  w.u32(message.failed_attempts);
  w.i64(due_ms);
  return append_reserved(records::retry, payload, wal::Urgency::lazy);
}

int Journal::log_dead_letter(std::uint32_t from_qid, std::uint32_t to_qid, const Message &message,
                             std::string_view reason, std::string_view origin,
                             std::string_view detail, std::int64_t time_ms) {
  std::vector<std::byte> &payload = scratch;
  payload.clear();
  records::Writer w(payload);
  w.u32(from_qid);
  w.u32(to_qid);
  w.u64(message.id);
  w.i64(time_ms);
  w.i64(message.expires_at_ms);
  w.str16(reason);
  w.str16(origin);
  w.str16(detail.substr(0, 65535));
  return append_reserved(records::dead_letter, payload);
}

int Journal::log_redrive(std::uint32_t from_qid, std::uint32_t to_qid, const Message &message) {
  std::vector<std::byte> &payload = scratch;
  payload.clear();
  records::Writer w(payload);
  w.u32(from_qid);
  w.u32(to_qid);
  w.u64(message.id);
  w.i64(message.expires_at_ms);
  return append_reserved(records::redrive, payload);
}

// ---- control plane
// -------------------------------------------------------------------------------

void Journal::encode_declare(std::vector<std::byte> &out, std::uint32_t qid,
                             const std::string &name, const QueueOptions &options) {
  records::Writer w(out);
  w.u32(qid);
  w.str16(name);
  // "key=value\n" per option; recovery parses it with parse_queue_options.
  w.str32(records::encode_option_lines(queue_options_map(options)));
}

int Journal::log_declare(std::uint32_t qid, const std::string &name, const QueueOptions &options,
                         std::string &error) {
  std::vector<std::byte> payload;
  encode_declare(payload, qid, name, options);
  const wal::Record record{records::declare, payload};
  wal::Lsn lsn = 0;
  if (const int rc = log_->append({&record, 1}, lsn); rc != 0) return map_error(rc, error);
  return wait(lsn, -1, error);
}

int Journal::log_topology(std::uint8_t type, const std::vector<std::byte> &payload,
                          std::string &error) {
  const wal::Record record{type, payload};
  wal::Lsn lsn = 0;
  // Removals are reserved (they let space be freed), like a queue's deletion.
  const bool removal =
      type == records::delete_exchange || type == records::unbind || type == records::delete_stream;
  const int rc = log_->append({&record, 1}, lsn,
                              removal ? wal::AppendClass::reserved : wal::AppendClass::normal);
  if (rc != 0) return map_error(rc, error);
  return wait(lsn, -1, error);
}

int Journal::log_delete(std::uint32_t qid, std::string &error) {
  std::vector<std::byte> payload;
  records::Writer w(payload);
  w.u32(qid);
  const wal::Record record{records::remove_queue, payload};
  wal::Lsn lsn = 0;
  // Reserved: deleting a queue frees space.
  if (const int rc = log_->append({&record, 1}, lsn, wal::AppendClass::reserved); rc != 0) {
    return map_error(rc, error);
  }
  return wait(lsn, -1, error);
}

int Journal::wait(wal::Lsn lsn, std::int32_t timeout_ms, std::string &error) {
  return map_error(log_->wait_durable(lsn, deadline_of(timeout_ms)), error);
}

int Journal::flush_through(wal::Lsn lsn, std::int32_t timeout_ms, std::string &error) {
  return map_error(log_->flush_through(lsn, deadline_of(timeout_ms)), error);
}

int Journal::sync(std::int32_t timeout_ms, std::string &error) {
  if (log_->failure() != 0) return map_error(log_->failure(), error);
  // On the disk in both sync modes: with sync=none this is the one call that flushes.
  return map_error(log_->flush_through(log_->last_appended_lsn(), deadline_of(timeout_ms)), error);
}

// ---- checkpoints
// ---------------------------------------------------------------------------------

wal::Lsn Journal::live_floor() {
  // Every append with an LSN <= safe has run its hook: buckets wholly below it are exact.
  const wal::Lsn safe = log_->last_appended_lsn();
  const std::uint64_t last_bucket = LiveLedger::bucket_of(safe);
  for (std::uint64_t b = floor_scan_bucket_; b <= last_bucket; ++b) {
    if (ledger_.live(b) != 0) {
      floor_scan_bucket_ = b;
      return std::min<wal::Lsn>(std::max<wal::Lsn>(LiveLedger::first_lsn_of(b), 1),
                                txn_hold_floor());
    }
  }
  floor_scan_bucket_ = last_bucket;  // the last bucket may still fill: scan it again next time
  return std::min<wal::Lsn>(safe + 1, txn_hold_floor());
}

bool Journal::release_possible(wal::Lsn floor) const {
  const std::vector<wal::SegmentInfo> segments = log_->segments();
  return segments.size() > 1 && segments.front().last_lsn < floor;
}

int Journal::checkpoint(const std::vector<std::vector<std::byte>> &payloads,
                        const std::vector<std::uint8_t> &types, wal::Lsn floor,
                        std::uint64_t next_message_id, std::string &error) {
  std::vector<wal::Record> batch;
  batch.reserve(payloads.size());
  for (std::size_t i = 0; i < payloads.size(); ++i) batch.push_back({types[i], payloads[i]});
  wal::Lsn lsn = 0;
  // Inside the append no pin can run: the time to free the ledger's empty id chunks.
  struct Trim {
    LiveLedger *ledger;
    std::uint64_t below;
  } trim{&ledger_, next_message_id};
  const wal::AppendHook hook{[](void *context, wal::Lsn, wal::Lsn) {
                               auto *t = static_cast<Trim *>(context);
                               t->ledger->trim_ids(t->below);
                             },
                             &trim};
  if (const int rc = log_->append(batch, lsn, wal::AppendClass::reserved, &hook); rc != 0) {
    return map_error(rc, error);
  }
  // On the disk before the segments it supersedes go (with sync=none too: a power loss must not
  // keep the release and lose the checkpoint).
  if (const int rc =
          map_error(log_->flush_through(lsn, std::chrono::steady_clock::time_point::max()), error);
      rc != CORQ_OK)
    return rc;
  if (const int rc = log_->release_before(floor); rc != 0) {
    error = std::string("releasing log segments: ") + std::strerror(-rc);
    return CORQ_EIO;
  }
  checkpoint_lsn_.store(lsn, std::memory_order_release);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  return CORQ_OK;
}

// ---- compaction
// ---------------------------------------------------------------------------------

namespace {
/// The sealed segments: every one but the segment being written (the last).
std::vector<wal::SegmentInfo> sealed_segments(std::vector<wal::SegmentInfo> segments) {
  if (!segments.empty()) segments.pop_back();
  return segments;
}
/// Index of the first of the trailing normal (not compacted) sealed segments.
std::size_t first_normal(const std::vector<wal::SegmentInfo> &sealed) {
  std::size_t i = sealed.size();
  while (i > 0 && sealed[i - 1].compacted_through_id == 0) --i;
  return i;
}
}  // namespace

bool Journal::compaction_due() const {
  const std::vector<wal::SegmentInfo> sealed = sealed_segments(log_->segments());
  const std::size_t start = first_normal(sealed);
  return sealed.size() - start >= 2 && sealed.back().id > compaction_tried_through_;
}

std::atomic<void (*)(void *)> testing_compaction_meets_dead_letter{nullptr};
std::atomic<void *> testing_compaction_meets_dead_letter_arg{nullptr};

bool Journal::compaction_keeps(const wal::RecoveredRecord &record) const {
  records::Reader r(record.payload);
  // A record about one message (`qids` queue ids, then the message id) is kept while that message
  // lives (as the compaction's snapshot saw it: the same answer for all its records); one that
  // does not parse is kept too.
  const auto message_live = [&](int qids) {
    for (int i = 0; i < qids; ++i) r.u32();
    const std::uint64_t id = r.u64();
    return !r.ok() || compaction_ids_.live(id);
  };
  switch (record.type) {
    case records::publish:
    case records::retry: return message_live(1);                     // qid, id, ...
    case records::publish_fanout: return message_live(0);            // id, ...
    case records::publish_priority: r.u8(); return message_live(1);  // priority, qid, id
    case records::publish_fanout_priority:
      r.u8();
      return message_live(0);  // priority, id
    // Records that move or settle a message: when older compacted segments stay (they are not
    // merged into this one), the message's publish record may be there, kept while it lived;
    // without the record that moved or removed it, recovery would put it back. Those go only
    // with a compaction from the log's first segment on, once no publish record can precede them.
    case records::dead_letter:
      if (testing_compaction_meets_dead_letter.load(std::memory_order_relaxed) != nullptr) {
        void (*hook)(void *) = testing_compaction_meets_dead_letter.exchange(nullptr);
        if (hook != nullptr) hook(testing_compaction_meets_dead_letter_arg.load());
      }
      [[fallthrough]];
    case records::redrive:
      return !compaction_from_log_start_ || message_live(2);  // from_qid, to_qid, id, ...
    case records::remove:
      if (!compaction_from_log_start_) return true;
      [[fallthrough]];
    case records::deliver: {
      r.u32();
      const std::uint32_t n = r.u32();
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        if (compaction_ids_.live(r.u64())) return true;
      }
      return !r.ok();
    }
    // Superseded by the checkpoint written just before a compaction.
    case records::declare:
    case records::remove_queue:
    case records::checkpoint:
    case records::dedup:
    case records::declare_exchange:
    case records::delete_exchange:
    case records::bind:
    case records::unbind:
    case records::declare_stream:
    case records::delete_stream:
    case records::declare_group:
    case records::delete_group: return false;
    // A group's progress is in the checkpoint's copy of it, except what was logged after the
    // copy was taken (before the checkpoint's batch): that stays.
    case records::group_progress:
      return record.lsn >= group_copy_lsn_.load(std::memory_order_acquire) ||
             record.lsn >= txn_floor_at_copy_.load(std::memory_order_acquire);
    // A transaction's stream records stay until it is applied (its hold released before the
    // checkpoint's copy: then they are durable in the streams' logs); its txn_applied record with
    // them (it comes after them in the log, so it is kept whenever they are).
    case records::txn_append:
    case records::txn_applied:
      return record.lsn >= group_copy_lsn_.load(std::memory_order_acquire) ||
             record.lsn >= txn_floor_at_copy_.load(std::memory_order_acquire);
    // Counted by the checkpoint's txn_committed unless logged after its group copy (it read the
    // count after that: Engine::checkpoint).
    case records::txn_commit: return record.lsn >= group_copy_lsn_.load(std::memory_order_acquire);
    default: return true;  // unknown: keep
  }
}

int Journal::compact(wal::CompactionStats &stats, std::string &error) {
  stats = wal::CompactionStats{};
  // Only segments wholly before the last checkpoint: compaction drops their declarations and
  // checkpoints as superseded by it. The log may have rolled since that checkpoint was appended
  // (under load, with small segments): its segment is then sealed, and compacting it would drop
  // the only checkpoint — after a crash, every queue's declaration gone, and its messages with it.
  std::vector<wal::SegmentInfo> sealed = sealed_segments(log_->segments());
  const wal::Lsn checkpoint_lsn = checkpoint_lsn_.load(std::memory_order_acquire);
  while (!sealed.empty() && sealed.back().last_lsn >= checkpoint_lsn) sealed.pop_back();
  std::size_t start = first_normal(sealed);
  if (sealed.size() - start < 2) return CORQ_OK;
  // Merge compacted segments before them while that at most doubles what is written.
  std::uint64_t new_bytes = 0, merged_bytes = 0;
  for (std::size_t i = start; i < sealed.size(); ++i) new_bytes += sealed[i].bytes;
  while (start > 0 && merged_bytes + sealed[start - 1].bytes <= new_bytes) {
    merged_bytes += sealed[--start].bytes;
  }
  // One view of which messages live for the whole scan (see LiveIdSnapshot), taken before it.
  compaction_ids_ = ledger_.snapshot_ids();
  compaction_from_log_start_ = start == 0;
  const int rc = log_->compact(
      sealed[start].id, sealed.back().id,
      [this](const wal::RecoveredRecord &record) { return compaction_keeps(record); },
      max_compacted_fraction, stats);
  compaction_ids_ = LiveIdSnapshot{};
  if (rc != 0) {
    if (log_->failure() != 0) return map_error(rc, error);
    error = std::string("compacting log segments: ") + std::strerror(-rc);
    return CORQ_EIO;
  }
  if (stats.replaced) {
    compactions_.fetch_add(1, std::memory_order_relaxed);
  } else {
    compaction_tried_through_ = sealed.back().id;  // wait for a new segment before trying again
  }
  return CORQ_OK;
}

}  // namespace corq::core
