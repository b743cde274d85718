// engine/stream/group.cpp — consumer groups: choosing what a member gets, settling, retries,
// dead letters, leases, rebalancing, seek and stats.
#include "stream/group.hpp"

#include "capi/error.hpp"
#include "engine/engine.hpp"
#include "stream/reader.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace corq::core::stream {

namespace {

/// key_ordered: how far the cursor may run ahead of a busy key, in records set aside per prefetch
/// slot of the group's members, before it stops (memory stays bounded behind a poison key).
constexpr std::size_t waiting_per_prefetch = 8;

int not_out(const char *operation, std::uint64_t tag) {
  return capi::fail(CORQ_ESTATE, std::string(operation) + ": tag " + std::to_string(tag) +
                                     " is not an unsettled delivery of this member");
}

}  // namespace

// ---- the group
// -----------------------------------------------------------------------------------

Group::Group(Engine &engine, std::shared_ptr<Stream> stream, std::string name, GroupOptions options,
             std::string dead_letter_name)
    : engine_(engine),
      stream_(std::move(stream)),
      name_(std::move(name)),
      options_(std::move(options)),
      dead_letter_name_(std::move(dead_letter_name)),
      partitions_(stream_->partition_count()),
      journal_(stream_->sid() != 0 ? engine.journal() : nullptr) {
  for (std::uint32_t p = 0; p < partitions_.size(); ++p) {
    std::uint64_t offset = 0, skipped = 0;
    std::string ignored;  // the start was checked when the options were parsed
    resolve_start(options_.start, stream_->partition(p), offset, skipped, ignored);
    partitions_[p].cursor = partitions_[p].committed = offset;
  }
}

void Group::wake_members() noexcept { stream_->activity().notify_all(); }

// ---- durability
// ----------------------------------------------------------------------------------

void Group::log_progress_locked(records::Progress kind, std::uint32_t partition, std::uint64_t a,
                                std::uint64_t b) {
  if (journal_ == nullptr) return;
  progress_scratch_.clear();
  // A settle names its generation: recovery may meet it before the checkpoint copy it follows
  // (logged after the copy was taken, before the checkpoint's batch) with the reset that began
  // the generation already released; it then starts from the settle, not from an older one.
  const std::uint64_t generation = partitions_[partition].generation;
  records::encode_group_progress(progress_scratch_, stream_->sid(), name_, kind, partition, a, b,
                                 kind == records::Progress::settle ? &generation : nullptr);
  // A failed log fail-stops the engine: every later durable call reports it, so the code is not
  // needed here (the settle itself already happened in memory).
  journal_->log_group_progress(progress_scratch_);
}

int Group::log_declaration(std::string &error) {
  if (journal_ == nullptr) return CORQ_OK;
  std::vector<std::byte> payload;
  records::encode_group_declare(payload, stream_->sid(), name_, options_);
  if (const int rc = journal_->log_topology(records::declare_group, payload, error); rc != CORQ_OK)
    return rc;
  {
    std::lock_guard lock(mutex_);
    for (std::uint32_t p = 0; p < partitions_.size(); ++p)
      log_progress_locked(records::Progress::reset, p, partitions_[p].committed,
                          partitions_[p].generation);
  }
  return journal_->sync(-1, error);
}

int Group::log_deletion(std::string &error) {
  if (journal_ == nullptr) return CORQ_OK;
  std::vector<std::byte> payload;
  records::encode_group_delete(payload, stream_->sid(), name_);
  return journal_->log_topology(records::delete_group, payload, error);
}

void Group::restore(const std::map<std::uint32_t, RecoveredGroupPartition> &recovered) {
  std::lock_guard lock(mutex_);
  for (const auto &[p, state] : recovered) {
    if (p >= partitions_.size()) continue;
    PartitionState &ps = partitions_[p];
    ps.generation = std::max<std::uint64_t>(state.generation, 1);
    // Progress about records the stream's log lost is void: under sync=none a power loss may drop
    // the stream's tail after the group (in the engine's log) settled some of it, and those
    // offsets are used again by the next appends.
    const std::uint64_t end = stream_->partition(p).end();
    ps.cursor = ps.committed = std::min(state.committed, end);
    ps.settled = state.settled;
    ps.settled.erase(ps.settled.lower_bound(end), ps.settled.end());
    ps.recovered_through = ps.settled.empty() ? 0 : *ps.settled.rbegin();
    for (const auto &[offset, failed] : state.failed) {
      if (offset < end) ps.recovered_failed.emplace(offset, failed);
    }
    const bool voided = state.committed > end || ps.settled.size() != state.settled.size() ||
                        ps.recovered_failed.size() != state.failed.size();
    if (voided) {
      // Said again in the log, so the void progress stays void once those offsets hold new
      // records: a reset, then what is still true.
      ++ps.generation;
      log_progress_locked(records::Progress::reset, p, ps.committed, ps.generation);
      for (const std::uint64_t offset : ps.settled)
        log_progress_locked(records::Progress::settle, p, offset, ps.committed);
      for (const auto &[offset, failed] : ps.recovered_failed)
        log_progress_locked(records::Progress::failed, p, offset, failed);
    }
    catch_up_locked(p, ps);
  }
}

