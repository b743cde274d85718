// bench/log/durable_engine.cpp — what the durable-engine benchmarks share: opening an engine on a
// given back end, the queues they declare, retiring an engine between benchmarks, and the
// producer/consumer threads of the throughput runs (durable_harness.hpp).
#include "durable_harness.hpp"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

/// The engine's stats JSON (corq_stats_json), or "".
std::string stats_json(corq_engine *engine) {
  char *json = nullptr;
  if (corq_stats_json(engine, &json) != CORQ_OK || json == nullptr) return {};
  std::string text(json);
  corq_free(json);
  return text;
}

/// The text after `"key":` in the "log" object of the stats JSON (up to , or }), quotes removed.
std::string log_field(const std::string &json, const std::string &key) {
  const std::size_t log = json.find("\"log\":{");
  if (log == std::string::npos) return {};
  const std::string needle = "\"" + key + "\":";
  const std::size_t at = json.find(needle, log);
  if (at == std::string::npos) return {};
  std::size_t begin = at + needle.size();
  std::size_t end = json.find_first_of(",}", begin);
  if (end == std::string::npos) end = json.size();
  std::string value = json.substr(begin, end - begin);
  if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
  return value;
}

std::uint64_t segment_bytes_setting = 0;

}  // namespace

void set_segment_bytes(std::uint64_t bytes) { segment_bytes_setting = bytes; }
std::uint64_t segment_bytes_option() { return segment_bytes_setting; }

corq_config *make_config(const std::vector<std::pair<const char *, std::string>> &options) {
  corq_config *config = corq_config_new();
  if (config == nullptr) return nullptr;
  for (const auto &[key, value] : options) {
    if (corq_config_set(config, key, value.c_str()) != CORQ_OK) {
      corq_config_free(config);
      return nullptr;
    }
  }
  return config;
}

std::string corq_failure(const std::string &what, int rc) {
  return what + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")";
}

std::string open_engine(const std::string &dir, const Backend &backend, corq_engine *&out,
                        const char *sync) {
  out = nullptr;
  std::vector<std::pair<const char *, std::string>> settings = {{"io_backend", backend.name},
                                                                {"sync", sync}};
  if (segment_bytes_setting != 0) {
    settings.emplace_back("segment_bytes", std::to_string(segment_bytes_setting));
  }
  corq_config *options = make_config(settings);
  if (options == nullptr) return "corq_config: out of memory or unknown key";
  const int rc = corq_open(dir.c_str(), options, &out);
  corq_config_free(options);
  if (rc != CORQ_OK) {
    out = nullptr;
    return corq_failure("corq_open(" + dir + ", io_backend=" + backend.name + ")", rc);
  }
  if (const LogInfo info = log_info(out); info.backend != backend.name) {
    corq_close(out);
    out = nullptr;
    return "corq_open(io_backend=" + std::string(backend.name) + ") runs on back end '" +
           info.backend + "'";
  }
  return {};
}

std::string declare_queue(corq_engine *engine, const std::string &queue, bool unbounded) {
  std::vector<std::pair<const char *, std::string>> options = {{"durable", "true"},
                                                               {"dead_letter_queue", ""}};
  if (unbounded) {
    options.emplace_back("max_length", "268435456");
    options.emplace_back("max_bytes", "64GiB");
  }
  corq_config *config = make_config(options);
  if (config == nullptr) return "corq_config: out of memory or unknown key";
  const int rc = corq_queue_declare(engine, queue.c_str(), config);
  corq_config_free(config);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_queue_declare(" + queue + ")", rc);
}

LogInfo log_info(corq_engine *engine) {
  const std::string json = stats_json(engine);
  LogInfo info;
  info.backend = log_field(json, "backend");
  info.direct_io = log_field(json, "direct_io") == "true";
  info.segments = std::strtoull(log_field(json, "segments").c_str(), nullptr, 10);
  info.segment_bytes_used =
      std::strtoull(log_field(json, "segment_bytes_used").c_str(), nullptr, 10);
  info.checkpoints = std::strtoull(log_field(json, "checkpoints").c_str(), nullptr, 10);
  return info;
}

std::string engine_dir(const Backend &backend) { return bench_dir() + "/engine-" + backend.name; }

std::string open_round_engine(const Backend &backend, const std::string &queue, corq_engine *&out) {
  std::string error = open_engine(engine_dir(backend), backend, out);
  if (error.empty()) error = declare_queue(out, queue, true);
  return error;
}

void retire_engine(benchmark::State &state, corq_engine *engine, const std::string &queue) {
  if (engine == nullptr) return;
  label_from(state, log_info(engine));
  corq_queue_delete(engine, queue.c_str());
  corq_sync(engine, wait_limit_ms);
  // Checkpoints run every 200 ms when they can release a segment: give them a few seconds (not
  // measured) so the next benchmark starts from a directory of a segment or three.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  LogInfo info = log_info(engine);
  while (info.segments > 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    info = log_info(engine);
  }
  state.counters["segments_left"] = static_cast<double>(info.segments);
  corq_close(engine);
}

