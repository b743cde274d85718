// bench/engine/engine_throughput.cpp — one producer thread, one consumer thread, on two different
// cores: how many 8-byte messages per second cross a transient corq queue, next to moodycamel.
//
// Scenarios (benchmark names `<scenario>/<peer>`):
//   single/corq_send      corq_producer_send(p, &m, 1) per message; corq_consume(c, out, 1, 10 ms)
//                         and corq_ack per delivery (1a)
//   single/corq_publish   the same with corq_publish(engine, "bench", &m) (the shared publish path)
//   single/moodycamel     enqueue(token, uint64) / try_dequeue(token, uint64), Backoff when empty
//   batch64/corq          corq_producer_send of 64; corq_consume up to 64 and one
//                         corq_ack_upto(last tag) per call (1b)
//   batch64/moodycamel    enqueue_bulk(token, 64) / try_dequeue_bulk(token, 64)
//
// Each repetition opens a fresh in-memory engine, declares the queue with default options
// (max_length 1M), pushes one lap of its ready ring through it on the main thread (warm_up: the
// ring's pages get committed, as in a service that has been running), then starts the pinned
// producer (CPU 0) and consumer (CPU 1) behind a StartGate. The producer publishes the values
// 0..n-1 as 8-byte payloads; the consumer checks that it receives exactly them, in order (one
// producer, one shard: FIFO), and the time is from the gate to the consumer's last settle.
// corq's consumer waits inside corq_consume (spin, yield, futex: the engine's own wait); the
// moodycamel consumer, which has no blocking call, spins with the ring harness's Backoff.
#include "engine_harness.hpp"
#include "rings/ring_peers.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <thread>

