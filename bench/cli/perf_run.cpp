// bench/cli/perf_run.cpp — one corq-perf run over the public C API.
//
// The main thread opens everything (engine, queues perf-0..perf-N-1, one corq_producer per
// producer thread, one corq_consumer per consumer thread), so a failure there is reported before
// any load starts. It fixes the timeline — start, end of the warmup, end of the measured window —
// and starts the threads, which need no coordination beyond it:
//   - a producer sends batches until the end of the window: closed loop, back to back; open loop,
//     batch k at its due time start + (k + phase) × period (see usage_text for why the payload
//     carries the due time and not the actual send time: coordinated omission);
//   - a consumer consumes with a timeout, stamps the delivery time once per corq_consume, records
//     delivery − send time of every message, and acks (each, or ack_upto per --ack-batch).
// Each thread counts what it did; a count "in the window" is by timestamp (send time for
// publishes, delivery time for deliveries), so the rates do not depend on when the main thread
// happens to look. The main thread prints a progress line per second (from the counters and from
// snapshots of the consumers' latency recorders), stops the producers at the end, lets the
// consumers drain (bounded by drain_timeout_ns), wakes them and merges their histograms.
#include "perf_run.hpp"

#include <corq/corq.h>

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace corq::perf {

std::int64_t monotonic_ns() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

namespace {

/// A blocked send gives up after this long and is retried (so a stopping run never waits 30 s).
constexpr std::int32_t publish_timeout_ms = 1000;
/// A consumer looks at the stop flag at least this often.
constexpr std::int32_t consume_timeout_ms = 100;
/// corq_producer_flush (--nowait) waits at most this long.
constexpr std::int32_t flush_timeout_ms = 30'000;
/// Threads start this long after the timeline is fixed, so all of them are waiting at the start.
constexpr std::int64_t start_lead_ns = 20'000'000;
constexpr std::int64_t progress_interval_ns = 1'000'000'000;
/// The main thread and a sleeping producer look at the stop flags at least this often.
constexpr std::int64_t poll_interval_ns = 100'000'000;
/// An open-loop producer stops sleeping this long before a batch is due and spins the rest.
constexpr std::int64_t spin_before_due_ns = 200'000;
/// Filler of the payload after the timestamp.
constexpr unsigned char payload_filler = 0x5a;

void sleep_until_ns(std::int64_t deadline_ns) noexcept {
  timespec until{};
  until.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
  until.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
  }
}

std::string corq_failure(const char *call, const std::string &what, int rc) {
  return std::string(call) + "(" + what + "): " + corq_strerror(rc) + ": " + corq_last_error();
}

/// The run's fixed times (CLOCK_MONOTONIC ns).
struct Timeline {
  std::int64_t start_ns;
  std::int64_t measure_start_ns;
  std::int64_t end_ns;
  bool measured(std::int64_t t) const noexcept { return t >= measure_start_ns && t < end_ns; }
};

/// Flags and the first error, shared by every thread.
class RunControl {
 public:
  std::atomic<bool> stop_producers{false};
  std::atomic<bool> stop_consumers{false};
  std::atomic<bool> failed{false};

  void fail(std::string message) {
    std::lock_guard lock(mutex_);
    if (error_.empty()) error_ = std::move(message);
    failed.store(true, std::memory_order_release);
  }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  mutable std::mutex mutex_;
  std::string error_;
};

/// One producer thread's handle and counters (its own cache lines).
struct alignas(64) ProducerSlot {
  corq_producer *handle = nullptr;
  std::vector<corq_producer *> fanout_handles;  // --fanout: the other queues' producers
  std::string queue;
  double phase = 0;                    // open loop: offset of its schedule, in periods
  std::atomic<std::uint64_t> sent{0};  // written by its thread only, read by the main thread
  std::uint64_t sent_measured = 0;     // read after join
  std::uint64_t full_retries = 0;      // read after join
};

/// One consumer thread's handle, counters and latency (its own cache lines).
struct alignas(64) ConsumerSlot {
  corq_consumer *handle = nullptr;
  std::string queue;
  std::atomic<std::uint64_t> consumed{0};  // written by its thread only
  LatencyRecorder recorder;                // every latency: the progress lines' p99
  LatencyHistogram measured;               // messages sent in the window; read after join
  std::uint64_t max_ns = 0;
  std::uint64_t consumed_measured = 0;
};

/// The engine and every handle; closes them in reverse order.
struct Rig {
  corq_engine *engine = nullptr;
  std::vector<std::string> queues;
  std::vector<std::unique_ptr<ProducerSlot>> producers;
  std::vector<std::unique_ptr<ConsumerSlot>> consumers;

  Rig() = default;
  Rig(const Rig &) = delete;
  Rig &operator=(const Rig &) = delete;
  ~Rig() {
    for (auto &c : consumers) corq_consumer_close(c->handle);
    for (auto &p : producers) {
      corq_producer_close(p->handle);
      for (corq_producer *extra : p->fanout_handles) corq_producer_close(extra);
    }
    if (engine != nullptr) corq_close(engine);
  }

  std::string open(const PerfOptions &o);

 private:
  std::string open_engine(const PerfOptions &o);
  std::string declare_queues(const PerfOptions &o);
  std::string open_handles(const PerfOptions &o);
};

using ConfigPtr = std::unique_ptr<corq_config, decltype(&corq_config_free)>;

std::string set_option(corq_config *config, const char *key, const std::string &value) {
  const int rc = corq_config_set(config, key, value.c_str());
  return rc == CORQ_OK ? std::string() : corq_failure("corq_config_set", key, rc);
}

std::string Rig::open_engine(const PerfOptions &o) {
  ConfigPtr config(corq_config_new(), corq_config_free);
  if (config == nullptr) return "corq_config_new: out of memory";
  std::string error;
  if (!o.dir.empty()) error = set_option(config.get(), "sync", o.sync);
  // The engine refuses payloads over max_message_bytes (default 1 MiB): raise it for --size.
  if (error.empty() && o.size_bytes > (1u << 20)) {
    error = set_option(config.get(), "max_message_bytes", std::to_string(o.size_bytes));
  }
  if (!error.empty()) return error;
  const char *dir = o.dir.empty() ? nullptr : o.dir.c_str();
  const int rc = corq_open(dir, config.get(), &engine);
  if (rc != CORQ_OK) return corq_failure("corq_open", dir ? o.dir : "in-memory", rc);
  return {};
}

std::string Rig::declare_queues(const PerfOptions &o) {
  ConfigPtr config(corq_config_new(), corq_config_free);
  if (config == nullptr) return "corq_config_new: out of memory";
  std::string error = set_option(config.get(), "durable", o.durable ? "true" : "false");
  // No dead-letter queues: nothing is nacked, and a durable run should leave no extra queues.
  if (error.empty()) error = set_option(config.get(), "dead_letter_queue", "");
  if (!error.empty()) return error;
  for (std::uint32_t i = 0; i < std::max(o.queues, o.fanout); ++i) {
    queues.push_back("perf-" + std::to_string(i));
    int rc = corq_queue_declare(engine, queues.back().c_str(), config.get());
    if (rc != CORQ_OK) return corq_failure("corq_queue_declare", queues.back(), rc);
    // A durable queue may hold an earlier run's messages, whose timestamps mean nothing now.
    rc = corq_queue_purge(engine, queues.back().c_str(), nullptr);
    if (rc != CORQ_OK) return corq_failure("corq_queue_purge", queues.back(), rc);
  }
  return {};
}

std::string Rig::open_handles(const PerfOptions &o) {
  for (std::uint32_t i = 0; i < o.producers; ++i) {
    auto slot = std::make_unique<ProducerSlot>();
    slot->queue = queues[i % o.queues];
    slot->phase = static_cast<double>(i) / o.producers;
    int rc = corq_producer_open(engine, slot->queue.c_str(), &slot->handle);
    if (rc != CORQ_OK) return corq_failure("corq_producer_open", slot->queue, rc);
    for (std::uint32_t q = 1; q < o.fanout; ++q) {
      corq_producer *extra = nullptr;
      rc = corq_producer_open(engine, queues[q].c_str(), &extra);
      if (rc != CORQ_OK) return corq_failure("corq_producer_open", queues[q], rc);
      slot->fanout_handles.push_back(extra);
    }
    producers.push_back(std::move(slot));
  }
  for (std::uint32_t i = 0; i < o.consumers; ++i) {
    auto slot = std::make_unique<ConsumerSlot>();
    slot->queue = queues[i % queues.size()];
    const int rc = corq_consumer_open(engine, slot->queue.c_str(), o.prefetch, &slot->handle);
    if (rc != CORQ_OK) return corq_failure("corq_consumer_open", slot->queue, rc);
    consumers.push_back(std::move(slot));
  }
  return {};
}

std::string Rig::open(const PerfOptions &o) {
  std::string error = open_engine(o);
  if (error.empty()) error = declare_queues(o);
  if (error.empty()) error = open_handles(o);
  return error;
}

// ---- producers ------------------------------------------------------------------------------

/// Spin hint: lets the sibling hyperthread run while a producer waits for a due time.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("isb" ::: "memory");
#endif
}

