// engine/stream/stream_log.cpp — a durable stream's own write-ahead log: encoding its records,
// replaying them into the partitions on open, and releasing segments behind retention.
#include "stream/stream_log.hpp"

#include "durability/records.hpp"
#include "stream/stream.hpp"

#include <log/scanner.hpp>
#include <record/crc32c.hpp>
#include <record/format.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace corq::core::stream {

namespace {

/// Frames start at multiples of this (wal/record/format.hpp), the first at block 1.
constexpr std::uint64_t frame_block = 4096;

/// Per-thread scratch for encoding a batch's record heads (no allocation per append once warm).
struct EncodeScratch {
  std::vector<std::byte> heads;
  std::vector<std::size_t> ends;  // heads[ends[i-1], ends[i]) is record i's head
  std::vector<wal::Record> records;
};
thread_local EncodeScratch scratch;

/// One record of the log decoded (views into the record's bytes; header keys copied, as corq_header
/// keys are C strings).
struct DecodedRecord {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::int64_t timestamp_ms = 0;
  bool has_key = false;
  std::string_view key, dedup_id;
  std::vector<std::string> keys;
  std::vector<corq_header> headers;
  corq_message message{};
  /// The record as an append brings it (pointing into this struct: use it before moving it).
  AppendInput input() const {
    static const char empty_key = 0;  // a key of length 0 is a key: it needs a non-null pointer
    return {has_key ? (key.empty() ? &empty_key : key.data()) : nullptr, key.size(), &message};
  }
};

bool decode_record(std::span<const std::byte> payload, DecodedRecord &d) {
  records::Reader r(payload);
  d.partition = r.u32();
  d.offset = r.u64();
  d.timestamp_ms = r.i64();
  const std::uint32_t key_field = r.u32();
  d.has_key = key_field != 0;
  d.key = {};
  if (d.has_key) {
    const std::span<const std::byte> rest = r.rest();
    if (rest.size() < key_field - 1) return false;
    d.key = std::string_view(reinterpret_cast<const char *>(rest.data()), key_field - 1);
    r = records::Reader(rest.subspan(key_field - 1));
  }
  d.dedup_id = r.str16();
  const std::uint16_t header_count = r.u16();
  d.keys.resize(header_count);
  d.headers.resize(header_count);
  for (std::uint16_t i = 0; i < header_count; ++i) {
    d.keys[i] = std::string(r.str16());
    const std::string_view value = r.str32();
    d.headers[i] = {d.keys[i].c_str(), value.data(), value.size()};
  }
  if (!r.ok()) return false;
  const std::span<const std::byte> body = r.rest();
  d.message = corq_message{};
  d.message.data = body.data();
  d.message.len = body.size();
  d.message.headers = d.headers.empty() ? nullptr : d.headers.data();
  d.message.header_count = d.headers.size();
  return true;
}

}  // namespace

int restore_logged_record(Stream &stream, const wal::RecoveredRecord &in, std::string &error) {
  DecodedRecord d;
  if (!decode_record(in.payload, d)) return error = "truncated record", CORQ_ECORRUPT;
  if (d.partition >= stream.partition_count()) {
    error = "record of partition " + std::to_string(d.partition) + " in a stream of " +
            std::to_string(stream.partition_count());
    return CORQ_ECORRUPT;
  }
  if (const int rc =
          stream.partition(d.partition).restore(d.offset, d.timestamp_ms, d.input(), in.lsn, error);
      rc != CORQ_OK)
    return rc;
  if (!d.dedup_id.empty()) stream.restore_dedup(d.dedup_id, d.partition, d.offset, d.timestamp_ms);
  return CORQ_OK;
}

int restore_logged_marks(Stream &stream, const wal::RecoveredRecord &in, std::string &error) {
  records::Reader r(in.payload);
  const std::uint32_t n = r.u32();
  if (!r.ok() || n != stream.partition_count()) return error = "bad marks record", CORQ_ECORRUPT;
  for (std::uint32_t p = 0; p < n; ++p) {
    const std::uint64_t first = r.u64();
    const std::uint64_t end = r.u64();
    if (!r.ok() || first > end) return error = "bad marks record", CORQ_ECORRUPT;
    if (const int rc = stream.partition(p).apply_mark(first, end, error); rc != CORQ_OK) return rc;
  }
  return CORQ_OK;
}

std::string stream_directory(const std::string &dir, std::uint32_t sid) {
  char name[32];
  std::snprintf(name, sizeof name, "%010u", sid);
  return dir + "/streams/" + name;
}

