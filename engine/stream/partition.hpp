// engine/stream/partition.hpp — one partition of a stream: a retained, densely numbered sequence of
// records that any number of readers read at their own pace (DESIGN.md §7).
//
// Memory layout: the records live in chunks — one allocation of record descriptors and one arena
// of bytes (key, header array and strings, payload) per run of up to `chunk_records` consecutive
// records. A chunk never moves or changes once its records are published, so readers hand out
// pointers into it (zero-copy) and keep a chunk alive with a shared_ptr for as long as their last
// read's records must stay valid; retention drops the partition's reference, and the memory goes
// with the last reader that still pins it.
//
// Concurrency:
//   append — under the partition's mutex (offsets are dense: one appender at a time, like a Kafka
//            log's lock). A batch is written into the chunk(s) first, then published at once: each
//            touched chunk's count, then end_ (release), then readers are woken. So a batch is seen
//            whole or not at all.
//   read   — no lock while the reader stays inside a chunk it holds: end_ (acquire) says how far
//            it may read, and a chunk's count was stored before end_. The mutex is taken only to
//            find the next chunk (once per chunk_records records) and for time lookups.
//   retention — under the mutex: first_ moves forward (release) record by record, so deletion is
//            exact to the record; a chunk is dropped once all its records are below first_.
//
// Durable streams (stream_log.hpp): the batch also goes to the stream's log, under the mutex, so
// the log holds each partition's records in offset order. With sync=always the partition is
// *gated*: end_ (what readers see) moves only once the log says the batch is durable
// (advance_durable, called by the appender that waited and by the log's writer), so an offset once
// read never changes; next_ is where appends go. Without a gate end_ == next_.
#pragma once

#include "options/options.hpp"
#include "sync/event_count.hpp"

#include <corq/corq.h>

#include <log/log.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corq::core::stream {

/// One record as a partition keeps it: views into its chunk's arena.
struct StoredRecord {
  std::int64_t timestamp_ms;
  const std::byte *key;  // nullptr: no key (a key of length 0 is non-null)
  const std::byte *data;
  const corq_header *headers;
  std::uint32_t key_len;
  std::uint32_t len;
  std::uint32_t header_count;
  std::uint32_t bytes;  // what it counts against retention_bytes: key + payload + header strings
};

/// What an append brings (views into the caller's memory, copied by the append).
struct AppendInput {
  const void *key;  // nullptr: no key
  std::size_t key_len;
  const corq_message *message;
};

/// A committed transaction's record (engine/txn/): which transaction, and which of its stream
/// records (its position among them) — the stream's log names it after the record.
struct TxnMark {
  std::uint64_t txn_id = 0;
  std::uint32_t seq = 0;
};

/// Bytes a record counts against retention_bytes (key, payload, header keys and values).
std::uint64_t counted_bytes(const AppendInput &in) noexcept;

/// The retention limits in force (per partition; 0 = no limit).
struct Limits {
  std::int64_t retention_ms = 0;
  std::uint64_t retention_bytes = 0;
  std::uint64_t retention_records = 0;
  Discard discard = Discard::old_records;
};

class StreamLog;
class ChunkMemoryPool;

/// Records of one run of offsets [base, base + count()).
class Chunk {
 public:
  /// Records per chunk; a chunk's arena is at least `arena_bytes_min` (more for a record that
  /// needs it alone).
  static constexpr std::uint32_t chunk_records = 4096;
  static constexpr std::size_t arena_bytes_min = 1u << 20;

  Chunk(std::uint64_t base, std::size_t arena_bytes);
  /// A chunk whose memory comes from `pool` when it has a block that fits, and goes back to it
  /// when the chunk is destroyed (chunks read back from a log: StreamLog::load).
  Chunk(std::uint64_t base, std::size_t arena_bytes, std::shared_ptr<ChunkMemoryPool> pool);
  ~Chunk();
  /// A shell (shell_of's): no records, no arena.
  struct ShellTag {};
  Chunk(ShellTag, std::uint64_t base) : base_(base), arena_bytes_(0) {}
  Chunk(const Chunk &) = delete;
  Chunk &operator=(const Chunk &) = delete;

