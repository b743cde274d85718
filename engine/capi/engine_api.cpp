// engine/capi/engine_api.cpp — the C API of configs, engines, queues, stats, redrive and the log.
// Every function validates its arguments first and reports failures through capi::fail.
#include "capi/exchange_api.hpp"
#include "capi/handles.hpp"
#include "engine/queue_stats.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace corq::core;
using namespace corq::capi;

namespace {

/// A stream in corq_stats_json: options, counters, and per partition its offsets and bytes.
std::string stream_json(corq::core::stream::Stream &s) {
  auto count = [](const std::atomic<std::uint64_t> &c) {
    return std::to_string(c.load(std::memory_order_relaxed));
  };
  std::string text = "{\"options\":" + corq::core::stream_options_json(s.options());
  if (corq::core::stream::StreamLog *log = s.log(); log != nullptr) {
    // A durable stream's own log: its id in the data directory and its segment files.
    text += ",\"log\":{\"sid\":" + std::to_string(s.sid()) +
            ",\"segments\":" + std::to_string(log->segment_count()) + ",\"backend\":\"" +
            log->backend() + "\",\"resident_bytes\":" + std::to_string(s.resident_bytes()) + "}";
  }
  text += ",\"stats\":{\"appended\":" + count(s.appended) +
          ",\"deleted\":" + count(s.deleted_by_retention) +
          ",\"deduplicated\":" + count(s.deduplicated) + "},\"partitions\":[";
  for (std::uint32_t i = 0; i < s.partition_count(); ++i) {
    corq::core::stream::Partition &p = s.partition(i);
    const std::uint64_t first = p.first();
    const std::uint64_t end = p.end();
    if (i != 0) text += ',';
    text += "{\"first_offset\":" + std::to_string(first) +
            ",\"end_offset\":" + std::to_string(end) +
            ",\"records\":" + std::to_string(end > first ? end - first : 0) +
            ",\"bytes\":" + std::to_string(p.bytes()) + "}";
  }
  text += "],\"groups\":{";
  bool first_group = true;
  for (const auto &g : s.groups_snapshot()) {
    static constexpr const char *modes[] = {"ordered", "shared", "key_ordered"};
    const corq_group_stats gs = g->stats();
    if (!first_group) text += ',';
    first_group = false;
    text += "\"" + g->name() + "\":{\"mode\":\"";
    text += modes[static_cast<int>(g->options().mode)];
    text += "\",\"members\":" + std::to_string(gs.members);
    text += ",\"lag\":" + std::to_string(gs.lag);
    text += ",\"in_flight\":" + std::to_string(gs.in_flight);
    text += ",\"delivered\":" + std::to_string(gs.delivered);
    text += ",\"acked\":" + std::to_string(gs.acked);
    text += ",\"nacked\":" + std::to_string(gs.nacked);
    text += ",\"dead_lettered\":" + std::to_string(gs.dead_lettered);
    text += ",\"skipped\":" + std::to_string(gs.skipped) + ",\"committed\":[";
    const std::vector<std::uint64_t> committed = g->committed_offsets();
    for (std::size_t i = 0; i < committed.size(); ++i) {
      if (i != 0) text += ',';
      text += std::to_string(committed[i]);
    }
    text += "]}";
  }
  return text + "}}";
}

}  // namespace

int corq::capi::check_queue_name(const char *name) noexcept {
  std::string error;
  if (!valid_queue_name(name, error)) return fail(CORQ_EINVAL, error);
  return CORQ_OK;
}

