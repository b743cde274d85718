// bench/bridge/latency.cpp — latency through the bridge, next to the cluster's own publish-ack
// latency (issue #19: "the end-to-end latency p50/p99 beside the cluster's own publish-ack
// latency").
//
//   latency/js_publish   the baseline: one thread, synchronous js_Publish of 1 KiB with a
//                        Nats-Msg-Id, one at a time, back to back; each call timed on its own
//                        (the publish and JetStream's ack: stored on a quorum of the R3 stream).
//   latency/js_async_one the same message with js_PublishMsgAsync, then js_PublishAsyncComplete:
//                        the bridge's way of publishing, one message at a time. cnats hands an
//                        asynchronous publish to its flusher thread, which waits up to 1 ms for
//                        more before it writes (conn.c, _flusher): this line shows that wait.
//   latency/js_async_one_asap   the same on a connection with natsOptions_SetSendAsap (written at
//                        once): what the bridge would gain with it.
//   latency/bridge_e2e   one corq engine on a scratch directory (sync=always) with two queues and
//                        one bridge with two rules: outbound "out" -> <stream>.e2e, inbound from
//                        the stream (a durable pull consumer of its own) -> "far". One thread
//                        publishes into "out" at a fixed rate (open loop: message k is due at
//                        start + k / rate and carries that due time, steady_clock ns, in its
//                        payload, so a publisher held up shows as latency — no coordinated
//                        omission); a consumer of "far" records now - due per message. Also
//                        recorded: when a plain NATS subscriber on the subject sees each message
//                        (the outbound leg: corq -> bridge -> NATS server, before the inbound
//                        side's fetch and commit).
//   latency/bridge_e2e_memory   the same on an in-memory engine (transient queues: no fsync for
//                        the publish, the inbound commit or the acks): what corq's durability
//                        adds, for the profile.
// Each run checks what it measured: every message reached "far" exactly once and the stream holds
// each once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridge_harness.hpp"

