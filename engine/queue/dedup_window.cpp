// engine/queue/dedup_window.cpp
#include "queue/dedup_window.hpp"

#include <algorithm>

namespace corq::core {

void DedupWindow::prune(std::int64_t now_ms) {
  while (!order_.empty() && order_.front().first + window_ms_ <= now_ms) {
    auto it = ids_.find(order_.front().second);
    // Only erase if the map entry is the one this FIFO entry recorded (not a later re-record).
    if (it != ids_.end() && it->second.recorded_ms == order_.front().first) ids_.erase(it);
    order_.pop_front();
  }
}

bool DedupWindow::seen_or_record(std::string_view dedup_id, std::uint64_t message_id,
                                 std::int64_t now_ms, std::uint64_t &original) {
  std::lock_guard lock(mutex_);
  prune(now_ms);
  std::string key(dedup_id);
  auto [it, inserted] = ids_.try_emplace(key, Entry{message_id, now_ms});
  if (!inserted) {
    original = it->second.message_id;
    return true;
  }
  order_.emplace_back(now_ms, std::move(key));
  return false;
}

void DedupWindow::forget(std::string_view dedup_id, std::uint64_t message_id) {
  std::lock_guard lock(mutex_);
  auto it = ids_.find(std::string(dedup_id));
  if (it != ids_.end() && it->second.message_id == message_id) ids_.erase(it);
}

void DedupWindow::reassign(std::string_view dedup_id, std::uint64_t from, std::uint64_t to) {
  std::lock_guard lock(mutex_);
  auto it = ids_.find(std::string(dedup_id));
  if (it != ids_.end() && it->second.message_id == from) it->second.message_id = to;
}

void DedupWindow::restore(std::string_view dedup_id, std::uint64_t message_id,
                          std::int64_t recorded_ms, std::int64_t now_ms) {
  if (recorded_ms + window_ms_ <= now_ms) return;
  std::lock_guard lock(mutex_);
  std::string key(dedup_id);
  ids_.insert_or_assign(key, Entry{message_id, recorded_ms});
  order_.emplace_back(recorded_ms, std::move(key));  // sorted by restored()
}

void DedupWindow::restored() {
  std::lock_guard lock(mutex_);
  std::stable_sort(order_.begin(), order_.end(),
                   [](const auto &a, const auto &b) { return a.first < b.first; });
}

}  // namespace corq::core
