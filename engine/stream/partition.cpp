// engine/stream/partition.cpp — appends, retention and lookups of one stream partition.
#include "stream/partition.hpp"

#include "stream/stream_log.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace corq::core::stream {

namespace {

constexpr std::size_t align8(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }

}  // namespace

std::uint64_t counted_bytes(const AppendInput &in) noexcept {
  std::uint64_t bytes = in.key_len + in.message->len;
  for (std::size_t i = 0; i < in.message->header_count; ++i) {
    bytes += std::strlen(in.message->headers[i].key) + in.message->headers[i].value_len;
  }
  return bytes;
}

// ---- chunks
// --------------------------------------------------------------------------------------

Chunk::Chunk(std::uint64_t base, std::size_t arena_bytes)
    : base_(base),
      records_(new StoredRecord[chunk_records]),
      arena_(new std::byte[arena_bytes]),
      arena_bytes_(arena_bytes) {}

Chunk::Chunk(std::uint64_t base, std::size_t arena_bytes, std::shared_ptr<ChunkMemoryPool> pool)
    : base_(base), arena_bytes_(arena_bytes), pool_(std::move(pool)) {
  ChunkMemoryPool::Block block = pool_->take(arena_bytes);
  if (block.arena != nullptr) {
    records_ = std::move(block.records);
    arena_ = std::move(block.arena);
    arena_bytes_ = block.arena_bytes;
  } else {
    records_.reset(new StoredRecord[chunk_records]);
    arena_.reset(new std::byte[arena_bytes]);
  }
}

Chunk::~Chunk() {
  if (pool_ != nullptr && arena_ != nullptr)
    pool_->give(ChunkMemoryPool::Block{std::move(records_), std::move(arena_), arena_bytes_});
}

ChunkMemoryPool::Block ChunkMemoryPool::take(std::size_t arena_bytes) {
  std::lock_guard lock(mutex_);
  for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
    if (it->arena_bytes >= arena_bytes && it->arena_bytes / 2 <= arena_bytes) {
      Block block = std::move(*it);
      blocks_.erase(it);
      return block;
    }
  }
  return {};
}

void ChunkMemoryPool::give(Block block) {
  std::lock_guard lock(mutex_);
  if (blocks_.size() < max_blocks) {
    blocks_.push_back(std::move(block));
  } else {
    // Keep the larger blocks: they fit more chunks.
    auto smallest = std::min_element(blocks_.begin(), blocks_.end(), [](auto &a, auto &b) {
      return a.arena_bytes < b.arena_bytes;
    });
    if (smallest->arena_bytes < block.arena_bytes) *smallest = std::move(block);
  }
}

std::shared_ptr<Chunk> Chunk::shell_of(const Chunk &chunk) {
  auto shell = std::make_shared<Chunk>(ShellTag{}, chunk.base_);
  shell->written_ = chunk.written_;
  shell->count_.store(chunk.written_, std::memory_order_relaxed);
  std::copy(std::begin(chunk.lsns_), std::end(chunk.lsns_), std::begin(shell->lsns_));
  shell->last_lsn_ = chunk.last_lsn_;
  shell->first_ts_ = chunk.first_ts_;
  shell->last_ts_ = chunk.last_ts_;
  shell->bytes_left = chunk.bytes_left;
  shell->original_arena_used_ = chunk.arena_used_;
  return shell;
}

std::size_t Chunk::arena_bytes_for(const AppendInput &in) noexcept {
  const corq_message &m = *in.message;
  std::size_t bytes = m.header_count * sizeof(corq_header);
  for (std::size_t i = 0; i < m.header_count; ++i)
    bytes += std::strlen(m.headers[i].key) + 1 + m.headers[i].value_len;
  return align8(bytes + in.key_len + m.len);  // the next record's header array stays aligned
}

