// A queue keeps each publisher's order even when a consumer is stopped in the middle of a pop.
//
// The ready rings are Vyukov rings: a consumer claims ring positions, then moves the messages out
// and frees their slots one by one. A consumer preempted between the claim and the frees keeps its
// slots, while the others go on; one lap later a publisher finds its slot still taken although the
// ring holds far fewer messages than its capacity, and admission (which counts messages, not ring
// positions) said there was room. The queue used to put such a message on its returned list, from
// which it could be delivered after messages published later by the same thread: FIFO broken (the
// priority concurrency test saw it about once in a hundred runs on a loaded machine). Now the
// publisher waits for the slot (the stalled pop takes no lock, it only needs the CPU).
//
// A ring of 4 positions (max_length 4) makes a lap 4 messages long, so a consumer preempted for a
// moment is enough; three consumers and three publishers on two cores make that happen often.
#include "engine/helpers.hpp"
#include "support/sanitizers.hpp"

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

namespace {

using namespace corq::test;

void publishers_keep_their_order(const Options &queue_options, int levels) {
  EnginePtr e = open_engine();
  must_declare(e.get(), "q", queue_options);
  const int per_producer = static_cast<int>(scaled(30'000));
  constexpr int producers = 3, consumers = 3;  // more threads than cores: preemptions
  std::atomic<int> producers_done{0};
  std::atomic<int> out_of_order{0}, failed_calls{0};
  std::atomic<std::uint64_t> delivered{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        corq_publish_options o = publish_options();
        o.priority = levels > 1 ? (i / 3 + p) % levels : 0;
        const std::string body =
            std::to_string(p) + ":" + std::to_string(o.priority) + ":" + std::to_string(i);
        if (try_publish(e.get(), "q", body, &o) != CORQ_OK) failed_calls.fetch_add(1);
      }
      producers_done.fetch_add(1);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      ConsumerPtr consumer = open_consumer(e.get(), "q", 8);
      std::map<std::pair<int, int>, int> last;  // (producer, priority) -> last sequence seen here
      for (;;) {
        std::vector<corq_delivery> got = consume(consumer.get(), 8, 5);
        if (got.empty()) {
          if (producers_done.load() == producers && stats(e.get(), "q").ready == 0) break;
          continue;
        }
        for (const corq_delivery &d : got) {
          int p = 0, level = 0, i = 0;
          if (std::sscanf(payload(d).c_str(), "%d:%d:%d", &p, &level, &i) != 3) {
            failed_calls.fetch_add(1);
            continue;
          }
          auto [it, fresh] = last.try_emplace({p, level}, i);
          if (!fresh) {
            if (i <= it->second) out_of_order.fetch_add(1);
            it->second = i;
          }
        }
        delivered.fetch_add(got.size());
        if (corq_ack_upto(consumer.get(), got.back().tag) != CORQ_OK) failed_calls.fetch_add(1);
      }
    });
  }
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(failed_calls.load(), 0);
  EXPECT_EQ(out_of_order.load(), 0) << "a consumer got a message after a later one of the same "
                                       "publisher (and priority)";
  EXPECT_EQ(delivered.load(), static_cast<std::uint64_t>(producers) * per_producer);
}

TEST(RingLapFifo, a_consumer_stopped_mid_pop_does_not_reorder_a_plain_queue) {
  publishers_keep_their_order({{"max_length", "4"}}, 1);
}

TEST(RingLapFifo, a_consumer_stopped_mid_pop_does_not_reorder_a_priority_level) {
  publishers_keep_their_order({{"max_length", "4"}, {"max_priority", "3"}}, 4);
}

}  // namespace
