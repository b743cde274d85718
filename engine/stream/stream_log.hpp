// engine/stream/stream_log.hpp — where a durable stream's records live on disk (DESIGN.md §7).
//
// One write-ahead log (wal/'s Log: CRC32C frames, group commit, io_uring or pwritev2, torn-tail
// recovery) per durable stream, in the data directory's `streams/<sid, 10 digits>/`, its segments
// `partition_segment_bytes` long. Why one log per stream and not per partition: the log's writer
// is a thread, and a stream may have 1024 partitions; one writer per stream group-commits every
// partition's appends together (one write and one flush per round for all of them). Why not the
// engine's own log: a stream keeps records for days, which would pin the engine log's segments and
// make its compaction copy them again and again.
//
// Records (little-endian, as engine/durability/records.hpp):
//   record  (type 1)  u32 partition, u64 offset, i64 timestamp_ms, u32 key_len + 1 (0: no key),
//                     the key, str16 dedup_id (the batch's, on its first record; else empty),
//                     u16 header_count, header_count × (str16 key, str32 value), then the payload
//                     (the rest of the record, appended straight from the caller's memory)
//   marks   (type 2)  u32 n, n × (u64 first, u64 end): every partition's retained range, written
//                     right before segments are released, so offsets are never reused even when
//                     retention emptied a partition and the segments that held its records are
//                     gone.
//   txn     (type 3)  u64 txn_id, u32 seq: the last record of a batch holding a committed
//                     transaction's record number `seq` (its position among the transaction's
//                     stream records; engine/txn/): recovery of the engine's log appends again
//                     exactly the records no stream log names.
// A batch (one producer send) is one log batch: recovery sees it whole or not at all. Appends to
// one partition enter the log in offset order (the partition's mutex is held across the append),
// and the log is a prefix after a crash, so a partition's recovered offsets have no holes.
//
// Release: a segment goes once every record in it is below its partition's first retained offset
// (Stream::release_segments computes the floor from each partition's oldest chunk). Memory keeps
// deleting to the record; the disk deletes whole segments, and recovery applies the retention
// limits again to what it reads back.
#pragma once

#include "stream/frame_reader.hpp"
#include "stream/partition.hpp"

#include <log/log.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace corq::core::stream {

class Stream;

struct StreamLogConfig {
  std::string dir;
  std::uint64_t segment_bytes = 64ull << 20;
  bool flush = true;  // sync=always
  wal::BackendChoice backend = wal::BackendChoice::automatic;
  wal::DirectIoChoice direct_io = wal::DirectIoChoice::automatic;
  wal::Vfs *vfs = nullptr;  // tests
  /// The engine's count of resident record memory of durable streams, and its limit.
  std::shared_ptr<std::atomic<std::int64_t>> resident;
  std::uint64_t cache_bytes = 256ull << 20;
};

class StreamLog {
 public:
  /// Record types of a stream's log.
  static constexpr std::uint8_t record_type_record = 1, record_type_marks = 2, record_type_txn = 3;

  /// Opens (creating) the log in `config.dir` and replays it into `stream`'s partitions
  /// (Partition::restore, apply_mark); the stream's durable-visibility callback is wired to the
  /// log's writer. Returns a CORQ_* code: CORQ_ECORRUPT (a damaged log, or records that do not
  /// continue their partition), CORQ_EBUSY, CORQ_ENOMEM, CORQ_EIO, with `error`.
  static int open(const StreamLogConfig &config, Stream &stream, std::unique_ptr<StreamLog> &out,
                  std::string &error);
  ~StreamLog();

