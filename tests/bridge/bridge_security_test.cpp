// corq-bridge's security and bad-input rules against a real 3-node JetStream cluster (TLS and
// authorization on), through the C API (corq/bridge.h) and through the corq-bridge tool:
//   - wrong credentials, no credentials, an untrusted server certificate and a missing client
//     certificate fail at start (CORQ_EIO, the tool's exit status 1) with a clear error, and
//     consume nothing: the queue an outbound rule names keeps every message ready, never delivered;
//   - the right credentials (password, token, client certificate) forward;
//   - no secret (password, token) ever appears in an error, the stats JSON, the Prometheus text,
//     the tool's output or its metrics file;
//   - the tool's bad input: a missing queue, a malformed server URL, an unreachable server, an
//     unreadable config file, a bad option — a clear error, the documented exit status, nothing
//     consumed;
//   - the tool's --metrics-file (right count while running, gone after SIGTERM) and its progress
//     line on a terminal;
//   - a bridge stopped while libnats's callback thread lags leaves no callback to freed memory
//     (found by this suite).
// Three suites, each with a cluster of its own: user and password (the default), token, and
// client certificates required.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bridge_fixture.hpp"
#include "bridge_process.hpp"

namespace corq::test {
namespace {

/// Messages in a queue whose "nothing consumed" is checked; enough that a bridge which consumed
/// at all would have taken some (its max_in_flight is larger).
constexpr std::uint64_t untouched_count = 50;
/// Messages forwarded where a test needs forwarding to work.
constexpr std::uint64_t forwarded_count = 300;
/// How long a tool run may take to exit after a failure or a SIGTERM.
constexpr int tool_exit_timeout_ms = 30000;
/// How long forwarding a few hundred messages may take.
constexpr int forward_timeout_ms = 60000;
/// How long a new JetStream stream may take to elect its leader.
constexpr int stream_leader_timeout_ms = 30000;
/// A wrong secret the servers never accept; random enough never to appear in a text by chance.
constexpr const char *wrong_secret = "wR0ng-S3cret-7f3c9a1e5d";

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

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

/// An engine on a directory; closed by the destructor.
struct OpenEngine {
  corq_engine *engine = nullptr;
  explicit OpenEngine(const std::string &dir) {
    EXPECT_EQ(corq_open(dir.c_str(), nullptr, &engine), CORQ_OK) << corq_last_error();
  }
  ~OpenEngine() {
    if (engine != nullptr) corq_close(engine);
  }
  OpenEngine(const OpenEngine &) = delete;
  OpenEngine &operator=(const OpenEngine &) = delete;
};

/// The queue holds exactly [0, count) ready and never delivered: stats say ready == count with
/// nothing delivered, in flight or dead-lettered, no consumer is open, and consuming it all now
/// gets each message on its first delivery (delivery counts are logged, so a delivery by an
/// earlier process on the directory would show as 2). Consumes and acks everything.
void expect_untouched(corq_engine *engine, const char *queue, std::uint64_t count) {
  const corq_queue_stats st = queue_stats(engine, queue);
  EXPECT_EQ(st.ready, count) << queue;
  EXPECT_EQ(st.delivered, 0u) << queue;
  EXPECT_EQ(st.in_flight, 0u) << queue;
  EXPECT_EQ(st.dead_lettered, 0u) << queue;
  EXPECT_EQ(st.consumers, 0u) << queue;
  std::uint64_t redelivered = 0;
  expect_each_number_once(engine, queue, count, [&](const corq_delivery &d) {
    if (d.delivery_count != 1) ++redelivered;
  });
  EXPECT_EQ(redelivered, 0u) << queue;
}

/// The same, on a directory no process holds now.
void expect_untouched(const TempDir &dir, const char *queue, std::uint64_t count) {
  OpenEngine e(dir.data());
  ASSERT_NE(e.engine, nullptr);
  expect_untouched(e.engine, queue, count);
}

/// The sum of the corq_bridge_forwarded_total series in Prometheus text, or -1 when it has none.
long long forwarded_in_metrics(const std::string &text) {
  long long total = -1;
  std::size_t at = 0;
  while ((at = text.find("corq_bridge_forwarded_total{", at)) != std::string::npos) {
    if (at > 0 && text[at - 1] != '\n') {  // a HELP or TYPE line, not a sample
      ++at;
      continue;
    }
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? end : end - at);
    total =
        std::max(total, 0LL) + std::strtoll(line.substr(line.rfind(' ') + 1).c_str(), nullptr, 10);
    at = end == std::string::npos ? text.size() : end;
  }
  return total;
}

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The bridge's stats JSON and Prometheus text, read the way a user reads them.
struct Figures {
  std::string json, metrics;
};

Figures figures_of(corq_bridge *bridge) {
  Figures f;
  char *text = nullptr;
  EXPECT_EQ(corq_bridge_stats_json(bridge, &text), CORQ_OK) << corq_bridge_last_error();
  if (text != nullptr) f.json = text;
  corq_free(text);
  text = nullptr;
  EXPECT_EQ(corq_bridge_metrics_text(bridge, &text), CORQ_OK) << corq_bridge_last_error();
  if (text != nullptr) f.metrics = text;
  corq_free(text);
  return f;
}

/// Helpers shared by the three suites; cluster_ is the suite's cluster.
class BridgeSecurity : public ClusterSuite {
 protected:
  /// A unique JetStream stream for this test ("<name>.>"), with a leader: js_AddStream returns
  /// before the new stream's replicas have elected one, and until then its info requests go
  /// unanswered (the harness' 2 s timeout, seen on the first test of a fresh cluster).
  std::string make_led_stream(const std::string &name) const {
    make_stream(name);
    EXPECT_FALSE(cluster_->wait_for_leader(name, stream_leader_timeout_ms).empty()) << name;
    return name;
  }
  /// The stream's message count, or -1 when the cluster does not answer now (for polling loops;
  /// a leader may be re-elected on a loaded machine).
  static long long messages_in(const std::string &stream) {
    try {
      return static_cast<long long>(cluster_->stream_message_count(stream));
    } catch (const std::runtime_error &) {
      return -1;
    }
  }
  /// "[nats]" with every server, short timeouts, and the caller's credential and TLS lines.
  std::string nats_with(const std::string &lines, const std::string &servers = "") const {
    return "[nats]\nservers = " + (servers.empty() ? cluster_->urls() : servers) +
           "\nconnect_timeout_ms = 2000\nreconnect_wait_ms = 200\n" + lines;
  }
  /// user + password_file (written into `dir`) lines.
  static std::string password_lines(const TempDir &dir, const std::string &password) {
    const std::string file = dir.path() + "/nats.password";
    std::ofstream(file) << password << "\n";
    return "user = " + cluster_->user() + "\npassword_file = " + file + "\n";
  }
  /// token_file (written into `dir`) line.
  static std::string token_lines(const TempDir &dir, const std::string &token) {
    const std::string file = dir.path() + "/nats.token";
    std::ofstream(file) << token << "\n";
    return "token_file = " + file + "\n";
  }
  static std::string tls_lines(const std::string &ca_file) { return "tls_ca = " + ca_file + "\n"; }
  static std::string client_cert_lines() {
    return "tls_cert = " + cluster_->client_cert_file() +
           "\ntls_key = " + cluster_->client_key_file() + "\n";
  }
  /// The [nats] section that works in the suite's cluster's mode.
  std::string working_nats(const TempDir &dir) const {
    std::string lines = tls_lines(cluster_->ca_file());
    if (cluster_->options().auth == NatsAuth::token) {
      lines += token_lines(dir, cluster_->token());
    } else {
      lines += password_lines(dir, cluster_->password());
    }
    if (cluster_->options().require_client_cert) lines += client_cert_lines();
    return nats_with(lines);
  }
  /// The secret the suite's cluster accepts (its password or its token).
  static const std::string &secret() {
    return cluster_->options().auth == NatsAuth::token ? cluster_->token() : cluster_->password();
  }
  static std::string outbound_rule(const std::string &name, const std::string &queue,
                                   const std::string &subject) {
    return "[outbound " + name + "]\nqueue = " + queue + "\nsubject = " + subject +
           "\nmax_in_flight = 256\npublish_timeout_ms = 2000\n";
  }
  static std::string write_config(const TempDir &dir, const std::string &text,
                                  const std::string &name = "bridge.conf") {
    const std::string path = dir.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  /// A directory holding each of `queues` (durable) with numbered messages [0, count).
  static void fill(const TempDir &dir, const std::vector<std::string> &queues,
                   std::uint64_t count) {
    OpenEngine e(dir.data());
    ASSERT_NE(e.engine, nullptr);
    for (const auto &queue : queues) {
      ASSERT_EQ(corq_queue_declare(e.engine, queue.c_str(), nullptr), CORQ_OK) << corq_last_error();
      publish_numbered(e.engine, queue.c_str(), 0, count);
    }
  }

  /// corq-bridge on `dir` with `config` and `extra` arguments; output to `log_name` in dir.
  static std::unique_ptr<BridgeProcess> start_tool(const TempDir &dir, const std::string &config,
                                                   const std::string &log_name,
                                                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--dir",   dir.data(),          "--config", config,
                                  "--quiet", "--standby-poll-ms", "100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<BridgeProcess>(CORQ_BRIDGE_TOOL, args, dir.path() + "/" + log_name);
  }
  struct ToolRun {
    int status = -1;
    std::string output;
  };
  /// corq-bridge with exactly `args`, expected to exit by itself; its status and output.
  static ToolRun run_tool(const TempDir &dir, const std::vector<std::string> &args,
                          const std::string &log_name) {
    BridgeProcess tool(CORQ_BRIDGE_TOOL, args, dir.path() + "/" + log_name);
    ToolRun run;
    run.status = tool.wait(tool_exit_timeout_ms);
    run.output = tool.output();
    return run;
  }
  static ToolRun run_tool(const TempDir &dir, const std::string &config,
                          const std::string &log_name) {
    return run_tool(dir, {"--dir", dir.data(), "--config", config, "--quiet"}, log_name);
  }

  /// corq_bridge_start on an engine holding `queue` with untouched_count messages, with `config`
  /// (whose outbound rule names the queue): it must fail with CORQ_EIO and take nothing. Returns
  /// corq_bridge_last_error().
  static std::string expect_start_refused(const std::string &config, const std::string &queue,
                                          const std::string &stream) {
    TempDir dir;
    OpenEngine e(dir.data());
    EXPECT_EQ(corq_queue_declare(e.engine, queue.c_str(), nullptr), CORQ_OK);
    publish_numbered(e.engine, queue.c_str(), 0, untouched_count);
    corq_bridge *bridge = nullptr;
    EXPECT_EQ(corq_bridge_start(e.engine, config.c_str(), &bridge), CORQ_EIO);
    const std::string error = corq_bridge_last_error();
    EXPECT_EQ(bridge, nullptr);
    if (bridge != nullptr) corq_bridge_stop(bridge, 10000);
    EXPECT_EQ(cluster_->stream_message_count(stream), 0u);
    expect_untouched(e.engine, queue.c_str(), untouched_count);
    return error;
  }

  /// Starts a bridge on `engine` with `config`, waits until JetStream's `stream` holds `count`
  /// messages and the local queue is drained, and returns the running bridge.
  static corq_bridge *start_and_forward(corq_engine *engine, const std::string &config,
                                        const char *queue, const std::string &stream,
                                        std::uint64_t count) {
    corq_bridge *bridge = nullptr;
    EXPECT_EQ(corq_bridge_start(engine, config.c_str(), &bridge), CORQ_OK)
        << corq_bridge_last_error();
    if (bridge == nullptr) return nullptr;
    EXPECT_TRUE(wait_until(
        [&] {
          const corq_queue_stats st = queue_stats(engine, queue);
          return messages_in(stream) >= static_cast<long long>(count) && st.ready == 0 &&
                 st.in_flight == 0;
        },
        forward_timeout_ms))
        << "stream holds " << messages_in(stream);
    EXPECT_EQ(cluster_->stream_message_count(stream), count);
    return bridge;
  }

  /// Neither the suite's secret nor wrong_secret appears in `text`.
  static void expect_no_secret(const std::string &text, const std::string &where) {
    EXPECT_FALSE(contains(text, secret())) << where << " shows the secret:\n" << text;
    EXPECT_FALSE(contains(text, wrong_secret)) << where << " shows the wrong secret:\n" << text;
  }
};

// ---- user and password ---------------------------------------------------------------------

TEST_F(BridgeSecurity,
       wrong_password_fails_start_with_eio_says_authorization_and_consumes_nothing) {
  const std::string stream = make_led_stream("WRONGPW");
  TempDir secrets;
  const std::string config =
      nats_with(tls_lines(cluster_->ca_file()) + password_lines(secrets, wrong_secret)) +
      outbound_rule("orders", "out", "WRONGPW.orders");
  const std::string error = expect_start_refused(config, "out", stream);
  EXPECT_TRUE(contains(error, "Authorization")) << error;
  expect_no_secret(error, "the start error");
}

TEST_F(BridgeSecurity, wrong_password_makes_the_tool_exit_1_naming_the_failure_without_the_secret) {
  const std::string stream = make_led_stream("WRONGPWTOOL");
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  const std::string config = write_config(
      dir, nats_with(tls_lines(cluster_->ca_file()) + password_lines(dir, wrong_secret)) +
               outbound_rule("orders", "out", "WRONGPWTOOL.orders"));
  const ToolRun run = run_tool(dir, config, "tool.log");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_TRUE(contains(run.output, "Authorization")) << run.output;
  expect_no_secret(run.output, "the tool's output");
  EXPECT_EQ(cluster_->stream_message_count(stream), 0u);
  expect_untouched(dir, "out", untouched_count);
}

TEST_F(BridgeSecurity, untrusted_server_certificate_fails_start_with_eio_and_consumes_nothing) {
  const std::string stream = make_led_stream("UNTRUSTED");
  TempDir secrets;
  const std::string config =
      nats_with(tls_lines(cluster_->other_ca_file()) + password_lines(secrets, secret())) +
      outbound_rule("orders", "out", "UNTRUSTED.orders");
  const std::string error = expect_start_refused(config, "out", stream);
  // libnats: "SSL Error (... certificate ...)"; either word names the failure.
  EXPECT_TRUE(contains(error, "SSL") || contains(error, "certificate")) << error;
  expect_no_secret(error, "the start error");
}

TEST_F(BridgeSecurity, untrusted_server_certificate_makes_the_tool_exit_1_and_consume_nothing) {
  const std::string stream = make_led_stream("UNTRUSTEDTOOL");
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  const std::string config = write_config(
      dir, nats_with(tls_lines(cluster_->other_ca_file()) + password_lines(dir, secret())) +
               outbound_rule("orders", "out", "UNTRUSTEDTOOL.orders"));
  const ToolRun run = run_tool(dir, config, "tool.log");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_TRUE(contains(run.output, "SSL") || contains(run.output, "certificate")) << run.output;
  expect_no_secret(run.output, "the tool's output");
  EXPECT_EQ(cluster_->stream_message_count(stream), 0u);
  expect_untouched(dir, "out", untouched_count);
}

TEST_F(BridgeSecurity, no_credentials_are_refused_and_consume_nothing) {
  const std::string stream = make_led_stream("NOCREDS");
  const std::string config =
      nats_with(tls_lines(cluster_->ca_file())) + outbound_rule("orders", "out", "NOCREDS.orders");
  const std::string error = expect_start_refused(config, "out", stream);
  EXPECT_TRUE(contains(error, "Authorization")) << error;
}

TEST_F(BridgeSecurity, running_bridge_stats_and_metrics_never_contain_the_password) {
  const std::string stream = make_led_stream("STATSPW");
  TempDir dir;
  OpenEngine e(dir.data());
  ASSERT_EQ(corq_queue_declare(e.engine, "out", nullptr), CORQ_OK);
  publish_numbered(e.engine, "out", 0, forwarded_count);
  corq_bridge *bridge = start_and_forward(
      e.engine, working_nats(dir) + outbound_rule("orders", "out", "STATSPW.orders"), "out", stream,
      forwarded_count);
  ASSERT_NE(bridge, nullptr);
  const Figures f = figures_of(bridge);
  EXPECT_TRUE(contains(f.json, "\"forwarded\":" + std::to_string(forwarded_count))) << f.json;
  EXPECT_EQ(forwarded_in_metrics(f.metrics), static_cast<long long>(forwarded_count)) << f.metrics;
  expect_no_secret(f.json, "corq_bridge_stats_json");
  expect_no_secret(f.metrics, "corq_bridge_metrics_text");
  EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK) << corq_bridge_last_error();
}

TEST_F(BridgeSecurity, the_tool_output_and_metrics_file_never_contain_the_password) {
  const std::string stream = make_led_stream("TOOLPW");
  TempDir dir;
  fill(dir, {"out"}, forwarded_count);
  const std::string config =
      write_config(dir, working_nats(dir) + outbound_rule("orders", "out", "TOOLPW.orders"));
  const std::string metrics = dir.path() + "/metrics.prom";
  // Not --quiet, so that whatever the tool prints, it prints.
  auto tool = std::make_unique<BridgeProcess>(
      CORQ_BRIDGE_TOOL,
      std::vector<std::string>{"--dir", dir.data(), "--config", config, "--metrics-file", metrics,
                               "--metrics-interval-ms", "100"},
      dir.path() + "/tool.log");
  ASSERT_TRUE(wait_until(
      [&] {
        return forwarded_in_metrics(read_text(metrics)) >= static_cast<long long>(forwarded_count);
      },
      forward_timeout_ms))
      << tool->output();
  expect_no_secret(read_text(metrics), "the metrics file");
  tool->signal(SIGTERM);
  EXPECT_EQ(tool->wait(tool_exit_timeout_ms), 0) << tool->output();
  expect_no_secret(tool->output(), "the tool's output");
  EXPECT_EQ(cluster_->stream_message_count(stream), forwarded_count);
}

// ---- the tool's bad input ------------------------------------------------------------------

TEST_F(BridgeSecurity, tool_with_a_missing_queue_exits_1_names_it_and_leaves_the_other_untouched) {
  const std::string stream = make_led_stream("MISSINGQ");
  TempDir dir;
  fill(dir, {"present"}, untouched_count);
  // The rule on the queue that exists comes first: a bridge that started rules one by one would
  // have consumed from it before finding the second rule's queue missing.
  const std::string config =
      write_config(dir, working_nats(dir) + outbound_rule("first", "present", "MISSINGQ.a") +
                            outbound_rule("second", "no-such-queue", "MISSINGQ.b"));
  const ToolRun run = run_tool(dir, config, "tool.log");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_TRUE(contains(run.output, "'no-such-queue'")) << run.output;
  EXPECT_EQ(cluster_->stream_message_count(stream), 0u);
  expect_untouched(dir, "present", untouched_count);
}

TEST_F(BridgeSecurity, tool_with_a_malformed_server_url_exits_2_before_opening_the_directory) {
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  // The test holds the directory while the tool runs: a tool that went on to open it would say
  // "standby" and wait for the lock instead of exiting 2.
  OpenEngine held(dir.data());
  ASSERT_NE(held.engine, nullptr);
  int run_no = 0;
  for (const std::string servers : {"http://127.0.0.1:4222", "nats://127.0.0.1:99999"}) {
    SCOPED_TRACE(servers);
    const std::string config =
        write_config(dir, nats_with(password_lines(dir, secret()), servers) +
                              outbound_rule("orders", "out", "MALFORMED.orders"));
    const ToolRun run = run_tool(dir, config, "tool" + std::to_string(++run_no) + ".log");
    EXPECT_EQ(run.status, 2) << run.output;
    EXPECT_TRUE(contains(run.output, "server URL")) << run.output;
    EXPECT_FALSE(contains(run.output, "standby")) << run.output;
    expect_no_secret(run.output, "the tool's output");
  }
  expect_untouched(held.engine, "out", untouched_count);
}

TEST_F(BridgeSecurity, tool_with_an_unreachable_server_exits_1_and_consumes_nothing) {
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  const std::string servers = "tls://127.0.0.1:" + std::to_string(unused_port());
  const std::string config = write_config(
      dir, nats_with(tls_lines(cluster_->ca_file()) + password_lines(dir, secret()), servers) +
               outbound_rule("orders", "out", "UNREACHABLE.orders"));
  const ToolRun run = run_tool(dir, config, "tool.log");
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_TRUE(contains(run.output, "cannot connect")) << run.output;
  expect_no_secret(run.output, "the tool's output");
  expect_untouched(dir, "out", untouched_count);
}

TEST_F(BridgeSecurity, tool_with_an_unreadable_config_file_exits_2) {
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  const std::string missing = dir.path() + "/no-such.conf";
  const ToolRun run = run_tool(dir, missing, "tool.log");
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_TRUE(contains(run.output, "cannot read config file")) << run.output;
  EXPECT_TRUE(contains(run.output, missing)) << run.output;
  expect_untouched(dir, "out", untouched_count);
}

TEST_F(BridgeSecurity, tool_with_a_bad_option_exits_2) {
  TempDir dir;
  fill(dir, {"out"}, untouched_count);
  const std::string config =
      write_config(dir, working_nats(dir) + outbound_rule("orders", "out", "BADOPTION.orders"));
  const std::vector<std::vector<std::string>> bad_arguments{
      {"--dir", dir.data(), "--config", config, "--no-such-option"},
      {"--dir", dir.data(), "--config", config, "--metrics-interval-ms", "5"},  // below 100
      {"--dir", dir.data(), "--config", config, "--sync", "sometimes"},
      {"--config", config},  // --dir is required
  };
  int run_no = 0;
  for (const auto &args : bad_arguments) {
    SCOPED_TRACE(args.back());
    const ToolRun run = run_tool(dir, args, "tool" + std::to_string(++run_no) + ".log");
    EXPECT_EQ(run.status, 2) << run.output;
    EXPECT_FALSE(run.output.empty());
  }
  expect_untouched(dir, "out", untouched_count);
}

TEST_F(BridgeSecurity, metrics_file_counts_forwarded_while_running_and_is_removed_after_sigterm) {
  const std::string stream = make_led_stream("METRICSFILE");
  TempDir dir;
  fill(dir, {"out"}, forwarded_count);
  const std::string config =
      write_config(dir, working_nats(dir) + outbound_rule("orders", "out", "METRICSFILE.orders"));
  const std::string metrics = dir.path() + "/metrics.prom";
  auto tool = start_tool(dir, config, "tool.log",
                         {"--metrics-file", metrics, "--metrics-interval-ms", "100"});
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(metrics); }, forward_timeout_ms))
      << tool->output();
  ASSERT_TRUE(wait_until(
      [&] {
        return forwarded_in_metrics(read_text(metrics)) >= static_cast<long long>(forwarded_count);
      },
      forward_timeout_ms))
      << read_text(metrics) << tool->output();
  EXPECT_EQ(cluster_->stream_message_count(stream), forwarded_count);
  // Rewritten every 100 ms: the count stays what was forwarded, no more.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string text = read_text(metrics);
  EXPECT_EQ(forwarded_in_metrics(text), static_cast<long long>(forwarded_count)) << text;
  EXPECT_TRUE(contains(text, "corq_bridge_connected{")) << text;
  tool->signal(SIGTERM);
  EXPECT_EQ(tool->wait(tool_exit_timeout_ms), 0) << tool->output();
  EXPECT_FALSE(std::filesystem::exists(metrics));
  EXPECT_FALSE(std::filesystem::exists(metrics + ".tmp"));
}

