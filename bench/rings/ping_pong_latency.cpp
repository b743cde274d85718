// bench/rings/ping_pong_latency.cpp — round-trip latency between two cores through two queues.
//
// The pinger (CPU 0) stamps the time, pushes a value into queue A and waits until the echo thread
// (CPU 1) has popped it and pushed it back through queue B; the difference is one round trip: two
// hand-offs, each one a write into a slot the other core then reads. Every round trip is recorded
// (after a warm-up) and the report gives p50 / p99 / p99.9 in nanoseconds. Both threads wait with
// the shared Backoff, so a round trip that hits the yield stage shows up in the tail, for every
// peer alike. The timestamp is the TSC (see ticks_now); its read cost (~10 ns on a VM) is included.
#include "bench_harness.hpp"
#include "ring_peers.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench {
namespace {

constexpr Item stop_value = std::numeric_limits<Item>::max();

template <class Producer>
void push_until_accepted(Producer &producer, Item value) {
  Backoff backoff;
  while (!producer.try_push(value)) backoff.wait();
}

template <class Consumer>
Item pop_until_available(Consumer &consumer) {
  Backoff backoff;
  Item value;
  while (!consumer.try_pop(value)) backoff.wait();
  return value;
}

/// The echo side: returns every value it gets until the stop value.
template <class Peer>
void echo(Peer &to_echo, Peer &to_pinger) {
  auto in = to_echo.consumer();
  auto out = to_pinger.producer();
  for (;;) {
    const Item value = pop_until_available(in);
    if (value == stop_value) return;
    push_until_accepted(out, value);
  }
}

/// The pinger side: `warmup` unrecorded round trips, then one sample (in ticks) per round trip.
/// Returns false if an echo came back wrong.
template <class Peer>
bool ping(Peer &to_echo, Peer &to_pinger, std::uint64_t warmup,
          std::vector<std::uint64_t> &samples) {
  auto out = to_echo.producer();
  auto in = to_pinger.consumer();
  bool echoes_match = true;
  const std::uint64_t total = warmup + samples.size();
  for (std::uint64_t i = 0; i < total; ++i) {
    const std::uint64_t start = ticks_now();
    push_until_accepted(out, i);
    const Item echoed = pop_until_available(in);
    const std::uint64_t end = ticks_now();
    echoes_match &= echoed == i;
    if (i >= warmup) samples[i - warmup] = end - start;
  }
  push_until_accepted(out, stop_value);
  return echoes_match;
}

template <class Peer>
void ping_pong(benchmark::State &state, std::uint64_t round_trips, std::uint64_t warmup) {
  std::vector<std::uint64_t> samples(round_trips);
  for (auto _ : state) {
    const double core_rtt_ns = probe_core_to_core_rtt_ns();  // conditions of this repetition
    Peer to_echo(ring_capacity), to_pinger(ring_capacity);
    StartGate gate(2);
    FinishLine finish;
    bool pinned_pinger = false, pinned_echo = false, echoes_match = false;
    std::thread pinger([&] {
      pinned_pinger = pin_current_thread(0);
      gate.arrive_and_wait();
      echoes_match = ping(to_echo, to_pinger, warmup, samples);
      finish.record();
    });
    std::thread echoer([&] {
      pinned_echo = pin_current_thread(1);
      gate.arrive_and_wait();
      echo(to_echo, to_pinger);
    });
    const auto start = gate.open();
    pinger.join();
    echoer.join();
    state.SetIterationTime(finish.seconds_since(start));
    if (!echoes_match) state.SkipWithError("an echo came back with the wrong value");

    std::sort(samples.begin(), samples.end());
    const double to_ns = ns_per_tick();
    state.counters["rtt_p50_ns"] = to_ns * quantile_of_sorted(samples, 0.50);
    state.counters["rtt_p99_ns"] = to_ns * quantile_of_sorted(samples, 0.99);
    state.counters["rtt_p999_ns"] = to_ns * quantile_of_sorted(samples, 0.999);
    state.counters["rtt_max_ns"] = to_ns * static_cast<double>(samples.back());
    state.counters["core_rtt_ns"] = core_rtt_ns;
    state.counters["pinned"] = pinned_pinger && pinned_echo ? 1 : 0;
  }
}

template <class Peer>
void register_peer(const SuiteScale &scale) {
  const std::uint64_t round_trips = scale.round_trips, warmup = scale.warmup_round_trips;
  configure_run(benchmark::RegisterBenchmark(
                    (std::string("ping_pong/") + Peer::name).c_str(),
                    [=](benchmark::State &s) { ping_pong<Peer>(s, round_trips, warmup); }),
                scale);
}

}  // namespace

void register_ping_pong_latency(const SuiteScale &scale) {
  register_peer<CorqSpsc>(scale);
  register_peer<BoostSpsc>(scale);
  register_peer<Moodycamel>(scale);
  register_peer<ReaderWriterQueue>(scale);
  register_peer<CkRing>(scale);
}

}  // namespace corq::bench