  /// Logs one batch for `partition` at offsets [first_offset, first_offset + count), all stamped
  /// `timestamp_ms`; `dedup_id` (may be empty) is the batch's. Called under the partition's
  /// mutex (see above). `last_lsn` gets the batch's last LSN, `first_lsn` its first record's.
  /// `mark` (nullptr: none): the batch is a committed transaction's record, and ends with a txn
  /// record naming it (so `last_lsn` is that record's). CORQ_OK, or CORQ_ENOSPC, CORQ_ETOOBIG,
  /// CORQ_EFAILED, CORQ_ECLOSED with `error`.
  int append(std::uint32_t partition, std::uint64_t first_offset, const AppendInput *records,
             std::size_t count, std::int64_t timestamp_ms, std::string_view dedup_id,
             wal::Lsn &first_lsn, wal::Lsn &last_lsn, std::string &error,
             const TxnMark *mark = nullptr);
  /// Recovery: whether this log holds a transaction's record (its txn records). Cleared by
  /// forget_recovered_txns once the engine's recovery has used them.
  bool holds_txn_record(std::uint64_t txn_id, std::uint32_t seq) const {
    return recovered_txns_.contains({txn_id, seq});
  }
  void forget_recovered_txns() { recovered_txns_.clear(); }
  /// Waits until `lsn` is durable (or the deadline: CORQ_ETIMEDOUT; a failed log: CORQ_EFAILED).
  int wait(wal::Lsn lsn, std::chrono::steady_clock::time_point deadline, std::string &error);
  /// corq_sync: waits until everything appended so far is on the disk (also with sync=none).
  int sync(std::chrono::steady_clock::time_point deadline, std::string &error);
  wal::Lsn durable_lsn() const { return log_->durable_lsn(); }
  wal::Lsn last_appended_lsn() const { return log_->last_appended_lsn(); }
  bool flushes() const noexcept { return flush_; }

  /// Writes a marks record with `ranges` (every partition's [first, end)) and releases the
  /// segments all of whose records have an LSN below `floor`. Only when that frees a segment.
  /// Returns the number of segments released (>= 0), or a CORQ_* code (< 0).
  int release(const std::vector<std::pair<std::uint64_t, std::uint64_t>> &ranges, wal::Lsn floor,
              std::string &error);

  /// Reads the records of `shell` (an evicted chunk of `partition`) back from the log into a new
  /// chunk: from the segment and frame holding its first record's LSN (a sparse index of frame
  /// positions saves rescanning: one entry per MiB walked, and the frame where each load stopped,
  /// where a replay's next load starts), a MiB at a time (FrameReader), checking the CRC of
  /// every frame it takes records from, picking the partition's records in offset order. CORQ_OK,
  /// or CORQ_EIO (not in the log any more, a read failed), CORQ_ECORRUPT, CORQ_ENOMEM, with
  /// `error`.
  int load(std::uint32_t partition, const Chunk &shell, std::shared_ptr<Chunk> &out,
           std::string &error);

  /// Segment files and bytes on disk (stats).
  std::size_t segment_count() const { return log_->segments().size(); }
  const char *backend() const { return log_->backend_name(); }

  /// Flushes and closes (idempotent).
  void close();

 private:
  explicit StreamLog(bool flush) : flush_(flush) {}
  int map_error(int rc, std::string &error) const;

  const bool flush_;
  std::unique_ptr<wal::Log> log_;
  std::string dir_;
  std::set<std::pair<std::uint64_t, std::uint32_t>>
      recovered_txns_;  // open's replay, then the engine's recovery
  std::unique_ptr<wal::Vfs> owned_read_vfs_;
  wal::Vfs *read_vfs_ = nullptr;  // reads of evicted chunks (the test Vfs, or the real files)
  std::mutex index_mutex_;
  /// A frame's first LSN -> (segment id, file offset), one entry per MiB of log or so.
  std::map<wal::Lsn, std::pair<std::uint64_t, std::uint64_t>> frame_index_;
  /// The last load's reader and its buffer (a MiB, or the largest frame read), for the next load.
  std::unique_ptr<FrameReader> spare_reader_;
  /// Memory of chunks read back, reused by the next load (the chunks may outlive this log).
  std::shared_ptr<ChunkMemoryPool> chunk_memory_ = std::make_shared<ChunkMemoryPool>();
};

/// Restores one record of a stream's log (type record_type_record) into its partition, and its
/// dedup id into the stream's window: what StreamLog::open's replay does with each, and what
/// corqctl's view of a stream does. CORQ_OK, or CORQ_ECORRUPT / CORQ_ENOMEM with `error`.
int restore_logged_record(Stream &stream, const wal::RecoveredRecord &record, std::string &error);
/// Applies a marks record (every partition's retained range) to `stream`'s partitions.
int restore_logged_marks(Stream &stream, const wal::RecoveredRecord &record, std::string &error);

/// "streams/0000000042" under the data directory `dir`.
std::string stream_directory(const std::string &dir, std::uint32_t sid);

}  // namespace corq::core::stream
