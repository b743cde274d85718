// tests/routing/fanout_conservation_test.cpp — conservation of fanned-out copies under concurrency
// (issue #15 "Keep", issue #16): producers publish through a fanout exchange into three queues,
// so every message is one shared body with three copies; a consumer per queue acks, nacks,
// releases, rejects, and abandons deliveries to lease expiry, all at once, on the system clock. At
// the end every copy must have ended exactly once in its queue — acked there, or in that queue's
// dead-letter queue — with its payload intact (a body freed while a copy still reads it shows up
// as a corrupt payload here, and as a use-after-free under ASan), and the exchange's counters must
// agree.
#include "routing/exchange_helpers.hpp"
#include "support/sanitizers.hpp"

#include <atomic>
#include <random>
#include <thread>

namespace corq::test {
namespace {

using namespace std::chrono_literals;

constexpr int queue_count = 3;
constexpr int producer_count = 2;
constexpr std::uint64_t per_producer = under_sanitizer ? 1500 : 6000;
constexpr std::uint64_t total = producer_count * per_producer;
constexpr auto drain_deadline = 120s;

const char *queue_name(int q) {
  static const char *names[] = {"fan-0", "fan-1", "fan-2"};
  return names[q];
}

/// 8 bytes of key, then filler that depends on the key (a reused or freed body would not match).
std::string make_payload(std::uint64_t key, std::mt19937_64 &rng) {
  std::string p(8 + rng() % 300, static_cast<char>('a' + key % 26));
  std::memcpy(p.data(), &key, sizeof key);
  return p;
}

std::optional<std::uint64_t> check_payload(const corq_delivery &d) {
  std::uint64_t key = 0;
  if (d.len < sizeof key) return std::nullopt;
  std::memcpy(&key, d.data, sizeof key);
  if (key >= total) return std::nullopt;
  const char *bytes = static_cast<const char *>(d.data);
  for (std::size_t i = sizeof key; i < d.len; ++i)
    if (bytes[i] != static_cast<char>('a' + key % 26)) return std::nullopt;
  return key;
}

struct Books {
  std::vector<std::atomic<std::uint32_t>> acks =
      std::vector<std::atomic<std::uint32_t>>(total * queue_count);
  std::vector<std::atomic<std::uint32_t>> dead =
      std::vector<std::atomic<std::uint32_t>>(total * queue_count);
  std::atomic<std::uint64_t> bad_payloads{0}, unexpected_codes{0};
};

void work_queue(corq_engine *e, int q, Books &books, const std::atomic<bool> &done,
                std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  ConsumerPtr consumer = open_consumer(e, queue_name(q), 32);
  corq_delivery batch[16];
  while (!done.load()) {
    const int n = corq_consume(consumer.get(), batch, 1 + rng() % 16, 10);
    if (n < 0) {
      books.unexpected_codes++;
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const std::optional<std::uint64_t> key = check_payload(batch[i]);
      if (!key) {
        books.bad_payloads++;
        continue;
      }
      const std::uint64_t how = rng() % 100;
      int rc = CORQ_OK;
      if (how < 55) {
        rc = corq_ack(consumer.get(), batch[i].tag);
        if (rc == CORQ_OK) books.acks[*key * queue_count + q]++;
      } else if (how < 70) {
        rc = corq_nack(consumer.get(), batch[i].tag, 0);
      } else if (how < 85) {
        rc = corq_release(consumer.get(), batch[i].tag);
      } else if (how < 90) {
        rc = corq_reject(consumer.get(), batch[i].tag, "poison");
      }  // else: abandoned to its lease
      if (rc != CORQ_OK && rc != CORQ_ESTATE) books.unexpected_codes++;  // ESTATE: lease lost
    }
    if (rng() % 50 == 0) std::this_thread::sleep_for(30ms);  // past the lease of what it holds
  }
}

TEST(FanoutConservation, every_copy_ends_exactly_once_in_its_queue_with_its_body_intact) {
  EnginePtr engine = open_engine();
  corq_engine *e = engine.get();
  must_declare_exchange(e, "fx", "fanout");
  for (int q = 0; q < queue_count; ++q) {
    must_declare(e, queue_name(q),
                 {{"max_attempts", "3"}, {"lease_ms", "20"}, {"retry_delay_ms", "1"}});
    must_bind(e, "fx", queue_name(q), "");
  }
  Books books;
  std::atomic<bool> done{false};
  std::vector<std::thread> consumers;
  for (int q = 0; q < queue_count; ++q)
    consumers.emplace_back(work_queue, e, q, std::ref(books), std::cref(done), 1000 + q);
  std::vector<std::thread> producers;
  std::atomic<std::uint64_t> publish_failures{0};
  for (int p = 0; p < producer_count; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng(p);
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        const std::uint64_t key = p * per_producer + i;
        const std::string body = make_payload(key, rng);
        std::uint32_t routed = 0;
        if (try_xpublish(e, "fx", "", body, &routed) != CORQ_OK || routed != queue_count)
          publish_failures++;
      }
    });
  }
  for (std::thread &t : producers) t.join();
  // Until every copy has left its queue (acked or dead-lettered).
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::uint64_t left = 0;
    for (int q = 0; q < queue_count; ++q) {
      const corq_queue_stats s = stats(e, queue_name(q));
      left += s.ready + s.in_flight + s.delayed;
    }
    if (left == 0 || std::chrono::steady_clock::now() - start > drain_deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  done.store(true);
  for (std::thread &t : consumers) t.join();
  for (int q = 0; q < queue_count; ++q) {
    ConsumerPtr dlq = open_consumer(e, std::string(queue_name(q)) + ".dlq", 256);
    for (;;) {
      std::vector<corq_delivery> got = consume(dlq.get(), 256, 0);
      if (got.empty()) break;
      for (const corq_delivery &d : got) {
        const std::optional<std::uint64_t> key = check_payload(d);
        if (key) {
          books.dead[*key * queue_count + q]++;
        } else {
          books.bad_payloads++;
        }
      }
      must(corq_ack_upto(dlq.get(), got.back().tag), "ack dead letters");
    }
  }
  EXPECT_EQ(publish_failures.load(), 0u);
  EXPECT_EQ(books.bad_payloads.load(), 0u) << "a copy read a body that was not its message's";
  EXPECT_EQ(books.unexpected_codes.load(), 0u);
  std::uint64_t wrong = 0;
  for (std::uint64_t k = 0; k < total * queue_count; ++k) {
    if (books.acks[k].load() + books.dead[k].load() != 1 && wrong++ < 5) {
      ADD_FAILURE() << "message " << k / queue_count << " in " << queue_name(int(k % queue_count))
                    << ": acked " << books.acks[k].load() << ", dead " << books.dead[k].load();
    }
  }
  EXPECT_EQ(wrong, 0u);
  const corq_exchange_stats x = exchange_stats(e, "fx");
  EXPECT_EQ(x.published, total);
  EXPECT_EQ(x.routed, total * queue_count);
}

}  // namespace
}  // namespace corq::test