void Group::encode_state(std::vector<std::vector<std::byte>> &payloads,
                         std::vector<std::uint8_t> &types) {
  if (journal_ == nullptr) return;
  std::lock_guard lock(mutex_);
  records::encode_group_declare(payloads.emplace_back(), stream_->sid(), name_, options_);
  types.push_back(records::declare_group);
  auto add = [&](records::Progress kind, std::uint32_t p, std::uint64_t a, std::uint64_t b) {
    records::encode_group_progress(payloads.emplace_back(), stream_->sid(), name_, kind, p, a, b);
    types.push_back(records::group_progress);
  };
  // Merging kinds: acks logged after this copy but before the checkpoint's batch come before it
  // in the log, and recovery must not let the copy undo them.
  const auto failed_of = [](std::uint64_t generation, std::uint32_t failed) {
    return generation << 8 | std::min<std::uint32_t>(failed, 255);
  };
  for (std::uint32_t p = 0; p < partitions_.size(); ++p) {
    const PartitionState &ps = partitions_[p];
    add(records::Progress::snapshot_committed, p, ps.committed, ps.generation);
    for (const std::uint64_t offset : ps.settled)
      add(records::Progress::snapshot_settled, p, offset, ps.generation);
    for (const auto &[offset, state] : ps.records) {
      if (state.failed != 0)
        add(records::Progress::snapshot_failed, p, offset, failed_of(ps.generation, state.failed));
    }
    for (const auto &[offset, failed] : ps.recovered_failed)
      add(records::Progress::snapshot_failed, p, offset, failed_of(ps.generation, failed));
  }
}

void Group::mark_deleted() noexcept {
  deleted_.store(true, std::memory_order_seq_cst);
  wake_members();
}

std::uint32_t Group::members() {
  std::lock_guard lock(mutex_);
  return static_cast<std::uint32_t>(members_.size());
}

std::int64_t Group::backoff_ms(std::uint32_t failed) const noexcept {
  const double delay = static_cast<double>(options_.retry_delay_ms) *
                       std::pow(options_.retry_backoff, failed > 0 ? failed - 1 : 0);
  const double capped = std::min(delay, static_cast<double>(options_.retry_delay_max_ms));
  return static_cast<std::int64_t>(capped);
}

void Group::catch_up_locked(std::uint32_t partition, PartitionState &ps) {
  const std::uint64_t first = stream_->partition(partition).first();
  if (ps.committed >= first) return;
  if (ps.cursor < first) {
    skipped_ += first - ps.cursor;  // never delivered: retention took them first
    ps.cursor = first;
  }
  // Records waiting for a retry or for their key that retention deleted cannot go out again.
  for (auto it = ps.retries.begin(); it != ps.retries.end() && it->first < first;) {
    ++skipped_;
    if (auto rec = ps.records.find(it->first); rec != ps.records.end()) {
      if (rec->second.has_key && options_.mode == GroupMode::key_ordered) free_key(rec->second.key);
      ps.records.erase(rec);
    }
    settle_offset_locked(ps, it->first);
    it = ps.retries.erase(it);
  }
  for (auto it = ps.waiting.begin(); it != ps.waiting.end() && it->first < first;) {
    ++skipped_;
    it = ps.waiting.erase(it);
  }
  ps.committed = first;
  ps.settled.erase(ps.settled.begin(), ps.settled.lower_bound(first));
  while (!ps.settled.empty() && *ps.settled.begin() == ps.committed) {
    ps.settled.erase(ps.settled.begin());
    ++ps.committed;
  }
  // Settled offsets the committed offset just passed are not delivered again (after a restart
  // the cursor starts at the committed offset, below offsets settled before).
  ps.cursor = std::max(ps.cursor, ps.committed);
}

void Group::settle_offset_locked(PartitionState &ps, std::uint64_t offset) {
  if (offset < ps.committed) return;
  if (offset != ps.committed) {
    ps.settled.insert(offset);
  } else {
    ++ps.committed;
    while (!ps.settled.empty() && *ps.settled.begin() == ps.committed) {
      ps.settled.erase(ps.settled.begin());
      ++ps.committed;
    }
    // After a restart the cursor starts at the committed offset, below offsets settled before
    // it; once the committed offset passes them they are no longer in `settled`, so the cursor
    // must not be left behind it (it delivered them again: found by corq-sim, seed 662).
    ps.cursor = std::max(ps.cursor, ps.committed);
  }
  log_progress_locked(records::Progress::settle, index_of(ps), offset, ps.committed);
}

void Group::requeue_locked(const OutDelivery &d, std::int64_t due_ms) {
  PartitionState &ps = partitions_[d.partition];
  RecordState &rs = ps.records[d.offset];
  rs.delivered = d.delivered;
  rs.failed = d.failed;
  rs.has_key = d.has_key;
  if (d.has_key) rs.key = d.key;  // the key (key_ordered) stays held while it waits
  ps.retries[d.offset] = due_ms;
}

void Group::settle_delivery_locked(const OutDelivery &d) {
  if (d.has_key && options_.mode == GroupMode::key_ordered) free_key(d.key);
  settle_offset_locked(partitions_[d.partition], d.offset);
}

