// engine/scheduler/timer_wheel.hpp — the delayed messages of one queue, by due time.
//
// A hierarchical timing wheel (Varghese & Lauck) with millisecond ticks: 4 levels of 256 slots
// cover 256 ms, 65 s, 4.7 h and 49.7 days (the longest delay corq accepts, delay_ms_max). Insert is
// O(1); advancing one tick is O(1) plus the messages that fire or cascade one level down. Entries
// are the messages themselves, linked through Message::next with their time in Message::due_ms, so
// a delayed message costs no allocation.
//
// Owned by the scheduler: not thread-safe.
#pragma once

#include "queue/message.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace corq::core {

class TimerWheel {
 public:
  static constexpr int levels = 4;
  static constexpr int slot_bits = 8;
  static constexpr std::size_t slots = std::size_t{1} << slot_bits;

  /// `now_ms` is the wheel's start time: nothing due before it fires late.
  explicit TimerWheel(std::int64_t now_ms) : now_ms_(now_ms) {
    for (auto &l : wheel_) l.fill(nullptr);
  }
  ~TimerWheel();  // frees the messages still waiting
  TimerWheel(const TimerWheel &) = delete;
  TimerWheel &operator=(const TimerWheel &) = delete;

  /// Adds `message` to fire at `due_ms` (at the next advance if already due). Takes ownership.
  void insert(Message *message, std::int64_t due_ms) noexcept;

  /// Moves time to `to_ms`, calling fire(Message*) for every message due by then (ownership passes
  /// to `fire`). Jumps straight to `to_ms` when the wheel is empty.
  template <class Fire>
  void advance(std::int64_t to_ms, Fire &&fire) {
    while (now_ms_ < to_ms) {
      if (count_ == 0) {
        now_ms_ = to_ms;
        break;
      }
      ++now_ms_;
      cascade();
      Message *due = take(0, slot_index(now_ms_, 0));
      while (due != nullptr) {
        Message *next = due->next;
        --count_;
        fire(due);
        due = next;
      }
    }
  }

  std::size_t size() const noexcept { return count_; }
  std::int64_t now_ms() const noexcept { return now_ms_; }

  /// Removes every message, calling drop(Message*) for each (ownership passes to `drop`).
  template <class Drop>
  void clear(Drop &&drop) {
    for (auto &level : wheel_) {
      for (Message *&head : level) {
        while (head != nullptr) {
          Message *next = head->next;
          drop(head);
          head = next;
        }
      }
    }
    count_ = 0;
  }

 private:
  static std::size_t slot_index(std::int64_t ms, int level) noexcept {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(ms) >> (level * slot_bits)) &
           (slots - 1);
  }
  Message *take(int level, std::size_t slot) noexcept {
    Message *head = wheel_[level][slot];
    wheel_[level][slot] = nullptr;
    return head;
  }
  void place(Message *message) noexcept;
  void cascade() noexcept;

  std::array<std::array<Message *, slots>, levels> wheel_;
  std::int64_t now_ms_;
  std::size_t count_ = 0;
};

}  // namespace corq::core
