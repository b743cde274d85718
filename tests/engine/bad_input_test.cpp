// Bad input to every C API function: each call must fail with the documented code, leave a fresh
// non-empty detail message (corq_last_error), never crash, and change nothing — stats stay the
// same, no queue appears or disappears, and a message that was deliverable still is.
#include "engine/helpers.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <string>
#include <vector>

namespace {

using namespace corq::test;

const std::string name_201(201, 'n');
const std::string name_200(200, 'n');

/// An engine with one queue, "jobs", holding one ready message, "keep".
class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = open_manual_engine({{"max_message_bytes", "1KiB"}});
    must_declare(e(), "jobs", {{"max_length", "3"}, {"overflow", "reject"}});
    publish(e(), "jobs", "keep");
    before_ = stats(e(), "jobs");
    json_before_ = json();
  }

  corq_engine *e() { return engine_.get(); }

  std::string json() {
    char *text = nullptr;
    must(corq_stats_json(e(), &text), "stats_json");
    std::string out(text);
    corq_free(text);
    return out;
  }

  /// Nothing changed: same stats for "jobs", same queues and stats everywhere, and "keep" is still
  /// the next delivery.
  void expect_nothing_changed() {
    EXPECT_EQ(describe(stats(e(), "jobs")), describe(before_));
    EXPECT_EQ(json(), json_before_);
    ConsumerPtr c = open_consumer(e(), "jobs", 1);
    const std::optional<corq_delivery> d = consume_one(c.get());
    ASSERT_TRUE(d.has_value()) << "the ready message is gone";
    EXPECT_EQ(payload(*d), "keep");
  }

  EnginePtr engine_;
  corq_queue_stats before_{};
  std::string json_before_;
};

bool queue_exists(corq_engine *engine, const char *queue) {
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  return corq_queue_stats_get(engine, queue, &s) == CORQ_OK;
}

// ---- corq_config_* ------------------------------------------------------------------------------

TEST(BadInputConfig, config_set_rejects_null_arguments_and_unknown_keys) {
  ConfigPtr c(corq_config_new());
  ASSERT_NE(c, nullptr);
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(nullptr, "sync", "none"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), nullptr, "none"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), "sync", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), "", "1"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), "no_such_option", "1"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), "max_length ", "1"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_config_set(c.get(), "x-death-reason", "1"));
  // The refused keys were not stored: the config still opens an engine and declares a queue.
  corq_engine *engine = nullptr;
  EXPECT_CORQ_OK(corq_open(nullptr, c.get(), &engine));
  EnginePtr owned(engine);
  EXPECT_CORQ_OK(corq_queue_declare(engine, "q", c.get()));
  corq_config_free(nullptr);  // a no-op
}

TEST(BadInputConfig, config_set_accepts_every_documented_key) {
  ConfigPtr c(corq_config_new());
  ASSERT_NE(c, nullptr);
  const Options all = {{"sync", "none"},
                       {"io_backend", "auto"},
                       {"direct_io", "auto"},
                       {"segment_bytes", "64MiB"},
                       {"max_message_bytes", "1MiB"},
                       {"clock", "manual"},
                       {"durable", "false"},
                       {"max_length", "10"},
                       {"max_bytes", "1GiB"},
                       {"overflow", "drop_head"},
                       {"message_ttl_ms", "0"},
                       {"max_attempts", "0"},
                       {"dead_letter_queue", ""},
                       {"retry_delay_ms", "100"},
                       {"retry_backoff", "2.0"},
                       {"retry_delay_max_ms", "60000"},
                       {"lease_ms", "30000"},
                       {"dedup_window_ms", "0"},
                       {"shards", "1"}};
  for (const auto &[key, value] : all)
    EXPECT_CORQ_OK(corq_config_set(c.get(), key.c_str(), value.c_str()));
  // Setting a key twice keeps the last value.
  EXPECT_CORQ_OK(corq_config_set(c.get(), "overflow", "reject"));
}

// ---- corq_open / corq_close / corq_sync
// -----------------------------------------------------------

TEST(BadInputOpen, open_rejects_null_out) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_open(nullptr, nullptr, nullptr));
}

