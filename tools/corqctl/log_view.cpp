// tools/corqctl/log_view.cpp — the read-only rebuild of a directory's state (see log_view.hpp).
#include "log_view.hpp"

#include "durability/records.hpp"
#include "exit_codes.hpp"
#include "io/vfs.hpp"
#include "routing/exchange.hpp"
#include "stream/reader.hpp"
#include "stream/stream_log.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace corqctl {

namespace records = corq::core::records;
using corq::wal::RecoveredRecord;

const char *state_name(MessageState state) noexcept {
  switch (state) {
    case MessageState::ready: return "ready";
    case MessageState::in_flight: return "in_flight";
    case MessageState::delayed: return "delayed";
  }
  return "unknown";
}

const QueueView *LogView::find(std::string_view name) const noexcept {
  for (const QueueView &q : queues) {
    if (q.name == name) return &q;
  }
  return nullptr;
}

const StreamView *LogView::find_stream(std::string_view name) const noexcept {
  for (const StreamView &s : streams) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::uint64_t LogView::dead_letter_depth(const QueueView &queue) const noexcept {
  if (queue.dead_letter_queue.empty()) return 0;
  const QueueView *dlq = find(queue.dead_letter_queue);
  return dlq == nullptr ? 0 : dlq->total();
}

int scan_directory(const std::string &dir, const corq::wal::ScanVisitor &visitor,
                   corq::wal::ScanResult &result, const std::string &visitor_error,
                   std::string &error) {
  const auto vfs = corq::wal::make_psync_vfs();
  const int rc = corq::wal::scan_log(*vfs, dir, visitor, result);
  if (rc == 0) return exit_ok;
  if (rc == -EBADMSG) {
    error = "CORRUPT: " + result.error;
    return exit_corrupt;
  }
  if (rc > 0) {
    error = "CORRUPT: " + visitor_error;
    return exit_corrupt;
  }
  std::error_code ec;
  if (rc == -ENOENT && !std::filesystem::exists(dir, ec)) {
    error = "no such directory";
  } else if (rc == -ENOENT) {
    error = "cannot read " + result.error +
            ": the process using this directory released the segment while it was being read "
            "(a checkpoint); run the command again";
  } else {
    error = std::string("cannot read: ") + std::strerror(-rc);
    if (!result.error.empty()) error += " (" + result.error + ")";
  }
  return exit_unreadable;
}

namespace {

/// Keeps `in_flight` the set of message copies delivered and not settled since (as far as the log
/// says). Keyed by queue as well as id: the copies of a fanned-out message share one id.
void track_in_flight(
    const RecoveredRecord &record,
    std::unordered_set<corq::core::MessageKey, corq::core::MessageKeyHash> &in_flight) {
  records::Reader r(record.payload);
  switch (record.type) {
    case records::deliver:
    case records::remove: {
      const std::uint32_t qid = r.u32();
      const std::uint32_t n = r.u32();
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        const std::uint64_t id = r.u64();
        if (!r.ok()) break;
        if (record.type == records::deliver) {
          in_flight.insert({qid, id});
        } else {
          in_flight.erase({qid, id});
        }
      }
      return;
    }
    case records::retry:
    case records::dead_letter:
    case records::redrive: {
      // Each names the queue the message leaves (or is retried in) first; dead_letter and
      // redrive the queue it enters second.
      const std::uint32_t qid = r.u32();
      if (record.type != records::retry) r.u32();
      in_flight.erase({qid, r.u64()});
      return;
    }
    default: return;  // a publish repeating a live message (compaction) keeps its state
  }
}

/// The *.wal files of the log in `dir` and their sizes.
void count_segment_files(const std::string &dir, std::uint64_t &files, std::uint64_t &bytes) {
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    std::uint64_t id = 0;
    if (!corq::wal::parse_segment_file_name(entry.path().filename().string(), id)) continue;
    const std::uintmax_t size = entry.file_size(ec);
    if (ec) continue;  // released between listing and stat: it is gone
    ++files;
    bytes += size;
  }
}

