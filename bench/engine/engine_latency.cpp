// bench/engine/engine_latency.cpp — publish -> deliver latency under a steady, moderate load.
//
//   latency/corq         open-loop publisher (CPU 0): corq_producer_send of one message at fixed
//                        intervals; consumer (CPU 1): corq_consume(c, &d, 1, 10 ms) — the blocking
//                        call, so an idle consumer sleeps as a real one would — and corq_ack each
//   latency/moodycamel   the same publisher with enqueue(token, ·); the consumer polls try_dequeue
//                        with the ring harness's Backoff (spin, then yield: it never sleeps)
//   latency/ring         the baseline of issue #15's latency target: a bare ring ping-pong. The
//                        pinger (CPU 0) pushes one item into a corq SpscRing, the echo thread
//                        (CPU 1) pops it and pushes it back through a second SpscRing; both wait
//                        with the same Backoff. One sample per round trip (TSC, as the rings
//                        suite's ping_pong); the one-way latency is half the round trip, and its
//                        p50/p99/p99.9 (half the round trip's) are what corq's are divided by.
//
// One round runs latency/corq, latency/moodycamel and latency/ring one after the other, so the
// ring baseline is measured in the same minutes as the runs it is compared with (the report pairs
// them by round).
//
// The rate is `latency_rate_fraction` (10%) of the best median single-message rate that the
// single/corq_* runs of this same process measured (if they did not run — a filter — one 1a run is
// made first to find it). The publisher is open-loop: message i is due at start + i × period
// whatever happened before, and its 8-byte payload is that *intended* send time (steady_clock ns).
// The consumer records deliver time − intended time, so a publisher that fell behind (the engine
// stalled it) shows up as latency instead of silently slowing the schedule down (coordinated
// omission). The first `latency_warmup_messages` are sent but not recorded. The report gives
// p50/p99/p99.9/max in µs per repetition; the table takes the median over repetitions.
#include "engine_harness.hpp"
#include "rings/ring_peers.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::engine {
namespace {

/// The publisher's schedule: message i is due at start_ns + i × period_ns.
struct Schedule {
  std::int64_t start_ns;
  double period_ns;
  std::int64_t due_ns(std::uint64_t i) const noexcept {
    return start_ns + static_cast<std::int64_t>(std::llround(static_cast<double>(i) * period_ns));
  }
};

/// The publisher starts this long after the gate opens, so both threads are past the gate.
constexpr std::int64_t schedule_lead_ns = 1'000'000;

/// What one repetition measured.
struct LatencyRun {
  std::string error;
  // deliver − intended send time, one per recorded message
  std::vector<std::uint64_t> samples_ns{};
  std::uint64_t late_sends = 0;  // sent more than one period after they were due
  double seconds = 0;
  std::uint64_t preemptions = 0;  // of both threads, during the run
  bool pinned = false;
};

/// Spins until message i is due and returns how late the publisher is (ns, >= 0).
std::int64_t wait_until_due(const Schedule &schedule, std::uint64_t i) noexcept {
  const std::int64_t due = schedule.due_ns(i);
  std::int64_t now = steady_now_ns();
  while (now < due) {
    cpu_relax();
    now = steady_now_ns();
  }
  return now - due;
}

/// Runs the paced publisher (CPU 0) and the recording consumer (CPU 1). `send(intended_ns)`
/// returns an error text (empty: sent); `receive(intended_ns&)` returns an error text and sets
/// `got` when a message came.
template <class Send, class Receive>
LatencyRun run_paced(std::uint64_t total, std::uint64_t warmup, double period_ns, Send &&send,
                     Receive &&receive) {
  LatencyRun run;
  run.samples_ns.resize(total - warmup);
  StartGate gate(2);
  FinishLine finish;
  std::string publisher_error, consumer_error;
  bool pinned_publisher = false, pinned_consumer = false;
  std::uint64_t publisher_preemptions = 0, consumer_preemptions = 0;
  std::thread publisher([&] {
    pinned_publisher = pin_current_thread(0);
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    const Schedule schedule{steady_now_ns() + schedule_lead_ns, period_ns};
    for (std::uint64_t i = 0; i < total && publisher_error.empty(); ++i) {
      if (wait_until_due(schedule, i) > static_cast<std::int64_t>(period_ns)) ++run.late_sends;
      publisher_error = send(schedule.due_ns(i));
    }
    publisher_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  std::thread consumer([&] {
    pinned_consumer = pin_current_thread(1);
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    for (std::uint64_t i = 0; i < total && consumer_error.empty();) {
      std::int64_t intended_ns = 0;
      bool got = false;
      consumer_error = receive(intended_ns, got);
      if (!got) continue;
      const std::int64_t latency_ns = std::max<std::int64_t>(steady_now_ns() - intended_ns, 0);
      if (i >= warmup) run.samples_ns[i - warmup] = static_cast<std::uint64_t>(latency_ns);
      ++i;
    }
    finish.record();
    consumer_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  const auto start = gate.open();
  publisher.join();
  consumer.join();
  run.seconds = finish.seconds_since(start);
  run.error = !publisher_error.empty() ? publisher_error : consumer_error;
  run.pinned = pinned_publisher && pinned_consumer;
  run.preemptions = publisher_preemptions + consumer_preemptions;
  return run;
}

LatencyRun run_corq(std::uint64_t total, std::uint64_t warmup, double period_ns,
                    std::uint64_t queue_warmup_messages) {
  std::optional<BenchEngine> engine;
  try {
    engine.emplace();
    engine->warm_up(queue_warmup_messages);
  } catch (const std::exception &e) {
    return LatencyRun{.error = e.what()};
  }
  corq_producer *producer = nullptr;
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_producer_open(engine->get(), queue_name, &producer); rc != CORQ_OK) {
    return LatencyRun{.error = corq_failure("corq_producer_open", rc)};
  }
  if (const int rc = corq_consumer_open(engine->get(), queue_name, prefetch, &consumer);
      rc != CORQ_OK) {
    corq_producer_close(producer);
    return LatencyRun{.error = corq_failure("corq_consumer_open", rc)};
  }
  unsigned idle = 0;
  LatencyRun run = run_paced(
      total, warmup, period_ns,
      [&](std::int64_t intended_ns) -> std::string {
        const corq_message m{&intended_ns, sizeof(intended_ns), nullptr, 0, nullptr};
        int rc = corq_producer_send(producer, &m, 1, nullptr, nullptr);
        for (unsigned retries = 0; rc == CORQ_EFULL && retries < full_retries_max; ++retries) {
          rc = corq_producer_send(producer, &m, 1, nullptr, nullptr);
        }
        return rc == CORQ_OK ? std::string() : corq_failure("corq_producer_send", rc);
      },
      [&](std::int64_t &intended_ns, bool &got) -> std::string {
        corq_delivery d;
        const int n = corq_consume(consumer, &d, 1, consume_timeout_ms);
        if (n < 0) return corq_failure("corq_consume", n);
        if (n == 0) return ++idle == idle_timeouts_max ? "consumer: no message for 10 s" : "";
        idle = 0;
        if (d.len != sizeof(intended_ns)) return "consumer: a delivery has the wrong length";
        std::memcpy(&intended_ns, d.data, sizeof(intended_ns));
        got = true;
        const int rc = corq_ack(consumer, d.tag);
        return rc == CORQ_OK ? std::string() : corq_failure("corq_ack", rc);
      });
  corq_consumer_close(consumer);
  corq_producer_close(producer);
  return run;
}

LatencyRun run_moodycamel(std::uint64_t total, std::uint64_t warmup, double period_ns) {
  Moodycamel peer(ring_capacity);
  auto producer = peer.producer();
  auto consumer = peer.consumer();
  Backoff backoff;  // the consumer's
  return run_paced(
      total, warmup, period_ns,
      [&](std::int64_t intended_ns) -> std::string {
        return producer.try_push(static_cast<Item>(intended_ns)) ? ""
                                                                 : "moodycamel: enqueue failed";
      },
      [&](std::int64_t &intended_ns, bool &got) -> std::string {
        Item value = 0;
        if (!consumer.try_pop(value)) {
          backoff.wait();
          return "";
        }
        backoff.reset();
        intended_ns = static_cast<std::int64_t>(value);
        got = true;
        return "";
      });
}

/// What one ping-pong repetition measured: the round trips in ticks (ticks_now), sorted.
struct PingPongRun {
  std::string error;
  std::vector<std::uint64_t> round_trip_ticks{};
  double seconds = 0;
  double core_rtt_ns = 0;
  std::uint64_t preemptions = 0;  // of both threads, during the run
  bool pinned = false;
};

/// The bare-ring baseline: `warmup` unrecorded round trips, then `round_trips` recorded ones, one
/// item bounced through two corq SpscRings between CPU 0 (pinger) and CPU 1 (echo).
PingPongRun run_ring_ping_pong(std::uint64_t round_trips, std::uint64_t warmup) {
  constexpr Item stop_value = ~Item{0};
  PingPongRun run;
  run.round_trip_ticks.resize(round_trips);
  run.core_rtt_ns = probe_core_to_core_rtt_ns();  // conditions of this repetition
  CorqSpsc to_echo(ring_capacity), to_pinger(ring_capacity);
  StartGate gate(2);
  FinishLine finish;
  bool pinned_pinger = false, pinned_echo = false, echoes_match = true;
  std::uint64_t pinger_preemptions = 0, echo_preemptions = 0;
  std::thread pinger([&] {
    pinned_pinger = pin_current_thread(0);
    auto out = to_echo.producer();
    auto in = to_pinger.consumer();
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    for (std::uint64_t i = 0; i < warmup + round_trips; ++i) {
      const std::uint64_t start = ticks_now();
      Backoff push_backoff;
      while (!out.try_push(i)) push_backoff.wait();
      Backoff pop_backoff;
      Item echoed = 0;
      while (!in.try_pop(echoed)) pop_backoff.wait();
      const std::uint64_t end = ticks_now();
      echoes_match &= echoed == i;
      if (i >= warmup) run.round_trip_ticks[i - warmup] = end - start;
    }
    finish.record();
    Backoff backoff;
    while (!out.try_push(stop_value)) backoff.wait();
    pinger_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  std::thread echoer([&] {
    pinned_echo = pin_current_thread(1);
    auto in = to_echo.consumer();
    auto out = to_pinger.producer();
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    for (;;) {
      Backoff pop_backoff;
      Item value = 0;
      while (!in.try_pop(value)) pop_backoff.wait();
      if (value == stop_value) break;
      Backoff push_backoff;
      while (!out.try_push(value)) push_backoff.wait();
    }
    echo_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  const auto start = gate.open();
  pinger.join();
  echoer.join();
  run.seconds = finish.seconds_since(start);
  if (!echoes_match) run.error = "ring ping-pong: an echo came back with the wrong value";
  run.pinned = pinned_pinger && pinned_echo;
  run.preemptions = pinger_preemptions + echo_preemptions;
  return run;
}

/// The ping-pong's counters. p50_us / p99_us / p999_us are the ONE-WAY latency (half the round
/// trip's percentile), the numbers the report divides corq's by; rtt_*_ns the round trip itself.
void report_ping_pong(benchmark::State &state, PingPongRun &run) {
  state.SetIterationTime(run.seconds);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  std::sort(run.round_trip_ticks.begin(), run.round_trip_ticks.end());
  const double to_ns = ns_per_tick();
  const auto rtt_ns = [&](double quantile) {
    return to_ns * quantile_of_sorted(run.round_trip_ticks, quantile);
  };
  state.counters["p50_us"] = rtt_ns(0.50) / 2 / 1e3;
  state.counters["p99_us"] = rtt_ns(0.99) / 2 / 1e3;
  state.counters["p999_us"] = rtt_ns(0.999) / 2 / 1e3;
  state.counters["max_us"] = to_ns * static_cast<double>(run.round_trip_ticks.back()) / 2 / 1e3;
  state.counters["rtt_p50_ns"] = rtt_ns(0.50);
  state.counters["rtt_p99_ns"] = rtt_ns(0.99);
  state.counters["rtt_p999_ns"] = rtt_ns(0.999);
  state.counters["core_rtt_ns"] = run.core_rtt_ns;
  state.counters["preemptions"] = static_cast<double>(run.preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

/// The publish rate of this run: a fraction of the best median single-message rate measured before
/// the first latency repetition, fixed from then on (every repetition and both peers use it).
double latency_rate(const EngineScale &scale) {
  static const double rate = [&] {
    double best = single_rate_board().best_median();
    if (best <= 0) best = measure_single_send_rate(scale.single_messages, scale.warmup_messages);
    return best * scale.latency_rate_fraction;
  }();
  return rate;
}

void report(benchmark::State &state, LatencyRun &run, double rate) {
  state.SetIterationTime(run.seconds);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  std::sort(run.samples_ns.begin(), run.samples_ns.end());
  const auto us = [&](double quantile) {
    return quantile_of_sorted(run.samples_ns, quantile) / 1e3;
  };
  state.counters["p50_us"] = us(0.50);
  state.counters["p99_us"] = us(0.99);
  state.counters["p999_us"] = us(0.999);
  state.counters["max_us"] = static_cast<double>(run.samples_ns.back()) / 1e3;
  state.counters["rate_msgs_per_s"] = rate;
  state.counters["late_send_fraction"] =
      static_cast<double>(run.late_sends) / static_cast<double>(run.samples_ns.size());
  state.counters["preemptions"] = static_cast<double>(run.preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

/// One benchmark of one round: `peer_run(period_ns)` at the suite's rate.
template <class PeerRun>
void register_peer(const char *name, const EngineScale &scale, PeerRun peer_run) {
  const auto body = [=](benchmark::State &state) {
    const double rate = latency_rate(scale);
    for (auto _ : state) {
      if (rate <= 0) {
        state.SkipWithError("no single-message rate to derive the latency rate from");
        continue;
      }
      LatencyRun run = peer_run(1e9 / rate);
      report(state, run, rate);
    }
  };
  configure_engine_run(benchmark::RegisterBenchmark(name, body), 1);
}

}  // namespace

void register_engine_latency_round(const EngineScale &scale) {
  const std::uint64_t total = scale.latency_messages + scale.latency_warmup_messages;
  const std::uint64_t warmup = scale.latency_warmup_messages;
  const std::uint64_t queue_warmup = scale.warmup_messages;
  register_peer("latency/corq", scale,
                [=](double period_ns) { return run_corq(total, warmup, period_ns, queue_warmup); });
  register_peer("latency/moodycamel", scale,
                [=](double period_ns) { return run_moodycamel(total, warmup, period_ns); });
  const std::uint64_t round_trips = scale.ping_pong_round_trips;
  const std::uint64_t ping_pong_warmup = scale.ping_pong_warmup_round_trips;
  const auto ring_body = [=](benchmark::State &state) {
    for (auto _ : state) {
      PingPongRun run = run_ring_ping_pong(round_trips, ping_pong_warmup);
      report_ping_pong(state, run);
    }
  };
  configure_engine_run(benchmark::RegisterBenchmark("latency/ring", ring_body), 1);
}

}  // namespace corq::bench::engine