TEST(BadInputOpen, open_rejects_an_empty_directory_name_and_a_file_as_directory) {
  corq_engine *engine = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_open("", nullptr, &engine));
  EXPECT_EQ(engine, nullptr);
  char path[] = "/tmp/corq-bad-open-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_CORQ_FAILS(CORQ_EIO, corq_open(path, nullptr, &engine));  // a file, not a directory
  EXPECT_EQ(engine, nullptr);
  ::unlink(path);
}

TEST(BadInputOpen, open_rejects_queue_keys) {
  for (const char *key :
       {"max_length", "durable", "overflow", "lease_ms", "shards", "dead_letter_queue"}) {
    const std::string value = key == std::string("durable")    ? "false"
                              : key == std::string("overflow") ? "reject"
                                                               : "1";
    ConfigPtr c = make_config({{key, value}});  // a good queue value: refused only at open
    corq_engine *engine = nullptr;
    EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_open(nullptr, c.get(), &engine));
    EXPECT_EQ(engine, nullptr) << key;
    if (engine != nullptr) corq_close(engine);
  }
}

TEST(BadInputOpen, open_rejects_bad_values_naming_the_key) {
  const Options bad = {{"sync", "sometimes"},
                       {"sync", ""},
                       {"io_backend", "magic"},
                       {"direct_io", "maybe"},
                       {"segment_bytes", "abc"},
                       {"segment_bytes", "-1"},
                       {"max_message_bytes", "abc"},
                       {"max_message_bytes", "-1"},
                       {"max_message_bytes", "65MiB"},
                       {"max_message_bytes", "12XiB"},
                       {"max_message_bytes", "99999999999999999999999"},
                       {"clock", "sundial"},
                       // engine/README.md's limits: segments 1 MiB-1 TiB, messages 1 B-64 MiB.
                       {"segment_bytes", "1KiB"},
                       {"max_message_bytes", "0"}};
  for (const auto &[key, value] : bad) {
    corq_engine *engine = nullptr;
    EXPECT_CORQ_FAILS(CORQ_EINVAL, try_open({{key, value}}, &engine));
    EXPECT_NE(std::string(corq_last_error()).find(key), std::string::npos)
        << key << "=" << value << ": the detail should name the key: " << corq_last_error();
    EXPECT_EQ(engine, nullptr) << key << "=" << value;
    if (engine != nullptr) corq_close(engine);
  }
}

TEST(BadInputOpen, open_accepts_good_values) {
  const Options good = {{"sync", "none"},
                        {"sync", "always"},
                        {"io_backend", "psync"},
                        {"io_backend", "auto"},
                        {"direct_io", "false"},
                        {"segment_bytes", "1048576"},
                        {"max_message_bytes", "64MiB"},
                        {"max_message_bytes", "4096"},
                        {"clock", "system"},
                        {"clock", "manual"}};
  for (const auto &[key, value] : good) {
    ConfigPtr c = make_config({{key, value}});
    corq_engine *engine = nullptr;
    EXPECT_CORQ_OK(corq_open(nullptr, c.get(), &engine));
    if (engine != nullptr) {
      EXPECT_CORQ_OK(corq_close(engine));
    }
  }
}

TEST(BadInputOpen, every_engine_function_rejects_a_null_engine) {
  const corq_message m = message("x");
  std::uint64_t n = 0;
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  char *json = nullptr;
  corq_producer *p = nullptr;
  corq_consumer *c = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_close(nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_sync(nullptr, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare(nullptr, "jobs", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_delete(nullptr, "jobs"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_purge(nullptr, "jobs", &n));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(nullptr, "jobs", &m, nullptr, &n));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_wait_durable(nullptr, 1, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(nullptr, "jobs", &p));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(nullptr, "jobs", 1, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(nullptr, "jobs", &s));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_stats_json(nullptr, &json));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(nullptr, "jobs.dlq", nullptr, 0, &n));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_set_log_callback(nullptr, nullptr, nullptr));
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(json, nullptr);
  corq_free(nullptr);  // a no-op
}

TEST_F(BadInput, sync_on_memory_engine_returns_ok_and_rejects_nothing_else) {
  EXPECT_CORQ_OK(corq_sync(e(), 0));
  EXPECT_CORQ_OK(corq_sync(e(), -1));
  expect_nothing_changed();
}

// ---- corq_queue_declare / delete / purge
// -----------------------------------------------------------