bool Group::fail_locked(OutDelivery &d, std::int64_t delay_ms, std::int64_t now_ms) {
  ++d.failed;
  ++nacked_;
  if (options_.max_attempts != 0 && d.failed >= options_.max_attempts) {
    dead_letter_locked(d.record, "max_attempts", {}, now_ms);
    settle_delivery_locked(d);
    return true;
  }
  const std::int64_t due = now_ms + (delay_ms < 0 ? backoff_ms(d.failed) : delay_ms);
  log_progress_locked(records::Progress::failed, d.partition, d.offset, d.failed);
  requeue_locked(d, due);
  engine_.scheduler().poke_if_before(due);
  return false;
}

void Group::dead_letter_locked(const corq_stream_record &record, std::string_view reason,
                               std::string_view detail, std::int64_t now_ms) {
  if (dead_letter_name_.empty()) {
    engine_.log(CORQ_LOG_DEBUG, "group '" + name_ + "' of stream '" + stream_->name() +
                                    "': record " + std::to_string(record.partition) + ":" +
                                    std::to_string(record.offset) + " dropped (reason " +
                                    std::string(reason) + ", no dead-letter queue)");
    ++dead_lettered_;
    return;
  }
  std::shared_ptr<Queue> target = engine_.find(dead_letter_name_);
  if (target == nullptr) {
    engine_.log(CORQ_LOG_WARN, "group '" + name_ + "': dead-letter queue '" + dead_letter_name_ +
                                   "' does not exist; record dropped");
    return;
  }
  // The record's headers, its x-stream-* headers (kept, as DESIGN says), and x-death-*.
  std::vector<HeaderView> views;
  for (std::size_t i = 0; i < record.header_count; ++i) {
    views.push_back(
        {record.headers[i].key,
         {static_cast<const char *>(record.headers[i].value), record.headers[i].value_len}});
  }
  const std::string partition = std::to_string(record.partition);
  const std::string offset = std::to_string(record.offset);
  const std::string origin = stream_->name() + "." + name_;
  const std::string time = std::to_string(now_ms);
  views.push_back({"x-stream-partition", partition});
  views.push_back({"x-stream-offset", offset});
  if (record.key != nullptr)
    views.push_back({"x-stream-key", {static_cast<const char *>(record.key), record.key_len}});
  views.push_back({"x-death-reason", reason});
  views.push_back({"x-death-queue", origin});
  views.push_back({"x-death-count", "1"});
  views.push_back({"x-death-time-ms", time});
  if (!detail.empty()) views.push_back({"x-death-detail", detail});
  Message *m = build_message(views.data(), views.size(), record.data, record.len);
  if (m == nullptr) {
    engine_.log(CORQ_LOG_ERROR, "group '" + name_ + "': out of memory dead-lettering a record");
    return;
  }
  m->id = engine_.take_ids(1);
  m->published_at_ms = record.timestamp_ms;
  const std::int64_t ttl = target->options().message_ttl_ms;
  m->expires_at_ms = ttl > 0 ? now_ms + ttl : 0;
  if (!target->reserve_one(m->payload_len)) {
    free_message(m);
    engine_.log(CORQ_LOG_WARN, "group '" + name_ + "': dead-letter queue '" + dead_letter_name_ +
                                   "' is full; record dropped");
    return;
  }
  if (Journal *journal = target->journal(); journal != nullptr) {
    wal::Lsn lsn = 0;
    std::string error;
    if (journal->log_publish(target->qid(), &m, 1, nullptr, 0, 0, lsn, error) != CORQ_OK) {
      engine_.log(CORQ_LOG_WARN, "group '" + name_ + "': dead letter not logged: " + error);
    }
  }
  target->push_reserved(m);
  ++dead_lettered_;
}

void Group::join_locked(GroupMember *member) {
  members_.push_back(member);
  rebalance_locked();
}

void Group::leave_locked(GroupMember *member, std::int64_t now_ms) {
  // Its unsettled deliveries are released: ready again at once, not a failed attempt.
  for (OutDelivery &slot : member->slots_) {
    if (slot.state != OutDelivery::State::out) continue;
    PartitionState &ps = partitions_[slot.partition];
    if (slot.epoch != ps.epoch) {
      if (slot.has_key && options_.mode == GroupMode::key_ordered) free_key(slot.key);
    } else {
      --ps.in_flight;
      requeue_locked(slot, now_ms);
    }
    slot.state = OutDelivery::State::free;
    slot.chunk.reset();
  }
  std::erase(members_, member);
  for (PartitionState &ps : partitions_) {
    if (ps.owner == member) ps.owner = nullptr;
    if (ps.target == member) ps.target = nullptr;
  }
  rebalance_locked();
}

