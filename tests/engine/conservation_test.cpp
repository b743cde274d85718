// Conservation under concurrency: producers (corq_publish and corq_producer_send batches) and
// consumers that ack, nack, release, reject, abandon deliveries to lease expiry, sleep past their
// lease, and close with deliveries held — all at once, on the system clock with a 20 ms lease. At
// the end every published message must have ended exactly once: acked, or in the dead-letter queue
// (drained and counted); none lost, none twice; and the queues' counters must agree.
//
// Messages are tracked by their payload: 8 bytes naming (producer, sequence), then filler.
#include "engine/helpers.hpp"
#include "support/sanitizers.hpp"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

namespace {

using namespace corq::test;
using namespace std::chrono_literals;

constexpr const char *work = "work";
constexpr const char *work_dlq = "work.dlq";
constexpr std::uint32_t producer_count = 4;  // 0, 1: corq_publish; 2, 3: corq_producer_send
constexpr std::uint32_t batch_max = 16;
constexpr std::uint32_t max_attempts = 3;
constexpr auto drain_deadline = 120s;
constexpr auto reopen_every = 50ms;

/// What happened to each message, indexed by key = producer * per_producer + sequence.
struct Ledger {
  explicit Ledger(std::size_t n)
      : published_id(n), delivered_id(n), acks(n), dead(n), deliveries(n), max_delivery_count(n) {}
  std::vector<std::atomic<std::uint64_t>> published_id;  // 0 until the publish returned
  std::vector<std::atomic<std::uint64_t>> delivered_id;  // message_id seen on delivery
  std::vector<std::atomic<std::uint32_t>> acks;          // acks that returned CORQ_OK
  std::vector<std::atomic<std::uint32_t>> dead;          // times drained from the DLQ
  std::vector<std::atomic<std::uint32_t>> deliveries;    // deliveries from the main queue
  std::vector<std::atomic<std::uint32_t>> max_delivery_count;
  std::atomic<std::uint64_t> delivered{0}, redelivered{0}, nacks_ok{0}, releases_ok{0};
  std::atomic<std::uint64_t> rejects_ok{0}, unexpected_codes{0}, bad_payloads{0};
  std::atomic<std::uint64_t> lease_lost{0};  // settles refused with ESTATE: the lease ran out first
};

std::string make_payload(std::uint64_t key, std::mt19937_64 &rng) {
  std::string p(8 + rng() % 48, 'f');
  std::memcpy(p.data(), &key, sizeof key);
  return p;
}

/// The key in a delivered payload, or nullopt if the payload is not one of ours.
std::optional<std::uint64_t> key_of(const corq_delivery &d, std::size_t total) {
  std::uint64_t key = 0;
  if (d.len < sizeof key || d.data == nullptr) return std::nullopt;
  std::memcpy(&key, d.data, sizeof key);
  if (key >= total) return std::nullopt;
  return key;
}

void fetch_max(std::atomic<std::uint32_t> &a, std::uint32_t v) {
  std::uint32_t cur = a.load();
  while (cur < v && !a.compare_exchange_weak(cur, v)) {
  }
}

/// Records a settle's result: OK and ESTATE (the lease ran out first) are both legitimate.
bool settled_ok(int rc, Ledger &ledger) {
  if (rc == CORQ_OK) return true;
  if (rc == CORQ_ESTATE) {
    ledger.lease_lost++;
  } else {
    ADD_FAILURE() << "settle returned " << corq_strerror(rc) << " (" << corq_last_error() << ")";
    ledger.unexpected_codes++;
  }
  return false;
}

void record_delivery(const corq_delivery &d, std::uint64_t key, Ledger &ledger) {
  ledger.delivered++;
  if (d.delivery_count > 1) ledger.redelivered++;
  ledger.deliveries[key]++;
  fetch_max(ledger.max_delivery_count[key], d.delivery_count);
  ledger.delivered_id[key] = d.message_id;
}

void produce(corq_engine *engine, std::uint32_t producer, std::size_t per_producer,
             std::uint64_t seed, Ledger &ledger) {
  std::mt19937_64 rng(seed);
  const std::uint64_t base = std::uint64_t{producer} * per_producer;
  if (producer < 2) {
    for (std::size_t i = 0; i < per_producer; ++i) {
      const std::string p = make_payload(base + i, rng);
      std::uint64_t id = 0;
      const int rc = try_publish(engine, work, p, nullptr, &id);
      ASSERT_EQ(rc, CORQ_OK) << corq_strerror(rc) << " " << corq_last_error();
      ledger.published_id[base + i] = id;
    }
    return;
  }
  ProducerPtr prod = open_producer(engine, work);
  for (std::size_t i = 0; i < per_producer;) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % batch_max, per_producer - i);
    std::vector<std::string> texts;
    for (std::size_t k = 0; k < n; ++k) texts.push_back(make_payload(base + i + k, rng));
    std::vector<corq_message> batch;
    for (const std::string &t : texts) batch.push_back(message(t));
    std::uint64_t first = 0;
    const int rc = corq_producer_send(prod.get(), batch.data(), n, nullptr, &first);
    ASSERT_EQ(rc, CORQ_OK) << corq_strerror(rc) << " " << corq_last_error();
    for (std::size_t k = 0; k < n; ++k) ledger.published_id[base + i + k] = first + k;
    i += n;
  }
}