TEST_F(BadInput, declare_rejects_bad_names) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_declare(e(), nullptr, nullptr));
  for (const std::string &name :
       {std::string(), name_201, std::string("a b"), std::string("a/b"), std::string("caf\xc3\xa9"),
        std::string("tab\t"), std::string("semi;colon"), std::string("star*"),
        std::string("new\nline"), std::string("q\"uote")}) {
    EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(e(), name)) << "name: " << name;
  }
  expect_nothing_changed();
  // The edges of the rule are fine: 200 bytes, every allowed character class.
  EXPECT_CORQ_OK(declare(e(), name_200, {{"dead_letter_queue", ""}}));
  EXPECT_CORQ_OK(declare(e(), "Az09._:-"));
}

TEST_F(BadInput, declare_rejects_engine_keys_and_bad_values_naming_the_key) {
  const Options bad = {
      {"sync", "always"},
      {"max_message_bytes", "1KiB"},
      {"clock", "manual"},
      {"durable", "true"},  // in-memory engine
      {"durable", "maybe"},
      {"max_length", "abc"},
      {"max_length", "-1"},
      {"max_length", ""},
      {"max_length", "1.5"},
      {"max_length", "10abc"},
      {"max_length", "99999999999999999999999"},
      {"max_bytes", "abc"},
      {"max_bytes", "-1"},
      {"max_bytes", "5XiB"},
      {"overflow", "maybe"},
      {"overflow", ""},
      {"message_ttl_ms", "-1"},
      {"message_ttl_ms", "abc"},
      {"max_attempts", "-1"},
      {"max_attempts", "abc"},
      {"dead_letter_queue", "bad name!"},
      {"dead_letter_queue", name_201},
      {"retry_delay_ms", "-1"},
      {"retry_delay_ms", "abc"},
      {"retry_backoff", "0.5"},
      {"retry_backoff", "0"},
      {"retry_backoff", "-2"},
      {"retry_backoff", "abc"},
      {"retry_backoff", "nan"},
      {"retry_delay_max_ms", "-1"},
      {"retry_delay_max_ms", "abc"},
      {"lease_ms", "0"},
      {"lease_ms", "-1"},
      {"lease_ms", "abc"},
      {"dedup_window_ms", "-1"},
      {"dedup_window_ms", "abc"},
      {"shards", "0"},
      {"shards", "-1"},
      {"shards", "abc"},
      // engine/README.md's limits: max_length 1-2^28, shards 1-64, retry_backoff 1.0-100.0, delays,
      // TTLs and leases up to 2^32-1 ms.
      {"max_length", "0"},
      {"max_length", "268435457"},
      {"shards", "65"},
      {"retry_backoff", "100.5"},
      {"lease_ms", "4294967296"},
      {"message_ttl_ms", "4294967296"},
      {"retry_delay_ms", "4294967296"},
      {"retry_delay_max_ms", "4294967296"},
  };
  for (const auto &[key, value] : bad) {
    EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(e(), "fresh", {{key, value}})) << key << "=" << value;
    EXPECT_NE(std::string(corq_last_error()).find(key), std::string::npos)
        << key << "=" << value << ": the detail should name the key: " << corq_last_error();
    EXPECT_FALSE(queue_exists(e(), "fresh")) << key << "=" << value;
    EXPECT_FALSE(queue_exists(e(), "fresh.dlq")) << key << "=" << value;
    // Bad values on an existing queue are EINVAL too, not EEXIST, and change nothing.
    EXPECT_CORQ_FAILS(CORQ_EINVAL, declare(e(), "jobs", {{key, value}})) << key << "=" << value;
  }
  expect_nothing_changed();
  EXPECT_CORQ_OK(declare(e(), "fresh", {{"durable", "false"}, {"retry_backoff", "1"}}));
  // The edges of engine/README.md's limits are accepted.
  EXPECT_CORQ_OK(declare(e(), "edges",
                         {{"max_length", "268435456"},
                          {"shards", "64"},
                          {"retry_backoff", "100"},
                          {"lease_ms", "4294967295"},
                          {"message_ttl_ms", "4294967295"}}));
}

TEST_F(BadInput, delete_rejects_bad_names_and_missing_queues) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_delete(e(), nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_delete(e(), ""));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_delete(e(), name_201.c_str()));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_delete(e(), "a b"));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_delete(e(), "missing"));
  expect_nothing_changed();
}

