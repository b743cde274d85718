// engine/durability/recovery.cpp — replaying the engine's records (see recovery.hpp).
#include "durability/recovery.hpp"

#include "durability/stream_records.hpp"

#include "durability/records.hpp"

#include <algorithm>
#include <cerrno>

namespace corq::core {
namespace {

/// The most headers a logged message can have: its own, the routing stamp, the x-death ones.
constexpr std::size_t header_views_max = headers_max + routing_headers_max + death_headers_max;

}  // namespace

RecoveredState::~RecoveredState() {
  for (auto &[key, m] : messages) free_message(m.message);
}

int RecoveredState::bad(const wal::RecoveredRecord &record, const char *what) {
  error = std::string("record at LSN ") + std::to_string(record.lsn) + " (" +
          records::type_name(record.type) + "): " + what;
  return -EBADMSG;
}

void RecoveredState::drop(const MessageKey &key) {
  auto it = messages.find(key);
  if (it == messages.end()) return;
  free_message(it->second.message);
  messages.erase(it);
}

RecoveredMessage *RecoveredState::put(const MessageKey &key, const RecoveredMessage &m) {
  // Publish records are written only for messages new to their queue (a publish, or a move in
  // from a transient queue), so a taken key means a second copy, never a repeat of the first.
  return &messages.emplace(key, m)->second;
}

RecoveredMessage *RecoveredState::move(std::uint32_t from, std::uint32_t to, std::uint64_t id) {
  auto it = messages.find({from, id});
  if (it == messages.end()) return nullptr;
  if (from == to) return &it->second;
  RecoveredMessage m = it->second;
  messages.erase(it);
  m.qid = to;
  return put({to, id}, m);
}

int RecoveredState::apply(const wal::RecoveredRecord &record) {
  ++records;
  records::Reader r(record.payload);
  switch (record.type) {
    case records::declare: {
      const std::uint32_t qid = r.u32();
      const std::string name(r.str16());
      const std::string text(r.str32());
      if (!r.ok() || qid == 0) return bad(record, "truncated");
      OptionMap map;
      if (!records::decode_option_lines(text, map)) return bad(record, "option line without '='");
      QueueOptions options;
      std::string option_error;
      if (!parse_queue_options(map, true, options, option_error))
        return bad(record, option_error.c_str());
      auto [it, inserted] = queues.try_emplace(qid);
      if (inserted) {
        it->second.name = name;
        it->second.options = options;
      }
      next_qid = std::max(next_qid, qid + 1);
      return 0;
    }
    case records::remove_queue: {
      const std::uint32_t qid = r.u32();
      if (!r.ok()) return bad(record, "truncated");
      queues.erase(qid);
      drop_bindings(
          [&](const records::Binding &b) { return !b.to_exchange && b.destination_id == qid; });
      for (auto it = messages.begin(); it != messages.end();) {
        if (it->second.qid == qid) {
          free_message(it->second.message);
          it = messages.erase(it);
        } else {
          ++it;
        }
      }
      return 0;
    }
    case records::publish:
    case records::publish_priority: return apply_publish(record);
    case records::remove:
    case records::deliver: {
      const std::uint32_t qid = r.u32();
      const std::uint32_t n = r.u32();
      if (!r.ok() || r.remaining() != std::size_t{n} * 8) return bad(record, "bad id list");
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint64_t id = r.u64();
        if (record.type == records::remove) {
          drop({qid, id});
        } else if (auto it = messages.find({qid, id}); it != messages.end()) {
          ++it->second.message->delivery_count;
        }
      }
      return 0;
    }
    case records::retry: {
      const std::uint32_t qid = r.u32();
      const std::uint64_t id = r.u64();
      const std::uint32_t failed = r.u32();
      const std::int64_t due = r.i64();
      if (!r.ok()) return bad(record, "truncated");
      if (auto it = messages.find({qid, id}); it != messages.end()) {
        it->second.message->failed_attempts = failed;
        it->second.due_ms = due;
      }
      return 0;
    }
    case records::dead_letter: return apply_dead_letter(record);
    case records::redrive: {
      const std::uint32_t from = r.u32();
      const std::uint32_t to = r.u32();
      const std::uint64_t id = r.u64();
      const std::int64_t expires = r.i64();
      if (!r.ok()) return bad(record, "truncated");
      if (RecoveredMessage *moved = move(from, to, id); moved != nullptr) {
        Message *m = moved->message;
        m->failed_attempts = 0;
        m->delivery_count = 0;
        m->expires_at_ms = expires;
        moved->due_ms = 0;
      }
      return 0;
    }
    case records::publish_fanout:
    case records::publish_fanout_priority: return apply_publish_fanout(record);
    case records::declare_exchange:
    case records::delete_exchange:
    case records::bind:
    case records::unbind: return apply_topology(record);
    case records::declare_stream:
    case records::delete_stream: return apply_stream(record);
    case records::declare_group:
    case records::delete_group:
    case records::group_progress: return apply_group(record);
    case records::txn_append:
    case records::txn_applied: return apply_txn(record);
    case records::checkpoint: {
      const std::uint64_t next_id = r.u64();
      const std::uint32_t qid = r.u32();
      if (!r.ok()) return bad(record, "truncated");
      next_message_id = std::max(next_message_id, next_id);
      next_qid = std::max(next_qid, qid);
      if (r.remaining() >= 4) next_xid = std::max(next_xid, r.u32());
      if (r.remaining() >= 4) next_sid = std::max(next_sid, r.u32());
      if (r.remaining() >= 32) {
        RecoveredTxnCounters &t = txn_counters;
        t.from_checkpoint = true;
        t.committed = r.u64();
        t.aborted = r.u64();
        t.failed = r.u64();
        t.counted_through = r.u64();
        // Commit records up to counted_through are in its count; those after it stay.
        const auto counted =
            std::upper_bound(t.commits_after.begin(), t.commits_after.end(), t.counted_through);
        t.commits_after.erase(t.commits_after.begin(), counted);
      }
      return 0;
    }
    case records::txn_commit: {
      const std::uint64_t txn_id = r.u64();
      if (!r.ok()) return bad(record, "truncated");
      next_message_id = std::max(next_message_id, txn_id + 1);  // txn ids are message ids
      if (record.lsn > txn_counters.counted_through)
        txn_counters.commits_after.push_back(record.lsn);
      return 0;
    }
    case records::dedup: {
      const std::uint32_t qid = r.u32();
      const std::uint32_t n = r.u32();
      auto q = queues.find(qid);
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        const std::uint64_t id = r.u64();
        const std::int64_t at = r.i64();
        const std::string_view key = r.str16();
        if (r.ok() && q != queues.end())
          q->second.dedup.insert_or_assign(std::string(key), RecoveredDedup{id, at});
      }
      if (!r.ok()) return bad(record, "truncated");
      return 0;
    }
    default: return bad(record, "unknown record type (written by a newer corq?)");
  }
}

