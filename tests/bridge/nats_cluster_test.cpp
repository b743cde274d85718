// tests/bridge/nats_cluster_test.cpp — proves the NatsCluster harness before the bridge relies on
// it: the cluster forms and serves R3 JetStream streams (every publish lands, a repeated
// Nats-Msg-Id lands once), it refuses what it must (a wrong or missing password, a server
// certificate the client does not trust, a plaintext client, a missing token, a missing client
// certificate), and it survives what the bridge tests will do to it (the stream leader SIGKILLed: a
// new leader, no message lost, the node back in the stream after a restart).
//
// One cluster per suite (SetUpTestSuite): ctest runs each test in a process of its own, so there a
// test pays one cluster start (about 1 s); a direct run of the binary shares it between the tests.
#include "nats_cluster.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

namespace corq::test {
namespace {

// nats-server 2.9 picks a Raft election timeout of 4-9 s after the last heartbeat it saw; the
// rest is slack for a loaded 2-core machine.
constexpr int64_t election_timeout_ms = 15'000;
constexpr int64_t rejoin_timeout_ms = 30'000;
constexpr int64_t plaintext_read_timeout_ms = 3'000;
constexpr std::size_t plaintext_reply_bytes_max = 64 * 1024;
constexpr int64_t log_wait_ms = 2'000;

// A connection and its JetStream context, for publishing as the bridge will.
class JsClient {
 public:
  explicit JsClient(natsConnection *nc) : nc_(nc) {
    EXPECT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
  }
  ~JsClient() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  JsClient(const JsClient &) = delete;
  JsClient &operator=(const JsClient &) = delete;

  // js_Publish of `payload` on `subject` (with a Nats-Msg-Id when `msg_id` is not null); the ack,
  // or a failed expectation and a null ack.
  std::unique_ptr<jsPubAck, decltype(&jsPubAck_Destroy)> publish(const std::string &subject,
                                                                 const std::string &payload,
                                                                 const char *msg_id = nullptr) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = msg_id;
    jsPubAck *ack = nullptr;
    jsErrCode code = jsErrCode(0);
    const natsStatus s = js_Publish(&ack, js_, subject.c_str(), payload.data(),
                                    static_cast<int>(payload.size()), &options, &code);
    EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s) << ", JetStream error " << int(code);
    return {s == NATS_OK ? ack : nullptr, &jsPubAck_Destroy};
  }

 private:
  natsConnection *nc_;
  jsCtx *js_ = nullptr;
};

struct Refusal {
  natsStatus status = NATS_OK;
  std::string error;
};

Refusal connect_expecting_refusal(const NatsClientConfig &config) {
  natsConnection *nc = nullptr;
  Refusal refusal;
  refusal.status = nats_connect(config, &nc, &refusal.error);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return refusal;
}

// Speaks the NATS protocol in plaintext to 127.0.0.1:port: reads INFO, sends CONNECT with the
// right credentials and a PING, and returns everything the server sent until it closed the
// connection or plaintext_read_timeout_ms passed.
std::string plaintext_session(int port, const std::string &user, const std::string &password) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  timeval tv{plaintext_read_timeout_ms / 1000, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  char buffer[4096];
  if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) == 0) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);  // INFO
    if (n > 0) received.append(buffer, static_cast<std::size_t>(n));
    const std::string hello =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
        "\"user\":\"" +
        user + "\",\"pass\":\"" + password + "\"}\r\nPING\r\n";
    ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    while (received.size() < plaintext_reply_bytes_max &&
           (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
      received.append(buffer, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(n, 0) << "the server neither answered nor closed within " << plaintext_read_timeout_ms
                    << " ms";
  }
  ::close(fd);
  return received;
}

int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

// Whether any node's log has `text`, waiting at most log_wait_ms for the server to write it.
bool some_log_contains(const NatsCluster &cluster, const std::string &text) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < cluster.node_count(); ++i) {
      std::ifstream in(cluster.node_log(i));
      const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (log.find(text) != std::string::npos) return true;
    }
    if (elapsed_ms(start) >= log_wait_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// One cluster per suite, made from Shape::options(). A test starts with every node running:
// SetUp restarts a node that an earlier test of the suite left down.
template <typename Shape>
class ClusterSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<NatsCluster>(Shape::options());
    try {
      cluster_->start();
    } catch (const std::exception &e) {
      start_error_ = e.what();
      cluster_.reset();
    }
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "the cluster did not start: " << start_error_;
    for (int i = 0; i < cluster_->node_count(); ++i) {
      if (!cluster_->node_running(i)) cluster_->restart_node(i);
    }
  }
  static NatsCluster &cluster() { return *cluster_; }

 private:
  static inline std::unique_ptr<NatsCluster> cluster_;
  static inline std::string start_error_;
};