TEST_F(BadInput, purge_rejects_bad_names_and_missing_queues) {
  std::uint64_t purged = 77;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_purge(e(), nullptr, &purged));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_purge(e(), "", &purged));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_purge(e(), name_201.c_str(), &purged));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_purge(e(), "a/b", &purged));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_purge(e(), "missing", &purged));
  expect_nothing_changed();
}

// ---- corq_publish
// ---------------------------------------------------------------------------------

TEST_F(BadInput, publish_rejects_bad_queue_names_and_missing_queues) {
  const corq_message m = message("x");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), nullptr, &m, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), "", &m, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), name_201.c_str(), &m, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), "bad name", &m, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_publish(e(), "missing", &m, nullptr, nullptr));
  expect_nothing_changed();
}

TEST_F(BadInput, publish_rejects_bad_messages) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), "jobs", nullptr, nullptr, nullptr));

  corq_message m = message("x");
  m.data = nullptr;
  m.len = 5;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), "jobs", &m, nullptr, nullptr));

  m = message("x");
  m.headers = nullptr;
  m.header_count = 1;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_publish(e(), "jobs", &m, nullptr, nullptr));

  std::vector<std::string> keys;
  for (int i = 0; i < 65; ++i) keys.push_back(numbered("h", i));
  std::vector<corq_header> too_many;
  for (const std::string &k : keys) too_many.push_back(header(k.c_str(), "v"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_publish(e(), "jobs", "x", nullptr, nullptr, too_many));

  const std::string key_256(256, 'k');
  const std::vector<std::vector<corq_header>> bad_headers = {
      {corq_header{nullptr, "v", 1}},
      {header("", "v")},
      {header(key_256.c_str(), "v")},
      {header("ok", "v"), corq_header{"null-value", nullptr, 3}},
  };
  for (const std::vector<corq_header> &hs : bad_headers) {
    EXPECT_CORQ_FAILS(CORQ_EINVAL, try_publish(e(), "jobs", "x", nullptr, nullptr, hs));
  }

  const std::string dedup_256(256, 'd');
  EXPECT_CORQ_FAILS(CORQ_EINVAL, try_publish(e(), "jobs", "x", nullptr, nullptr, {}, ""));
  EXPECT_CORQ_FAILS(CORQ_EINVAL,
                    try_publish(e(), "jobs", "x", nullptr, nullptr, {}, dedup_256.c_str()));
  expect_nothing_changed();
}

TEST_F(BadInput, publish_rejects_bad_options) {
  std::vector<corq_publish_options> bad;
  for (std::uint32_t size :
       {0u, 4u, static_cast<std::uint32_t>(sizeof(corq_publish_options) - 1)}) {
    corq_publish_options o = publish_options();
    o.struct_size = size;
    bad.push_back(o);
  }
  bad.push_back(publish_options(/*delay_ms=*/-1));
  bad.push_back(publish_options(0, /*ttl_ms=*/-1));
  bad.push_back(publish_options(0, 0, /*timeout_ms=*/-2));
  // engine/README.md: delays up to 2^32-1 ms.
  bad.push_back(publish_options(/*delay_ms=*/std::int64_t{1} << 32));
  bad.push_back(publish_options(0, /*ttl_ms=*/std::int64_t{1} << 32));
  for (const corq_publish_options &o : bad) {
    EXPECT_CORQ_FAILS(CORQ_EINVAL, try_publish(e(), "jobs", "x", &o))
        << "struct_size=" << o.struct_size << " delay_ms=" << o.delay_ms << " ttl_ms=" << o.ttl_ms
        << " timeout_ms=" << o.timeout_ms;
  }
  expect_nothing_changed();
}

TEST_F(BadInput, publish_of_oversize_message_is_etoobig) {
  const std::string too_big(1025, 'x');
  EXPECT_CORQ_FAILS(CORQ_ETOOBIG, try_publish(e(), "jobs", too_big));
  ProducerPtr p = open_producer(e(), "jobs");
  const std::vector<corq_message> batch = {message("small"), message(too_big)};
  EXPECT_CORQ_FAILS(CORQ_ETOOBIG, corq_producer_send(p.get(), batch.data(), 2, nullptr, nullptr));
  expect_nothing_changed();
  EXPECT_CORQ_OK(try_publish(e(), "jobs", std::string(1024, 'x')));  // exactly the limit
}

