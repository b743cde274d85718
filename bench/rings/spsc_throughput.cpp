// bench/rings/spsc_throughput.cpp — one producer, one consumer, on two different cores: how many
// std::uint64_t items per second cross the ring, one at a time and in batches of 256.
//
// The producer runs on CPU 0 and pushes the values 0..n-1; the consumer runs on CPU 1, pops until
// it has n items and checks their sum (a lost or duplicated item fails the benchmark). Both wait
// with the shared Backoff when the queue is full / empty. The time is from the start gate to the
// consumer's last pop.
#include "bench_harness.hpp"
#include "ring_peers.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

namespace corq::bench {
namespace {

constexpr std::size_t bulk_items = 256;

template <class Producer>
void produce_one_by_one(Producer &producer, std::uint64_t items, Backoff &backoff) {
  for (Item next = 0; next < items;) {
    if (producer.try_push(next)) {
      ++next;
      backoff.reset();
    } else {
      backoff.wait();
    }
  }
}

template <class Consumer>
std::uint64_t consume_one_by_one(Consumer &consumer, std::uint64_t items, Backoff &backoff) {
  std::uint64_t sum = 0;
  for (std::uint64_t popped = 0; popped < items;) {
    Item value;
    if (consumer.try_pop(value)) {
      sum += value;
      ++popped;
      backoff.reset();
    } else {
      backoff.wait();
    }
  }
  return sum;
}

template <class Producer>
void produce_in_batches(Producer &producer, std::uint64_t items, Backoff &backoff) {
  Item batch[bulk_items];
  for (Item next = 0; next < items;) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(bulk_items, items - next));
    for (std::size_t i = 0; i < want; ++i) batch[i] = next + i;
    for (std::size_t pushed = 0; pushed < want;) {
      const std::size_t n = producer.try_push_bulk(batch + pushed, want - pushed);
      if (n != 0) {
        pushed += n;
        backoff.reset();
      } else {
        backoff.wait();
      }
    }
    next += want;
  }
}

template <class Consumer>
std::uint64_t consume_in_batches(Consumer &consumer, std::uint64_t items, Backoff &backoff) {
  Item batch[bulk_items];
  std::uint64_t sum = 0;
  for (std::uint64_t popped = 0; popped < items;) {
    const std::size_t n = consumer.try_pop_bulk(batch, bulk_items);
    if (n != 0) {
      for (std::size_t i = 0; i < n; ++i) sum += batch[i];
      popped += n;
      backoff.reset();
    } else {
      backoff.wait();
    }
  }
  return sum;
}

/// One repetition: `items` through a fresh Peer, producer on CPU 0, consumer on CPU 1.
template <class Peer, bool Bulk>
void spsc_throughput(benchmark::State &state, std::uint64_t items) {
  for (auto _ : state) {
    const double core_rtt_ns = probe_core_to_core_rtt_ns();  // conditions of this repetition
    Peer peer(ring_capacity);
    StartGate gate(2);
    FinishLine finish;
    bool pinned_producer = false, pinned_consumer = false;
    // Written once each, after the run; each thread's Backoff lives on its own stack.
    std::uint64_t sum = 0, producer_waits = 0, consumer_waits = 0;
    std::thread producer_thread([&] {
      pinned_producer = pin_current_thread(0);
      auto producer = peer.producer();
      Backoff backoff;
      gate.arrive_and_wait();
      if constexpr (Bulk) {
        produce_in_batches(producer, items, backoff);
      } else {
        produce_one_by_one(producer, items, backoff);
      }
      producer_waits = backoff.waits();
    });
    std::thread consumer_thread([&] {
      pinned_consumer = pin_current_thread(1);
      auto consumer = peer.consumer();
      Backoff backoff;
      gate.arrive_and_wait();
      sum = Bulk ? consume_in_batches(consumer, items, backoff)
                 : consume_one_by_one(consumer, items, backoff);
      finish.record();
      consumer_waits = backoff.waits();
    });
    const auto start = gate.open();
    producer_thread.join();
    consumer_thread.join();
    const double seconds = finish.seconds_since(start);
    state.SetIterationTime(seconds);
    if (sum != checksum_of_first(items)) state.SkipWithError("items lost or duplicated");
    state.counters["items_per_s"] = static_cast<double>(items) / seconds;
    state.counters["ns_per_item"] = seconds * 1e9 / static_cast<double>(items);
    state.counters["full_waits_per_item"] =
        static_cast<double>(producer_waits) / static_cast<double>(items);
    state.counters["empty_waits_per_item"] =
        static_cast<double>(consumer_waits) / static_cast<double>(items);
    state.counters["core_rtt_ns"] = core_rtt_ns;
    state.counters["pinned"] = pinned_producer && pinned_consumer ? 1 : 0;
  }
}

template <class Peer, bool Bulk>
void register_peer(const char *scenario, const SuiteScale &scale) {
  const std::uint64_t items = scale.spsc_items;
  configure_run(benchmark::RegisterBenchmark(
                    (std::string(scenario) + "/" + Peer::name).c_str(),
                    [items](benchmark::State &s) { spsc_throughput<Peer, Bulk>(s, items); }),
                scale);
}

}  // namespace

void register_spsc_throughput(const SuiteScale &scale) {
  register_peer<CorqSpsc, false>("spsc_per_item", scale);
  register_peer<BoostSpsc, false>("spsc_per_item", scale);
  register_peer<Moodycamel, false>("spsc_per_item", scale);
  register_peer<ReaderWriterQueue, false>("spsc_per_item", scale);
  register_peer<CkRing, false>("spsc_per_item", scale);
  register_peer<CorqSpsc, true>("spsc_bulk256", scale);
  register_peer<BoostSpsc, true>("spsc_bulk256", scale);
  register_peer<Moodycamel, true>("spsc_bulk256", scale);
  register_peer<ReaderWriterQueue, true>("spsc_bulk256", scale);
  register_peer<CkRing, true>("spsc_bulk256", scale);
}

}  // namespace corq::bench