struct UserPasswordShape {
  static NatsClusterOptions options() { return {}; }
};
struct TokenShape {
  static NatsClusterOptions options() {
    NatsClusterOptions options;
    options.auth = NatsAuth::token;
    return options;
  }
};
struct ClientCertShape {
  static NatsClusterOptions options() {
    NatsClusterOptions options;
    options.require_client_cert = true;
    return options;
  }
};

class NatsClusterUserAuth : public ClusterSuite<UserPasswordShape> {};
class NatsClusterTokenAuth : public ClusterSuite<TokenShape> {};
class NatsClusterClientCert : public ClusterSuite<ClientCertShape> {};

// --- user + password: JetStream ---------------------------------------------------------------

TEST_F(NatsClusterUserAuth, forms_and_places_an_r3_stream_on_three_current_replicas) {
  cluster().create_stream("FORMS", {"forms.>"});
  const std::string leader = cluster().stream_leader("FORMS");
  EXPECT_GE(cluster().node_index_of(leader), 0) << "leader '" << leader << "'";
  EXPECT_TRUE(cluster().wait_for_replicas_current("FORMS", rejoin_timeout_ms));
  EXPECT_EQ(cluster().stream_message_count("FORMS"), 0u);
}

TEST_F(NatsClusterUserAuth, thousand_js_publishes_land_thousand_messages_in_order) {
  constexpr int messages = 1'000;
  cluster().create_stream("THOUSAND", {"thousand.>"});
  JsClient client(cluster().connect());
  for (int i = 1; i <= messages; ++i) {
    const auto ack = client.publish("thousand.orders", "message " + std::to_string(i));
    ASSERT_NE(ack, nullptr) << "publish " << i;
    ASSERT_EQ(ack->Sequence, uint64_t(i));
    ASSERT_FALSE(ack->Duplicate);
  }
  EXPECT_EQ(cluster().stream_message_count("THOUSAND"), uint64_t(messages));
}

