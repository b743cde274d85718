// engine/capi/stream_api.cpp — the C API of streams (DESIGN.md §7; the contract is in corq.h):
// declare, delete, append, producers, readers, stats, and consumer groups (members are
// corq_consumers: consume_api.cpp dispatches their calls to stream/group.hpp).
#include "capi/handles.hpp"
#include "stream/group.hpp"
#include "stream/reader.hpp"

#include <cstring>

using namespace corq::core;
using namespace corq::capi;

namespace {

stream::Reader *reader_of(corq_stream_reader *r) noexcept {
  return reinterpret_cast<stream::Reader *>(r);
}
const stream::Reader *reader_of(const corq_stream_reader *r) noexcept {
  return reinterpret_cast<const stream::Reader *>(r);
}

/// A stream name argument: the queue rules, said of a stream.
int check_stream_name(const char *function, const char *name) {
  if (name == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": stream name is NULL");
  std::string error;
  if (!valid_queue_name(name, error)) {
    if (error.rfind("queue name", 0) == 0) error.replace(0, 5, "stream");
    return fail(CORQ_EINVAL, std::string(function) + ": " + error);
  }
  return CORQ_OK;
}

/// The stream `name` of an open engine: CORQ_OK with `out`, or CORQ_ECLOSED / CORQ_ENOENT.
int open_stream(const char *function, Engine &e, const char *name,
                std::shared_ptr<stream::Stream> &out) {
  if (e.closed()) return fail(CORQ_ECLOSED, std::string(function) + ": the engine is closed");
  out = e.find_stream(name);
  if (out == nullptr)
    return fail(CORQ_ENOENT, std::string(function) + ": no stream named '" + name + "'");
  return CORQ_OK;
}

/// An open corq_stream_producer: the stream it appends to, and a handle on the engine.
struct StreamProducer {
  Engine *engine;
  std::shared_ptr<stream::Stream> stream;
};

/// What corq_stream_append and corq_stream_producer_send check before appending: the options
/// (only flags and timeout_ms apply), every message, the key's and the payload's size together,
/// and that only the first record of a batch names a dedup_id.
int check_append(const char *function, const Engine &e, std::size_t key_len,
                 const corq_message *messages, std::size_t count,
                 const corq_publish_options *options, PublishSettings &settings) {
  if (options != nullptr) {
    if (const int rc = read_publish_options(*options, settings); rc != CORQ_OK) return rc;
    if (settings.delay_ms != 0 || settings.ttl_ms != 0 || settings.priority != 0) {
      return fail(CORQ_EINVAL,
                  std::string(function) + ": delay_ms, ttl_ms and priority must be 0 for a stream");
    }
  }
  const std::uint64_t max_bytes = e.options().max_message_bytes;
  for (std::size_t i = 0; i < count; ++i) {
    const char *bad = nullptr;
    if (const int rc = validate_message(messages[i], max_bytes, bad); rc != CORQ_OK) {
      return fail(rc, std::string(function) + ": " +
                          (count == 1 ? "" : "record " + std::to_string(i) + " of the batch: ") +
                          bad);
    }
    if (key_len > max_bytes - messages[i].len) {
      return fail(CORQ_ETOOBIG, std::string(function) + ": key and payload (" +
                                    std::to_string(key_len + messages[i].len) +
                                    " bytes) exceed max_message_bytes " +
                                    std::to_string(max_bytes));
    }
    if (i != 0 && messages[i].dedup_id != nullptr) {
      return fail(CORQ_EINVAL, std::string(function) +
                                   ": only the first record of a batch may carry a dedup_id "
                                   "(it names the batch)");
    }
  }
  return CORQ_OK;
}

/// Appends a checked batch and reports where it went.
int append_checked(const char *function, Engine &e, stream::Stream &s, const void *key,
                   std::size_t key_len, const corq_message *messages, std::size_t count,
                   const PublishSettings &settings, std::uint32_t *partition,
                   std::uint64_t *offset) {
  if (e.closed()) return fail(CORQ_ECLOSED, std::string(function) + ": the engine is closed");
  if (s.deleted()) {
    return fail(CORQ_ENOENT, std::string(function) + ": stream '" + s.name() + "' was deleted");
  }
  std::uint32_t p = 0;
  std::uint64_t o = 0;
  std::string error;
  const std::int64_t now_ms = e.now_ms();
  const int rc =
      s.append(key, key_len, messages, count, now_ms, (settings.flags & CORQ_PUBLISH_NOWAIT) != 0,
               settings.timeout_ms, p, o, error);
  if (rc != CORQ_OK)
    return fail(rc, std::string(function) + ": stream '" + s.name() + "': " + error);
  // Time-based retention is the scheduler's: make sure it looks by the time these expire.
  if (const std::int64_t ms = s.limits().retention_ms; ms != 0)
    e.scheduler().poke_if_before(now_ms + ms);
  // Retention deleted records of a durable stream: the scheduler frees the segments behind them.
  if (s.take_release_poke()) e.scheduler().poke_if_before(now_ms);
  if (partition != nullptr) *partition = p;
  if (offset != nullptr) *offset = o;
  return CORQ_OK;
}

/// A group name argument: the queue rules (it names the group's dead-letter queue too).
int check_group_name(const char *function, const char *name) {
  if (name == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": group name is NULL");
  std::string error;
  if (!valid_queue_name(name, error)) {
    if (error.rfind("queue name", 0) == 0) error.replace(0, 5, "group");
    return fail(CORQ_EINVAL, std::string(function) + ": " + error);
  }
  return CORQ_OK;
}

/// The group `group` of stream `stream`: CORQ_OK with `out`, or CORQ_ECLOSED / CORQ_ENOENT.
int open_group_of(const char *function, Engine &e, const char *stream, const char *group,
                  std::shared_ptr<stream::Group> &out) {
  std::shared_ptr<stream::Stream> s;
  if (const int rc = open_stream(function, e, stream, s); rc != CORQ_OK) return rc;
  out = s->find_group(group);
  if (out == nullptr) {
    return fail(CORQ_ENOENT, std::string(function) + ": no group named '" + group +
                                 "' on stream '" + stream + "'");
  }
  return CORQ_OK;
}

}  // namespace

