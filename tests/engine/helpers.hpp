// tests/engine/helpers.hpp — what the engine suites share: RAII handles over the C API, calls that
// must succeed (they throw, which GoogleTest reports as a failure of the test that made them),
// delivery and stats accessors, a checker for "failed with this code and said why", and a small
// JSON syntax checker for corq_stats_json.
//
// Everything goes through the public C API; the only internal hooks used are the manual clock
// (engine/testing.hpp) and clearing the thread's error detail (capi/error.hpp), so a test can prove
// that a failing call set a fresh detail message rather than finding a stale one.
#pragma once

#include "capi/error.hpp"
#include "engine/testing.hpp"

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corq::test {

/// Options as key/value pairs, in the order they are set.
using Options = std::vector<std::pair<std::string, std::string>>;

struct ConfigFree {
  void operator()(corq_config *c) const noexcept { corq_config_free(c); }
};
struct EngineClose {
  void operator()(corq_engine *e) const noexcept { corq_close(e); }
};
struct ConsumerClose {
  void operator()(corq_consumer *c) const noexcept { corq_consumer_close(c); }
};
struct ProducerClose {
  void operator()(corq_producer *p) const noexcept { corq_producer_close(p); }
};
using ConfigPtr = std::unique_ptr<corq_config, ConfigFree>;
using EnginePtr = std::unique_ptr<corq_engine, EngineClose>;
using ConsumerPtr = std::unique_ptr<corq_consumer, ConsumerClose>;
using ProducerPtr = std::unique_ptr<corq_producer, ProducerClose>;

/// The calling thread's detail message, as a string (for failure output).
inline std::string last_error() { return corq_last_error(); }

/// Throws with the code's name and the detail message unless rc is CORQ_OK (or a count >= 0).
inline int must(int rc, std::string_view what) {
  if (rc < 0) {
    throw std::runtime_error(std::string(what) + " failed: " + corq_strerror(rc) + " (" +
                             corq_last_error() + ")");
  }
  return rc;
}

/// Builds a config; returns the first failing corq_config_set's code (a value that can never be
/// valid is refused there), CORQ_OK otherwise.
inline int try_make_config(const Options &options, ConfigPtr &out) {
  out.reset(corq_config_new());
  if (!out) throw std::runtime_error("corq_config_new returned NULL");
  for (const auto &[key, value] : options) {
    if (const int rc = corq_config_set(out.get(), key.c_str(), value.c_str()); rc != CORQ_OK)
      return rc;
  }
  return CORQ_OK;
}

/// corq_open(NULL, options): the code of the first refused option value, or of corq_open.
inline int try_open(const Options &options, corq_engine **engine) {
  *engine = nullptr;
  ConfigPtr config;
  if (const int rc = try_make_config(options, config); rc != CORQ_OK) return rc;
  return corq_open(nullptr, config.get(), engine);
}

inline ConfigPtr make_config(const Options &options) {
  ConfigPtr config(corq_config_new());
  if (!config) throw std::runtime_error("corq_config_new returned NULL");
  for (const auto &[key, value] : options) {
    must(corq_config_set(config.get(), key.c_str(), value.c_str()), "corq_config_set " + key);
  }
  return config;
}

/// An in-memory engine on the system clock (for tests of real waits).
inline EnginePtr open_engine(const Options &options = {}) {
  ConfigPtr config = make_config(options);
  corq_engine *engine = nullptr;
  must(corq_open(nullptr, config.get(), &engine), "corq_open");
  if (engine == nullptr) throw std::runtime_error("corq_open returned OK and a NULL engine");
  return EnginePtr(engine);
}

/// An in-memory engine whose clock only advance() moves.
inline EnginePtr open_manual_engine(Options options = {}) {
  options.emplace_back("clock", "manual");
  return open_engine(options);
}

/// Moves a manual clock forward and runs the scheduler (see engine/testing.hpp).
inline void advance(corq_engine *engine, std::int64_t ms) {
  must(corq::testing::advance_clock(engine, ms), "advance_clock");
}

/// Declares a queue (NULL options when `options` is empty); returns the code — that of
/// corq_config_set when it already refused a value.
inline int declare(corq_engine *engine, const std::string &queue, const Options &options = {}) {
  if (options.empty()) return corq_queue_declare(engine, queue.c_str(), nullptr);
  ConfigPtr config;
  if (const int rc = try_make_config(options, config); rc != CORQ_OK) return rc;
  return corq_queue_declare(engine, queue.c_str(), config.get());
}

inline void must_declare(corq_engine *engine, const std::string &queue,
                         const Options &options = {}) {
  must(declare(engine, queue, options), "declare " + queue);
}

/// Per-publish options with struct_size set.
inline corq_publish_options publish_options(std::int64_t delay_ms = 0, std::int64_t ttl_ms = 0,
                                            std::int32_t timeout_ms = 30000) {
  corq_publish_options o{};
  o.struct_size = sizeof(corq_publish_options);
  o.flags = 0;
  o.timeout_ms = timeout_ms;
  o.delay_ms = delay_ms;
  o.ttl_ms = ttl_ms;
  return o;
}

/// A message viewing `payload` (which must outlive the publish call).
inline corq_message message(std::string_view payload, const std::vector<corq_header> &headers = {},
                            const char *dedup_id = nullptr) {
  corq_message m{};
  m.data = payload.empty() ? nullptr : payload.data();
  m.len = payload.size();
  m.headers = headers.empty() ? nullptr : headers.data();
  m.header_count = headers.size();
  m.dedup_id = dedup_id;
  return m;
}

inline corq_header header(const char *key, std::string_view value) {
  return corq_header{key, value.empty() ? nullptr : value.data(), value.size()};
}

/// Publishes with corq_publish; returns the code and stores the id in *id.
inline int try_publish(corq_engine *engine, const std::string &queue, std::string_view payload,
                       const corq_publish_options *options = nullptr, std::uint64_t *id = nullptr,
                       const std::vector<corq_header> &headers = {},
                       const char *dedup_id = nullptr) {
  const corq_message m = message(payload, headers, dedup_id);
  return corq_publish(engine, queue.c_str(), &m, options, id);
}

/// Publishes and returns the message id; throws unless it succeeds.
inline std::uint64_t publish(corq_engine *engine, const std::string &queue,
                             std::string_view payload,
                             const corq_publish_options *options = nullptr,
                             const std::vector<corq_header> &headers = {},
                             const char *dedup_id = nullptr) {
  std::uint64_t id = 0;
  must(try_publish(engine, queue, payload, options, &id, headers, dedup_id), "publish to " + queue);
  return id;
}

inline ConsumerPtr open_consumer(corq_engine *engine, const std::string &queue,
                                 std::uint32_t prefetch = 16) {
  corq_consumer *consumer = nullptr;
  must(corq_consumer_open(engine, queue.c_str(), prefetch, &consumer), "consumer_open " + queue);
  if (consumer == nullptr) throw std::runtime_error("consumer_open returned OK and NULL");
  return ConsumerPtr(consumer);
}

inline ProducerPtr open_producer(corq_engine *engine, const std::string &queue) {
  corq_producer *producer = nullptr;
  must(corq_producer_open(engine, queue.c_str(), &producer), "producer_open " + queue);
  if (producer == nullptr) throw std::runtime_error("producer_open returned OK and NULL");
  return ProducerPtr(producer);
}

/// Up to `max` deliveries (throws on an error code).
inline std::vector<corq_delivery> consume(corq_consumer *consumer, std::size_t max,
                                          std::int32_t timeout_ms = 0) {
  std::vector<corq_delivery> out(max);
  const int n = must(corq_consume(consumer, out.data(), max, timeout_ms), "consume");
  if (static_cast<std::size_t>(n) > max) throw std::runtime_error("consume returned more than max");
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// One delivery, or nothing when the poll (or wait) found none.
inline std::optional<corq_delivery> consume_one(corq_consumer *consumer,
                                                std::int32_t timeout_ms = 0) {
  std::vector<corq_delivery> got = consume(consumer, 1, timeout_ms);
  if (got.empty()) return std::nullopt;
  return got.front();
}

/// Like consume_one, but the delivery must be there.
inline corq_delivery must_consume_one(corq_consumer *consumer, std::int32_t timeout_ms = 0) {
  std::optional<corq_delivery> d = consume_one(consumer, timeout_ms);
  if (!d) throw std::runtime_error("expected a delivery, consume found none");
  return *d;
}

inline std::string payload(const corq_delivery &d) {
  if (d.len == 0) return {};
  return std::string(static_cast<const char *>(d.data), d.len);
}

/// How many headers of this delivery have this key.
inline std::size_t header_count_of(const corq_delivery &d, std::string_view key) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (d.headers[i].key != nullptr && key == d.headers[i].key) ++n;
  }
  return n;
}

