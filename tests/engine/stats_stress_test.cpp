// Stats that never under-count, under load: while producers publish (now, delayed, with short
// TTLs), consumers ack, nack with small delays, release, reject, abandon deliveries to lease expiry
// and close with deliveries held, a controller purges and redrives, and a drop_head queue
// overflows, one thread reads corq_queue_stats of every queue in a tight loop. Every read must
// satisfy
//   ready + delayed + in_flight + acked + dead_lettered + dropped + purged + redriven >= published
// (the header's promise), its monotone counters must never go back, and once everything is drained
// the two sides must be equal. The test also checks that every transition really happened, so it
// cannot pass by exercising nothing.
#include "engine/helpers.hpp"
#include "support/sanitizers.hpp"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

namespace {

using namespace corq::test;
using namespace std::chrono_literals;

constexpr const char *work = "work";
constexpr const char *work_dlq = "work.dlq";
constexpr const char *bounded = "bounded";  // overflow=drop_head, no dead-letter queue
constexpr std::uint32_t producer_count = 2;
constexpr std::uint32_t consumer_count = 2;
constexpr auto drain_deadline = 60s;
/// How long producers publish at least, and at most: past the minimum they go on only until every
/// transition has happened (a sanitizer or qemu slows every step; the test must not depend on
/// how many messages fit in a fixed time).
constexpr auto publish_for_min = 1500ms;
constexpr auto publish_for_max = 60s;

std::uint64_t held(const corq_queue_stats &s) { return s.ready + s.delayed + s.in_flight; }

std::uint64_t accounted(const corq_queue_stats &s) {
  return held(s) + s.acked + s.dead_lettered + s.dropped + s.purged + s.redriven;
}

/// Reads every queue's stats in a loop; records the first few reads that break a rule.
class Sampler {
 public:
  Sampler(corq_engine *engine, std::vector<std::string> queues)
      : engine_(engine), queues_(std::move(queues)), last_(queues_.size()) {
    thread_ = std::thread([this] { run(); });
  }
  ~Sampler() { stop(); }

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t samples() const { return samples_.load(); }
  std::uint64_t under_counts() const { return under_counts_.load(); }
  std::uint64_t went_back() const { return went_back_.load(); }
  std::string examples() {
    std::lock_guard lock(mutex_);
    return examples_;
  }

 private:
  void run() {
    while (!stop_.load(std::memory_order_relaxed)) {
      for (std::size_t i = 0; i < queues_.size(); ++i) check(i, stats(engine_, queues_[i]));
    }
  }

  void check(std::size_t i, const corq_queue_stats &s) {
    samples_.fetch_add(1, std::memory_order_relaxed);
    if (accounted(s) < s.published) {
      under_counts_.fetch_add(1);
      note(queues_[i] + " under-counts by " + std::to_string(s.published - accounted(s)) + ": " +
           describe(s));
    }
    const corq_queue_stats &p = last_[i];
    if (s.published < p.published || s.delivered < p.delivered || s.acked < p.acked ||
        s.nacked < p.nacked || s.released < p.released || s.dead_lettered < p.dead_lettered ||
        s.dropped < p.dropped || s.expired < p.expired || s.purged < p.purged ||
        s.redriven < p.redriven) {
      went_back_.fetch_add(1);
      note(queues_[i] + " counter went back: " + describe(p) + " -> " + describe(s));
    }
    last_[i] = s;
  }

  void note(const std::string &text) {
    std::lock_guard lock(mutex_);
    if (notes_++ < 5) examples_ += text + "\n";
  }