void Group::rebalance_locked() {
  if (options_.mode != GroupMode::ordered) return;
  const std::size_t m = members_.size();
  if (m == 0) {
    for (PartitionState &ps : partitions_) ps.target = nullptr;
    return;
  }
  // Sticky: each member keeps what it has up to its quota; only the excess and the partitions
  // without a live target move. Members holding more get the ⌈P/M⌉ quotas first.
  std::unordered_map<const GroupMember *, std::vector<std::uint32_t>> held;
  std::vector<std::uint32_t> free_partitions;
  for (std::uint32_t p = 0; p < partitions_.size(); ++p) {
    const GroupMember *t = partitions_[p].target;
    if (t != nullptr && std::find(members_.begin(), members_.end(), t) != members_.end()) {
      held[t].push_back(p);
    } else {
      free_partitions.push_back(p);
    }
  }
  std::vector<GroupMember *> order = members_;
  std::stable_sort(order.begin(), order.end(),
                   [&](GroupMember *a, GroupMember *b) { return held[a].size() > held[b].size(); });
  const std::size_t quota = partitions_.size() / m, extra = partitions_.size() % m;
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::vector<std::uint32_t> &mine = held[order[i]];
    const std::size_t want = quota + (i < extra ? 1 : 0);
    while (mine.size() > want) {
      free_partitions.push_back(mine.back());
      mine.pop_back();
    }
  }
  std::sort(free_partitions.begin(), free_partitions.end(), std::greater<>());
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::vector<std::uint32_t> &mine = held[order[i]];
    const std::size_t want = quota + (i < extra ? 1 : 0);
    while (mine.size() < want && !free_partitions.empty()) {
      const std::uint32_t p = free_partitions.back();
      free_partitions.pop_back();
      mine.push_back(p);
      partitions_[p].target = order[i];
    }
  }
  for (std::uint32_t p : free_partitions) partitions_[p].target = nullptr;
}

int Group::seek(std::int32_t partition, std::string_view start, std::string &error) {
  std::lock_guard lock(mutex_);
  const auto count = static_cast<std::int32_t>(partitions_.size());
  if (partition < -1 || partition >= count) {
    error = "stream '" + stream_->name() + "' has " + std::to_string(count) +
            " partitions: no partition " + std::to_string(partition);
    return CORQ_EINVAL;
  }
  // Resolve every position first: a bad start moves nothing.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> moves;
  for (std::int32_t p = partition < 0 ? 0 : partition; p < (partition < 0 ? count : partition + 1);
       ++p) {
    std::uint64_t offset = 0, skipped = 0;
    const auto index = static_cast<std::uint32_t>(p);
    if (const int rc = resolve_start(start, stream_->partition(index), offset, skipped, error);
        rc != CORQ_OK)
      return rc;
    moves.emplace_back(index, offset);
  }
  for (const auto &[p, offset] : moves) {
    PartitionState &ps = partitions_[p];
    // Keys held by records waiting for a retry are released with them; those of deliveries still
    // out are released when the stale delivery leaves its member's window.
    for (const auto &[retry_offset, due] : ps.retries) {
      (void)due;
      auto it = ps.records.find(retry_offset);
      if (it != ps.records.end() && it->second.has_key && options_.mode == GroupMode::key_ordered)
        free_key(it->second.key);
    }
    ps.cursor = ps.committed = offset;
    ps.settled.clear();
    ps.retries.clear();
    ps.waiting.clear();
    ps.records.clear();
    ps.in_flight = 0;
    ps.recovered_through = 0;
    ps.recovered_failed.clear();
    ++ps.epoch;
    ++ps.generation;
    log_progress_locked(records::Progress::reset, p, offset, ps.generation);
  }
  wake_members();
  return CORQ_OK;
}

std::vector<std::uint64_t> Group::committed_offsets() {
  std::lock_guard lock(mutex_);
  std::vector<std::uint64_t> out;
  out.reserve(partitions_.size());
  for (std::uint32_t p = 0; p < partitions_.size(); ++p) {
    catch_up_locked(p, partitions_[p]);
    out.push_back(partitions_[p].committed);
  }
  return out;
}

corq_group_stats Group::stats() {
  std::lock_guard lock(mutex_);
  corq_group_stats s{};
  s.struct_size = sizeof(corq_group_stats);
  s.members = static_cast<std::uint32_t>(members_.size());
  for (std::uint32_t p = 0; p < partitions_.size(); ++p) {
    PartitionState &ps = partitions_[p];
    catch_up_locked(p, ps);
    const std::uint64_t end = stream_->partition(p).end();
    s.lag += end > ps.committed ? end - ps.committed : 0;
    s.in_flight += ps.in_flight;
  }
  s.delivered = delivered_;
  s.acked = acked_;
  s.nacked = nacked_;
  s.dead_lettered = dead_lettered_;
  s.skipped = skipped_;
  return s;
}

std::int64_t Group::scheduler_pass(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::int64_t next = std::numeric_limits<std::int64_t>::max();
  bool wake = false;
  for (GroupMember *member : members_) {
    for (std::uint32_t index = 0; index < member->slots_.size(); ++index) {
      GroupMember::Slot &slot = member->slots_[index];
      if (slot.state != OutDelivery::State::out) continue;
      if (slot.lease_deadline_ms > now_ms) {
        next = std::min(next, slot.lease_deadline_ms);
        continue;
      }
      // The lease ended: a failed attempt. The member may still read the delivery until its
      // next consume, so the slot moves to its expired list instead of being freed.
      PartitionState &ps = partitions_[slot.partition];
      if (slot.epoch == ps.epoch) {
        --ps.in_flight;
        fail_locked(slot, -1, now_ms);
      } else if (slot.has_key && options_.mode == GroupMode::key_ordered) {
        free_key(slot.key);
      }
      slot.state = OutDelivery::State::expired;
      member->expired_slots_.push_back(index);
      wake = true;
    }
  }
  for (const PartitionState &ps : partitions_) {
    for (const auto &[offset, due] : ps.retries) {
      (void)offset;
      if (due > last_pass_ms_ && due <= now_ms) wake = true;  // fell due since the last pass
      if (due > now_ms) next = std::min(next, due);
    }
  }
  last_pass_ms_ = now_ms;
  if (wake) wake_members();
  return next;
}