int corq::capi::open_engine(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                            corq_engine **out) noexcept {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_open: out is NULL");
  *out = nullptr;
  return guarded("corq_open", [&] {
    EngineOptions options;
    std::string error;
    static const OptionMap no_options;
    const OptionMap &map = engine_options == nullptr ? no_options : engine_options->options;
    for (const auto &[key, value] : map) {
      if (!is_engine_option(key)) {
        return fail(CORQ_EINVAL,
                    "corq_open: '" + key + "' is a queue option, not an engine option");
      }
    }
    if (!parse_engine_options(map, options, error)) return fail(CORQ_EINVAL, "corq_open: " + error);
    options.test_vfs = vfs;
    if (dir == nullptr) {
      *out = handle_of(new Engine(options));
      return CORQ_OK;
    }
    if (dir[0] == '\0') return fail(CORQ_EINVAL, "corq_open: dir is empty (NULL: in-memory)");
    Engine *engine = nullptr;
    const int rc = Engine::open_durable(dir, options, engine, error);
    if (rc != CORQ_OK) return fail(rc, "corq_open: " + error);
    *out = handle_of(engine);
    return CORQ_OK;
  });
}

namespace {

/// corq_queue_declare_temp: "corq.gen-" + 16 hex digits + NUL fits 32 bytes.
constexpr std::size_t temp_name_capacity_min = 32;
constexpr int temp_name_attempts_max = 8;

/// A name no other call in this process gets: a per-process random base, and a counter spread
/// over all 64 bits (an odd multiplier is a bijection).
std::string temp_queue_name() {
  static const std::uint64_t base = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n =
      base ^ (counter.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ull);
  char name[32];
  std::snprintf(name, sizeof name, "corq.gen-%016llx", static_cast<unsigned long long>(n));
  return name;
}

/// The queue options of a declaration, checked. `temp`: corq_queue_declare_temp's (transient,
/// auto_delete, no dead-letter queue unless named).
int read_queue_options(const char *function, Engine &e, const corq_config *config, bool temp,
                       QueueOptions &options) {
  static const OptionMap no_options;
  const OptionMap &map = config == nullptr ? no_options : config->options;
  for (const auto &[key, value] : map) {
    if (!is_queue_option(key))
      return fail(CORQ_EINVAL, std::string(function) + ": '" + key + "' is not a queue option");
  }
  std::string error;
  const bool disk = e.journal() != nullptr;
  if (!parse_queue_options(map, /*durable_default=*/disk && !temp, options, error))
    return fail(CORQ_EINVAL, std::string(function) + ": " + error);
  if (temp) {
    if (options.durable || (map.count("auto_delete") != 0 && !options.auto_delete)) {
      return fail(CORQ_EINVAL,
                  std::string(function) + ": a temporary queue is transient and auto_delete");
    }
    options.auto_delete = true;
    if (!options.dead_letter_queue_set && options.dead_letter_exchange.empty()) {
      options.dead_letter_queue_set = true;  // none unless the options name one
    }
  }
  if (options.durable && disk && e.journal()->failure_code() != CORQ_OK)
    return fail(CORQ_EFAILED, std::string(function) + ": " + e.journal()->failure_text());
  if (options.durable && !disk) {
    return fail(CORQ_EINVAL, std::string(function) +
                                 ": durable=true needs an engine opened on a data directory; this "
                                 "engine is in-memory");
  }
  return CORQ_OK;
}

}  // namespace

extern "C" {

// ---- config
// --------------------------------------------------------------------------------------

corq_config *corq_config_new(void) {
  try {
    return new corq_config{};
  } catch (...) {
    fail(CORQ_ENOMEM, "corq_config_new: out of memory");
    return nullptr;
  }
}

int corq_config_set(corq_config *config, const char *key, const char *value) {
  if (config == nullptr) return fail(CORQ_EINVAL, "corq_config_set: config is NULL");
  if (key == nullptr) return fail(CORQ_EINVAL, "corq_config_set: key is NULL");
  if (value == nullptr) return fail(CORQ_EINVAL, "corq_config_set: value is NULL");
  if (!is_engine_option(key) && !is_queue_option(key) && !is_exchange_option(key) &&
      !is_stream_option(key) && !is_group_option(key)) {
    return fail(CORQ_EINVAL, std::string("corq_config_set: unknown option '") + key + "'");
  }
  return guarded("corq_config_set", [&] {
    // Refuse a value that can never be valid for this key now, with the message corq_open or
    // corq_queue_declare would give; the check at use stays (it also sees combinations of keys).
    std::string error;
    if (!check_option_value(key, value, error))
      return fail(CORQ_EINVAL, "corq_config_set: " + error);
    config->options.insert_or_assign(key, value);
    return CORQ_OK;
  });
}

void corq_config_free(corq_config *config) { delete config; }

// ---- engine
// --------------------------------------------------------------------------------------

int corq_open(const char *dir, const corq_config *engine_options, corq_engine **out) {
  return corq::capi::open_engine(dir, engine_options, nullptr, out);
}

int corq_close(corq_engine *engine) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_close: engine is NULL");
  Engine::close(engine_of(engine));
  return CORQ_OK;
}