void Chunk::write(const AppendInput &in, std::int64_t timestamp_ms) noexcept {
  const corq_message &m = *in.message;
  std::byte *at = arena_.get() + arena_used_;
  arena_used_ += arena_bytes_for(in);
  if (written_ == 0) first_ts_ = timestamp_ms;
  last_ts_ = timestamp_ms;
  StoredRecord &r = records_[written_++];
  r.timestamp_ms = timestamp_ms;
  r.header_count = static_cast<std::uint32_t>(m.header_count);
  r.bytes = static_cast<std::uint32_t>(counted_bytes(in));
  bytes_left += r.bytes;
  auto *headers = reinterpret_cast<corq_header *>(at);
  r.headers = m.header_count == 0 ? nullptr : headers;
  at += m.header_count * sizeof(corq_header);
  for (std::size_t i = 0; i < m.header_count; ++i) {
    const std::size_t key_len = std::strlen(m.headers[i].key);
    std::memcpy(at, m.headers[i].key, key_len + 1);
    headers[i].key = reinterpret_cast<const char *>(at);
    at += key_len + 1;
    if (m.headers[i].value_len != 0) std::memcpy(at, m.headers[i].value, m.headers[i].value_len);
    headers[i].value = at;
    headers[i].value_len = m.headers[i].value_len;
    at += m.headers[i].value_len;
  }
  r.key = nullptr;
  r.key_len = static_cast<std::uint32_t>(in.key_len);
  if (in.key != nullptr) {
    if (in.key_len != 0) std::memcpy(at, in.key, in.key_len);
    r.key = at;  // a key of length 0 is a key: non-null
    at += in.key_len;
  }
  if (m.len != 0) std::memcpy(at, m.data, m.len);
  r.data = at;
  r.len = static_cast<std::uint32_t>(m.len);
}

// ---- appends
// -------------------------------------------------------------------------------------

Partition::~Partition() {
  for (const auto &c : chunks_) forget_chunk_locked(*c);  // the engine-wide resident count
}

std::string Partition::refusal_locked(std::uint64_t first, std::uint64_t end, std::size_t count,
                                      std::uint64_t batch_bytes, const Limits &limits) const {
  const std::uint64_t retained = end - first;
  if (limits.retention_records != 0 && retained + count > limits.retention_records) {
    return "partition " + std::to_string(index_) + " holds " + std::to_string(retained) +
           " records: " + std::to_string(count) + " more would pass retention_records " +
           std::to_string(limits.retention_records) + " (discard=new)";
  }
  const std::uint64_t held = bytes_.load(std::memory_order_relaxed);
  if (limits.retention_bytes != 0 && held + batch_bytes > limits.retention_bytes) {
    return "partition " + std::to_string(index_) + " holds " + std::to_string(held) +
           " bytes: " + std::to_string(batch_bytes) + " more would pass retention_bytes " +
           std::to_string(limits.retention_bytes) + " (discard=new)";
  }
  return {};
}

std::string Partition::refusal(std::size_t count, std::uint64_t bytes, const Limits &limits) {
  if (limits.discard != Discard::new_records) return {};
  std::lock_guard lock(mutex_);
  return refusal_locked(first_.load(std::memory_order_relaxed), next_, count, bytes, limits);
}

