// bench/bridge/bridge_harness.cpp — the shared parts of corq_bridge_bench (bridge_harness.hpp):
// the scale, the cluster and the round's stream, scratch directories, engines, payloads, the CPU
// meter and the percentiles.
#include "bridge_harness.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace corq::bench::bridge {

namespace {

/// The stream's duplicate window: the JetStream default (2 minutes), as a user's stream would have.
constexpr std::int64_t duplicate_window_ms = 120'000;
/// How long a new round's stream may take to have every replica current.
constexpr std::int64_t replicas_current_timeout_ms = 30'000;
/// A purge is acked by the leader once done; a follower-served count may lag a moment.
constexpr int purge_checks_max = 100;
constexpr auto purge_check_interval = std::chrono::milliseconds(20);

/// A JetStream context on a fresh connection to the whole cluster, for the admin calls.
struct AdminSession {
  natsConnection *nc = nullptr;
  jsCtx *js = nullptr;
  std::string error;
  explicit AdminSession(test::NatsCluster &cluster) {
    try {
      nc = cluster.connect();
    } catch (const std::exception &e) {
      error = e.what();
      return;
    }
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = js_wait_ms;
    if (const natsStatus s = natsConnection_JetStream(&js, nc, &options); s != NATS_OK) {
      error = nats_failure("natsConnection_JetStream", s);
      js = nullptr;
    }
  }
  ~AdminSession() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
  }
  AdminSession(const AdminSession &) = delete;
  AdminSession &operator=(const AdminSession &) = delete;
};

std::unique_ptr<BenchEnv> env;

}  // namespace

BridgeScale bridge_full_scale() {
  return BridgeScale{.messages = 50'000,
                     .latency_samples = 3'000,
                     .latency_warmup = 100,
                     .e2e_rate_per_s = 500,
                     .rounds = 5,
                     .quick = false};
}

BridgeScale bridge_quick_scale() {
  return BridgeScale{.messages = 2'000,
                     .latency_samples = 200,
                     .latency_warmup = 20,
                     .e2e_rate_per_s = 500,
                     .rounds = 1,
                     .quick = true};
}

std::string corq_failure(const char *what, int code) {
  // Piece by piece: GCC 12 warns (-Wrestrict, a false positive) on operator+ chains with literals.
  std::string text(what);
  text += ": ";
  text += corq_strerror(code);
  text += " (";
  text += corq_last_error();
  text += ")";
  return text;
}

std::string nats_failure(const char *what, natsStatus status) {
  std::string text(what);
  text += ": ";
  text += natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char *detail = nats_GetLastError(&last);
  if (detail != nullptr && detail[0] != '\0') {
    text += " (";
    text += detail;
    text += ")";
  }
  return text;
}

// --- ScratchDir -------------------------------------------------------------------------------

