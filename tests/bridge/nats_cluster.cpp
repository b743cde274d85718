// tests/bridge/nats_cluster.cpp — NatsCluster: certificates with the openssl CLI, one config per
// node, nats-server child processes, readiness through /healthz and JetStream, and the helpers.
//
// Layout: first the process plumbing (fork/exec with a log file, bounded waits, reaping), then
// small files-and-sockets helpers (random secrets, free ports, an HTTP GET for /healthz), then the
// cnats wrappers (nats_connect, a JetStream session), then NatsCluster itself in the order of its
// life: certificates, ports, configs, launch, wait, helpers, failures, stop.
#include "nats_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#ifndef CORQ_NATS_SERVER_PATH
#define CORQ_NATS_SERVER_PATH "nats-server"
#endif
#ifndef CORQ_OPENSSL_PATH
#define CORQ_OPENSSL_PATH "openssl"
#endif

namespace corq::test {
namespace {

namespace fs = std::filesystem;

// cnats 3.4.1 accepts "tls://" but treats it like "nats://": it is natsOptions_SetSecure(true)
// that makes it refuse a server without TLS. The scheme still says what the servers require, and
// Go clients (the nats CLI) do enforce it.
constexpr const char *url_scheme = "tls://";
constexpr int64_t openssl_timeout_ms = 30'000;   // one openssl command (key generation included)
constexpr int64_t poll_interval_ms = 10;         // reaping a child
constexpr int64_t ready_poll_interval_ms = 100;  // between readiness rounds
constexpr int64_t http_timeout_ms = 1'000;       // one /healthz request
constexpr int64_t js_request_wait_ms = 2'000;    // one JetStream API request
// One stream info request while waiting for a leader: with no leader nobody answers, so this bounds
// how late a new leader is noticed.
constexpr int64_t leader_poll_wait_ms = 500;
constexpr int64_t probe_connect_timeout_ms = 1'000;
constexpr std::size_t http_response_bytes_max = 16 * 1024;
constexpr std::size_t log_tail_bytes = 1'500;
constexpr int secret_bytes = 16;  // 128-bit passwords and tokens, hex-encoded
constexpr const char *probe_stream = "CORQ_HARNESS_PROBE";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string errno_text(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

// --- processes ------------------------------------------------------------------------------

// Forks and execs argv[0] (an absolute path or a name looked up on PATH) with stdout and stderr
// appended to `log_path` and stdin from /dev/null. The child gets a process group of its own
// (a terminal's Ctrl-C reaches the test, which then stops its servers) and dies with SIGKILL when
// the thread that forked it dies. Only async-signal-safe calls happen between fork and exec, as
// cnats threads may exist in this process. Returns the child's pid; throws when it cannot fork.
pid_t spawn(const std::vector<std::string> &args, const std::string &log_path) {
  std::vector<char *> argv;
  for (const std::string &arg : args) argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error(errno_text(("open " + log_path).c_str()));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    throw std::runtime_error(errno_text("open /dev/null"));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    // The parent may have died between fork and prctl: then nobody would kill this child.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(126);
    if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) ::_exit(126);
    ::close_range(3, ~0U, 0);  // cnats sockets and the port probes are not the server's
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(fork_errno));
  return pid;
}

// Waits at most `timeout_ms` for `pid` to exit and reaps it. Returns true and its wait status in
// `*status` (when not null) if it exited in time; false if it still runs.
bool reap_within(pid_t pid, int64_t timeout_ms, int *status = nullptr) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status != nullptr) *status = st;
      return true;
    }
    if (now_ms() >= deadline) return false;
    sleep_ms(poll_interval_ms);
  }
}

// SIGKILLs and reaps `pid`; SIGKILL cannot be refused, so the bound is only for a process stuck
// in the kernel, which is then reported and left behind.
void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  if (!reap_within(pid, NatsCluster::stop_grace_ms)) {
    std::fprintf(stderr, "nats_cluster: pid %d survived SIGKILL for %lld ms\n", int(pid),
                 static_cast<long long>(NatsCluster::stop_grace_ms));
  }
}

