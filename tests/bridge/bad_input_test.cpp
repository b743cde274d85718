// Bad input to the C API of corq/bridge.h, black-box, on an in-memory engine and without a NATS
// server: every call fails with the documented code and a detail in corq_bridge_last_error(), and
// a corq_bridge_start that fails takes nothing from the engine — a queue an outbound rule names
// keeps every message ready (none delivered, none in flight) and a stream's consumer group is not
// created — whether the config, a local name or the connection to the cluster is at fault.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <corq/bridge.h>
#include <corq/corq.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include "support/temp_dir.hpp"

namespace {

constexpr int message_count = 10;
constexpr int record_count = 5;
constexpr const char *secret = "Zq7-s3cret-Xv";

/// A TCP port on 127.0.0.1 nothing listens on: bound to port 0 (the kernel picks a free one),
/// then closed. Another program could take it in between; it would not speak NATS either.
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// An in-memory engine with a queue "jobs" holding 10 ready messages and a stream "events"
/// holding 5 records and no consumer group.
class BridgeBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(corq_open(nullptr, nullptr, &engine_), CORQ_OK) << corq_last_error();
    ASSERT_EQ(corq_queue_declare(engine_, "jobs", nullptr), CORQ_OK) << corq_last_error();
    for (int i = 0; i < message_count; ++i) {
      const std::string body = "m" + std::to_string(i);
      const corq_message m{body.data(), body.size(), nullptr, 0, nullptr};
      ASSERT_EQ(corq_publish(engine_, "jobs", &m, nullptr, nullptr), CORQ_OK) << corq_last_error();
    }
    ASSERT_EQ(corq_stream_declare(engine_, "events", nullptr), CORQ_OK) << corq_last_error();
    for (int i = 0; i < record_count; ++i) {
      const std::string body = "r" + std::to_string(i);
      const corq_message m{body.data(), body.size(), nullptr, 0, nullptr};
      ASSERT_EQ(corq_stream_append(engine_, "events", nullptr, 0, &m, nullptr, nullptr, nullptr),
                CORQ_OK)
          << corq_last_error();
    }
    expect_nothing_consumed();
  }

  void TearDown() override {
    if (engine_ != nullptr) {
      EXPECT_EQ(corq_close(engine_), CORQ_OK);
    }
  }

  /// "jobs" still holds its 10 messages ready, none ever delivered; "events" has its 5 records
  /// and no group (an outbound rule from it would have created "corq-bridge.<rule>").
  void expect_nothing_consumed() {
    corq_queue_stats q{};
    q.struct_size = sizeof q;
    ASSERT_EQ(corq_queue_stats_get(engine_, "jobs", &q), CORQ_OK) << corq_last_error();
    EXPECT_EQ(q.ready, static_cast<uint64_t>(message_count));
    EXPECT_EQ(q.in_flight, 0u);
    EXPECT_EQ(q.delivered, 0u);
    EXPECT_EQ(q.acked, 0u);
    EXPECT_EQ(q.released, 0u);
    EXPECT_EQ(q.consumers, 0u);
    corq_stream_stats s{};
    s.struct_size = sizeof s;
    ASSERT_EQ(corq_stream_stats_get(engine_, "events", &s), CORQ_OK) << corq_last_error();
    EXPECT_EQ(s.records, static_cast<uint64_t>(record_count));
    EXPECT_EQ(s.groups, 0u);
    corq_group_stats g{};
    g.struct_size = sizeof g;
    EXPECT_EQ(corq_group_stats_get(engine_, "events", "corq-bridge.out-events", &g), CORQ_ENOENT);
  }

  /// [nats] pointing at a port nothing listens on, then the rules.
  static std::string config_with(const std::string &rules, const std::string &nats_extra = "") {
    return "[nats]\nservers = nats://127.0.0.1:" + std::to_string(unused_port()) +
           "\nconnect_timeout_ms = 500\n" + nats_extra +
           "[outbound out-jobs]\nqueue = jobs\nsubject = corq.jobs\n"
           "[outbound out-events]\nstream = events\nsubject = corq.events\n" +
           rules;
  }

  /// Starts a bridge that must fail with `code`; *out must be NULL afterwards.
  std::string start_fails(const std::string &config, int code) {
    corq_bridge *bridge = reinterpret_cast<corq_bridge *>(&sentinel_);
    EXPECT_EQ(corq_bridge_start(engine_, config.c_str(), &bridge), code) << config;
    EXPECT_EQ(bridge, nullptr);
    const std::string detail = corq_bridge_last_error();
    EXPECT_FALSE(detail.empty());
    return detail;
  }

  corq_engine *engine_ = nullptr;
  int sentinel_ = 0;
};