/// Waits until deadline_ns: sleeps (in slices, so a stop is seen) until spin_before_due_ns before
/// it, then spins — a sleep alone overshoots by tens of µs (ms on a busy VM), and the overshoot
/// would be measured as latency. False when stopped first.
bool wait_until_due(std::int64_t deadline_ns, const RunControl &control) noexcept {
  for (std::int64_t now = monotonic_ns(); now < deadline_ns; now = monotonic_ns()) {
    if (control.stop_producers.load(std::memory_order_relaxed)) return false;
    if (deadline_ns - now > spin_before_due_ns) {
      sleep_until_ns(std::min(deadline_ns - spin_before_due_ns, now + poll_interval_ns));
    } else {
      cpu_relax();
    }
  }
  return true;
}

/// Sends one batch; a queue that stays full for a whole publish timeout is retried until the end
/// of the window. False when the batch was not sent (stopped, window over, or an error).
bool send_batch_to(corq_producer *handle, ProducerSlot &slot,
                   const std::vector<corq_message> &batch, const corq_publish_options &options,
                   const Timeline &timeline, RunControl &control) {
  for (;;) {
    const int rc = corq_producer_send(handle, batch.data(), batch.size(), &options, nullptr);
    if (rc == CORQ_OK) return true;
    if (rc != CORQ_EFULL) {
      control.fail(corq_failure("corq_producer_send", slot.queue, rc));
      return false;
    }
    ++slot.full_retries;
    if (control.stop_producers.load(std::memory_order_relaxed)) return false;
    if (monotonic_ns() >= timeline.end_ns) return false;
  }
}

