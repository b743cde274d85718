// engine/scheduler/timer_wheel.cpp — placement and cascading of the hierarchical wheel.
#include "scheduler/timer_wheel.hpp"

namespace corq::core {

TimerWheel::~TimerWheel() {
  clear([](Message *m) { free_message(m); });
}

void TimerWheel::insert(Message *message, std::int64_t due_ms) noexcept {
  // Something already due fires at the next tick (the wheel never fires in the past).
  message->due_ms = due_ms <= now_ms_ ? now_ms_ + 1 : due_ms;
  ++count_;
  place(message);
}

void TimerWheel::place(Message *message) noexcept {
  const auto delta = static_cast<std::uint64_t>(message->due_ms - now_ms_);
  int level = 0;
  // The lowest level whose span (256^(level+1) ms) covers the delay.
  while (level < levels - 1 && delta >= (std::uint64_t{1} << ((level + 1) * slot_bits))) ++level;
  Message *&head = wheel_[level][slot_index(message->due_ms, level)];
  message->next = head;
  head = message;
}

void TimerWheel::cascade() noexcept {
  // At a multiple of 256^level ms, the level's current slot holds messages due within the next
  // 256^level ms: move them down. Highest level first, so they can fall more than one level.
  for (int level = levels - 1; level >= 1; --level) {
    const std::uint64_t span_mask = (std::uint64_t{1} << (level * slot_bits)) - 1;
    if ((static_cast<std::uint64_t>(now_ms_) & span_mask) != 0) continue;
    Message *moving = take(level, slot_index(now_ms_, level));
    while (moving != nullptr) {
      Message *next = moving->next;
      place(moving);
      moving = next;
    }
  }
}

}  // namespace corq::core