namespace corq::bench::engine {
namespace {

/// What the two threads of one repetition report.
struct RunOutcome {
  double seconds = 0;
  std::string error{};               // empty: every message arrived, in order
  std::uint64_t producer_waits = 0;  // moodycamel: never (unbounded); corq: CORQ_EFULL retries
  std::uint64_t consumer_waits = 0;  // corq: consume calls that timed out; moodycamel: empty polls
  std::uint64_t preemptions = 0;     // of both threads, during the measured run
  bool pinned = false;
};

void report(benchmark::State &state, const RunOutcome &run, std::uint64_t messages) {
  state.SetIterationTime(run.seconds);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const double n = static_cast<double>(messages);
  state.counters["msgs_per_s"] = n / run.seconds;
  state.counters["ns_per_msg"] = run.seconds * 1e9 / n;
  state.counters["full_waits_per_msg"] = static_cast<double>(run.producer_waits) / n;
  state.counters["empty_waits_per_msg"] = static_cast<double>(run.consumer_waits) / n;
  state.counters["preemptions"] = static_cast<double>(run.preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

/// Runs `produce` on CPU 0 and `consume` on CPU 1, released together; each returns an error text
/// (empty if fine). The time is from the gate to the moment `consume` returned.
template <class Produce, class Consume>
RunOutcome run_pair(Produce &&produce, Consume &&consume) {
  StartGate gate(2);
  FinishLine finish;
  RunOutcome run;
  std::string producer_error, consumer_error;  // each written by its thread only, read after join
  bool pinned_producer = false, pinned_consumer = false;
  std::uint64_t producer_preemptions = 0, consumer_preemptions = 0;
  std::thread producer_thread([&] {
    pinned_producer = pin_current_thread(0);
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    producer_error = produce(run.producer_waits);
    producer_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  std::thread consumer_thread([&] {
    pinned_consumer = pin_current_thread(1);
    gate.arrive_and_wait();
    const std::uint64_t preempted_before = preemptions_of_this_thread();
    consumer_error = consume(run.consumer_waits);
    finish.record();
    consumer_preemptions = preemptions_of_this_thread() - preempted_before;
  });
  const auto start = gate.open();
  producer_thread.join();
  consumer_thread.join();
  run.seconds = finish.seconds_since(start);
  run.error = !producer_error.empty() ? producer_error : consumer_error;
  run.pinned = pinned_producer && pinned_consumer;
  run.preemptions = producer_preemptions + consumer_preemptions;
  return run;
}

// ---- corq
// ----------------------------------------------------------------------------------------

/// corq_producer_send: the producer handle's path.
struct SendPath {
  corq_producer *producer;
  int publish(const corq_message *messages, std::size_t count) const {
    return corq_producer_send(producer, messages, count, nullptr, nullptr);
  }
};

/// corq_publish: the engine-level path (queue looked up by name, any thread).
struct PublishPath {
  corq_engine *engine;
  int publish(const corq_message *messages, std::size_t count) const {
    (void)count;  // always 1: corq_publish takes one message
    return corq_publish(engine, queue_name, messages, nullptr, nullptr);
  }
};

/// Publishes the values 0..messages-1, `per_call` per call. CORQ_EFULL is retried (each try has
/// already waited inside corq for the default publish timeout); anything else is a failure.
template <class Path>
std::string produce_corq(const Path &path, std::uint64_t messages, std::size_t per_call,
                         std::uint64_t &full_waits) {
  std::uint64_t values[batch_messages];
  corq_message batch[batch_messages];
  for (std::uint64_t next = 0; next < messages;) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(per_call, messages - next));
    for (std::size_t i = 0; i < count; ++i) {
      values[i] = next + i;
      batch[i] = corq_message{&values[i], sizeof(values[i]), nullptr, 0, nullptr};
    }
    int rc = path.publish(batch, count);
    for (unsigned retries = 0; rc == CORQ_EFULL && retries < full_retries_max; ++retries) {
      ++full_waits;
      rc = path.publish(batch, count);
    }
    if (rc != CORQ_OK) return corq_failure("publish", rc);
    next += count;
  }
  return {};
}

/// Consumes until it has seen the values 0..messages-1 in order. `per_call` 1: corq_ack per
/// delivery; more: corq_ack_upto(last tag) per call.
std::string consume_corq(corq_consumer *consumer, std::uint64_t messages, std::size_t per_call,
                         std::uint64_t &timeouts) {
  corq_delivery deliveries[batch_messages];
  unsigned idle = 0;
  for (std::uint64_t expected = 0; expected < messages;) {
    const int n = corq_consume(consumer, deliveries, per_call, consume_timeout_ms);
    if (n < 0) return corq_failure("corq_consume", n);
    if (n == 0) {
      ++timeouts;
      if (++idle == idle_timeouts_max) return "consumer: no message for 10 s";
      continue;
    }
    idle = 0;
    for (int i = 0; i < n; ++i, ++expected) {
      std::uint64_t value = 0;
      if (deliveries[i].len != sizeof(value)) return "consumer: a delivery has the wrong length";
      std::memcpy(&value, deliveries[i].data, sizeof(value));
      if (value != expected) return "consumer: messages lost, duplicated or out of order";
      if (per_call == 1) {
        if (const int rc = corq_ack(consumer, deliveries[i].tag); rc != CORQ_OK) {
          return corq_failure("corq_ack", rc);
        }
      }
    }
    if (per_call > 1) {
      if (const int rc = corq_ack_upto(consumer, deliveries[n - 1].tag); rc != CORQ_OK) {
        return corq_failure("corq_ack_upto", rc);
      }
    }
  }
  return {};
}

enum class CorqPath { send, publish };

RunOutcome run_corq_once(CorqPath which, std::uint64_t messages, std::size_t per_call,
                         std::uint64_t warmup_messages) {
  std::optional<BenchEngine> opened;
  try {
    opened.emplace();
    opened->warm_up(warmup_messages);
  } catch (const std::exception &e) {
    return RunOutcome{.error = e.what()};
  }
  BenchEngine &engine = *opened;
  corq_producer *producer = nullptr;
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_producer_open(engine.get(), queue_name, &producer); rc != CORQ_OK) {
    return RunOutcome{.error = corq_failure("corq_producer_open", rc)};
  }
  if (const int rc = corq_consumer_open(engine.get(), queue_name, prefetch, &consumer);
      rc != CORQ_OK) {
    corq_producer_close(producer);
    return RunOutcome{.error = corq_failure("corq_consumer_open", rc)};
  }
  const RunOutcome run = run_pair(
      [&](std::uint64_t &full_waits) {
        if (which == CorqPath::send) {
          return produce_corq(SendPath{producer}, messages, per_call, full_waits);
        }
        return produce_corq(PublishPath{engine.get()}, messages, per_call, full_waits);
      },
      [&](std::uint64_t &timeouts) {
        return consume_corq(consumer, messages, per_call, timeouts);
      });
  corq_consumer_close(consumer);
  corq_producer_close(producer);
  return run;
}

// ---- moodycamel
// ----------------------------------------------------------------------------------

std::string produce_moodycamel(Moodycamel::Producer &producer, std::uint64_t messages,
                               std::size_t per_call) {
  Item batch[batch_messages];
  for (Item next = 0; next < messages;) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(per_call, messages - next));
    for (std::size_t i = 0; i < count; ++i) batch[i] = next + i;
    const bool pushed =
        count == 1 ? producer.try_push(batch[0]) : producer.try_push_bulk(batch, count) == count;
    if (!pushed) return "moodycamel: enqueue failed (out of memory)";
    next += count;
  }
  return {};
}

std::string consume_moodycamel(Moodycamel::Consumer &consumer, std::uint64_t messages,
                               std::size_t per_call, std::uint64_t &empty_waits) {
  Item batch[batch_messages];
  Backoff backoff;
  for (Item expected = 0; expected < messages;) {
    const std::size_t n = per_call == 1 ? (consumer.try_pop(batch[0]) ? 1 : 0)
                                        : consumer.try_pop_bulk(batch, per_call);
    if (n == 0) {
      backoff.wait();
      continue;
    }
    backoff.reset();
    for (std::size_t i = 0; i < n; ++i, ++expected) {
      if (batch[i] != expected) return "moodycamel: items lost, duplicated or out of order";
    }
  }
  empty_waits = backoff.waits();
  return {};
}

RunOutcome run_moodycamel_once(std::uint64_t messages, std::size_t per_call) {
  Moodycamel peer(ring_capacity);  // as in the ring benchmarks: pre-sized, unbounded
  // Tokens made before the gate (like corq's handles); each is then used by one thread only.
  auto producer = peer.producer();
  auto consumer = peer.consumer();
  return run_pair([&](std::uint64_t &) { return produce_moodycamel(producer, messages, per_call); },
                  [&](std::uint64_t &empty_waits) {
                    return consume_moodycamel(consumer, messages, per_call, empty_waits);
                  });
}

// ---- registration
// --------------------------------------------------------------------------------

void register_corq(const char *name, CorqPath which, std::uint64_t messages, std::size_t per_call,
                   const EngineScale &scale) {
  const std::uint64_t warmup = scale.warmup_messages;
  const std::string scenario = name;
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      const RunOutcome run = run_corq_once(which, messages, per_call, warmup);
      report(state, run, messages);
      if (run.error.empty() && per_call == 1) {
        single_rate_board().record(scenario, static_cast<double>(messages) / run.seconds);
      }
    }
  };
  configure_engine_run(benchmark::RegisterBenchmark(name, body), 1);
}

void register_moodycamel(const char *name, std::uint64_t messages, std::size_t per_call) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) report(state, run_moodycamel_once(messages, per_call), messages);
  };
  configure_engine_run(benchmark::RegisterBenchmark(name, body), 1);
}

}  // namespace

double measure_single_send_rate(std::uint64_t messages, std::uint64_t warmup_messages) {
  const RunOutcome run = run_corq_once(CorqPath::send, messages, 1, warmup_messages);
  return run.error.empty() ? static_cast<double>(messages) / run.seconds : 0.0;
}

void register_engine_throughput_round(const EngineScale &scale) {
  register_corq("single/corq_send", CorqPath::send, scale.single_messages, 1, scale);
  register_corq("single/corq_publish", CorqPath::publish, scale.single_messages, 1, scale);
  register_moodycamel("single/moodycamel", scale.single_messages, 1);
  register_corq("batch64/corq", CorqPath::send, scale.batch_messages, batch_messages, scale);
  register_moodycamel("batch64/moodycamel", scale.batch_messages, batch_messages);
}

}  // namespace corq::bench::engine