// ---- a member
// ------------------------------------------------------------------------------------

namespace {
/// Bits of a tag that name the slot: enough for `prefetch` slots.
std::uint32_t bits_for(std::uint32_t prefetch) noexcept {
  std::uint32_t bits = 0;
  while ((std::uint32_t{1} << bits) < prefetch) ++bits;
  return bits;
}
}  // namespace

GroupMember::GroupMember(Engine &engine, std::shared_ptr<Group> group, std::uint32_t prefetch)
    : ConsumerBase(true),
      engine_(engine),
      group_(std::move(group)),
      prefetch_(prefetch),
      slots_(prefetch),
      slot_bits_(bits_for(prefetch)) {
  free_slots_.reserve(prefetch);
  for (std::uint32_t i = prefetch; i-- > 0;) free_slots_.push_back(i);
  expired_slots_.reserve(prefetch);
  covered_.reserve(prefetch);
  engine_.retain_handle();
  std::lock_guard lock(group_->mutex_);
  group_->join_locked(this);
  group_->wake_members();  // partitions may have moved to us (or away from others)
}

GroupMember::~GroupMember() { Engine::release_handle(&engine_); }

void GroupMember::close() {
  {
    std::lock_guard lock(group_->mutex_);
    group_->leave_locked(this, engine_.now_ms());
  }
  group_->wake_members();
}

int GroupMember::stopped() const noexcept {
  if (group_->deleted() || group_->stream().deleted()) return CORQ_ENOENT;
  if (engine_.closed() || woken_.load(std::memory_order_acquire)) return CORQ_ECLOSED;
  return CORQ_OK;
}

bool GroupMember::owns_locked(std::uint32_t partition) {
  Group::PartitionState &ps = group_->partitions_[partition];
  if (ps.target != this) return false;
  if (ps.owner == this) return true;
  // A partition moving to us: ours once its previous owner has nothing of it out.
  if (ps.in_flight != 0) return false;
  ps.owner = this;
  return true;
}

bool GroupMember::deliver_locked(std::uint32_t partition, std::uint64_t offset, corq_delivery &out,
                                 std::int64_t now_ms, const Group::RecordState *previous) {
  Group &g = *group_;
  Group::PartitionState &ps = g.partitions_[partition];
  // The cursor moves through one chunk for thousands of records: look it up only when it leaves.
  std::shared_ptr<Chunk> chunk;
  if (ps.cursor_chunk != nullptr && offset >= ps.cursor_chunk->base() &&
      offset < ps.cursor_chunk->base() + ps.cursor_chunk->count() &&
      offset >= g.stream_->partition(partition).first()) {
    chunk = ps.cursor_chunk;
  } else {
    chunk = g.stream_->partition(partition).chunk_for(offset, &load_error_);
    // Retention deleted it meanwhile, or (load_error_ set) it could not be read back.
    if (chunk == nullptr) {
      if (load_error_ != CORQ_OK) load_error_partition_ = partition;
      return false;
    }
    if (previous == nullptr) ps.cursor_chunk = chunk;
  }
  const StoredRecord &r = chunk->at(static_cast<std::uint32_t>(offset - chunk->base()));
  const std::uint32_t index = free_slots_.back();
  free_slots_.pop_back();
  const std::uint64_t tag = next_sequence_++ << slot_bits_ | index;
  Slot &slot = slots_[index];
  slot.state = Slot::State::out;
  slot.tag = tag;
  slot.partition = partition;
  slot.offset = offset;
  slot.epoch = ps.epoch;
  slot.lease_deadline_ms = now_ms + g.options_.lease_ms;
  slot.delivered = previous == nullptr ? 1 : previous->delivered + 1;
  slot.failed = previous == nullptr ? 0 : previous->failed;
  if (previous == nullptr && !ps.recovered_failed.empty()) [[unlikely]] {
    // Failed attempts before a restart still count towards max_attempts.
    if (auto it = ps.recovered_failed.find(offset); it != ps.recovered_failed.end()) {
      slot.failed = it->second;
      slot.delivered = it->second + 1;
      ps.recovered_failed.erase(it);
    }
  }
  slot.has_key = r.key != nullptr;
  if (slot.has_key && g.options_.mode == GroupMode::key_ordered)
    slot.key.assign(reinterpret_cast<const char *>(r.key), r.key_len);
  slot.record = {partition, offset, r.timestamp_ms, r.key,         r.key_len,
                 r.data,    r.len,  r.headers,      r.header_count};
  std::snprintf(slot.partition_text, sizeof slot.partition_text, "%u", partition);
  std::snprintf(slot.offset_text, sizeof slot.offset_text, "%llu",
                static_cast<unsigned long long>(offset));
  slot.headers.assign(r.headers, r.headers + r.header_count);
  slot.headers.push_back({"x-stream-partition", slot.partition_text,
                          std::char_traits<char>::length(slot.partition_text)});
  slot.headers.push_back(
      {"x-stream-offset", slot.offset_text, std::char_traits<char>::length(slot.offset_text)});
  if (slot.has_key) slot.headers.push_back({"x-stream-key", r.key, r.key_len});
  slot.chunk = std::move(chunk);
  out.tag = tag;
  out.message_id = offset;
  out.data = r.data;
  out.len = r.len;
  out.headers = slot.headers.data();
  out.header_count = slot.headers.size();
  out.delivery_count = slot.delivered;
  out.published_at_ms = r.timestamp_ms;
  ++ps.in_flight;
  ++g.delivered_;
  engine_.scheduler().poke_if_before(slot.lease_deadline_ms);
  return true;
}

