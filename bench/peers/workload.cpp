// bench/peers/workload.cpp — the durable work-queue scenario: confirmed batches in, prefetch and
// ack-each out, publish->ack latency per message, and the exactly-once check at the end.
//
// Latency: each message carries the steady-clock time its batch was handed to the system; a
// consumer records now - that time once the acks of its fetch are done (end_acks), so the figure
// covers the publish, its confirm wait, the queueing, the delivery and the ack. Throughput is N
// over the time from the start gate to the last ack.
#include "workload.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "latency_histogram.hpp"

namespace corq::peers {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

unsigned char pattern_byte(std::uint64_t id, std::size_t i) {
  return static_cast<unsigned char>((id * 131u + i * 7u) & 0xffu);
}

/// What the threads share: the start gate, the stop flag, the first error, and per-id counts.
struct Shared {
  const PeerOptions &options;
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> consumed{0};     // deliveries acked (a redelivered id counts again)
  std::atomic<std::uint64_t> distinct{0};     // ids acked at least once: the run ends at N
  std::atomic<std::uint64_t> finished_ns{0};  // when the N-th ack completed
  std::atomic<std::uint64_t> corrupt{0};
  std::atomic<std::uint64_t> redelivered{0};
  std::atomic<std::uint64_t> id_sum{0};
  std::unique_ptr<std::atomic<std::uint8_t>[]> seen;  // deliveries per id (saturates at 255)
  std::mutex error_mutex;
  std::string error;
  Clock::time_point deadline;

  explicit Shared(const PeerOptions &o)
      : options(o), seen(new std::atomic<std::uint8_t>[o.messages]) {
    for (std::uint64_t i = 0; i < o.messages; ++i) seen[i].store(0, std::memory_order_relaxed);
  }
  void fail(const std::string &what) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (error.empty()) error = what;
    }
    stop.store(true);
  }
  bool should_stop() const {
    return stop.load(std::memory_order_relaxed) || Clock::now() > deadline;
  }
  void wait_for_go() const {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  }
};

/// Producer `index` publishes ids [first, last) in batches of options.batch.
void produce(Shared &shared, PeerSystem &system, std::size_t index, std::uint64_t first,
             std::uint64_t last, std::atomic<std::size_t> &ready) {
  const PeerOptions &o = shared.options;
  try {
    auto producer = system.open_producer(index);
    std::vector<unsigned char> buffer(o.batch * o.size);
    std::vector<const unsigned char *> payloads;
    ready.fetch_add(1);
    shared.wait_for_go();
    for (std::uint64_t id = first; id < last && !shared.should_stop();) {
      const std::uint64_t count = std::min<std::uint64_t>(o.batch, last - id);
      const std::uint64_t stamp = now_ns();
      payloads.clear();
      for (std::uint64_t k = 0; k < count; ++k) {
        unsigned char *p = buffer.data() + k * o.size;
        encode_payload(id + k, stamp, p, o.size);
        payloads.push_back(p);
      }
      producer->publish_confirmed(payloads, o.size);
      id += count;
    }
  } catch (const std::exception &e) {
    ready.fetch_add(1);  // never leave the start gate waiting on a producer that failed to open
    shared.fail("producer " + std::to_string(index) + ": " + e.what());
  }
}

/// Consumer `index` fetches, acks each delivery, and records every message's publish->ack time.
void consume(Shared &shared, PeerSystem &system, std::size_t index, perf::LatencyHistogram &latency,
             std::atomic<std::size_t> &ready) {
  const PeerOptions &o = shared.options;
  try {
    auto consumer = system.open_consumer(index);
    std::vector<Delivery> deliveries;
    deliveries.reserve(o.prefetch);
    ready.fetch_add(1);
    shared.wait_for_go();
    while (shared.distinct.load(std::memory_order_relaxed) < o.messages && !shared.should_stop()) {
      const std::size_t n = consumer->fetch(deliveries, o.prefetch, fetch_timeout_ms);
      std::uint64_t fresh = 0;  // first deliveries of their id in this fetch
      for (std::size_t k = 0; k < n; ++k) {
        const Delivery &d = deliveries[k];
        if (!d.payload_ok || d.id >= o.messages) {
          shared.corrupt.fetch_add(1);
        } else {
          std::uint8_t count = shared.seen[d.id].load(std::memory_order_relaxed);
          while (count < 255 && !shared.seen[d.id].compare_exchange_weak(count, count + 1)) {
          }
          if (count == 0) {  // the id's first delivery: the checksum covers each id once
            ++fresh;
            shared.id_sum.fetch_add(d.id, std::memory_order_relaxed);
          }
        }
        if (d.redelivered) shared.redelivered.fetch_add(1, std::memory_order_relaxed);
        consumer->ack(d);
      }
      if (n == 0) continue;
      consumer->end_acks();
      const std::uint64_t acked = now_ns();
      for (std::size_t k = 0; k < n; ++k) {
        const std::uint64_t sent = deliveries[k].published_ns;
        latency.record(acked > sent ? (acked - sent) / 1000 : 0);
      }
      shared.consumed.fetch_add(n, std::memory_order_relaxed);
      const std::uint64_t before = shared.distinct.fetch_add(fresh, std::memory_order_relaxed);
      if (before < o.messages && before + fresh >= o.messages) shared.finished_ns.store(acked);
    }
  } catch (const std::exception &e) {
    ready.fetch_add(1);
    shared.fail("consumer " + std::to_string(index) + ": " + e.what());
  }
}