extern "C" {

int corq_stream_declare(corq_engine *engine, const char *stream, const corq_config *options) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_declare: engine is NULL");
  if (const int rc = check_stream_name("corq_stream_declare", stream); rc != CORQ_OK) return rc;
  return guarded("corq_stream_declare", [&] {
    Engine &e = *engine_of(engine);
    static const OptionMap no_options;
    const OptionMap &map = options == nullptr ? no_options : options->options;
    for (const auto &[key, value] : map) {
      if (!is_stream_option(key)) {
        return fail(CORQ_EINVAL, "corq_stream_declare: '" + key + "' is not a stream option");
      }
    }
    const bool disk = e.journal() != nullptr;
    StreamOptions parsed;
    std::string error;
    if (!parse_stream_options(map, disk, parsed, error))
      return fail(CORQ_EINVAL, "corq_stream_declare: " + error);
    if (parsed.durable && !disk) {
      return fail(CORQ_EINVAL,
                  "corq_stream_declare: durable=true needs a disk engine (corq_open with a "
                  "directory)");
    }
    const int rc = e.declare_stream(stream, parsed, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_stream_declare: " + error);
  });
}

int corq_stream_delete(corq_engine *engine, const char *stream) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_delete: engine is NULL");
  if (const int rc = check_stream_name("corq_stream_delete", stream); rc != CORQ_OK) return rc;
  return guarded("corq_stream_delete", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_stream_delete: the engine is closed");
    std::string error;
    const int rc = e.remove_stream(stream, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_stream_delete: " + error);
  });
}

int corq_stream_append(corq_engine *engine, const char *stream, const void *key, size_t key_len,
                       const corq_message *message, const corq_publish_options *options,
                       uint32_t *partition, uint64_t *offset) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_append: engine is NULL");
  if (stream == nullptr) return fail(CORQ_EINVAL, "corq_stream_append: stream name is NULL");
  if (message == nullptr) return fail(CORQ_EINVAL, "corq_stream_append: message is NULL");
  if (key == nullptr && key_len != 0)
    return fail(CORQ_EINVAL, "corq_stream_append: key is NULL but key_len > 0");
  return guarded("corq_stream_append", [&] {
    Engine &e = *engine_of(engine);
    PublishSettings settings;
    if (const int rc =
            check_append("corq_stream_append", e, key_len, message, 1, options, settings);
        rc != CORQ_OK)
      return rc;
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_stream_append: the engine is closed");
    stream::Stream *s = e.lookup_stream_for_append(stream);
    if (s == nullptr) {
      if (const int rc = check_stream_name("corq_stream_append", stream); rc != CORQ_OK) return rc;
      return fail(CORQ_ENOENT, std::string("corq_stream_append: no stream named '") + stream + "'");
    }
    return append_checked("corq_stream_append", e, *s, key, key_len, message, 1, settings,
                          partition, offset);
  });
}

