// engine/stream/reader.hpp — a reader of one stream partition (corq_stream_reader): replays from a
// start position and follows the tail (DESIGN.md §7 "Readers").
//
// One thread at a time (corq_stream_wakeup aside). A read fills corq_stream_record views straight
// into the partition's chunks (zero-copy) and pins those chunks until the next read or close, so
// retention can delete records under a reader without freeing what it still holds; when retention
// has passed the reader's position, the read starts at the first retained offset and adds the
// difference to skipped(). A read that finds nothing waits (up to its timeout) on the partition's
// event count, which appends, retention, wakeups, deletion and corq_close all notify.
#pragma once

#include "stream/stream.hpp"

#include <corq/corq.h>

#include <atomic>
#include <memory>
#include <string_view>
#include <vector>

namespace corq::core {
class Engine;
}

namespace corq::core::stream {

/// Parses a start position ("earliest", "latest", "offset:N", "time:MS") against `partition`.
/// Returns CORQ_OK with the offset to start at (and, for offset:N below the first retained
/// offset, the records skipped in `skipped`), or CORQ_EINVAL with `error` (a bad string, or
/// offset:N past the end).
int resolve_start(std::string_view start, Partition &partition, std::uint64_t &offset,
                  std::uint64_t &skipped, std::string &error);

class Reader {
 public:
  /// Holds a handle on `engine` until closed (the engine outlives its readers).
  Reader(Engine &engine, std::shared_ptr<Stream> stream, std::uint32_t partition,
         std::uint64_t position, std::uint64_t skipped);
  ~Reader();
  Reader(const Reader &) = delete;
  Reader &operator=(const Reader &) = delete;

  /// Up to `max` records from the position on, waiting up to `timeout_ms` (-1: no limit) for the
  /// first when there are none. Returns the count (0: none in time, or a wakeup) or a negative
  /// CORQ_* code (CORQ_ENOENT: the stream was deleted; CORQ_ECLOSED: the engine closed).
  int read(corq_stream_record *out, std::size_t max, std::int32_t timeout_ms);
  std::uint64_t skipped() const noexcept { return skipped_.load(std::memory_order_relaxed); }
  /// Makes a waiting read (or the next read that would wait) return 0 at once. Any thread.
  void wakeup() noexcept;
  std::uint64_t position() const noexcept { return position_; }

 private:
  /// Copies what is there now; no waiting.
  /// Takes up to `max` records; `error` gets a CORQ_* code when records could not be read back
  /// from the stream's log (the records taken before it are returned first).
  std::size_t take(corq_stream_record *out, std::size_t max, int &error);
  /// Why a read must stop: CORQ_ENOENT, CORQ_ECLOSED, or CORQ_OK to go on.
  int stopped() const noexcept;

  Engine &engine_;
  const std::shared_ptr<Stream> stream_;
  Partition &partition_;
  std::uint64_t position_;
  std::shared_ptr<Chunk> current_;            // the chunk holding position_, if known
  std::vector<std::shared_ptr<Chunk>> pins_;  // the chunks the last read's records point into
  std::atomic<std::uint64_t> skipped_;
  std::atomic<bool> wakeup_{false};
};

}  // namespace corq::core::stream