/// The end both publish records share: dedup id, headers, payload (views into the record).
struct MessageTail {
  std::string_view dedup_id;
  std::uint16_t header_count = 0;
  HeaderView views[header_views_max];
  std::span<const std::byte> payload;
};

namespace {

/// Reads it; false (with `what` naming the part) when the record is cut short.
bool read_tail(records::Reader &r, MessageTail &tail, const char *&what) {
  tail.dedup_id = r.str16();
  tail.header_count = r.u16();
  if (!r.ok() || tail.header_count > header_views_max) return what = "truncated head", false;
  for (std::uint16_t i = 0; i < tail.header_count; ++i) {
    tail.views[i].key = r.str16();
    tail.views[i].value = r.str32();
  }
  if (!r.ok()) return what = "truncated headers", false;
  tail.payload = r.rest();
  return true;
}

}  // namespace

int RecoveredState::add_copy(const wal::RecoveredRecord &record, std::uint32_t qid,
                             std::uint64_t id, const CopyState &state, const MessageTail &tail) {
  if (state.priority > max_priority_limit) return bad(record, "priority above 32");
  next_message_id = std::max(next_message_id, id + 1);
  // A queue not (yet) known is kept too: a checkpoint re-declares live queues AFTER records it
  // did not release, so a live message's publish can come before its queue's declaration. Messages
  // of queues that never get declared (deleted, declaration released) are dropped by install.
  auto q = queues.find(qid);
  if (q != queues.end() && !tail.dedup_id.empty()) {
    q->second.dedup.insert_or_assign(std::string(tail.dedup_id),
                                     RecoveredDedup{id, state.published_at_ms});
  }
  Message *m =
      build_message(tail.views, tail.header_count, tail.payload.data(), tail.payload.size());
  if (m == nullptr) {
    error = "out of memory rebuilding message " + std::to_string(id);
    return -ENOMEM;
  }
  m->id = id;
  m->published_at_ms = state.published_at_ms;
  m->expires_at_ms = state.expires_at_ms;
  m->delivery_count = state.delivery_count;
  m->failed_attempts = state.failed_attempts;
  m->set_priority(state.priority);
  put({qid, id}, RecoveredMessage{m, qid, state.due_ms, record.lsn});
  return 0;
}

