// bench/routing/routing_throughput.cpp — one publishing thread routing 64-byte messages into
// transient queues: routed publishes per second and the per-publish latency, next to the baselines
// of the targets in the same rounds.
//
// Scenarios (benchmark names `<scenario>/<mode>`; one queue reached per publish unless said):
//   plain       corq_publish(engine, "plain", &m): no exchange (the routed-cost baseline)
//   direct      a direct exchange with one binding: corq_exchange_publish(.., "orders", ..) (the
//               fanout target's baseline)
//   topic10     a topic exchange with the ten hot patterns of TopicSet
//   topic10000  the same ten plus 9,990 filler patterns that match no published key
//   topic10-fresh, topic10000-fresh  the same two exchanges, every publish with a key the
//               publishing thread's route cache does not hold (TopicSet::fresh_keys): the topic
//               walk itself
//   fanout4     a fanout exchange bound to 4 queues: every publish reaches all four
// and each in two modes: `drained` (below) and `alone` — the publisher by itself, no consumer;
// every 65,536 publishes the clock stops and the queues are purged on the publishing thread, so
// they stay small and the freed memory is reused. Drained includes what a live consumer on the
// other core costs the publisher (shared cache lines); alone is the publish path by itself.
// The topic runs publish the TopicSet keys in turn; every publish must report `routed` equal to
// the scenario's queue count (1, or 4 for fanout) or the run fails, and the consumer checks that
// each message (its sequence number in the first 8 bytes) arrived in the queue its key routes to.
//
// Each repetition opens a fresh in-memory engine, declares the queues (default options:
// transient, max_length 1M), the exchange and its bindings. Drained: it opens one consumer per
// queue, then starts the pinned publisher (CPU 0) and consumer (CPU 1) behind a StartGate. The
// publisher first sends `warmup_publishes` (the queues' ring pages get committed, the allocator
// warm), then the measured `publishes`; the time is the publisher's, from its first measured
// publish to the return of its last. The consumer polls every queue with corq_consume(.., 64, 0)
// and one corq_ack_upto per batch — far faster than the publisher (the engine suite's batch-64
// path), so it never becomes the bottleneck, and polling means the publisher never has a waiter to
// wake: what is timed is the publish (routing, admission, enqueue). Each run reports how long the
// consumer needed after the last publish (`drain_lag_ms`: small when it kept up) and how often it
// found every queue empty. Every `latency_sample_every`-th publish is timed alone with the TSC.
// Besides the wall time the publisher reads its own thread CPU time over the same span: on this
// shared 2-core machine other processes take the core for milliseconds at a time, which the wall
// clock counts and the CPU time does not (each run reports its involuntary context switches,
// `preemptions`).
#include "routing_harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::routing {
namespace {

enum class Kind { plain, direct, topic_few, topic_many, topic_few_fresh, topic_fresh, fanout };
/// drained: a consumer thread on the other core empties the queues as they fill; alone: the
/// publisher alone, the queues purged between chunks of `alone_chunk` publishes (untimed).
enum class Mode { drained, alone };
inline constexpr std::uint64_t alone_chunk = 65'536;

/// What the two threads of one repetition report.
struct RunOutcome {
  double seconds = 0;                // publisher: first to last measured publish (wall clock)
  double cpu_seconds = 0;            // the same span in the publisher thread's CPU time
  std::string error{};               // empty: every message routed and arrived where it should
  std::vector<std::uint64_t> ticks;  // sampled per-publish times, TSC ticks
  std::uint64_t routed_per_publish = 0;
  std::uint64_t empty_polls = 0;  // consumer rounds that found every queue empty
  double drain_lag_s = 0;         // consumer's last delivery after the publisher's last publish
  std::uint64_t publisher_preemptions = 0, consumer_preemptions = 0;
  std::size_t bindings = 0;
  bool pinned = false;
};

/// The engine, queues and exchange of one repetition, and how to publish into it.
struct Setup {
  corq_engine *engine = nullptr;
  std::vector<std::string> queues;  // drained by the consumer, index = queue id
  std::string exchange;             // "" for plain corq_publish
  std::vector<std::string> keys;    // routing keys, published in turn
  std::vector<int> key_queue;       // queue each key reaches; -1: every queue (fanout)
  std::uint32_t routed = 1;         // queues per publish
  std::size_t bindings = 0;