std::size_t GroupMember::take_from_locked(std::uint32_t partition, corq_delivery *out,
                                          std::size_t max, std::int64_t now_ms) {
  Group &g = *group_;
  Group::PartitionState &ps = g.partitions_[partition];
  g.catch_up_locked(partition, ps);
  const std::uint64_t end = g.stream_->partition(partition).end();
  const GroupMode mode = g.options_.mode;
  std::size_t n = 0;
  while (n < max) {
    // 1. A record whose retry is due (the lowest offset first). In ordered mode a retry not yet
    //    due holds the partition: nothing newer goes out before it.
    if (!ps.retries.empty()) {
      auto due = ps.retries.end();
      if (mode == GroupMode::ordered) {
        if (ps.retries.begin()->second > now_ms) return n;
        due = ps.retries.begin();
      } else {
        due = std::find_if(ps.retries.begin(), ps.retries.end(),
                           [&](const auto &r) { return r.second <= now_ms; });
      }
      if (due != ps.retries.end()) {
        const std::uint64_t offset = due->first;
        ps.retries.erase(due);
        Group::RecordState previous;
        if (auto rec = ps.records.find(offset); rec != ps.records.end()) {
          previous = std::move(rec->second);
          ps.records.erase(rec);
        }
        if (deliver_locked(partition, offset, out[n], now_ms, &previous)) {
          ++n;
        } else if (load_error_ != CORQ_OK) {
          ps.retries.emplace(offset, now_ms);  // as it was: tried again by a later consume
          ps.records.emplace(offset, std::move(previous));
          return n;
        } else {
          ++g.skipped_;  // deleted by retention while it waited
          if (previous.has_key && mode == GroupMode::key_ordered) g.free_key(previous.key);
          g.settle_offset_locked(ps, offset);
        }
        continue;
      }
    }
    // 2. key_ordered: a record set aside for its key, now free (the lowest offset first).
    if (mode == GroupMode::key_ordered && !ps.waiting.empty()) {
      auto ready = std::find_if(ps.waiting.begin(), ps.waiting.end(),
                                [&](const auto &w) { return !g.key_busy(w.second); });
      if (ready != ps.waiting.end()) {
        const std::uint64_t offset = ready->first;
        const std::string key = std::move(ready->second);
        ps.waiting.erase(ready);
        if (deliver_locked(partition, offset, out[n], now_ms, nullptr)) {
          g.hold_key(key);
          ++n;
        } else if (load_error_ != CORQ_OK) {
          ps.waiting.emplace(offset, key);
          return n;
        } else {
          ++g.skipped_;
          g.settle_offset_locked(ps, offset);
        }
        continue;
      }
    }
    // 3. The cursor.
    if (ps.cursor >= end) return n;
    if (ps.cursor <= ps.recovered_through && ps.settled.count(ps.cursor) != 0) [[unlikely]] {
      ++ps.cursor;  // settled durably before a restart (shared, key_ordered): not again
      continue;
    }
    if (mode == GroupMode::key_ordered) {
      std::shared_ptr<Chunk> chunk =
          g.stream_->partition(partition).chunk_for(ps.cursor, &load_error_);
      if (chunk == nullptr && load_error_ != CORQ_OK) {
        load_error_partition_ = partition;
        return n;
      }
      if (chunk == nullptr) {  // retention passed us: catch up and look again
        g.catch_up_locked(partition, ps);
        continue;
      }
      const StoredRecord &r = chunk->at(static_cast<std::uint32_t>(ps.cursor - chunk->base()));
      if (r.key != nullptr) {
        std::string key(reinterpret_cast<const char *>(r.key), r.key_len);
        if (g.key_busy(key)) {
          // Set aside, bounded: past the bound the cursor waits for the key instead.
          std::size_t prefetch_total = 0;
          for (const GroupMember *m : g.members_) prefetch_total += m->prefetch_;
          if (ps.waiting.size() >= waiting_per_prefetch * prefetch_total) return n;
          ps.waiting.emplace(ps.cursor++, std::move(key));
          continue;
        }
        const std::uint64_t offset = ps.cursor++;
        if (deliver_locked(partition, offset, out[n], now_ms, nullptr)) {
          g.hold_key(key);
          ++n;
        } else if (load_error_ != CORQ_OK) {
          --ps.cursor;
          return n;
        } else {
          ++g.skipped_;
          g.settle_offset_locked(ps, offset);
        }
        continue;
      }
    }
    const std::uint64_t offset = ps.cursor++;
    if (deliver_locked(partition, offset, out[n], now_ms, nullptr)) {
      ++n;
    } else if (load_error_ != CORQ_OK) {
      --ps.cursor;  // not delivered: the next consume tries again
      return n;
    } else {
      ++g.skipped_;  // deleted by retention before it went out
      g.settle_offset_locked(ps, offset);
      g.catch_up_locked(partition, ps);
    }
  }
  return n;
}

