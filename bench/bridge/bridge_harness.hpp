// bench/bridge/bridge_harness.hpp — what the corq-bridge benchmarks share: the suite's scale, the
// one NATS JetStream cluster of the run and the JetStream stream of each round, scratch
// directories, corq engines, the bridge's config text, the clocks and the percentiles.
//
// The bridge benchmarks (issue #19, DESIGN §9) measure libcorq_bridge against the cluster it
// forwards to, next to that cluster's own client doing the same job in the same round: outbound
// throughput of 1 KiB messages (a pre-filled corq queue forwarded by an outbound rule, next to
// js_PublishMsgAsync alone with the same window), and latency (a message published into corq, out
// through an outbound rule and back in through an inbound rule into another queue, next to a
// synchronous js_Publish). Everything runs against one 3-node R3 cluster on 127.0.0.1 with TLS and
// user/password auth, made by tests/bridge/nats_cluster.hpp (the bridge tests' harness), on the
// same two cores as the benchmark itself.
//
// Every round has its own JetStream stream (created by the round's first benchmark, deleted when
// the next round starts), purged before each run, so rounds never pile up in the servers' stores.
// Within a round every client — the baseline's connection and the bridge's — connects to the same
// node (rounds rotate over the nodes), so the baseline and the bridge see the same stream leader
// and the same hop to it: their ratio is paired.
#pragma once

#include <corq/bridge.h>
#include <corq/corq.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nats_cluster.hpp"

namespace corq::bench::bridge {

/// Payload of every message (the size).
inline constexpr std::size_t payload_bytes = 1024;
/// The window the issue names: the bridge's max_in_flight default and the baseline's MaxPending.
inline constexpr std::uint32_t window_default = 256;
/// Messages per corq_producer_send when a queue is pre-filled (untimed).
inline constexpr std::size_t prefill_batch = 256;
/// How often a throughput run looks at the local queue to see whether the bridge is done.
inline constexpr auto drain_poll_interval = std::chrono::milliseconds(1);
/// Longest a run waits for its messages (to be forwarded, to come back); a run past it failed.
inline constexpr std::int64_t drain_timeout_ms = 180'000;
/// corq_bridge_stop's timeout: what is in flight must be acked by then.
inline constexpr std::int32_t stop_timeout_ms = 30'000;
/// JetStream requests of the benchmark's own (purge, delete, info, publish acks).
inline constexpr std::int64_t js_wait_ms = 10'000;
/// A latency run's consumer of the far queue: its window, and its wait per corq_consume.
inline constexpr std::uint32_t far_prefetch = 256;
inline constexpr std::int32_t far_consume_wait_ms = 50;

/// How much work one run does, and how many rounds.
struct BridgeScale {
  std::uint64_t messages;         // N per throughput run
  std::uint64_t latency_samples;  // measured js_Publish calls / end-to-end messages per run
  std::uint64_t latency_warmup;   // unmeasured ones before them, through the same path
  std::uint32_t e2e_rate_per_s;   // the end-to-end run's fixed publish rate
  int rounds;
  bool quick;
};

BridgeScale bridge_full_scale();
BridgeScale bridge_quick_scale();

/// Registration: main() registers every benchmark once per round (the order reversed every other
/// round, so neither side of a pair always runs first on a warming or cooling machine).
void register_throughput_round(const BridgeScale &scale, int round);
void register_latency_round(const BridgeScale &scale, int round);

/// "what: CORQ_E... (corq_last_error())".
std::string corq_failure(const char *what, int code);
/// "what: <cnats status text> (<cnats last error>)".
std::string nats_failure(const char *what, natsStatus status);

/// A directory made with mkdtemp under a base directory; removed with everything in it.
class ScratchDir {
 public:
  /// Throws std::runtime_error when mkdtemp fails.
  explicit ScratchDir(const std::string &base);
  ~ScratchDir();
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

/// The run's cluster and where things go: set up once by main(), used by every benchmark from the
/// main thread (the harness' NatsCluster is not thread-safe).
class BenchEnv {
 public:
  /// Starts the 3-node cluster (TLS + user/password, as the bridge tests make it) and writes the
  /// password file the bridge configs name under `scratch_base`. Throws on failure.
  static void start(const std::string &scratch_base);
  /// Stops the cluster and removes what start() made.
  static void stop();
  static BenchEnv &get();