/// A worker: takes deliveries and does a random thing with each. Every reopen_every it closes and
/// reopens its consumer while holding abandoned deliveries (which the close releases); the rest of
/// its abandoned deliveries run out their lease.
void work_randomly(corq_engine *engine, std::uint64_t seed, std::size_t total,
                   const std::atomic<bool> &stop, Ledger &ledger) {
  std::mt19937_64 rng(seed);
  ConsumerPtr c = open_consumer(engine, work, 8);
  corq_delivery out[8];
  auto reopen_at = std::chrono::steady_clock::now() + reopen_every;
  while (!stop.load()) {
    if (std::chrono::steady_clock::now() >= reopen_at) {
      c = open_consumer(engine, work, 8);
      reopen_at += reopen_every;
    }
    const int n = corq_consume(c.get(), out, 8, 5);
    ASSERT_GE(n, 0) << corq_strerror(n) << " " << corq_last_error();
    for (int i = 0; i < n; ++i) {
      const corq_delivery &d = out[i];
      const std::optional<std::uint64_t> key = key_of(d, total);
      if (!key) {
        ledger.bad_payloads++;
        continue;
      }
      record_delivery(d, *key, ledger);
      const std::uint64_t roll = rng() % 100;
      if (roll < 55) {
        if (settled_ok(corq_ack(c.get(), d.tag), ledger)) ledger.acks[*key]++;
      } else if (roll < 67) {
        if (settled_ok(corq_nack(c.get(), d.tag, roll % 2 ? 0 : -1), ledger)) ledger.nacks_ok++;
      } else if (roll < 77) {
        if (settled_ok(corq_release(c.get(), d.tag), ledger)) ledger.releases_ok++;
      } else if (roll < 80) {
        if (settled_ok(corq_reject(c.get(), d.tag, "random poison"), ledger)) ledger.rejects_ok++;
      }
      // else: abandoned; its lease expires (a failed attempt), or a close releases it.
    }
  }
}

/// Takes two deliveries at a time and sleeps past the lease before acking them.
void work_sleepily(corq_engine *engine, std::size_t total, const std::atomic<bool> &stop,
                   Ledger &ledger) {
  ConsumerPtr c = open_consumer(engine, work, 2);
  corq_delivery out[2];
  while (!stop.load()) {
    const int n = corq_consume(c.get(), out, 2, 5);
    ASSERT_GE(n, 0) << corq_strerror(n) << " " << corq_last_error();
    std::vector<std::pair<std::uint64_t, std::uint64_t>> held;  // (tag, key)
    for (int i = 0; i < n; ++i) {
      const std::optional<std::uint64_t> key = key_of(out[i], total);
      if (!key) {
        ledger.bad_payloads++;
        continue;
      }
      record_delivery(out[i], *key, ledger);
      held.emplace_back(out[i].tag, *key);
    }
    if (held.empty()) continue;
    std::this_thread::sleep_for(30ms);  // lease_ms is 20
    for (const auto &[tag, key] : held) {
      if (settled_ok(corq_ack(c.get(), tag), ledger)) ledger.acks[key]++;
    }
  }
}