int Partition::append(const AppendInput *records, std::size_t count, std::int64_t now_ms,
                      const Limits &limits, std::string_view dedup_id, std::uint64_t &first_offset,
                      std::uint64_t &deleted, wal::Lsn &last_lsn, std::string &error,
                      const TxnMark *mark) {
  last_lsn = 0;
  std::uint64_t batch_bytes = 0;
  for (std::size_t i = 0; i < count; ++i) batch_bytes += counted_bytes(records[i]);
  std::lock_guard lock(mutex_);
  // retention_ms deletes under either discard policy; then the size limits decide.
  deleted = apply_limits(now_ms, limits, false);
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  const std::uint64_t end = next_;
  if (limits.discard == Discard::new_records) {
    error = refusal_locked(first, end, count, batch_bytes, limits);
    if (!error.empty()) return CORQ_EFULL;
  }
  // Write the whole batch before publishing any of it. Remember where each touched chunk was, so
  // a failure half-way (out of memory, a log error) can take it all back.
  const std::int64_t timestamp = std::max(now_ms, last_timestamp_ms_);
  const std::size_t chunks_before = chunks_.size();
  const std::uint32_t last_written = chunks_.empty() ? 0 : chunks_.back()->written();
  const std::size_t last_arena = chunks_.empty() ? 0 : chunks_.back()->arena_used();
  const auto take_back = [&] {
    while (chunks_.size() > chunks_before) chunks_.pop_back();
    if (!chunks_.empty()) chunks_.back()->unwrite(last_written, last_arena);
  };
  try {
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t need = Chunk::arena_bytes_for(records[i]);
      if (chunks_.empty() || !chunks_.back()->fits(need)) {
        chunks_.push_back(std::make_shared<Chunk>(end + i, std::max(need, Chunk::arena_bytes_min)));
      }
      chunks_.back()->write(records[i], timestamp);
    }
  } catch (const std::bad_alloc &) {
    take_back();
    error = "out of memory appending " + std::to_string(count) + " records";
    return CORQ_ENOMEM;
  }
  const std::size_t touched = chunks_before == 0 ? 0 : chunks_before - 1;
  if (log_ != nullptr) {
    // Into the log under the mutex: the log holds this partition's batches in offset order.
    wal::Lsn first_lsn = 0;
    if (const int rc = log_->append(index_, end, records, count, timestamp, dedup_id, first_lsn,
                                    last_lsn, error, mark);
        rc != CORQ_OK) {
      take_back();
      last_lsn = 0;
      return rc;
    }
    for (std::size_t c = touched; c < chunks_.size(); ++c) {
      Chunk &chunk = *chunks_[c];
      // The batch's records in this chunk: offsets [from, to), LSNs consecutive from first_lsn.
      const std::uint64_t from = std::max(chunk.base(), end);
      const std::uint64_t to = std::min<std::uint64_t>(chunk.base() + chunk.written(), end + count);
      for (std::uint64_t o = from; o < to; ++o)
        chunk.note_lsn(static_cast<std::uint32_t>(o - chunk.base()), first_lsn + (o - end));
    }
  }
  for (std::size_t c = touched; c < chunks_.size(); ++c) chunks_[c]->publish();
  for (std::size_t c = chunks_before; c < chunks_.size(); ++c) count_new_chunk_locked(*chunks_[c]);
  last_timestamp_ms_ = timestamp;
  bytes_.fetch_add(batch_bytes, std::memory_order_relaxed);
  next_ = end + count;
  if (gated_) {
    std::lock_guard gate(gate_mutex_);
    pending_.push_back({last_lsn, next_, batch_bytes});
    pending_bytes_.fetch_add(batch_bytes, std::memory_order_relaxed);
    pending_count_.fetch_add(1, std::memory_order_release);
  } else {
    end_.store(next_, std::memory_order_release);
  }
  first_offset = end;
  if (limits.discard == Discard::old_records) deleted += apply_limits(now_ms, limits, true);
  // A new chunk past the engine's stream cache: the oldest chunks in the log leave memory.
  if (chunks_.size() > chunks_before && log_ != nullptr && resident_total_ != nullptr &&
      static_cast<std::uint64_t>(resident_total_->load(std::memory_order_relaxed)) > budget_)
    evict_locked(log_->durable_lsn());
  if (!gated_) appended_.notify_all();
  return CORQ_OK;
}

std::uint64_t Partition::enforce_sizes(const Limits &limits) {
  if (limits.discard != Discard::old_records ||
      (limits.retention_records == 0 && limits.retention_bytes == 0))
    return 0;
  Limits sizes_only = limits;
  sizes_only.retention_ms = 0;  // time is the scheduler's (and the engine's clock)
  std::lock_guard lock(mutex_);
  const std::uint64_t deleted = apply_limits(0, sizes_only, true);
  if (deleted != 0) appended_.notify_all();
  return deleted;
}

bool Partition::advance_durable(wal::Lsn durable_lsn) {
  if (pending_count_.load(std::memory_order_acquire) == 0) return false;
  bool moved = false;
  {
    std::lock_guard gate(gate_mutex_);
    std::uint64_t visible = 0;
    while (!pending_.empty() && pending_.front().last_lsn <= durable_lsn) {
      visible = pending_.front().end;
      pending_bytes_.fetch_sub(pending_.front().bytes, std::memory_order_relaxed);
      pending_.pop_front();
      pending_count_.fetch_sub(1, std::memory_order_relaxed);
      moved = true;
    }
    if (moved) end_.store(visible, std::memory_order_release);
  }
  if (moved) appended_.notify_all();
  return moved;
}

// ---- recovery
// ------------------------------------------------------------------------------------

