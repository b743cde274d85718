// wal/log/durability.cpp — when appended records are on the disk, and waiting for it.
//
// Two marks, both advanced only by the writer thread (or by open and close) under durable_mutex_:
// durable_lsn_, what was written and flushed by its group commit (with sync=none: written to the
// page cache, frames marked unflushed), and flushed_lsn_, what is on the disk in both modes.
// wait_durable waits on the first, flush_through on the second (asking the writer for one flush of
// the segment being written when sync=none). Fail-stop: the first failed write or flush sets
// failure_ for good and wakes every waiter, so waits return it and durable_lsn_ never moves again.
#include "log/log_impl.hpp"

#include <cerrno>

namespace corq::wal::internal {

int LogImpl::wait_durable(Lsn lsn, std::chrono::steady_clock::time_point deadline) {
  if (durable_lsn_.load(std::memory_order_acquire) < lsn) make_urgent(lsn);  // a lazy record?
  return wait_for(durable_lsn_, lsn, deadline);
}

int LogImpl::wait_for(const std::atomic<Lsn> &reached, Lsn lsn,
                      std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(durable_mutex_);
  const bool done = durable_changed_.wait_until(lock, deadline, [&] {
    return reached.load(std::memory_order_acquire) >= lsn || failure() != 0;
  });
  if (reached.load(std::memory_order_acquire) >= lsn) return 0;
  if (failure() != 0) return failure();
  return done ? 0 : -ETIMEDOUT;
}

int LogImpl::flush_through(Lsn lsn, std::chrono::steady_clock::time_point deadline) {
  if (options_.flush) return wait_durable(lsn, deadline);
  if (failure() != 0) return failure();
  if (flushed_lsn_.load(std::memory_order_acquire) >= lsn) return 0;
  {
    std::lock_guard lock(append_mutex_);
    if (stopping_) return -EBADF;
    flush_wanted_ = true;  // wakes the writer at once, lazy batches pending or not
  }
  writer_wake_.notify_all();
  return wait_for(flushed_lsn_, lsn, deadline);
}

// flush=false: flushes the segment being written; everything written so far is then on the disk
// (earlier segments were flushed when they were sealed). Writer thread (or open/close).
int LogImpl::flush_current() {
  if (int rc = current_.file->flush(); rc != 0) return rc;
  segment_has_unflushed_ = false;
  {
    std::lock_guard lock(durable_mutex_);
    flushed_lsn_.store(durable_lsn_.load(std::memory_order_acquire), std::memory_order_release);
  }
  durable_changed_.notify_all();
  return 0;
}

void LogImpl::fail(int error) noexcept {
  int expected = 0;
  failure_.compare_exchange_strong(expected, error < 0 ? error : -EIO, std::memory_order_acq_rel);
  { std::lock_guard lock(durable_mutex_); }
  durable_changed_.notify_all();
  pending_room_.notify_all();
  { std::lock_guard lock(segments_mutex_); }
  spare_answered_.notify_all();  // appenders at the spare gate see the failure
}

}  // namespace corq::wal::internal