std::uint64_t count_wal_files(const std::string &dir, std::uint64_t *bytes) {
  std::uint64_t count = 0, total = 0;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".wal") continue;
    ++count;
    total += entry.file_size(ec);
  }
  if (bytes != nullptr) *bytes = total;
  return count;
}

std::uint64_t disk_bytes(const std::string &dir) {
  const auto allocated = [](const std::filesystem::path &path) -> std::uint64_t {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  };
  std::uint64_t total = allocated(dir);
  std::error_code ec;
  for (const auto &entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    total += allocated(entry.path());
  }
  return total;
}

void label_from(benchmark::State &state, const LogInfo &info) {
  state.SetLabel(info.backend + (info.direct_io ? ", O_DIRECT" : ", buffered"));
  state.counters["direct_io"] = info.direct_io ? 1 : 0;
}

namespace {
std::mutex rates_mutex;
std::map<std::pair<std::string, int>, double> &rates() {
  static std::map<std::pair<std::string, int>, double> map;
  return map;
}
}  // namespace

void set_publish_rate(const std::string &backend, int round, double msgs_per_s) {
  std::lock_guard lock(rates_mutex);
  rates()[{backend, round}] = msgs_per_s;
}

double publish_rate(const std::string &backend, int round) {
  std::lock_guard lock(rates_mutex);
  const auto it = rates().find({backend, round});
  return it == rates().end() ? 0 : it->second;
}

std::string produce(corq_engine *engine, const std::string &queue, std::size_t bytes,
                    std::uint64_t msgs) {
  corq_producer *producer = nullptr;
  if (const int rc = corq_producer_open(engine, queue.c_str(), &producer); rc != CORQ_OK) {
    return corq_failure("corq_producer_open", rc);
  }
  std::vector<unsigned char> payload(bytes, 0xa5);
  const corq_message message{payload.data(), payload.size(), nullptr, 0, nullptr};
  corq_publish_options options{};
  options.struct_size = sizeof(options);
  options.flags = CORQ_PUBLISH_NOWAIT;
  options.timeout_ms = wait_limit_ms;
  std::string error;
  for (std::uint64_t i = 1; i <= msgs && error.empty(); ++i) {
    if (const int rc = corq_producer_send(producer, &message, 1, &options, nullptr); rc != 0) {
      error = corq_failure("corq_producer_send", rc);
    } else if (i % msgs_per_flush == 0 || i == msgs) {
      if (const int frc = corq_producer_flush(producer, wait_limit_ms); frc != 0) {
        error = corq_failure("corq_producer_flush", frc);
      }
    }
  }
  corq_producer_close(producer);
  return error;
}

namespace {

/// One consumer: takes deliveries until `total` (shared by all consumers) are acked.
std::string consume(corq_engine *engine, const std::string &queue, std::uint64_t total,
                    std::atomic<std::uint64_t> &acked) {
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_consumer_open(engine, queue.c_str(), consumer_prefetch, &consumer);
      rc != CORQ_OK) {
    return corq_failure("corq_consumer_open", rc);
  }
  std::vector<corq_delivery> batch(consumer_prefetch);
  std::string error;
  auto last_progress = std::chrono::steady_clock::now();
  while (error.empty() && acked.load(std::memory_order_relaxed) < total) {
    const int n = corq_consume(consumer, batch.data(), batch.size(), 20);
    if (n < 0) {
      error = corq_failure("corq_consume", n);
    } else if (n > 0) {
      if (const int rc = corq_ack_upto(consumer, batch[static_cast<std::size_t>(n) - 1].tag);
          rc != CORQ_OK) {
        error = corq_failure("corq_ack_upto", rc);
      }
      acked.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress >
               std::chrono::milliseconds(wait_limit_ms)) {
      error = "no delivery for " + std::to_string(wait_limit_ms / 1000) + " s with " +
              std::to_string(acked.load()) + " of " + std::to_string(total) + " acked";
    }
  }
  if (error.empty()) {
    if (const int rc = corq_sync(engine, wait_limit_ms); rc != CORQ_OK) {
      error = corq_failure("corq_sync", rc);
    }
  }
  corq_consumer_close(consumer);
  return error;
}

}  // namespace

std::string run_producers_consumers(corq_engine *engine, const std::string &queue,
                                    std::size_t bytes, std::uint64_t msgs, unsigned consumers,
                                    double &seconds) {
  const std::uint64_t total = msgs * producers;
  StartGate gate(producers + consumers);
  FinishLine finish;
  std::atomic<std::uint64_t> acked{0};
  std::vector<std::string> errors(producers + consumers);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < producers + consumers; ++t) {
    threads.emplace_back([&, t] {
      gate.arrive_and_wait();
      errors[t] = t < producers ? produce(engine, queue, bytes, msgs)
                                : consume(engine, queue, total, acked);
      finish.record();
    });
  }
  const auto start = gate.open();
  for (std::thread &thread : threads) thread.join();
  seconds = finish.seconds_since(start);
  for (const std::string &error : errors) {
    if (!error.empty()) return error;
  }
  if (consumers > 0 && acked.load() != total) {
    return "acked " + std::to_string(acked.load()) + " deliveries, published " +
           std::to_string(total);
  }
  return {};
}

}  // namespace corq::bench::durable_bench