TEST(BadInputDefaults, default_max_message_bytes_is_one_mib) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "jobs");
  EXPECT_CORQ_FAILS(CORQ_ETOOBIG, try_publish(e.get(), "jobs", std::string((1u << 20) + 1, 'x')));
  EXPECT_EQ(stats(e.get(), "jobs").ready, 0u);
  EXPECT_CORQ_OK(try_publish(e.get(), "jobs", std::string(1u << 20, 'x')));
}

TEST_F(BadInput, wait_durable_rejects_ids_never_assigned) {
  std::uint64_t id = publish(e(), "jobs", "second");
  EXPECT_CORQ_OK(corq_wait_durable(e(), id, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_wait_durable(e(), id + 1000, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_wait_durable(e(), UINT64_MAX, 0));
}

// ---- corq_producer_*
// ------------------------------------------------------------------------------

TEST_F(BadInput, producer_open_rejects_bad_arguments) {
  corq_producer *p = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(e(), nullptr, &p));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(e(), "", &p));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(e(), name_201.c_str(), &p));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(e(), "a*b", &p));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_open(e(), "jobs", nullptr));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_producer_open(e(), "missing", &p));
  EXPECT_EQ(p, nullptr);
  expect_nothing_changed();
  corq_producer_close(nullptr);  // a no-op
}

TEST_F(BadInput, producer_send_rejects_bad_batches_whole) {
  ProducerPtr p = open_producer(e(), "jobs");
  const corq_message good = message("ok");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(nullptr, &good, 1, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(p.get(), nullptr, 1, nullptr, nullptr));
  // One bad message spoils the batch: nothing of it is accepted.
  corq_message bad = message("bad");
  bad.data = nullptr;
  const std::vector<corq_message> mixed = {good, bad};
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(p.get(), mixed.data(), 2, nullptr, nullptr));
  const std::vector<corq_header> null_key = {corq_header{nullptr, "v", 1}};
  const std::vector<corq_message> bad_header = {good, message("h", null_key)};
  EXPECT_CORQ_FAILS(CORQ_EINVAL,
                    corq_producer_send(p.get(), bad_header.data(), 2, nullptr, nullptr));
  // A batch larger than max_length (3) can never be accepted.
  const std::vector<corq_message> four = {good, good, good, good};
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(p.get(), four.data(), 4, nullptr, nullptr));
  corq_publish_options o = publish_options();
  o.struct_size = 0;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(p.get(), &good, 1, &o, nullptr));
  o = publish_options(-5);
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_send(p.get(), &good, 1, &o, nullptr));
  // count 0 is a no-op.
  EXPECT_CORQ_OK(corq_producer_send(p.get(), nullptr, 0, nullptr, nullptr));
  EXPECT_CORQ_OK(corq_producer_send(p.get(), &good, 0, nullptr, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_producer_flush(nullptr, 0));
  EXPECT_CORQ_OK(corq_producer_flush(p.get(), 0));
  expect_nothing_changed();
}

// ---- corq_consumer_* and corq_consume
// -------------------------------------------------------------

TEST_F(BadInput, consumer_open_rejects_bad_arguments) {
  corq_consumer *c = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), nullptr, 1, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "", 1, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), name_201.c_str(), 1, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "a?b", 1, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "jobs", 1, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "jobs", 0, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "jobs", 65537, &c));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_open(e(), "jobs", UINT32_MAX, &c));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_consumer_open(e(), "missing", 1, &c));
  EXPECT_EQ(c, nullptr);
  expect_nothing_changed();
  // The edges are fine.
  EXPECT_NE(open_consumer(e(), "jobs", 65536), nullptr);
  EXPECT_NE(open_consumer(e(), "jobs", 1), nullptr);
}

TEST_F(BadInput, consume_rejects_null_consumer_and_null_out) {
  ConsumerPtr c = open_consumer(e(), "jobs", 4);
  corq_delivery out[1];
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consume(nullptr, out, 1, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consume(c.get(), nullptr, 1, 0));
  EXPECT_EQ(corq_consume(c.get(), nullptr, 0, 0), 0) << "max 0 asks for nothing";
  EXPECT_EQ(corq_consume(c.get(), out, 0, 0), 0);
  c.reset();
  expect_nothing_changed();
}