TEST_F(BridgeSecurity, progress_line_on_a_terminal_shows_forwarded) {
  const char *script = "/usr/bin/script";
  if (::access(script, X_OK) != 0) GTEST_SKIP() << "util-linux script is not installed";
  const std::string stream = make_led_stream("PROGRESS");
  TempDir dir;
  fill(dir, {"out"}, forwarded_count);
  const std::string config =
      write_config(dir, working_nats(dir) + outbound_rule("orders", "out", "PROGRESS.orders"));
  // script gives the tool a pseudo-terminal (its stdout is then a tty) and copies what it shows
  // to our log; -e returns the tool's exit status, -f flushes at once. The shell writes its pid
  // and execs the tool (same pid), so the test can SIGTERM the tool itself (script would kill it).
  // TempDir paths hold no blank or quote.
  const std::string pid_file = dir.path() + "/tool.pid";
  const std::string command = "echo $$ > " + pid_file + "; exec " + CORQ_BRIDGE_TOOL + " --dir " +
                              dir.data() + " --config " + config;
  BridgeProcess tool(script, {"-qefc", command, "/dev/null"}, dir.path() + "/tool.log");
  const std::string done = "forwarded " + std::to_string(forwarded_count) + " ";
  EXPECT_TRUE(tool.wait_for_output(done, forward_timeout_ms)) << tool.output();
  EXPECT_EQ(cluster_->stream_message_count(stream), forwarded_count);
  const pid_t tool_pid = std::atoi(read_text(pid_file).c_str());
  ASSERT_GT(tool_pid, 0);
  ASSERT_EQ(::kill(tool_pid, SIGTERM), 0);
  EXPECT_EQ(tool.wait(tool_exit_timeout_ms), 0) << tool.output();
  EXPECT_TRUE(contains(tool.output(), "stopping (signal 15)")) << tool.output();
  expect_no_secret(tool.output(), "the progress line");
}