int RecoveredState::apply_publish(const wal::RecoveredRecord &record) {
  records::Reader r(record.payload);
  CopyState state;
  if (record.type == records::publish_priority) state.priority = r.u8();
  const std::uint32_t qid = r.u32();
  const std::uint64_t id = r.u64();
  state.published_at_ms = r.i64();
  state.expires_at_ms = r.i64();
  state.due_ms = r.i64();
  state.delivery_count = r.u32();
  state.failed_attempts = r.u32();
  MessageTail tail;
  const char *what = nullptr;
  if (!read_tail(r, tail, what)) return bad(record, what);
  return add_copy(record, qid, id, state, tail);
}

int RecoveredState::apply_publish_fanout(const wal::RecoveredRecord &record) {
  records::Reader r(record.payload);
  CopyState state;
  if (record.type == records::publish_fanout_priority) state.priority = r.u8();
  const std::uint64_t id = r.u64();
  const std::uint16_t n = r.u16();
  if (!r.ok() || n == 0) return bad(record, "truncated head");
  std::vector<std::pair<std::uint32_t, std::int64_t>> targets(n);  // qid, expires_at_ms
  for (auto &[qid, expires] : targets) {
    qid = r.u32();
    expires = r.i64();
  }
  state.published_at_ms = r.i64();
  state.due_ms = r.i64();
  MessageTail tail;
  const char *what = nullptr;
  if (!read_tail(r, tail, what)) return bad(record, what);
  // Each copy its own block: after recovery the copies need not share a body.
  for (const auto &[qid, expires] : targets) {
    state.expires_at_ms = expires;
    if (const int rc = add_copy(record, qid, id, state, tail); rc != 0) return rc;
  }
  return 0;
}

int RecoveredState::apply_stream(const wal::RecoveredRecord &record) {
  if (record.type == records::declare_stream) {
    std::uint32_t sid = 0;
    RecoveredStream s;
    std::string option_error;
    if (!records::decode_stream_declare(record.payload, sid, s.name, s.options, option_error))
      return bad(record, option_error.c_str());
    // A later declaration of the same sid (update=true, a checkpoint) replaces the earlier one.
    streams.insert_or_assign(sid, std::move(s));
    next_sid = std::max(next_sid, sid + 1);
    return 0;
  }
  records::Reader r(record.payload);
  const std::uint32_t sid = r.u32();
  if (!r.ok()) return bad(record, "truncated");
  streams.erase(sid);
  std::erase_if(groups, [&](const auto &entry) { return entry.first.first == sid; });
  return 0;
}