int StreamLog::open(const StreamLogConfig &config, Stream &stream, std::unique_ptr<StreamLog> &out,
                    std::string &error) {
  std::unique_ptr<StreamLog> log(new StreamLog(config.flush));
  log->dir_ = config.dir;
  if (config.vfs == nullptr) log->owned_read_vfs_ = wal::make_psync_vfs();
  log->read_vfs_ = config.vfs != nullptr ? config.vfs : log->owned_read_vfs_.get();
  wal::LogOptions options;
  options.dir = config.dir;
  options.segment_bytes = config.segment_bytes;
  options.flush = config.flush;
  options.backend = config.backend;
  options.direct_io = config.direct_io;
  options.vfs = config.vfs;
  // Gated partitions become visible as the writer makes their batches durable.
  Stream *s = &stream;
  options.on_durable = [s](wal::Lsn lsn) { s->on_durable(lsn); };
  int replay_rc = CORQ_OK;
  std::string replay_error;
  std::string log_error;
  const int rc = wal::Log::open(
      options,
      [&](const wal::RecoveredRecord &record) {
        switch (record.type) {
          case record_type_record:
            replay_rc = restore_logged_record(stream, record, replay_error);
            break;
          case record_type_marks:
            replay_rc = restore_logged_marks(stream, record, replay_error);
            break;
          case record_type_txn: {
            records::Reader r(record.payload);
            const std::uint64_t txn_id = r.u64();
            const std::uint32_t seq = r.u32();
            if (!r.ok()) {
              replay_error = "bad txn record", replay_rc = CORQ_ECORRUPT;
              break;
            }
            try {
              log->recovered_txns_.insert({txn_id, seq});
            } catch (const std::bad_alloc &) {
              replay_error = "out of memory", replay_rc = CORQ_ENOMEM;
            }
            break;
          }
          default: replay_error = "unknown record type", replay_rc = CORQ_ECORRUPT;
        }
        if (replay_rc == CORQ_OK) return 0;
        replay_error = "LSN " + std::to_string(record.lsn) + ": " + replay_error;
        return replay_rc == CORQ_ENOMEM ? -ENOMEM : -EBADMSG;
      },
      log->log_, log_error);
  if (rc != 0) {
    const std::string where = "stream '" + stream.name() + "' (" + config.dir + "): ";
    if (replay_rc != CORQ_OK) return error = where + replay_error, replay_rc;
    if (rc == -EWOULDBLOCK || rc == -EAGAIN) return error = where + "in use", CORQ_EBUSY;
    if (rc == -EBADMSG) return error = where + "corrupt: " + log_error, CORQ_ECORRUPT;
    error = where + log_error + " (" + std::strerror(-rc) + ")";
    if (rc == -ENOSPC) return CORQ_ENOSPC;
    if (rc == -ENOMEM) return CORQ_ENOMEM;
    return CORQ_EIO;
  }
  out = std::move(log);
  return CORQ_OK;
}

StreamLog::~StreamLog() { close(); }

void StreamLog::close() {
  if (log_ != nullptr) log_->close();
}

int StreamLog::map_error(int rc, std::string &error) const {
  if (rc == 0) return CORQ_OK;
  if (const int f = log_->failure(); f != 0) {
    error = std::string("the stream's log failed (") + std::strerror(-f) +
            "); the engine must be closed and the directory opened again to recover";
    return CORQ_EFAILED;
  }
  switch (rc) {
    case -ENOSPC:
      error = "the disk is full: the stream's log cannot take new records";
      return CORQ_ENOSPC;
    case -EMSGSIZE:
      error = "the batch is larger than a stream log segment (partition_segment_bytes)";
      return CORQ_ETOOBIG;
    case -ESHUTDOWN: error = "the engine is closed"; return CORQ_ECLOSED;
    case -ETIMEDOUT:
      error = "timed out waiting for the stream's log to make the records durable";
      return CORQ_ETIMEDOUT;
    default: error = std::string("stream log: ") + std::strerror(-rc); return CORQ_EIO;
  }
}

