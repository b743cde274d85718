// tests/bridge/nats_cluster.hpp — a real NATS JetStream cluster for the corq-bridge tests.
//
// NatsCluster starts N `nats-server` processes (default 3) on 127.0.0.1, each with its own config
// file, JetStream store directory and log, all inside one mkdtemp directory that it removes again.
// Clients must speak TLS (a throwaway CA made with the `openssl` CLI signs the server's and the
// client's certificates) and authenticate (a random user password or a random token); the routes
// between the nodes use TLS and a route password of their own. The tests that use it (the bridge's
// and nats_cluster_test.cpp) connect with libnats (cnats) through connect(), look at streams
// through the helpers, and make failures with kill_node() / restart_node().
//
// Lifetime: start() launches the servers and returns once the cluster serves JetStream (an R3
// stream can be created); the destructor stops every server (SIGTERM, then SIGKILL after a grace
// period), reaps it and removes the directory. A server is also killed by the kernel when the
// thread that started it dies (PR_SET_PDEATHSIG), so a test binary that is itself SIGKILLed leaks
// no server (only the directory). Set CORQ_KEEP_NATS_DIR=1 to keep the directory (configs,
// certificates, logs, stores) for a look afterwards; its path is printed on stderr.
//
// Threads: a NatsCluster is not thread-safe; use it from one thread, and from the thread that
// called start() for restart_node() too (PR_SET_PDEATHSIG fires when the *thread* that forked the
// server exits). Every wait is bounded; every failure throws std::runtime_error whose message says
// what failed, with the tails of the node logs where a server is involved.
#pragma once

#include <nats/nats.h>
#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

namespace corq::test {

/// How clients authenticate to the cluster's client port.
enum class NatsAuth {
  user_password,  // authorization { users = [ { user: bridge, password: <random> } ] }
  token,          // authorization { token: <random> }
};

struct NatsClusterOptions {
  int nodes = 3;  // 1..NatsCluster::nodes_max
  NatsAuth auth = NatsAuth::user_password;
  bool require_client_cert = false;  // tls { verify: true }: clients must present a certificate
  bool jetstream = true;
};

/// Everything a client needs to connect; NatsCluster::client_config() fills it with what works,
/// and a test changes one field to prove that the server refuses it.
struct NatsClientConfig {
  std::string urls;  // comma-separated, e.g. "tls://127.0.0.1:4222,tls://127.0.0.1:4223"
  // natsOptions_SetSecure. Only this makes cnats 3.4.1 refuse a server without TLS ("tls://"
  // does not); false still gets TLS from these servers, as cnats follows their tls_required.
  bool secure = true;
  std::string ca_file;  // trusted CA (PEM); empty: none loaded
  // The name the server certificate must carry (natsOptions_SetExpectedHostname); empty: the
  // host of the URL connected to, which cnats 3.4.1 checks by default (IP SAN 127.0.0.1 here).
  std::string expected_hostname;
  std::string client_cert_file;  // client certificate (PEM); empty: none presented
  std::string client_key_file;
  std::string user, password;  // empty user: none sent
  std::string token;           // empty: none sent
  int64_t timeout_ms = 2000;   // connect timeout per server
};

/// Connects with `config`. On success returns NATS_OK and stores a connection in `*nc` that the
/// caller destroys with natsConnection_Destroy. On failure returns the cnats status, leaves `*nc`
/// null and, when `error` is not null, stores cnats' last error text in it. No retries: every
/// server in `urls` is tried once. Thread-safe (cnats is).
natsStatus nats_connect(const NatsClientConfig &config, natsConnection **nc, std::string *error);

class NatsCluster {
 public:
  static constexpr int nodes_max = 5;
  /// How long start() waits for the cluster to serve JetStream, and restart_node() for a node.
  static constexpr int64_t form_timeout_ms = 30'000;
  /// How long a stopped server gets to exit after SIGTERM before it is SIGKILLed.
  static constexpr int64_t stop_grace_ms = 5'000;

  /// Only records the options; nothing runs before start(). Throws std::invalid_argument for a
  /// node count outside 1..nodes_max.
  explicit NatsCluster(NatsClusterOptions options = {});
  /// Stops every server (stop_all) and removes dir() unless CORQ_KEEP_NATS_DIR is set.
  ~NatsCluster();
  NatsCluster(const NatsCluster &) = delete;
  NatsCluster &operator=(const NatsCluster &) = delete;

  /// Makes the directory, certificates, ports and configs, launches the servers and waits (at
  /// most form_timeout_ms) until each one's /healthz says ok and, with JetStream, an R3 (or
  /// R<nodes> when fewer) stream can be created. Call once. Throws std::runtime_error on any
  /// failure (servers already launched are stopped again; the directory stays until destruction).
  void start();

  int node_count() const { return options_.nodes; }
  const NatsClusterOptions &options() const { return options_; }

