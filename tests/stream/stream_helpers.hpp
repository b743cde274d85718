// tests/stream/stream_helpers.hpp — what the stream suites share, over the public C API.
#pragma once

#include "engine/helpers.hpp"

#include <string>
#include <vector>

namespace corq::test {

struct ReaderClose {
  void operator()(corq_stream_reader *r) const { corq_stream_reader_close(r); }
};
using ReaderPtr = std::unique_ptr<corq_stream_reader, ReaderClose>;

/// Declares a stream (NULL options when `options` is empty); returns the code.
inline int declare_stream(corq_engine *engine, const std::string &name,
                          const Options &options = {}) {
  if (options.empty()) return corq_stream_declare(engine, name.c_str(), nullptr);
  ConfigPtr config;
  if (const int rc = try_make_config(options, config); rc != CORQ_OK) return rc;
  return corq_stream_declare(engine, name.c_str(), config.get());
}

inline void must_declare_stream(corq_engine *engine, const std::string &name,
                                const Options &options = {}) {
  must(declare_stream(engine, name, options), "stream_declare " + name);
}

/// Where an append went.
struct Placed {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
};

/// Appends with a key (nullptr: none); returns the code.
inline int try_append(corq_engine *engine, const std::string &stream, std::string_view payload,
                      const char *key = nullptr, Placed *placed = nullptr,
                      const std::vector<corq_header> &headers = {}, const char *dedup_id = nullptr,
                      const corq_publish_options *options = nullptr) {
  const corq_message m = message(payload, headers, dedup_id);
  Placed ignored;
  Placed &p = placed == nullptr ? ignored : *placed;
  return corq_stream_append(engine, stream.c_str(), key, key == nullptr ? 0 : std::strlen(key), &m,
                            options, &p.partition, &p.offset);
}

inline Placed append(corq_engine *engine, const std::string &stream, std::string_view payload,
                     const char *key = nullptr) {
  Placed p;
  must(try_append(engine, stream, payload, key, &p), "stream_append to " + stream);
  return p;
}

inline ReaderPtr open_reader(corq_engine *engine, const std::string &stream,
                             std::uint32_t partition = 0, const char *start = "earliest") {
  corq_stream_reader *r = nullptr;
  must(corq_stream_reader_open(engine, stream.c_str(), partition, start, &r),
       "stream_reader_open " + stream + " " + start);
  if (r == nullptr) throw std::runtime_error("stream_reader_open returned OK and NULL");
  return ReaderPtr(r);
}

/// A record copied out of corq's memory.
struct Record {
  std::uint32_t partition;
  std::uint64_t offset;
  std::int64_t timestamp_ms;
  bool has_key;
  std::string key;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};

inline Record copy_record(const corq_stream_record &r) {
  Record out{r.partition, r.offset, r.timestamp_ms, r.key != nullptr, {}, {}, {}};
  if (r.key != nullptr) out.key.assign(static_cast<const char *>(r.key), r.key_len);
  if (r.len != 0) out.payload.assign(static_cast<const char *>(r.data), r.len);
  for (std::size_t i = 0; i < r.header_count; ++i) {
    out.headers.emplace_back(
        r.headers[i].key,
        std::string(static_cast<const char *>(r.headers[i].value), r.headers[i].value_len));
  }
  return out;
}

/// Up to `max` records (copied), waiting up to timeout_ms for the first.
inline std::vector<Record> read(corq_stream_reader *reader, std::size_t max,
                                std::int32_t timeout_ms = 0) {
  std::vector<corq_stream_record> raw(max);
  const int n = must(corq_stream_read(reader, raw.data(), max, timeout_ms), "stream_read");
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) out.push_back(copy_record(raw[static_cast<std::size_t>(i)]));
  return out;
}

/// The payloads of everything readable now.
inline std::vector<std::string> payloads(corq_stream_reader *reader) {
  std::vector<std::string> out;
  for (;;) {
    const std::vector<Record> got = read(reader, 64);
    if (got.empty()) return out;
    for (const Record &r : got) out.push_back(r.payload);
  }
}

inline corq_stream_stats stream_stats(corq_engine *engine, const std::string &stream) {
  corq_stream_stats s{};
  s.struct_size = sizeof s;
  must(corq_stream_stats_get(engine, stream.c_str(), &s), "stream_stats " + stream);
  return s;
}

/// A disk engine on `dir` (created if missing) with these options.
inline EnginePtr open_durable(const std::string &dir, const Options &options = {}) {
  ConfigPtr config = make_config(options);
  corq_engine *engine = nullptr;
  must(corq_open(dir.c_str(), config.get(), &engine), "corq_open(" + dir + ")");
  return EnginePtr(engine);
}

/// Opens a member of `group` on `stream` with these options (NULL config when empty).
inline int try_open_member(corq_engine *e, const char *stream, const char *group,
                           const Options &options, corq_consumer **out) {
  if (options.empty()) return corq_group_consumer_open(e, stream, group, nullptr, out);
  ConfigPtr config;
  if (const int rc = try_make_config(options, config); rc != CORQ_OK) return rc;
  return corq_group_consumer_open(e, stream, group, config.get(), out);
}

inline ConsumerPtr open_member(corq_engine *e, const char *stream, const char *group,
                               const Options &options = {}) {
  corq_consumer *c = nullptr;
  must(try_open_member(e, stream, group, options, &c), std::string("group_consumer_open ") + group);
  return ConsumerPtr(c);
}

inline corq_group_stats group_stats(corq_engine *e, const char *stream, const char *group) {
  corq_group_stats s{};
  s.struct_size = sizeof s;
  must(corq_group_stats_get(e, stream, group, &s), "group_stats");
  return s;
}

}  // namespace corq::test
