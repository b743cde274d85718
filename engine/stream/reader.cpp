// engine/stream/reader.cpp — start positions, reads and waits of a partition reader.
#include "stream/reader.hpp"

#include "capi/error.hpp"

#include "engine/engine.hpp"

#include <charconv>

namespace corq::core::stream {

namespace {

/// A decimal number filling `text` exactly (no sign, no spaces).
bool parse_number(std::string_view text, std::uint64_t &out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

int resolve_start(std::string_view start, Partition &partition, std::uint64_t &offset,
                  std::uint64_t &skipped, std::string &error) {
  skipped = 0;
  if (start == "earliest") {
    offset = partition.first();
    return CORQ_OK;
  }
  if (start == "latest") {
    offset = partition.end();
    return CORQ_OK;
  }
  std::uint64_t n = 0;
  if (start.starts_with("offset:") && parse_number(start.substr(7), n)) {
    const std::uint64_t end = partition.end();
    if (n > end) {
      error = "offset " + std::to_string(n) + " is past the end of partition " +
              std::to_string(partition.index()) + " (" + std::to_string(end) + ")";
      return CORQ_EINVAL;
    }
    const std::uint64_t first = partition.first();
    if (n < first) {
      skipped = first - n;  // retention removed them: start at the first retained record
      n = first;
    }
    offset = n;
    return CORQ_OK;
  }
  if (start.starts_with("time:") && parse_number(start.substr(5), n) &&
      n <= static_cast<std::uint64_t>(INT64_MAX)) {
    offset = partition.offset_for_time(static_cast<std::int64_t>(n));
    return CORQ_OK;
  }
  error = "bad start '" + std::string(start.substr(0, 64)) +
          "' (expected earliest, latest, offset:N or time:MS)";
  return CORQ_EINVAL;
}

Reader::Reader(Engine &engine, std::shared_ptr<Stream> stream, std::uint32_t partition,
               std::uint64_t position, std::uint64_t skipped)
    : engine_(engine),
      stream_(std::move(stream)),
      partition_(stream_->partition(partition)),
      position_(position),
      skipped_(skipped) {
  engine_.retain_handle();
}

Reader::~Reader() {
  pins_.clear();
  current_.reset();
  Engine::release_handle(&engine_);  // may free the engine: nothing of it is touched after
}

int Reader::stopped() const noexcept {
  if (stream_->deleted()) return CORQ_ENOENT;
  if (engine_.closed()) return CORQ_ECLOSED;
  return CORQ_OK;
}

std::size_t Reader::take(corq_stream_record *out, std::size_t max, int &error) {
  error = CORQ_OK;
  // Retention may have passed us: continue at the first retained record and say how many we
  // missed.
  const std::uint64_t first = partition_.first();
  if (position_ < first) {
    skipped_.fetch_add(first - position_, std::memory_order_relaxed);
    position_ = first;
  }
  const std::uint64_t end = partition_.end();
  std::size_t n = 0;
  while (n < max && position_ < end) {
    if (current_ == nullptr || position_ < current_->base() ||
        position_ >= current_->base() + current_->count()) {
      int load_error = CORQ_OK;
      current_ = partition_.chunk_for(position_, &load_error);
      if (current_ == nullptr && load_error != CORQ_OK) {
        error = load_error;  // an evicted chunk could not be read back from the log
        break;
      }
      if (current_ == nullptr) {
        // Deleted by retention between our look at first() and now: skip to what is left.
        const std::uint64_t now_first = partition_.first();
        if (position_ >= now_first) break;
        skipped_.fetch_add(now_first - position_, std::memory_order_relaxed);
        position_ = now_first;
        continue;
      }
    }
    if (pins_.empty() || pins_.back() != current_) pins_.push_back(current_);
    const Chunk &chunk = *current_;
    const std::uint64_t chunk_end = std::min<std::uint64_t>(chunk.base() + chunk.count(), end);
    for (; n < max && position_ < chunk_end; ++n, ++position_) {
      const StoredRecord &r = chunk.at(static_cast<std::uint32_t>(position_ - chunk.base()));
      corq_stream_record &o = out[n];
      o.partition = partition_.index();
      o.offset = position_;
      o.timestamp_ms = r.timestamp_ms;
      o.key = r.key;
      o.key_len = r.key_len;
      o.data = r.data;
      o.len = r.len;
      o.headers = r.headers;
      o.header_count = r.header_count;
    }
  }
  return n;
}

int Reader::read(corq_stream_record *out, std::size_t max, std::int32_t timeout_ms) {
  pins_.clear();  // the previous read's records are released now (the current chunk stays held)
  if (const int rc = stopped(); rc != CORQ_OK) return rc;
  int error = CORQ_OK;
  std::size_t n = take(out, max, error);
  if (n == 0 && error != CORQ_OK) {
    return capi::fail(error, "corq_stream_read: reading back records of stream '" +
                                 stream_->name() +
                                 "' from its log failed: " + partition_.last_load_error());
  }
  if (n != 0 || timeout_ms == 0) return static_cast<int>(n);
  if (wakeup_.exchange(false, std::memory_order_acq_rel)) return 0;
  const auto deadline = sync::deadline_after_ms(timeout_ms);
  for (;;) {
    // end_ moves under the partition's mutex and is followed by notify_all: a plain await.
    partition_.appended().await(
        [&] {
          return partition_.end() > position_ || wakeup_.load(std::memory_order_acquire) ||
                 stopped() != CORQ_OK;
        },
        deadline);
    if (const int rc = stopped(); rc != CORQ_OK) return rc;
    if (wakeup_.exchange(false, std::memory_order_acq_rel)) return 0;
    n = take(out, max, error);
    if (n == 0 && error != CORQ_OK) {
      return capi::fail(error, "corq_stream_read: reading back records of stream '" +
                                   stream_->name() +
                                   "' from its log failed: " + partition_.last_load_error());
    }
    if (n != 0 || sync::Clock::now() >= deadline) return static_cast<int>(n);
  }
}

void Reader::wakeup() noexcept {
  wakeup_.store(true, std::memory_order_seq_cst);
  partition_.appended().notify_all();
}

}  // namespace corq::core::stream