  corq_engine *engine_;
  const std::vector<std::string> queues_;
  std::vector<corq_queue_stats> last_;  // the sampler thread's only
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> samples_{0}, under_counts_{0}, went_back_{0};
  std::mutex mutex_;
  std::string examples_;
  int notes_ = 0;
  std::thread thread_;
};

/// What the workers did, for the "every transition happened" checks.
struct Activity {
  std::atomic<std::uint64_t> nacks{0}, releases{0}, rejects{0}, abandoned{0}, closes_holding{0};
  std::atomic<std::uint64_t> purge_calls{0}, redrive_calls{0};
};

/// Whether every transition has happened, with the reason it has not (empty when it has).
std::string missing_transition(corq_engine *engine, const Activity &activity) {
  const corq_queue_stats w = stats(engine, work);
  const corq_queue_stats dlq = stats(engine, work_dlq);
  const corq_queue_stats b = stats(engine, bounded);
  if (activity.nacks.load() == 0) return "no nack";
  if (w.nacked <= activity.nacks.load()) return "no lease expired";
  if (activity.releases.load() == 0) return "no release";
  if (activity.rejects.load() == 0) return "no reject";
  if (w.released <= activity.releases.load()) return "no consumer close released a delivery";
  if (w.expired == 0) return "no message expired";
  if (w.dead_lettered == 0) return "no dead letter";
  if (w.purged == 0) return "no purge removed a message";
  if (w.redelivered == 0) return "no redelivery";
  if (dlq.redriven == 0) return "no redrive";
  if (b.dropped == 0) return "no drop_head drop";
  return {};
}

void produce(corq_engine *engine, std::uint32_t index, const std::atomic<bool> &stop) {
  std::mt19937_64 rng(index * 7919 + 1);
  const std::string body(24, 'p');
  for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    // Delayed publishes and requeues pass max_length by design: keep the backlog drainable.
    if (i % 64 == 0) {
      const corq_queue_stats s = stats(engine, work);
      if (s.ready + s.delayed > 4000) std::this_thread::sleep_for(1ms);
    }
    const std::uint64_t dice = rng() % 16;
    std::int64_t delay_ms = 0, ttl_ms = 0;
    if (dice < 2) delay_ms = 1 + static_cast<std::int64_t>(rng() % 3);  // publish -> delayed
    if (dice == 2) ttl_ms = 1;                                          // expires in ready
    if (dice == 3) delay_ms = 3, ttl_ms = 1;                            // expires in delayed
    const corq_publish_options options = publish_options(delay_ms, ttl_ms, 5000);
    const int rc = try_publish(engine, work, body, &options, nullptr);
    ASSERT_TRUE(rc == CORQ_OK || rc == CORQ_EFULL) << corq_strerror(rc) << " " << last_error();
    if (i % 2 == 0) {
      // drop_head makes room by dropping the oldest ready message; it can only report the queue
      // full when all 16 are reserved by publishes still in progress or gone to the consumer.
      const corq_publish_options plain = publish_options(0, 0, 0);
      const int bounded_rc = try_publish(engine, bounded, body, &plain, nullptr);
      ASSERT_TRUE(bounded_rc == CORQ_OK || bounded_rc == CORQ_EFULL) << last_error();
    }
  }
}

/// Settles each delivery one of six ways; closes and reopens itself with deliveries held.
void consume_work(corq_engine *engine, std::uint32_t index, const std::atomic<bool> &stop,
                  Activity &activity) {
  std::mt19937_64 rng(index * 104729 + 3);
  ConsumerPtr consumer = open_consumer(engine, work, 32);
  std::vector<corq_delivery> out(16);
  std::uint64_t rounds = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = corq_consume(consumer.get(), out.data(), out.size(), 2);
    ASSERT_GE(n, 0) << corq_strerror(n) << " " << last_error();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = out[static_cast<std::size_t>(i)].tag;
      const std::uint64_t dice = rng() % 100;
      int rc = CORQ_OK;
      if (dice < 50) {
        rc = corq_ack(consumer.get(), tag);
      } else if (dice < 75) {
        rc = corq_nack(consumer.get(), tag, static_cast<std::int64_t>(rng() % 3) - 1);
        if (rc == CORQ_OK) activity.nacks++;
      } else if (dice < 85) {
        rc = corq_release(consumer.get(), tag);
        if (rc == CORQ_OK) activity.releases++;
      } else if (dice < 90) {
        rc = corq_reject(consumer.get(), tag, "poison");
        if (rc == CORQ_OK) activity.rejects++;
      } else {
        activity.abandoned++;  // left to its 5 ms lease, or to the close below
      }
      ASSERT_TRUE(rc == CORQ_OK || rc == CORQ_ESTATE) << corq_strerror(rc) << " " << last_error();
    }
    if (++rounds % 64 == 0) {  // close holding deliveries: they are released
      activity.closes_holding++;
      consumer = open_consumer(engine, work, 32);
    }
  }
}