int corq_sync(corq_engine *engine, int32_t timeout_ms) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_sync: engine is NULL");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_sync: timeout_ms must be -1 or >= 0");
  if (engine_of(engine)->closed()) return fail(CORQ_ECLOSED, "corq_sync: the engine is closed");
  Journal *journal = engine_of(engine)->journal();
  if (journal == nullptr) return CORQ_OK;  // in-memory: nothing is ever waiting to be durable
  std::string error;
  const auto deadline =
      timeout_ms < 0 ? std::chrono::steady_clock::time_point::max()
                     : std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int rc = journal->sync(timeout_ms, error);
  if (rc == CORQ_OK) rc = engine_of(engine)->sync_streams(deadline, error);  // durable streams
  return rc == CORQ_OK ? rc : fail(rc, "corq_sync: " + error);
}

int corq_engine_id(corq_engine *engine, char out[37]) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_engine_id: engine is NULL");
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_engine_id: out is NULL");
  const std::string &id = engine_of(engine)->engine_id();
  std::memcpy(out, id.c_str(), id.size() + 1);  // 36 characters and the NUL
  return CORQ_OK;
}

// ---- queues
// --------------------------------------------------------------------------------------

int corq_queue_declare(corq_engine *engine, const char *queue, const corq_config *queue_options) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_queue_declare: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  return guarded("corq_queue_declare", [&] {
    Engine &e = *engine_of(engine);
    QueueOptions options;
    if (const int rc = read_queue_options("corq_queue_declare", e, queue_options, false, options);
        rc != CORQ_OK)
      return rc;
    std::string error;
    const int rc = e.declare(queue, options, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_queue_declare: " + error);
  });
}

int corq_queue_declare_temp(corq_engine *engine, const corq_config *queue_options, char *name_out,
                            size_t name_capacity) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_queue_declare_temp: engine is NULL");
  if (name_out == nullptr) return fail(CORQ_EINVAL, "corq_queue_declare_temp: name_out is NULL");
  if (name_capacity < temp_name_capacity_min) {
    return fail(CORQ_EINVAL, "corq_queue_declare_temp: name_capacity must be at least 32, got " +
                                 std::to_string(name_capacity));
  }
  name_out[0] = '\0';
  return guarded("corq_queue_declare_temp", [&] {
    Engine &e = *engine_of(engine);
    QueueOptions options;
    if (const int rc =
            read_queue_options("corq_queue_declare_temp", e, queue_options, true, options);
        rc != CORQ_OK)
      return rc;
    std::string error;
    for (int attempt = 0; attempt < temp_name_attempts_max; ++attempt) {
      const std::string name = temp_queue_name();
      // A user's queue may hold the name (with other options): then the next one.
      const int rc = e.declare(name, options, error);
      if (rc == CORQ_EEXIST) continue;
      if (rc != CORQ_OK) return fail(rc, "corq_queue_declare_temp: " + error);
      std::memcpy(name_out, name.c_str(), name.size() + 1);
      return CORQ_OK;
    }
    return fail(CORQ_EEXIST, "corq_queue_declare_temp: no free generated name");
  });
}

