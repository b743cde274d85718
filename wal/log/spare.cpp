// wal/log/spare.cpp — the spare segment: at most one preallocated file, ready to become the next
// segment, made by its own thread once the segment being written is half full.
//
// The writer asks for the spare when the segment it writes passes the spare mark (half full): one
// lock and a notify, once per segment. The spare maker thread then creates "spare-N", preallocates
// it (fallocate: it cannot hit ENOSPC later) and syncs the directory, none of it on the writer's
// path. A roll renames the spare into place; if the spare is not ready, create_segment makes the
// segment itself. Released and compacted-away segment files become the spare when there is none
// (or replace a fresh one: their blocks are written, so the next segment's writes need no extent
// conversion inside fdatasync); every other file no longer needed is removed. So a directory holds
// the segment being written, at most one spare, and the sealed segments live data still needs.
//
// The spare gate: past the mark, normal appends may go on only once the spare exists or is known
// to be impossible. If the spare maker has not answered when the writer passes the mark (it is
// asked at that moment, so it usually has not: its answer is an open and a fallocate away), new
// normal appends wait for the answer; the writer does not, nor do settlements. Once per segment,
// for well under a millisecond on a real disk; what it buys is a reserve whatever the timing.
//
// Out of space: when the spare cannot be made, normal appends get -ENOSPC (space_exhausted_) while
// the rest of the segment being written — half of it, less what was already pending — takes
// settlements (reserved appends), which let checkpoints release segments. Each group commit
// written while out of space, and each release, asks again. If the segment fills before space
// frees up, the roll cannot make the next segment: fail-stop, as when even the reserve is gone.
#include "log/log_impl.hpp"

#include <cerrno>
#include <utility>

namespace corq::wal::internal {

std::string LogImpl::next_spare_name() {
  return std::string(spare_prefix) +
         std::to_string(spare_serial_.fetch_add(1, std::memory_order_relaxed) + 1);
}

void LogImpl::request_spare() {
  {
    std::lock_guard lock(segments_mutex_);
    if (!spare_.empty() || spare_stopping_) return;
    spare_wanted_ = true;
  }
  spare_wake_.notify_one();
}

void LogImpl::request_spare_when_due() {
  const std::uint64_t mark = options_.segment_bytes / spare_at_denominator * spare_at_numerator;
  if (spare_requested_ || current_.offset < mark) return;
  spare_requested_ = true;
  {
    std::lock_guard lock(segments_mutex_);
    if (!spare_.empty() || spare_stopping_) return;
    spare_wanted_ = true;
    // Out of space already: normal appends are refused anyway (space_exhausted_).
    if (!space_exhausted_.load(std::memory_order_acquire)) {
      spare_gate_.store(true, std::memory_order_release);
    }
  }
  spare_wake_.notify_one();
}

void LogImpl::wait_for_spare_answer() {
  std::unique_lock lock(segments_mutex_);
  spare_answered_.wait(
      lock, [&] { return !spare_gate_.load(std::memory_order_acquire) || failure() != 0; });
}

void LogImpl::open_spare_gate_locked() {
  spare_gate_.store(false, std::memory_order_release);
  spare_answered_.notify_all();
}

void LogImpl::spare_maker_loop() {
  for (;;) {
    {
      std::unique_lock lock(segments_mutex_);
      spare_wake_.wait(lock, [&] { return spare_wanted_ || spare_stopping_; });
      if (spare_stopping_) return;
      spare_wanted_ = false;
      if (!spare_.empty()) {  // a recycled segment became the spare meanwhile
        open_spare_gate_locked();
        continue;
      }
    }
    make_spare();
  }
}

void LogImpl::make_spare() {
  const std::string name = next_spare_name();
  std::unique_ptr<VfsFile> file;
  OpenFlags flags;
  flags.create = true;  // no O_DIRECT: nothing is written through this handle
  int rc = vfs_->open(path_of(name), flags, file);
  if (rc == 0) rc = file->allocate(options_.segment_bytes);
  file.reset();
  if (rc != 0) {
    vfs_->remove(path_of(name));
    std::lock_guard lock(segments_mutex_);
    // Out of space: publishers stop (normal appends get -ENOSPC) while what is left of the segment
    // being written takes settlements, which let segments be released.
    space_exhausted_.store(spare_.empty(), std::memory_order_release);
    open_spare_gate_locked();
    return;
  }
  adopt_spare(name, false);  // answers the gate first: the sync below is for the spare's name only
  vfs_->sync_dir(options_.dir);
}

void LogImpl::adopt_spare(const std::string &name, bool written) {
  std::string surplus;
  {
    std::lock_guard lock(segments_mutex_);
    if (spare_.empty() || (written && !spare_written_)) {
      surplus = std::exchange(spare_, name);
      spare_written_ = written;
    } else {
      surplus = name;
    }
    space_exhausted_.store(false, std::memory_order_release);
    open_spare_gate_locked();
  }
  if (!surplus.empty()) vfs_->remove(path_of(surplus));
}

void LogImpl::stop_spare_maker() {
  {
    std::lock_guard lock(segments_mutex_);
    spare_stopping_ = true;
    open_spare_gate_locked();
  }
  spare_wake_.notify_all();
  if (spare_maker_.joinable()) spare_maker_.join();  // a spare being made is finished first
}

}  // namespace corq::wal::internal