/// Sends one batch to the producer's queue and, with --fanout, to each of the other queues, in
/// that order. Returns how many queues got it (all of them unless stopped or failed).
std::size_t send_batch(ProducerSlot &slot, const std::vector<corq_message> &batch,
                       const corq_publish_options &options, const Timeline &timeline,
                       RunControl &control) {
  if (!send_batch_to(slot.handle, slot, batch, options, timeline, control)) return 0;
  std::size_t sent_to = 1;
  for (corq_producer *extra : slot.fanout_handles) {
    if (!send_batch_to(extra, slot, batch, options, timeline, control)) break;
    ++sent_to;
  }
  return sent_to;
}

bool flush(ProducerSlot &slot, RunControl &control) {
  int rc = corq_producer_flush(slot.handle, flush_timeout_ms);
  for (std::size_t i = 0; rc == CORQ_OK && i < slot.fanout_handles.size(); ++i) {
    rc = corq_producer_flush(slot.fanout_handles[i], flush_timeout_ms);
  }
  if (rc == CORQ_OK) return true;
  control.fail(corq_failure("corq_producer_flush", slot.queue, rc));
  return false;
}

/// The producer thread. period_ns: open loop, time between two batches of this producer; 0:
/// closed loop.
void produce(ProducerSlot &slot, const PerfOptions &o, const Timeline &timeline, double period_ns,
             RunControl &control) {
  // Open loop: wake up on time (the default 50 µs timer slack adds to the overshoot).
  if (period_ns > 0) prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const std::size_t size = o.size_bytes;
  std::vector<unsigned char> payload(size * o.batch, payload_filler);
  std::vector<corq_message> batch(o.batch);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i] = corq_message{size == 0 ? nullptr : &payload[i * size], size, nullptr, 0, nullptr};
  }
  const corq_publish_options options{sizeof(corq_publish_options),
                                     o.nowait ? CORQ_PUBLISH_NOWAIT : 0u,
                                     publish_timeout_ms,
                                     0,
                                     0,
                                     0};
  sleep_until_ns(timeline.start_ns);
  std::uint64_t sent = 0, since_flush = 0;
  for (std::uint64_t k = 0; !control.stop_producers.load(std::memory_order_relaxed); ++k) {
    std::int64_t send_ns;
    if (period_ns > 0) {
      send_ns = timeline.start_ns + std::llround((static_cast<double>(k) + slot.phase) * period_ns);
      if (send_ns >= timeline.end_ns || !wait_until_due(send_ns, control)) break;
    } else {
      send_ns = monotonic_ns();
      if (send_ns >= timeline.end_ns) break;
    }
    if (size >= timestamp_bytes) {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        std::memcpy(&payload[i * size], &send_ns, sizeof send_ns);
      }
    }
    const std::size_t queues_sent = send_batch(slot, batch, options, timeline, control);
    const std::uint64_t copies = batch.size() * queues_sent;  // --fanout counts every copy
    sent += copies;
    slot.sent.store(sent, std::memory_order_relaxed);
    if (timeline.measured(send_ns)) slot.sent_measured += copies;
    if (queues_sent != 1 + slot.fanout_handles.size()) break;
    since_flush += batch.size();
    if (o.flush_every != 0 && since_flush >= o.flush_every) {
      if (!flush(slot, control)) return;
      since_flush = 0;
    }
  }
  if (o.nowait && !control.failed.load(std::memory_order_acquire)) flush(slot, control);
}

