// engine/queue/dedup_window.hpp — remembers recent dedup ids of one queue for dedup_window_ms.
//
// Only queues with dedup_window_ms > 0 and publishes that carry a dedup_id come here, so a mutex is
// acceptable: it is not on the path of ordinary publishes. Memory is bounded by the window: ids
// older than the window are pruned on every call (oldest first, from a FIFO of insertion times).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace corq::core {

class DedupWindow {
 public:
  explicit DedupWindow(std::int64_t window_ms) : window_ms_(window_ms) {}

  /// If `dedup_id` was recorded within the window, returns true and its message id in `original`.
  /// Otherwise records it for `message_id` and returns false.
  bool seen_or_record(std::string_view dedup_id, std::uint64_t message_id, std::int64_t now_ms,
                      std::uint64_t &original);

  /// Forgets `dedup_id` if it is still recorded for `message_id` (a publish that failed after
  /// recording, so a retry by the caller is not swallowed).
  void forget(std::string_view dedup_id, std::uint64_t message_id);

  /// Changes what `dedup_id` is recorded for, if it is recorded for `from` (streams record a
  /// placeholder first and the offset once the append has one).
  void reassign(std::string_view dedup_id, std::uint64_t from, std::uint64_t to);

  /// Recovery: records `dedup_id` as seen at `recorded_ms` (ignored if already outside the window).
  void restore(std::string_view dedup_id, std::uint64_t message_id, std::int64_t recorded_ms,
               std::int64_t now_ms);
  /// Recovery is done: puts the restored ids in time order (restore appends them as they come).
  void restored();
  /// Calls fn(dedup_id, message_id, recorded_ms) for every id still in the window (checkpoints).
  template <class Fn>
  void for_each(std::int64_t now_ms, Fn &&fn) {
    std::lock_guard lock(mutex_);
    prune(now_ms);
    for (const auto &[key, entry] : ids_)
      fn(std::string_view(key), entry.message_id, entry.recorded_ms);
  }

 private:
  struct Entry {
    std::uint64_t message_id;
    std::int64_t recorded_ms;
  };
  void prune(std::int64_t now_ms);

  const std::int64_t window_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> ids_;
  std::deque<std::pair<std::int64_t, std::string>> order_;  // (recorded_ms, id), oldest first
};

}  // namespace corq::core