int Partition::restore(std::uint64_t offset, std::int64_t timestamp_ms, const AppendInput &record,
                       wal::Lsn lsn, std::string &error) {
  std::lock_guard lock(mutex_);
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  if (offset != next_) {
    // Only an empty partition may jump ahead (the records before were released by retention).
    if (first != next_ || offset < next_) {
      error = "partition " + std::to_string(index_) + ": record at offset " +
              std::to_string(offset) + " does not continue the partition (next offset " +
              std::to_string(next_) + ")";
      return CORQ_ECORRUPT;
    }
    for (const auto &c : chunks_) forget_chunk_locked(*c);
    chunks_.clear();
    shells_ = 0;
    first_.store(offset, std::memory_order_relaxed);
    next_ = offset;
  }
  const std::size_t need = Chunk::arena_bytes_for(record);
  try {
    if (chunks_.empty() || !chunks_.back()->fits(need)) {
      // Recovery reads the whole log: past the cache, chunks read so far (all in the log) leave
      // memory again, so opening a large stream holds memory bounded too.
      if (!chunks_.empty() && resident_total_ != nullptr &&
          static_cast<std::uint64_t>(resident_total_->load(std::memory_order_relaxed)) > budget_)
        evict_locked(~wal::Lsn{0});
      chunks_.push_back(std::make_shared<Chunk>(offset, std::max(need, Chunk::arena_bytes_min)));
      count_new_chunk_locked(*chunks_.back());
    }
  } catch (const std::bad_alloc &) {
    error = "out of memory restoring partition " + std::to_string(index_);
    return CORQ_ENOMEM;
  }
  Chunk &chunk = *chunks_.back();
  chunk.note_lsn(chunk.written(), lsn);
  chunk.write(record, timestamp_ms);
  chunk.publish();
  last_timestamp_ms_ = std::max(last_timestamp_ms_, timestamp_ms);
  bytes_.fetch_add(counted_bytes(record), std::memory_order_relaxed);
  next_ = offset + 1;
  end_.store(next_, std::memory_order_release);
  return CORQ_OK;
}

int Partition::apply_mark(std::uint64_t first, std::uint64_t end, std::string &error) {
  std::lock_guard lock(mutex_);
  if (const std::uint64_t now_first = first_.load(std::memory_order_relaxed);
      now_first < std::min(first, next_))
    drop_front_locked(std::min(first, next_) - now_first);
  if (first_.load(std::memory_order_relaxed) == next_ && next_ < end) {
    if (first < end) {
      error = "partition " + std::to_string(index_) + ": records [" + std::to_string(first) + ", " +
              std::to_string(end) + ") were retained but are not in the log";
      return CORQ_ECORRUPT;
    }
    for (const auto &c : chunks_) forget_chunk_locked(*c);
    chunks_.clear();  // an emptied partition: its next offset is never used again
    shells_ = 0;
    first_.store(end, std::memory_order_relaxed);
    next_ = end;
    end_.store(end, std::memory_order_release);
  } else if (next_ < end) {
    error = "partition " + std::to_string(index_) + ": the log ends at offset " +
            std::to_string(next_) + " before its marks record's " + std::to_string(end);
    return CORQ_ECORRUPT;
  }
  return CORQ_OK;
}

std::pair<std::uint64_t, std::uint64_t> Partition::retained_range() {
  std::lock_guard lock(mutex_);
  return {first_.load(std::memory_order_relaxed), next_};
}

wal::Lsn Partition::release_floor() {
  std::lock_guard lock(mutex_);
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  if (first == next_) return ~wal::Lsn{0};
  const Chunk &front = front_locked();  // holds `first`
  return front.lsn_floor(static_cast<std::uint32_t>(first - front.base()));
}

// ---- retention
// -----------------------------------------------------------------------------------

Chunk &Partition::front_locked() noexcept {
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  // Chunks all of whose records are gone leave (readers that pin one keep its memory). The tail
  // chunk stays for the next appends even when retention emptied it, so a chunk behind `first`
  // can still be at the front once appends have moved on to a new one: it leaves here.
  while (chunks_.size() > 1 && chunks_.front()->base() + chunks_.front()->written() <= first) {
    forget_chunk_locked(*chunks_.front());
    chunks_.pop_front();
  }
  return *chunks_.front();
}

std::int64_t Partition::oldest_timestamp_locked() noexcept {
  const Chunk &front = front_locked();
  if (!front.resident()) return front.last_timestamp_ms();
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  return front.at(static_cast<std::uint32_t>(first - front.base())).timestamp_ms;
}