std::string read_tail(const std::string &path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "(no log)\n";
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > std::streamoff(bytes) ? size - std::streamoff(bytes) : 0;
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

// Runs a command to completion (at most openssl_timeout_ms), output appended to `log_path`.
// Throws with the log's tail unless it exits 0.
void run_command(const std::vector<std::string> &args, const std::string &log_path) {
  const pid_t pid = spawn(args, log_path);
  int status = 0;
  if (!reap_within(pid, openssl_timeout_ms, &status)) {
    kill_and_reap(pid);
    throw std::runtime_error(args[0] + " " + args[1] + " took longer than " +
                             std::to_string(openssl_timeout_ms) + " ms");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const std::string &arg : args) command += arg + " ";
    throw std::runtime_error("command failed (status " + std::to_string(status) + "): " + command +
                             "\n" + read_tail(log_path, log_tail_bytes));
  }
}

// --- files, secrets, sockets ----------------------------------------------------------------

void write_file(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string random_hex(int bytes) {
  std::random_device device;  // /dev/urandom with glibc
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < bytes; ++i) {
    const unsigned byte = device() & 0xffU;
    hex += digits[byte >> 4];
    hex += digits[byte & 0xfU];
  }
  return hex;
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// `count` distinct free TCP ports on 127.0.0.1: every socket stays bound until all are picked,
// so the kernel cannot hand out the same port twice; then they are closed for the servers.
std::vector<int> free_ports(int count) {
  std::vector<int> fds, ports;
  std::string failure;
  for (int i = 0; i < count && failure.empty(); ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failure = errno_text("socket");
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
      failure = errno_text("bind 127.0.0.1:0");
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (const int fd : fds) ::close(fd);
  if (!failure.empty()) throw std::runtime_error(failure);
  return ports;
}

// GET `path` from 127.0.0.1:port over plain HTTP/1.0; the whole response, or empty on any
// failure. Bounded by http_timeout_ms per socket operation and http_response_bytes_max.
std::string http_get(int port, const std::string &path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{http_timeout_ms / 1000, (http_timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const sockaddr_in addr = loopback(port);
  std::string response;
  if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
      char buffer[4096];
      ssize_t n = 0;
      while (response.size() < http_response_bytes_max &&
             (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        response.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

// --- cnats ----------------------------------------------------------------------------------

std::string nats_error(natsStatus s) {
  natsStatus last = NATS_OK;
  const char *text = nats_GetLastError(&last);
  std::string message = natsStatus_GetText(s);
  if (text != nullptr && *text != '\0') message += std::string(" (") + text + ")";
  return message;
}

std::string js_error(const std::string &what, natsStatus s, jsErrCode code) {
  return what + ": " + nats_error(s) + ", JetStream error " + std::to_string(int(code));
}

// One connection and its JetStream context, destroyed together.
class JsSession {
 public:
  // Throws std::runtime_error when it cannot connect.
  JsSession(const NatsClientConfig &config, int64_t wait_ms) {
    std::string error;
    const natsStatus s = nats_connect(config, &nc_, &error);
    if (s != NATS_OK) throw std::runtime_error("connect to " + config.urls + ": " + error);
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = wait_ms;
    const natsStatus js = natsConnection_JetStream(&js_, nc_, &options);
    if (js != NATS_OK) {
      natsConnection_Destroy(nc_);
      throw std::runtime_error("JetStream context: " + nats_error(js));
    }
  }
  ~JsSession() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  JsSession(const JsSession &) = delete;
  JsSession &operator=(const JsSession &) = delete;
  jsCtx *js() const { return js_; }

 private:
  natsConnection *nc_ = nullptr;
  jsCtx *js_ = nullptr;
};

using StreamInfoPtr = std::unique_ptr<jsStreamInfo, decltype(&jsStreamInfo_Destroy)>;

// The stream's info, or null when the request fails (no leader during an election, a node gone).
StreamInfoPtr try_stream_info(const NatsClientConfig &config, const std::string &name,
                              int64_t wait_ms) {
  try {
    JsSession session(config, wait_ms);
    jsStreamInfo *info = nullptr;
    jsErrCode code = jsErrCode(0);
    if (js_GetStreamInfo(&info, session.js(), name.c_str(), nullptr, &code) != NATS_OK) {
      info = nullptr;
    }
    return StreamInfoPtr(info, &jsStreamInfo_Destroy);
  } catch (const std::runtime_error &) {
    return StreamInfoPtr(nullptr, &jsStreamInfo_Destroy);
  }
}

// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_urls(const std::string &urls) {
  std::vector<std::string> list;
  std::size_t start = 0;
  while (start <= urls.size()) {
    std::size_t end = urls.find(',', start);
    if (end == std::string::npos) end = urls.size();
    std::string url = urls.substr(start, end - start);
    url.erase(0, url.find_first_not_of(' '));
    url.erase(url.find_last_not_of(' ') + 1);
    if (!url.empty()) list.push_back(url);
    start = end + 1;
  }
  return list;
}

std::string leader_of(const jsStreamInfo *info) {
  if (info == nullptr || info->Cluster == nullptr || info->Cluster->Leader == nullptr) return "";
  return info->Cluster->Leader;
}

}  // namespace

natsStatus nats_connect(const NatsClientConfig &config, natsConnection **nc, std::string *error) {
  *nc = nullptr;
  natsOptions *options = nullptr;
  natsStatus s = natsOptions_Create(&options);
  // cnats 3.4.1's natsOptions_SetURL takes one URL only (a comma-separated list fails every
  // connect with NATS_NO_SERVER): the list goes through natsOptions_SetServers.
  const std::vector<std::string> servers = split_urls(config.urls);
  std::vector<const char *> server_ptrs;
  for (const std::string &server : servers) server_ptrs.push_back(server.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetServers(options, server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(options, config.timeout_ms);
  if (s == NATS_OK && config.secure) s = natsOptions_SetSecure(options, true);
  if (s == NATS_OK && !config.ca_file.empty()) {
    s = natsOptions_LoadCATrustedCertificates(options, config.ca_file.c_str());
  }
  if (s == NATS_OK && !config.expected_hostname.empty()) {
    s = natsOptions_SetExpectedHostname(options, config.expected_hostname.c_str());
  }
  if (s == NATS_OK && !config.client_cert_file.empty()) {
    s = natsOptions_LoadCertificatesChain(options, config.client_cert_file.c_str(),
                                          config.client_key_file.c_str());
  }
  if (s == NATS_OK && !config.user.empty()) {
    s = natsOptions_SetUserInfo(options, config.user.c_str(), config.password.c_str());
  }
  if (s == NATS_OK && !config.token.empty())
    s = natsOptions_SetToken(options, config.token.c_str());
  if (s == NATS_OK) s = natsConnection_Connect(nc, options);
  if (s != NATS_OK) {
    if (error != nullptr) *error = nats_error(s);
    *nc = nullptr;
  }
  natsOptions_Destroy(options);
  return s;
}

// --- NatsCluster: construction, accessors ---------------------------------------------------

NatsCluster::NatsCluster(NatsClusterOptions options) : options_(options) {
  if (options_.nodes < 1 || options_.nodes > nodes_max) {
    throw std::invalid_argument("NatsCluster: nodes must be 1.." + std::to_string(nodes_max));
  }
  nodes_.resize(static_cast<std::size_t>(options_.nodes));
}

NatsCluster::~NatsCluster() {
  stop_all();
  if (dir_.empty()) return;
  if (std::getenv("CORQ_KEEP_NATS_DIR") != nullptr) {
    std::fprintf(stderr, "nats_cluster: kept %s (CORQ_KEEP_NATS_DIR)\n", dir_.c_str());
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

const NatsCluster::Node &NatsCluster::node_at(int i) const {
  if (i < 0 || i >= options_.nodes)
    throw std::out_of_range("NatsCluster: no node " + std::to_string(i));
  return nodes_[static_cast<std::size_t>(i)];
}

std::string NatsCluster::url(int i) const {
  return std::string(url_scheme) + "127.0.0.1:" + std::to_string(node_at(i).client_port);
}

std::string NatsCluster::urls() const {
  std::string all;
  for (int i = 0; i < options_.nodes; ++i) all += (i == 0 ? "" : ",") + url(i);
  return all;
}

std::string NatsCluster::server_name(int i) const {
  node_at(i);
  return "n" + std::to_string(i + 1);
}

std::string NatsCluster::node_log(int i) const { return node_at(i).log_file; }

int NatsCluster::node_index_of(const std::string &name) const {
  for (int i = 0; i < options_.nodes; ++i) {
    if (server_name(i) == name) return i;
  }
  return -1;
}

NatsClientConfig NatsCluster::client_config() const {
  NatsClientConfig config;
  config.urls = urls();
  config.ca_file = ca_file_;
  if (options_.require_client_cert) {
    config.client_cert_file = client_cert_file_;
    config.client_key_file = client_key_file_;
  }
  config.user = user_;
  config.password = password_;
  config.token = token_;
  return config;
}

natsConnection *NatsCluster::connect() const {
  natsConnection *nc = nullptr;
  std::string error;
  if (nats_connect(client_config(), &nc, &error) != NATS_OK) {
    throw std::runtime_error("NatsCluster::connect to " + urls() + ": " + error);
  }
  return nc;
}

// --- NatsCluster: start ---------------------------------------------------------------------

void NatsCluster::start() {
  if (started_) throw std::logic_error("NatsCluster::start called twice");
  started_ = true;
  std::string pattern = (fs::temp_directory_path() / "corq-nats-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp"));
  dir_ = pattern;
  // The configs quote paths with "..."; a quote or backslash in TMPDIR would break them.
  if (dir_.find_first_of("\"\\") != std::string::npos) {
    throw std::runtime_error("NatsCluster: temp dir path needs quoting: " + dir_);
  }
  if (options_.auth == NatsAuth::user_password) {
    user_ = "bridge";
    password_ = random_hex(secret_bytes);
  } else {
    token_ = random_hex(secret_bytes);
  }
  route_password_ = random_hex(secret_bytes);
  make_certificates();
  pick_ports();
  write_configs();
  try {
    for (int i = 0; i < options_.nodes; ++i) launch(i);
    wait_until_serving();
  } catch (...) {
    stop_all();
    throw;
  }
}

void NatsCluster::make_certificates() {
  const std::string log = dir_ + "/openssl.log";
  const std::string openssl = CORQ_OPENSSL_PATH;
  // EC P-256 keys: fast to make; one day of validity is plenty for a test run.
  const std::vector<std::string> new_key = {
      "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"};
  auto make_ca = [&](const std::string &stem, const std::string &cn) {
    std::vector<std::string> args = {openssl, "req", "-x509"};
    args.insert(args.end(), new_key.begin(), new_key.end());
    args.insert(args.end(), {"-keyout", stem + ".key", "-out", stem + ".pem", "-subj", "/CN=" + cn,
                             "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                             "keyUsage=critical,keyCertSign,cRLSign"});
    run_command(args, log);
  };
  auto make_leaf = [&](const std::string &stem, const std::string &cn, const std::string &ext) {
    write_file(stem + ".ext",
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" + ext);
    std::vector<std::string> req = {openssl, "req", "-new"};
    req.insert(req.end(), new_key.begin(), new_key.end() - 2);  // a CSR has no validity
    req.insert(req.end(), {"-keyout", stem + ".key", "-out", stem + ".csr", "-subj", "/CN=" + cn});
    run_command(req, log);
    run_command({openssl, "x509", "-req", "-in", stem + ".csr", "-CA", dir_ + "/ca.pem", "-CAkey",
                 dir_ + "/ca.key", "-set_serial", "0x" + random_hex(8), "-days", "1", "-extfile",
                 stem + ".ext", "-out", stem + ".pem"},
                log);
  };
  make_ca(dir_ + "/ca", "corq-test-ca");
  make_ca(dir_ + "/other-ca", "corq-test-other-ca");
  // The server certificate also authenticates each node to the others on the routes (clientAuth).
  make_leaf(dir_ + "/server", "localhost",
            "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
  make_leaf(dir_ + "/client", "bridge", "extendedKeyUsage=clientAuth\n");
  ca_file_ = dir_ + "/ca.pem";
  other_ca_file_ = dir_ + "/other-ca.pem";
  server_cert_file_ = dir_ + "/server.pem";
  server_key_file_ = dir_ + "/server.key";
  client_cert_file_ = dir_ + "/client.pem";
  client_key_file_ = dir_ + "/client.key";
}

void NatsCluster::pick_ports() {
  const std::vector<int> ports = free_ports(3 * options_.nodes);
  for (int i = 0; i < options_.nodes; ++i) {
    Node &node = nodes_[static_cast<std::size_t>(i)];
    node.client_port = ports[static_cast<std::size_t>(3 * i)];
    node.cluster_port = ports[static_cast<std::size_t>(3 * i + 1)];
    node.monitor_port = ports[static_cast<std::size_t>(3 * i + 2)];
  }
}

void NatsCluster::write_configs() {
  for (int i = 0; i < options_.nodes; ++i) {
    const std::string name = server_name(i);
    Node &node = nodes_[static_cast<std::size_t>(i)];
    node.config_file = dir_ + "/" + name + ".conf";
    node.log_file = dir_ + "/" + name + ".log";
    node.store_dir = dir_ + "/" + name + "-store";
    write_file(node.config_file, node_config(i));
  }
}

std::string NatsCluster::node_config(int i) const {
  const Node &node = node_at(i);
  auto quoted = [](const std::string &s) { return "\"" + s + "\""; };
  const std::string tls_files = "cert_file: " + quoted(server_cert_file_) +
                                ", key_file: " + quoted(server_key_file_) +
                                ", ca_file: " + quoted(ca_file_) + ", timeout: 5";
  std::ostringstream c;
  c << "server_name: " << server_name(i) << "\n"
    << "listen: 127.0.0.1:" << node.client_port << "\n"
    << "http: 127.0.0.1:" << node.monitor_port << "\n";
  if (options_.jetstream) {
    c << "jetstream { store_dir: " << quoted(node.store_dir)
      << ", max_mem: 64MB, max_file: 256MB }\n";
  }
  c << "tls { " << tls_files << ", verify: " << (options_.require_client_cert ? "true" : "false")
    << " }\n";
  if (options_.auth == NatsAuth::user_password) {
    c << "authorization { users = [ { user: " << quoted(user_)
      << ", password: " << quoted(password_) << " } ] }\n";
  } else {
    c << "authorization { token: " << quoted(token_) << " }\n";
  }
  // Routes: TLS (each node's certificate is verified by the other end; nats-server always
  // requires a certificate on routes) and a route password of their own.
  c << "cluster {\n  name: corq-test\n  listen: 127.0.0.1:" << node.cluster_port << "\n"
    << "  authorization { user: route, password: " << quoted(route_password_) << ", timeout: 5 }\n"
    << "  tls { " << tls_files << " }\n  routes = [\n";
  for (int j = 0; j < options_.nodes; ++j) {
    if (j == i) continue;
    c << "    "
      << quoted("nats-route://route:" + route_password_ +
                "@127.0.0.1:" + std::to_string(node_at(j).cluster_port))
      << "\n";
  }
  c << "  ]\n}\n";
  return c.str();
}

void NatsCluster::launch(int i) {
  Node &node = nodes_[static_cast<std::size_t>(i)];
  node.pid = spawn({CORQ_NATS_SERVER_PATH, "-c", node.config_file}, node.log_file);
}

// Returns true (and forgets the pid) when node i's server has exited.
bool NatsCluster::node_exited(int i) {
  Node &node = nodes_[static_cast<std::size_t>(i)];
  if (node.pid <= 0) return true;
  if (!reap_within(node.pid, 0)) return false;
  node.pid = -1;
  return true;
}

bool NatsCluster::node_healthy(int i) const {
  const std::string response = http_get(node_at(i).monitor_port, "/healthz");
  return response.find("\"status\":\"ok\"") != std::string::npos;
}

// Whether JetStream answers and can place a stream on min(3, nodes) servers (all peers known
// to the meta leader): account info, then a throwaway memory stream created and deleted.
bool NatsCluster::jetstream_serving() const {
  NatsClientConfig config = client_config();
  config.timeout_ms = probe_connect_timeout_ms;
  try {
    JsSession session(config, js_request_wait_ms);
    jsErrCode code = jsErrCode(0);
    jsAccountInfo *account = nullptr;
    if (js_GetAccountInfo(&account, session.js(), nullptr, &code) != NATS_OK) return false;
    jsAccountInfo_Destroy(account);
    const char *subjects[] = {"corq.harness.probe"};
    jsStreamConfig stream;
    jsStreamConfig_Init(&stream);
    stream.Name = probe_stream;
    stream.Subjects = subjects;
    stream.SubjectsLen = 1;
    stream.Storage = js_MemoryStorage;
    stream.Replicas = options_.nodes < 3 ? options_.nodes : 3;
    jsStreamInfo *info = nullptr;
    if (js_AddStream(&info, session.js(), &stream, nullptr, &code) != NATS_OK) return false;
    jsStreamInfo_Destroy(info);
    return js_DeleteStream(session.js(), probe_stream, nullptr, &code) == NATS_OK;
  } catch (const std::runtime_error &) {
    return false;
  }
}

void NatsCluster::wait_until_serving() {
  const int64_t deadline = now_ms() + form_timeout_ms;
  for (;;) {
    for (int i = 0; i < options_.nodes; ++i) {
      if (node_exited(i)) {
        throw std::runtime_error("NatsCluster: " + server_name(i) + " exited while starting\n" +
                                 log_tails());
      }
    }
    bool healthy = true;
    for (int i = 0; i < options_.nodes && healthy; ++i) healthy = node_healthy(i);
    if (healthy && (!options_.jetstream || jetstream_serving())) return;
    if (now_ms() >= deadline) {
      throw std::runtime_error("NatsCluster: not serving " +
                               std::string(options_.jetstream ? "JetStream " : "") + "after " +
                               std::to_string(form_timeout_ms) + " ms\n" + log_tails());
    }
    sleep_ms(ready_poll_interval_ms);
  }
}

std::string NatsCluster::log_tails() const {
  std::string tails;
  for (int i = 0; i < options_.nodes; ++i) {
    tails += "--- " + node_log(i) + " (last " + std::to_string(log_tail_bytes) + " bytes) ---\n" +
             read_tail(node_log(i), log_tail_bytes);
  }
  return tails;
}

// --- NatsCluster: JetStream helpers ---------------------------------------------------------

void NatsCluster::create_stream(const std::string &name, const std::vector<std::string> &subjects,
                                int replicas, int64_t duplicate_window_ms) const {
  std::vector<const char *> subject_ptrs;
  for (const std::string &subject : subjects) subject_ptrs.push_back(subject.c_str());
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  stream.Name = name.c_str();
  stream.Subjects = subject_ptrs.data();
  stream.SubjectsLen = static_cast<int>(subject_ptrs.size());
  stream.Storage = js_FileStorage;
  stream.Replicas = replicas;
  stream.Duplicates = duplicate_window_ms * 1'000'000;  // the API's durations are nanoseconds
  JsSession session(client_config(), js_request_wait_ms);
  jsStreamInfo *info = nullptr;
  jsErrCode code = jsErrCode(0);
  const natsStatus s = js_AddStream(&info, session.js(), &stream, nullptr, &code);
  if (s != NATS_OK) throw std::runtime_error(js_error("js_AddStream " + name, s, code));
  jsStreamInfo_Destroy(info);
}

uint64_t NatsCluster::stream_message_count(const std::string &name) const {
  JsSession session(client_config(), js_request_wait_ms);
  jsStreamInfo *info = nullptr;
  jsErrCode code = jsErrCode(0);
  const natsStatus s = js_GetStreamInfo(&info, session.js(), name.c_str(), nullptr, &code);
  if (s != NATS_OK) throw std::runtime_error(js_error("js_GetStreamInfo " + name, s, code));
  const uint64_t messages = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return messages;
}

std::string NatsCluster::stream_leader(const std::string &name) const {
  return leader_of(try_stream_info(client_config(), name, js_request_wait_ms).get());
}

std::string NatsCluster::wait_for_leader(const std::string &name, int64_t timeout_ms,
                                         const std::string &not_this) const {
  const int64_t deadline = now_ms() + timeout_ms;
  NatsClientConfig config = client_config();
  config.timeout_ms = probe_connect_timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0) return "";
    const std::string leader =
        leader_of(try_stream_info(config, name, std::min(left, leader_poll_wait_ms)).get());
    if (!leader.empty() && leader != not_this) return leader;
    sleep_ms(ready_poll_interval_ms);
  }
}

bool NatsCluster::wait_for_replicas_current(const std::string &name, int64_t timeout_ms) const {
  const int64_t deadline = now_ms() + timeout_ms;
  NatsClientConfig config = client_config();
  config.timeout_ms = probe_connect_timeout_ms;
  for (;;) {
    const int64_t left = deadline - now_ms();
    if (left <= 0) return false;
    const StreamInfoPtr info = try_stream_info(config, name, std::min(left, leader_poll_wait_ms));
    if (!leader_of(info.get()).empty()) {
      const jsClusterInfo *cluster = info->Cluster;
      bool current = cluster->ReplicasLen == info->Config->Replicas - 1;
      for (int r = 0; r < cluster->ReplicasLen && current; ++r) {
        current = cluster->Replicas[r]->Current && !cluster->Replicas[r]->Offline;
      }
      if (current) return true;
    }
    sleep_ms(ready_poll_interval_ms);
  }
}

// --- NatsCluster: failures and stopping -----------------------------------------------------

void NatsCluster::kill_node(int i, int signal) {
  if (!node_running(i)) throw std::logic_error("NatsCluster::kill_node: node not running");
  Node &node = nodes_[static_cast<std::size_t>(i)];
  if (::kill(node.pid, signal) != 0) throw std::runtime_error(errno_text("kill"));
  if (signal != SIGKILL && signal != SIGTERM) return;
  if (signal == SIGTERM) ::kill(node.pid, SIGCONT);  // a SIGSTOPped server must run to exit
  if (!reap_within(node.pid, stop_grace_ms)) kill_and_reap(node.pid);
  node.pid = -1;
}

void NatsCluster::restart_node(int i) {
  if (!started_ || node_running(i)) {
    throw std::logic_error("NatsCluster::restart_node: node running or cluster not started");
  }
  launch(i);
  const int64_t deadline = now_ms() + form_timeout_ms;
  while (!node_healthy(i)) {
    if (node_exited(i)) {
      throw std::runtime_error("NatsCluster: " + server_name(i) + " exited on restart\n" +
                               log_tails());
    }
    if (now_ms() >= deadline) {
      throw std::runtime_error("NatsCluster: " + server_name(i) + " not healthy " +
                               std::to_string(form_timeout_ms) + " ms after restart\n" +
                               log_tails());
    }
    sleep_ms(ready_poll_interval_ms);
  }
}

void NatsCluster::restart_all_nodes() {
  if (!started_) throw std::logic_error("NatsCluster::restart_all_nodes: cluster not started");
  for (int i = 0; i < options_.nodes; ++i) {
    if (!node_running(i)) launch(i);
  }
  wait_until_serving();
}

void NatsCluster::stop_all() {
  for (Node &node : nodes_) {
    if (node.pid <= 0) continue;
    ::kill(node.pid, SIGTERM);
    ::kill(node.pid, SIGCONT);
  }
  const int64_t deadline = now_ms() + stop_grace_ms;
  for (Node &node : nodes_) {
    if (node.pid <= 0) continue;
    if (!reap_within(node.pid, std::max<int64_t>(0, deadline - now_ms()))) kill_and_reap(node.pid);
    node.pid = -1;
  }
}

}  // namespace corq::test
