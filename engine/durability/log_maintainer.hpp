// engine/durability/log_maintainer.hpp — the thread that keeps a durable engine's log short:
// checkpoints (which wait for a flush) and compaction (which reads and rewrites sealed segments,
// up to a few times segment_bytes) run here, not on the scheduler thread, so timers, delays and
// lease expiry never wait behind them.
//
// The scheduler's pass decides *when* (Engine::maintain_log: every checkpoint_interval_ms of
// engine time, so the manual clock drives it too) and calls request(); the work itself runs on
// this thread. Requests while a run is under way coalesce into one more run. One run at a time,
// so checkpoints' segment releases and compaction never overlap (wal::Log::compact's contract).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace corq::core {

class LogMaintainer {
 public:
  LogMaintainer() = default;
  ~LogMaintainer() { stop(); }
  LogMaintainer(const LogMaintainer &) = delete;
  LogMaintainer &operator=(const LogMaintainer &) = delete;

  /// Starts the thread; `work` runs on it once per request (coalesced).
  void start(std::function<void()> work);
  /// Asks for one run soon. Never blocks on the work. No-op before start() or after stop().
  void request();
  /// Waits for a run under way to finish, then ends the thread. Idempotent.
  void stop() noexcept;
  /// Runs requested so far that have finished (tests wait on it).
  std::uint64_t runs() const;

 private:
  void loop();

  std::function<void()> work_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::uint64_t runs_ = 0;
  std::thread thread_;
};

}  // namespace corq::core