int corq_stream_producer_open(corq_engine *engine, const char *stream, corq_stream_producer **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_stream_producer_open: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_producer_open: engine is NULL");
  if (const int rc = check_stream_name("corq_stream_producer_open", stream); rc != CORQ_OK)
    return rc;
  return guarded("corq_stream_producer_open", [&] {
    Engine &e = *engine_of(engine);
    std::shared_ptr<stream::Stream> s;
    if (const int rc = open_stream("corq_stream_producer_open", e, stream, s); rc != CORQ_OK)
      return rc;
    auto *producer = new StreamProducer{&e, std::move(s)};
    e.retain_handle();  // released by close: the engine outlives its producers
    *out = reinterpret_cast<corq_stream_producer *>(producer);
    return CORQ_OK;
  });
}

int corq_stream_producer_send(corq_stream_producer *producer, const void *key, size_t key_len,
                              const corq_message *messages, size_t count,
                              const corq_publish_options *options, uint32_t *partition,
                              uint64_t *first_offset) {
  if (producer == nullptr) return fail(CORQ_EINVAL, "corq_stream_producer_send: producer is NULL");
  if (messages == nullptr) return fail(CORQ_EINVAL, "corq_stream_producer_send: messages is NULL");
  if (count == 0) return fail(CORQ_EINVAL, "corq_stream_producer_send: count must be at least 1");
  if (key == nullptr && key_len != 0)
    return fail(CORQ_EINVAL, "corq_stream_producer_send: key is NULL but key_len > 0");
  auto &p = *reinterpret_cast<StreamProducer *>(producer);
  return guarded("corq_stream_producer_send", [&] {
    PublishSettings settings;
    if (const int rc = check_append("corq_stream_producer_send", *p.engine, key_len, messages,
                                    count, options, settings);
        rc != CORQ_OK)
      return rc;
    return append_checked("corq_stream_producer_send", *p.engine, *p.stream, key, key_len, messages,
                          count, settings, partition, first_offset);
  });
}

int corq_stream_producer_close(corq_stream_producer *producer) {
  if (producer == nullptr) return fail(CORQ_EINVAL, "corq_stream_producer_close: producer is NULL");
  auto *p = reinterpret_cast<StreamProducer *>(producer);
  Engine *engine = p->engine;
  delete p;
  Engine::release_handle(engine);
  return CORQ_OK;
}

int corq_stream_reader_open(corq_engine *engine, const char *stream, uint32_t partition,
                            const char *start, corq_stream_reader **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_stream_reader_open: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_reader_open: engine is NULL");
  if (start == nullptr) return fail(CORQ_EINVAL, "corq_stream_reader_open: start is NULL");
  if (const int rc = check_stream_name("corq_stream_reader_open", stream); rc != CORQ_OK) return rc;
  return guarded("corq_stream_reader_open", [&] {
    Engine &e = *engine_of(engine);
    std::shared_ptr<stream::Stream> s;
    if (const int rc = open_stream("corq_stream_reader_open", e, stream, s); rc != CORQ_OK)
      return rc;
    if (partition >= s->partition_count()) {
      return fail(CORQ_EINVAL, "corq_stream_reader_open: stream '" + s->name() + "' has " +
                                   std::to_string(s->partition_count()) +
                                   " partitions: no partition " + std::to_string(partition));
    }
    std::uint64_t position = 0, skipped = 0;
    std::string error;
    if (const int rc =
            stream::resolve_start(start, s->partition(partition), position, skipped, error);
        rc != CORQ_OK)
      return fail(rc, "corq_stream_reader_open: " + error);
    auto *reader = new stream::Reader(e, std::move(s), partition, position, skipped);
    *out = reinterpret_cast<corq_stream_reader *>(reader);
    return CORQ_OK;
  });
}