  const std::string &scratch_base() const { return scratch_base_; }
  test::NatsCluster &cluster() { return *cluster_; }
  /// The node every client of round `round` connects to.
  int node_of(int round) const { return round % cluster_->node_count(); }

  /// The JetStream stream of round `round` ("CORQBENCH<round>", subjects "CORQBENCH<round>.>",
  /// R3, file storage): created on the round's first call, which also deletes the previous
  /// round's. Empty and *error set on failure.
  std::string round_stream(int round, std::string *error);
  /// Purges the stream (every message gone) and waits until it says 0 messages. "" or the error.
  std::string purge(const std::string &stream);
  /// The stream's message count, or -1 (and *error) when it cannot be read.
  std::int64_t message_count(const std::string &stream, std::string *error);
  /// Deletes a durable consumer (the end-to-end run's); errors are ignored (the stream goes too).
  void delete_consumer(const std::string &stream, const std::string &durable);
  /// 1 when the stream's leader is node `node`, 0 when it is another, -1 when unknown.
  int leader_is_node(const std::string &stream, int node);

  /// A cnats connection to node `node` only (TLS with the cluster's CA, user and password). With
  /// `send_asap`, natsOptions_SetSendAsap: every publish is written to the socket at once instead
  /// of waiting for cnats's flusher thread. The caller destroys it. Null and *error on failure.
  natsConnection *connect(int node, std::string *error, bool send_asap = false);
  /// The [nats] section of a bridge config that reaches node `node` only.
  std::string nats_section(int node) const;

 private:
  std::unique_ptr<test::NatsCluster> cluster_;
  std::unique_ptr<ScratchDir> scratch_;
  std::string scratch_base_, password_file_;
  int stream_round_ = -1;
  std::string stream_;
};

/// A corq engine: on a directory (durable queues, the given sync mode) or in memory (dir empty).
class Engine {
 public:
  Engine() = default;
  ~Engine() { close(); }
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;
  /// "" or the error.
  std::string open(const std::string &dir, const char *sync);
  /// Declares a queue with default options (durable on a disk engine). "" or the error.
  std::string declare(const char *queue);
  void close();
  corq_engine *get() const { return engine_; }

 private:
  corq_engine *engine_ = nullptr;
};

/// Publishes `count` numbered 1 KiB messages to `queue` (NOWAIT batches, then one flush: durable
/// once this returns). "" or the error.
std::string prefill(corq_engine *engine, const char *queue, std::uint64_t count);
/// The queue's stats; false (and *error) on failure.
bool queue_stats(corq_engine *engine, const char *queue, corq_queue_stats *out, std::string *error);

/// A Nats-Msg-Id prefix as long as the bridge's "<engine uuid>/<queue>/", random: no run's ids
/// meet another's in the stream's duplicate window (which a purge does not clear).
std::string random_id_prefix();

/// A 1 KiB payload whose first 8 bytes are `a` and next 8 bytes are `b` (memcpy, host order).
void stamp_payload(std::vector<char> &payload, std::int64_t a, std::uint64_t b);
std::int64_t stamp_a(const void *data);
std::uint64_t stamp_b(const void *data);

/// Nanoseconds on the steady clock (what the end-to-end payloads carry).
inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What a run cost in CPU: this process (the benchmark, the bridge, libnats, the engine's threads)
/// and the whole machine (from /proc/stat: the servers count there).
class CpuMeter {
 public:
  void start();
  void stop();
  double process_seconds() const { return process_s_; }
  /// Share of both cores' time that was busy (0..1), or -1 when /proc/stat cannot be read.
  double machine_busy() const { return busy_; }

 private:
  double process_start_s_ = 0, process_s_ = 0;
  std::uint64_t busy_start_ = 0, total_start_ = 0;
  double busy_ = -1;
};

/// Nearest-rank percentiles of latency samples (ns), in µs.
struct LatencyUs {
  double p50 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::size_t samples = 0;
};
LatencyUs latency_of(std::vector<std::int64_t> samples_ns);
/// Adds prefix + "p50_us", "p99_us", "p999_us", "max_us", "mean_us" counters.
void set_latency_counters(benchmark::State &state, const std::string &prefix, const LatencyUs &l);

/// The first three fields of /proc/loadavg ("1.37 / 2.36 / 3.18"), or "unknown".
std::string load_average();

/// Every benchmark: one run per repetition, the time it reports.
inline void configure_bridge_run(benchmark::internal::Benchmark *b) {
  b->Iterations(1)->Repetitions(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace corq::bench::bridge