  Setup() = default;
  Setup(const Setup &) = delete;
  Setup &operator=(const Setup &) = delete;
  ~Setup() {
    if (engine != nullptr) corq_close(engine);
  }
};

std::string declare_queue(corq_engine *engine, const std::string &name) {
  const int rc = corq_queue_declare(engine, name.c_str(), nullptr);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_queue_declare", rc);
}

std::string bind(corq_engine *engine, const std::string &exchange, const std::string &queue,
                 const std::string &key) {
  const int rc = corq_bind(engine, exchange.c_str(), queue.c_str(), key.c_str(), nullptr, 0);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_bind", rc);
}

/// The TopicSet of that many bindings, built once (benchmarks run on the main thread only).
const TopicSet &topic_set(std::size_t bindings) {
  static std::map<std::size_t, TopicSet> sets;
  auto it = sets.find(bindings);
  if (it == sets.end()) it = sets.emplace(bindings, make_topic_set(bindings)).first;
  return it->second;
}

/// Fills `setup` for `kind`; returns an error text (empty if fine).
std::string prepare(Kind kind, const RoutingScale &scale, Setup &setup) {
  if (const int rc = corq_open(nullptr, nullptr, &setup.engine); rc != CORQ_OK) {
    setup.engine = nullptr;
    return corq_failure("corq_open", rc);
  }
  corq_engine *engine = setup.engine;
  std::string error;
  switch (kind) {
    case Kind::plain:
      setup.queues = {"plain"};
      setup.keys = {""};
      setup.key_queue = {0};
      return declare_queue(engine, "plain");
    case Kind::direct:
      setup.queues = {"direct-q"};
      setup.exchange = "bench.direct";
      setup.keys = {"orders"};
      setup.key_queue = {0};
      setup.bindings = 1;
      if (!(error = declare_queue(engine, "direct-q")).empty()) return error;
      if (const int rc = corq_exchange_declare(engine, "bench.direct", "direct", nullptr);
          rc != CORQ_OK)
        return corq_failure("corq_exchange_declare", rc);
      return bind(engine, "bench.direct", "direct-q", "orders");
    case Kind::fanout:
      setup.exchange = "bench.fanout";
      setup.keys = {"orders"};
      setup.key_queue = {-1};
      setup.routed = 4;
      setup.bindings = 4;
      if (const int rc = corq_exchange_declare(engine, "bench.fanout", "fanout", nullptr);
          rc != CORQ_OK)
        return corq_failure("corq_exchange_declare", rc);
      for (int i = 0; i < 4; ++i) {
        setup.queues.push_back("fanout-" + std::to_string(i));
        if (!(error = declare_queue(engine, setup.queues.back())).empty()) return error;
        if (!(error = bind(engine, "bench.fanout", setup.queues.back(), "")).empty()) return error;
      }
      return {};
    case Kind::topic_few:
    case Kind::topic_many:
    case Kind::topic_few_fresh:
    case Kind::topic_fresh: break;
  }
  const TopicSet &set =
      topic_set(kind == Kind::topic_few || kind == Kind::topic_few_fresh ? scale.few_bindings
                                                                         : scale.many_bindings);
  setup.exchange = "bench.topic";
  if (const int rc = corq_exchange_declare(engine, "bench.topic", "topic", nullptr); rc != CORQ_OK)
    return corq_failure("corq_exchange_declare", rc);
  for (std::size_t i = 0; i < set.hot_queues; ++i) {
    setup.queues.push_back("topic-" + std::to_string(i));
    if (!(error = declare_queue(engine, setup.queues.back())).empty()) return error;
  }
  for (std::size_t i = 0; i < set.hot.size(); ++i) {
    if (!(error = bind(engine, "bench.topic", setup.queues[set.hot_queue[i]], set.hot[i])).empty())
      return error;
  }
  if (!set.filler.empty()) {
    std::vector<std::string> filler_queues;
    for (std::size_t i = 0; i < set.filler_queues; ++i) {
      filler_queues.push_back("topic-filler-" + std::to_string(i));
      if (!(error = declare_queue(engine, filler_queues.back())).empty()) return error;
    }
    for (std::size_t i = 0; i < set.filler.size(); ++i) {
      if (!(error =
                bind(engine, "bench.topic", filler_queues[i % filler_queues.size()], set.filler[i]))
               .empty())
        return error;
    }
  }
  setup.bindings = set.hot.size() + set.filler.size();
  setup.keys =
      kind == Kind::topic_fresh || kind == Kind::topic_few_fresh ? set.fresh_keys : set.keys;
  for (const std::string &key : setup.keys) {
    for (std::size_t i = 0; i < set.hot.size(); ++i)
      if (topic_matches(set.hot[i], key))
        setup.key_queue.push_back(static_cast<int>(set.hot_queue[i]));
  }
  corq_exchange_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_exchange_stats_get(engine, "bench.topic", &stats); rc != CORQ_OK)
    return corq_failure("corq_exchange_stats_get", rc);
  if (stats.bindings != setup.bindings)
    return "topic exchange has " + std::to_string(stats.bindings) + " bindings, expected " +
           std::to_string(setup.bindings);
  return {};
}