int corq_queue_delete(corq_engine *engine, const char *queue) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_queue_delete: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  return guarded("corq_queue_delete", [&] {
    std::string error;
    const int rc = engine_of(engine)->remove(queue, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_queue_delete: " + error);
  });
}

int corq_queue_purge(corq_engine *engine, const char *queue, uint64_t *purged) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_queue_purge: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  if (engine_of(engine)->closed())
    return fail(CORQ_ECLOSED, "corq_queue_purge: the engine is closed");
  return guarded("corq_queue_purge", [&] {
    std::shared_ptr<Queue> q = engine_of(engine)->find(queue);
    if (q == nullptr)
      return fail(CORQ_ENOENT, std::string("corq_queue_purge: no queue named '") + queue + "'");
    const std::uint64_t n = q->purge();
    if (purged != nullptr) *purged = n;
    return CORQ_OK;
  });
}

// ---- stats
// ---------------------------------------------------------------------------------------

}  // extern "C"

namespace {

std::string stats_json(const corq_queue_stats &s) {
  std::string json = "{";
  auto field = [&](const char *name, auto value) {
    if (json.size() > 1) json += ',';
    json += '"';
    json += name;
    json += "\":" + std::to_string(value);
  };
  field("ready", s.ready);
  field("in_flight", s.in_flight);
  field("delayed", s.delayed);
  field("consumers", s.consumers);
  field("bytes_ready", s.bytes_ready);
  field("published", s.published);
  field("delivered", s.delivered);
  field("acked", s.acked);
  field("nacked", s.nacked);
  field("released", s.released);
  field("redelivered", s.redelivered);
  field("dead_lettered", s.dead_lettered);
  field("expired", s.expired);
  field("dropped", s.dropped);
  field("deduplicated", s.deduplicated);
  field("purged", s.purged);
  field("redriven", s.redriven);
  field("oldest_ready_age_ms", s.oldest_ready_age_ms);
  return json + "}";
}

}  // namespace

/// The first version of corq_queue_stats ends after oldest_ready_age_ms; later ones only append.
constexpr std::size_t queue_stats_v1_bytes =
    offsetof(corq_queue_stats, oldest_ready_age_ms) + sizeof(std::int64_t);

extern "C" {

int corq_queue_stats_get(corq_engine *engine, const char *queue, corq_queue_stats *out) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_queue_stats_get: engine is NULL");
  if (const int rc = check_queue_name(queue); rc != CORQ_OK) return rc;
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_queue_stats_get: out is NULL");
  // A size the struct had in some version (it grows at its end), or larger than today's: never a
  // size that cuts a field in two.
  if (out->struct_size != queue_stats_v1_bytes && out->struct_size < sizeof(corq_queue_stats)) {
    return fail(CORQ_EINVAL,
                "corq_queue_stats_get: out->struct_size must be sizeof(corq_queue_stats) (" +
                    std::to_string(sizeof(corq_queue_stats)) + "), got " +
                    std::to_string(out->struct_size));
  }
  return guarded("corq_queue_stats_get", [&] {
    std::shared_ptr<Queue> q = engine_of(engine)->find(queue);
    if (q == nullptr)
      return fail(CORQ_ENOENT, std::string("corq_queue_stats_get: no queue named '") + queue + "'");
    // Fill only what both sides know (the struct grows at its end); struct_size says what we
    // filled.
    const corq_queue_stats s = read_queue_stats(*engine_of(engine), *q);
    const std::size_t size = std::min<std::size_t>(out->struct_size, sizeof s);
    std::memcpy(out, &s, size);
    out->struct_size = static_cast<std::uint32_t>(size);
    return CORQ_OK;
  });
}

