// engine/consumer/consumer_base.hpp — what every corq_consumer handle points at first.
//
// A corq_consumer is either a queue consumer (consumer/consumer.hpp) or a member of a stream's
// consumer group (stream/group.hpp). Both derive from this one-byte base (first, non-virtual), so
// the C API tells them apart with one load and one predictable branch instead of making the queue
// consumer's hot path virtual.
#pragma once

namespace corq::core {

struct ConsumerBase {
  explicit ConsumerBase(bool group) noexcept : is_group_member(group) {}
  const bool is_group_member;
};

// Engine::register_consumer keeps each open handle's serial number (transactions name consumers
// by handle and serial).

}  // namespace corq::core