  /// Durable streams: what stays in memory of an evicted chunk (its records are read back from the
  /// stream's log when needed): offsets, the times and bytes retention needs, the LSN index. No
  /// records: at() must not be called on it; about 600 bytes.
  static std::shared_ptr<Chunk> shell_of(const Chunk &chunk);
  /// False for a shell.
  bool resident() const noexcept { return records_ != nullptr; }
  /// Memory its records take (descriptors and arena; 0 for a shell).
  std::size_t memory_bytes() const noexcept {
    return resident() ? arena_bytes_ + chunk_records * sizeof(StoredRecord) : 0;
  }
  std::int64_t first_timestamp_ms() const noexcept { return first_ts_; }
  std::int64_t last_timestamp_ms() const noexcept { return last_ts_; }
  /// The counted bytes (retention_bytes) of the records not yet deleted from a shell's front
  /// (partition's mutex), and of all its records when written.
  std::uint64_t bytes_left = 0;
  /// The LSN of its last record (0: not logged).
  wal::Lsn last_lsn() const noexcept { return last_lsn_; }
  /// A shell: the arena bytes its records took (a chunk read back needs exactly as many).
  std::size_t original_arena_used() const noexcept { return original_arena_used_; }

  std::uint64_t base() const noexcept { return base_; }
  /// Records readers may see (acquire: their contents are visible).
  std::uint32_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  const StoredRecord &at(std::uint32_t i) const noexcept { return records_[i]; }

  // ---- the appender's side (under the partition's mutex) ----
  /// Records written, published or not.
  std::uint32_t written() const noexcept { return written_; }
  bool fits(std::size_t arena_bytes) const noexcept {
    return written_ < chunk_records && arena_used_ + arena_bytes <= arena_bytes_;
  }
  /// Copies the record in (not visible until publish). The caller checked fits().
  void write(const AppendInput &in, std::int64_t timestamp_ms) noexcept;
  /// Makes every written record visible.
  void publish() noexcept { count_.store(written_, std::memory_order_release); }
  /// Forgets records written but not published (a batch that was refused half-way).
  void unwrite(std::uint32_t keep, std::size_t arena_used) noexcept {
    written_ = keep;
    arena_used_ = arena_used;
  }
  std::size_t arena_used() const noexcept { return arena_used_; }
  /// Durable streams: the log LSN of every lsn_stride-th record (a sparse index, 512 bytes per
  /// chunk): the LSN at or before record `index` bounds what the log may release while that
  /// record is retained (LSNs grow with offsets within a partition). 0: not logged.
  static constexpr std::uint32_t lsn_stride = 64;
  void note_lsn(std::uint32_t index, wal::Lsn lsn) noexcept {
    if (index % lsn_stride == 0) lsns_[index / lsn_stride] = lsn;
    last_lsn_ = lsn;
  }
  wal::Lsn lsn_floor(std::uint32_t index) const noexcept { return lsns_[index / lsn_stride]; }

  /// Arena bytes a record needs (header array aligned, strings, key, payload).
  static std::size_t arena_bytes_for(const AppendInput &in) noexcept;

 private:
  const std::uint64_t base_;
  std::unique_ptr<StoredRecord[]> records_;
  std::unique_ptr<std::byte[]> arena_;
  std::size_t arena_bytes_;
  std::shared_ptr<ChunkMemoryPool> pool_;
  std::size_t arena_used_ = 0;
  std::uint32_t written_ = 0;
  wal::Lsn lsns_[chunk_records / lsn_stride] = {};
  wal::Lsn last_lsn_ = 0;
  std::int64_t first_ts_ = 0, last_ts_ = 0;
  std::size_t original_arena_used_ = 0;
  std::atomic<std::uint32_t> count_{0};
};

/// Memory of chunks read back from a stream's log, kept for the next ones. A replay reads a chunk
/// of 4096 records after another; fresh memory for each cost a page fault per 4 KiB touched, which
/// measured ~40% of a replay's time from disk here. A chunk's memory returns to the pool when
/// its last holder drops it (after the shared_ptr's release/acquire, so reuse is race-free), and
/// the pool keeps at most `max_blocks` blocks: at most that many chunks' memory beyond the cache.
class ChunkMemoryPool {
 public:
  static constexpr std::size_t max_blocks = 2;
  struct Block {
    std::unique_ptr<StoredRecord[]> records;
    std::unique_ptr<std::byte[]> arena;
    std::size_t arena_bytes = 0;
  };
  /// A kept block whose arena holds `arena_bytes` without being over twice that, or an empty
  /// Block (the caller allocates).
  Block take(std::size_t arena_bytes);
  void give(Block block);

