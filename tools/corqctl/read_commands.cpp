// tools/corqctl/read_commands.cpp — inspect, verify, dump, stats, dlq list, stream read (see
// read_commands.hpp).
#include "read_commands.hpp"

#include "durability/records.hpp"
#include "exit_codes.hpp"
#include "log_view.hpp"
#include "stream/reader.hpp"
#include "text.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <queue>
#include <set>
#include <string_view>
#include <tuple>

namespace corqctl {

namespace {

namespace records = corq::core::records;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

int fail(const std::string &dir, int code, const std::string &error) {
  std::fprintf(stderr, "corqctl: %s: %s\n", dir.c_str(), error.c_str());
  return code;
}

int no_queue(const std::string &dir, const std::string &queue) {
  return fail(dir, exit_no_queue, "no queue '" + queue + "' in the log");
}

int no_exchange(const std::string &dir, const std::string &exchange) {
  return fail(dir, exit_no_queue, "no exchange '" + exchange + "' in the log");
}

int no_stream(const std::string &dir, const std::string &stream) {
  return fail(dir, exit_no_queue, "no stream '" + stream + "' in the log");
}

/// Loads the view; on failure prints the error and returns the exit code (else exit_ok).
int load(const std::string &dir, std::unique_ptr<LogView> &view) {
  std::string error;
  const int rc = load_log_view(dir, view, error);
  return rc == exit_ok ? rc : fail(dir, rc, error);
}

/// Loads the view and the records of its streams (of `only`, when not empty).
int load_with_streams(const std::string &dir, std::unique_ptr<LogView> &view,
                      std::string_view only = {}) {
  if (const int rc = load(dir, view); rc != exit_ok) return rc;
  std::string error;
  const int rc = load_streams(*view, only, error);
  return rc == exit_ok ? rc : fail(dir, rc, error);
}

/// Said after the numbers of a view of a log that was being written while it was read.
const char *moving_tail_note(const LogView &view) {
  return view.moving_tail ? " (the log is being written: state as of its last lsn read)" : "";
}

std::int64_t oldest_ready_age_ms(const LogView &view, const QueueView &q) {
  if (q.oldest_ready_published_ms == 0) return 0;
  const std::int64_t age = view.now_ms - q.oldest_ready_published_ms;
  return age > 0 ? age : 0;
}

void print_log_summary(const LogView &view) {
  std::printf(
      "log: %llu segment files, %llu bytes on disk; %llu segments hold the log (%llu bytes of "
      "frames), %llu frames, %llu records, last lsn %llu%s\n",
      ull(view.segment_files), ull(view.bytes_on_disk), ull(view.log_segments), ull(view.log_bytes),
      ull(view.frames), ull(view.state.records), ull(view.last_lsn),
      view.torn_tail ? " (torn tail: an unconfirmed last write, cut off at the next open)"
                     : moving_tail_note(view));
}

void print_queue(const LogView &view, const QueueView &q) {
  std::printf("queue %s\n  options:", q.name.c_str());
  for (const auto &[key, value] : corq::core::queue_options_map(q.options)) {
    if (key == "dead_letter_queue") continue;  // printed below, resolved to its name
    std::printf(" %s=%s", key.c_str(), value.c_str());
  }
  std::printf("\n  messages: %llu ready (%llu bytes), %llu in flight, %llu delayed\n", ull(q.ready),
              ull(q.bytes_ready), ull(q.in_flight), ull(q.delayed));
  if (q.dead_letter_queue.empty()) {
    std::printf("  dead-letter queue: none\n");
  } else {
    std::printf("  dead-letter queue: %s (%llu messages)\n", q.dead_letter_queue.c_str(),
                ull(view.dead_letter_depth(q)));
  }
  if (q.ready != 0)
    std::printf("  oldest ready message: %lld ms old\n",
                static_cast<long long>(oldest_ready_age_ms(view, q)));
}

/// A binding's key and arguments: key="..." [arguments: k="v" k2 (present) ...]; bytes escaped as
/// printable() does (keys and values may hold any byte).
std::string binding_text(const BindingView &b) {
  std::string out = "key=\"" + printable(b.key, b.key.size()) + "\"";
  if (b.arguments.empty()) return out;
  out += " arguments:";
  for (const auto &argument : b.arguments) {
    // Appended piece by piece: GCC 12 -O2 warns falsely on "literal" + temporary (bug 105329).
    out += ' ';
    out += printable(argument.key, argument.key.size());
    // A NULL value matches on the header's presence alone: not the same as an empty value.
    if (argument.has_value) {
      out += "=\"";
      out += printable(argument.value, argument.value.size());
      out += '"';
    } else {
      out += " (present)";
    }
  }
  return out;
}

void print_exchange(const LogView &view, const ExchangeView &x) {
  std::printf("exchange %s\n  type: %s\n  options:", x.name.c_str(), x.type);
  for (const auto &[key, value] : corq::core::exchange_options_map(x.options))
    std::printf(" %s=%s", key.c_str(), value.c_str());
  std::printf("\n  bindings: %llu\n", ull(x.bindings));
  // view.bindings is sorted by source first: a directory with many exchanges and thousands of
  // bindings prints without a scan of every binding per exchange.
  struct BySource {
    bool operator()(const BindingView &b, const std::string &name) const { return b.source < name; }
    bool operator()(const std::string &name, const BindingView &b) const { return name < b.source; }
  };
  const auto [begin, end] =
      std::equal_range(view.bindings.begin(), view.bindings.end(), x.name, BySource{});
  for (auto it = begin; it != end; ++it) {
    const BindingView &b = *it;
    std::printf("    -> %s %s %s\n", b.to_exchange ? "exchange" : "queue", b.destination.c_str(),
                binding_text(b).c_str());
  }
}

void print_group(const GroupView &g) {
  std::printf("  group %s\n    mode: %s\n    options:", g.name.c_str(), g.mode.c_str());
  for (const auto &[key, value] : corq::core::group_options_map(g.options)) {
    if (key == "mode" || key == "dead_letter_queue") continue;  // printed on lines of their own
    std::printf(" %s=%s", key.c_str(), value.c_str());
  }
  std::printf("\n    dead-letter queue: %s\n",
              g.dead_letter_queue.empty() ? "none" : g.dead_letter_queue.c_str());
  std::printf("    members: 0 (the log has none: members exist only in a running engine)\n");
  std::printf("    lag: %llu\n", ull(g.lag));
  for (std::size_t p = 0; p < g.partitions.size(); ++p)
    std::printf("    partition %zu: committed offset %llu, lag %llu\n", p,
                ull(g.partitions[p].committed), ull(g.partitions[p].lag));
}

void print_stream(const StreamView &s) {
  std::printf("stream %s\n  options:", s.name.c_str());
  for (const auto &[key, value] : corq::core::stream_options_map(s.options))
    std::printf(" %s=%s", key.c_str(), value.c_str());
  std::printf("\n  records: %llu (%llu bytes) in %zu partitions\n", ull(s.records), ull(s.bytes),
              s.partitions.size());
  std::printf("  log: %s, %llu segment files, %llu bytes on disk, %llu frames, last lsn %llu%s\n",
              s.directory.c_str(), ull(s.segment_files), ull(s.bytes_on_disk), ull(s.frames),
              ull(s.last_lsn),
              s.torn_tail     ? " (torn tail: an unconfirmed last write, cut off at the next open)"
              : s.moving_tail ? " (the log is being written: state as of its last lsn read)"
                              : "");
  for (std::size_t p = 0; p < s.partitions.size(); ++p) {
    const StreamPartitionView &part = s.partitions[p];
    std::printf("  partition %zu: first offset %llu, end offset %llu, %llu records, %llu bytes\n",
                p, ull(part.first), ull(part.end), ull(part.records()), ull(part.bytes));
  }
  std::printf("  groups: %zu\n", s.groups.size());
  for (const GroupView &g : s.groups) print_group(g);
}

}  // namespace

int run_inspect(const std::string &dir) {
  std::unique_ptr<LogView> loaded;
  if (const int rc = load_with_streams(dir, loaded); rc != exit_ok) return rc;
  const LogView &view = *loaded;
  std::printf("directory %s (read from the log without its lock)\n", dir.c_str());
  print_log_summary(view);
  std::printf("queues: %zu\n", view.queues.size());
  for (const QueueView &q : view.queues) print_queue(view, q);
  std::printf("exchanges: %zu\n", view.exchanges.size());
  for (const ExchangeView &x : view.exchanges) print_exchange(view, x);
  std::printf("streams: %zu\n", view.streams.size());
  for (const StreamView &s : view.streams) print_stream(s);
  return exit_ok;
}

int run_verify(const std::string &dir) {
  std::unique_ptr<LogView> loaded;
  if (const int rc = load_with_streams(dir, loaded); rc != exit_ok) return rc;
  const LogView &view = *loaded;
  std::uint64_t messages = 0, stream_records = 0;
  for (const QueueView &q : view.queues) messages += q.total();
  for (const StreamView &s : view.streams) stream_records += s.records;
  std::printf(
      "%s: ok: %llu segments, %llu frames, %llu records (every checksum checked, every record "
      "decoded), last lsn %llu, %zu queues, %llu live messages, %zu exchanges, %zu bindings, %zu "
      "streams (their logs checked too), %llu stream records%s\n",
      dir.c_str(), ull(view.log_segments), ull(view.frames), ull(view.state.records),
      ull(view.last_lsn), view.queues.size(), ull(messages), view.exchanges.size(),
      view.bindings.size(), view.streams.size(), ull(stream_records),
      view.torn_tail ? " (torn tail: an unconfirmed last write will be cut off at open)"
                     : moving_tail_note(view));
  if (view.unflushed_after_end > 0) {
    std::printf(
        "%s: note: %zu unflushed frame(s) (sync=none) after the end: a power loss kept them and "
        "lost an earlier write; they are not part of the log and the next open invalidates them\n",
        dir.c_str(), view.unflushed_after_end);
  }
  return exit_ok;
}

namespace {

/// scan_directory on a log that may be being written: a stop that a second scan reads past is the
/// tail being written (see log_view.hpp), reported with `moving` and exit_ok, not as corruption.
/// A segment released by the service between listing and reading is retried while the visitor
/// has seen nothing yet (it may have printed).
int scan_live(const std::string &dir, const corq::wal::ScanVisitor &visitor,
              corq::wal::ScanResult &result, bool &moving, std::string &error) {
  corq::wal::Lsn last_lsn = 0;
  bool visited = false;
  corq::wal::ScanVisitor tracking;
  tracking.frame = [&](const corq::wal::FrameInfo &f) {
    visited = true;
    if (visitor.frame) visitor.frame(f);
  };
  tracking.record = [&](const corq::wal::RecoveredRecord &r) {
    visited = true;
    last_lsn = r.lsn;
    return visitor.record(r);
  };
  int rc = exit_unreadable;
  for (int attempt = 0; attempt < scan_attempts_max; ++attempt) {
    result = {};
    rc = scan_directory(dir, tracking, result, {}, error);
    std::error_code ec;
    if (rc != exit_unreadable || visited || !std::filesystem::is_directory(dir, ec)) break;
  }
  moving = rc == exit_corrupt && log_moved_past(dir, last_lsn);
  return moving ? exit_ok : rc;
}

/// The ids the log ever gave `name` as a queue (`declare` records) or as an exchange
/// (`declare_exchange`): one deleted and declared again gets a new one.
int declared_ids(const std::string &dir, std::uint8_t declaration, const std::string &name,
                 std::set<std::uint32_t> &ids) {
  corq::wal::ScanVisitor visitor;
  visitor.record = [&](const corq::wal::RecoveredRecord &r) {
    if (r.type != declaration) return 0;
    records::Reader reader(r.payload);
    const std::uint32_t id = reader.u32();
    if (reader.ok() && reader.str16() == name) ids.insert(id);
    return 0;
  };
  corq::wal::ScanResult result;
  std::string error;
  bool moving = false;
  const int rc = scan_live(dir, visitor, result, moving, error);
  return rc == exit_ok ? rc : fail(dir, rc, error);
}

/// True if `record` is about one of the queues `qids`: the queue records start with their queue
/// id (dead_letter and redrive name the target queue second), a fan-out publish lists its queues,
/// a bind or unbind names a queue as its destination. Exchange records and checkpoints are not.
bool about_queue(const corq::wal::RecoveredRecord &record, const std::set<std::uint32_t> &qids) {
  records::Reader reader(record.payload);
  // The *_priority publishes are a priority byte and the fields of the plain ones.
  if (record.type == records::publish_priority || record.type == records::publish_fanout_priority)
    reader.u8();
  switch (record.type) {
    case records::checkpoint:
    case records::declare_exchange:
    case records::delete_exchange: return false;
    case records::publish_fanout:
    case records::publish_fanout_priority: {
      reader.u64();
      const std::uint16_t n = reader.u16();
      for (std::uint16_t i = 0; i < n && reader.ok(); ++i) {
        const std::uint32_t qid = reader.u32();
        reader.i64();
        if (reader.ok() && qids.contains(qid)) return true;
      }
      return false;
    }
    case records::bind:
    case records::unbind: {
      reader.u32();
      const std::uint8_t to_exchange = reader.u8();
      const std::uint32_t destination = reader.u32();
      return reader.ok() && to_exchange == 0 && qids.contains(destination);
    }
    default: break;
  }
  const std::uint32_t first = reader.u32();
  if (reader.ok() && qids.contains(first)) return true;
  if (record.type != records::dead_letter && record.type != records::redrive) return false;
  const std::uint32_t second = reader.u32();
  return reader.ok() && qids.contains(second);
}

/// True if `record` is about one of the exchanges `xids`: its declaration or deletion, a binding
/// from or to it. (A fan-out publish names its queues, not the exchange it came through.)
bool about_exchange(const corq::wal::RecoveredRecord &record, const std::set<std::uint32_t> &xids) {
  records::Reader reader(record.payload);
  switch (record.type) {
    case records::declare_exchange:
    case records::delete_exchange: {
      const std::uint32_t xid = reader.u32();
      return reader.ok() && xids.contains(xid);
    }
    case records::bind:
    case records::unbind: {
      const std::uint32_t source = reader.u32();
      const std::uint8_t to_exchange = reader.u8();
      const std::uint32_t destination = reader.u32();
      return reader.ok() &&
             (xids.contains(source) || (to_exchange != 0 && xids.contains(destination)));
    }
    default: return false;
  }
}

void print_frame(const corq::wal::FrameInfo &f) {
  std::printf("frame segment=%llu offset=%llu bytes=%u records=%u first_lsn=%llu%s\n",
              ull(f.segment_id), ull(f.offset), f.frame_bytes, f.record_count, ull(f.first_lsn),
              f.unflushed ? " unflushed" : "");
}

}  // namespace

int run_dump(const std::string &dir, const std::string &queue, const std::string &exchange) {
  std::set<std::uint32_t> qids, xids;
  if (!queue.empty()) {
    if (const int rc = declared_ids(dir, records::declare, queue, qids); rc != exit_ok) return rc;
    if (qids.empty()) return no_queue(dir, queue);
  }
  if (!exchange.empty()) {
    if (const int rc = declared_ids(dir, records::declare_exchange, exchange, xids); rc != exit_ok)
      return rc;
    if (xids.empty()) return no_exchange(dir, exchange);
  }
  const bool filtered = !queue.empty() || !exchange.empty();
  corq::wal::FrameInfo frame{};
  bool frame_printed = false;
  corq::wal::ScanVisitor visitor;
  visitor.frame = [&](const corq::wal::FrameInfo &f) {
    frame = f;
    frame_printed = !filtered;
    if (frame_printed) print_frame(f);
  };
  visitor.record = [&](const corq::wal::RecoveredRecord &r) {
    if (!queue.empty() && !about_queue(r, qids)) return 0;
    if (!exchange.empty() && !about_exchange(r, xids)) return 0;
    if (!frame_printed) print_frame(frame);  // filtered: a frame only when it has a match
    frame_printed = true;
    std::printf("  lsn=%llu bytes=%zu %s\n", ull(r.lsn), r.payload.size(),
                records::describe(r.type, r.payload).c_str());
    return 0;
  };
  corq::wal::ScanResult result;
  std::string error;
  bool moving = false;
  if (const int rc = scan_live(dir, visitor, result, moving, error); rc != exit_ok)
    return fail(dir, rc, error);
  if (moving) {
    std::printf("end: the log is being written; the dump stops at the last record read\n");
  } else {
    std::printf("end: last lsn %llu, next write at segment %llu offset %llu%s\n",
                ull(result.last_lsn), ull(result.tail_segment_id), ull(result.tail_offset),
                result.torn_tail ? " (torn tail)" : "");
  }
  return exit_ok;
}

namespace {

/// The streams' tables of `stats`: one row per partition, then one per group and partition.
void stats_text_streams(const LogView &view) {
  std::printf("%-32s %9s %12s %12s %12s %14s\n", "stream", "partition", "first_offset",
              "end_offset", "records", "bytes");
  for (const StreamView &s : view.streams) {
    for (std::size_t p = 0; p < s.partitions.size(); ++p) {
      const StreamPartitionView &part = s.partitions[p];
      std::printf("%-32s %9zu %12llu %12llu %12llu %14llu\n", s.name.c_str(), p, ull(part.first),
                  ull(part.end), ull(part.records()), ull(part.bytes));
    }
  }
  bool header = false;
  for (const StreamView &s : view.streams) {
    for (const GroupView &g : s.groups) {
      if (!header) {
        std::printf("%-32s %-32s %-11s %7s %9s %12s %12s\n", "group", "stream", "mode", "members",
                    "partition", "committed", "lag");
        header = true;
      }
      for (std::size_t p = 0; p < g.partitions.size(); ++p)
        std::printf("%-32s %-32s %-11s %7d %9zu %12llu %12llu\n", g.name.c_str(), s.name.c_str(),
                    g.mode.c_str(), 0, p, ull(g.partitions[p].committed), ull(g.partitions[p].lag));
    }
  }
}

/// The transactions line of `stats`; only when there is something to say (directories without
/// transactions print what they always printed).
void stats_text_transactions(const TxnView &t) {
  if (!t.counters_known && t.committed() == 0 && t.stream_unconfirmed == 0) return;
  if (t.counters_known) {
    std::printf(
        "transactions: %llu committed (%llu after the last checkpoint), %llu aborted, %llu "
        "failed since the directory was created",
        ull(t.committed()), ull(t.committed_after_checkpoint), ull(t.aborted), ull(t.failed));
  } else {
    std::printf(
        "transactions: %llu committed (the log's commit records), aborted and failed "
        "unknown (no checkpoint in the log carries transaction counters: it was written "
        "before corq kept them, or has no checkpoint yet)",
        ull(t.committed()));
  }
  std::printf(
      "; %llu committed awaiting their stream records' re-append at the next open (%llu "
      "not confirmed applied)\n",
      ull(t.stream_reappend_pending), ull(t.stream_unconfirmed));
}

void stats_text(const LogView &view) {
  std::printf("%-32s %10s %10s %10s %14s %12s %14s\n", "queue", "ready", "in_flight", "delayed",
              "bytes_ready", "dead_letter", "oldest_age_ms");
  for (const QueueView &q : view.queues) {
    std::printf("%-32s %10llu %10llu %10llu %14llu %12llu %14lld\n", q.name.c_str(), ull(q.ready),
                ull(q.in_flight), ull(q.delayed), ull(q.bytes_ready),
                ull(view.dead_letter_depth(q)),
                static_cast<long long>(oldest_ready_age_ms(view, q)));
  }
  // A second table only when there is something to put in it: directories without exchanges
  // print what they always printed.
  if (!view.exchanges.empty()) {
    std::printf("%-32s %-8s %8s %8s %10s %s\n", "exchange", "type", "durable", "internal",
                "bindings", "alternate_exchange");
    for (const ExchangeView &x : view.exchanges) {
      std::printf(
          "%-32s %-8s %8s %8s %10llu %s\n", x.name.c_str(), x.type,
          x.options.durable ? "true" : "false", x.options.internal ? "true" : "false",
          ull(x.bindings),
          x.options.alternate_exchange.empty() ? "-" : x.options.alternate_exchange.c_str());
    }
  }
  if (!view.streams.empty()) stats_text_streams(view);
  stats_text_transactions(transactions_of(view));
  print_log_summary(view);
}

std::string binding_json(const BindingView &b) {
  std::string out = "{\"source\":" + json_string(b.source);
  out += ",\"destination_type\":" + std::string(b.to_exchange ? "\"exchange\"" : "\"queue\"");
  out += ",\"destination\":" + json_string(b.destination);
  out += ",\"key\":" + json_string(b.key) + ",\"arguments\":[";
  // An array, not an object: it keeps the arguments' order and a NULL value apart from "".
  bool first = true;
  for (const auto &argument : b.arguments) {
    out += first ? "" : ",";
    first = false;
    out += "{\"key\":" + json_string(argument.key) + ",\"value\":" +
           (argument.has_value ? json_string(argument.value) : std::string("null")) + "}";
  }
  return out + "]}";
}

/// A group's options as JSON (numbers as numbers; dead_letter_queue is the group's own field).
std::string group_options_json(const corq::core::GroupOptions &o) {
  char backoff[64];
  std::snprintf(backoff, sizeof backoff, "%.17g", o.retry_backoff);
  std::string out = "{\"prefetch\":" + std::to_string(o.prefetch);
  out += ",\"start\":" + json_string(o.start);
  out += ",\"max_attempts\":" + std::to_string(o.max_attempts);
  out += ",\"retry_delay_ms\":" + std::to_string(o.retry_delay_ms);
  out += ",\"retry_backoff\":" + std::string(backoff);
  out += ",\"retry_delay_max_ms\":" + std::to_string(o.retry_delay_max_ms);
  out += ",\"lease_ms\":" + std::to_string(o.lease_ms) + "}";
  return out;
}

std::string group_json(const GroupView &g) {
  std::string out = json_string(g.name) + ":{\"mode\":" + json_string(g.mode);
  out += ",\"members\":0,\"lag\":" + std::to_string(g.lag);
  out += ",\"dead_letter_queue\":" +
         (g.dead_letter_queue.empty() ? std::string("null") : json_string(g.dead_letter_queue));
  out += ",\"options\":" + group_options_json(g.options) + ",\"partitions\":[";
  for (std::size_t p = 0; p < g.partitions.size(); ++p) {
    out += p == 0 ? "" : ",";
    out += "{\"partition\":" + std::to_string(p);
    out += ",\"committed_offset\":" + std::to_string(g.partitions[p].committed);
    out += ",\"lag\":" + std::to_string(g.partitions[p].lag) + "}";
  }
  return out + "]}";
}

/// A stream in `stats --json`: the names of corq_stats_json's "streams" section where they mean
/// the same (options, partitions with first_offset / end_offset / records / bytes, groups with
/// mode / members / lag), its log, and each group's committed offsets.
std::string stream_json(const StreamView &s) {
  std::string out =
      json_string(s.name) + ":{\"options\":" + corq::core::stream_options_json(s.options);
  out += ",\"records\":" + std::to_string(s.records);
  out += ",\"bytes\":" + std::to_string(s.bytes);
  out += ",\"log\":{\"directory\":" + json_string(s.directory);
  out += ",\"segment_files\":" + std::to_string(s.segment_files);
  out += ",\"bytes_on_disk\":" + std::to_string(s.bytes_on_disk);
  out += ",\"last_lsn\":" + std::to_string(s.last_lsn);
  out += ",\"torn_tail\":" + std::string(s.torn_tail ? "true" : "false") + "},\"partitions\":[";
  for (std::size_t p = 0; p < s.partitions.size(); ++p) {
    const StreamPartitionView &part = s.partitions[p];
    out += p == 0 ? "" : ",";
    out += "{\"partition\":" + std::to_string(p);
    out += ",\"first_offset\":" + std::to_string(part.first);
    out += ",\"end_offset\":" + std::to_string(part.end);
    out += ",\"records\":" + std::to_string(part.records());
    out += ",\"bytes\":" + std::to_string(part.bytes) + "}";
  }
  out += "],\"groups\":{";
  for (std::size_t i = 0; i < s.groups.size(); ++i)
    out += (i == 0 ? "" : ",") + group_json(s.groups[i]);
  return out + "}}";
}

/// The transactions in `stats --json` (see TxnView); "note" only when the counters are unknown.
std::string transactions_json(const TxnView &t) {
  std::string out = "{\"committed_total\":" + std::to_string(t.committed());
  out += ",\"aborted_total\":" + std::to_string(t.aborted);
  out += ",\"failed_total\":" + std::to_string(t.failed);
  out += ",\"counters_known\":" + std::string(t.counters_known ? "true" : "false");
  out += ",\"committed_at_checkpoint\":" + std::to_string(t.committed_at_checkpoint);
  out += ",\"committed_after_checkpoint\":" + std::to_string(t.committed_after_checkpoint);
  out += ",\"stream_reappend_pending\":" + std::to_string(t.stream_reappend_pending);
  out += ",\"stream_unconfirmed\":" + std::to_string(t.stream_unconfirmed);
  if (!t.counters_known) {
    out +=
        ",\"note\":\"no checkpoint in the log carries transaction counters (written before "
        "corq kept them, or none yet): aborted_total and failed_total are unknown (0 here), "
        "committed_total counts the log's commit records\"";
  }
  return out + "}";
}

void stats_json(const std::string &dir, const LogView &view) {
  std::string out = "{\"directory\":" + json_string(dir) + ",\"log\":{";
  out += "\"segment_files\":" + std::to_string(view.segment_files);
  out += ",\"bytes_on_disk\":" + std::to_string(view.bytes_on_disk);
  out += ",\"log_segments\":" + std::to_string(view.log_segments);
  out += ",\"log_bytes\":" + std::to_string(view.log_bytes);
  out += ",\"frames\":" + std::to_string(view.frames);
  out += ",\"records\":" + std::to_string(view.state.records);
  out += ",\"last_lsn\":" + std::to_string(view.last_lsn);
  out += ",\"torn_tail\":" + std::string(view.torn_tail ? "true" : "false");
  out += "},\"queues\":{";
  bool first = true;
  for (const QueueView &q : view.queues) {
    out += first ? "" : ",";
    first = false;
    out += json_string(q.name) + ":{\"ready\":" + std::to_string(q.ready);
    out += ",\"in_flight\":" + std::to_string(q.in_flight);
    out += ",\"delayed\":" + std::to_string(q.delayed);
    out += ",\"bytes_ready\":" + std::to_string(q.bytes_ready);
    out += ",\"bytes\":" + std::to_string(q.bytes);
    out += ",\"oldest_ready_age_ms\":" + std::to_string(oldest_ready_age_ms(view, q));
    out += ",\"dead_letter_queue\":" +
           (q.dead_letter_queue.empty() ? std::string("null") : json_string(q.dead_letter_queue));
    out += ",\"dead_letter_depth\":" + std::to_string(view.dead_letter_depth(q));
    out += ",\"options\":" + corq::core::queue_options_json(q.options, q.name) + "}";
  }
  // The durable topology; its counters (published, routed, ...) live only in a running engine.
  out += "},\"exchanges\":{";
  first = true;
  for (const ExchangeView &x : view.exchanges) {
    out += first ? "" : ",";
    first = false;
    out += json_string(x.name) + ":{\"type\":\"" + x.type + "\"";
    out += ",\"durable\":" + std::string(x.options.durable ? "true" : "false");
    out += ",\"internal\":" + std::string(x.options.internal ? "true" : "false");
    out += ",\"alternate_exchange\":" + (x.options.alternate_exchange.empty()
                                             ? std::string("null")
                                             : json_string(x.options.alternate_exchange));
    out += ",\"bindings\":" + std::to_string(x.bindings) + "}";
  }
  out += "},\"bindings\":[";
  first = true;
  for (const BindingView &b : view.bindings) {
    out += first ? "" : ",";
    first = false;
    out += binding_json(b);
  }
  // The durable streams; their counters (appended, delivered, ...) live only in a running engine.
  out += "],\"streams\":{";
  first = true;
  for (const StreamView &s : view.streams) {
    out += first ? "" : ",";
    first = false;
    out += stream_json(s);
  }
  // Since the directory was created, as the log tells them (log_view.hpp, "Transactions").
  out += "},\"transactions\":" + transactions_json(transactions_of(view));
  out += "}\n";
  std::fputs(out.c_str(), stdout);
}

/// One Prometheus metric family: HELP, TYPE, then one sample per queue.
template <class Value>
void prometheus_family(const LogView &view, const char *name, const char *help, Value value) {
  std::printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (const QueueView &q : view.queues)
    std::printf("%s{queue=\"%s\"} %s\n", name, prometheus_label(q.name).c_str(), value(q).c_str());
}

void prometheus_gauge(const char *name, const char *help, std::uint64_t value) {
  std::printf("# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, ull(value));
}

/// One Prometheus metric family about stream partitions: one sample per (stream, partition).
template <class Value>
void prometheus_partitions(const LogView &view, const char *name, const char *help, Value value) {
  std::printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (const StreamView &s : view.streams) {
    for (std::size_t p = 0; p < s.partitions.size(); ++p)
      std::printf("%s{stream=\"%s\",partition=\"%zu\"} %llu\n", name,
                  prometheus_label(s.name).c_str(), p, ull(value(s.partitions[p])));
  }
}

/// One Prometheus metric family about groups: one sample per (stream, group, partition).
template <class Value>
void prometheus_group_partitions(const LogView &view, const char *name, const char *help,
                                 Value value) {
  std::printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (const StreamView &s : view.streams) {
    for (const GroupView &g : s.groups) {
      for (std::size_t p = 0; p < g.partitions.size(); ++p)
        std::printf("%s{stream=\"%s\",group=\"%s\",partition=\"%zu\"} %llu\n", name,
                    prometheus_label(s.name).c_str(), prometheus_label(g.name).c_str(), p,
                    ull(value(g.partitions[p])));
    }
  }
}

/// The streams' metrics. Members are left out: the log has none, and a gauge that always says 0
/// would be wrong while a service has the directory open.
void stats_prometheus_streams(const LogView &view) {
  prometheus_partitions(view, "corq_stream_partition_first_offset",
                        "First retained offset of the stream partition.",
                        [](const StreamPartitionView &p) { return p.first; });
  prometheus_partitions(view, "corq_stream_partition_end_offset",
                        "Next offset to be appended to the stream partition.",
                        [](const StreamPartitionView &p) { return p.end; });
  prometheus_partitions(view, "corq_stream_partition_records",
                        "Records retained in the stream partition.",
                        [](const StreamPartitionView &p) { return p.records(); });
  prometheus_partitions(view, "corq_stream_partition_bytes",
                        "Key, payload and header bytes retained in the stream partition.",
                        [](const StreamPartitionView &p) { return p.bytes; });
  std::printf(
      "# HELP corq_stream_group_lag Records between the group's committed offsets and the ends "
      "of the stream's partitions.\n# TYPE corq_stream_group_lag gauge\n");
  for (const StreamView &s : view.streams) {
    for (const GroupView &g : s.groups)
      std::printf("corq_stream_group_lag{stream=\"%s\",group=\"%s\",mode=\"%s\"} %llu\n",
                  prometheus_label(s.name).c_str(), prometheus_label(g.name).c_str(),
                  g.mode.c_str(), ull(g.lag));
  }
  prometheus_group_partitions(view, "corq_stream_group_committed_offset",
                              "First offset of the partition the group has not settled.",
                              [](const GroupPartitionView &p) { return p.committed; });
  prometheus_group_partitions(view, "corq_stream_group_partition_lag",
                              "Records between the group's committed offset and the partition's "
                              "end.",
                              [](const GroupPartitionView &p) { return p.lag; });
}

/// The transactions' metrics. Gauges like every corqctl metric (a reading of the log, which lags
/// the engine's), though the totals only grow.
void stats_prometheus_transactions(const TxnView &t) {
  prometheus_gauge("corq_transactions_committed_total",
                   "Transactions committed since the data directory was created: the last "
                   "checkpoint's count plus the commits logged after it.",
                   t.committed());
  prometheus_gauge("corq_transactions_aborted_total",
                   "Transactions aborted since the data directory was created, as of the last "
                   "checkpoint (0 when unknown: corq_transactions_counters_known).",
                   t.aborted);
  prometheus_gauge("corq_transactions_failed_total",
                   "Transaction commits that failed since the data directory was created, as of "
                   "the last checkpoint (0 when unknown: corq_transactions_counters_known).",
                   t.failed);
  prometheus_gauge("corq_transactions_counters_known",
                   "1 when the log's last checkpoint carries the transaction counters, 0 for a log "
                   "without them (aborted and failed unknown).",
                   t.counters_known ? 1 : 0);
  prometheus_gauge("corq_transactions_stream_reappend_pending",
                   "Committed transactions whose stream records some stream's log lacks: the next "
                   "open appends them.",
                   t.stream_reappend_pending);
  prometheus_gauge("corq_transactions_stream_unconfirmed",
                   "Committed transactions with stream records not confirmed applied yet (no "
                   "txn_applied record in the log).",
                   t.stream_unconfirmed);
}

void stats_prometheus(const LogView &view) {
  using std::to_string;
  prometheus_family(view, "corq_queue_ready", "Messages ready for delivery.",
                    [](const QueueView &q) { return to_string(q.ready); });
  prometheus_family(view, "corq_queue_in_flight",
                    "Messages delivered and not settled, as far as the log knows.",
                    [](const QueueView &q) { return to_string(q.in_flight); });
  prometheus_family(view, "corq_queue_delayed", "Messages waiting for a delay or retry backoff.",
                    [](const QueueView &q) { return to_string(q.delayed); });
  prometheus_family(view, "corq_queue_ready_bytes", "Payload bytes of the ready messages.",
                    [](const QueueView &q) { return to_string(q.bytes_ready); });
  prometheus_family(view, "corq_queue_dead_letter_depth",
                    "Messages in the queue's dead-letter queue.",
                    [&view](const QueueView &q) { return to_string(view.dead_letter_depth(q)); });
  prometheus_family(view, "corq_queue_oldest_ready_age_seconds",
                    "Age of the oldest ready message (0 when none is ready).",
                    [&view](const QueueView &q) {
                      char text[32];
                      std::snprintf(text, sizeof text, "%.3f",
                                    static_cast<double>(oldest_ready_age_ms(view, q)) / 1000.0);
                      return std::string(text);
                    });
  std::printf(
      "# HELP corq_exchange_bindings Durable bindings whose source is the exchange.\n"
      "# TYPE corq_exchange_bindings gauge\n");
  for (const ExchangeView &x : view.exchanges)
    std::printf("corq_exchange_bindings{exchange=\"%s\",type=\"%s\"} %llu\n",
                prometheus_label(x.name).c_str(), x.type, ull(x.bindings));
  stats_prometheus_streams(view);
  stats_prometheus_transactions(transactions_of(view));
  prometheus_gauge("corq_log_segment_files", "Segment files (*.wal) in the data directory.",
                   view.segment_files);
  prometheus_gauge("corq_log_disk_bytes", "Bytes of the segment files on disk.",
                   view.bytes_on_disk);
  prometheus_gauge("corq_log_records", "Records in the log.", view.state.records);
  prometheus_gauge("corq_log_last_lsn", "Log sequence number of the last record.", view.last_lsn);
}

}  // namespace

int run_stats(const std::string &dir, StatsFormat format) {
  std::unique_ptr<LogView> loaded;
  if (const int rc = load_with_streams(dir, loaded); rc != exit_ok) return rc;
  const LogView &view = *loaded;
  switch (format) {
    case StatsFormat::text: stats_text(view); break;
    case StatsFormat::json: stats_json(dir, view); break;
    case StatsFormat::prometheus: stats_prometheus(view); break;
  }
  return exit_ok;
}

namespace {

void print_message(const MessageView &m, std::size_t preview_bytes) {
  const corq::core::Message &msg = *m.message;
  std::printf(
      "message id=%llu bytes=%u delivery_count=%u failed_attempts=%u state=%s "
      "published_at_ms=%lld",
      ull(msg.id), msg.payload_len, msg.delivery_count, msg.failed_attempts, state_name(m.state),
      static_cast<long long>(msg.published_at_ms));
  if (m.state == MessageState::delayed)
    std::printf(" due_ms=%lld", static_cast<long long>(m.due_ms));
  std::printf("\n");
  const corq_header *headers = msg.headers();
  for (std::uint16_t i = 0; i < msg.header_count; ++i) {
    const std::string_view value(static_cast<const char *>(headers[i].value), headers[i].value_len);
    std::printf("  %s: %s\n", printable(headers[i].key, 255).c_str(),
                printable(value, preview_bytes).c_str());
  }
  const std::string_view payload(static_cast<const char *>(msg.payload()), msg.payload_len);
  std::printf("  data: \"%s\"\n", printable(payload, preview_bytes).c_str());
}

}  // namespace

int run_dlq_list(const std::string &dir, const std::string &queue, std::uint64_t max_messages,
                 std::size_t preview_bytes) {
  std::unique_ptr<LogView> loaded;
  if (const int rc = load(dir, loaded); rc != exit_ok) return rc;
  const LogView &view = *loaded;
  const QueueView *q = view.find(queue);
  if (q == nullptr) return no_queue(dir, queue);
  const std::uint64_t shown =
      max_messages == 0 || max_messages > q->messages.size() ? q->messages.size() : max_messages;
  std::printf("queue %s: %zu messages (%llu ready, %llu in flight, %llu delayed), showing %llu\n",
              q->name.c_str(), q->messages.size(), ull(q->ready), ull(q->in_flight),
              ull(q->delayed), ull(shown));
  for (std::uint64_t i = 0; i < shown; ++i) print_message(q->messages[i], preview_bytes);
  return exit_ok;
}

namespace {

namespace stream = corq::core::stream;

/// Where the reading of one partition is: its next offset and the chunk holding it. Nothing
/// changes the partition while it is read (a rebuilt copy, not a live engine's).
struct PartitionCursor {
  stream::Partition *partition;
  std::uint64_t offset;  // in [first, end): resolve_start gave at least first
  std::uint64_t end;
  std::shared_ptr<stream::Chunk> chunk;