// ---- lifetime ------------------------------------------------------------------------------

/// libnats runs every connection's callbacks on one thread per process; this one holds it up.
extern "C" void hold_up_the_callback_thread(natsConnection *, void *) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

// libnats runs a connection's disconnected and closed callbacks on its callback thread after
// natsConnection_Close returns. While that thread was busy (another connection's callback in the
// same process), corq_bridge_stop freed the bridge first, and the late "disconnected" callback
// wrote into freed memory — in practice into the next bridge allocated there, which then believed
// itself disconnected for good and forwarded nothing (seen as an abort in this suite: a mutex
// locked in freed memory).
TEST_F(BridgeSecurity, restarting_a_bridge_while_libnats_callbacks_lag_keeps_the_new_one_working) {
  const std::string stream = make_led_stream("RESTART");
  TempDir dir;
  OpenEngine e(dir.data());
  ASSERT_EQ(corq_queue_declare(e.engine, "out", nullptr), CORQ_OK);
  const std::string config = working_nats(dir) + outbound_rule("orders", "out", "RESTART.orders");
  // A connection of the test's own whose disconnected callback holds the callback thread.
  const NatsClientConfig client = cluster_->client_config();
  natsOptions *options = nullptr;
  ASSERT_EQ(natsOptions_Create(&options), NATS_OK);
  natsOptions_SetURL(options, cluster_->url(0).c_str());
  natsOptions_SetSecure(options, true);
  natsOptions_LoadCATrustedCertificates(options, client.ca_file.c_str());
  natsOptions_SetUserInfo(options, client.user.c_str(), client.password.c_str());
  natsOptions_SetDisconnectedCB(options, &hold_up_the_callback_thread, nullptr);
  constexpr int restarts = 3;
  constexpr std::uint64_t per_run = 100;
  std::uint64_t total = 0;  // messages in the JetStream stream
  for (int run = 0; run < restarts; ++run) {
    SCOPED_TRACE(run);
    publish_numbered(e.engine, "out", total, per_run);
    total += per_run;
    corq_bridge *first = start_and_forward(e.engine, config, "out", stream, total);
    ASSERT_NE(first, nullptr);
    natsConnection *holder = nullptr;
    ASSERT_EQ(natsConnection_Connect(&holder, options), NATS_OK) << nats_GetLastError(nullptr);
    natsConnection_Close(holder);  // its callback now holds the thread for 500 ms
    ASSERT_EQ(corq_bridge_stop(first, 10000), CORQ_OK);  // its callbacks queue behind
    natsConnection_Destroy(holder);
    // The next bridge, most likely where the first one was in memory, and one more message.
    publish_numbered(e.engine, "out", total, 1);
    total += 1;
    corq_bridge *second = nullptr;
    ASSERT_EQ(corq_bridge_start(e.engine, config.c_str(), &second), CORQ_OK)
        << corq_bridge_last_error();
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // the late callbacks have run
    const Figures f = figures_of(second);
    EXPECT_TRUE(contains(f.json, "\"connected\":true")) << f.json;
    EXPECT_TRUE(contains(f.json, "\"disconnects\":0")) << f.json;
    EXPECT_TRUE(wait_until([&] { return messages_in(stream) >= static_cast<long long>(total); },
                           forward_timeout_ms / 6))
        << figures_of(second).json;
    EXPECT_EQ(corq_bridge_stop(second, 10000), CORQ_OK);
    EXPECT_EQ(cluster_->stream_message_count(stream), total);
  }
  natsOptions_Destroy(options);
}