ScratchDir::ScratchDir(const std::string &base) {
  std::string pattern = base + "/corq-bridge-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

// --- BenchEnv ---------------------------------------------------------------------------------

void BenchEnv::start(const std::string &scratch_base) {
  env = std::make_unique<BenchEnv>();
  env->scratch_base_ = scratch_base;
  env->scratch_ = std::make_unique<ScratchDir>(scratch_base);
  env->cluster_ = std::make_unique<test::NatsCluster>();
  env->cluster_->start();
  // The bridge reads its password from a file, as a deployment would (never inline in a config).
  env->password_file_ = env->scratch_->path() + "/nats.password";
  std::ofstream(env->password_file_) << env->cluster_->password() << "\n";
  ::chmod(env->password_file_.c_str(), 0600);
}

void BenchEnv::stop() { env.reset(); }

BenchEnv &BenchEnv::get() { return *env; }

std::string BenchEnv::round_stream(int round, std::string *error) {
  if (round == stream_round_) return stream_;
  if (!stream_.empty()) {
    AdminSession admin(*cluster_);
    if (admin.js != nullptr) js_DeleteStream(admin.js, stream_.c_str(), nullptr, nullptr);
    stream_.clear();
  }
  const std::string name = "CORQBENCH" + std::to_string(round);
  try {
    cluster_->create_stream(name, {name + ".>"}, 3, duplicate_window_ms);
  } catch (const std::exception &e) {
    *error = e.what();
    return {};
  }
  if (!cluster_->wait_for_replicas_current(name, replicas_current_timeout_ms)) {
    *error = "stream " + name + ": replicas not current after " +
             std::to_string(replicas_current_timeout_ms) + " ms";
    return {};
  }
  stream_round_ = round;
  stream_ = name;
  return stream_;
}

std::string BenchEnv::purge(const std::string &stream) {
  {
    AdminSession admin(*cluster_);
    if (admin.js == nullptr) return admin.error;
    jsErrCode code = jsErrCode(0);
    if (const natsStatus s = js_PurgeStream(admin.js, stream.c_str(), nullptr, &code); s != NATS_OK)
      return nats_failure(("js_PurgeStream " + stream).c_str(), s);
  }
  for (int i = 0; i < purge_checks_max; ++i) {
    std::string error;
    const std::int64_t count = message_count(stream, &error);
    if (count < 0) return error;
    if (count == 0) return {};
    std::this_thread::sleep_for(purge_check_interval);
  }
  return "stream " + stream + " still holds messages after its purge";
}

std::int64_t BenchEnv::message_count(const std::string &stream, std::string *error) {
  AdminSession admin(*cluster_);
  if (admin.js == nullptr) {
    *error = admin.error;
    return -1;
  }
  jsStreamInfo *info = nullptr;
  jsErrCode code = jsErrCode(0);
  if (const natsStatus s = js_GetStreamInfo(&info, admin.js, stream.c_str(), nullptr, &code);
      s != NATS_OK) {
    *error = nats_failure(("js_GetStreamInfo " + stream).c_str(), s);
    return -1;
  }
  const auto count = static_cast<std::int64_t>(info->State.Msgs);
  jsStreamInfo_Destroy(info);
  return count;
}

void BenchEnv::delete_consumer(const std::string &stream, const std::string &durable) {
  AdminSession admin(*cluster_);
  if (admin.js != nullptr)
    js_DeleteConsumer(admin.js, stream.c_str(), durable.c_str(), nullptr, nullptr);
}

int BenchEnv::leader_is_node(const std::string &stream, int node) {
  std::string leader;
  try {
    leader = cluster_->stream_leader(stream);
  } catch (const std::exception &) {
    return -1;
  }
  if (leader.empty()) return -1;
  return leader == cluster_->server_name(node) ? 1 : 0;
}

natsConnection *BenchEnv::connect(int node, std::string *error, bool send_asap) {
  // What test::nats_connect does with client_config(), plus SendAsap, which it does not offer.
  const test::NatsClientConfig config = cluster_->client_config();
  const std::string url = cluster_->url(node);
  const char *servers[] = {url.c_str()};
  natsOptions *options = nullptr;
  natsStatus s = natsOptions_Create(&options);
  if (s == NATS_OK) s = natsOptions_SetServers(options, servers, 1);
  if (s == NATS_OK) s = natsOptions_SetTimeout(options, config.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetSecure(options, true);
  if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(options, config.ca_file.c_str());
  if (s == NATS_OK)
    s = natsOptions_SetUserInfo(options, config.user.c_str(), config.password.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(options, send_asap);
  natsConnection *nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, options);
  natsOptions_Destroy(options);
  if (s != NATS_OK) {
    *error = nats_failure(("connect to " + url).c_str(), s);
    return nullptr;
  }
  return nc;
}

std::string BenchEnv::nats_section(int node) const {
  return "[nats]\nservers = " + cluster_->url(node) + "\nuser = " + cluster_->user() +
         "\npassword_file = " + password_file_ + "\ntls_ca = " + cluster_->ca_file() +
         "\nconnect_timeout_ms = 5000\nreconnect_wait_ms = 200\n";
}

// --- Engine -----------------------------------------------------------------------------------

std::string Engine::open(const std::string &dir, const char *sync) {
  close();
  corq_config *options = corq_config_new();
  if (options == nullptr) return "corq_config_new: out of memory";
  int rc = dir.empty() ? CORQ_OK : corq_config_set(options, "sync", sync);
  if (rc == CORQ_OK) rc = corq_open(dir.empty() ? nullptr : dir.c_str(), options, &engine_);
  corq_config_free(options);
  if (rc != CORQ_OK) {
    engine_ = nullptr;
    return corq_failure("corq_open", rc);
  }
  return {};
}

std::string Engine::declare(const char *queue) {
  const int rc = corq_queue_declare(engine_, queue, nullptr);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_queue_declare", rc);
}

void Engine::close() {
  if (engine_ != nullptr) corq_close(engine_);
  engine_ = nullptr;
}

std::string prefill(corq_engine *engine, const char *queue, std::uint64_t count) {
  corq_producer *producer = nullptr;
  if (const int rc = corq_producer_open(engine, queue, &producer); rc != CORQ_OK)
    return corq_failure("corq_producer_open", rc);
  std::vector<std::vector<char>> payloads(prefill_batch, std::vector<char>(payload_bytes, '.'));
  std::vector<corq_message> batch(prefill_batch);
  corq_publish_options options{};
  options.struct_size = sizeof options;
  options.flags = CORQ_PUBLISH_NOWAIT;
  options.timeout_ms = 30'000;
  std::string error;
  for (std::uint64_t i = 0; i < count && error.empty();) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(prefill_batch, count - i));
    for (std::size_t k = 0; k < n; ++k, ++i) {
      stamp_payload(payloads[k], 0, i);
      batch[k] = corq_message{payloads[k].data(), payload_bytes, nullptr, 0, nullptr};
    }
    if (const int rc = corq_producer_send(producer, batch.data(), n, &options, nullptr);
        rc != CORQ_OK)
      error = corq_failure("corq_producer_send", rc);
  }
  if (error.empty()) {
    if (const int rc = corq_producer_flush(producer, 60'000); rc != CORQ_OK)
      error = corq_failure("corq_producer_flush", rc);
  }
  corq_producer_close(producer);
  return error;
}

bool queue_stats(corq_engine *engine, const char *queue, corq_queue_stats *out,
                 std::string *error) {
  *out = corq_queue_stats{};
  out->struct_size = sizeof *out;
  if (const int rc = corq_queue_stats_get(engine, queue, out); rc != CORQ_OK) {
    *error = corq_failure("corq_queue_stats_get", rc);
    return false;
  }
  return true;
}

// --- payloads ---------------------------------------------------------------------------------

std::string random_id_prefix() {
  std::random_device device;
  std::mt19937_64 random(device());
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                static_cast<unsigned long long>(random() & 0xffffffffULL),
                static_cast<unsigned long long>(random() & 0xffffULL),
                static_cast<unsigned long long>(random() & 0xfffULL),
                static_cast<unsigned long long>(random() & 0xfffULL),
                static_cast<unsigned long long>(random() & 0xffffffffffffULL));
  return std::string(uuid) + "/out/";
}

void stamp_payload(std::vector<char> &payload, std::int64_t a, std::uint64_t b) {
  payload.resize(payload_bytes, '.');
  std::memcpy(payload.data(), &a, sizeof a);
  std::memcpy(payload.data() + sizeof a, &b, sizeof b);
}

std::int64_t stamp_a(const void *data) {
  std::int64_t a = 0;
  std::memcpy(&a, data, sizeof a);
  return a;
}

std::uint64_t stamp_b(const void *data) {
  std::uint64_t b = 0;
  std::memcpy(&b, static_cast<const char *>(data) + sizeof(std::int64_t), sizeof b);
  return b;
}

// --- CPU and machine --------------------------------------------------------------------------

namespace {

double process_cpu_seconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval &t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// /proc/stat's first line: (busy, total) jiffies of all CPUs; (0, 0) when unreadable.
std::pair<std::uint64_t, std::uint64_t> machine_jiffies() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;
  if (cpu != "cpu") return {0, 0};
  std::uint64_t field = 0, total = 0, idle = 0;
  for (int i = 0; i < 8 && (stat >> field); ++i) {
    total += field;
    if (i == 3 || i == 4) idle += field;  // idle, iowait
  }
  return {total - idle, total};
}

}  // namespace