/// A handle the functions must not look into: their argument checks come first. (A real bridge
/// needs a NATS server; these tests run without one.)
corq_bridge *never_dereferenced() {
  alignas(64) static unsigned char storage[256] = {};
  return reinterpret_cast<corq_bridge *>(storage);
}

TEST_F(BridgeBadInput, StartWithNullEngineIsEinvalWithADetail) {
  corq_bridge *bridge = reinterpret_cast<corq_bridge *>(&sentinel_);
  EXPECT_EQ(corq_bridge_start(nullptr, config_with("").c_str(), &bridge), CORQ_EINVAL);
  EXPECT_EQ(bridge, nullptr);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "engine is NULL")) << corq_bridge_last_error();
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithNullConfigIsEinvalWithADetail) {
  corq_bridge *bridge = reinterpret_cast<corq_bridge *>(&sentinel_);
  EXPECT_EQ(corq_bridge_start(engine_, nullptr, &bridge), CORQ_EINVAL);
  EXPECT_EQ(bridge, nullptr);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "config is NULL")) << corq_bridge_last_error();
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithNullOutIsEinvalWithADetail) {
  EXPECT_EQ(corq_bridge_start(engine_, config_with("").c_str(), nullptr), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "out is NULL")) << corq_bridge_last_error();
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithABadConfigIsEinvalNamingTheLine) {
  // config_with's [nats] takes lines 1-3 and its two rules 4-9: the added rule's subject is on
  // line 12.
  const std::string detail =
      start_fails(config_with("[outbound bad]\nqueue = jobs\nsubject = a.*\n"), CORQ_EINVAL);
  EXPECT_TRUE(contains(detail, "line 12:")) << detail;
  EXPECT_TRUE(contains(detail, "subject")) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithABadConfigDoesNotEchoTheSecret) {
  const std::string detail = start_fails(
      config_with("", "user = u\npassword = " + std::string(secret) + "\npassword = again\n"),
      CORQ_EINVAL);
  EXPECT_TRUE(contains(detail, "line 6:")) << detail;
  EXPECT_FALSE(contains(detail, secret)) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithAMissingLocalQueueIsEnoentNamingItAndConsumesNothing) {
  // The rules that name "jobs" and "events" come first and pass their check; the missing queue
  // is found before anything is consumed from them.
  std::string detail =
      start_fails(config_with("[outbound out-missing]\nqueue = no-such-queue\nsubject = corq.x\n"),
                  CORQ_ENOENT);
  EXPECT_TRUE(contains(detail, "no-such-queue")) << detail;
  EXPECT_TRUE(contains(detail, "out-missing")) << detail;
  expect_nothing_consumed();

  detail = start_fails(config_with("[inbound in-missing]\njetstream = ORDERS\ndurable = d\n"
                                   "queue = no-such-inbox\n"),
                       CORQ_ENOENT);
  EXPECT_TRUE(contains(detail, "no-such-inbox")) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithAMissingLocalStreamIsEnoentNamingItAndConsumesNothing) {
  std::string detail = start_fails(
      config_with("[outbound out-missing]\nstream = no-such-stream\nsubject = corq.x\n"),
      CORQ_ENOENT);
  EXPECT_TRUE(contains(detail, "no-such-stream")) << detail;
  expect_nothing_consumed();

  detail = start_fails(config_with("[inbound in-missing]\njetstream = ORDERS\ndurable = d\n"
                                   "stream = no-such-log\n"),
                       CORQ_ENOENT);
  EXPECT_TRUE(contains(detail, "no-such-log")) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithAQueueOfTheStreamsNameIsStillEnoent) {
  // Queues and streams have namespaces of their own: a queue "jobs" is no stream "jobs".
  const std::string detail = start_fails(
      config_with("[outbound out-wrong]\nstream = jobs\nsubject = corq.x\n"), CORQ_ENOENT);
  EXPECT_TRUE(contains(detail, "stream 'jobs'")) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithAnUnreachableServerIsEioAndConsumesNothing) {
  const std::string detail = start_fails(config_with(""), CORQ_EIO);
  EXPECT_TRUE(contains(detail, "cannot connect")) << detail;
  expect_nothing_consumed();
}