int corq_stream_read(corq_stream_reader *reader, corq_stream_record *out, size_t max,
                     int32_t timeout_ms) {
  if (reader == nullptr) return fail(CORQ_EINVAL, "corq_stream_read: reader is NULL");
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_stream_read: out is NULL");
  if (max == 0) return fail(CORQ_EINVAL, "corq_stream_read: max must be at least 1");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_stream_read: timeout_ms must be -1 or >= 0");
  // The count is an int: one read returns at most INT32_MAX records.
  const std::size_t bounded = std::min<std::size_t>(max, INT32_MAX);
  return guarded("corq_stream_read", [&] {
    const int rc = reader_of(reader)->read(out, bounded, timeout_ms);
    if (rc == CORQ_ENOENT) return fail(rc, "corq_stream_read: the stream was deleted");
    if (rc == CORQ_ECLOSED) return fail(rc, "corq_stream_read: the engine is closed");
    return rc;
  });
}

uint64_t corq_stream_reader_skipped(const corq_stream_reader *reader) {
  return reader == nullptr ? 0 : reader_of(reader)->skipped();
}

int corq_stream_reader_wakeup(corq_stream_reader *reader) {
  if (reader == nullptr) return fail(CORQ_EINVAL, "corq_stream_reader_wakeup: reader is NULL");
  reader_of(reader)->wakeup();
  return CORQ_OK;
}

int corq_stream_reader_close(corq_stream_reader *reader) {
  if (reader == nullptr) return fail(CORQ_EINVAL, "corq_stream_reader_close: reader is NULL");
  delete reader_of(reader);
  return CORQ_OK;
}

int corq_stream_stats_get(corq_engine *engine, const char *stream, corq_stream_stats *out) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_stream_stats_get: engine is NULL");
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_stream_stats_get: out is NULL");
  if (out->struct_size < sizeof(corq_stream_stats)) {
    return fail(CORQ_EINVAL, "corq_stream_stats_get: struct_size must be at least " +
                                 std::to_string(sizeof(corq_stream_stats)));
  }
  if (const int rc = check_stream_name("corq_stream_stats_get", stream); rc != CORQ_OK) return rc;
  return guarded("corq_stream_stats_get", [&] {
    Engine &e = *engine_of(engine);
    std::shared_ptr<stream::Stream> s = e.find_stream(stream);
    if (s == nullptr)
      return fail(CORQ_ENOENT,
                  std::string("corq_stream_stats_get: no stream named '") + stream + "'");
    corq_stream_stats r{};
    r.struct_size = sizeof(corq_stream_stats);
    r.partitions = s->partition_count();
    for (std::uint32_t i = 0; i < s->partition_count(); ++i) {
      stream::Partition &p = s->partition(i);
      // first before end: a record appended in between is counted, never a negative span.
      const std::uint64_t first = p.first();
      const std::uint64_t end = p.end();
      r.records += end > first ? end - first : 0;
      r.bytes += p.bytes();
    }
    r.appended = s->appended.load(std::memory_order_relaxed);
    r.deleted = s->deleted_by_retention.load(std::memory_order_relaxed);
    r.deduplicated = s->deduplicated.load(std::memory_order_relaxed);
    r.groups = s->groups_snapshot().size();
    *out = r;
    return CORQ_OK;
  });
}

