// tools/corqctl/write_commands.cpp — publish, consume, purge, dlq redrive, group seek through the C
// API (see write_commands.hpp).
#include "write_commands.hpp"

#include "exit_codes.hpp"
#include "log/scanner.hpp"
#include "text.hpp"

#include <corq/corq.h>

#include <cstdio>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace corqctl {

namespace {

/// How long closing commands wait for their records to become durable.
constexpr std::int32_t sync_timeout_ms = 30'000;
/// Largest payload `publish -` reads from stdin: the engine's own limit (max_message_bytes can be
/// set up to 64 MiB); anything longer is refused before it is sent.
constexpr std::size_t stdin_bytes_max = 64u << 20;

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

int fail(const std::string &dir, int code, const std::string &error) {
  std::fprintf(stderr, "corqctl: %s: %s\n", dir.c_str(), error.c_str());
  return code;
}

/// The exit code and message for a failed C API call (outside corq_open).
int api_failure(const std::string &dir, const char *what, int rc) {
  int code = exit_failed;
  if (rc == CORQ_ENOENT) code = exit_no_queue;
  if (rc == CORQ_EINVAL || rc == CORQ_ETOOBIG) code = exit_usage;
  return fail(dir, code, std::string(what) + ": " + corq_strerror(rc) + ": " + corq_last_error());
}

/// True when `dir` holds a LOCK file or a segment file: it was made by corq_open.
bool is_data_directory(const std::string &dir) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(dir) / "LOCK", ec)) return true;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    std::uint64_t id = 0;
    if (corq::wal::parse_segment_file_name(entry.path().filename().string(), id)) return true;
  }
  return false;
}

/// An open engine for one command; closes it (after a sync) when it goes.
class EngineSession {
 public:
  /// Opens `target`. Returns exit_ok, or an exit code after printing why.
  int open(const EngineTarget &target) {
    dir_ = target.dir;
    std::error_code ec;
    const auto status = std::filesystem::status(dir_, ec);
    if (status.type() == std::filesystem::file_type::not_found)
      return fail(dir_, exit_unreadable, "no such directory");
    if (ec) return fail(dir_, exit_unreadable, "cannot read: " + ec.message());
    if (status.type() != std::filesystem::file_type::directory)
      return fail(dir_, exit_unreadable, "not a directory");
    if (!is_data_directory(dir_))
      return fail(dir_, exit_unreadable,
                  "not a corq data directory (no LOCK file, no *.wal segment)");
    corq_config *config = corq_config_new();
    if (config == nullptr) return fail(dir_, exit_failed, "out of memory");
    for (const std::string &option : target.options) {
      const std::size_t eq = option.find('=');
      const std::string key = option.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : option.substr(eq + 1);
      if (eq == std::string::npos || corq_config_set(config, key.c_str(), value.c_str()) != 0) {
        corq_config_free(config);
        return fail(dir_, exit_usage, "bad engine option '" + option + "' (want KEY=VALUE)");
      }
    }
    const int rc = corq_open(dir_.c_str(), config, &engine_);
    corq_config_free(config);
    if (rc == CORQ_OK) return exit_ok;
    engine_ = nullptr;
    return open_failure(rc);
  }

  /// Waits until everything logged is durable, then closes. Returns an exit code.
  int close() {
    if (engine_ == nullptr) return exit_ok;
    const int rc = corq_sync(engine_, sync_timeout_ms);
    corq_close(engine_);
    engine_ = nullptr;
    return rc == CORQ_OK ? exit_ok : api_failure(dir_, "sync", rc);
  }

  ~EngineSession() { close(); }

  corq_engine *engine() const { return engine_; }
  const std::string &dir() const { return dir_; }

  /// exit_ok if `queue` exists, else exit_no_queue (printed).
  int require_queue(const std::string &queue) const {
    corq_queue_stats stats{};
    stats.struct_size = sizeof stats;
    const int rc = corq_queue_stats_get(engine_, queue.c_str(), &stats);
    if (rc == CORQ_OK) return exit_ok;
    if (rc == CORQ_ENOENT) return fail(dir_, exit_no_queue, "no queue '" + queue + "'");
    return api_failure(dir_, "queue stats", rc);
  }

