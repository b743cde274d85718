// bench/rings/mpmc_throughput.cpp — P producers and P consumers on one queue (1P1C, 2P2C, 4P4C):
// total items per second.
//
// Each producer pushes its own share of the values 0..n-1; consumers pop until all n are counted,
// and the sum of everything popped must equal the sum of 0..n-1. Producer i runs on CPU i, consumer
// i on CPU i+1 (modulo the CPUs we have), so 1P1C crosses cores and 4P4C puts four threads on each
// of two cores: there, a waiting thread must give its core away quickly, which is why every loop
// waits with the shared Backoff (bounded spin, then yield) for every peer alike.
//
// Consumers count their pops locally and add them to a shared counter every `count_flush_items`
// pops and whenever they find the queue empty, so the shared counter adds no traffic per item; the
// consumer whose addition completes the count stamps the finish time.
#include "bench_harness.hpp"
#include "ring_peers.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench {
namespace {

constexpr std::uint64_t count_flush_items = 1024;

/// What all consumers of one repetition share.
struct ConsumedTally {
  explicit ConsumedTally(std::uint64_t total) : total(total) {}
  const std::uint64_t total;
  std::atomic<std::uint64_t> counted{0};
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::uint64_t> full_waits{0}, empty_waits{0};  // Backoff::waits() of all threads
  FinishLine finish;

  void add(std::uint64_t items) {
    if (counted.fetch_add(items, std::memory_order_acq_rel) + items == total) finish.record();
  }
  bool complete() const { return counted.load(std::memory_order_acquire) == total; }
};

template <class Producer>
void produce_range(Producer &producer, Item first, Item end, ConsumedTally &tally) {
  Backoff backoff;
  for (Item next = first; next < end;) {
    if (producer.try_push(next)) {
      ++next;
      backoff.reset();
    } else {
      backoff.wait();
    }
  }
  tally.full_waits.fetch_add(backoff.waits(), std::memory_order_relaxed);
}

template <class Consumer>
void consume_until_complete(Consumer &consumer, ConsumedTally &tally) {
  Backoff backoff;
  std::uint64_t uncounted = 0, sum = 0;
  for (;;) {
    Item value;
    if (consumer.try_pop(value)) {
      sum += value;
      if (++uncounted == count_flush_items) {
        tally.add(uncounted);
        uncounted = 0;
      }
      backoff.reset();
      continue;
    }
    if (uncounted != 0) {
      tally.add(uncounted);
      uncounted = 0;
    }
    if (tally.complete()) break;
    backoff.wait();
  }
  tally.sum.fetch_add(sum, std::memory_order_relaxed);
  tally.empty_waits.fetch_add(backoff.waits(), std::memory_order_relaxed);
}

template <class Peer>
void mpmc_throughput(benchmark::State &state, unsigned pairs, std::uint64_t items) {
  const std::uint64_t per_producer = items / pairs;
  const std::uint64_t total = per_producer * pairs;
  for (auto _ : state) {
    const double core_rtt_ns = probe_core_to_core_rtt_ns();  // conditions of this repetition
    Peer peer(ring_capacity);
    StartGate gate(2 * pairs);
    ConsumedTally tally(total);
    std::atomic<unsigned> pinned{0};
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < pairs; ++i) {
      threads.emplace_back([&, i] {
        pinned.fetch_add(pin_current_thread(i) ? 1 : 0);
        auto producer = peer.producer();
        gate.arrive_and_wait();
        produce_range(producer, i * per_producer, (i + 1) * per_producer, tally);
      });
      threads.emplace_back([&, i] {
        pinned.fetch_add(pin_current_thread(i + 1) ? 1 : 0);
        auto consumer = peer.consumer();
        gate.arrive_and_wait();
        consume_until_complete(consumer, tally);
      });
    }
    const auto start = gate.open();
    for (auto &t : threads) t.join();
    const double seconds = tally.finish.seconds_since(start);
    state.SetIterationTime(seconds);
    if (tally.sum.load() != checksum_of_first(total))
      state.SkipWithError("items lost or duplicated");
    state.counters["items_per_s"] = static_cast<double>(total) / seconds;
    state.counters["ns_per_item"] = seconds * 1e9 / static_cast<double>(total);
    state.counters["full_waits_per_item"] =
        static_cast<double>(tally.full_waits.load()) / static_cast<double>(total);
    state.counters["empty_waits_per_item"] =
        static_cast<double>(tally.empty_waits.load()) / static_cast<double>(total);
    state.counters["core_rtt_ns"] = core_rtt_ns;
    state.counters["pinned"] = pinned.load() == 2 * pairs ? 1 : 0;
  }
}

template <class Peer>
void register_peer(unsigned pairs, const SuiteScale &scale) {
  const std::uint64_t items = scale.mpmc_items;
  const std::string name =
      "mpmc_" + std::to_string(pairs) + "p" + std::to_string(pairs) + "c/" + Peer::name;
  configure_run(
      benchmark::RegisterBenchmark(
          name.c_str(), [=](benchmark::State &s) { mpmc_throughput<Peer>(s, pairs, items); }),
      scale);
}

}  // namespace

void register_mpmc_throughput(const SuiteScale &scale) {
  for (const unsigned pairs : {1u, 2u, 4u}) {
    register_peer<CorqMpmc>(pairs, scale);
    register_peer<BoostMpmc>(pairs, scale);
    register_peer<Moodycamel>(pairs, scale);
  }
}

}  // namespace corq::bench
