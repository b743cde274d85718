// tests/fuzz/fuzz_capi.cpp — sequences of C API calls on an in-memory engine, decoded from the
// fuzz input, with garbage arguments mixed in (NULL handles and pointers, bad queue names, unknown
// or settled tags, bad headers, bad option structs, out-of-range numbers).
//
// The engine runs on clock=manual (time moves only by an "advance clock" step), every wait has
// timeout 0, and queues declared here get overflow=reject unless the input asks for block — in
// which case publishes still pass timeout_ms 0 — so an input runs in microseconds and the same
// input always does the same thing.
//
// What must hold: every call returns 0 or a code its declaration in corq.h documents; a failed
// call leaves a detail message; consume returns at most `max` deliveries, with tags that increase
// per consumer, and whose data and headers are readable until settled; after corq_close every
// handle still open answers CORQ_ECLOSED and closes cleanly; nothing crashes, trips a sanitizer
// or leaks.
#include "fuzz_input.hpp"

#include "engine/testing.hpp"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace corq::fuzz {
namespace {

constexpr std::size_t steps_max = 256;
constexpr std::size_t consumers_max = 4;
constexpr std::size_t producers_max = 2;
constexpr std::size_t tags_kept_max = 64;
constexpr std::size_t batch_max = 8;
constexpr std::size_t deliveries_max = 16;
constexpr std::size_t max_message_bytes = 4096;  // the engine's max_message_bytes (4KiB below)

const std::string long_name(201, 'n');
const std::string long_key(256, 'k');
const std::string long_dedup(256, 'd');
const std::vector<char> oversize(max_message_bytes + 1, 'x');

const char *const queue_names[] = {"a",        "b",   "a.dlq", "b.dlq",          "c", "c.dlq", "",
                                   "bad name", "ünï", nullptr, long_name.c_str()};

const char *const option_keys[] = {"max_length",
                                   "max_bytes",
                                   "overflow",
                                   "message_ttl_ms",
                                   "max_attempts",
                                   "dead_letter_queue",
                                   "retry_delay_ms",
                                   "retry_backoff",
                                   "retry_delay_max_ms",
                                   "lease_ms",
                                   "dedup_window_ms",
                                   "shards",
                                   "durable",
                                   "sync",
                                   "nonsense"};
const char *const option_values[] = {"0",      "1",
                                     "2",      "3",
                                     "10",     "100",
                                     "1000",   "1.5",
                                     "reject", "drop_head",
                                     "block",  "",
                                     "a",      "b",
                                     "c",      "true",
                                     "false",  "-1",
                                     "64",     "65",
                                     "1KiB",   "99999999999999999999"};

struct State {
  corq_engine *engine = nullptr;
  std::array<corq_consumer *, consumers_max> consumers{};
  std::array<std::uint64_t, consumers_max> last_tag{};
  std::array<corq_producer *, producers_max> producers{};
  std::vector<std::uint64_t> tags;  // recent delivery tags (of any consumer)
  std::uint64_t last_id = 0;
};

void expect_detail(const char *call, int rc) {
  if (rc < 0 && corq_last_error()[0] == '\0') fuzz_fail(call, rc);
}

const char *queue_name(Input &in) { return queue_names[in.below(std::size(queue_names))]; }

/// A NULL engine now and then, else the engine.
corq_engine *engine_arg(State &s, Input &in) { return in.chance(5) ? nullptr : s.engine; }

std::uint64_t tag_arg(State &s, Input &in) {
  switch (in.u8() % 5) {
    case 0: return in.u64();
    case 1: return 0;
    default:
      if (s.tags.empty()) return in.u8();
      return s.tags[in.below(s.tags.size())] + (in.chance(10) ? 1 : 0);
  }
}

std::int64_t ms_arg(Input &in) {
  switch (in.u8() % 6) {
    case 0: return -1;
    case 1: return 0;
    case 2: return static_cast<std::int64_t>(in.u64());  // anything, negative and huge included
    case 3: return 1;
    default: return in.u16();
  }
}

void declare(State &s, Input &in) {
  corq_config *config = in.chance(20) ? nullptr : corq_config_new();
  if (config != nullptr) {
    if (!in.chance(10)) expect_rc("config", corq_config_set(config, "overflow", "reject"), {});
    // A queue's ring has max_length slots: keep them few, so an input runs fast (the pairs below
    // may still set another length).
    expect_rc("config", corq_config_set(config, "max_length", "64"), {});
    const std::size_t pairs = in.below(4);
    for (std::size_t i = 0; i < pairs; ++i) {
      const char *key = option_keys[in.below(std::size(option_keys))];
      const char *value = option_values[in.below(std::size(option_values))];
      expect_rc("corq_config_set", corq_config_set(config, key, value), {CORQ_EINVAL});
    }
  }
  const int rc = corq_queue_declare(engine_arg(s, in), queue_name(in), config);
  corq_config_free(config);
  expect_rc("corq_queue_declare", rc, {CORQ_EINVAL, CORQ_EEXIST});
  expect_detail("corq_queue_declare", rc);
}

/// Headers for a message: good ones, and now and then a bad one.
std::vector<corq_header> headers_arg(Input &in) {
  std::vector<corq_header> headers(in.below(4));
  for (corq_header &h : headers) {
    static const char *const keys[] = {"k", "trace", "x-death-reason", "", nullptr};
    h.key = in.chance(3) ? long_key.c_str() : keys[in.below(std::size(keys))];
    h.value = "value";
    h.value_len = in.below(6);
    if (in.chance(5)) h.value = nullptr;  // with value_len > 0: bad
  }
  return headers;
}

/// Fills a message; `headers` keeps the headers alive.
corq_message message_arg(Input &in, std::vector<corq_header> &headers) {
  corq_message m{};
  const std::string_view payload = in.bytes(64);
  m.data = payload.data();
  m.len = payload.size();
  if (in.chance(3)) {
    m.data = oversize.data();
    m.len = oversize.size();
  }
  if (in.chance(3)) m.data = nullptr;  // with len > 0: bad
  headers = headers_arg(in);
  m.headers = headers.empty() ? nullptr : headers.data();
  m.header_count = headers.size();
  // Bad counts corq can see: more than 64, or headers NULL. (A count larger than the array the
  // caller passes is the caller's bug no library can detect, so the fuzzer never makes one.)
  if (in.chance(3)) m.header_count = 65;
  if (in.chance(3) && m.header_count > 0) m.headers = nullptr;
  static const char *const dedup_ids[] = {nullptr, nullptr, "d1", "d2", ""};
  m.dedup_id = in.chance(3) ? long_dedup.c_str() : dedup_ids[in.below(std::size(dedup_ids))];
  return m;
}

corq_publish_options publish_options_arg(Input &in) {
  corq_publish_options o{};
  o.struct_size = in.chance(5) ? in.u8() : sizeof o;
  o.flags = in.chance(10) ? in.u32() : (in.chance(50) ? CORQ_PUBLISH_NOWAIT : 0);
  o.timeout_ms = 0;  // never wait (a full queue with overflow=block answers CORQ_EFULL at once)
  o.delay_ms = in.chance(30) ? ms_arg(in) : 0;
  o.ttl_ms = in.chance(30) ? ms_arg(in) : 0;
  return o;
}

constexpr std::initializer_list<int> publish_errors = {CORQ_EINVAL, CORQ_ENOENT, CORQ_ETOOBIG,
                                                       CORQ_EFULL};

void publish(State &s, Input &in) {
  std::vector<corq_header> headers;
  corq_message m = message_arg(in, headers);
  corq_publish_options o = publish_options_arg(in);
  const bool null_message = in.chance(3);
  std::uint64_t id = 0;
  const int rc = corq_publish(engine_arg(s, in), queue_name(in), null_message ? nullptr : &m, &o,
                              in.chance(20) ? nullptr : &id);
  expect_rc("corq_publish", rc, publish_errors);
  expect_detail("corq_publish", rc);
  if (rc == CORQ_OK && id > s.last_id) s.last_id = id;
}

void producer_send(State &s, Input &in) {
  corq_producer *p = s.producers[in.below(producers_max)];
  if (p == nullptr && !in.chance(10)) return;  // a NULL producer now and then
  const std::size_t count = in.below(batch_max + 1);
  std::vector<std::vector<corq_header>> headers(count);
  std::vector<corq_message> batch(count);
  for (std::size_t i = 0; i < count; ++i) batch[i] = message_arg(in, headers[i]);
  corq_publish_options o = publish_options_arg(in);
  std::uint64_t first = 0;
  const bool null_batch = count > 0 && in.chance(3);
  const int rc = corq_producer_send(p, null_batch ? nullptr : batch.data(), count,
                                    in.chance(10) ? nullptr : &o, &first);
  expect_rc("corq_producer_send", rc, publish_errors);
  expect_detail("corq_producer_send", rc);
  if (rc == CORQ_OK && count > 0 && first + count - 1 > s.last_id) s.last_id = first + count - 1;
}

void producer_open_close(State &s, Input &in) {
  corq_producer *&p = s.producers[in.below(producers_max)];
  if (p != nullptr) {
    corq_producer_close(p);
    p = nullptr;
    return;
  }
  const int rc = corq_producer_open(engine_arg(s, in), queue_name(in), in.chance(3) ? nullptr : &p);
  expect_rc("corq_producer_open", rc, {CORQ_EINVAL, CORQ_ENOENT});
  expect_detail("corq_producer_open", rc);
  if (rc != CORQ_OK) p = nullptr;
}

void consumer_open_close(State &s, Input &in) {
  const std::size_t slot = in.below(consumers_max);
  corq_consumer *&c = s.consumers[slot];
  if (c != nullptr) {
    expect_rc("corq_consumer_close", corq_consumer_close(c), {});
    c = nullptr;
    return;
  }
  static const std::uint32_t prefetches[] = {0, 1, 2, 4, 16, 65536, 65537};
  const std::uint32_t prefetch = prefetches[in.below(std::size(prefetches))];
  const int rc =
      corq_consumer_open(engine_arg(s, in), queue_name(in), prefetch, in.chance(3) ? nullptr : &c);
  expect_rc("corq_consumer_open", rc, {CORQ_EINVAL, CORQ_ENOENT});
  expect_detail("corq_consumer_open", rc);
  if (rc != CORQ_OK) c = nullptr;
  s.last_tag[slot] = 0;
}

/// Reads every byte a delivery lends (ASan reports a view into freed memory).
std::size_t touch(const corq_delivery &d) {
  std::size_t sum = 0;
  const auto *bytes = static_cast<const unsigned char *>(d.data);
  for (std::size_t i = 0; i < d.len; ++i) sum += bytes[i];
  for (std::size_t h = 0; h < d.header_count; ++h) {
    sum += std::strlen(d.headers[h].key);
    const auto *value = static_cast<const unsigned char *>(d.headers[h].value);
    for (std::size_t i = 0; i < d.headers[h].value_len; ++i) sum += value[i];
  }
  return sum;
}

void consume(State &s, Input &in) {
  const std::size_t slot = in.below(consumers_max);
  corq_consumer *c = s.consumers[slot];
  std::array<corq_delivery, deliveries_max> out{};
  const std::size_t max = in.below(deliveries_max + 1);
  const int n = corq_consume(c, in.chance(3) ? nullptr : out.data(), max, 0);
  if (n < 0) {
    expect_rc("corq_consume", n, {CORQ_EINVAL, CORQ_ECLOSED, CORQ_ENOENT});
    expect_detail("corq_consume", n);
    return;
  }
  if (static_cast<std::size_t>(n) > max) fuzz_fail("corq_consume returned more than max", n);
  volatile std::size_t sink = 0;
  for (int i = 0; i < n; ++i) {
    if (out[i].tag <= s.last_tag[slot]) fuzz_fail("tags do not increase per consumer", n);
    if (out[i].delivery_count == 0) fuzz_fail("a delivery with delivery_count 0", n);
    s.last_tag[slot] = out[i].tag;
    sink = sink + touch(out[i]);
    if (s.tags.size() == tags_kept_max) s.tags.erase(s.tags.begin());
    s.tags.push_back(out[i].tag);
  }
}

corq_consumer *consumer_arg(State &s, Input &in) { return s.consumers[in.below(consumers_max)]; }

void settle(State &s, Input &in, unsigned how) {
  corq_consumer *c = consumer_arg(s, in);
  if (c == nullptr && !in.chance(10)) return;
  const std::uint64_t tag = tag_arg(s, in);
  int rc = 0;
  switch (how) {
    case 0: rc = corq_ack(c, tag); break;
    case 1: rc = corq_ack_upto(c, tag); break;
    case 2: rc = corq_nack(c, tag, in.chance(20) ? -2 : (in.chance(50) ? -1 : in.u16())); break;
    case 3: rc = corq_release(c, tag); break;
    case 4: rc = corq_reject(c, tag, in.chance(50) ? nullptr : "poison"); break;
    default: rc = corq_extend(c, tag, ms_arg(in)); break;
  }
  expect_rc("settle", rc, {CORQ_ESTATE, CORQ_EINVAL});
  expect_detail("settle", rc);
}

void redrive(State &s, Input &in) {
  std::uint64_t moved = 0;
  const char *to = in.chance(50) ? nullptr : queue_name(in);
  const int rc = corq_redrive(engine_arg(s, in), queue_name(in), to, in.below(4),
                              in.chance(20) ? nullptr : &moved);
  expect_rc("corq_redrive", rc, {CORQ_EINVAL, CORQ_ENOENT, CORQ_EFULL});
  expect_detail("corq_redrive", rc);
}

void stats(State &s, Input &in) {
  if (in.chance(50)) {
    corq_queue_stats st{};
    st.struct_size = in.chance(10) ? in.u8() : sizeof st;
    const int rc =
        corq_queue_stats_get(engine_arg(s, in), queue_name(in), in.chance(5) ? nullptr : &st);
    expect_rc("corq_queue_stats_get", rc, {CORQ_EINVAL, CORQ_ENOENT});
    expect_detail("corq_queue_stats_get", rc);
    return;
  }
  char *json = nullptr;
  const int rc = corq_stats_json(engine_arg(s, in), in.chance(5) ? nullptr : &json);
  expect_rc("corq_stats_json", rc, {CORQ_EINVAL});
  if (rc == CORQ_OK && (json == nullptr || json[0] != '{'))
    fuzz_fail("stats_json is no object", rc);
  corq_free(json);
}

void queue_admin(State &s, Input &in) {
  if (in.chance(50)) {
    const int rc = corq_queue_delete(engine_arg(s, in), queue_name(in));
    expect_rc("corq_queue_delete", rc, {CORQ_EINVAL, CORQ_ENOENT});
    expect_detail("corq_queue_delete", rc);
    return;
  }
  std::uint64_t purged = 0;
  const int rc =
      corq_queue_purge(engine_arg(s, in), queue_name(in), in.chance(30) ? nullptr : &purged);
  expect_rc("corq_queue_purge", rc, {CORQ_EINVAL, CORQ_ENOENT});
  expect_detail("corq_queue_purge", rc);
}

void waits(State &s, Input &in) {
  switch (in.u8() % 4) {
    case 0: {
      // Any id already assigned is durable at once on an in-memory engine; others are EINVAL.
      const std::uint64_t id = in.chance(50) ? s.last_id : in.u64();
      corq_engine *engine = engine_arg(s, in);
      const int rc = corq_wait_durable(engine, id, 0);
      expect_rc("corq_wait_durable", rc, {CORQ_EINVAL});
      if (engine != nullptr && id != 0 && id <= s.last_id && rc != CORQ_OK)
        fuzz_fail("wait_durable of an assigned id", rc);
      break;
    }
    case 1:
      expect_rc("corq_sync", corq_sync(engine_arg(s, in), in.chance(20) ? -2 : 0), {CORQ_EINVAL});
      break;
    case 2: {
      corq_producer *p = s.producers[in.below(producers_max)];
      expect_rc("corq_producer_flush", corq_producer_flush(p, 0), {CORQ_EINVAL, CORQ_ENOENT});
      break;
    }
    default: {
      corq_consumer *c = consumer_arg(s, in);
      expect_rc("corq_consumer_wakeup", corq_consumer_wakeup(c), {CORQ_EINVAL});
      break;
    }
  }
}

void advance(State &s, Input &in) {
  static const std::int64_t steps_ms[] = {0, 1, 2, 50, 100, 1000, 30000, 120000};
  const std::int64_t ms = in.chance(10) ? -1 : steps_ms[in.below(std::size(steps_ms))];
  expect_rc("advance_clock", corq::testing::advance_clock(s.engine, ms), {CORQ_EINVAL});
}

void step(State &s, Input &in) {
  const unsigned op = in.u8() % 20;
  switch (op) {
    case 0:
    case 1: declare(s, in); break;
    case 2: queue_admin(s, in); break;
    case 3:
    case 4:
    case 5: publish(s, in); break;
    case 6: producer_open_close(s, in); break;
    case 7: producer_send(s, in); break;
    case 8: consumer_open_close(s, in); break;
    case 9:
    case 10: consume(s, in); break;
    case 11:
    case 12:
    case 13: settle(s, in, in.u8() % 6); break;
    case 14: redrive(s, in); break;
    case 15: stats(s, in); break;
    case 16: waits(s, in); break;
    case 17: advance(s, in); break;
    case 18: corq_strerror(static_cast<int>(in.u32())); break;
    default: settle(s, in, 0); break;
  }
}

/// After corq_close: every open handle answers CORQ_ECLOSED, then closes.
void close_everything(State &s) {
  expect_rc("corq_close", corq_close(s.engine), {});
  corq_delivery out[1];
  for (corq_consumer *&c : s.consumers) {
    if (c == nullptr) continue;
    const int rc = corq_consume(c, out, 1, 0);
    if (rc != CORQ_ECLOSED) fuzz_fail("consume after corq_close", rc);
    const int ack = corq_ack(c, s.tags.empty() ? 1 : s.tags.back());
    if (ack != CORQ_ECLOSED && ack != CORQ_ESTATE) fuzz_fail("ack after corq_close", ack);
    expect_rc("corq_consumer_close", corq_consumer_close(c), {});
    c = nullptr;
  }
  for (corq_producer *&p : s.producers) {
    if (p == nullptr) continue;
    corq_message m{};
    const int rc = corq_producer_send(p, &m, 1, nullptr, nullptr);
    if (rc != CORQ_ECLOSED) fuzz_fail("send after corq_close", rc);
    corq_producer_close(p);
    p = nullptr;
  }
}

}  // namespace
}  // namespace corq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace corq::fuzz;
  Input in(data, size);
  corq_config *config = corq_config_new();
  if (config == nullptr) fuzz_fail("corq_config_new", CORQ_ENOMEM);
  expect_rc("config", corq_config_set(config, "clock", "manual"), {});
  expect_rc("config", corq_config_set(config, "max_message_bytes", "4KiB"), {});
  State s;
  expect_rc("corq_open", corq_open(nullptr, config, &s.engine), {});
  corq_config_free(config);
  for (std::size_t i = 0; i < steps_max && !in.empty(); ++i) step(s, in);
  close_everything(s);
  return 0;
}
