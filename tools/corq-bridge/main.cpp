// tools/corq-bridge/main.cpp — corq-bridge: opens a data directory and runs corq/bridge.h on it
// from a config file (format: bridge/README.md) until SIGINT or SIGTERM.
//
//   corq-bridge --dir DIR --config FILE [--metrics-file PATH] [--metrics-interval-ms 5000]
//               [--sync always|none] [--stop-timeout-ms 10000] [--standby-poll-ms 500] [--quiet]
//
// Hot standby: when another process holds the directory's lock (another corq-bridge, or the
// service that embeds the engine), it says so once and waits for the lock, taking over when the
// holder exits or dies — so one forwarder is active per directory, never two.
//
// On a terminal it rewrites one progress line a second; with --metrics-file it writes the
// Prometheus text of corq_bridge_metrics_text every --metrics-interval-ms, atomically (a
// temporary file in the same folder, then rename: the node_exporter textfile convention).
//
// Exit status: 0 after a clean stop; 1 when the bridge cannot start or the engine cannot open
// (the error says why); 2 for a usage or config error (nothing opened).
#include <corq/bridge.h>
#include <corq/corq.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace {

std::atomic<int> stop_signal{0};

extern "C" void on_stop_signal(int signal) { stop_signal.store(signal); }

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool read_file(const std::string &path, std::string &out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

/// Writes text to path atomically: path.tmp, then rename over path.
bool write_atomically(const std::string &path, const std::string &text) {
  const std::string temp = path + ".tmp";
  FILE *f = std::fopen(temp.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    std::remove(temp.c_str());
    return false;
  }
  return std::rename(temp.c_str(), path.c_str()) == 0;
}

/// The number after "key": in flat JSON (enough for the progress line's sums).
std::uint64_t sum_of(const std::string &json, const std::string &key) {
  std::uint64_t total = 0;
  const std::string needle = "\"" + key + "\":";
  for (auto at = json.find(needle); at != std::string::npos; at = json.find(needle, at + 1))
    total += std::strtoull(json.c_str() + at + needle.size(), nullptr, 10);
  return total;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{
      "corq-bridge: forwards corq queues and streams to a NATS JetStream cluster and "
      "back (DESIGN.md section 9; config format: bridge/README.md)"};
  std::string dir, config_path, metrics_file, sync = "always";
  int metrics_interval_ms = 5000, stop_timeout_ms = 10000, standby_poll_ms = 500;
  bool quiet = false;
  app.add_option("--dir", dir, "the data directory to open")->required();
  app.add_option("--config", config_path, "the bridge config file")->required();
  app.add_option("--metrics-file", metrics_file,
                 "write Prometheus text here every --metrics-interval-ms (atomically)");
  app.add_option("--metrics-interval-ms", metrics_interval_ms, "metrics file period")
      ->check(CLI::Range(100, 3600000));
  app.add_option("--sync", sync, "the engine's sync option")
      ->check(CLI::IsMember({"always", "none"}));
  app.add_option("--stop-timeout-ms", stop_timeout_ms,
                 "on SIGINT/SIGTERM, how long to wait for publishes in flight")
      ->check(CLI::Range(0, 3600000));
  app.add_option("--standby-poll-ms", standby_poll_ms,
                 "while another process holds the directory, how often to try its lock")
      ->check(CLI::Range(10, 60000));
  app.add_flag("--quiet", quiet, "no progress line, even on a terminal");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::string config;
  if (!read_file(config_path, config)) {
    std::fprintf(stderr, "corq-bridge: cannot read config file '%s'\n", config_path.c_str());
    return 2;
  }
  if (corq_bridge_config_check(config.c_str()) != CORQ_OK) {
    std::fprintf(stderr, "corq-bridge: %s: %s\n", config_path.c_str(), corq_bridge_last_error());
    return 2;
  }
  install_signal_handlers();

  corq_config *options = corq_config_new();
  if (options == nullptr || corq_config_set(options, "sync", sync.c_str()) != CORQ_OK) {
    std::fprintf(stderr, "corq-bridge: %s\n", corq_last_error());
    return 1;
  }
  corq_engine *engine = nullptr;
  bool said_standby = false;
  while (true) {
    const int rc = corq_open(dir.c_str(), options, &engine);
    if (rc == CORQ_OK) break;
    if (rc != CORQ_EBUSY) {
      std::fprintf(stderr, "corq-bridge: %s\n", corq_last_error());
      corq_config_free(options);
      return 1;
    }
    if (!said_standby) {
      std::fprintf(stderr,
                   "corq-bridge: standby: '%s' is held by another process; waiting for its lock\n",
                   dir.c_str());
      said_standby = true;
    }
    if (stop_signal.load() != 0) {
      corq_config_free(options);
      return 0;
    }
    sleep_ms(standby_poll_ms);
  }
  corq_config_free(options);
  if (said_standby) std::fprintf(stderr, "corq-bridge: took over '%s'\n", dir.c_str());

  corq_bridge *bridge = nullptr;
  if (corq_bridge_start(engine, config.c_str(), &bridge) != CORQ_OK) {
    std::fprintf(stderr, "corq-bridge: %s\n", corq_bridge_last_error());
    corq_close(engine);
    return 1;
  }
  char id[37];
  corq_engine_id(engine, id);
  std::fprintf(stderr, "corq-bridge: running on '%s' (engine %s)\n", dir.c_str(), id);

  const bool terminal = !quiet && isatty(STDOUT_FILENO) == 1;
  auto next_metrics = std::chrono::steady_clock::now();
  auto next_progress = next_metrics;
  int status = 0;
  while (stop_signal.load() == 0) {
    const auto now = std::chrono::steady_clock::now();
    if (!metrics_file.empty() && now >= next_metrics) {
      char *text = nullptr;
      if (corq_bridge_metrics_text(bridge, &text) == CORQ_OK) {
        if (!write_atomically(metrics_file, text))
          std::fprintf(stderr, "corq-bridge: cannot write metrics file '%s'\n",
                       metrics_file.c_str());
        corq_free(text);
      }
      next_metrics = now + std::chrono::milliseconds(metrics_interval_ms);
    }
    if (terminal && now >= next_progress) {
      char *json = nullptr;
      if (corq_bridge_stats_json(bridge, &json) == CORQ_OK) {
        const std::string stats = json;
        corq_free(json);
        std::printf(
            "\r%s  forwarded %llu  in flight %llu  retried %llu  lag %llu   ",
            stats.find("\"connected\":true") != std::string::npos ? "connected" : "DISCONNECTED",
            static_cast<unsigned long long>(sum_of(stats, "forwarded")),
            static_cast<unsigned long long>(sum_of(stats, "in_flight")),
            static_cast<unsigned long long>(sum_of(stats, "retried")),
            static_cast<unsigned long long>(sum_of(stats, "lag")));
        std::fflush(stdout);
      }
      next_progress = now + std::chrono::seconds(1);
    }
    sleep_ms(50);
  }
  if (terminal) std::printf("\n");
  std::fprintf(stderr, "corq-bridge: stopping (signal %d)\n", stop_signal.load());
  if (corq_bridge_stop(bridge, stop_timeout_ms) != CORQ_OK) {
    std::fprintf(stderr, "corq-bridge: %s\n", corq_bridge_last_error());
    status = 0;  // released messages are resent later and dropped as duplicates: still clean
  }
  if (corq_close(engine) != CORQ_OK) {
    std::fprintf(stderr, "corq-bridge: %s\n", corq_last_error());
    status = 1;
  }
  if (!metrics_file.empty()) std::remove(metrics_file.c_str());
  return status;
}