void add_message(QueueView &q, const corq::core::RecoveredMessage &m, bool in_flight,
                 std::int64_t now_ms) {
  MessageView view{m.message, MessageState::ready, 0};
  if (in_flight) {
    view.state = MessageState::in_flight;
    ++q.in_flight;
  } else if (m.due_ms > now_ms) {
    view.state = MessageState::delayed;
    view.due_ms = m.due_ms;
    ++q.delayed;
  } else {
    ++q.ready;
    q.bytes_ready += m.message->payload_len;
    if (q.oldest_ready_published_ms == 0 ||
        m.message->published_at_ms < q.oldest_ready_published_ms)
      q.oldest_ready_published_ms = m.message->published_at_ms;
  }
  q.bytes += m.message->payload_len;
  q.messages.push_back(view);
}

/// Builds the queue views from the replayed state, as Engine::install would place the messages.
void build_queues(LogView &out) {
  std::unordered_map<std::uint32_t, std::size_t> index_of;
  for (const auto &[qid, recovered] : out.state.queues) {
    QueueView q;
    q.qid = qid;
    q.name = recovered.name;
    q.options = recovered.options;
    q.dead_letter_queue = recovered.options.dead_letter_queue_for(recovered.name);
    out.queues.push_back(std::move(q));
  }
  std::sort(out.queues.begin(), out.queues.end(),
            [](const QueueView &a, const QueueView &b) { return a.name < b.name; });
  for (std::size_t i = 0; i < out.queues.size(); ++i) index_of.emplace(out.queues[i].qid, i);
  std::vector<const corq::core::RecoveredMessage *> ordered;
  ordered.reserve(out.state.messages.size());
  for (const auto &[id, m] : out.state.messages) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto *a, const auto *b) { return a->message->id < b->message->id; });
  for (const auto *m : ordered) {
    auto it = index_of.find(m->qid);
    if (it == index_of.end()) continue;  // its queue is gone: corq_open drops it too
    add_message(out.queues[it->second], *m, out.in_flight.contains({m->qid, m->message->id}),
                out.now_ms);
  }
}

/// Builds the exchange and binding views from the replayed state. A binding whose end is not in
/// the state (its deletion released from the log with it) is left out, as
/// Engine::install_topology leaves it out: the view shows what corq_open would bind.
void build_topology(LogView &out) {
  std::unordered_map<std::uint32_t, std::size_t> exchange_of;
  for (const auto &[xid, recovered] : out.state.exchanges) {
    ExchangeView x;
    x.xid = xid;
    x.name = recovered.name;
    x.type = corq::core::routing::exchange_type_name(
        static_cast<corq::core::routing::ExchangeType>(recovered.type));
    x.options = recovered.options;
    out.exchanges.push_back(std::move(x));
  }
  std::sort(out.exchanges.begin(), out.exchanges.end(),
            [](const ExchangeView &a, const ExchangeView &b) { return a.name < b.name; });
  for (std::size_t i = 0; i < out.exchanges.size(); ++i)
    exchange_of.emplace(out.exchanges[i].xid, i);
  std::unordered_map<std::uint32_t, const std::string *> queue_name;
  for (const QueueView &q : out.queues) queue_name.emplace(q.qid, &q.name);
  for (const auto &[identity, b] : out.state.bindings) {
    auto source = exchange_of.find(b.source_xid);
    if (source == exchange_of.end()) continue;
    BindingView view;
    view.source = out.exchanges[source->second].name;
    view.to_exchange = b.to_exchange;
    if (b.to_exchange) {
      auto destination = exchange_of.find(b.destination_id);
      if (destination == exchange_of.end()) continue;
      view.destination = out.exchanges[destination->second].name;
    } else {
      auto destination = queue_name.find(b.destination_id);
      if (destination == queue_name.end()) continue;
      view.destination = *destination->second;
    }
    view.key = b.key;
    view.arguments = b.arguments;
    ++out.exchanges[source->second].bindings;
    out.bindings.push_back(std::move(view));
  }
  std::sort(out.bindings.begin(), out.bindings.end(),
            [](const BindingView &a, const BindingView &b) {
              return std::tie(a.source, a.to_exchange, a.destination, a.key, a.arguments) <
                     std::tie(b.source, b.to_exchange, b.destination, b.key, b.arguments);
            });
}