int RecoveredState::apply_txn(const wal::RecoveredRecord &record) {
  records::Reader r(record.payload);
  if (record.type == records::txn_applied) {
    const std::uint64_t txn_id = r.u64();
    if (!r.ok()) return bad(record, "truncated");
    txns_applied.insert(txn_id);
    return 0;
  }
  RecoveredTxnAppend a;
  a.txn_id = r.u64();
  next_message_id = std::max(next_message_id, a.txn_id + 1);  // txn ids are message ids
  a.sid = r.u32();
  a.partition = r.u32();
  const std::uint32_t key = r.u32();
  a.has_key = key != 0;
  if (a.has_key) a.key = r.take_view(key - 1);
  a.dedup_id = r.str16();
  const std::uint16_t n = r.u16();
  for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
    std::string k(r.str16());
    a.headers.emplace_back(std::move(k), std::string(r.str32()));
  }
  if (!r.ok()) return bad(record, "truncated");
  const std::span<const std::byte> payload = r.rest();
  a.payload.assign(reinterpret_cast<const char *>(payload.data()), payload.size());
  txn_appends.push_back(std::move(a));
  return 0;
}

namespace {
/// Settled offsets that reach the committed one move it on (as the live group does): a
/// transaction's acks are logged as "settled in generation g" without the committed offset after.
void advance_committed(RecoveredGroupPartition &part) {
  while (!part.settled.empty() && *part.settled.begin() <= part.committed) {
    if (*part.settled.begin() == part.committed) ++part.committed;
    part.settled.erase(part.settled.begin());
  }
}
}  // namespace

int RecoveredState::apply_group(const wal::RecoveredRecord &record) {
  if (record.type == records::declare_group) {
    std::uint32_t sid = 0;
    std::string name, option_error;
    GroupOptions options;
    if (!records::decode_group_declare(record.payload, sid, name, options, option_error))
      return bad(record, option_error.c_str());
    // A checkpoint declares a live group again: its progress so far stays.
    groups[{sid, name}].options = std::move(options);
    return 0;
  }
  if (record.type == records::delete_group) {
    records::Reader r(record.payload);
    const std::uint32_t sid = r.u32();
    const std::string name(r.str16());
    if (!r.ok()) return bad(record, "truncated");
    groups.erase({sid, name});
    return 0;
  }
  records::GroupProgress p;
  if (!records::decode_group_progress(record.payload, p)) return bad(record, "truncated");
  auto g = groups.find({p.sid, p.group});
  if (g == groups.end()) return 0;  // deleted since
  RecoveredGroupPartition &part = g->second.partitions[p.partition];
  switch (p.kind) {
    case records::Progress::settle:
      if (p.has_generation && p.generation < part.generation) return 0;
      if (p.has_generation && p.generation > part.generation) {
        // The reset that began this generation was released with the segments before a
        // checkpoint whose copy of the group comes later in the log (this settle was logged after
        // the copy was taken, before the checkpoint's batch): the settle is the base until the
        // copy merges in. Left at the old generation, the copy would replace it and take back
        // the settle: a durable ack undone (the SIGKILL test, seed 6606).
        part.generation = p.generation;
        part.committed = p.b;
        part.settled.clear();
        part.failed.clear();
      }
      if (p.a >= part.committed) part.settled.insert(p.a);
      part.failed.erase(p.a);
      // The committed offset never moves back but by a reset (a seek).
      part.committed = std::max(part.committed, p.b);
      advance_committed(part);
      part.failed.erase(part.failed.begin(), part.failed.lower_bound(part.committed));
      return 0;
    case records::Progress::reset:
      part.generation = p.b;
      part.committed = p.a;
      part.settled.clear();
      part.failed.clear();
      return 0;
    case records::Progress::failed:
      if (p.a >= part.committed) part.failed[p.a] = static_cast<std::uint32_t>(p.b);
      return 0;
    case records::Progress::snapshot_committed:
      if (p.b < part.generation) return 0;  // copied before a seek that came before it here
      if (p.b > part.generation) {          // the reset it follows was released: it is the base
        part.generation = p.b;
        part.committed = p.a;
        part.settled.clear();
        part.failed.clear();
        return 0;
      }
      part.committed = std::max(part.committed, p.a);  // acks logged after the copy stay
      part.settled.erase(part.settled.begin(), part.settled.lower_bound(part.committed));
      part.failed.erase(part.failed.begin(), part.failed.lower_bound(part.committed));
      return 0;
    case records::Progress::snapshot_settled:
      if (p.b > part.generation) {
        // A transaction's ack (its batch holds these too) logged after a checkpoint's copy of the
        // group, the reset of its generation released: as for a settle above, but the committed
        // offset is not known until the copy that follows merges in.
        part.generation = p.b;
        part.committed = 0;
        part.settled.clear();
        part.failed.clear();
      }
      if (p.b == part.generation && p.a >= part.committed) {
        part.settled.insert(p.a);
        part.failed.erase(p.a);
        advance_committed(part);
        part.failed.erase(part.failed.begin(), part.failed.lower_bound(part.committed));
      }
      return 0;
    case records::Progress::snapshot_failed:
      if ((p.b >> 8) == part.generation && p.a >= part.committed && part.settled.count(p.a) == 0)
        part.failed.emplace(p.a, static_cast<std::uint32_t>(p.b & 255));
      return 0;
  }
  return 0;
}