/// Publishes warm-up + measured messages; the first 8 payload bytes carry the sequence number.
/// Alone (no consumer): every `alone_chunk` publishes the clock stops, the queues are purged (on
/// this thread, untimed) and the clock starts again, so the queues stay small and the allocator
/// hands the freed memory back to the next chunk, as in a drained steady state.
std::string publish_all(const Setup &setup, const RoutingScale &scale, bool alone,
                        RunOutcome &run) {
  unsigned char payload[payload_bytes];
  std::memset(payload, 0xab, sizeof(payload));
  const corq_message message{payload, sizeof(payload), nullptr, 0, nullptr};
  const std::uint64_t total = scale.warmup_publishes + scale.publishes;
  const std::size_t key_count = setup.keys.size();
  std::vector<const char *> keys;
  for (const std::string &key : setup.keys) keys.push_back(key.c_str());
  const char *exchange = setup.exchange.c_str();
  const bool plain = setup.exchange.empty();
  const char *plain_queue = setup.queues[0].c_str();
  run.ticks.clear();
  run.ticks.reserve(scale.publishes / latency_sample_every + 1);
  using Clock = std::chrono::steady_clock;
  Clock::time_point start{};
  Clock::duration measured{};
  double cpu_start = 0;
  std::size_t key = 0;
  for (std::uint64_t seq = 0; seq < total; ++seq) {
    if (alone && seq % alone_chunk == 0 && seq != 0) {
      const bool measuring = seq > scale.warmup_publishes;
      if (measuring) {
        measured += Clock::now() - start;
        run.cpu_seconds += thread_cpu_seconds() - cpu_start;
      }
      for (const std::string &queue : setup.queues) {
        if (const int rc = corq_queue_purge(setup.engine, queue.c_str(), nullptr); rc != CORQ_OK)
          return corq_failure("corq_queue_purge", rc);
      }
      if (measuring) {
        cpu_start = thread_cpu_seconds();
        start = Clock::now();
      }
    }
    if (seq == scale.warmup_publishes) {
      cpu_start = thread_cpu_seconds();
      start = Clock::now();
    }
    std::memcpy(payload, &seq, sizeof(seq));
    const bool sampled = seq >= scale.warmup_publishes && seq % latency_sample_every == 0;
    const std::uint64_t before = sampled ? ticks_now() : 0;
    std::uint32_t routed = 1;
    const int rc = plain ? corq_publish(setup.engine, plain_queue, &message, nullptr, nullptr)
                         : corq_exchange_publish(setup.engine, exchange, keys[key], &message,
                                                 nullptr, nullptr, &routed);
    if (sampled) run.ticks.push_back(ticks_now() - before);
    if (rc != CORQ_OK) return corq_failure(plain ? "corq_publish" : "corq_exchange_publish", rc);
    if (routed != setup.routed)
      return "key '" + setup.keys[key] + "' routed to " + std::to_string(routed) +
             " queues, expected " + std::to_string(setup.routed);
    if (++key == key_count) key = 0;
  }
  measured += Clock::now() - start;
  run.cpu_seconds += thread_cpu_seconds() - cpu_start;
  run.seconds = std::chrono::duration<double>(measured).count();
  if (alone) {  // what the last chunk left must be exactly its copies
    std::uint64_t ready = 0;
    for (const std::string &queue : setup.queues) {
      corq_queue_stats stats{};
      stats.struct_size = sizeof(stats);
      if (const int rc = corq_queue_stats_get(setup.engine, queue.c_str(), &stats); rc != CORQ_OK)
        return corq_failure("corq_queue_stats_get", rc);
      ready += stats.ready;
    }
    const std::uint64_t left = (total - 1) % alone_chunk + 1;
    if (ready != left * setup.routed)
      return "queues hold " + std::to_string(ready) + " messages after the last chunk, expected " +
             std::to_string(left * setup.routed);
  }
  return {};
}