/// Waits until a queue holds nothing (ready, in flight or delayed), up to the deadline.
bool wait_until_empty(corq_engine *engine, const char *queue,
                      std::chrono::steady_clock::time_point deadline) {
  int zero_in_a_row = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const corq_queue_stats s = stats(engine, queue);
    zero_in_a_row = s.ready + s.in_flight + s.delayed == 0 ? zero_in_a_row + 1 : 0;
    if (zero_in_a_row >= 3) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

/// Acks whatever is left in a queue (main: stragglers released by stopping consumers; DLQ: every
/// dead letter). `on_delivery(delivery, ack)` reads the delivery first and then calls ack(), which
/// returns the ack's code (a delivery's data is not readable after it is settled); drain acks what
/// on_delivery did not.
template <typename OnDelivery>
bool drain(corq_engine *engine, const char *queue, std::chrono::steady_clock::time_point deadline,
           OnDelivery on_delivery) {
  ConsumerPtr c = open_consumer(engine, queue, 256);
  corq_delivery out[256];
  while (std::chrono::steady_clock::now() < deadline) {
    const int n = corq_consume(c.get(), out, 256, 10);
    if (n < 0) {
      ADD_FAILURE() << "drain consume: " << corq_strerror(n) << " " << corq_last_error();
      return false;
    }
    for (int i = 0; i < n; ++i) {
      bool acked = false;
      const auto ack = [&] {
        acked = true;
        return corq_ack(c.get(), out[i].tag);
      };
      on_delivery(out[i], ack);
      if (!acked) ack();
    }
    if (n == 0) {
      const corq_queue_stats s = stats(engine, queue);
      if (s.ready + s.in_flight + s.delayed == 0) return true;
    }
  }
  return false;
}

/// Runs a thread body, turning an exception (a helper's failed call) into a test failure rather
/// than std::terminate.
template <typename Body>
auto guarded(Body body) {
  return [body](auto &&...args) {
    try {
      body(std::forward<decltype(args)>(args)...);
    } catch (const std::exception &ex) {
      ADD_FAILURE() << "thread failed: " << ex.what();
    }
  };
}

/// `dir` empty: an in-memory engine. Otherwise a disk engine there (sync=none: the log writes but
/// does not flush, so the test stays fast; small segments, so checkpoints release segments while
/// the workers run), and at the end the directory is reopened: nothing may come back.
void run_conservation(const std::string &dir) {
  const std::size_t per_producer = corq::test::scaled(5000, 10);
  const std::size_t total = per_producer * producer_count;
  const std::uint64_t seed = std::random_device{}();
  SCOPED_TRACE(numbered("seed ", seed));

  EnginePtr e;
  if (dir.empty()) {
    e = open_engine();
  } else {
    ConfigPtr config = make_config({{"sync", "none"}, {"segment_bytes", "1MiB"}});
    corq_engine *engine = nullptr;
    must(corq_open(dir.c_str(), config.get(), &engine), "corq_open(dir)");
    e.reset(engine);
  }
  must_declare(e.get(), work,
               {{"lease_ms", "20"},
                {"max_attempts", std::to_string(max_attempts)},
                {"retry_delay_ms", "1"},
                {"retry_backoff", "2"},
                {"retry_delay_max_ms", "4"},
                {"max_length", "256"},
                {"overflow", "block"}});
  Ledger ledger(total);
  std::atomic<bool> stop{false};
  std::vector<std::thread> consumers;
  for (std::uint64_t w = 0; w < 3; ++w) {
    consumers.emplace_back(guarded(work_randomly), e.get(), seed + 100 + w, total, std::cref(stop),
                           std::ref(ledger));
  }
  consumers.emplace_back(guarded(work_sleepily), e.get(), total, std::cref(stop), std::ref(ledger));
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < producer_count; ++p) {
    producers.emplace_back(guarded(produce), e.get(), p, per_producer, seed + p, std::ref(ledger));
  }
  for (std::thread &t : producers) t.join();

  const auto deadline = std::chrono::steady_clock::now() + drain_deadline;
  const bool emptied = wait_until_empty(e.get(), work, deadline);
  stop = true;
  for (std::thread &t : consumers) t.join();
  EXPECT_TRUE(emptied) << "the queue did not empty in time: " << describe(stats(e.get(), work));

  // Stragglers (released by the consumers' close) are acked here.
  std::uint64_t straggler_acks = 0;
  EXPECT_TRUE(drain(e.get(), work, deadline, [&](const corq_delivery &d, auto ack) {
    const std::optional<std::uint64_t> key = key_of(d, total);
    if (!key) {
      ledger.bad_payloads++;
      return;
    }
    record_delivery(d, *key, ledger);
    if (settled_ok(ack(), ledger)) {
      ledger.acks[*key]++;
      ++straggler_acks;
    }
  })) << describe(stats(e.get(), work));
  // Every dead letter: one of ours, from "work", for a reason the workers can cause.
  std::uint64_t dead_total = 0;
  EXPECT_TRUE(drain(e.get(), work_dlq, deadline, [&](const corq_delivery &d, auto ack) {
    const std::optional<std::uint64_t> key = key_of(d, total);
    if (!key) {
      ledger.bad_payloads++;
      return;
    }
    EXPECT_EQ(header_value(d, "x-death-queue"), work);
    const std::string reason = header_value(d, "x-death-reason").value_or("<missing>");
    EXPECT_TRUE(reason == "rejected" || reason == "max_attempts") << reason;
    const int rc = ack();
    EXPECT_EQ(rc, CORQ_OK) << corq_strerror(rc);
    ledger.dead[*key]++;
    ++dead_total;
  })) << describe(stats(e.get(), work_dlq));

  // Each message ended exactly once.
  std::uint64_t acked_total = 0;
  std::size_t lost = 0, twice = 0, id_mismatch = 0, count_mismatch = 0;
  for (std::size_t k = 0; k < total; ++k) {
    const std::uint32_t ends = ledger.acks[k] + ledger.dead[k];
    acked_total += ledger.acks[k];
    if (ends == 0 && ++lost <= 5) ADD_FAILURE() << "message " << k << " was lost";
    if (ends > 1 && ++twice <= 5) {
      ADD_FAILURE() << "message " << k << " ended " << ends << " times (acks " << ledger.acks[k]
                    << ", dead letters " << ledger.dead[k] << ")";
    }
    if (ledger.deliveries[k] > 0 && ledger.delivered_id[k] != ledger.published_id[k] &&
        ++id_mismatch <= 5) {
      ADD_FAILURE() << "message " << k << " published as id " << ledger.published_id[k]
                    << ", delivered as id " << ledger.delivered_id[k];
    }
    if (ledger.max_delivery_count[k] != ledger.deliveries[k] && ++count_mismatch <= 5) {
      ADD_FAILURE() << "message " << k << " was delivered " << ledger.deliveries[k]
                    << " times but its highest delivery_count was " << ledger.max_delivery_count[k];
    }
  }
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_EQ(id_mismatch, 0u);
  EXPECT_EQ(count_mismatch, 0u);
  EXPECT_EQ(ledger.bad_payloads.load(), 0u);
  EXPECT_EQ(ledger.unexpected_codes.load(), 0u);

  // Ids increase in publish order per producer.
  for (std::uint32_t p = 0; p < producer_count; ++p) {
    for (std::size_t i = 1; i < per_producer; ++i) {
      const std::size_t k = p * per_producer + i;
      if (ledger.published_id[k] <= ledger.published_id[k - 1]) {
        ADD_FAILURE() << "producer " << p << ": id " << ledger.published_id[k] << " after "
                      << ledger.published_id[k - 1];
        break;
      }
    }
  }

  // The counters agree with what the workers saw.
  const corq_queue_stats s = stats(e.get(), work);
  const corq_queue_stats d = stats(e.get(), work_dlq);
  EXPECT_EQ(s.published, total) << describe(s);
  EXPECT_EQ(s.acked, acked_total) << describe(s);
  EXPECT_EQ(s.dead_lettered + s.dropped, dead_total) << describe(s);
  EXPECT_EQ(s.dropped, 0u) << describe(s);
  EXPECT_EQ(s.published, s.acked + s.dead_lettered + s.dropped) << describe(s);
  EXPECT_EQ(s.ready + s.in_flight + s.delayed + s.bytes_ready, 0u) << describe(s);
  EXPECT_EQ(s.consumers, 0u) << describe(s);
  EXPECT_EQ(s.delivered, ledger.delivered.load()) << describe(s);
  EXPECT_EQ(s.redelivered, ledger.redelivered.load()) << describe(s);
  EXPECT_GE(s.nacked, ledger.nacks_ok.load()) << describe(s);
  EXPECT_GE(s.released, ledger.releases_ok.load()) << describe(s);
  EXPECT_GE(s.dead_lettered, ledger.rejects_ok.load()) << describe(s);
  EXPECT_EQ(s.expired + s.deduplicated, 0u) << describe(s);
  EXPECT_EQ(d.acked, dead_total) << describe(d);
  EXPECT_EQ(d.ready + d.in_flight + d.delayed, 0u) << describe(d);

  std::printf("conservation: %zu messages, %" PRIu64 " deliveries (%" PRIu64
              " redelivered), %" PRIu64 " acked (%" PRIu64 " while draining), %" PRIu64
              " dead-lettered, %" PRIu64 " nacks, %" PRIu64 " releases, %" PRIu64
              " rejects, %" PRIu64 " settles too late\n",
              total, ledger.delivered.load(), ledger.redelivered.load(), acked_total,
              straggler_acks, dead_total, ledger.nacks_ok.load(), ledger.releases_ok.load(),
              ledger.rejects_ok.load(), ledger.lease_lost.load());
  std::printf("work: %s\nwork.dlq: %s\n", describe(s).c_str(), describe(d).c_str());

  if (!dir.empty()) {
    // Every settlement above was logged: after a sync and a reopen, both queues are empty.
    must(corq_sync(e.get(), -1), "corq_sync");
    e.reset();
    // The directory as the engine left it, kept when something comes back (corqctl dump it).
    const std::string kept = dir + ".closed";
    std::filesystem::copy(dir, kept, std::filesystem::copy_options::recursive);
    corq_engine *engine = nullptr;
    must(corq_open(dir.c_str(), nullptr, &engine), "reopen");
    e.reset(engine);
    const corq_queue_stats after = stats(e.get(), work);
    const corq_queue_stats after_dlq = stats(e.get(), work_dlq);
    EXPECT_EQ(after.ready + after.delayed, 0u) << "came back: " << describe(after);
    EXPECT_EQ(after_dlq.ready + after_dlq.delayed, 0u) << "came back: " << describe(after_dlq);
    if (after.ready + after.delayed + after_dlq.ready + after_dlq.delayed == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(kept, ignored);
      return;
    }
    for (const char *queue : {work, work_dlq}) {
      std::size_t shown = 0;
      drain(e.get(), queue, std::chrono::steady_clock::now() + 2s,
            [&](const corq_delivery &d, auto) {
              const std::optional<std::uint64_t> key = key_of(d, total);
              if (++shown <= 20) {
                ADD_FAILURE() << queue << ": message id " << d.message_id << " (key "
                              << (key ? std::to_string(*key) : "?") << ", published as id "
                              << (key ? ledger.published_id[*key].load() : 0)
                              << ") came back after the reopen";
              }
            });
    }
    ADD_FAILURE() << "the directory as the engine closed it: " << kept;
  }
}

TEST(Conservation, every_message_ends_exactly_once_under_concurrent_settles_and_lease_expiry) {
  run_conservation({});
}

TEST(Conservation, on_a_durable_queue_too_and_nothing_settled_comes_back_after_a_reopen) {
  std::string dir = "/tmp/corq-conservation-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  run_conservation(dir);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