std::size_t GroupMember::take_locked(corq_delivery *out, std::size_t max, std::int64_t now_ms) {
  const auto partitions = static_cast<std::uint32_t>(group_->partitions_.size());
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < partitions && n < max; ++i) {
    const std::uint32_t p = (next_partition_ + i) % partitions;
    if (group_->options_.mode == GroupMode::ordered && !owns_locked(p)) continue;
    n += take_from_locked(p, out + n, max - n, now_ms);
  }
  next_partition_ = (next_partition_ + 1) % partitions;  // the next take starts one further
  return n;
}

int GroupMember::consume(corq_delivery *out, std::size_t max, std::int32_t timeout_ms) {
  const auto deadline = sync::deadline_after_ms(timeout_ms);
  sync::EventCount &activity = group_->stream().activity();
  for (;;) {
    // Registered before looking, so an append or a group change after the look wakes the wait.
    const std::uint32_t epoch = activity.prepare_wait();
    std::size_t n = 0;
    if (const int rc = stopped(); rc != CORQ_OK) {
      activity.cancel_wait();
      return capi::fail(rc, rc == CORQ_ENOENT ? "corq_consume: the group or its stream was deleted"
                                              : "corq_consume: woken up, or the engine is closed");
    }
    if (interrupted_.load(std::memory_order_acquire) &&
        interrupted_.exchange(false, std::memory_order_acq_rel)) {
      activity.cancel_wait();
      return 0;
    }
    {
      std::lock_guard lock(group_->mutex_);
      // Deliveries whose lease ended are invalid from this call on: their slots are free again.
      for (const std::uint32_t index : expired_slots_) free_slot_locked(slots_[index]);
      expired_slots_.clear();
      const std::size_t room = free_slots_.size();
      if (max != 0 && room != 0) n = take_locked(out, std::min(max, room), engine_.now_ms());
    }
    if (const int rc = load_error_; rc != CORQ_OK) {
      load_error_ = CORQ_OK;
      if (n == 0) {
        activity.cancel_wait();
        return capi::fail(
            rc, "corq_consume: reading back records of stream '" + group_->stream().name() +
                    "' from its log failed: " +
                    group_->stream().partition(load_error_partition_).last_load_error());
      }
    }
    if (n != 0 || max == 0 || timeout_ms == 0 || sync::Clock::now() >= deadline) {
      activity.cancel_wait();
      return static_cast<int>(n);
    }
    activity.wait(epoch, deadline);
  }
}

int GroupMember::find_locked(std::uint64_t tag, const char *operation, Slot *&slot) {
  const std::uint64_t index = tag & ((std::uint64_t{1} << slot_bits_) - 1);
  if (index >= slots_.size() || slots_[index].state != Slot::State::out || slots_[index].tag != tag)
    return not_out(operation, tag);
  Slot &found = slots_[index];
  if (found.epoch != group_->partitions_[found.partition].epoch) {
    // A seek moved its partition: the delivery no longer counts.
    if (found.has_key && group_->options_.mode == GroupMode::key_ordered)
      group_->free_key(found.key);
    free_slot_locked(found);
    return capi::fail(CORQ_ESTATE, std::string(operation) + ": tag " + std::to_string(tag) +
                                       " is stale: corq_group_seek moved its partition");
  }
  slot = &found;
  return CORQ_OK;
}

void GroupMember::free_slot_locked(Slot &slot) {
  slot.state = Slot::State::free;
  slot.chunk.reset();
  free_slots_.push_back(static_cast<std::uint32_t>(&slot - slots_.data()));
}

void GroupMember::drop_slot_locked(Slot &slot) {
  --group_->partitions_[slot.partition].in_flight;
  free_slot_locked(slot);
}

int GroupMember::ack(std::uint64_t tag) {
  {
    std::lock_guard lock(group_->mutex_);
    Slot *slot = nullptr;
    if (const int rc = find_locked(tag, "corq_ack", slot); rc != CORQ_OK) return rc;
    group_->settle_delivery_locked(*slot);
    ++group_->acked_;
    drop_slot_locked(*slot);
  }
  group_->wake_members();  // a key or a moving partition may be free now
  return CORQ_OK;
}

int GroupMember::txn_check(std::uint64_t tag) {
  std::lock_guard lock(group_->mutex_);
  if (const int rc = stopped(); rc != CORQ_OK)
    return capi::fail(rc, "the group's consumer stopped");
  Slot *slot = nullptr;
  return find_locked(tag, "corq_txn_ack", slot);
}