int corq_stats_json(corq_engine *engine, char **json) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stats_json: engine is NULL");
  if (json == nullptr) return fail(CORQ_EINVAL, "corq_stats_json: json is NULL");
  *json = nullptr;
  return guarded("corq_stats_json", [&] {
    Engine &e = *engine_of(engine);
    std::string text = "{\"version\":\"" CORQ_VERSION_STRING "\",\"queues\":{";
    bool first = true;
    for (const auto &q : e.queues_snapshot()) {
      if (!first) text += ',';
      first = false;
      // Queue names are [A-Za-z0-9._:-]: nothing to escape.
      text += "\"" + q->name() + "\":{\"options\":" + queue_options_json(q->options(), q->name()) +
              ",\"stats\":" + stats_json(read_queue_stats(e, *q)) + "}";
    }
    text += "},\"exchanges\":{";
    first = true;
    for (const auto &x : e.router().exchanges_snapshot()) {
      if (!first) text += ',';
      first = false;
      text += "\"" + x->name() + "\":" + exchange_stats_json(e.router(), *x);
    }
    text += "},\"streams\":{";
    first = true;
    for (const auto &s : e.streams_snapshot()) {
      if (!first) text += ',';
      first = false;
      text += "\"" + s->name() + "\":" + stream_json(*s);
    }
    text += "}";
    const routing::RequestCounters &r = e.request_counters();
    auto count = [](const std::atomic<std::uint64_t> &c) {
      return std::to_string(c.load(std::memory_order_relaxed));
    };
    text += ",\"requests\":{\"sent\":" + count(r.sent) + ",\"replied\":" + count(r.replied) +
            ",\"timed_out\":" + count(r.timed_out) +
            ",\"late_replies_dropped\":" + count(r.late_replies) +
            ",\"responses_dropped\":" + count(r.responses_dropped) + "}";
    // Transactions since open: committed (a commit that reached the log, its wait included),
    // failed (a commit that applied nothing), aborted, and open now.
    const Engine::TxnCounters &t = e.txn_counters();
    text += ",\"transactions\":{\"committed\":" + count(t.committed) +
            ",\"failed\":" + count(t.failed) + ",\"aborted\":" + count(t.aborted) +
            ",\"open\":" + std::to_string(e.txns_open()) + "}";
    // The same since the data directory was created (checkpoints persist them; see the engine
    // README, Transactions): a sibling object, so "transactions" keeps its exact shape.
    const Engine::TxnTotals total = e.txn_totals();
    text += ",\"transactions_total\":{\"committed\":" + std::to_string(total.committed) +
            ",\"failed\":" + std::to_string(total.failed) +
            ",\"aborted\":" + std::to_string(total.aborted) + "}";
    // Stream records of committed transactions that a full disk made wait for room since open
    // (appended by the scheduler once there is room; engine README, Transactions).
    text += ",\"transactions_deferred_appends\":" + count(t.appends_deferred);
    if (Journal *journal = e.journal(); journal != nullptr) {
      std::uint64_t disk_bytes = 0;
      const auto segments = journal->segments();
      std::size_t compacted = 0;
      for (const auto &segment : segments) {
        disk_bytes += segment.bytes;
        compacted += segment.compacted_through_id != 0;
      }
      text += ",\"log\":{\"dir\":\"" + json_escaped(e.dir()) + "\",\"backend\":\"" +
              journal->backend() + "\",\"direct_io\":" + (journal->direct_io() ? "true" : "false") +
              ",\"sync\":\"" + (journal->flushes() ? "always" : "none") +
              "\",\"segments\":" + std::to_string(segments.size()) +
              ",\"segment_bytes_used\":" + std::to_string(disk_bytes) +
              ",\"durable_lsn\":" + std::to_string(journal->durable_lsn()) +
              ",\"compacted_segments\":" + std::to_string(compacted) +
              ",\"checkpoints\":" + std::to_string(journal->checkpoints()) +
              ",\"compactions\":" + std::to_string(journal->compactions()) +
              ",\"registered_buffer_writes\":" + std::to_string(journal->registered_writes()) +
              ",\"failed\":" + (journal->failure_code() != CORQ_OK ? "true" : "false") + "}";
    }
    text += "}";
    char *copy = static_cast<char *>(std::malloc(text.size() + 1));
    if (copy == nullptr) return fail(CORQ_ENOMEM, "corq_stats_json: out of memory");
    std::memcpy(copy, text.c_str(), text.size() + 1);
    *json = copy;
    return CORQ_OK;
  });
}

