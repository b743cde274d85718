// engine/sync/event_count.cpp — the futex half of EventCount (see event_count.hpp).
#include "sync/event_count.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace corq::sync {
namespace {

long futex(std::atomic<std::uint32_t> *word, int op, std::uint32_t value, const timespec *timeout) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), op | FUTEX_PRIVATE_FLAG,
                   value, timeout, nullptr, 0);
}

}  // namespace

bool EventCount::wait(std::uint32_t epoch, Clock::time_point deadline) noexcept {
  bool in_time = true;
  if (deadline == Clock::time_point::max()) {
    futex(&epoch_, FUTEX_WAIT, epoch, nullptr);
  } else {
    const auto now = Clock::now();
    if (now >= deadline) {
      in_time = false;
    } else {
      const auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
      const timespec relative{static_cast<time_t>(left / 1'000'000'000),
                              static_cast<long>(left % 1'000'000'000)};
      // EAGAIN (epoch already moved), EINTR and ETIMEDOUT all mean "re-check"; the caller loops.
      futex(&epoch_, FUTEX_WAIT, epoch, &relative);
    }
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return in_time;
}

void EventCount::wake_all() noexcept { futex(&epoch_, FUTEX_WAKE, INT_MAX, nullptr); }

void EventCount::yield_core() noexcept { ::sched_yield(); }

Clock::time_point deadline_after_ms(std::int64_t timeout_ms) noexcept {
  if (timeout_ms < 0) return Clock::time_point::max();
  const auto now = Clock::now();
  // Saturate instead of overflowing for absurdly large timeouts.
  const auto headroom =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  if (timeout_ms >= headroom.count()) {
    return Clock::time_point::max();
  }
  return now + std::chrono::milliseconds(timeout_ms);
}

}  // namespace corq::sync