TEST_F(NatsClusterUserAuth, same_msg_id_published_twice_lands_once_within_duplicate_window) {
  cluster().create_stream("DEDUP", {"dedup.>"}, 3, 120'000);
  JsClient client(cluster().connect());
  const auto first = client.publish("dedup.orders", "order 1", "order-1");
  const auto again = client.publish("dedup.orders", "order 1", "order-1");
  const auto other = client.publish("dedup.orders", "order 2", "order-2");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(again, nullptr);
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(first->Duplicate);
  EXPECT_TRUE(again->Duplicate);
  EXPECT_EQ(again->Sequence, first->Sequence);
  EXPECT_FALSE(other->Duplicate);
  EXPECT_EQ(cluster().stream_message_count("DEDUP"), 2u);
}

// --- user + password: what is refused ---------------------------------------------------------

TEST_F(NatsClusterUserAuth, wrong_password_is_refused) {
  NatsClientConfig config = cluster().client_config();
  config.password = "not-" + config.password;
  const Refusal refusal = connect_expecting_refusal(config);
  EXPECT_EQ(refusal.status, NATS_CONNECTION_AUTH_FAILED) << refusal.error;
  EXPECT_NE(refusal.error.find("Authorization Violation"), std::string::npos) << refusal.error;
}

TEST_F(NatsClusterUserAuth, missing_credentials_are_refused) {
  NatsClientConfig config = cluster().client_config();
  config.user.clear();
  config.password.clear();
  const Refusal refusal = connect_expecting_refusal(config);
  EXPECT_EQ(refusal.status, NATS_CONNECTION_AUTH_FAILED) << refusal.error;
}

TEST_F(NatsClusterUserAuth, server_certificate_from_an_untrusted_ca_is_refused) {
  NatsClientConfig config = cluster().client_config();
  config.ca_file = cluster().other_ca_file();
  const Refusal refusal = connect_expecting_refusal(config);
  EXPECT_EQ(refusal.status, NATS_SSL_ERROR) << refusal.error;
  EXPECT_NE(refusal.error.find("unable to get local issuer certificate"), std::string::npos)
      << refusal.error;
}

TEST_F(NatsClusterUserAuth, server_certificate_for_another_host_name_is_refused) {
  NatsClientConfig config = cluster().client_config();
  config.expected_hostname = "not-this-host.example";
  const Refusal refusal = connect_expecting_refusal(config);
  EXPECT_EQ(refusal.status, NATS_SSL_ERROR) << refusal.error;
  EXPECT_NE(refusal.error.find("hostname mismatch"), std::string::npos) << refusal.error;
}

// cnats upgrades a connection to TLS by itself when the server requires it, so a plaintext client
// is played here on a raw socket: the server announces that TLS is required and answers a
// plaintext CONNECT + PING (with the right password) by closing, never with PONG.
TEST_F(NatsClusterUserAuth, plaintext_client_is_refused) {
  const std::string reply =
      plaintext_session(cluster().client_port(0), cluster().user(), cluster().password());
  EXPECT_EQ(reply.rfind("INFO ", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"tls_required\":true"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("PONG"), std::string::npos) << reply;
  // And cnats asked for no TLS still verifies the server: without the CA it cannot connect.
  NatsClientConfig config = cluster().client_config();
  config.secure = false;
  config.ca_file.clear();
  EXPECT_EQ(connect_expecting_refusal(config).status, NATS_SSL_ERROR);
}

// --- user + password: failures ----------------------------------------------------------------

TEST_F(NatsClusterUserAuth, killed_stream_leader_is_replaced_keeps_messages_and_rejoins) {
  constexpr int before_kill = 100, while_down = 10;
  cluster().create_stream("FAILOVER", {"failover.>"});
  {
    JsClient client(cluster().connect());
    for (int i = 0; i < before_kill; ++i) ASSERT_NE(client.publish("failover.a", "x"), nullptr);
  }
  const std::string old_leader = cluster().stream_leader("FAILOVER");
  const int killed = cluster().node_index_of(old_leader);
  ASSERT_GE(killed, 0) << "leader '" << old_leader << "'";

  const auto kill_time = std::chrono::steady_clock::now();
  cluster().kill_node(killed, SIGKILL);
  const std::string new_leader =
      cluster().wait_for_leader("FAILOVER", election_timeout_ms, old_leader);
  const int64_t election_ms = elapsed_ms(kill_time);
  std::printf("stream leader %s SIGKILLed, %s elected after %lld ms\n", old_leader.c_str(),
              new_leader.c_str(), static_cast<long long>(election_ms));
  ASSERT_FALSE(new_leader.empty()) << "no new leader within " << election_timeout_ms << " ms";
  EXPECT_NE(new_leader, old_leader);
  EXPECT_EQ(cluster().stream_message_count("FAILOVER"), uint64_t(before_kill));

  {  // Two of three replicas are a quorum: the stream keeps taking messages.
    JsClient client(cluster().connect());
    for (int i = 0; i < while_down; ++i) ASSERT_NE(client.publish("failover.a", "y"), nullptr);
  }
  const auto restart_time = std::chrono::steady_clock::now();
  cluster().restart_node(killed);
  EXPECT_TRUE(cluster().wait_for_replicas_current("FAILOVER", rejoin_timeout_ms))
      << cluster().server_name(killed) << " did not catch up";
  std::printf("%s restarted and current after %lld ms\n", old_leader.c_str(),
              static_cast<long long>(elapsed_ms(restart_time)));
  EXPECT_EQ(cluster().stream_message_count("FAILOVER"), uint64_t(before_kill + while_down));
}

// --- token ------------------------------------------------------------------------------------

TEST_F(NatsClusterTokenAuth, token_client_publishes_to_an_r3_stream) {
  EXPECT_TRUE(cluster().user().empty());
  ASSERT_FALSE(cluster().token().empty());
  cluster().create_stream("TOKEN", {"token.>"});
  JsClient client(cluster().connect());
  for (int i = 0; i < 10; ++i) ASSERT_NE(client.publish("token.a", "t"), nullptr);
  EXPECT_EQ(cluster().stream_message_count("TOKEN"), 10u);
}

TEST_F(NatsClusterTokenAuth, wrong_or_missing_token_is_refused) {
  NatsClientConfig config = cluster().client_config();
  config.token = "not-" + config.token;
  const Refusal wrong = connect_expecting_refusal(config);
  EXPECT_EQ(wrong.status, NATS_CONNECTION_AUTH_FAILED) << wrong.error;
  config.token.clear();
  const Refusal missing = connect_expecting_refusal(config);
  EXPECT_EQ(missing.status, NATS_CONNECTION_AUTH_FAILED) << missing.error;
}

// --- client certificates required -------------------------------------------------------------

TEST_F(NatsClusterClientCert, tls_without_client_certificate_is_refused) {
  NatsClientConfig config = cluster().client_config();
  ASSERT_FALSE(config.client_cert_file.empty());
  config.client_cert_file.clear();
  config.client_key_file.clear();
  const Refusal refusal = connect_expecting_refusal(config);
  // Under TLS 1.3 the client finishes its handshake before the server checks the certificate, so
  // cnats sees a closed connection (NATS_PROTOCOL_ERROR, "Expected 'PONG', got ''"), not an SSL
  // error: the server's log says why.
  EXPECT_NE(refusal.status, NATS_OK);
  EXPECT_TRUE(some_log_contains(cluster(), "client didn't provide a certificate")) << refusal.error;
}

TEST_F(NatsClusterClientCert, tls_with_client_certificate_is_accepted_and_serves_jetstream) {
  cluster().create_stream("MTLS", {"mtls.>"});
  JsClient client(cluster().connect());
  ASSERT_NE(client.publish("mtls.a", "m"), nullptr);
  EXPECT_EQ(cluster().stream_message_count("MTLS"), 1u);
}

}  // namespace
}  // namespace corq::test