  // Where to connect and with what. Valid after start(); references live as long as the cluster.
  /// "tls://127.0.0.1:p1,tls://127.0.0.1:p2,..." for every node, running or not.
  std::string urls() const;
  /// "tls://127.0.0.1:p" of node i (0-based).
  std::string url(int i) const;
  int client_port(int i) const { return node_at(i).client_port; }
  int cluster_port(int i) const { return node_at(i).cluster_port; }
  int monitor_port(int i) const { return node_at(i).monitor_port; }
  /// "n1", "n2", ... for node 0, 1, ... (the server_name JetStream reports as a leader).
  std::string server_name(int i) const;
  /// The CA that signed the servers' and the client's certificates.
  const std::string &ca_file() const { return ca_file_; }
  /// A second CA that signed nothing here: a client trusting only it must refuse the servers.
  const std::string &other_ca_file() const { return other_ca_file_; }
  const std::string &client_cert_file() const { return client_cert_file_; }
  const std::string &client_key_file() const { return client_key_file_; }
  /// "bridge" and its random password in user_password mode; empty in token mode.
  const std::string &user() const { return user_; }
  const std::string &password() const { return password_; }
  /// The random token in token mode; empty in user_password mode.
  const std::string &token() const { return token_; }
  const std::string &dir() const { return dir_; }
  /// The file node i's stdout and stderr go to (appended to across restarts).
  std::string node_log(int i) const;

  /// The configuration that connects: every URL, TLS with ca_file(), the client certificate when
  /// the servers require one, and the credentials of the auth mode.
  NatsClientConfig client_config() const;
  /// nats_connect(client_config()). Returns a connection the caller destroys with
  /// natsConnection_Destroy; throws std::runtime_error when it cannot connect.
  natsConnection *connect() const;

  // JetStream helpers. Each opens a connection of its own for the call (so a node killed in
  // between costs nothing) and throws std::runtime_error with the JetStream error on failure.
  /// Creates a file-backed stream on `subjects` with `replicas` replicas and the given
  /// duplicate window (Nats-Msg-Id de-duplication).
  void create_stream(const std::string &name, const std::vector<std::string> &subjects,
                     int replicas = 3, int64_t duplicate_window_ms = 120'000) const;
  /// The number of messages the stream holds now.
  uint64_t stream_message_count(const std::string &name) const;
  /// The server name of the stream's leader ("n2"); empty when it has none right now.
  std::string stream_leader(const std::string &name) const;
  /// Waits at most `timeout_ms` for the stream to have a leader other than `not_this` (empty: any)
  /// and returns its server name; returns empty when none appeared in time. Never throws for a
  /// stream that is unreachable meanwhile (elections make requests time out).
  std::string wait_for_leader(const std::string &name, int64_t timeout_ms,
                              const std::string &not_this = "") const;
  /// Waits at most `timeout_ms` until the stream has a leader and all its other replicas are
  /// online and current; returns whether that happened.
  bool wait_for_replicas_current(const std::string &name, int64_t timeout_ms) const;
  /// The index of the node whose server_name is `server_name`, or -1.
  int node_index_of(const std::string &server_name) const;

  // Failures.
  /// Sends `signal` to node i. SIGKILL and SIGTERM also wait for the server to exit and reap it
  /// (SIGTERM escalates to SIGKILL after stop_grace_ms); other signals (SIGSTOP, SIGCONT) are only
  /// sent. Precondition: node i is running.
  void kill_node(int i, int signal = SIGKILL);
  /// Starts node i again with the same config and store directory and waits (at most
  /// form_timeout_ms) until its /healthz says ok. Precondition: node i is not running.
  void restart_node(int i);
  /// Starts every node that is not running, all at once (after the whole cluster was killed, a
  /// node alone cannot become healthy: JetStream needs a quorum), and waits (at most
  /// form_timeout_ms) until every node is healthy and JetStream serves again.
  void restart_all_nodes();
  bool node_running(int i) const { return node_at(i).pid > 0; }
  /// Stops every running server: SIGTERM (and SIGCONT, for a stopped one), up to stop_grace_ms to
  /// exit, then SIGKILL; all reaped. Idempotent.
  void stop_all();

 private:
  struct Node {
    int client_port = 0, cluster_port = 0, monitor_port = 0;
    std::string config_file, log_file, store_dir;
    pid_t pid = -1;  // -1: not running
  };

  const Node &node_at(int i) const;
  void make_certificates();
  void pick_ports();
  void write_configs();
  std::string node_config(int i) const;
  void launch(int i);
  void wait_until_serving();
  bool node_exited(int i);
  bool node_healthy(int i) const;
  bool jetstream_serving() const;
  std::string log_tails() const;

  NatsClusterOptions options_;
  std::vector<Node> nodes_;
  std::string dir_, nats_server_path_;
  std::string ca_file_, other_ca_file_, server_cert_file_, server_key_file_;
  std::string client_cert_file_, client_key_file_;
  std::string user_, password_, token_, route_password_;
  bool started_ = false;
};

}  // namespace corq::test