int StreamLog::append(std::uint32_t partition, std::uint64_t first_offset,
                      const AppendInput *inputs, std::size_t count, std::int64_t timestamp_ms,
                      std::string_view dedup_id, wal::Lsn &first_lsn, wal::Lsn &last_lsn,
                      std::string &error, const TxnMark *mark) {
  EncodeScratch &s = scratch;
  s.heads.clear();
  s.ends.clear();
  s.records.clear();
  records::Writer w(s.heads);
  for (std::size_t i = 0; i < count; ++i) {
    const AppendInput &in = inputs[i];
    const corq_message &m = *in.message;
    w.u32(partition);
    w.u64(first_offset + i);
    w.i64(timestamp_ms);
    w.u32(in.key == nullptr ? 0 : static_cast<std::uint32_t>(in.key_len + 1));
    if (in.key != nullptr) w.bytes(in.key, in.key_len);
    w.str16(i == 0 ? dedup_id : std::string_view{});
    w.u16(static_cast<std::uint16_t>(m.header_count));
    for (std::size_t h = 0; h < m.header_count; ++h) {
      w.str16(m.headers[h].key);
      w.str32(
          std::string_view(static_cast<const char *>(m.headers[h].value), m.headers[h].value_len));
    }
    s.ends.push_back(s.heads.size());
  }
  // Spans into heads only once it stops growing.
  std::size_t from = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::span<const std::byte> head(s.heads.data() + from, s.ends[i] - from);
    const std::span<const std::byte> payload(
        static_cast<const std::byte *>(inputs[i].message->data), inputs[i].message->len);
    s.records.push_back(wal::Record{record_type_record, head, payload});
    from = s.ends[i];
  }
  std::byte txn_payload[12];
  if (mark != nullptr) {
    std::memcpy(txn_payload, &mark->txn_id, 8);  // little-endian, as every record
    std::memcpy(txn_payload + 8, &mark->seq, 4);
    s.records.push_back(wal::Record{record_type_txn, {txn_payload, sizeof txn_payload}});
  }
  const int rc = log_->append(s.records, last_lsn);
  if (rc != 0) return map_error(rc, error);
  first_lsn = last_lsn - s.records.size() + 1;
  return CORQ_OK;
}

int StreamLog::wait(wal::Lsn lsn, std::chrono::steady_clock::time_point deadline,
                    std::string &error) {
  return map_error(log_->wait_durable(lsn, deadline), error);
}

int StreamLog::sync(std::chrono::steady_clock::time_point deadline, std::string &error) {
  return map_error(log_->flush_through(log_->last_appended_lsn(), deadline), error);
}

int StreamLog::release(const std::vector<std::pair<std::uint64_t, std::uint64_t>> &ranges,
                       wal::Lsn floor, std::string &error) {
  // Only worth a record when a sealed segment lies wholly below the floor.
  const std::vector<wal::SegmentInfo> segments = log_->segments();
  std::size_t releasable = 0;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i].last_lsn == 0 || segments[i].last_lsn >= floor) break;
    ++releasable;
  }
  if (releasable == 0) return 0;
  std::vector<std::byte> payload;
  records::Writer w(payload);
  w.u32(static_cast<std::uint32_t>(ranges.size()));
  for (const auto &[first, end] : ranges) {
    w.u64(first);
    w.u64(end);
  }
  const wal::Record record{record_type_marks, payload};
  wal::Lsn lsn = 0;
  if (const int rc = log_->append({&record, 1}, lsn, wal::AppendClass::reserved); rc != 0)
    return map_error(rc, error);
  // The marks must be on the disk before the records they stand for are gone.
  if (const int rc = log_->flush_through(lsn, std::chrono::steady_clock::time_point::max());
      rc != 0)
    return map_error(rc, error);
  if (const int rc = log_->release_before(floor); rc != 0) return map_error(rc, error);
  {
    std::lock_guard lock(index_mutex_);
    frame_index_.erase(frame_index_.begin(), frame_index_.lower_bound(floor));
    // The kept reader may hold a released segment open, which would keep its disk space in use.
    spare_reader_.reset();
  }
  return static_cast<int>(releasable);
}