// ---- consumers ------------------------------------------------------------------------------

/// Records delivered_ns − send time of each message (its first 8 bytes).
void record_latencies(ConsumerSlot &slot, const corq_delivery *deliveries, int count,
                      std::int64_t delivered_ns, const Timeline &timeline) noexcept {
  for (int i = 0; i < count; ++i) {
    std::int64_t sent_ns;
    std::memcpy(&sent_ns, deliveries[i].data, sizeof sent_ns);
    const std::uint64_t latency_ns =
        delivered_ns > sent_ns ? static_cast<std::uint64_t>(delivered_ns - sent_ns) : 0;
    slot.recorder.record(latency_ns);
    if (timeline.measured(sent_ns)) {
      slot.measured.record(latency_ns);
      slot.max_ns = std::max(slot.max_ns, latency_ns);
    }
  }
}

/// Acks a consume's deliveries: each one, or one ack_upto per ack_batch deliveries.
struct Acker {
  std::uint32_t ack_batch;
  std::uint64_t unacked = 0;
  std::uint64_t last_tag = 0;

  int settle(corq_consumer *consumer, const corq_delivery *deliveries, int count) {
    if (ack_batch == 1) {
      for (int i = 0; i < count; ++i) {
        if (const int rc = corq_ack(consumer, deliveries[i].tag); rc != CORQ_OK) return rc;
      }
      return CORQ_OK;
    }
    unacked += static_cast<std::uint64_t>(count);
    last_tag = deliveries[count - 1].tag;
    return unacked >= ack_batch ? settle_rest(consumer) : CORQ_OK;
  }
  int settle_rest(corq_consumer *consumer) {
    if (unacked == 0) return CORQ_OK;
    unacked = 0;
    return corq_ack_upto(consumer, last_tag);
  }
};