int GroupMember::txn_claim(std::uint64_t tag, TxnAck &out) {
  std::lock_guard lock(group_->mutex_);
  Slot *slot = nullptr;
  if (const int rc = find_locked(tag, "corq_txn_commit", slot); rc != CORQ_OK) return rc;
  slot->state = Slot::State::held;
  out.sid = group_->durable() ? group_->stream().sid() : 0;
  out.group = group_->name();
  out.partition = slot->partition;
  out.offset = slot->offset;
  out.generation = group_->partitions_[slot->partition].generation;
  return CORQ_OK;
}

void GroupMember::txn_unclaim(std::uint64_t tag) {
  std::lock_guard lock(group_->mutex_);
  const std::uint64_t index = tag & ((std::uint64_t{1} << slot_bits_) - 1);
  if (index < slots_.size() && slots_[index].tag == tag && slots_[index].state == Slot::State::held)
    slots_[index].state = Slot::State::out;
}

void GroupMember::txn_complete_ack(std::uint64_t tag) {
  {
    std::lock_guard lock(group_->mutex_);
    const std::uint64_t index = tag & ((std::uint64_t{1} << slot_bits_) - 1);
    if (index >= slots_.size() || slots_[index].tag != tag ||
        slots_[index].state != Slot::State::held)
      return;
    Slot &slot = slots_[index];
    slot.state = Slot::State::out;
    Slot *found = nullptr;
    if (find_locked(tag, "corq_txn_commit", found) != CORQ_OK) {
      capi::clear_error();  // stale after a seek: dropped, as the log's generation says
      return;
    }
    group_->settle_delivery_locked(slot);
    ++group_->acked_;
    drop_slot_locked(slot);
  }
  group_->wake_members();
}

int GroupMember::ack_upto(std::uint64_t tag) {
  std::size_t settled = 0;
  {
    std::lock_guard lock(group_->mutex_);
    // Every delivery out with a tag <= tag, in tag order (a prefix of what was handed out).
    std::vector<std::uint32_t> &covered = covered_;
    covered.clear();
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].state == Slot::State::out && slots_[i].tag <= tag) covered.push_back(i);
    }
    std::sort(covered.begin(), covered.end(),
              [&](std::uint32_t a, std::uint32_t b) { return slots_[a].tag < slots_[b].tag; });
    for (const std::uint32_t i : covered) {
      Slot *slot = nullptr;
      if (find_locked(slots_[i].tag, "corq_ack_upto", slot) != CORQ_OK) {
        capi::clear_error();  // a stale one is dropped, not an error of the whole call
        continue;
      }
      group_->settle_delivery_locked(*slot);
      ++group_->acked_;
      drop_slot_locked(*slot);
      ++settled;
    }
  }
  if (settled == 0) {
    return capi::fail(CORQ_ESTATE,
                      "corq_ack_upto: no unsettled delivery with a tag <= " + std::to_string(tag));
  }
  group_->wake_members();
  return CORQ_OK;
}

int GroupMember::nack(std::uint64_t tag, std::int64_t delay_ms) {
  if (delay_ms < -1) return capi::fail(CORQ_EINVAL, "corq_nack: delay_ms must be -1 or >= 0");
  {
    std::lock_guard lock(group_->mutex_);
    Slot *slot = nullptr;
    if (const int rc = find_locked(tag, "corq_nack", slot); rc != CORQ_OK) return rc;
    group_->fail_locked(*slot, delay_ms, engine_.now_ms());
    drop_slot_locked(*slot);
  }
  group_->wake_members();
  return CORQ_OK;
}

int GroupMember::release(std::uint64_t tag) {
  {
    std::lock_guard lock(group_->mutex_);
    Slot *slot = nullptr;
    if (const int rc = find_locked(tag, "corq_release", slot); rc != CORQ_OK) return rc;
    group_->requeue_locked(*slot, engine_.now_ms());
    drop_slot_locked(*slot);
  }
  group_->wake_members();
  return CORQ_OK;
}

int GroupMember::reject(std::uint64_t tag, const char *reason) {
  {
    std::lock_guard lock(group_->mutex_);
    Slot *slot = nullptr;
    if (const int rc = find_locked(tag, "corq_reject", slot); rc != CORQ_OK) return rc;
    const std::int64_t now_ms = engine_.now_ms();
    group_->dead_letter_locked(slot->record, "rejected", reason == nullptr ? "" : reason, now_ms);
    group_->settle_delivery_locked(*slot);
    drop_slot_locked(*slot);
  }
  group_->wake_members();
  return CORQ_OK;
}

int GroupMember::extend(std::uint64_t tag, std::int64_t lease_ms) {
  if (lease_ms <= 0) return capi::fail(CORQ_EINVAL, "corq_extend: lease_ms must be > 0");
  std::lock_guard lock(group_->mutex_);
  Slot *slot = nullptr;
  if (const int rc = find_locked(tag, "corq_extend", slot); rc != CORQ_OK) return rc;
  slot->lease_deadline_ms = engine_.now_ms() + lease_ms;
  engine_.scheduler().poke_if_before(slot->lease_deadline_ms);
  return CORQ_OK;
}

void GroupMember::wakeup() noexcept {
  woken_.store(true, std::memory_order_seq_cst);
  group_->wake_members();
}

void GroupMember::interrupt() noexcept {
  interrupted_.store(true, std::memory_order_seq_cst);
  group_->wake_members();
}

}  // namespace corq::core::stream