int StreamLog::load(std::uint32_t partition, const Chunk &shell, std::shared_ptr<Chunk> &out,
                    std::string &error) {
  const wal::Lsn from_lsn = shell.lsn_floor(0);
  const std::uint64_t want_from = shell.base();
  const std::uint64_t want_to = shell.base() + shell.count();
  if (from_lsn == 0) return error = "an evicted chunk without its log position", CORQ_EIO;
  const std::vector<wal::SegmentInfo> segments = log_->segments();
  std::size_t si = 0;
  while (si < segments.size() && (segments[si].last_lsn == 0 || segments[si].last_lsn < from_lsn))
    ++si;
  if (si == segments.size() || segments[si].first_lsn > from_lsn)
    return error = "records at LSN " + std::to_string(from_lsn) + " are no longer in the log",
           CORQ_EIO;
  std::uint64_t offset = frame_block;
  {
    std::lock_guard lock(index_mutex_);
    auto it = frame_index_.upper_bound(from_lsn);
    if (it != frame_index_.begin() && (--it)->second.first == segments[si].id)
      offset = it->second.second;
  }
  std::shared_ptr<Chunk> chunk;
  try {
    chunk = std::make_shared<Chunk>(
        want_from, std::max<std::size_t>(shell.original_arena_used(), 8), chunk_memory_);
  } catch (const std::bad_alloc &) {
    return error = "out of memory reading records back", CORQ_ENOMEM;
  }
  // The reader of the previous load, if no other load holds it: a replay's next chunk usually
  // starts in the frame where the last one ended, already read and checked.
  std::unique_ptr<FrameReader> kept;
  {
    std::lock_guard lock(index_mutex_);
    kept = std::move(spare_reader_);
  }
  if (kept == nullptr) kept = std::make_unique<FrameReader>(*read_vfs_);
  FrameReader &reader = *kept;
  struct KeepReader {
    StreamLog &log;
    std::unique_ptr<FrameReader> &reader;
    ~KeepReader() {
      reader->mark_tail_stale();
      std::lock_guard lock(log.index_mutex_);
      if (log.spare_reader_ == nullptr) log.spare_reader_ = std::move(reader);
    }
  } keep{*this, kept};
  bool reader_open = reader.is_open() && reader.segment_id() == segments[si].id;  // segments[si]
  std::uint64_t last_indexed = 0;
  std::uint64_t next = want_from;
  DecodedRecord d;
  const auto where = [&] {
    return dir_ + "/" + wal::segment_file_name(segments[si].id) + " at " + std::to_string(offset);
  };
  const auto index_frame = [&](wal::Lsn first_lsn) {
    std::lock_guard lock(index_mutex_);
    frame_index_.emplace(first_lsn, std::make_pair(reader.segment_id(), offset));
  };
  wal::FrameHeader h{};
  const std::byte *frame = nullptr;
  while (next < want_to) {
    if (si == segments.size())
      return error = "the log ends before offset " + std::to_string(next), CORQ_EIO;
    const std::uint64_t id = segments[si].id;
    if (!reader_open) {
      if (const int rc = reader.open(dir_ + "/" + wal::segment_file_name(id), id); rc != 0)
        return error = "cannot open " + where() + ": " + std::strerror(-rc), CORQ_EIO;
      reader_open = true;
      last_indexed = offset;
    }
    const int got = reader.frame_at(offset, h, frame);
    if (got < 0) return error = "cannot read " + where() + ": " + std::strerror(-got), CORQ_EIO;
    if (got == 0) {
      ++si;  // past this segment's frames: the next segment
      offset = frame_block;
      reader_open = false;
      continue;
    }
    const std::uint32_t count = wal::frame_record_count(h);
    // (Not from a stale buffer: a frame being written then could show a torn header.)
    if (offset - last_indexed >= (1u << 20) && !reader.stale()) {
      index_frame(h.first_lsn);
      last_indexed = offset;
    }
    // Frames wholly before the chunk's first record are stepped over unread (no CRC).
    if (h.first_lsn + count > from_lsn) {
      const std::size_t crc_from = offsetof(wal::FrameHeader, frame_bytes);
      if (!reader.checked(offset)) {
        if (wal::crc32c(0, frame + crc_from, h.frame_bytes - crc_from) != h.crc) {
          // A buffer kept from an earlier load may hold this frame as it was while being written.
          if (reader.reread_if_stale(offset)) continue;
          return error = "checksum mismatch in the frame " + where(), CORQ_ECORRUPT;
        }
        reader.set_checked(offset);
      }
      std::size_t at = sizeof(wal::FrameHeader);
      for (std::uint32_t i = 0; i < count && next < want_to; ++i) {
        wal::RecordHeader rh{};
        if (at + sizeof rh > h.frame_bytes) return error = "bad frame " + where(), CORQ_ECORRUPT;
        std::memcpy(&rh, frame + at, sizeof rh);
        const std::span<const std::byte> payload(frame + at + sizeof rh, rh.payload_bytes);
        at += sizeof rh + rh.payload_bytes;
        if (at > h.frame_bytes) return error = "bad frame " + where(), CORQ_ECORRUPT;
        if (h.first_lsn + i < from_lsn || rh.type != record_type_record) continue;
        if (!decode_record(payload, d)) return error = "bad record " + where(), CORQ_ECORRUPT;
        if (d.partition != partition || d.offset < next) continue;
        if (d.offset != next)
          return error = "offset " + std::to_string(next) + " missing " + where(), CORQ_ECORRUPT;
        const AppendInput input = d.input();
        if (!chunk->fits(Chunk::arena_bytes_for(input)))
          return error = "records read back do not fit their chunk " + where(), CORQ_ECORRUPT;
        chunk->write(input, d.timestamp_ms);
        ++next;
      }
      // The next chunk's load (a replay reads chunk after chunk) starts at this frame: it may
      // hold that chunk's first records too.
      if (next == want_to) index_frame(h.first_lsn);
    }
    offset +=
        (static_cast<std::uint64_t>(h.frame_bytes) + frame_block - 1) / frame_block * frame_block;
  }
  chunk->publish();
  out = std::move(chunk);
  return CORQ_OK;
}

}  // namespace corq::core::stream