/// The stream views from the replayed state, without their records (load_streams reads those).
void build_streams(const std::string &dir, LogView &out) {
  for (const auto &[sid, recovered] : out.state.streams) {
    StreamView s;
    s.sid = sid;
    s.name = recovered.name;
    s.options = recovered.options;
    s.directory = corq::core::stream::stream_directory(dir, sid);
    out.streams.push_back(std::move(s));
  }
  std::sort(out.streams.begin(), out.streams.end(),
            [](const StreamView &a, const StreamView &b) { return a.name < b.name; });
}

/// One scan into `out` (nothing of it is finished: see finish()).
int scan_once(const std::string &dir, LogView &out, std::string &error) {
  corq::wal::FrameInfo frame{};
  std::string decode_error;
  corq::wal::ScanVisitor visitor;
  visitor.frame = [&](const corq::wal::FrameInfo &f) {
    if (out.frames == 0 || f.segment_id != frame.segment_id) ++out.log_segments;
    frame = f;
    ++out.frames;
    out.log_bytes += f.frame_bytes;
  };
  visitor.record = [&](const RecoveredRecord &record) {
    if (const int rc = out.state.apply(record); rc != 0) {
      decode_error = corq::wal::segment_file_name(frame.segment_id) + ": frame at offset " +
                     std::to_string(frame.offset) + ": " +
                     (rc == -ENOMEM ? "out of memory: " : "") + out.state.error;
      return 1;
    }
    out.last_lsn = record.lsn;
    track_in_flight(record, out.in_flight);
    return 0;
  };
  corq::wal::ScanResult result;
  const int rc = scan_directory(dir, visitor, result, decode_error, error);
  out.torn_tail = rc == exit_ok && result.torn_tail;
  out.unflushed_after_end = rc == exit_ok ? result.unflushed_after_end.size() : 0;
  return rc;
}

void finish(const std::string &dir, LogView &out) {
  out.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  count_segment_files(dir, out.segment_files, out.bytes_on_disk);
  build_queues(out);
  build_topology(out);
  build_streams(dir, out);
}

}  // namespace

namespace {

/// Before scan number `attempt` (1, 2, ...) after one that stopped early: the writer may be in the
/// middle of the frame there (descheduled on a loaded machine), so give it a little longer each
/// time.
void pause_before(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_pause_ms * attempt));
}

}  // namespace

bool log_moved_past(const std::string &dir, corq::wal::Lsn last_lsn) {
  for (int attempt = 1; attempt < scan_attempts_max; ++attempt) {
    pause_before(attempt);
    corq::wal::Lsn seen = 0;
    corq::wal::ScanVisitor visitor;
    visitor.record = [&](const RecoveredRecord &record) {
      seen = record.lsn;
      return 0;
    };
    corq::wal::ScanResult result;
    std::string error;
    const int rc = scan_directory(dir, visitor, result, {}, error);
    if (rc != exit_unreadable && seen > last_lsn) return true;
  }
  return false;
}

namespace {

/// The scans of one log — the engine's, or a stream's — until one can be trusted (see the top of
/// log_view.hpp): `make()` gives a fresh view, `scan(view, error)` scans into it and returns an
/// exit code, leaving in view.last_lsn the last record it read. A scan that stops at what looks
/// like corruption is kept when a later one reads past it (marked moving_tail); one that found a
/// segment released under it is done again. `dir` is the log's directory.
template <class View, class Make, class Scan>
int scan_consistently(const std::string &dir, Make &&make, Scan &&scan, std::unique_ptr<View> &out,
                      std::string &error) {
  std::unique_ptr<View> stopped;  // the earliest scan that stopped at what looked like corruption
  int rc = exit_unreadable;
  for (int attempt = 0; attempt < scan_attempts_max; ++attempt) {
    if (attempt > 0) pause_before(attempt);
    std::unique_ptr<View> view = make();
    rc = scan(*view, error);
    if (rc == exit_ok) {
      out = std::move(view);
      return exit_ok;
    }
    std::error_code ec;
    if (rc == exit_unreadable) {
      if (!std::filesystem::is_directory(dir, ec)) return rc;
      continue;  // a segment released between listing and reading it (or unreadable): again
    }
    if (stopped != nullptr && view->last_lsn > stopped->last_lsn) {
      // The log moved on past where the earlier scan stopped: that was its tail being written.
      stopped->moving_tail = true;
      out = std::move(stopped);
      return exit_ok;
    }
    if (stopped == nullptr || view->last_lsn < stopped->last_lsn) stopped = std::move(view);
  }
  return rc;  // every scan stopped at the same record: corrupt (or unreadable every time)
}

}  // namespace