int RecoveredState::apply_topology(const wal::RecoveredRecord &record) {
  switch (record.type) {
    case records::declare_exchange: {
      std::uint32_t xid = 0;
      RecoveredExchange x;
      std::string option_error;
      if (!records::decode_exchange_declare(record.payload, xid, x.name, x.type, x.options,
                                            option_error))
        return bad(record, option_error.c_str());
      if (x.type > 3) return bad(record, "unknown exchange type");
      exchanges.try_emplace(xid, std::move(x));  // a checkpoint repeats live ones
      next_xid = std::max(next_xid, xid + 1);
      return 0;
    }
    case records::delete_exchange: {
      records::Reader r(record.payload);
      const std::uint32_t xid = r.u32();
      if (!r.ok()) return bad(record, "truncated");
      exchanges.erase(xid);
      drop_bindings([&](const records::Binding &b) {
        return b.source_xid == xid || (b.to_exchange && b.destination_id == xid);
      });
      return 0;
    }
    default: {  // bind, unbind
      records::Binding b;
      if (!records::decode_binding(record.payload, b)) return bad(record, "truncated binding");
      std::string identity(reinterpret_cast<const char *>(record.payload.data()),
                           record.payload.size());
      if (record.type == records::bind) {
        bindings.insert_or_assign(std::move(identity), std::move(b));
      } else {
        bindings.erase(identity);
      }
      return 0;
    }
  }
}

int RecoveredState::apply_dead_letter(const wal::RecoveredRecord &record) {
  records::Reader r(record.payload);
  const std::uint32_t from = r.u32();
  const std::uint32_t to = r.u32();
  const std::uint64_t id = r.u64();
  const std::int64_t time_ms = r.i64();
  const std::int64_t expires = r.i64();
  const std::string_view reason = r.str16();
  const std::string_view origin = r.str16();
  const std::string_view detail = r.str16();
  if (!r.ok()) return bad(record, "truncated");
  RecoveredMessage *m = move(from, to, id);
  if (m == nullptr) return 0;
  Message *moved = make_dead_letter(*m->message, DeathNote{reason, origin, time_ms, detail});
  if (moved == nullptr) {
    error = "out of memory rebuilding dead-lettered message " + std::to_string(id);
    return -ENOMEM;
  }
  moved->expires_at_ms = expires;
  free_message(m->message);
  m->message = moved;
  m->due_ms = 0;
  return 0;
}

}  // namespace corq::core