void corq_free(void *ptr) { std::free(ptr); }

// ---- dead letters
// --------------------------------------------------------------------------------

int corq_redrive(corq_engine *engine, const char *from_queue, const char *to_queue,
                 uint64_t max_messages, uint64_t *moved) {
  if (moved != nullptr) *moved = 0;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_redrive: engine is NULL");
  if (const int rc = check_queue_name(from_queue); rc != CORQ_OK) return rc;
  if (to_queue != nullptr) {
    if (const int rc = check_queue_name(to_queue); rc != CORQ_OK) return rc;
  }
  Engine &e = *engine_of(engine);
  if (e.closed()) return fail(CORQ_ECLOSED, "corq_redrive: the engine is closed");
  return guarded("corq_redrive", [&] {
    std::shared_ptr<Queue> from = e.find(from_queue);
    if (from == nullptr)
      return fail(CORQ_ENOENT, std::string("corq_redrive: no queue named '") + from_queue + "'");
    std::shared_ptr<Queue> fixed_target;
    if (to_queue != nullptr) {
      fixed_target = e.find(to_queue);
      if (fixed_target == nullptr)
        return fail(CORQ_ENOENT, std::string("corq_redrive: no queue named '") + to_queue + "'");
    }
    std::uint64_t count = 0;
    int rc = CORQ_OK;
    // "All" is what is ready when the call starts: a message redriven into the queue it is taken
    // from (to_queue == from_queue, or no to_queue and its x-death-queue names from_queue, as it
    // does after an earlier redrive) comes back ready and must not be taken again, or the loop
    // would never end.
    const std::uint64_t limit = max_messages == 0 ? from->ready() : max_messages;
    while (count < limit) {
      Message *m = from->begin_redrive();
      if (m == nullptr) break;
      std::shared_ptr<Queue> target = fixed_target;
      if (target == nullptr) {
        bool found = false;
        const std::string_view origin = m->header("x-death-queue", found);
        target = found ? e.find(origin) : nullptr;
        if (target == nullptr) {
          rc = fail(CORQ_ENOENT, "corq_redrive: message " + std::to_string(m->id) +
                                     " names origin queue '" + std::string(origin) +
                                     "', which does not exist");
          from->finish_redrive(m, false);  // stays at the front of the dead-letter queue
          break;
        }
      }
      // Reserved in the target with its counts as they are: a failed reservation puts it back
      // unchanged. The reset counts are what the target and its log record see.
      if (!target->reserve_one(m->payload_len)) {
        rc = fail(CORQ_EFULL, "corq_redrive: queue '" + target->name() + "' is full (or deleted)");
        from->finish_redrive(m, false);
        break;
      }
      m->failed_attempts = 0;
      m->delivery_count = 0;
      const std::int64_t ttl_ms = target->options().message_ttl_ms;
      m->expires_at_ms = ttl_ms > 0 ? e.now_ms() + ttl_ms : 0;
      from->log_redrive(*target, m);  // before anyone can settle it in its new queue
      target->push_reserved(m);
      from->finish_redrive(m, true);
      ++count;
    }
    if (moved != nullptr) *moved = count;
    return rc;
  });
}

// ---- log
// -----------------------------------------------------------------------------------------

int corq_set_log_callback(corq_engine *engine, corq_log_fn fn, void *user) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_set_log_callback: engine is NULL");
  engine_of(engine)->set_log(fn, user);
  return CORQ_OK;
}

}  // extern "C"
