// bench/bridge/throughput.cpp — outbound throughput of 1 KiB messages: an outbound rule forwarding
// a pre-filled corq queue to JetStream, next to js_PublishMsgAsync alone (issue #19: the bridge
// ≥ 0.5× the baseline, same cluster, same run).
//
//   throughput/js_async_w<W>         the baseline: one thread publishes N messages with
//                                    js_PublishMsgAsync (MaxPending W, a Nats-Msg-Id each, as the
//                                    bridge sends them), then js_PublishAsyncComplete. Timed from
//                                    the first publish to the last ack.
//   throughput/bridge_durable_w<W>   a corq engine on a scratch directory (sync=always: the
//                                    bridge's local acks are logged), a durable queue pre-filled
//                                    with N messages (untimed, durable before the clock starts),
//                                    then corq_bridge_start with one outbound rule (max_in_flight
//                                    W). Timed from corq_bridge_start's return (connected, checked,
//                                    forwarding) until the queue's `acked` reaches N.
//   throughput/bridge_memory_w<W>    the same from a transient queue of an in-memory engine: what
//                                    the local durability costs, for the profile.
//   throughput/js_async_w<W>_asap    the baseline on a connection with natsOptions_SetSendAsap
//                                    (each publish written at once, no wait for cnats's flusher):
//                                    what that option, which the bridge does not set, costs in
//                                    throughput (latency.cpp shows what it saves in latency).
// Every run checks what it measured: the stream holds exactly N messages (no loss, no double),
// and after a bridge run the local queue is empty with nothing in flight.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "bridge_harness.hpp"

