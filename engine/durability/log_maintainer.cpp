// engine/durability/log_maintainer.cpp — see log_maintainer.hpp.
#include "durability/log_maintainer.hpp"

namespace corq::core {

void LogMaintainer::start(std::function<void()> work) {
  work_ = std::move(work);
  thread_ = std::thread([this] { loop(); });
}

void LogMaintainer::request() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !thread_.joinable()) return;
    requested_ = true;
  }
  wake_.notify_one();
}

void LogMaintainer::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t LogMaintainer::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

void LogMaintainer::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
    }
    work_();
    std::lock_guard lock(mutex_);
    ++runs_;
  }
}

}  // namespace corq::core