void check_ids(const Shared &shared, ScenarioResult &r) {
  const std::uint64_t n = shared.options.messages;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint8_t count = shared.seen[i].load();
    if (count == 0) ++r.missing;
    if (count > 1) r.duplicates += count - 1u;
  }
  // 0 + 1 + ... + (n-1), modulo 2^64 like the running sum.
  const std::uint64_t expected = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
  r.id_sum_ok = shared.id_sum.load() == expected;
  r.corrupt = shared.corrupt.load();
  r.redelivered = shared.redelivered.load();
  r.consumed = shared.consumed.load();
}

}  // namespace

void encode_payload(std::uint64_t id, std::uint64_t now_ns, unsigned char *payload,
                    std::size_t size) noexcept {
  std::memcpy(payload, &id, 8);
  std::memcpy(payload + 8, &now_ns, 8);
  for (std::size_t i = header_bytes; i < size; ++i) payload[i] = pattern_byte(id, i);
}

void decode_payload(const void *data, std::size_t len, std::size_t size, Delivery &d) noexcept {
  d.payload_ok = false;
  if (data == nullptr || len < header_bytes) return;
  const auto *p = static_cast<const unsigned char *>(data);
  std::memcpy(&d.id, p, 8);
  std::memcpy(&d.published_ns, p + 8, 8);
  if (len != size) return;
  for (std::size_t i = header_bytes; i < size; ++i) {
    if (p[i] != pattern_byte(d.id, i)) return;
  }
  d.payload_ok = true;
}

ScenarioResult run_scenario(const PeerOptions &options, PeerSystem &system) {
  ScenarioResult result;
  Shared shared(options);
  try {
    system.setup();
  } catch (const std::exception &e) {
    result.error = std::string("setup: ") + e.what();
    system.teardown();
    return result;
  }
  std::vector<perf::LatencyHistogram> latency(options.consumers);
  std::atomic<std::size_t> ready{0};
  std::vector<std::thread> threads;
  shared.deadline = Clock::now() + std::chrono::hours(24);  // until the gate opens
  for (std::size_t c = 0; c < options.consumers; ++c) {
    threads.emplace_back(consume, std::ref(shared), std::ref(system), c, std::ref(latency[c]),
                         std::ref(ready));
  }
  const std::uint64_t per_producer = options.messages / options.producers;
  for (std::size_t p = 0; p < options.producers; ++p) {
    const std::uint64_t first = p * per_producer;
    const std::uint64_t last = p + 1 == options.producers ? options.messages : first + per_producer;
    threads.emplace_back(produce, std::ref(shared), std::ref(system), p, first, last,
                         std::ref(ready));
  }
  while (ready.load() < threads.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto started = Clock::now();
  const std::uint64_t started_ns = now_ns();
  shared.deadline = started + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(options.timeout_s));
  shared.go.store(true, std::memory_order_release);
  for (auto &t : threads) t.join();
  // To the last ack, not to the join: the other consumers may still sit in a fetch's timeout.
  const std::uint64_t finished = shared.finished_ns.load();
  result.elapsed_s = finished > started_ns
                         ? static_cast<double>(finished - started_ns) / 1e9
                         : std::chrono::duration<double>(Clock::now() - started).count();
  system.teardown();

  check_ids(shared, result);
  result.error = shared.error;
  if (result.error.empty() && shared.distinct.load() < options.messages) {
    result.error = "timed out after " + std::to_string(options.timeout_s) + " s with " +
                   std::to_string(shared.distinct.load()) + " of " +
                   std::to_string(options.messages) + " messages acked";
  }
  result.msgs_per_s =
      result.elapsed_s > 0 ? static_cast<double>(shared.distinct.load()) / result.elapsed_s : 0;
  perf::LatencyHistogram all;
  for (const auto &h : latency) all.add(h);
  result.latency_p50_us = all.value_at_percentile(50);
  result.latency_p99_us = all.value_at_percentile(99);
  result.latency_p999_us = all.value_at_percentile(99.9);
  result.latency_max_us = all.max();
  return result;
}

}  // namespace corq::peers