  /// The record at `offset` (< end).
  const stream::StoredRecord &record() {
    assert(offset >= partition->first() && offset < end);
    if (chunk == nullptr || offset >= chunk->base() + chunk->count())
      chunk = partition->chunk_for(offset);
    assert(chunk != nullptr && offset >= chunk->base());
    return chunk->at(static_cast<std::uint32_t>(offset - chunk->base()));
  }
};

std::string_view bytes_of(const void *data, std::size_t len) {
  return {static_cast<const char *>(data), len};
}

void print_record_text(std::uint32_t partition, std::uint64_t offset, const stream::StoredRecord &r,
                       std::size_t preview_bytes) {
  std::printf("record partition=%u offset=%llu timestamp_ms=%lld bytes=%u key=", partition,
              ull(offset), static_cast<long long>(r.timestamp_ms), r.len);
  if (r.key == nullptr) {
    std::printf("none\n");
  } else {
    std::printf("\"%s\"\n", printable(bytes_of(r.key, r.key_len), 255).c_str());
  }
  for (std::uint32_t i = 0; i < r.header_count; ++i) {
    const corq_header &h = r.headers[i];
    std::printf("  %s: %s\n", printable(h.key, 255).c_str(),
                printable(bytes_of(h.value, h.value_len), preview_bytes).c_str());
  }
  std::printf("  data: \"%s\"\n", printable(bytes_of(r.data, r.len), preview_bytes).c_str());
}

/// A record as JSON; key, header values and data are escaped as the text output escapes them (so
/// any byte is valid JSON), then as JSON strings.
std::string record_json(std::uint32_t partition, std::uint64_t offset,
                        const stream::StoredRecord &r, std::size_t preview_bytes) {
  std::string out = "{\"partition\":" + std::to_string(partition);
  out += ",\"offset\":" + std::to_string(offset);
  out += ",\"timestamp_ms\":" + std::to_string(r.timestamp_ms);
  out += ",\"key\":" + (r.key == nullptr ? std::string("null")
                                         : json_string(printable(bytes_of(r.key, r.key_len), 255)));
  out += ",\"headers\":[";
  for (std::uint32_t i = 0; i < r.header_count; ++i) {
    const corq_header &h = r.headers[i];
    out += i == 0 ? "" : ",";
    out += "{\"key\":" + json_string(printable(h.key, 255)) +
           ",\"value\":" + json_string(printable(bytes_of(h.value, h.value_len), preview_bytes)) +
           "}";
  }
  out += "],\"bytes\":" + std::to_string(r.len);
  out += ",\"data\":" + json_string(printable(bytes_of(r.data, r.len), preview_bytes)) + "}";
  return out;
}

/// The cursors of the partitions `args` asks for, each at its start. exit_ok, or exit_usage
/// (printed).
int open_cursors(const std::string &dir, StreamView &s, const StreamReadArgs &args,
                 std::vector<PartitionCursor> &cursors, std::uint64_t &skipped) {
  const std::uint32_t count = s.stream->partition_count();
  if (args.partition >= static_cast<std::int64_t>(count))
    return fail(dir, exit_usage,
                "stream '" + s.name + "' has " + std::to_string(count) +
                    " partitions: no partition " + std::to_string(args.partition));
  if (args.partition < 0 && count > 1 && args.from.starts_with("offset:"))
    return fail(dir, exit_usage,
                "--from " + args.from +
                    ": an offset names a record of one partition, and stream '" + s.name +
                    "' has " + std::to_string(count) + ": give --partition");
  const std::uint32_t begin = args.partition < 0 ? 0 : static_cast<std::uint32_t>(args.partition);
  const std::uint32_t end = args.partition < 0 ? count : begin + 1;
  for (std::uint32_t p = begin; p < end; ++p) {
    stream::Partition &partition = s.stream->partition(p);
    std::uint64_t offset = 0, missed = 0;
    std::string error;
    if (stream::resolve_start(args.from, partition, offset, missed, error) != CORQ_OK)
      return fail(dir, exit_usage, "--from: " + error);
    skipped += missed;
    cursors.push_back(PartitionCursor{&partition, offset, partition.end(), nullptr});
  }
  return exit_ok;
}

}  // namespace

int run_stream_read(const std::string &dir, const StreamReadArgs &args) {
  std::unique_ptr<LogView> loaded;
  if (const int rc = load(dir, loaded); rc != exit_ok) return rc;
  if (loaded->find_stream(args.stream) == nullptr) return no_stream(dir, args.stream);
  std::string error;
  if (const int rc = load_streams(*loaded, args.stream, error); rc != exit_ok)
    return fail(dir, rc, error);
  StreamView &s = *std::find_if(loaded->streams.begin(), loaded->streams.end(),
                                [&](const StreamView &v) { return v.name == args.stream; });
  std::vector<PartitionCursor> cursors;
  std::uint64_t skipped = 0;
  if (const int rc = open_cursors(dir, s, args, cursors, skipped); rc != exit_ok) return rc;
  std::uint64_t available = 0;
  for (const PartitionCursor &c : cursors) available += c.end - c.offset;
  const std::uint64_t shown =
      args.max_records == 0 || args.max_records > available ? available : args.max_records;
  // Every partition merged by timestamp (then partition, offset): the order they were appended in,
  // as far as the clock says. A min-heap of (timestamp, cursor index).
  using Next = std::tuple<std::int64_t, std::size_t>;
  std::priority_queue<Next, std::vector<Next>, std::greater<>> next;
  for (std::size_t i = 0; i < cursors.size(); ++i) {
    if (cursors[i].offset < cursors[i].end) next.emplace(cursors[i].record().timestamp_ms, i);
  }
  const std::string where = args.partition < 0 ? "every partition (by timestamp)"
                                               : "partition " + std::to_string(args.partition);
  std::string json;
  if (args.json) {
    json = "{\"stream\":" + json_string(s.name) +
           ",\"partitions\":" + std::to_string(s.partitions.size()) +
           ",\"from\":" + json_string(args.from) + ",\"skipped\":" + std::to_string(skipped) +
           ",\"records\":[";
  } else {
    std::printf("stream %s: %zu partitions, %llu records retained; %s from %s: showing %llu\n",
                s.name.c_str(), s.partitions.size(), ull(s.records), where.c_str(),
                args.from.c_str(), ull(shown));
    if (skipped != 0)
      std::printf("(%llu records before the first retained offset were deleted by retention)\n",
                  ull(skipped));
  }
  for (std::uint64_t n = 0; n < shown && !next.empty(); ++n) {
    const std::size_t i = std::get<1>(next.top());
    next.pop();
    PartitionCursor &c = cursors[i];
    const stream::StoredRecord &r = c.record();
    const std::uint32_t partition = c.partition->index();
    if (args.json) {
      json += (n == 0 ? "" : ",") + record_json(partition, c.offset, r, args.preview_bytes);
    } else {
      print_record_text(partition, c.offset, r, args.preview_bytes);
    }
    if (++c.offset < c.end) next.emplace(c.record().timestamp_ms, i);
  }
  if (args.json) std::printf("%s]}\n", json.c_str());
  return exit_ok;
}

}  // namespace corqctl