TEST_F(BadInput, settling_with_null_consumer_is_einval) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_ack(nullptr, 1));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_ack_upto(nullptr, 1));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_nack(nullptr, 1, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_release(nullptr, 1));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_reject(nullptr, 1, "x"));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_extend(nullptr, 1, 1000));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_wakeup(nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_consumer_close(nullptr));
  expect_nothing_changed();
}

/// A consumer holding "keep" in flight; checks it stays held and ackable after bad settles.
class BadSettle : public BadInput {
 protected:
  void SetUp() override {
    BadInput::SetUp();
    consumer_ = open_consumer(e(), "jobs", 4);
    held_ = must_consume_one(consumer_.get());
    held_stats_ = stats(e(), "jobs");
  }
  void expect_still_held() {
    EXPECT_EQ(describe(stats(e(), "jobs")), describe(held_stats_));
    EXPECT_EQ(payload(held_), "keep");
    EXPECT_CORQ_OK(corq_ack(consumer_.get(), held_.tag));
  }
  ConsumerPtr consumer_;
  corq_delivery held_{};
  corq_queue_stats held_stats_{};
};

TEST_F(BadSettle, unknown_tags_are_estate) {
  corq_consumer *c = consumer_.get();
  for (std::uint64_t tag : {held_.tag + 1, held_.tag + 1'000'000, std::uint64_t{UINT64_MAX}}) {
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c, tag));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(c, tag, 0));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_release(c, tag));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_reject(c, tag, "x"));
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_extend(c, tag, 1000));
  }
  if (held_.tag > 0) {
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack_upto(c, held_.tag - 1));
  }
  expect_still_held();
}

TEST_F(BadSettle, tags_of_another_consumer_are_estate) {
  publish(e(), "jobs", "other");
  ConsumerPtr other = open_consumer(e(), "jobs", 4);
  const corq_delivery theirs = must_consume_one(other.get());
  held_stats_ = stats(e(), "jobs");
  if (theirs.tag != held_.tag) {
    EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(consumer_.get(), theirs.tag));
  }
  EXPECT_CORQ_OK(corq_ack(other.get(), theirs.tag));
  held_stats_ = stats(e(), "jobs");
  expect_still_held();
}

TEST_F(BadSettle, already_settled_tags_are_estate) {
  publish(e(), "jobs", "second");
  const corq_delivery second = must_consume_one(consumer_.get());
  EXPECT_CORQ_OK(corq_ack(consumer_.get(), second.tag));
  held_stats_ = stats(e(), "jobs");
  corq_consumer *c = consumer_.get();
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_ack(c, second.tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_nack(c, second.tag, 0));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_release(c, second.tag));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_reject(c, second.tag, nullptr));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_extend(c, second.tag, 1000));
  expect_still_held();
}

TEST_F(BadSettle, nack_delay_below_minus_one_is_einval) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_nack(consumer_.get(), held_.tag, -2));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_nack(consumer_.get(), held_.tag, INT64_MIN));
  // engine/README.md: delays up to 2^32-1 ms.
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_nack(consumer_.get(), held_.tag, std::int64_t{1} << 32));
  expect_still_held();
}

TEST_F(BadSettle, extend_with_lease_ms_not_positive_is_einval) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_extend(consumer_.get(), held_.tag, 0));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_extend(consumer_.get(), held_.tag, -1));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_extend(consumer_.get(), held_.tag, INT64_MIN));
  // engine/README.md: leases up to 2^32-1 ms.
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_extend(consumer_.get(), held_.tag, std::int64_t{1} << 32));
  expect_still_held();
}

TEST_F(BadSettle, consume_on_woken_consumer_is_eclosed) {
  publish(e(), "jobs", "waiting");
  held_stats_ = stats(e(), "jobs");
  EXPECT_CORQ_OK(corq_consumer_wakeup(consumer_.get()));
  corq_delivery out[4];
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(consumer_.get(), out, 4, 0));
  EXPECT_CORQ_FAILS(CORQ_ECLOSED, corq_consume(consumer_.get(), out, 4, 50));
  expect_still_held();  // settling still works after a wakeup
  // The message that was waiting was not taken.
  ConsumerPtr other = open_consumer(e(), "jobs", 1);
  const std::optional<corq_delivery> d = consume_one(other.get());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(payload(*d), "waiting");
}

