// bench/bridge/main.cpp — corq_bridge_bench: libcorq_bridge against a real 3-node JetStream
// cluster (issue #19's performance section, DESIGN §9), each figure next to the cluster's own
// client doing the same job in the same round.
//
//   corq_bridge_bench [--quick] [--dir DIR] [any --benchmark_* flag]
//
// Benchmarks (names `<scenario>/<path>`; see throughput.cpp and latency.cpp):
//   throughput/js_async_w256          baseline: js_PublishMsgAsync of N 1 KiB messages, window 256
//   throughput/bridge_durable_w256    an outbound rule forwarding a durable queue of N
//   (sync=always) throughput/bridge_memory_w256     the same from a transient queue of an in-memory
//   engine throughput/bridge_durable_w64, _w1024   the bridge's max_in_flight varied
//   throughput/js_async_w1024         the baseline with the larger window
//   throughput/js_async_w256_asap     the baseline with natsOptions_SetSendAsap (no flusher wait)
//   latency/js_publish                baseline: synchronous js_Publish, one at a time
//   latency/js_async_one              js_PublishMsgAsync + js_PublishAsyncComplete, one at a time
//   latency/js_async_one_asap         the same with natsOptions_SetSendAsap
//   latency/bridge_e2e                corq -> outbound rule -> JetStream -> inbound rule -> corq
//   latency/bridge_e2e_memory         the same on an in-memory engine (no fsync on the corq side)
// One cluster for the whole run (started here, TLS + user/password, by tests/bridge's
// NatsCluster); `rounds` rounds, each running every benchmark once, in reversed order every other
// round; the report takes medians over rounds and ratios paired within a round.
// --dir: where the corq data directories go (default: $TMPDIR or /tmp); the cluster's stores go
// under $TMPDIR. --quick: one round with a fraction of the work (a smoke test; numbers not
// meaningful). tools/bench.sh (suite `bridge`) runs this; perf/report_bridge.py makes the table.
#include <nats/nats.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "bridge_harness.hpp"

#ifndef CORQ_NATS_SERVER_PATH
#define CORQ_NATS_SERVER_PATH "nats-server"
#endif

namespace {

/// `nats-server --version`'s line ("nats-server: v2.9.10"), or "unknown".
std::string nats_server_version() {
  const std::string command = std::string(CORQ_NATS_SERVER_PATH) + " --version 2>&1";
  std::FILE *p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "unknown";
  char line[128] = {};
  const bool got = std::fgets(line, sizeof line, p) != nullptr;
  ::pclose(p);
  if (!got) return "unknown";
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

void add_context(const corq::bench::bridge::BridgeScale &scale, const std::string &dir) {
  using namespace corq::bench::bridge;
  benchmark::AddCustomContext("corq_scale", scale.quick ? "quick" : "full");
  benchmark::AddCustomContext("corq_version", corq_version_string());
  benchmark::AddCustomContext("corq_payload_bytes", std::to_string(payload_bytes));
  benchmark::AddCustomContext("corq_window", std::to_string(window_default));
  benchmark::AddCustomContext("corq_messages", std::to_string(scale.messages));
  benchmark::AddCustomContext("corq_latency_samples", std::to_string(scale.latency_samples));
  benchmark::AddCustomContext("corq_latency_warmup", std::to_string(scale.latency_warmup));
  benchmark::AddCustomContext("corq_e2e_rate_per_s", std::to_string(scale.e2e_rate_per_s));
  benchmark::AddCustomContext("corq_rounds", std::to_string(scale.rounds));
  benchmark::AddCustomContext("corq_loadavg_start", load_average());
  benchmark::AddCustomContext("corq_nats_server", nats_server_version());
  benchmark::AddCustomContext("corq_libnats", nats_GetVersion());
  benchmark::AddCustomContext("corq_data_dir", dir);
}

}  // namespace

int main(int argc, char **argv) {
  using namespace corq::bench::bridge;
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  std::string dir = std::filesystem::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "corq_bridge_bench: unknown argument '%s' (--quick | --dir DIR | "
                   "--benchmark_*)\n",
                   argv[i]);
      return 2;
    }
  }
  const BridgeScale scale = quick ? bridge_quick_scale() : bridge_full_scale();
  add_context(scale, dir);
  try {
    BenchEnv::start(dir);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "corq_bridge_bench: cannot start the NATS cluster: %s\n", e.what());
    return 1;
  }
  for (int round = 0; round < scale.rounds; ++round) {
    register_throughput_round(scale, round);
    register_latency_round(scale, round);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  BenchEnv::stop();
  return 0;
}