  /// exit_ok with the group's stats if `stream` and its `group` exist, else exit_no_queue
  /// (printed, naming which one is missing).
  int require_group(const std::string &stream, const std::string &group,
                    corq_group_stats &stats) const {
    corq_stream_stats stream_stats{};
    stream_stats.struct_size = sizeof stream_stats;
    int rc = corq_stream_stats_get(engine_, stream.c_str(), &stream_stats);
    if (rc == CORQ_ENOENT) return fail(dir_, exit_no_queue, "no stream '" + stream + "'");
    if (rc != CORQ_OK) return api_failure(dir_, "stream stats", rc);
    stats = corq_group_stats{};
    stats.struct_size = sizeof stats;
    rc = corq_group_stats_get(engine_, stream.c_str(), group.c_str(), &stats);
    if (rc == CORQ_ENOENT)
      return fail(dir_, exit_no_queue, "no group '" + group + "' on stream '" + stream + "'");
    return rc == CORQ_OK ? exit_ok : api_failure(dir_, "group stats", rc);
  }

 private:
  int open_failure(int rc) const {
    const std::string detail = corq_last_error();
    switch (rc) {
      case CORQ_EBUSY:
        return fail(
            dir_, exit_locked,
            "locked: another process has this directory open (a running service?): " + detail +
                ". The read commands (inspect, verify, dump, stats, dlq list, stream read) work "
                "without the lock.");
      case CORQ_ECORRUPT:
        return fail(dir_, exit_corrupt, "CORRUPT: " + detail + " (corqctl verify shows it)");
      case CORQ_EIO: return fail(dir_, exit_unreadable, "cannot open: " + detail);
      case CORQ_EINVAL: return fail(dir_, exit_usage, "cannot open: " + detail);
      default:
        return fail(dir_, exit_failed,
                    std::string("cannot open: ") + corq_strerror(rc) + ": " + detail);
    }
  }

  std::string dir_;
  corq_engine *engine_ = nullptr;
};

/// Reads all of stdin (at most stdin_bytes_max). False (with `error`) when it is longer or fails.
bool read_stdin(std::string &out, std::string &error) {
  char buffer[64 * 1024];
  for (;;) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, stdin);
    out.append(buffer, n);
    if (out.size() > stdin_bytes_max) {
      error = "stdin holds more than " + std::to_string(stdin_bytes_max) + " bytes";
      return false;
    }
    if (n < sizeof buffer) break;
  }
  if (std::ferror(stdin)) {
    error = "cannot read stdin";
    return false;
  }
  return true;
}

}  // namespace