 private:
  std::mutex mutex_;
  std::vector<Block> blocks_;
};

class Partition {
 public:
  explicit Partition(std::uint32_t index) : index_(index) {}
  ~Partition();
  Partition(const Partition &) = delete;
  Partition &operator=(const Partition &) = delete;

  std::uint32_t index() const noexcept { return index_; }
  /// The first retained offset and the next offset to be appended (acquire).
  std::uint64_t first() const noexcept { return first_.load(std::memory_order_acquire); }
  std::uint64_t end() const noexcept { return end_.load(std::memory_order_acquire); }
  /// Retained bytes (key + payload + header strings of the retained records).
  std::uint64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }

  /// Appends `count` records (count >= 1), all or none, stamped max(now_ms, the last timestamp).
  /// Returns CORQ_OK with the first offset in `first_offset`, or CORQ_EFULL (discard=new and a
  /// limit would be passed; nothing appended) or CORQ_ENOMEM, with `error`; on a durable stream
  /// also the log's errors (CORQ_ENOSPC, CORQ_EFAILED, ...: nothing appended). `deleted` gets the
  /// records retention removed to make room (discard=old). `last_lsn` gets the batch's last log
  /// LSN on a durable stream (0 otherwise); `dedup_id` goes into the log with the batch, and
  /// `mark` (nullptr: none) marks it as a committed transaction's (StreamLog::append).
  int append(const AppendInput *records, std::size_t count, std::int64_t now_ms,
             const Limits &limits, std::string_view dedup_id, std::uint64_t &first_offset,
             std::uint64_t &deleted, wal::Lsn &last_lsn, std::string &error,
             const TxnMark *mark = nullptr);
  /// What a discard=new refusal of `count` more records of `bytes` would say now ("" if it would
  /// take them): a transaction's commit checks its appends before anything is logged.
  std::string refusal(std::size_t count, std::uint64_t bytes, const Limits &limits);

  // ---- durable streams ----
  /// From now on appends go to `log` too (not owned; it outlives the partition's use of it);
  /// `gated`: readers see a batch only once durable.
  void attach_log(StreamLog *log, bool gated) noexcept {
    log_ = log;
    gated_ = gated;
  }
  /// The log is durable through `durable_lsn`: makes the batches it covers visible. True if end()
  /// moved (readers were woken). Any thread; cheap when nothing waits.
  bool advance_durable(wal::Lsn durable_lsn);
  /// After a batch became visible: the size limits (retention_records, retention_bytes; with
  /// discard=old) over the records now counted. Returns the records deleted.
  std::uint64_t enforce_sizes(const Limits &limits);
  /// Recovery (single-threaded, before anyone reads): one record read back from the log. CORQ_OK,
  /// CORQ_ECORRUPT (it does not continue the partition), CORQ_ENOMEM, with `error`.
  int restore(std::uint64_t offset, std::int64_t timestamp_ms, const AppendInput &record,
              wal::Lsn lsn, std::string &error);
  /// Recovery: a marks record's [first, end) of this partition. CORQ_OK or CORQ_ECORRUPT.
  int apply_mark(std::uint64_t first, std::uint64_t end, std::string &error);
  /// The retained range [first, next) including records not yet durable (marks records).
  std::pair<std::uint64_t, std::uint64_t> retained_range();
  /// The lowest LSN a retained record of this partition may have (UINT64_MAX: none retained).
  wal::Lsn release_floor();
  /// The engine-wide count of durable streams' resident record memory and its limit
  /// (stream_cache_bytes): past it, appends and evict() turn the oldest durable chunks into shells.
  void attach_cache(std::shared_ptr<std::atomic<std::int64_t>> resident,
                    std::uint64_t budget) noexcept {
    resident_total_ = std::move(resident);
    budget_ = budget;
  }
  /// Evicts this partition's oldest chunks whose records are all in the log (through
  /// `durable_lsn`) while the engine is over its budget. Returns the bytes freed.
  std::uint64_t evict(wal::Lsn durable_lsn);
  /// Record memory resident in this partition (stats).
  std::uint64_t resident_bytes() const noexcept {
    return resident_bytes_.load(std::memory_order_relaxed);
  }

  /// Deletes what retention_ms says has expired by `now_ms` (and what the size limits say, after
  /// a redeclaration lowered them). Returns the records deleted; `next_due_ms` gets when the
  /// oldest retained record expires (0: never).
  std::uint64_t enforce_retention(std::int64_t now_ms, const Limits &limits,
                                  std::int64_t &next_due_ms);

  /// The chunk holding `offset` with its records in memory (read back from the stream's log when
  /// the partition's chunk there was evicted), or nullptr when it is below first() or at/after
  /// end(), or when reading it back failed: then `error` (if given) gets a CORQ_* code (CORQ_EIO,
  /// CORQ_ECORRUPT, CORQ_ENOMEM) — unless retention deleted it meanwhile (0).
  std::shared_ptr<Chunk> chunk_for(std::uint64_t offset, int *error = nullptr);
  /// Why the last read back of an evicted chunk failed (the log's detail: file, offset, cause).
  std::string last_load_error();
  /// The first offset whose timestamp is >= `time_ms` (end() if none).
  std::uint64_t offset_for_time(std::int64_t time_ms);
  /// The timestamp of the newest record (0 if none ever).
  std::int64_t last_timestamp_ms();

  /// Readers waiting for records wait here (notified by every append and by wakeups).
  sync::EventCount &appended() noexcept { return appended_; }

 private:
  /// The chunk holding the oldest retained record (mutex_ held, one retained); lets go of emptied
  /// front chunks first. It may be a shell.
  Chunk &front_locked() noexcept;
  /// The oldest retained record's timestamp (a shell: its newest record's, so time retention of
  /// evicted records goes a chunk at a time and never early).
  std::int64_t oldest_timestamp_locked() noexcept;
  /// Deletes the `n` oldest retained records (mutex_ held, n <= retained visible ones).
  void drop_front_locked(std::uint64_t n) noexcept;
  /// Forgets `chunk` (leaving the deque): its memory leaves the resident count.
  void forget_chunk_locked(const Chunk &chunk) noexcept;
  void count_new_chunk_locked(const Chunk &chunk) noexcept;
  std::uint64_t evict_locked(wal::Lsn durable_lsn);
  /// Reads an evicted chunk back (no partition lock held; one load at a time per partition, the
  /// last one kept for the next reader).
  std::shared_ptr<Chunk> load(const std::shared_ptr<Chunk> &shell, int *error);
  std::uint64_t apply_limits(std::int64_t now_ms, const Limits &limits, bool sizes);
  /// discard=new's refusal text for a batch at [first, end) ("" if it fits); mutex_ held.
  std::string refusal_locked(std::uint64_t first, std::uint64_t end, std::size_t count,
                             std::uint64_t batch_bytes, const Limits &limits) const;

  const std::uint32_t index_;
  std::mutex mutex_;
  std::deque<std::shared_ptr<Chunk>> chunks_;  // mutex_; in offset order
  std::int64_t last_timestamp_ms_ = 0;         // mutex_
  std::uint64_t next_ = 0;                     // mutex_: the next offset to append
  std::size_t shells_ = 0;                     // mutex_: the evicted chunks at the deque's front
  std::shared_ptr<std::atomic<std::int64_t>> resident_total_;
  std::uint64_t budget_ = 0;
  std::atomic<std::uint64_t> resident_bytes_{0};
  std::mutex load_mutex_;
  std::shared_ptr<Chunk> loaded_;  // load_mutex_: the chunk last read back
  std::string load_error_;         // load_mutex_: why the last failed read back failed
  StreamLog *log_ = nullptr;
  bool gated_ = false;
  std::mutex gate_mutex_;  // never held with mutex_ wanted
  struct PendingBatch {
    wal::Lsn last_lsn;
    std::uint64_t end;    // end_ once it is durable
    std::uint64_t bytes;  // its counted bytes
  };
  std::deque<PendingBatch> pending_;  // gate_mutex_
  /// Bytes of the batches in pending_: retention counts only durable records, so a crash that
  /// loses the tail never makes recovery keep records retention had already deleted.
  std::atomic<std::uint64_t> pending_bytes_{0};
  std::atomic<std::uint32_t> pending_count_{0};  // pending_.size(), read without lock
  alignas(64) std::atomic<std::uint64_t> first_{0};
  std::atomic<std::uint64_t> end_{0};
  std::atomic<std::uint64_t> bytes_{0};
  alignas(64) sync::EventCount appended_;
};

}  // namespace corq::core::stream
