// engine/engine/testing.cpp — see testing.hpp.
#include "engine/testing.hpp"

#include "capi/error.hpp"
#include "capi/handles.hpp"
#include "durability/journal.hpp"
#include "durability/recovery.hpp"
#include "stream/stream.hpp"
#include "txn/transaction.hpp"

#include <log/scanner.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace corq::testing {
using namespace corq::core;

void set_txn_stop_before_streams(bool stop) {
  core::txn::testing_stop_before_streams.store(stop, std::memory_order_relaxed);
}

void set_stream_release_hook(void (*hook)(void *), void *arg) {
  core::stream::testing_after_release_floor_arg.store(arg);
  core::stream::testing_after_release_floor.store(hook);
}

void set_compaction_hook(void (*hook)(void *), void *arg) {
  core::testing_compaction_meets_dead_letter_arg.store(arg);
  core::testing_compaction_meets_dead_letter.store(hook);
}

int advance_clock(corq_engine *engine, std::int64_t ms) {
  if (engine == nullptr) return capi::fail(CORQ_EINVAL, "advance_clock: engine is NULL");
  if (ms < 0) return capi::fail(CORQ_EINVAL, "advance_clock: ms must be >= 0");
  Engine &e = *capi::engine_of(engine);
  if (!e.clock().manual())
    return capi::fail(CORQ_EINVAL, "advance_clock: the engine is not on clock=manual");
  e.clock().advance(ms);
  e.scheduler().run_pass(e.now_ms());
  return CORQ_OK;
}

int open_on_vfs(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                corq_engine **out) {
  return capi::open_engine(dir, engine_options, vfs, out);
}

std::int64_t clock_now_ms(corq_engine *engine) { return capi::engine_of(engine)->now_ms(); }

int log_id_live(corq_engine *engine, std::uint64_t id) {
  Journal *journal = capi::engine_of(engine)->journal();
  if (journal == nullptr) return -1;
  return journal->ledger().id_live(id) ? 1 : 0;
}

namespace {

SnapshotMessage snapshot_of(const RecoveredMessage &recovered) {
  const Message &m = *recovered.message;
  SnapshotMessage out;
  out.id = m.id;
  out.payload.assign(static_cast<const char *>(m.payload()), m.payload_len);
  for (std::uint16_t i = 0; i < m.header_count; ++i) {
    const corq_header &h = m.headers()[i];
    out.headers.emplace_back(h.key, std::string(static_cast<const char *>(h.value), h.value_len));
  }
  out.delivery_count = m.delivery_count;
  out.failed_attempts = m.failed_attempts;
  out.due_ms = recovered.due_ms;
  out.expires_at_ms = m.expires_at_ms;
  return out;
}

}  // namespace

int snapshot_log(corq::wal::Vfs &vfs, const std::string &dir, LogSnapshot &out,
                 std::string &error) {
  out = LogSnapshot{};
  RecoveredState state;
  wal::ScanVisitor visitor;
  visitor.record = [&](const wal::RecoveredRecord &record) { return state.apply(record); };
  wal::ScanResult scan;
  const int rc = wal::scan_log(vfs, dir, visitor, scan);
  if (rc != 0) {
    error = !state.error.empty() ? state.error : scan.error;
    if (rc == -ENOMEM) return CORQ_ENOMEM;
    return rc == -EBADMSG ? CORQ_ECORRUPT : CORQ_EIO;
  }
  for (const auto &[qid, queue] : state.queues) out.queues[queue.name];
  for (const auto &[id, recovered] : state.messages) {
    const auto queue = state.queues.find(recovered.qid);
    if (queue == state.queues.end()) continue;  // its queue is gone: recovery frees it too
    out.queues[queue->second.name].push_back(snapshot_of(recovered));
  }
  for (auto &[name, messages] : out.queues) {
    std::sort(messages.begin(), messages.end(),
              [](const SnapshotMessage &a, const SnapshotMessage &b) { return a.id < b.id; });
  }
  out.next_message_id = state.next_message_id;
  return CORQ_OK;
}

}  // namespace corq::testing