/// The bounded queue's consumer: slow, so drop_head has to make room.
void consume_bounded(corq_engine *engine, const std::atomic<bool> &stop) {
  ConsumerPtr consumer = open_consumer(engine, bounded, 4);
  while (!stop.load(std::memory_order_relaxed)) {
    for (const corq_delivery &d : consume(consumer.get(), 4, 2)) {
      ASSERT_EQ(CORQ_OK, corq_ack(consumer.get(), d.tag)) << last_error();
    }
    std::this_thread::sleep_for(2ms);
  }
}

/// Purges and redrives now and then.
void control(corq_engine *engine, const std::atomic<bool> &stop, Activity &activity) {
  std::uint64_t round = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(5ms);
    std::uint64_t n = 0;
    if (++round % 8 == 0) {
      ASSERT_EQ(CORQ_OK, corq_queue_purge(engine, work, &n)) << last_error();
      activity.purge_calls++;
    } else {
      const int rc = corq_redrive(engine, work_dlq, nullptr, 64, &n);
      ASSERT_TRUE(rc == CORQ_OK || rc == CORQ_EFULL) << corq_strerror(rc) << " " << last_error();
      activity.redrive_calls++;
    }
  }
}

/// Acks everything left (the dead-letter queue too) until no queue holds a message.
void drain(corq_engine *engine) {
  const auto deadline = std::chrono::steady_clock::now() + drain_deadline;
  for (const char *queue : {work, work_dlq, bounded}) {
    ConsumerPtr consumer = open_consumer(engine, queue, 64);
    while (held(stats(engine, queue)) != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << queue << " still holds messages: " << describe(stats(engine, queue));
      for (const corq_delivery &d : consume(consumer.get(), 64, 5)) {
        // The work queue's 5 ms lease can run out before the ack on a slow machine (TSan, qemu,
        // load): CORQ_ESTATE, and the message comes back to be drained again.
        const int rc = corq_ack(consumer.get(), d.tag);
        ASSERT_TRUE(rc == CORQ_OK || rc == CORQ_ESTATE) << corq_strerror(rc) << " " << last_error();
      }
    }
  }
}

void run_stress(corq_engine *engine) {
  must_declare(engine, work,
               {{"lease_ms", "5"},
                {"max_attempts", "4"},
                {"retry_delay_ms", "1"},
                {"retry_backoff", "1.0"},
                {"max_length", "4000"},
                {"overflow", "reject"}});
  must_declare(engine, bounded,
               {{"max_length", "16"}, {"overflow", "drop_head"}, {"dead_letter_queue", ""}});
  Activity activity;
  std::atomic<bool> stop{false}, stop_producers{false};
  Sampler sampler(engine, {work, work_dlq, bounded});
  {
    std::vector<std::thread> workers;
    for (std::uint32_t c = 0; c < consumer_count; ++c)
      workers.emplace_back([&, c] { consume_work(engine, c, stop, activity); });
    workers.emplace_back([&] { consume_bounded(engine, stop); });
    workers.emplace_back([&] { control(engine, stop, activity); });
    std::vector<std::thread> producers;
    for (std::uint32_t p = 0; p < producer_count; ++p)
      producers.emplace_back([&, p] { produce(engine, p, stop_producers); });
    const auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(publish_for_min);
    while (!missing_transition(engine, activity).empty() &&
           std::chrono::steady_clock::now() - start < publish_for_max) {
      std::this_thread::sleep_for(10ms);
    }
    stop_producers.store(true);
    for (std::thread &t : producers) t.join();
    std::this_thread::sleep_for(50ms);  // the retries and delays of the last messages
    stop.store(true);
    for (std::thread &t : workers) t.join();
  }
  drain(engine);
  sampler.stop();

  EXPECT_EQ(0u, sampler.under_counts()) << sampler.examples();
  EXPECT_EQ(0u, sampler.went_back()) << sampler.examples();
  EXPECT_GT(sampler.samples(), 300u) << "the sampler hardly ran";
  // Nothing moves now: every message is accounted for exactly.
  for (const char *queue : {work, work_dlq, bounded}) {
    const corq_queue_stats s = stats(engine, queue);
    EXPECT_EQ(s.published, accounted(s)) << queue << ": " << describe(s);
    EXPECT_EQ(0u, held(s)) << queue << ": " << describe(s);
  }
  // Every transition happened (or the test proved nothing).
  EXPECT_EQ("", missing_transition(engine, activity));
  const corq_queue_stats w = stats(engine, work);
  std::printf("stats stress: %llu reads, work %s\n",
              static_cast<unsigned long long>(sampler.samples()), describe(w).c_str());
}