int corq_group_consumer_open(corq_engine *engine, const char *stream, const char *group,
                             const corq_config *options, corq_consumer **out) {
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_group_consumer_open: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_group_consumer_open: engine is NULL");
  if (const int rc = check_stream_name("corq_group_consumer_open", stream); rc != CORQ_OK)
    return rc;
  if (const int rc = check_group_name("corq_group_consumer_open", group); rc != CORQ_OK) return rc;
  return guarded("corq_group_consumer_open", [&] {
    Engine &e = *engine_of(engine);
    static const OptionMap no_options;
    const OptionMap &map = options == nullptr ? no_options : options->options;
    for (const auto &[key, value] : map) {
      if (!is_group_option(key)) {
        return fail(CORQ_EINVAL, "corq_group_consumer_open: '" + key + "' is not a group option");
      }
    }
    GroupOptions parsed;
    std::string error;
    if (!parse_group_options(map, parsed, error))
      return fail(CORQ_EINVAL, "corq_group_consumer_open: " + error);
    const std::string dead_letters = parsed.dead_letter_queue_set
                                         ? parsed.dead_letter_queue
                                         : std::string(stream) + "." + group + ".dlq";
    if (!dead_letters.empty() && !valid_queue_name(dead_letters.c_str(), error)) {
      return fail(CORQ_EINVAL, "corq_group_consumer_open: dead-letter queue '" + dead_letters +
                                   "': " + error +
                                   " (set dead_letter_queue to a shorter name, "
                                   "or \"\")");
    }
    std::shared_ptr<stream::Stream> s;
    if (const int rc = open_stream("corq_group_consumer_open", e, stream, s); rc != CORQ_OK)
      return rc;
    std::shared_ptr<stream::Group> g;
    bool created = false;
    if (const int rc = s->open_group(e, group, parsed, dead_letters, g, created, error);
        rc != CORQ_OK)
      return fail(rc, "corq_group_consumer_open: " + error);
    if (created && !dead_letters.empty() && e.find(dead_letters) == nullptr) {
      // Declared with the group, like a queue's: default options, the stream's durability, no
      // dead-letter queue of its own. One declared meanwhile with other options is used as is.
      QueueOptions dlq;
      dlq.durable = s->options().durable;
      dlq.dead_letter_queue_set = true;
      std::string ignored;
      e.declare(dead_letters, dlq, ignored);
    }
    auto *member = new stream::GroupMember(e, std::move(g), parsed.prefetch);
    e.register_consumer(member);
    *out = handle_of(member);
    return CORQ_OK;
  });
}

int corq_group_seek(corq_engine *engine, const char *stream, const char *group, int32_t partition,
                    const char *start) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_group_seek: engine is NULL");
  if (start == nullptr) return fail(CORQ_EINVAL, "corq_group_seek: start is NULL");
  if (const int rc = check_stream_name("corq_group_seek", stream); rc != CORQ_OK) return rc;
  if (const int rc = check_group_name("corq_group_seek", group); rc != CORQ_OK) return rc;
  return guarded("corq_group_seek", [&] {
    std::shared_ptr<stream::Group> g;
    if (const int rc = open_group_of("corq_group_seek", *engine_of(engine), stream, group, g);
        rc != CORQ_OK)
      return rc;
    std::string error;
    const int rc = g->seek(partition, start, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_group_seek: " + error);
  });
}

int corq_group_delete(corq_engine *engine, const char *stream, const char *group) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_group_delete: engine is NULL");
  if (const int rc = check_stream_name("corq_group_delete", stream); rc != CORQ_OK) return rc;
  if (const int rc = check_group_name("corq_group_delete", group); rc != CORQ_OK) return rc;
  return guarded("corq_group_delete", [&] {
    Engine &e = *engine_of(engine);
    std::shared_ptr<stream::Stream> s;
    if (const int rc = open_stream("corq_group_delete", e, stream, s); rc != CORQ_OK) return rc;
    std::string error;
    const int rc = s->delete_group(group, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_group_delete: " + error);
  });
}

int corq_group_stats_get(corq_engine *engine, const char *stream, const char *group,
                         corq_group_stats *out) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_group_stats_get: engine is NULL");
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_group_stats_get: out is NULL");
  if (out->struct_size < sizeof(corq_group_stats)) {
    return fail(CORQ_EINVAL, "corq_group_stats_get: struct_size must be at least " +
                                 std::to_string(sizeof(corq_group_stats)));
  }
  if (const int rc = check_stream_name("corq_group_stats_get", stream); rc != CORQ_OK) return rc;
  if (const int rc = check_group_name("corq_group_stats_get", group); rc != CORQ_OK) return rc;
  return guarded("corq_group_stats_get", [&] {
    std::shared_ptr<stream::Group> g;
    if (const int rc = open_group_of("corq_group_stats_get", *engine_of(engine), stream, group, g);
        rc != CORQ_OK)
      return rc;
    *out = g->stats();
    return CORQ_OK;
  });
}

}  // extern "C"
