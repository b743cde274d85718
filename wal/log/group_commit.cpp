// wal/log/group_commit.cpp — appending and the writer thread: the log's data path.
//
// Appenders copy their records into the pending buffer under append_mutex_ (one memcpy per record,
// held for that copy only) and get their LSNs at once. The writer thread swaps the pending buffer
// for its own, frames everything in it — whatever the number of batches — and writes it with one
// submission and one flush (write_frame): the group commit. Only then does durable_lsn advance
// (durability.cpp), so confirms go out in LSN order and never before the flush. A group that does
// not fit the segment being written is split at batch boundaries, and the rest goes to the next
// segment (segments.cpp rolls it).
//
// On io_uring the two buffers groups are written from (the writer's and the appenders', which swap)
// are registered, so a group is written with IORING_OP_WRITE_FIXED; re-registered only when one is
// reallocated. Costs per group commit: one write of whole blocks and one flush.
#include "log/log_impl.hpp"
#include "record/crc32c.hpp"

#include <cerrno>
#include <cstring>

namespace corq::wal::internal {

int LogImpl::append(std::span<const Record> records, Lsn &last_lsn, AppendClass append_class,
                    const AppendHook *hook, Urgency urgency) {
  if (records.empty()) return -EINVAL;
  std::size_t bytes = 0;
  for (const Record &r : records) bytes += sizeof(RecordHeader) + r.size();
  if (frame_disk_bytes(bytes) > options_.segment_bytes - block_bytes) return -EMSGSIZE;
  if (append_class == AppendClass::normal && spare_gate_.load(std::memory_order_acquire)) {
    wait_for_spare_answer();  // rare: the spare maker is behind the writer (see "the spare")
  }

  std::unique_lock lock(append_mutex_);
  for (;;) {
    if (const int failed = failure(); failed != 0) return failed;
    if (stopping_) return -ESHUTDOWN;
    if (append_class == AppendClass::normal && space_exhausted_.load(std::memory_order_acquire)) {
      return -ENOSPC;
    }
    if (pending_.size() < pending_bytes_max || pending_batches_.empty()) break;
    pending_room_.wait(lock);  // the writer is behind by pending_bytes_max: wait for it
  }
  for (const Record &r : records) {
    RecordHeader header{};
    header.payload_bytes = static_cast<std::uint32_t>(r.size());
    header.type = r.type;
    pending_.append(&header, sizeof(header));
    pending_.append(r.payload.data(), r.payload.size());
    if (!r.tail.empty()) pending_.append(r.tail.data(), r.tail.size());
  }
  next_lsn_ += records.size();
  last_lsn = next_lsn_ - 1;
  if (hook != nullptr && hook->fn != nullptr)
    hook->fn(hook->context, next_lsn_ - records.size(), last_lsn);
  pending_batches_.push_back(
      {pending_.size(), static_cast<std::uint32_t>(records.size()), last_lsn});
  const bool first_pending = pending_batches_.size() == 1;
  // Lazy batches start the writer's lazy_delay clock (first_pending); an urgent one (or a pending
  // buffer past half its bound, so that appenders never stall behind lazy records) cuts it short.
  const bool urgent = urgency == Urgency::now || pending_.size() >= pending_bytes_max / 2;
  const bool became_urgent = urgent && !urgent_pending_;
  if (urgent) {
    urgent_pending_ = true;
    urgent_through_.store(last_lsn, std::memory_order_release);
  }
  lock.unlock();
  if (first_pending || became_urgent) writer_wake_.notify_one();
  return 0;
}

void LogImpl::make_urgent(Lsn lsn) {
  if (urgent_through_.load(std::memory_order_acquire) >= lsn) return;  // the usual case: no lock
  {
    std::lock_guard lock(append_mutex_);
    if (pending_batches_.empty()) return;  // already taken by the writer: it is being written
    urgent_pending_ = true;
    urgent_through_.store(next_lsn_ - 1, std::memory_order_release);
  }
  writer_wake_.notify_one();
}

void LogImpl::writer_loop() {
  AlignedBuffer group;
  std::vector<BatchMark> batches;
  iovec other{};  // the appenders' buffer as it was at the swap (for registration)
  std::uint64_t other_allocation = 0;
  for (;;) {
    Lsn first_lsn = 0;
    bool want_flush = false;
    {
      std::unique_lock lock(append_mutex_);
      writer_wake_.wait(lock,
                        [&] { return !pending_batches_.empty() || stopping_ || flush_wanted_; });
      if (!urgent_pending_ && !stopping_ && !flush_wanted_) {
        // Only lazy batches: give waited-for work lazy_delay to come and share the group commit.
        writer_wake_.wait_for(lock, lazy_delay,
                              [&] { return urgent_pending_ || stopping_ || flush_wanted_; });
      }
      urgent_pending_ = false;
      // flush=false only: a flush_through caller waits; whatever is pending is written first.
      want_flush = flush_wanted_;
      flush_wanted_ = false;
      if (pending_batches_.empty() && !want_flush) return;  // stopping, everything is written
      if (!pending_batches_.empty()) {
        group.swap(pending_);
        batches.swap(pending_batches_);
        first_lsn = pending_first_lsn_;
        pending_first_lsn_ = next_lsn_;
        pending_.resize(sizeof(FrameHeader));
        other = iovec{pending_.data(), pending_.capacity()};
        other_allocation = pending_.allocation();
      }
    }
    int rc = 0;
    if (!batches.empty()) {
      pending_room_.notify_all();
      if (!registration_off_ && registered_slot(group) < 0) {
        register_group_buffers(group, other, other_allocation);
      }
      rc = write_group(group, batches, first_lsn);
      batches.clear();
    }
    if (rc == 0 && want_flush) rc = flush_current();
    if (rc != 0) {
      fail(rc);
      return;  // fail-stop: nothing is ever written or confirmed again
    }
    if (space_exhausted_.load(std::memory_order_relaxed)) request_spare();
  }
}

int LogImpl::write_group(AlignedBuffer &group, const std::vector<BatchMark> &batches,
                         Lsn first_lsn) {
  std::size_t start = sizeof(FrameHeader);  // records of the next frame begin here in `group`
  std::size_t next = 0;                     // index of the first batch not yet written
  Lsn lsn = first_lsn;
  while (next < batches.size()) {
    // A segment written with a larger segment_bytes (the option changed between runs) may already
    // be past this run's size: it has no room, so roll.
    const std::uint64_t room =
        current_.offset >= options_.segment_bytes ? 0 : options_.segment_bytes - current_.offset;
    std::size_t end = next;  // batches [next, end) fit in this segment
    while (end < batches.size() && frame_disk_bytes(batches[end].end - start) <= room) ++end;
    if (end == next) {
      if (int rc = roll_segment(lsn); rc != 0) return rc;
      continue;
    }
    std::uint32_t records = 0;
    for (std::size_t i = next; i < end; ++i) records += batches[i].records;
    const std::size_t record_bytes = batches[end - 1].end - start;
    const std::size_t disk_bytes = frame_disk_bytes(record_bytes);
    int rc = 0;
    if (next == 0 && end == batches.size()) {
      // The whole group in one frame, written from where the appenders put it (no copy).
      group.pad_to_block();
      rc =
          write_frame(group.data(), record_bytes, records, lsn, disk_bytes, registered_slot(group));
    } else {
      split_frame_.resize(sizeof(FrameHeader));
      split_frame_.append(group.data() + start, record_bytes);
      split_frame_.pad_to_block();
      rc = write_frame(split_frame_.data(), record_bytes, records, lsn, disk_bytes);
    }
    if (rc != 0) return rc;
    lsn = batches[end - 1].last_lsn + 1;
    start = batches[end - 1].end;
    next = end;
  }
  return 0;
}

void LogImpl::register_group_buffers(const AlignedBuffer &group, const iovec &other,
                                     std::uint64_t other_allocation) {
  iovec buffers[2] = {{const_cast<std::byte *>(group.data()), group.capacity()}, other};
  const int count = other.iov_base != nullptr && other.iov_len != 0 ? 2 : 1;
  registered_ = {};
  const int rc = vfs_->register_buffers(buffers, count);
  if (rc == 0) {
    registered_ = {group.allocation(), count == 2 ? other_allocation : 0};
    return;
  }
  // -ENOTSUP: no registration in this back end. Anything else (memory accounting, an old
  // kernel): plain writes; after a few failures, stop trying.
  if (rc == -ENOTSUP || ++registration_failures_ >= 3) registration_off_ = true;
}

int LogImpl::registered_slot(const AlignedBuffer &buffer) const {
  if (buffer.allocation() == 0) return -1;
  for (std::size_t i = 0; i < registered_.size(); ++i) {
    if (registered_[i] == buffer.allocation()) return static_cast<int>(i);
  }
  return -1;
}

int LogImpl::write_frame(std::byte *frame, std::size_t record_bytes, std::uint32_t records,
                         Lsn first_lsn, std::size_t disk_bytes, int registered_slot) {
  FrameHeader header{};
  header.magic = frame_magic;
  header.frame_bytes = static_cast<std::uint32_t>(sizeof(FrameHeader) + record_bytes);
  // sync=none: an earlier frame of this segment is not flushed yet, so a power loss may keep this
  // one and lose that; the mark tells recovery not to take it as evidence past a break.
  header.records = records | (segment_has_unflushed_ ? frame_unflushed : 0u);
  header.segment_id = current_.id;
  header.first_lsn = first_lsn;
  std::memcpy(frame, &header, sizeof(header));
  const std::size_t crc_from = offsetof(FrameHeader, frame_bytes);
  header.crc = crc32c(0, frame + crc_from, header.frame_bytes - crc_from);
  std::memcpy(frame + offsetof(FrameHeader, crc), &header.crc, sizeof(header.crc));
  std::memset(frame + header.frame_bytes, 0, disk_bytes - header.frame_bytes);

  const iovec buffer{frame, disk_bytes};
  const int rc = registered_slot >= 0
                     ? current_.file->write_registered(current_.offset, buffer, registered_slot,
                                                       options_.flush)
                     : current_.file->write(current_.offset, &buffer, 1, options_.flush);
  if (rc != 0) return rc;
  if (!options_.flush) segment_has_unflushed_ = true;
  current_.offset += disk_bytes;
  request_spare_when_due();
  const Lsn last = first_lsn + records - 1;
  {
    std::lock_guard lock(segments_mutex_);
    SegmentInfo &info = segments_.back();
    if (info.first_lsn == 0) info.first_lsn = first_lsn;
    info.last_lsn = last;
    info.bytes = current_.offset - block_bytes;
  }
  {
    // Confirms go out only now, after the flush, and in LSN order (one writer, frames in order).
    std::lock_guard lock(durable_mutex_);
    durable_lsn_.store(last, std::memory_order_release);
  }
  durable_changed_.notify_all();
  if (options_.on_durable) options_.on_durable(last);
  return 0;
}

}  // namespace corq::wal::internal