// ---- Observability and dead letters
// ----------------------------------------------------------------

TEST_F(BadInput, stats_get_rejects_bad_arguments) {
  corq_queue_stats s{};
  s.struct_size = sizeof s;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), "jobs", nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), nullptr, &s));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), "", &s));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), name_201.c_str(), &s));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), "a b", &s));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_queue_stats_get(e(), "missing", &s));
  // Sizes of no version of the struct: the first version ends after oldest_ready_age_ms.
  const auto v1 = static_cast<std::uint32_t>(offsetof(corq_queue_stats, oldest_ready_age_ms) + 8);
  for (std::uint32_t size :
       {0u, 4u, v1 - 1, v1 + 1, static_cast<std::uint32_t>(sizeof(corq_queue_stats) - 1)}) {
    s.struct_size = size;
    EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_queue_stats_get(e(), "jobs", &s)) << "struct_size " << size;
  }
  expect_nothing_changed();
}

TEST_F(BadInput, stats_json_rejects_null_out) {
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_stats_json(e(), nullptr));
  expect_nothing_changed();
}

TEST_F(BadInput, redrive_rejects_bad_arguments) {
  // Put one message in jobs.dlq.
  publish(e(), "jobs", "dead");
  {
    ConsumerPtr c = open_consumer(e(), "jobs", 2);
    for (const corq_delivery &d : consume(c.get(), 2)) {
      if (payload(d) == "dead") {
        must(corq_reject(c.get(), d.tag, nullptr), "reject");
      } else {
        must(corq_release(c.get(), d.tag), "release");
      }
    }
  }
  const std::string json_with_dead = json();
  const corq_queue_stats dlq_before = stats(e(), "jobs.dlq");
  ASSERT_EQ(dlq_before.ready, 1u);
  std::uint64_t moved = 77;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), nullptr, nullptr, 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), "", nullptr, 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), name_201.c_str(), nullptr, 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), "bad name", nullptr, 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), "jobs.dlq", "", 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_redrive(e(), "jobs.dlq", "bad name", 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_redrive(e(), "missing", nullptr, 0, &moved));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, corq_redrive(e(), "jobs.dlq", "missing", 0, &moved));
  EXPECT_EQ(describe(stats(e(), "jobs.dlq")), describe(dlq_before));
  EXPECT_EQ(json(), json_with_dead);
  // *moved may be NULL.
  EXPECT_CORQ_OK(corq_redrive(e(), "jobs.dlq", nullptr, 0, nullptr));
  EXPECT_EQ(stats(e(), "jobs.dlq").ready, 0u);
}

TEST_F(BadInput, redrive_stops_at_a_full_target_leaving_the_message) {
  // jobs holds 1 of max_length 3 (overflow=reject); put 3 in its dead-letter queue.
  must_declare(e(), "src", {{"dead_letter_queue", "jobs.dlq"}});
  for (int i = 0; i < 3; ++i) publish(e(), "src", numbered("d", i));
  ConsumerPtr c = open_consumer(e(), "src", 3);
  for (const corq_delivery &d : consume(c.get(), 3))
    must(corq_reject(c.get(), d.tag, nullptr), "reject");
  ASSERT_EQ(stats(e(), "jobs.dlq").ready, 3u);
  std::uint64_t moved = 0;
  EXPECT_CORQ_FAILS(CORQ_EFULL, corq_redrive(e(), "jobs.dlq", "jobs", 0, &moved));
  EXPECT_EQ(moved, 2u);
  EXPECT_EQ(stats(e(), "jobs.dlq").ready, 1u);
  EXPECT_EQ(stats(e(), "jobs").ready, 3u);
}

TEST_F(BadInput, log_callback_can_be_set_and_removed) {
  EXPECT_CORQ_OK(corq_set_log_callback(
      e(), [](void *, int, const char *) {}, nullptr));
  EXPECT_CORQ_OK(corq_set_log_callback(e(), nullptr, nullptr));
  expect_nothing_changed();
}

}  // namespace