/// The value of the first header with this key.
inline std::optional<std::string> header_value(const corq_delivery &d, std::string_view key) {
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (d.headers[i].key != nullptr && key == d.headers[i].key) {
      if (d.headers[i].value_len == 0) return std::string();
      return std::string(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len);
    }
  }
  return std::nullopt;
}

inline corq_queue_stats stats(corq_engine *engine, const std::string &queue) {
  corq_queue_stats s{};
  s.struct_size = sizeof(corq_queue_stats);
  must(corq_queue_stats_get(engine, queue.c_str(), &s), "stats of " + queue);
  return s;
}

/// Every field (but struct_size) on one line, so two snapshots compare as strings with a readable
/// difference when they don't match.
inline std::string describe(const corq_queue_stats &s) {
  std::ostringstream o;
  o << "ready=" << s.ready << " in_flight=" << s.in_flight << " delayed=" << s.delayed
    << " consumers=" << s.consumers << " bytes_ready=" << s.bytes_ready
    << " published=" << s.published << " delivered=" << s.delivered << " acked=" << s.acked
    << " nacked=" << s.nacked << " released=" << s.released << " redelivered=" << s.redelivered
    << " dead_lettered=" << s.dead_lettered << " expired=" << s.expired << " dropped=" << s.dropped
    << " deduplicated=" << s.deduplicated << " oldest_ready_age_ms=" << s.oldest_ready_age_ms
    << " purged=" << s.purged << " redriven=" << s.redriven;
  return o.str();
}