/// The consumer thread.
void consume(ConsumerSlot &slot, const PerfOptions &o, const Timeline &timeline,
             RunControl &control) {
  std::vector<corq_delivery> deliveries(o.prefetch);
  const bool stamped = o.size_bytes >= timestamp_bytes;
  Acker acker{o.ack_batch};
  std::uint64_t consumed = 0;
  for (;;) {
    const int n =
        corq_consume(slot.handle, deliveries.data(), deliveries.size(), consume_timeout_ms);
    if (n < 0) {
      if (n == CORQ_ECLOSED && control.stop_consumers.load(std::memory_order_acquire)) break;
      return control.fail(corq_failure("corq_consume", slot.queue, n));
    }
    int rc = CORQ_OK;
    if (n == 0) {
      rc = acker.settle_rest(slot.handle);  // idle: do not sit on a partial ack batch
      if (rc == CORQ_OK && control.stop_consumers.load(std::memory_order_acquire)) break;
    } else {
      const std::int64_t delivered_ns = monotonic_ns();
      if (stamped) record_latencies(slot, deliveries.data(), n, delivered_ns, timeline);
      consumed += static_cast<std::uint64_t>(n);
      slot.consumed.store(consumed, std::memory_order_relaxed);
      if (timeline.measured(delivered_ns)) slot.consumed_measured += static_cast<std::uint64_t>(n);
      rc = acker.settle(slot.handle, deliveries.data(), n);
    }
    if (rc != CORQ_OK) return control.fail(corq_failure("corq_ack", slot.queue, rc));
  }
  if (const int rc = acker.settle_rest(slot.handle); rc != CORQ_OK) {
    control.fail(corq_failure("corq_ack_upto", slot.queue, rc));
  }
}

// ---- the main thread ------------------------------------------------------------------------