TEST_F(BridgeBadInput, StartWithAnUnreachableServerDoesNotEchoTheCredentials) {
  std::string detail = start_fails(
      config_with("", "user = alice\npassword = " + std::string(secret) + "\n"), CORQ_EIO);
  EXPECT_FALSE(contains(detail, secret)) << detail;
  detail = start_fails(config_with("", "token = " + std::string(secret) + "\n"), CORQ_EIO);
  EXPECT_FALSE(contains(detail, secret)) << detail;
  expect_nothing_consumed();
}

TEST(BridgeConfigCheck, AcceptsGoodTextAndRefusesBadTextNamingTheLine) {
  const std::string good =
      "[nats]\nservers = nats://127.0.0.1:4222\n[outbound o]\nqueue = jobs\nsubject = corq.jobs\n";
  EXPECT_EQ(corq_bridge_config_check(good.c_str()), CORQ_OK) << corq_bridge_last_error();
  EXPECT_STREQ(corq_bridge_last_error(), "");

  const std::string bad = good + "max_in_flight = 0\n";
  EXPECT_EQ(corq_bridge_config_check(bad.c_str()), CORQ_EINVAL);
  const std::string detail = corq_bridge_last_error();
  EXPECT_TRUE(contains(detail, "line 6:")) << detail;
  EXPECT_TRUE(contains(detail, "max_in_flight")) << detail;

  EXPECT_EQ(corq_bridge_config_check(""), CORQ_EINVAL);
  EXPECT_FALSE(std::string(corq_bridge_last_error()).empty());
}

TEST(BridgeConfigCheck, ReadsThePasswordFile) {
  corq::test::TempDir dir;
  const std::string path = dir.path() + "/password";
  const std::string config =
      "[nats]\nservers = nats://127.0.0.1:4222\nuser = u\npassword_file = " + path +
      "\n[outbound o]\nqueue = jobs\nsubject = corq.jobs\n";
  EXPECT_EQ(corq_bridge_config_check(config.c_str()), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "password_file")) << corq_bridge_last_error();
  {
    std::ofstream out(path);
    out << secret << "\n";
  }
  EXPECT_EQ(corq_bridge_config_check(config.c_str()), CORQ_OK) << corq_bridge_last_error();
  // With a second kind of credentials the check fails without echoing the password it read.
  const std::string both =
      "[nats]\nservers = nats://127.0.0.1:4222\ntoken = t\nuser = u\n"
      "password_file = " +
      path + "\n[outbound o]\nqueue = jobs\nsubject = s\n";
  EXPECT_EQ(corq_bridge_config_check(both.c_str()), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "more than one kind")) << corq_bridge_last_error();
  EXPECT_FALSE(contains(corq_bridge_last_error(), secret)) << corq_bridge_last_error();
}