void Partition::drop_front_locked(std::uint64_t n) noexcept {
  while (n != 0) {
    const std::uint64_t first = first_.load(std::memory_order_relaxed);
    Chunk &front = front_locked();
    const std::uint64_t chunk_end = front.base() + front.written();
    const std::uint64_t k = std::min<std::uint64_t>(n, chunk_end - first);
    std::uint64_t freed = 0;
    if (front.resident()) {
      for (std::uint64_t o = first; o < first + k; ++o)
        freed += front.at(static_cast<std::uint32_t>(o - front.base())).bytes;
    } else {
      // A shell knows its records' bytes only together: each goes with its share (the last one
      // with what is left).
      freed = first + k == chunk_end
                  ? front.bytes_left
                  : front.bytes_left * k / std::max<std::uint64_t>(1, chunk_end - first);
    }
    front.bytes_left -= std::min(front.bytes_left, freed);
    bytes_.fetch_sub(std::min(freed, bytes_.load(std::memory_order_relaxed)),
                     std::memory_order_relaxed);
    first_.store(first + k, std::memory_order_release);
    if (chunks_.size() > 1 && first + k == chunk_end) {
      forget_chunk_locked(front);
      chunks_.pop_front();
    }
    n -= k;
  }
}

std::uint64_t Partition::apply_limits(std::int64_t now_ms, const Limits &limits, bool sizes) {
  std::uint64_t deleted = 0;
  // The limits count the visible records only (a gated partition's records not yet durable
  // count once they are): a crash may lose those, and recovery must not then keep records that
  // retention deleted to make room for them. So first_ never passes end_ either.
  const std::uint64_t visible = end_.load(std::memory_order_acquire);
  const std::uint64_t end = visible;
  for (;;) {
    const std::uint64_t first = first_.load(std::memory_order_relaxed);
    if (first == end || first == visible) break;
    const Chunk &front = front_locked();
    // How many of the oldest records go: one at a time in memory; an evicted chunk's records in
    // one step (its times and bytes are known only for the chunk, see Chunk::shell_of).
    const std::uint64_t in_front = std::min(front.base() + front.written(), visible) - first;
    const std::uint64_t step = front.resident() ? 1 : in_front;
    std::uint64_t drop = 0;
    if (limits.retention_ms != 0 && now_ms - oldest_timestamp_locked() >= limits.retention_ms)
      drop = step;
    if (sizes && limits.retention_records != 0 && end - first > limits.retention_records)
      drop = std::max(drop, std::min(step, end - first - limits.retention_records));
    // The newest record stays even if it alone is larger (like Kafka's active segment).
    const std::uint64_t all = bytes_.load(std::memory_order_relaxed);
    const std::uint64_t held = all - std::min(all, pending_bytes_.load(std::memory_order_relaxed));
    if (sizes && limits.retention_bytes != 0 && held > limits.retention_bytes && end - first > 1) {
      std::uint64_t need = 1;
      if (!front.resident()) {
        const std::uint64_t per_record =
            std::max<std::uint64_t>(1, front.bytes_left / std::max<std::uint64_t>(1, in_front));
        need = (held - limits.retention_bytes + per_record - 1) / per_record;
      }
      drop = std::max(drop, std::min({step, need, end - first - 1}));
    }
    if (drop == 0) break;
    drop_front_locked(drop);
    deleted += drop;
  }
  return deleted;
}

std::uint64_t Partition::enforce_retention(std::int64_t now_ms, const Limits &limits,
                                           std::int64_t &next_due_ms) {
  std::lock_guard lock(mutex_);
  const std::uint64_t deleted =
      apply_limits(now_ms, limits, limits.discard == Discard::old_records);
  next_due_ms = 0;
  const std::uint64_t first = first_.load(std::memory_order_relaxed);
  if (limits.retention_ms != 0 && first != next_) {
    next_due_ms = oldest_timestamp_locked() + limits.retention_ms;
  }
  if (deleted != 0) appended_.notify_all();  // waiting readers see first_ move
  return deleted;
}

// ---- lookups
// -------------------------------------------------------------------------------------

std::shared_ptr<Chunk> Partition::chunk_for(std::uint64_t offset, int *error) {
  if (error != nullptr) *error = CORQ_OK;
  std::shared_ptr<Chunk> chunk;
  {
    std::lock_guard lock(mutex_);
    if (offset < first_.load(std::memory_order_relaxed) ||
        offset >= end_.load(std::memory_order_relaxed))
      return nullptr;
    // Chunks are in offset order: the last one whose base is <= offset.
    auto it = std::upper_bound(
        chunks_.begin(), chunks_.end(), offset,
        [](std::uint64_t o, const std::shared_ptr<Chunk> &c) { return o < c->base(); });
    if (it == chunks_.begin()) return nullptr;
    chunk = *(it - 1);
  }
  if (chunk->resident()) return chunk;
  return load(chunk, error);  // evicted: from the stream's log, without the partition's lock
}