std::string per_second(double value) {
  char text[32];
  if (value >= 1e6) {
    std::snprintf(text, sizeof text, "%.2fM/s", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(text, sizeof text, "%.1fk/s", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f/s", value);
  }
  return text;
}

/// The progress lines: rates and p99 since the previous line, queue depth now.
class Progress {
 public:
  Progress(const Rig &rig, const PerfOptions &o, const Timeline &timeline, RunControl &control)
      : rig_(rig),
        options_(o),
        timeline_(timeline),
        control_(control),
        previous_ns_(timeline.start_ns) {}

  std::uint64_t published() const {
    std::uint64_t total = 0;
    for (const auto &p : rig_.producers) total += p->sent.load(std::memory_order_relaxed);
    return total;
  }
  std::uint64_t consumed() const {
    std::uint64_t total = 0;
    for (const auto &c : rig_.consumers) total += c->consumed.load(std::memory_order_relaxed);
    return total;
  }
  void print(std::int64_t now_ns);

 private:
  const Rig &rig_;
  const PerfOptions &options_;
  const Timeline &timeline_;
  RunControl &control_;
  std::int64_t previous_ns_;
  std::uint64_t previous_published_ = 0, previous_consumed_ = 0;
  LatencyHistogram previous_latency_, latency_, one_consumer_;
};

void Progress::print(std::int64_t now_ns) {
  const std::uint64_t published_now = published(), consumed_now = consumed();
  latency_.clear();
  for (const auto &c : rig_.consumers) {
    c->recorder.snapshot(one_consumer_);
    latency_.add(one_consumer_);
  }
  corq_queue_stats stats{};
  std::uint64_t ready = 0, in_flight = 0;
  for (const std::string &queue : rig_.queues) {
    stats.struct_size = sizeof stats;
    const int rc = corq_queue_stats_get(rig_.engine, queue.c_str(), &stats);
    if (rc != CORQ_OK) return control_.fail(corq_failure("corq_queue_stats_get", queue, rc));
    ready += stats.ready;
    in_flight += stats.in_flight;
  }
  const double seconds = static_cast<double>(now_ns - previous_ns_) / 1e9;
  LatencyHistogram &interval = latency_;
  interval.subtract(previous_latency_);
  char p99[32] = "-";
  if (options_.size_bytes >= timestamp_bytes && interval.count() != 0) {
    std::snprintf(p99, sizeof p99, "%.1fus",
                  static_cast<double>(interval.value_at_percentile(99)) / 1e3);
  }
  // The phase of the second this line covers.
  const char *phase = now_ns <= timeline_.measure_start_ns ? "  warmup"
                      : previous_ns_ >= timeline_.end_ns   ? "  drain"
                                                           : "";
  if (!options_.quiet) {
    std::fprintf(
        stderr, "corq-perf %6.1fs  pub %9s  con %9s  p99 %9s  ready %8llu  in-flight %6llu%s\n",
        static_cast<double>(now_ns - timeline_.start_ns) / 1e9,
        per_second(static_cast<double>(published_now - previous_published_) / seconds).c_str(),
        per_second(static_cast<double>(consumed_now - previous_consumed_) / seconds).c_str(), p99,
        static_cast<unsigned long long>(ready), static_cast<unsigned long long>(in_flight), phase);
  }
  interval.add(previous_latency_);  // back to the cumulative snapshot
  std::swap(previous_latency_, latency_);
  previous_ns_ = now_ns;
  previous_published_ = published_now;
  previous_consumed_ = consumed_now;
}

/// Sleeps until deadline_ns, a failure or done(), printing a progress line every second.
template <class Done>
void run_until(std::int64_t deadline_ns, std::int64_t &next_tick_ns, Progress &progress,
               const RunControl &control, Done &&done) {
  for (;;) {
    const std::int64_t now = monotonic_ns();
    if (now >= next_tick_ns) {
      progress.print(now);
      next_tick_ns += progress_interval_ns;
    }
    if (now >= deadline_ns || control.failed.load(std::memory_order_acquire) || done()) return;
    sleep_until_ns(std::min({deadline_ns, next_tick_ns, now + poll_interval_ns}));
  }
}

RunResult collect(const Rig &rig, const PerfOptions &o) {
  RunResult result;
  result.measured_s = o.duration_s;
  for (const auto &p : rig.producers) {
    result.published += p->sent_measured;
    result.published_total += p->sent.load(std::memory_order_relaxed);
    result.full_retries += p->full_retries;
  }
  for (const auto &c : rig.consumers) {
    result.consumed += c->consumed_measured;
    result.consumed_total += c->consumed.load(std::memory_order_relaxed);
    result.latency_ns.add(c->measured);
    result.latency_max_ns = std::max(result.latency_max_ns, c->max_ns);
  }
  if (result.published_total > result.consumed_total) {
    result.not_drained = result.published_total - result.consumed_total;
  }
  result.latency_measured = o.size_bytes >= timestamp_bytes;
  return result;
}

}  // namespace

RunResult run_perf(const PerfOptions &o) {
  Rig rig;
  RunResult failure;
  if (failure.error = rig.open(o); !failure.error.empty()) return failure;
  Timeline timeline{};
  timeline.start_ns = monotonic_ns() + start_lead_ns;
  timeline.measure_start_ns = timeline.start_ns + std::llround(o.warmup_s * 1e9);
  timeline.end_ns = timeline.measure_start_ns + std::llround(o.duration_s * 1e9);
  // Open loop: each producer sends rate / producers messages per second, in batches.
  const double period_ns = o.rate_per_s > 0 ? 1e9 * o.batch * o.producers / o.rate_per_s : 0.0;

  RunControl control;
  std::vector<std::thread> producers, consumers;
  for (auto &c : rig.consumers) {
    consumers.emplace_back(consume, std::ref(*c), std::cref(o), std::cref(timeline),
                           std::ref(control));
  }
  for (auto &p : rig.producers) {
    producers.emplace_back(produce, std::ref(*p), std::cref(o), std::cref(timeline), period_ns,
                           std::ref(control));
  }
  Progress progress(rig, o, timeline, control);
  std::int64_t next_tick_ns = timeline.start_ns + progress_interval_ns;
  run_until(timeline.end_ns, next_tick_ns, progress, control, [] { return false; });
  control.stop_producers.store(true, std::memory_order_relaxed);
  for (auto &t : producers) t.join();
  // Drain: every published message's latency counts, a slow consumer's backlog included.
  run_until(timeline.end_ns + drain_timeout_ns, next_tick_ns, progress, control,
            [&] { return progress.consumed() >= progress.published(); });
  control.stop_consumers.store(true, std::memory_order_release);
  for (auto &c : rig.consumers) corq_consumer_wakeup(c->handle);
  for (auto &t : consumers) t.join();

  if (control.failed.load(std::memory_order_acquire)) {
    failure.error = control.error();
    return failure;
  }
  return collect(rig, o);
}

}  // namespace corq::perf