TEST(BridgeConfigCheck, NullConfigIsEinvalWithADetail) {
  EXPECT_EQ(corq_bridge_config_check(nullptr), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "config is NULL")) << corq_bridge_last_error();
}

TEST(BridgeHandle, StatsJsonWithNullBridgeOrOutputIsEinval) {
  char *json = nullptr;
  EXPECT_EQ(corq_bridge_stats_json(nullptr, &json), CORQ_EINVAL);
  EXPECT_EQ(json, nullptr);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "bridge is NULL")) << corq_bridge_last_error();
  EXPECT_EQ(corq_bridge_stats_json(never_dereferenced(), nullptr), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "output is NULL")) << corq_bridge_last_error();
  EXPECT_EQ(corq_bridge_stats_json(nullptr, nullptr), CORQ_EINVAL);
  EXPECT_FALSE(std::string(corq_bridge_last_error()).empty());
}

TEST(BridgeHandle, MetricsTextWithNullBridgeOrOutputIsEinval) {
  char *text = nullptr;
  EXPECT_EQ(corq_bridge_metrics_text(nullptr, &text), CORQ_EINVAL);
  EXPECT_EQ(text, nullptr);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "bridge is NULL")) << corq_bridge_last_error();
  EXPECT_EQ(corq_bridge_metrics_text(never_dereferenced(), nullptr), CORQ_EINVAL);
  EXPECT_TRUE(contains(corq_bridge_last_error(), "output is NULL")) << corq_bridge_last_error();
  EXPECT_EQ(corq_bridge_metrics_text(nullptr, nullptr), CORQ_EINVAL);
  EXPECT_FALSE(std::string(corq_bridge_last_error()).empty());
}

TEST(BridgeHandle, StopWithNullBridgeIsEinval) {
  for (const int32_t timeout_ms : {-1, 0, 1000}) {
    EXPECT_EQ(corq_bridge_stop(nullptr, timeout_ms), CORQ_EINVAL);
    EXPECT_TRUE(contains(corq_bridge_last_error(), "bridge is NULL")) << corq_bridge_last_error();
  }
}

TEST(BridgeHandle, StopWithTimeoutBelowMinusOneIsEinvalAndLeavesTheHandleAlone) {
  for (const int32_t timeout_ms : {-2, -1000, INT32_MIN}) {
    EXPECT_EQ(corq_bridge_stop(never_dereferenced(), timeout_ms), CORQ_EINVAL);
    EXPECT_TRUE(contains(corq_bridge_last_error(), "timeout_ms")) << corq_bridge_last_error();
  }
  EXPECT_EQ(corq_bridge_stop(nullptr, -2), CORQ_EINVAL);
}

TEST(BridgeLastError, IsEmptyAfterASuccessfulCall) {
  EXPECT_EQ(corq_bridge_config_check(nullptr), CORQ_EINVAL);
  ASSERT_FALSE(std::string(corq_bridge_last_error()).empty());
  const char *good =
      "[nats]\nservers = nats://127.0.0.1:4222\n[inbound i]\njetstream = J\ndurable = d\n"
      "queue = q\n";
  EXPECT_EQ(corq_bridge_config_check(good), CORQ_OK);
  EXPECT_STREQ(corq_bridge_last_error(), "");
}

TEST(BridgeLastError, IsPerThread) {
  EXPECT_EQ(corq_bridge_config_check(nullptr), CORQ_EINVAL);
  const std::string mine = corq_bridge_last_error();
  ASSERT_FALSE(mine.empty());
  std::string other_before, other_after;
  std::thread other([&] {
    other_before = corq_bridge_last_error();
    corq_bridge_config_check("[bogus]\n");
    other_after = corq_bridge_last_error();
  });
  other.join();
  EXPECT_EQ(other_before, "");
  EXPECT_TRUE(contains(other_after, "line 1:")) << other_after;
  EXPECT_EQ(corq_bridge_last_error(), mine);
}

}  // namespace