int load_log_view(const std::string &dir, std::unique_ptr<LogView> &out, std::string &error) {
  const int rc = scan_consistently(
      dir, [] { return std::make_unique<LogView>(); },
      [&dir](LogView &view, std::string &scan_error) { return scan_once(dir, view, scan_error); },
      out, error);
  if (rc == exit_ok) finish(dir, *out);
  return rc;
}

namespace {

namespace stream = corq::core::stream;

/// One scan of a stream's log into `view` (a fresh copy of the stream's view: its records are
/// restored into a new stream::Stream).
int scan_stream_once(StreamView &view, std::string &error) {
  view.stream = std::make_shared<stream::Stream>(view.name, view.options);
  std::error_code ec;
  if (!std::filesystem::exists(view.directory, ec)) return exit_ok;  // no log yet: empty
  corq::wal::FrameInfo frame{};
  std::string decode_error;
  corq::wal::ScanVisitor visitor;
  visitor.frame = [&](const corq::wal::FrameInfo &f) {
    frame = f;
    ++view.frames;
  };
  visitor.record = [&](const RecoveredRecord &record) {
    std::string why;
    int rc = CORQ_ECORRUPT;
    if (record.type == stream::StreamLog::record_type_record) {
      rc = stream::restore_logged_record(*view.stream, record, why);
    } else if (record.type == stream::StreamLog::record_type_marks) {
      rc = stream::restore_logged_marks(*view.stream, record, why);
    } else if (record.type == stream::StreamLog::record_type_txn) {
      // Which committed transaction appended the batch before it (u64 txn_id, u32 record number).
      corq::core::records::Reader r(record.payload);
      const std::uint64_t txn_id = r.u64();
      const std::uint32_t seq = r.u32();
      if (r.ok()) {
        view.txn_marks.emplace(txn_id, seq);
        rc = CORQ_OK;
      } else {
        why = "bad txn record";
      }
    } else {
      why = "unknown record type " + std::to_string(record.type);
    }
    if (rc != CORQ_OK) {
      decode_error = corq::wal::segment_file_name(frame.segment_id) + ": frame at offset " +
                     std::to_string(frame.offset) + ": LSN " + std::to_string(record.lsn) + ": " +
                     (rc == CORQ_ENOMEM ? "out of memory: " : "") + why;
      return 1;
    }
    view.last_lsn = record.lsn;
    return 0;
  };
  corq::wal::ScanResult result;
  const int rc = scan_directory(view.directory, visitor, result, decode_error, error);
  if (rc == exit_unreadable && !std::filesystem::exists(view.directory, ec)) {
    // The stream was deleted while it was read: it is gone, as it will be at the next open.
    view.stream = std::make_shared<stream::Stream>(view.name, view.options);
    return exit_ok;
  }
  view.torn_tail = rc == exit_ok && result.torn_tail;
  return rc;
}

const char *mode_name(corq::core::GroupMode mode) noexcept {
  switch (mode) {
    case corq::core::GroupMode::ordered: return "ordered";
    case corq::core::GroupMode::shared: return "shared";
    case corq::core::GroupMode::key_ordered: return "key_ordered";
  }
  return "unknown";
}

/// The committed offset of one partition of a group as corq_open would restore it: the log's,
/// clamped to the partition's end (Group::restore), moved up to the first retained offset past
/// what it settled (Group::catch_up_locked); the group's start when the log has none for it (a
/// crash between the group's declaration and its first progress: Group's constructor).
std::uint64_t committed_offset(const corq::core::RecoveredGroup &group,
                               stream::Partition &partition) {
  const std::uint64_t first = partition.first();
  const std::uint64_t end = partition.end();
  auto it = group.partitions.find(partition.index());
  if (it == group.partitions.end()) {
    std::uint64_t offset = 0, skipped = 0;
    std::string ignored;  // the start was checked when the group's options were parsed
    stream::resolve_start(group.options.start, partition, offset, skipped, ignored);
    return offset;
  }
  std::uint64_t committed = std::min(it->second.committed, end);
  if (committed >= first) return committed;
  committed = first;
  for (auto settled = it->second.settled.lower_bound(first);
       settled != it->second.settled.end() && *settled == committed && committed < end; ++settled)
    ++committed;
  return committed;
}

void build_groups(const LogView &view, StreamView &s) {
  const auto &groups = view.state.groups;
  for (auto g = groups.lower_bound({s.sid, std::string()});
       g != groups.end() && g->first.first == s.sid; ++g) {
    GroupView group;
    group.name = g->first.second;
    group.options = g->second.options;
    group.mode = mode_name(group.options.mode);
    group.dead_letter_queue = group.options.dead_letter_queue_set
                                  ? group.options.dead_letter_queue
                                  : s.name + "." + group.name + ".dlq";
    for (std::uint32_t p = 0; p < s.stream->partition_count(); ++p) {
      stream::Partition &partition = s.stream->partition(p);
      GroupPartitionView part;
      part.committed = committed_offset(g->second, partition);
      part.lag = partition.end() > part.committed ? partition.end() - part.committed : 0;
      group.lag += part.lag;
      group.partitions.push_back(part);
    }
    s.groups.push_back(std::move(group));
  }
}

/// Restores one stream's records (see load_streams).
int load_stream(const LogView &view, StreamView &s, std::string &error) {
  std::unique_ptr<StreamView> loaded;
  const StreamView skeleton = s;
  const int rc = scan_consistently(
      s.directory, [&skeleton] { return std::make_unique<StreamView>(skeleton); }, scan_stream_once,
      loaded, error);
  if (rc != exit_ok) {
    error = "stream '" + s.name + "' (" + s.directory + "): " + error;
    return rc;
  }
  s = std::move(*loaded);
  s.stream->enforce_retention(view.now_ms);  // the limits again over what was read back
  for (std::uint32_t p = 0; p < s.stream->partition_count(); ++p) {
    const stream::Partition &partition = s.stream->partition(p);
    const StreamPartitionView part{partition.first(), partition.end(), partition.bytes()};
    s.records += part.records();
    s.bytes += part.bytes;
    s.partitions.push_back(part);
  }
  count_segment_files(s.directory, s.segment_files, s.bytes_on_disk);
  build_groups(view, s);
  return exit_ok;
}

}  // namespace