TEST(StatsStress, no_read_under_counts_while_messages_cross_every_transition) {
  EnginePtr engine = open_engine();
  run_stress(engine.get());
}

TEST(StatsStress, no_read_under_counts_on_durable_queues_either) {
  char dir_template[] = "/tmp/corq-stats-stress-XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir_template));
  const std::string dir = dir_template;
  {
    ConfigPtr config = make_config({{"sync", "none"}, {"segment_bytes", "4194304"}});
    corq_engine *raw = nullptr;
    ASSERT_EQ(CORQ_OK, corq_open(dir.c_str(), config.get(), &raw)) << last_error();
    EnginePtr engine(raw);
    run_stress(engine.get());
  }
  std::filesystem::remove_all(dir);
}

// A queue that has seen a TTL and has no consumer is swept for expired messages by every
// scheduler pass. A head still alive stays where it is: a stats read beside the passes sees the one
// ready message as one (taking the head out and back counted it as a move in progress, so a read
// could see two, which failed Semantics.stats_fields_agree_with_operations once on AArch64).
TEST(StatsStress, sweeps_for_expired_messages_do_not_count_a_staying_head_twice) {
  EnginePtr e = open_manual_engine();
  must_declare(e.get(), "q");
  const corq_publish_options long_ttl = publish_options(0, /*ttl_ms=*/3'600'000);
  publish(e.get(), "q", "alive", &long_ttl);
  advance(e.get(), 0);  // the first sweep may move the head once (from the ring to the front)
  std::atomic<bool> done{false};
  std::thread passes([&] {
    for (int i = 0; i < static_cast<int>(scaled(20'000)); ++i) advance(e.get(), 0);
    done = true;
  });
  std::uint64_t reads = 0, wrong = 0;
  while (!done.load()) {
    const corq_queue_stats s = stats(e.get(), "q");
    ++reads;
    if (s.ready != 1) ++wrong;
  }
  passes.join();
  EXPECT_EQ(wrong, 0u) << "of " << reads << " reads";
  EXPECT_EQ(stats(e.get(), "q").ready, 1u);
}

TEST(StatsStress, a_first_version_stats_struct_is_filled_up_to_its_size) {
  EnginePtr engine = open_engine();
  must_declare(engine.get(), work);
  publish(engine.get(), work, "x");
  const std::size_t v1 = offsetof(corq_queue_stats, oldest_ready_age_ms) + sizeof(std::int64_t);
  corq_queue_stats s{};
  std::memset(&s, 0xAB, sizeof s);
  s.struct_size = static_cast<std::uint32_t>(v1);
  ASSERT_EQ(CORQ_OK, corq_queue_stats_get(engine.get(), work, &s)) << last_error();
  EXPECT_EQ(v1, s.struct_size);
  EXPECT_EQ(1u, s.ready);
  EXPECT_EQ(1u, s.published);
  std::uint64_t untouched = 0;
  std::memset(&untouched, 0xAB, sizeof untouched);
  EXPECT_EQ(untouched, s.purged) << "wrote past the caller's struct_size";
  for (const std::size_t size : {v1 - 1, v1 + 8, sizeof(corq_queue_stats) - 1}) {
    s.struct_size = static_cast<std::uint32_t>(size);
    EXPECT_EQ(CORQ_EINVAL, corq_queue_stats_get(engine.get(), work, &s)) << size;
  }
  s.struct_size = static_cast<std::uint32_t>(sizeof(corq_queue_stats) + 16);  // a newer caller
  ASSERT_EQ(CORQ_OK, corq_queue_stats_get(engine.get(), work, &s)) << last_error();
  EXPECT_EQ(sizeof(corq_queue_stats), s.struct_size);
  EXPECT_NE(std::string(corq_last_error()).find("struct_size"), std::string::npos);
}

}  // namespace