/// Drains every queue until it has seen each publish's copies, checking where each arrived.
/// Gives up when `abandoned` is set (the publisher failed).
std::string drain_all(const Setup &setup, const std::vector<corq_consumer *> &consumers,
                      std::uint64_t publishes, const std::atomic<bool> &abandoned,
                      std::uint64_t &empty_polls) {
  const std::uint64_t expected = publishes * setup.routed;
  const std::size_t key_count = setup.keys.size();
  corq_delivery deliveries[consume_batch];
  Backoff backoff;
  auto idle_since = std::chrono::steady_clock::now();
  for (std::uint64_t got = 0; got < expected;) {
    bool any = false;
    for (std::size_t q = 0; q < consumers.size(); ++q) {
      const int n = corq_consume(consumers[q], deliveries, consume_batch, 0);
      if (n < 0) return corq_failure("corq_consume", n);
      if (n == 0) continue;
      any = true;
      for (int i = 0; i < n; ++i) {
        if (deliveries[i].len != payload_bytes) return "consumer: a delivery has the wrong length";
        std::uint64_t seq = 0;
        std::memcpy(&seq, deliveries[i].data, sizeof(seq));
        const int want = setup.key_queue[seq % key_count];
        if (seq >= publishes || (want >= 0 && static_cast<std::size_t>(want) != q))
          return "consumer: message " + std::to_string(seq) + " arrived in the wrong queue";
      }
      if (const int rc = corq_ack_upto(consumers[q], deliveries[n - 1].tag); rc != CORQ_OK)
        return corq_failure("corq_ack_upto", rc);
      got += static_cast<std::uint64_t>(n);
    }
    if (any) {
      backoff.reset();
      idle_since = std::chrono::steady_clock::now();
      continue;
    }
    ++empty_polls;
    if (abandoned.load(std::memory_order_relaxed)) return "consumer: the publisher failed";
    backoff.wait();
    if ((empty_polls & 1023) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count() >
            drain_idle_limit_s)
      return "consumer: no message for 10 s";
  }
  return {};
}

RunOutcome run_once(Kind kind, Mode mode, const RoutingScale &scale) {
  RunOutcome run;
  Setup setup;
  if (std::string error = prepare(kind, scale, setup); !error.empty()) {
    run.error = error;
    return run;
  }
  run.routed_per_publish = setup.routed;
  run.bindings = setup.bindings;
  if (mode == Mode::alone) {
    bool pinned = false;
    std::thread publisher([&] {
      pinned = pin_current_thread(0);
      const std::uint64_t before = preemptions_of_this_thread();
      run.error = publish_all(setup, scale, true, run);
      run.publisher_preemptions = preemptions_of_this_thread() - before;
    });
    publisher.join();
    run.pinned = pinned;
    return run;
  }
  std::vector<corq_consumer *> consumers;
  for (const std::string &queue : setup.queues) {
    corq_consumer *consumer = nullptr;
    if (const int rc = corq_consumer_open(setup.engine, queue.c_str(), prefetch, &consumer);
        rc != CORQ_OK) {
      run.error = corq_failure("corq_consumer_open", rc);
      break;
    }
    consumers.push_back(consumer);
  }
  if (run.error.empty()) {
    StartGate gate(2);
    std::string publisher_error, consumer_error;  // each written by its thread, read after join
    bool pinned_publisher = false, pinned_consumer = false;
    std::chrono::steady_clock::time_point published_at{}, drained_at{};
    const std::uint64_t total = scale.warmup_publishes + scale.publishes;
    std::atomic<bool> abandoned{false};
    std::thread publisher([&] {
      pinned_publisher = pin_current_thread(0);
      gate.arrive_and_wait();
      const std::uint64_t before = preemptions_of_this_thread();
      publisher_error = publish_all(setup, scale, false, run);
      if (!publisher_error.empty()) abandoned.store(true, std::memory_order_relaxed);
      published_at = std::chrono::steady_clock::now();
      run.publisher_preemptions = preemptions_of_this_thread() - before;
    });
    std::thread consumer([&] {
      pinned_consumer = pin_current_thread(1);
      gate.arrive_and_wait();
      const std::uint64_t before = preemptions_of_this_thread();
      consumer_error = drain_all(setup, consumers, total, abandoned, run.empty_polls);
      drained_at = std::chrono::steady_clock::now();
      run.consumer_preemptions = preemptions_of_this_thread() - before;
    });
    (void)gate.open();
    publisher.join();
    consumer.join();
    run.error = !publisher_error.empty() ? publisher_error : consumer_error;
    // The consumer may take the last copy a moment before the publisher reads the clock: 0 then.
    run.drain_lag_s =
        std::max(0.0, std::chrono::duration<double>(drained_at - published_at).count());
    run.pinned = pinned_publisher && pinned_consumer;
  }
  for (corq_consumer *c : consumers) corq_consumer_close(c);
  return run;
}