int run_publish(const EngineTarget &target, const PublishArgs &args) {
  std::vector<std::string> keys, values;
  for (const std::string &header : args.headers) {
    const std::size_t eq = header.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(target.dir, exit_usage, "bad header '" + header + "' (want KEY=VALUE)");
    keys.push_back(header.substr(0, eq));
    values.push_back(header.substr(eq + 1));
  }
  std::string data = args.data;
  if (std::string error; args.data_from_stdin && !read_stdin(data, error))
    return fail(target.dir, exit_usage, error);
  EngineSession session;
  if (const int rc = session.open(target); rc != exit_ok) return rc;
  if (args.declare) {
    if (const int rc = corq_queue_declare(session.engine(), args.queue.c_str(), nullptr);
        rc != CORQ_OK && rc != CORQ_EEXIST)
      return api_failure(target.dir, "declare", rc);
  }
  // Through an exchange the key need not name a queue: the exchange says whether it exists.
  if (!args.through_exchange) {
    if (const int rc = session.require_queue(args.queue); rc != exit_ok) return rc;
  }
  std::vector<corq_header> headers(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    headers[i] = corq_header{keys[i].c_str(), values[i].data(), values[i].size()};
  corq_message message{data.data(), data.size(), headers.data(), headers.size(),
                       args.dedup_id.empty() ? nullptr : args.dedup_id.c_str()};
  corq_publish_options options{};
  options.struct_size = sizeof options;
  options.timeout_ms = 0;  // a full queue is reported at once, not waited for
  options.delay_ms = args.delay_ms;
  options.ttl_ms = args.ttl_ms;
  if (args.mandatory) options.flags |= CORQ_PUBLISH_MANDATORY;
  std::uint64_t id = 0;
  if (!args.through_exchange) {
    if (const int rc = corq_publish(session.engine(), args.queue.c_str(), &message, &options, &id);
        rc != CORQ_OK)
      return api_failure(target.dir, "publish", rc);
    if (const int rc = session.close(); rc != exit_ok) return rc;
    std::printf("published message %llu (%zu bytes) to %s\n", ull(id), data.size(),
                args.queue.c_str());
    return exit_ok;
  }
  std::uint32_t routed = 0;
  if (const int rc = corq_exchange_publish(session.engine(), args.exchange.c_str(),
                                           args.queue.c_str(), &message, &options, &id, &routed);
      rc != CORQ_OK)
    return api_failure(target.dir, "publish", rc);
  if (const int rc = session.close(); rc != exit_ok) return rc;
  const std::string through =
      args.exchange.empty() ? "the default exchange" : "exchange " + args.exchange;
  std::printf(
      "published message %llu (%zu bytes) through %s with key \"%s\": routed to %u "
      "queues%s\n",
      ull(id), data.size(), through.c_str(), printable(args.queue, args.queue.size()).c_str(),
      routed,
      // The exchange counts a dropped message, but its counters die with this process:
      // this line is the only place an operator would learn of it.
      routed != 0             ? ""
      : args.dedup_id.empty() ? " (unroutable: dropped; --mandatory refuses it instead)"
                              : " (unroutable and dropped, or every target queue had "
                                "seen the dedup id)");
  return exit_ok;
}

namespace {

void print_delivery(const corq_delivery &d, const ConsumeArgs &args) {
  const std::string_view payload(static_cast<const char *>(d.data), d.len);
  if (args.raw) {
    std::fwrite(payload.data(), 1, payload.size(), stdout);
    std::fputc('\n', stdout);
    return;
  }
  std::printf("message id=%llu bytes=%zu delivery_count=%u published_at_ms=%lld\n",
              ull(d.message_id), d.len, d.delivery_count,
              static_cast<long long>(d.published_at_ms));
  for (std::size_t i = 0; i < d.header_count; ++i) {
    const std::string_view value(static_cast<const char *>(d.headers[i].value),
                                 d.headers[i].value_len);
    std::printf("  %s: %s\n", printable(d.headers[i].key, 255).c_str(),
                printable(value, args.preview_bytes).c_str());
  }
  std::printf("  data: \"%s\"\n", printable(payload, args.preview_bytes).c_str());
}

/// Takes up to args.max_messages into `out` (the first wait up to wait_ms, then polls).
int take(corq_consumer *consumer, const ConsumeArgs &args, std::vector<corq_delivery> &out) {
  std::size_t taken = 0;
  int rc = CORQ_OK;
  while (taken < out.size()) {
    const int n = corq_consume(consumer, out.data() + taken, out.size() - taken,
                               taken == 0 ? args.wait_ms : 0);
    if (n <= 0) {
      rc = n;  // 0: nothing more ready
      break;
    }
    taken += static_cast<std::size_t>(n);
  }
  out.resize(taken);  // what was taken is printed and settled even after an error
  return rc;
}

}  // namespace

int run_consume(const EngineTarget &target, const ConsumeArgs &args) {
  EngineSession session;
  if (const int rc = session.open(target); rc != exit_ok) return rc;
  if (const int rc = session.require_queue(args.queue); rc != exit_ok) return rc;
  corq_consumer *consumer = nullptr;
  if (const int rc =
          corq_consumer_open(session.engine(), args.queue.c_str(), args.max_messages, &consumer);
      rc != CORQ_OK)
    return api_failure(target.dir, "consumer open", rc);
  // Everything is settled only after the last take: a released message would come right back.
  std::vector<corq_delivery> deliveries(args.max_messages);
  int rc = take(consumer, args, deliveries);
  for (const corq_delivery &d : deliveries) print_delivery(d, args);
  for (const corq_delivery &d : deliveries) {
    const int settled =
        args.settle == Settle::ack ? corq_ack(consumer, d.tag) : corq_release(consumer, d.tag);
    if (rc == CORQ_OK) rc = settled;
  }
  corq_consumer_close(consumer);
  if (rc != CORQ_OK) return api_failure(target.dir, "consume", rc);
  if (const int closed = session.close(); closed != exit_ok) return closed;
  if (!args.raw)
    std::printf("%zu messages %s\n", deliveries.size(),
                args.settle == Settle::ack ? "acked" : "released (back in the queue)");
  return exit_ok;
}

int run_purge(const EngineTarget &target, const std::string &queue) {
  EngineSession session;
  if (const int rc = session.open(target); rc != exit_ok) return rc;
  std::uint64_t purged = 0;
  if (const int rc = corq_queue_purge(session.engine(), queue.c_str(), &purged); rc != CORQ_OK)
    return rc == CORQ_ENOENT ? fail(target.dir, exit_no_queue, "no queue '" + queue + "'")
                             : api_failure(target.dir, "purge", rc);
  if (const int rc = session.close(); rc != exit_ok) return rc;
  std::printf("purged %llu messages from %s\n", ull(purged), queue.c_str());
  return exit_ok;
}

int run_redrive(const EngineTarget &target, const std::string &queue, const std::string &to_queue,
                std::uint64_t max_messages) {
  EngineSession session;
  if (const int rc = session.open(target); rc != exit_ok) return rc;
  if (const int rc = session.require_queue(queue); rc != exit_ok) return rc;
  if (!to_queue.empty()) {
    if (const int rc = session.require_queue(to_queue); rc != exit_ok) return rc;
  }
  std::uint64_t moved = 0;
  const int rc = corq_redrive(session.engine(), queue.c_str(),
                              to_queue.empty() ? nullptr : to_queue.c_str(), max_messages, &moved);
  const std::string where = to_queue.empty() ? "their origin queues" : to_queue;
  if (rc != CORQ_OK) {
    // Stopped early (target missing or full): what moved did move, and is made durable.
    std::string detail = corq_last_error();
    session.close();
    return fail(target.dir, rc == CORQ_ENOENT ? exit_no_queue : exit_failed,
                "redrive stopped after " + std::to_string(moved) +
                    " messages: " + corq_strerror(rc) + ": " + detail);
  }
  if (const int closed = session.close(); closed != exit_ok) return closed;
  std::printf("moved %llu messages from %s to %s\n", ull(moved), queue.c_str(), where.c_str());
  return exit_ok;
}

int run_group_seek(const EngineTarget &target, const GroupSeekArgs &args) {
  EngineSession session;
  if (const int rc = session.open(target); rc != exit_ok) return rc;
  corq_group_stats before{};
  if (const int rc = session.require_group(args.stream, args.group, before); rc != exit_ok)
    return rc;
  if (const int rc = corq_group_seek(session.engine(), args.stream.c_str(), args.group.c_str(),
                                     args.partition, args.start.c_str());
      rc != CORQ_OK)
    return api_failure(target.dir, "seek", rc);
  corq_group_stats after{};
  if (const int rc = session.require_group(args.stream, args.group, after); rc != exit_ok)
    return rc;
  if (const int rc = session.close(); rc != exit_ok) return rc;
  const std::string where =
      args.partition < 0 ? "every partition" : "partition " + std::to_string(args.partition);
  std::printf("group %s of stream %s: %s moved to %s; lag %llu (was %llu)\n", args.group.c_str(),
              args.stream.c_str(), where.c_str(), args.start.c_str(), ull(after.lag),
              ull(before.lag));
  return exit_ok;
}

}  // namespace corqctl