void CpuMeter::start() {
  process_start_s_ = process_cpu_seconds();
  std::tie(busy_start_, total_start_) = machine_jiffies();
}

void CpuMeter::stop() {
  process_s_ = process_cpu_seconds() - process_start_s_;
  const auto [busy, total] = machine_jiffies();
  busy_ = total > total_start_
              ? static_cast<double>(busy - busy_start_) / static_cast<double>(total - total_start_)
              : -1;
}

// --- percentiles ------------------------------------------------------------------------------

LatencyUs latency_of(std::vector<std::int64_t> samples_ns) {
  LatencyUs l;
  l.samples = samples_ns.size();
  if (samples_ns.empty()) return l;
  std::sort(samples_ns.begin(), samples_ns.end());
  auto at = [&](double q) {
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(l.samples)));
    return static_cast<double>(samples_ns[std::clamp<std::size_t>(rank, 1, l.samples) - 1]) / 1e3;
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = static_cast<double>(samples_ns.back()) / 1e3;
  l.mean = std::accumulate(samples_ns.begin(), samples_ns.end(), 0.0) /
           static_cast<double>(l.samples) / 1e3;
  return l;
}

void set_latency_counters(benchmark::State &state, const std::string &prefix, const LatencyUs &l) {
  state.counters[prefix + "p50_us"] = l.p50;
  state.counters[prefix + "p99_us"] = l.p99;
  state.counters[prefix + "p999_us"] = l.p999;
  state.counters[prefix + "max_us"] = l.max;
  state.counters[prefix + "mean_us"] = l.mean;
}

std::string load_average() {
  std::FILE *f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "unknown";
  double one = 0, five = 0, fifteen = 0;
  const int read = std::fscanf(f, "%lf %lf %lf", &one, &five, &fifteen);
  std::fclose(f);
  if (read != 3) return "unknown";
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f / %.2f / %.2f", one, five, fifteen);
  return text;
}

}  // namespace corq::bench::bridge