int load_streams(LogView &view, std::string_view only, std::string &error) {
  for (StreamView &s : view.streams) {
    if (!only.empty() && s.name != only) continue;
    if (const int rc = load_stream(view, s, error); rc != exit_ok) return rc;
  }
  return exit_ok;
}

TxnView transactions_of(const LogView &view) {
  const corq::core::RecoveredState &state = view.state;
  TxnView t;
  t.counters_known = state.txn_counters.from_checkpoint;
  t.committed_at_checkpoint = state.txn_counters.committed;
  t.committed_after_checkpoint = state.txn_counters.commits_after.size();
  t.aborted = state.txn_counters.aborted;
  t.failed = state.txn_counters.failed;
  std::unordered_map<std::uint32_t, const StreamView *> by_sid;
  for (const StreamView &s : view.streams) by_sid.emplace(s.sid, &s);
  // As Engine::reappend_committed_streams: a transaction's records are consecutive in the log and
  // numbered in that order; one its stream's log does not name is appended again (unless the
  // stream is gone or has fewer partitions now).
  const auto &appends = state.txn_appends;
  for (std::size_t i = 0, end = 0; i < appends.size(); i = end) {
    const std::uint64_t txn_id = appends[i].txn_id;
    end = i;
    while (end < appends.size() && appends[end].txn_id == txn_id) ++end;
    if (state.txns_applied.contains(txn_id)) continue;
    ++t.stream_unconfirmed;
    for (std::size_t k = i; k < end; ++k) {
      const auto found = by_sid.find(appends[k].sid);
      if (found == by_sid.end()) continue;  // deleted since: its records went with it
      const StreamView &s = *found->second;
      const auto seq = static_cast<std::uint32_t>(k - i);
      const bool loaded = s.stream != nullptr;
      if (loaded &&
          (s.txn_marks.contains({txn_id, seq}) || appends[k].partition >= s.partitions.size()))
        continue;
      ++t.stream_reappend_pending;
      break;
    }
  }
  return t;
}

}  // namespace corqctl