void report(benchmark::State &state, RunOutcome &run, const RoutingScale &scale, Mode mode) {
  state.SetIterationTime(run.seconds > 0 ? run.seconds : 1e-9);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const double n = static_cast<double>(scale.publishes);
  const LatencyNs latency = latency_of_ticks(run.ticks);
  state.counters["publishes_per_s"] = n / run.seconds;
  state.counters["ns_per_publish"] = run.seconds * 1e9 / n;
  state.counters["publishes_per_cpu_s"] = n / run.cpu_seconds;
  state.counters["cpu_ns_per_publish"] = run.cpu_seconds * 1e9 / n;
  state.counters["copies_per_s"] = n * static_cast<double>(run.routed_per_publish) / run.seconds;
  state.counters["routed_per_publish"] = static_cast<double>(run.routed_per_publish);
  state.counters["bindings"] = static_cast<double>(run.bindings);
  state.counters["p50_ns"] = latency.p50;
  state.counters["p99_ns"] = latency.p99;
  state.counters["p999_ns"] = latency.p999;
  if (mode == Mode::drained) {
    state.counters["drain_lag_ms"] = run.drain_lag_s * 1e3;
    state.counters["empty_polls_per_publish"] = static_cast<double>(run.empty_polls) / n;
  }
  state.counters["preemptions"] =
      static_cast<double>(run.publisher_preemptions + run.consumer_preemptions);
  state.counters["publisher_preemptions"] = static_cast<double>(run.publisher_preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

void register_scenario(const char *name, Kind kind, Mode mode, const RoutingScale &scale) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      RunOutcome run = run_once(kind, mode, scale);
      report(state, run, scale, mode);
    }
  };
  benchmark::RegisterBenchmark(name, body)
      ->Iterations(1)
      ->Repetitions(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

void register_routing_throughput_round(const RoutingScale &scale) {
  register_scenario("plain/drained", Kind::plain, Mode::drained, scale);
  register_scenario("direct/drained", Kind::direct, Mode::drained, scale);
  register_scenario("topic10/drained", Kind::topic_few, Mode::drained, scale);
  register_scenario("topic10000/drained", Kind::topic_many, Mode::drained, scale);
  register_scenario("topic10-fresh/drained", Kind::topic_few_fresh, Mode::drained, scale);
  register_scenario("topic10000-fresh/drained", Kind::topic_fresh, Mode::drained, scale);
  register_scenario("fanout4/drained", Kind::fanout, Mode::drained, scale);
  register_scenario("plain/alone", Kind::plain, Mode::alone, scale);
  register_scenario("direct/alone", Kind::direct, Mode::alone, scale);
  register_scenario("topic10/alone", Kind::topic_few, Mode::alone, scale);
  register_scenario("topic10000/alone", Kind::topic_many, Mode::alone, scale);
  register_scenario("topic10-fresh/alone", Kind::topic_few_fresh, Mode::alone, scale);
  register_scenario("topic10000-fresh/alone", Kind::topic_fresh, Mode::alone, scale);
  register_scenario("fanout4/alone", Kind::fanout, Mode::alone, scale);
}

}  // namespace corq::bench::routing