// ---- token ---------------------------------------------------------------------------------

class BridgeTokenAuth : public BridgeSecurity {
 public:
  static void SetUpTestSuite() {
    NatsClusterOptions options;
    options.auth = NatsAuth::token;
    cluster_ = new NatsCluster(options);
    cluster_->start();
  }
};

TEST_F(BridgeTokenAuth, token_file_forwards_end_to_end_and_stats_never_show_the_token) {
  const std::string stream = make_led_stream("TOKEN");
  TempDir dir;
  OpenEngine e(dir.data());
  ASSERT_EQ(corq_queue_declare(e.engine, "out", nullptr), CORQ_OK);
  publish_numbered(e.engine, "out", 0, forwarded_count);
  corq_bridge *bridge = start_and_forward(
      e.engine, working_nats(dir) + outbound_rule("orders", "out", "TOKEN.orders"), "out", stream,
      forwarded_count);
  ASSERT_NE(bridge, nullptr);
  const Figures f = figures_of(bridge);
  expect_no_secret(f.json, "corq_bridge_stats_json");
  expect_no_secret(f.metrics, "corq_bridge_metrics_text");
  EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK) << corq_bridge_last_error();
  EXPECT_EQ(cluster_->stream_message_count(stream), forwarded_count);
}

TEST_F(BridgeTokenAuth, wrong_token_is_refused_without_showing_it_and_consumes_nothing) {
  const std::string stream = make_led_stream("WRONGTOKEN");
  TempDir secrets;
  const std::string config =
      nats_with(tls_lines(cluster_->ca_file()) + token_lines(secrets, wrong_secret)) +
      outbound_rule("orders", "out", "WRONGTOKEN.orders");
  const std::string error = expect_start_refused(config, "out", stream);
  EXPECT_TRUE(contains(error, "Authorization")) << error;
  expect_no_secret(error, "the start error");
}