namespace corq::bench::bridge {

namespace {

using Clock = std::chrono::steady_clock;

/// A publish of the end-to-end run this late after its due time counts as late (shown, not
/// judged: the latency already includes it).
constexpr std::int64_t late_after_ns = 1'000'000;
/// The publisher starts this long after the bridge did (its threads are running by then).
constexpr std::int64_t publish_lead_ns = 20'000'000;

struct LatencyRun {
  std::vector<std::int64_t> samples_ns;  // measured messages only
  std::vector<std::int64_t> wire_ns;     // end-to-end run: the outbound leg, where seen
  std::uint64_t late = 0;
  double seconds = 0;
  CpuMeter cpu;
  std::string error;
};

LatencyRun js_publish_sync(const std::string &stream, int node, const BridgeScale &scale) {
  LatencyRun run;
  natsConnection *nc = BenchEnv::get().connect(node, &run.error);
  if (nc == nullptr) return run;
  jsCtx *js = nullptr;
  if (const natsStatus s = natsConnection_JetStream(&js, nc, nullptr); s != NATS_OK) {
    run.error = nats_failure("natsConnection_JetStream", s);
    natsConnection_Destroy(nc);
    return run;
  }
  const std::string subject = stream + ".lat", id_prefix = random_id_prefix();
  const std::uint64_t total = scale.latency_warmup + scale.latency_samples;
  run.samples_ns.reserve(scale.latency_samples);
  std::vector<char> payload(payload_bytes, '.');
  run.cpu.start();
  const auto t0 = Clock::now();
  for (std::uint64_t k = 0; k < total; ++k) {
    stamp_payload(payload, 0, k);
    const std::string id = id_prefix + std::to_string(k);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = id.c_str();
    options.MaxWait = js_wait_ms;
    jsPubAck *ack = nullptr;
    jsErrCode code = jsErrCode(0);
    const std::int64_t before = steady_ns();
    const natsStatus s = js_Publish(&ack, js, subject.c_str(), payload.data(),
                                    static_cast<int>(payload.size()), &options, &code);
    const std::int64_t after = steady_ns();
    if (s != NATS_OK) {
      run.error = nats_failure("js_Publish", s);
      break;
    }
    jsPubAck_Destroy(ack);
    if (k >= scale.latency_warmup) run.samples_ns.push_back(after - before);
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  run.cpu.stop();
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return run;
}

/// Publishes one message asynchronously and waits for its ack: js_PublishMsgAsync +
/// js_PublishAsyncComplete, each message timed on its own.
LatencyRun js_async_one(const std::string &stream, int node, const BridgeScale &scale,
                        bool send_asap) {
  LatencyRun run;
  natsConnection *nc = BenchEnv::get().connect(node, &run.error, send_asap);
  if (nc == nullptr) return run;
  jsCtx *js = nullptr;
  if (const natsStatus s = natsConnection_JetStream(&js, nc, nullptr); s != NATS_OK) {
    run.error = nats_failure("natsConnection_JetStream", s);
    natsConnection_Destroy(nc);
    return run;
  }
  const std::string subject = stream + ".lat", id_prefix = random_id_prefix();
  const std::uint64_t total = scale.latency_warmup + scale.latency_samples;
  run.samples_ns.reserve(scale.latency_samples);
  std::vector<char> payload(payload_bytes, '.');
  jsPubOptions complete;
  jsPubOptions_Init(&complete);
  complete.MaxWait = js_wait_ms;
  run.cpu.start();
  const auto t0 = Clock::now();
  for (std::uint64_t k = 0; k < total && run.error.empty(); ++k) {
    stamp_payload(payload, 0, k);
    natsMsg *msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    if (s == NATS_OK)
      s = natsMsgHeader_Set(msg, "Nats-Msg-Id", (id_prefix + std::to_string(k)).c_str());
    const std::int64_t before = steady_ns();
    if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, nullptr);
    if (s == NATS_OK) s = js_PublishAsyncComplete(js, &complete);
    const std::int64_t after = steady_ns();
    natsMsg_Destroy(msg);  // a no-op once libnats took it
    if (s != NATS_OK) run.error = nats_failure("js_PublishMsgAsync / js_PublishAsyncComplete", s);
    if (k >= scale.latency_warmup) run.samples_ns.push_back(after - before);
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  run.cpu.stop();
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return run;
}

/// What the plain NATS subscriber on the subject saw: per message, when (ns after its due time).
struct WireWatch {
  std::mutex mutex;
  std::vector<std::int64_t> seen_ns;  // -1: not seen
  static void on_message(natsConnection *, natsSubscription *, natsMsg *msg, void *closure) {
    const std::int64_t now = steady_ns();
    auto *self = static_cast<WireWatch *>(closure);
    if (natsMsg_GetDataLength(msg) >= static_cast<int>(2 * sizeof(std::int64_t))) {
      const char *data = natsMsg_GetData(msg);
      const std::uint64_t k = stamp_b(data);
      std::lock_guard lock(self->mutex);
      if (k < self->seen_ns.size()) self->seen_ns[k] = now - stamp_a(data);
    }
    natsMsg_Destroy(msg);
  }
};

/// The consumer of "far": records now - due per message, checks each arrives once.
struct FarConsumer {
  std::vector<std::int64_t> latency_ns;  // -1: not (yet) arrived
  std::atomic<std::uint64_t> received{0};
  std::uint64_t doubled = 0, foreign = 0;
  std::atomic<bool> stop{false};
  std::string error;

  void run(corq_engine *engine) {
    corq_consumer *consumer = nullptr;
    if (const int rc = corq_consumer_open(engine, "far", far_prefetch, &consumer); rc != CORQ_OK) {
      error = corq_failure("corq_consumer_open far", rc);
      return;
    }
    std::vector<corq_delivery> batch(far_prefetch);
    while (!stop.load(std::memory_order_acquire) && received.load() < latency_ns.size()) {
      const int n = corq_consume(consumer, batch.data(), batch.size(), far_consume_wait_ms);
      if (n < 0) {
        error = corq_failure("corq_consume far", n);
        break;
      }
      const std::int64_t now = steady_ns();
      for (int i = 0; i < n; ++i) take(batch[static_cast<std::size_t>(i)], now);
      if (n > 0) corq_ack_upto(consumer, batch[static_cast<std::size_t>(n - 1)].tag);
    }
    corq_consumer_close(consumer);
  }

  void take(const corq_delivery &d, std::int64_t now) {
    const std::uint64_t k = d.len >= 2 * sizeof(std::int64_t) ? stamp_b(d.data) : UINT64_MAX;
    if (k >= latency_ns.size()) {
      ++foreign;
    } else if (latency_ns[k] >= 0) {
      ++doubled;
    } else {
      latency_ns[k] = now - stamp_a(d.data);
      received.fetch_add(1, std::memory_order_release);
    }
  }
};

std::string e2e_config(const std::string &stream, int node, const std::string &durable) {
  return BenchEnv::get().nats_section(node) + "[outbound out]\nqueue = out\nsubject = " + stream +
         ".e2e\nmax_in_flight = " + std::to_string(window_default) +
         "\n[inbound back]\njetstream = " + stream + "\ndurable = " + durable + "\nqueue = far\n";
}

/// Publishes `total` messages into "out" on the schedule; returns how many were late, or sets
/// *error.
std::uint64_t publish_on_schedule(corq_engine *engine, std::uint64_t total, std::uint32_t rate,
                                  std::string *error) {
  const std::int64_t period_ns = 1'000'000'000LL / rate;
  const std::int64_t start_ns = steady_ns() + publish_lead_ns;
  std::vector<char> payload(payload_bytes, '.');
  corq_publish_options options{};
  options.struct_size = sizeof options;
  options.flags = CORQ_PUBLISH_NOWAIT;  // open loop: the publisher must keep its schedule
  options.timeout_ms = 30'000;
  std::uint64_t late = 0;
  for (std::uint64_t k = 0; k < total; ++k) {
    const std::int64_t due_ns = start_ns + static_cast<std::int64_t>(k) * period_ns;
    std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(due_ns)));
    stamp_payload(payload, due_ns, k);
    const corq_message message{payload.data(), payload.size(), nullptr, 0, nullptr};
    if (const int rc = corq_publish(engine, "out", &message, &options, nullptr); rc != CORQ_OK) {
      *error = corq_failure("corq_publish out", rc);
      break;
    }
    if (steady_ns() - due_ns > late_after_ns) ++late;
  }
  return late;
}

/// Waits until the far consumer has every message (or the timeout); "" or what is missing.
std::string wait_for_far(FarConsumer &far, std::uint64_t total) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(drain_timeout_ms);
  while (far.received.load(std::memory_order_acquire) < total && far.error.empty()) {
    if (Clock::now() >= deadline)
      return "the far queue got " + std::to_string(far.received.load()) + " of " +
             std::to_string(total) + " messages";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

/// The bridge of the end-to-end run, with its watcher and far consumer, started and stopped.
LatencyRun bridge_e2e(const std::string &stream, int node, const BridgeScale &scale, int round,
                      bool on_disk) {
  LatencyRun run;
  BenchEnv &env = BenchEnv::get();
  const std::uint64_t total = scale.latency_warmup + scale.latency_samples;
  ScratchDir dir(env.scratch_base());
  Engine engine;
  run.error = engine.open(on_disk ? dir.path() + "/data" : std::string(), "always");
  if (run.error.empty()) run.error = engine.declare("out");
  if (run.error.empty()) run.error = engine.declare("far");
  if (!run.error.empty()) return run;
  natsConnection *nc = env.connect(node, &run.error);
  if (nc == nullptr) return run;
  WireWatch wire;
  wire.seen_ns.assign(total, -1);
  natsSubscription *sub = nullptr;
  const std::string subject = stream + ".e2e";
  const std::string durable =
      "corqbench-e2e-" + std::to_string(round) + (on_disk ? "-disk" : "-memory");
  natsStatus s = natsConnection_Subscribe(&sub, nc, subject.c_str(), &WireWatch::on_message, &wire);
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, js_wait_ms);  // the server has it
  corq_bridge *bridge = nullptr;
  if (s != NATS_OK) {
    run.error = nats_failure("natsConnection_Subscribe", s);
  } else if (const int rc = corq_bridge_start(engine.get(),
                                              e2e_config(stream, node, durable).c_str(), &bridge);
             rc != CORQ_OK) {
    run.error = std::string("corq_bridge_start: ") + corq_strerror(rc) + " (" +
                corq_bridge_last_error() + ")";
  }
  if (run.error.empty()) {
    FarConsumer far;
    far.latency_ns.assign(total, -1);
    std::thread consumer([&] { far.run(engine.get()); });
    run.cpu.start();
    const auto t0 = Clock::now();
    run.late = publish_on_schedule(engine.get(), total, scale.e2e_rate_per_s, &run.error);
    if (run.error.empty()) run.error = wait_for_far(far, total);
    run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    run.cpu.stop();
    far.stop.store(true, std::memory_order_release);
    consumer.join();
    if (run.error.empty()) run.error = far.error;
    if (run.error.empty() && (far.doubled > 0 || far.foreign > 0))
      run.error = "the far queue got " + std::to_string(far.doubled) + " doubles and " +
                  std::to_string(far.foreign) + " unknown messages";
    run.samples_ns.assign(
        far.latency_ns.begin() + static_cast<std::ptrdiff_t>(scale.latency_warmup),
        far.latency_ns.end());
  }
  if (bridge != nullptr) corq_bridge_stop(bridge, stop_timeout_ms);
  if (sub != nullptr) {
    // Drained: every message the server sent has been through the callback before `wire` goes.
    if (natsSubscription_Drain(sub) == NATS_OK)
      natsSubscription_WaitForDrainCompletion(sub, js_wait_ms);
    natsSubscription_Destroy(sub);
  }
  natsConnection_Destroy(nc);
  {
    std::lock_guard lock(wire.mutex);
    for (std::uint64_t k = scale.latency_warmup; k < total; ++k)
      if (wire.seen_ns[k] >= 0) run.wire_ns.push_back(wire.seen_ns[k]);
  }
  env.delete_consumer(stream, durable);
  return run;
}

enum class Path { js_publish, js_async_one, js_async_one_asap, bridge_e2e, bridge_e2e_memory };

void measure(benchmark::State &state, Path path, const BridgeScale &scale, int round) {
  BenchEnv &env = BenchEnv::get();
  std::string error;
  const std::string stream = env.round_stream(round, &error);
  if (error.empty()) error = env.purge(stream);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int node = env.node_of(round);
  const bool e2e = path == Path::bridge_e2e || path == Path::bridge_e2e_memory;
  const bool async_one = path == Path::js_async_one || path == Path::js_async_one_asap;
  LatencyRun run = e2e         ? bridge_e2e(stream, node, scale, round, path == Path::bridge_e2e)
                   : async_one ? js_async_one(stream, node, scale, path == Path::js_async_one_asap)
                               : js_publish_sync(stream, node, scale);
  const std::uint64_t total = scale.latency_warmup + scale.latency_samples;
  if (run.error.empty()) {
    const std::int64_t held = env.message_count(stream, &run.error);
    if (held >= 0 && static_cast<std::uint64_t>(held) != total)
      run.error = "the stream holds " + std::to_string(held) + " messages, expected " +
                  std::to_string(total);
  }
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  state.SetIterationTime(run.seconds);
  set_latency_counters(state, "", latency_of(run.samples_ns));
  state.counters["samples"] = static_cast<double>(run.samples_ns.size());
  state.counters["msgs_per_s"] = static_cast<double>(total) / run.seconds;
  state.counters["cpu_us_per_msg"] = run.cpu.process_seconds() / static_cast<double>(total) * 1e6;
  state.counters["machine_busy_pct"] = run.cpu.machine_busy() * 100;
  state.counters["round"] = round;
  state.counters["node"] = node;
  state.counters["leader_local"] = env.leader_is_node(stream, node);
  if (e2e) {
    set_latency_counters(state, "wire_", latency_of(run.wire_ns));
    state.counters["wire_samples"] = static_cast<double>(run.wire_ns.size());
    state.counters["rate_per_s"] = scale.e2e_rate_per_s;
    state.counters["late_publishes"] = static_cast<double>(run.late);
  }
}

void register_path(const char *name, Path path, const BridgeScale &scale, int round) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) measure(state, path, scale, round);
  };
  configure_bridge_run(benchmark::RegisterBenchmark(name, body));
}

}  // namespace

void register_latency_round(const BridgeScale &scale, int round) {
  struct Entry {
    const char *name;
    Path path;
  };
  std::vector<Entry> entries{{"latency/js_publish", Path::js_publish},
                             {"latency/js_async_one", Path::js_async_one},
                             {"latency/js_async_one_asap", Path::js_async_one_asap},
                             {"latency/bridge_e2e", Path::bridge_e2e},
                             {"latency/bridge_e2e_memory", Path::bridge_e2e_memory}};
  if (round % 2 == 1) std::reverse(entries.begin(), entries.end());
  for (const Entry &e : entries) register_path(e.name, e.path, scale, round);
}

}  // namespace corq::bench::bridge
