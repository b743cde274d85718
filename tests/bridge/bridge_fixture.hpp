// tests/bridge/bridge_fixture.hpp — what the corq-bridge cluster tests share: one 3-node
// JetStream cluster per suite (TLS + user/password), configs that reach it, queues filled with
// numbered messages, and the checks "every number exactly once".
#pragma once

#include <corq/bridge.h>
#include <corq/corq.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nats_cluster.hpp"
#include "support/temp_dir.hpp"

namespace corq::test {

/// The payload of message number i: "m00000042" and padding to `size` bytes.
inline std::string numbered_payload(std::uint64_t i, std::size_t size = 100) {
  char head[32];
  std::snprintf(head, sizeof head, "m%08llu", static_cast<unsigned long long>(i));
  std::string payload(head);
  payload.resize(std::max(size, payload.size()), '.');
  return payload;
}

/// The number in a numbered payload, or -1.
inline long long number_of(const void *data, std::size_t len) {
  if (len < 9 || static_cast<const char *>(data)[0] != 'm') return -1;
  return std::strtoll(std::string(static_cast<const char *>(data) + 1, 8).c_str(), nullptr, 10);
}

/// Polls `done` every 20 ms until it holds or timeout_ms passes.
inline bool wait_until(const std::function<bool()> &done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

inline corq_queue_stats queue_stats(corq_engine *engine, const char *queue) {
  corq_queue_stats st{};
  st.struct_size = sizeof st;
  EXPECT_EQ(corq_queue_stats_get(engine, queue, &st), CORQ_OK) << corq_last_error();
  return st;
}

/// Publishes numbered messages [first, first + count) to `queue`, in batches.
inline void publish_numbered(corq_engine *engine, const char *queue, std::uint64_t first,
                             std::uint64_t count, std::size_t size = 100) {
  corq_producer *producer = nullptr;
  ASSERT_EQ(corq_producer_open(engine, queue, &producer), CORQ_OK) << corq_last_error();
  std::vector<std::string> payloads;
  std::vector<corq_message> batch;
  for (std::uint64_t i = first; i < first + count;) {
    payloads.clear();
    batch.clear();
    for (int k = 0; k < 256 && i < first + count; ++k, ++i)
      payloads.push_back(numbered_payload(i, size));
    for (const auto &p : payloads)
      batch.push_back(corq_message{p.data(), p.size(), nullptr, 0, nullptr});
    corq_publish_options options{};
    options.struct_size = sizeof options;
    options.flags = CORQ_PUBLISH_NOWAIT;
    options.timeout_ms = 30000;
    ASSERT_EQ(corq_producer_send(producer, batch.data(), batch.size(), &options, nullptr), CORQ_OK)
        << corq_last_error();
  }
  ASSERT_EQ(corq_producer_flush(producer, 30000), CORQ_OK);
  corq_producer_close(producer);
}

/// Consumes everything ready in `queue` and checks it holds each of [0, count) exactly once;
/// `check` sees every delivery too. Acks all.
inline void expect_each_number_once(corq_engine *engine, const char *queue, std::uint64_t count,
                                    const std::function<void(const corq_delivery &)> &check = {}) {
  corq_consumer *consumer = nullptr;
  ASSERT_EQ(corq_consumer_open(engine, queue, 1024, &consumer), CORQ_OK) << corq_last_error();
  std::vector<std::uint32_t> seen(count, 0);
  std::uint64_t total = 0, out_of_range = 0;
  corq_delivery d[512];
  while (true) {
    const int n = corq_consume(consumer, d, 512, 200);
    ASSERT_GE(n, 0) << corq_last_error();
    if (n == 0) break;
    for (int i = 0; i < n; ++i) {
      const long long number = number_of(d[i].data, d[i].len);
      if (number < 0 || static_cast<std::uint64_t>(number) >= count) {
        ++out_of_range;
      } else {
        ++seen[static_cast<std::size_t>(number)];
      }
      if (check) check(d[i]);
      ++total;
    }
    ASSERT_EQ(corq_ack_upto(consumer, d[n - 1].tag), CORQ_OK);
  }
  corq_consumer_close(consumer);
  std::uint64_t missing = 0, doubled = 0;
  for (const auto s : seen) {
    if (s == 0) ++missing;
    if (s > 1) doubled += s - 1;
  }
  EXPECT_EQ(total, count);
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_EQ(out_of_range, 0u);
}

/// A suite sharing one cluster (TLS, user and password); each test uses streams of its own.
class ClusterSuite : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    cluster_ = new NatsCluster();
    cluster_->start();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  /// A test that failed half-way may leave nodes down: the next test gets the whole cluster.
  void TearDown() override {
    bool all_running = true;
    for (int i = 0; i < cluster_->node_count(); ++i)
      all_running = all_running && cluster_->node_running(i);
    if (!all_running) cluster_->restart_all_nodes();
  }

 protected:
  /// A [nats] section that reaches the cluster (password from a file in `dir`).
  std::string nats_section(const std::string &dir) const {
    const std::string password_file = dir + "/nats.password";
    std::ofstream(password_file) << cluster_->password() << "\n";
    return "[nats]\nservers = " + cluster_->urls() + "\nuser = " + cluster_->user() +
           "\npassword_file = " + password_file + "\ntls_ca = " + cluster_->ca_file() +
           "\nconnect_timeout_ms = 2000\nreconnect_wait_ms = 200\n";
  }
  /// A unique JetStream stream for this test, capturing "<name>.>".
  std::string make_stream(const std::string &name) const {
    cluster_->create_stream(name, {name + ".>"}, 3);
    // A new stream elects its leader first; asking for its info before that times out.
    EXPECT_FALSE(cluster_->wait_for_leader(name, 30000).empty()) << name << " has no leader";
    return name;
  }
  /// The JetStream consumer's unacked and pending counts.
  std::pair<std::int64_t, std::uint64_t> consumer_backlog(const std::string &stream,
                                                          const std::string &durable) const {
    natsConnection *nc = cluster_->connect();
    jsCtx *js = nullptr;
    natsConnection_JetStream(&js, nc, nullptr);
    jsConsumerInfo *info = nullptr;
    std::pair<std::int64_t, std::uint64_t> backlog{-1, 0};
    if (js_GetConsumerInfo(&info, js, stream.c_str(), durable.c_str(), nullptr, nullptr) ==
        NATS_OK) {
      backlog = {info->NumAckPending, info->NumPending};
      jsConsumerInfo_Destroy(info);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return backlog;
  }

  static NatsCluster *cluster_;
};

inline NatsCluster *ClusterSuite::cluster_ = nullptr;

}  // namespace corq::test