// ---- client certificates -------------------------------------------------------------------

class BridgeClientCert : public BridgeSecurity {
 public:
  static void SetUpTestSuite() {
    NatsClusterOptions options;
    options.require_client_cert = true;
    cluster_ = new NatsCluster(options);
    cluster_->start();
  }
};

TEST_F(BridgeClientCert, without_a_client_certificate_start_fails_with_eio_and_consumes_nothing) {
  const std::string stream = make_led_stream("NOCERT");
  TempDir secrets;
  const std::string config =
      nats_with(tls_lines(cluster_->ca_file()) + password_lines(secrets, secret())) +
      outbound_rule("orders", "out", "NOCERT.orders");
  const std::string error = expect_start_refused(config, "out", stream);
  // The server closes the connection after the handshake; the error says what is likely missing.
  EXPECT_TRUE(contains(error, "client certificate")) << error;
  expect_no_secret(error, "the start error");
}

TEST_F(BridgeClientCert, with_a_client_certificate_forwards) {
  const std::string stream = make_led_stream("WITHCERT");
  TempDir dir;
  OpenEngine e(dir.data());
  ASSERT_EQ(corq_queue_declare(e.engine, "out", nullptr), CORQ_OK);
  publish_numbered(e.engine, "out", 0, forwarded_count);
  corq_bridge *bridge = start_and_forward(
      e.engine, working_nats(dir) + outbound_rule("orders", "out", "WITHCERT.orders"), "out",
      stream, forwarded_count);
  ASSERT_NE(bridge, nullptr);
  EXPECT_EQ(corq_bridge_stop(bridge, 10000), CORQ_OK) << corq_bridge_last_error();
  EXPECT_EQ(cluster_->stream_message_count(stream), forwarded_count);
}

}  // namespace
}  // namespace corq::test