namespace corq::bench::bridge {

namespace {

using Clock = std::chrono::steady_clock;

enum class Path { js_async, js_async_asap, bridge_durable, bridge_memory };

struct ThroughputRun {
  double seconds = 0;        // the timed part
  double start_seconds = 0;  // corq_bridge_start itself (connect, TLS, checks): bridge runs only
  std::uint64_t stalls = 0;  // baseline: publishes that waited past StallWait for the window
  CpuMeter cpu;
  std::string error;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void on_publish_error(jsCtx *, jsPubAckErr *, void *closure) {
  static_cast<std::atomic<std::uint64_t> *>(closure)->fetch_add(1, std::memory_order_relaxed);
}

/// Publishes message i: a fresh natsMsg with the payload and its Nats-Msg-Id (the bridge makes one
/// per delivery the same way), retried while the window stays full past StallWait.
natsStatus publish_one(jsCtx *js, const std::string &subject, std::vector<char> &payload,
                       const std::string &id_prefix, std::uint64_t i, std::uint64_t *stalls) {
  stamp_payload(payload, 0, i);
  natsMsg *msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                static_cast<int>(payload.size()));
  if (s == NATS_OK)
    s = natsMsgHeader_Set(msg, "Nats-Msg-Id", (id_prefix + std::to_string(i)).c_str());
  while (s == NATS_OK) {
    s = js_PublishMsgAsync(js, &msg, nullptr);
    if (s != NATS_TIMEOUT) break;
    ++*stalls;  // the window stayed full for StallWait: libnats kept the message, send it again
    s = NATS_OK;
  }
  natsMsg_Destroy(msg);  // a no-op once libnats took it
  return s;
}

ThroughputRun js_async_alone(const std::string &stream, int node, std::uint64_t count,
                             std::uint32_t window, bool send_asap) {
  ThroughputRun run;
  BenchEnv &env = BenchEnv::get();
  natsConnection *nc = env.connect(node, &run.error, send_asap);
  if (nc == nullptr) return run;
  std::atomic<std::uint64_t> failures{0};
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = js_wait_ms;
  options.PublishAsync.MaxPending = window;
  options.PublishAsync.ErrHandler = &on_publish_error;
  options.PublishAsync.ErrHandlerClosure = &failures;
  jsCtx *js = nullptr;
  if (const natsStatus s = natsConnection_JetStream(&js, nc, &options); s != NATS_OK) {
    run.error = nats_failure("natsConnection_JetStream", s);
    natsConnection_Destroy(nc);
    return run;
  }
  const std::string subject = stream + ".tput", id_prefix = random_id_prefix();
  std::vector<char> payload(payload_bytes, '.');
  run.cpu.start();
  const auto t0 = Clock::now();
  natsStatus s = NATS_OK;
  for (std::uint64_t i = 0; i < count && s == NATS_OK; ++i)
    s = publish_one(js, subject, payload, id_prefix, i, &run.stalls);
  jsPubOptions complete;
  jsPubOptions_Init(&complete);
  complete.MaxWait = drain_timeout_ms;
  if (s == NATS_OK) s = js_PublishAsyncComplete(js, &complete);
  run.seconds = seconds_between(t0, Clock::now());
  run.cpu.stop();
  if (s != NATS_OK) run.error = nats_failure("js_PublishMsgAsync / js_PublishAsyncComplete", s);
  if (run.error.empty() && failures.load() > 0)
    run.error = std::to_string(failures.load()) + " asynchronous publishes failed";
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return run;
}

/// Polls the local queue until the bridge acked `count` messages; "" or the error.
std::string wait_until_acked(corq_engine *engine, std::uint64_t count) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(drain_timeout_ms);
  std::string error;
  corq_queue_stats st{};
  while (queue_stats(engine, "out", &st, &error) && st.acked < count) {
    if (Clock::now() >= deadline)
      return "the bridge forwarded " + std::to_string(st.acked) + " of " + std::to_string(count) +
             " messages in " + std::to_string(drain_timeout_ms) + " ms";
    std::this_thread::sleep_for(drain_poll_interval);
  }
  return error;
}

ThroughputRun bridge_forward(const std::string &stream, int node, std::uint64_t count,
                             std::uint32_t window, bool durable) {
  ThroughputRun run;
  BenchEnv &env = BenchEnv::get();
  ScratchDir dir(env.scratch_base());
  Engine engine;
  run.error = engine.open(durable ? dir.path() + "/data" : std::string(), "always");
  if (run.error.empty()) run.error = engine.declare("out");
  if (run.error.empty()) run.error = prefill(engine.get(), "out", count);
  if (!run.error.empty()) return run;
  const std::string config = env.nats_section(node) +
                             "[outbound bench]\nqueue = out\nsubject = " + stream +
                             ".tput\nmax_in_flight = " + std::to_string(window) + "\n";
  corq_bridge *bridge = nullptr;
  run.cpu.start();
  const auto t0 = Clock::now();
  if (const int rc = corq_bridge_start(engine.get(), config.c_str(), &bridge); rc != CORQ_OK) {
    run.error = std::string("corq_bridge_start: ") + corq_strerror(rc) + " (" +
                corq_bridge_last_error() + ")";
    return run;
  }
  const auto t1 = Clock::now();
  run.error = wait_until_acked(engine.get(), count);
  run.seconds = seconds_between(t1, Clock::now());
  run.cpu.stop();
  run.start_seconds = seconds_between(t0, t1);
  if (const int rc = corq_bridge_stop(bridge, stop_timeout_ms); rc != CORQ_OK && run.error.empty())
    run.error = std::string("corq_bridge_stop: ") + corq_strerror(rc);
  corq_queue_stats st{};
  if (run.error.empty() && queue_stats(engine.get(), "out", &st, &run.error) &&
      (st.ready != 0 || st.in_flight != 0 || st.acked != count))
    run.error = "after the bridge stopped: ready " + std::to_string(st.ready) + ", in flight " +
                std::to_string(st.in_flight) + ", acked " + std::to_string(st.acked);
  return run;
}

/// The stream must hold exactly `count` messages: none lost, none doubled.
std::string check_stream(const std::string &stream, std::uint64_t count) {
  std::string error;
  const std::int64_t held = BenchEnv::get().message_count(stream, &error);
  if (held < 0) return error;
  if (static_cast<std::uint64_t>(held) != count)
    return "the stream holds " + std::to_string(held) + " messages, expected " +
           std::to_string(count);
  return {};
}

void measure(benchmark::State &state, Path path, std::uint32_t window, const BridgeScale &scale,
             int round) {
  BenchEnv &env = BenchEnv::get();
  std::string error;
  const std::string stream = env.round_stream(round, &error);
  if (error.empty()) error = env.purge(stream);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int node = env.node_of(round);
  const std::uint64_t n = scale.messages;
  const bool baseline = path == Path::js_async || path == Path::js_async_asap;
  ThroughputRun run = baseline
                          ? js_async_alone(stream, node, n, window, path == Path::js_async_asap)
                          : bridge_forward(stream, node, n, window, path == Path::bridge_durable);
  if (run.error.empty()) run.error = check_stream(stream, n);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  state.SetIterationTime(run.seconds);
  const auto messages = static_cast<double>(n);
  state.counters["msgs_per_s"] = messages / run.seconds;
  state.counters["mb_per_s"] = messages * payload_bytes / run.seconds / 1e6;
  state.counters["messages"] = messages;
  state.counters["window"] = window;
  state.counters["cpu_us_per_msg"] = run.cpu.process_seconds() / messages * 1e6;
  state.counters["machine_busy_pct"] = run.cpu.machine_busy() * 100;
  state.counters["start_ms"] = run.start_seconds * 1e3;
  state.counters["stalls"] = static_cast<double>(run.stalls);
  state.counters["round"] = round;
  state.counters["node"] = node;
  state.counters["leader_local"] = env.leader_is_node(stream, node);
}

void register_path(const std::string &name, Path path, std::uint32_t window,
                   const BridgeScale &scale, int round) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) measure(state, path, window, scale, round);
  };
  configure_bridge_run(benchmark::RegisterBenchmark(name.c_str(), body));
}

}  // namespace

void register_throughput_round(const BridgeScale &scale, int round) {
  struct Entry {
    const char *name;
    Path path;
    std::uint32_t window;
  };
  // The judged pair first (the baseline and the bridge at the window), then the profile's
  // lines: the same forward from memory, and the bridge's window varied.
  std::vector<Entry> entries{
      {"throughput/js_async_w256", Path::js_async, window_default},
      {"throughput/bridge_durable_w256", Path::bridge_durable, window_default},
      {"throughput/bridge_memory_w256", Path::bridge_memory, window_default},
      {"throughput/bridge_durable_w64", Path::bridge_durable, 64},
      {"throughput/bridge_durable_w1024", Path::bridge_durable, 1024},
      {"throughput/js_async_w1024", Path::js_async, 1024},
      {"throughput/js_async_w256_asap", Path::js_async_asap, window_default},
  };
  if (round % 2 == 1) std::reverse(entries.begin(), entries.end());
  for (const Entry &e : entries) register_path(e.name, e.path, e.window, scale, round);
}

}  // namespace corq::bench::bridge
