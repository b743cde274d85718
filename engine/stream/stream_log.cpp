// engine/stream/stream_log.cpp — a durable stream's own write-ahead log: encoding its records,
// replaying them into the partitions on open, and releasing segments behind retention.
#include "stream/stream_log.hpp"

#include "durability/records.hpp"
#include "stream/stream.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace corq::core::stream {

namespace {

/// Per-thread scratch for encoding a batch's record heads (no allocation per append once warm).
struct EncodeScratch {
  std::vector<std::byte> heads;
  std::vector<std::size_t> ends;  // heads[ends[i-1], ends[i]) is record i's head
  std::vector<wal::Record> records;
};
thread_local EncodeScratch scratch;

/// Decodes one `record` and restores it into its partition.
int replay_record(Stream &stream, const wal::RecoveredRecord &in, std::string &error) {
  records::Reader r(in.payload);
  const std::uint32_t partition = r.u32();
  const std::uint64_t offset = r.u64();
  const std::int64_t timestamp = r.i64();
  const std::uint32_t key_field = r.u32();
  std::string_view key;
  if (key_field != 0) {
    const std::span<const std::byte> rest = r.rest();
    if (rest.size() < key_field - 1) return error = "truncated key", CORQ_ECORRUPT;
    key = std::string_view(reinterpret_cast<const char *>(rest.data()), key_field - 1);
    r = records::Reader(rest.subspan(key_field - 1));
  }
  const std::string_view dedup_id = r.str16();
  const std::uint16_t header_count = r.u16();
  // corq_header keys are C strings: keep NUL-terminated copies while the record is restored.
  std::vector<std::string> keys(header_count);
  std::vector<corq_header> headers(header_count);
  for (std::uint16_t i = 0; i < header_count; ++i) {
    keys[i] = std::string(r.str16());
    const std::string_view value = r.str32();
    headers[i] = {keys[i].c_str(), value.data(), value.size()};
  }
  if (!r.ok()) return error = "truncated record", CORQ_ECORRUPT;
  if (partition >= stream.partition_count()) {
    error = "record of partition " + std::to_string(partition) + " in a stream of " +
            std::to_string(stream.partition_count());
    return CORQ_ECORRUPT;
  }
  const std::span<const std::byte> payload = r.rest();
  corq_message message{};
  message.data = payload.data();
  message.len = payload.size();
  message.headers = headers.empty() ? nullptr : headers.data();
  message.header_count = headers.size();
  const AppendInput input{key_field == 0 ? nullptr : key.data(), key.size(), &message};
  // A key of length 0 is a key: it needs a non-null pointer.
  static const char empty_key = 0;
  AppendInput fixed = input;
  if (key_field == 1) fixed.key = &empty_key;
  if (const int rc = stream.partition(partition).restore(offset, timestamp, fixed, in.lsn, error);
      rc != CORQ_OK)
    return rc;
  if (!dedup_id.empty()) stream.restore_dedup(dedup_id, partition, offset, timestamp);
  return CORQ_OK;
}

int replay_marks(Stream &stream, const wal::RecoveredRecord &in, std::string &error) {
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

}  // namespace

std::string stream_directory(const std::string &dir, std::uint32_t sid) {
  char name[32];
  std::snprintf(name, sizeof name, "%010u", sid);
  return dir + "/streams/" + name;
}

int StreamLog::open(const StreamLogConfig &config, Stream &stream, std::unique_ptr<StreamLog> &out,
                    std::string &error) {
  std::unique_ptr<StreamLog> log(new StreamLog(config.flush));
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
          case record_type_record: replay_rc = replay_record(stream, record, replay_error); break;
          case record_type_marks: replay_rc = replay_marks(stream, record, replay_error); break;
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
                      std::string &error) {
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
  const int rc = log_->append(s.records, last_lsn);
  if (rc != 0) return map_error(rc, error);
  first_lsn = last_lsn - count + 1;
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
  return static_cast<int>(releasable);
}

}  // namespace corq::core::stream
