// engine/stream/stream.cpp — partition choice, dedup and retention of a stream.
#include "stream/stream.hpp"

#include "stream/group.hpp"
#include "stream/murmur2.hpp"

#include <algorithm>
#include <limits>

namespace corq::core::stream {

std::atomic<void (*)(void *)> testing_after_release_floor{nullptr};
std::atomic<void *> testing_after_release_floor_arg{nullptr};

namespace {
/// What a dedup id is recorded for while its append is under way (the dedup mutex is held).
constexpr std::uint64_t pending = std::numeric_limits<std::uint64_t>::max();
}  // namespace

Stream::Stream(std::string name, const StreamOptions &options)
    : name_(std::move(name)),
      declared_(options),
      retention_ms_(options.retention_ms),
      retention_bytes_(options.retention_bytes),
      retention_records_(options.retention_records) {
  partitions_.reserve(options.partitions);
  for (std::uint32_t i = 0; i < options.partitions; ++i)
    partitions_.push_back(std::make_unique<Partition>(i));
  if (options.dedup_window_ms > 0) dedup_ = std::make_unique<DedupWindow>(options.dedup_window_ms);
}

StreamOptions Stream::options() const {
  StreamOptions o = declared_;
  o.retention_ms = retention_ms_.load(std::memory_order_relaxed);
  o.retention_bytes = retention_bytes_.load(std::memory_order_relaxed);
  o.retention_records = retention_records_.load(std::memory_order_relaxed);
  o.update = false;
  return o;
}

Limits Stream::limits() const noexcept {
  return {retention_ms_.load(std::memory_order_relaxed),
          retention_bytes_.load(std::memory_order_relaxed),
          retention_records_.load(std::memory_order_relaxed), declared_.discard};
}

void Stream::update_retention(const StreamOptions &options) noexcept {
  retention_ms_.store(options.retention_ms, std::memory_order_relaxed);
  retention_bytes_.store(options.retention_bytes, std::memory_order_relaxed);
  retention_records_.store(options.retention_records, std::memory_order_relaxed);
}

std::uint32_t Stream::pick_partition(const void *key, std::size_t key_len) noexcept {
  const std::uint32_t n = partition_count();
  if (n == 1) return 0;
  if (key != nullptr) return partition_for_key(key, key_len, n);
  return round_robin_.fetch_add(1, std::memory_order_relaxed) % n;
}

int Stream::append_to_partition(std::int64_t fixed_partition, const void *key, std::size_t key_len,
                                const corq_message *messages, std::size_t count,
                                std::int64_t now_ms, bool unlimited, const TxnMark *mark,
                                std::uint32_t &partition, std::uint64_t &offset, wal::Lsn &lsn,
                                std::string &error) {
  constexpr std::size_t inline_max = 64;
  AppendInput inline_inputs[inline_max];
  std::vector<AppendInput> spilled(count > inline_max ? count : 0);
  AppendInput *inputs = count > inline_max ? spilled.data() : inline_inputs;
  for (std::size_t i = 0; i < count; ++i) inputs[i] = {key, key_len, &messages[i]};
  const corq_message &message = messages[0];
  const std::string_view dedup_id =
      message.dedup_id != nullptr && dedup_ != nullptr ? message.dedup_id : std::string_view{};
  lsn = 0;
  auto append_to = [&](std::uint32_t p) {
    std::uint64_t deleted = 0;
    Limits in_force = limits();
    // A committed transaction's records were admitted at its commit: they go in (discard=old
    // still makes room; the size limits catch up with the next append or pass).
    if (unlimited) in_force.retention_bytes = in_force.retention_records = 0;
    const int rc = partitions_[p]->append(inputs, count, now_ms, in_force, dedup_id, offset,
                                          deleted, lsn, error, mark);
    if (deleted != 0) note_deleted(deleted);
    if (rc == CORQ_OK) {
      partition = p;
      appended.fetch_add(count, std::memory_order_relaxed);
      // Group members waiting for records (a read-modify-write: it orders the append before the
      // look at the waiters, see sync/event_count.hpp).
      activity_.notify_all();
    }
    return rc;
  };
  auto target = [&] {
    return fixed_partition >= 0 ? static_cast<std::uint32_t>(fixed_partition)
                                : pick_partition(key, key_len);
  };
  if (dedup_id.empty()) return append_to(target());

  std::unique_lock lock(dedup_mutex_);
  std::uint64_t original = 0;
  if (dedup_->seen_or_record(message.dedup_id, pending, now_ms, original)) {
    partition = static_cast<std::uint32_t>(original >> 52);
    offset = original & ((std::uint64_t{1} << 52) - 1);
    deduplicated.fetch_add(1, std::memory_order_relaxed);
    lsn = 0;
    return CORQ_OK;
  }
  const int rc = append_to(target());
  if (rc != CORQ_OK) {
    dedup_->forget(message.dedup_id, pending);  // a retry of the refused append is not swallowed
  } else {
    dedup_->reassign(message.dedup_id, pending, dedup_value(partition, offset));
  }
  return rc;
}

int Stream::append(const void *key, std::size_t key_len, const corq_message *messages,
                   std::size_t count, std::int64_t now_ms, bool nowait, std::int32_t timeout_ms,
                   std::uint32_t &partition, std::uint64_t &offset, std::string &error) {
  wal::Lsn lsn = 0;
  const int rc = append_to_partition(-1, key, key_len, messages, count, now_ms, false, nullptr,
                                     partition, offset, lsn, error);
  // A durable stream with sync=always: the batch counts once durable (waited for unless nowait;
  // either way it becomes visible when the log's writer says so, or here if that came first).
  if (rc != CORQ_OK || lsn == 0 || !log_->flushes()) return rc;
  const auto deadline =
      nowait           ? std::chrono::steady_clock::time_point::min()
      : timeout_ms < 0 ? std::chrono::steady_clock::time_point::max()
                       : std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  return confirm_committed(partition, nowait ? 0 : lsn, deadline, error);
}

int Stream::append_committed(std::uint32_t partition, const void *key, std::size_t key_len,
                             const corq_message &message, std::int64_t now_ms, const TxnMark &mark,
                             wal::Lsn &lsn, std::string &error) {
  std::uint32_t chosen = 0;
  std::uint64_t offset = 0;
  return append_to_partition(partition, key, key_len, &message, 1, now_ms, true,
                             log_ != nullptr ? &mark : nullptr, chosen, offset, lsn, error);
}

int Stream::confirm_committed(std::uint32_t partition, wal::Lsn lsn,
                              std::chrono::steady_clock::time_point deadline, std::string &error) {
  if (log_ == nullptr) return CORQ_OK;
  if (lsn != 0) {
    if (const int rc = log_->wait(lsn, deadline, error); rc != CORQ_OK) return rc;
  }
  if (!log_->flushes()) return CORQ_OK;  // sync=none: visible at once
  Partition &p = *partitions_[partition];
  if (p.advance_durable(log_->durable_lsn())) {
    activity_.notify_all();
    if (const std::uint64_t deleted = p.enforce_sizes(limits()); deleted != 0)
      note_deleted(deleted);
  }
  return CORQ_OK;
}

// ---- durable streams
// -----------------------------------------------------------------------------

int Stream::open_log(const StreamLogConfig &config, std::uint32_t sid, std::string &error) {
  sid_ = sid;
  for (auto &p : partitions_) p->attach_cache(config.resident, config.cache_bytes);
  if (const int rc = StreamLog::open(config, *this, log_, error); rc != CORQ_OK) return rc;
  if (dedup_ != nullptr) dedup_->restored();
  for (auto &p : partitions_) p->attach_log(log_.get(), config.flush);
  return CORQ_OK;
}

std::uint64_t Stream::evict(wal::Lsn durable_lsn) {
  std::uint64_t freed = 0;
  for (auto &p : partitions_) freed += p->evict(durable_lsn);
  return freed;
}

std::uint64_t Stream::resident_bytes() const noexcept {
  std::uint64_t bytes = 0;
  for (const auto &p : partitions_) bytes += p->resident_bytes();
  return bytes;
}

void Stream::on_durable(wal::Lsn lsn) {
  bool moved = false;
  const Limits l = limits();
  for (auto &p : partitions_) {
    if (!p->advance_durable(lsn)) continue;
    moved = true;
    // The size limits count durable records only: the batch that became durable counts now.
    if (const std::uint64_t deleted = p->enforce_sizes(l); deleted != 0) note_deleted(deleted);
  }
  if (moved) activity_.notify_all();
}

void Stream::restore_dedup(std::string_view dedup_id, std::uint32_t partition, std::uint64_t offset,
                           std::int64_t timestamp_ms) {
  if (dedup_ == nullptr) return;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  dedup_->restore(dedup_id, dedup_value(partition, offset), timestamp_ms, now);
}

void Stream::note_deleted(std::uint64_t deleted) noexcept {
  deleted_by_retention.fetch_add(deleted, std::memory_order_relaxed);
  if (log_ != nullptr && unreleased_deletions_.fetch_add(deleted, std::memory_order_acq_rel) == 0)
    release_poke_.store(true, std::memory_order_release);
}

std::int64_t Stream::maybe_release(std::int64_t now_ms, std::string &error, int &rc) {
  rc = 0;
  if (log_ == nullptr || unreleased_deletions_.load(std::memory_order_acquire) == 0) return 0;
  if (now_ms - last_release_ms_ < release_interval_ms)
    return last_release_ms_ + release_interval_ms;
  last_release_ms_ = now_ms;
  unreleased_deletions_.store(0, std::memory_order_release);  // later deletions poke again
  rc = release_segments(error);
  return 0;
}

int Stream::release_segments(std::string &error) {
  if (log_ == nullptr) return 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  ranges.reserve(partitions_.size());
  // The floor first, then the ranges: a record appended in between has a higher LSN than any
  // floor taken before it, and the ranges then include it. The log's end goes into the floor
  // too, and is read before the partitions: read after them, it would cover a batch appended to
  // a partition seen empty, and release that batch's segments while the marks record written
  // below names its records as retained (a SIGKILL test found this: the reopen then refused the
  // stream as corrupt).
  wal::Lsn floor = log_->last_appended_lsn() + 1;
  for (auto &p : partitions_) floor = std::min(floor, p->release_floor());
  if (testing_after_release_floor.load(std::memory_order_relaxed) != nullptr) {
    void (*hook)(void *) = testing_after_release_floor.exchange(nullptr);
    if (hook != nullptr) hook(testing_after_release_floor_arg.load());
  }
  for (auto &p : partitions_) ranges.push_back(p->retained_range());
  return log_->release(ranges, floor, error);
}

int Stream::sync(std::chrono::steady_clock::time_point deadline, std::string &error) {
  if (log_ == nullptr) return CORQ_OK;
  if (const int rc = log_->sync(deadline, error); rc != CORQ_OK) return rc;
  // Readers see what corq_sync made durable when it returns: the log's writer wakes the syncer
  // before it runs on_durable, so a NOWAIT append then corq_sync could find its records not yet
  // readable (seen: 1 of 40, the rest ~20 ms later). Advance the partitions here too.
  if (log_->flushes()) on_durable(log_->durable_lsn());
  return CORQ_OK;
}

void Stream::close_log() noexcept {
  if (log_ != nullptr) log_->close();
}

std::int64_t Stream::enforce_retention(std::int64_t now_ms) {
  const Limits l = limits();
  std::int64_t next = 0;
  for (auto &p : partitions_) {
    std::int64_t due = 0;
    const std::uint64_t deleted = p->enforce_retention(now_ms, l, due);
    if (deleted != 0) note_deleted(deleted);
    if (due != 0) next = next == 0 ? due : std::min(next, due);
  }
  return next;
}

void Stream::mark_deleted() noexcept {
  deleted_.store(true, std::memory_order_seq_cst);
  wake_readers();
  drop_groups();
}

void Stream::drop_groups() noexcept {
  std::map<std::string, std::shared_ptr<Group>> gone;
  {
    std::lock_guard lock(groups_mutex_);
    gone.swap(groups_);
  }
  // Members still open keep their group (and through it this stream) until they close.
  for (auto &[name, group] : gone) group->mark_deleted();
}

void Stream::wake_readers() noexcept {
  for (auto &p : partitions_) p->appended().notify_all();
  activity_.notify_all();
}

int Stream::open_group(Engine &engine, const std::string &name, const GroupOptions &options,
                       const std::string &dead_letter_name, std::shared_ptr<Group> &out,
                       bool &created, std::string &error) {
  std::lock_guard lock(groups_mutex_);
  created = false;
  if (auto it = groups_.find(name); it != groups_.end()) {
    if (!it->second->options().same_group(options)) {
      error = "group '" + name + "' of stream '" + name_ +
              "' exists with other options (its first member's define it; only prefetch may "
              "differ)";
      return CORQ_EEXIST;
    }
    out = it->second;
    return CORQ_OK;
  }
  auto group = std::make_shared<Group>(engine, shared_from_this(), name, options, dead_letter_name);
  // A durable stream's group is durable: its definition and starting offsets are logged first.
  if (const int rc = group->log_declaration(error); rc != CORQ_OK) return rc;
  out = std::move(group);
  groups_.emplace(name, out);
  created = true;
  return CORQ_OK;
}

void Stream::adopt_group(Engine &engine, const std::string &name, const GroupOptions &options,
                         const std::string &dead_letter_name,
                         const std::map<std::uint32_t, RecoveredGroupPartition> &state) {
  auto group = std::make_shared<Group>(engine, shared_from_this(), name, options, dead_letter_name);
  group->restore(state);
  std::lock_guard lock(groups_mutex_);
  groups_.insert_or_assign(name, std::move(group));
}

std::shared_ptr<Group> Stream::find_group(const std::string &name) {
  std::lock_guard lock(groups_mutex_);
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : it->second;
}

int Stream::delete_group(const std::string &name, std::string &error) {
  std::shared_ptr<Group> gone;
  {
    std::lock_guard lock(groups_mutex_);
    auto it = groups_.find(name);
    if (it == groups_.end()) {
      error = "no group named '" + name + "' on stream '" + name_ + "'";
      return CORQ_ENOENT;
    }
    if (const int rc = it->second->log_deletion(error); rc != CORQ_OK) return rc;
    gone = std::move(it->second);
    groups_.erase(it);
  }
  gone->mark_deleted();
  return CORQ_OK;
}

std::vector<std::shared_ptr<Group>> Stream::groups_snapshot() {
  std::lock_guard lock(groups_mutex_);
  std::vector<std::shared_ptr<Group>> out;
  for (const auto &[name, g] : groups_) out.push_back(g);
  return out;
}

}  // namespace corq::core::stream