/// prefix followed by the decimal number (spelled this way because GCC 12 at -O3 gives a false
/// -Wrestrict for `"literal" + std::to_string(n)`).
inline std::string numbered(std::string_view prefix, std::uint64_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

/// Consumes everything ready in `queue` (polling, in batches), acking each; returns the payloads.
inline std::vector<std::string> drain_acking(corq_engine *engine, const std::string &queue) {
  ConsumerPtr consumer = open_consumer(engine, queue, 1024);
  std::vector<std::string> out;
  for (;;) {
    std::vector<corq_delivery> batch = consume(consumer.get(), 256, 0);
    if (batch.empty()) break;
    for (const corq_delivery &d : batch) {
      out.push_back(payload(d));
      must(corq_ack(consumer.get(), d.tag), "ack");
    }
  }
  return out;
}

/// corq_stats_json's text.
inline std::string stats_json(corq_engine *engine) {
  char *text = nullptr;
  must(corq_stats_json(engine, &text), "stats_json");
  std::string out(text);
  corq_free(text);
  return out;
}

/// Wall-clock unix time in milliseconds.
inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Milliseconds elapsed on the steady clock since `start`.
inline std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

/// Parses a decimal ASCII integer (the x-death-count / x-death-time-ms format); nullopt if it is
/// not one.
inline std::optional<std::int64_t> parse_decimal(const std::optional<std::string> &text) {
  if (!text || text->empty() || text->size() > 19) return std::nullopt;
  std::int64_t v = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// ---- JSON syntax (RFC 8259), enough to tell valid from invalid ----------------------------------

class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : s_(text) {}
  bool valid() {
    skip_ws();
    if (!value(0)) return false;
    skip_ws();
    return i_ == s_.size();
  }

 private:
  static constexpr int depth_max = 64;
  std::string_view s_;
  std::size_t i_ = 0;

  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_++])))
              return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool digits() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number() {
    eat('-');
    if (eat('0')) {
      // a leading zero stands alone
    } else if (!digits()) {
      return false;
    }
    if (eat('.') && !digits()) return false;
    if (eat('e') || eat('E')) {
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool value(int depth) {
    if (depth > depth_max || i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }
  bool object(int depth) {
    eat('{');
    skip_ws();
    if (eat('}')) return true;
    for (;;) {
      skip_ws();
      if (!string()) return false;
      skip_ws();
      if (!eat(':')) return false;
      skip_ws();
      if (!value(depth + 1)) return false;
      skip_ws();
      if (eat('}')) return true;
      if (!eat(',')) return false;
    }
  }
  bool array(int depth) {
    eat('[');
    skip_ws();
    if (eat(']')) return true;
    for (;;) {
      skip_ws();
      if (!value(depth + 1)) return false;
      skip_ws();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
  }
};

inline bool is_valid_json(std::string_view text) { return JsonChecker(text).valid(); }

}  // namespace corq::test

namespace corq::test {

/// The outcome of a call expected to fail with `expected` and leave a non-empty detail message.
inline ::testing::AssertionResult failed_with(int rc, int expected, const char *call) {
  if (rc != expected) {
    return ::testing::AssertionFailure()
           << call << " returned " << corq_strerror(rc) << " (" << corq_last_error()
           << "), expected " << corq_strerror(expected);
  }
  if (rc < 0 && corq_last_error()[0] == '\0') {
    return ::testing::AssertionFailure() << call << " failed without a detail message";
  }
  return ::testing::AssertionSuccess();
}

/// The outcome of a call expected to return CORQ_OK.
inline ::testing::AssertionResult succeeded(int rc, const char *call) {
  if (rc == CORQ_OK) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << call << " returned " << corq_strerror(rc) << " (" << corq_last_error() << ")";
}

}  // namespace corq::test

/// Expects `call` to fail with `code` and to leave a fresh, non-empty detail message (the detail is
/// cleared first, so a stale one from an earlier call does not count). Streams like EXPECT_TRUE.
#define EXPECT_CORQ_FAILS(code, call) \
  EXPECT_TRUE(corq::test::failed_with((corq::capi::clear_error(), (call)), (code), #call))

/// Expects `call` to return CORQ_OK. Streams like EXPECT_TRUE.
#define EXPECT_CORQ_OK(call) EXPECT_TRUE(corq::test::succeeded((call), #call))
