// ack_upto with a large window and deliveries settled out of order: it must ack exactly the
// unsettled deliveries with a tag <= the given one, wherever their slots are.
#include <corq/corq.hpp>

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace {

TEST(AckUpto, acks_exactly_the_unsettled_tags_up_to_the_given_one_in_a_large_window) {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("jobs");
  for (int i = 0; i < 10; ++i) engine.publish("jobs", "m");
  corq::Consumer consumer = engine.consumer("jobs", 1000);
  std::array<corq::Delivery, 10> d;
  ASSERT_EQ(consumer.consume(d, 0), 10u);
  consumer.ack(d[3]);
  consumer.release(d[7]);  // back to the queue: not this consumer's any more
  consumer.ack_upto(d[8].tag());
  corq_queue_stats s = engine.stats("jobs");
  EXPECT_EQ(s.acked, 1u + 7u);  // d[3] by ack, then d[0..2], d[4..6], d[8] by ack_upto
  EXPECT_EQ(s.in_flight, 1u);   // d[9]
  EXPECT_EQ(s.ready, 1u);       // d[7], released
  EXPECT_THROW(consumer.ack(d[8]), corq::Error);
  consumer.ack(d[9]);
  // The released message comes back and is settled like any other.
  std::array<corq::Delivery, 4> again;
  ASSERT_EQ(consumer.consume(again, 0), 1u);
  consumer.ack_upto(again[0].tag());
  s = engine.stats("jobs");
  EXPECT_EQ(s.acked, 10u);
  EXPECT_EQ(s.in_flight + s.ready, 0u);
}

}  // namespace