std::shared_ptr<Chunk> Partition::load(const std::shared_ptr<Chunk> &shell, int *error) {
  std::lock_guard lock(load_mutex_);
  if (loaded_ != nullptr && loaded_->base() == shell->base() && loaded_->count() == shell->count())
    return loaded_;
  std::shared_ptr<Chunk> out;
  std::string detail;
  const int rc = log_ == nullptr ? CORQ_EIO : log_->load(index_, *shell, out, detail);
  if (rc != CORQ_OK) {
    // Retention may have deleted these records (and released their segment) meanwhile.
    const bool deleted = shell->base() + shell->count() <= first_.load(std::memory_order_acquire);
    if (error != nullptr) *error = deleted ? CORQ_OK : rc;
    if (!deleted) load_error_ = std::move(detail);
    return nullptr;
  }
  loaded_ = out;
  return out;
}

std::string Partition::last_load_error() {
  std::lock_guard lock(load_mutex_);
  return load_error_;
}

std::uint64_t Partition::evict(wal::Lsn durable_lsn) {
  std::lock_guard lock(mutex_);
  return evict_locked(durable_lsn);
}

std::uint64_t Partition::evict_locked(wal::Lsn durable_lsn) {
  std::uint64_t freed = 0;
  // Oldest first, never the tail (appends go there), only chunks whose records are all in the
  // log (a reader can read them back); shells stay at the deque's front.
  while (resident_total_ != nullptr && shells_ + 1 < chunks_.size() &&
         static_cast<std::uint64_t>(resident_total_->load(std::memory_order_relaxed)) > budget_) {
    std::shared_ptr<Chunk> &victim = chunks_[shells_];
    if (!victim->resident()) {
      ++shells_;
      continue;
    }
    if (victim->last_lsn() == 0 || victim->last_lsn() > durable_lsn) break;
    freed += victim->memory_bytes();
    forget_chunk_locked(*victim);
    victim = Chunk::shell_of(*victim);  // readers holding the old one keep it until they move on
    ++shells_;
  }
  return freed;
}

void Partition::count_new_chunk_locked(const Chunk &chunk) noexcept {
  const std::uint64_t bytes = chunk.memory_bytes();
  resident_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (resident_total_ != nullptr)
    resident_total_->fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

void Partition::forget_chunk_locked(const Chunk &chunk) noexcept {
  if (!chunk.resident()) {
    if (&chunk == chunks_.front().get() && shells_ != 0) --shells_;
    return;
  }
  const std::uint64_t bytes = chunk.memory_bytes();
  resident_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (resident_total_ != nullptr)
    resident_total_->fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
}

std::uint64_t Partition::offset_for_time(std::int64_t time_ms) {
  std::shared_ptr<Chunk> chunk;
  std::uint64_t first = 0, end = 0;
  {
    std::lock_guard lock(mutex_);
    first = first_.load(std::memory_order_relaxed);
    end = end_.load(std::memory_order_relaxed);
    if (first >= end) return end;
    // Timestamps never decrease within a partition: the first chunk whose newest record is new
    // enough holds the answer.
    auto it =
        std::partition_point(chunks_.begin(), chunks_.end(), [&](const std::shared_ptr<Chunk> &c) {
          return c->base() + c->written() <= first ||
                 (c->count() != 0 && c->last_timestamp_ms() < time_ms);
        });
    if (it == chunks_.end() || (*it)->base() >= end) return end;
    chunk = *it;
  }
  if (!chunk->resident()) {
    std::shared_ptr<Chunk> loaded = load(chunk, nullptr);
    // Not readable back: its first record (a read from there finds the error itself).
    if (loaded == nullptr) return std::max(first, chunk->base());
    chunk = std::move(loaded);
  }
  std::uint64_t low = std::max(first, chunk->base());
  std::uint64_t high = std::min<std::uint64_t>(end, chunk->base() + chunk->count());
  while (low < high) {
    const std::uint64_t mid = low + (high - low) / 2;
    if (chunk->at(static_cast<std::uint32_t>(mid - chunk->base())).timestamp_ms < time_ms) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

std::int64_t Partition::last_timestamp_ms() {
  std::lock_guard lock(mutex_);
  return last_timestamp_ms_;
}

}  // namespace corq::core::stream
