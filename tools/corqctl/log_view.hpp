// tools/corqctl/log_view.hpp — a data directory's state, rebuilt read-only from its log.
//
// The read commands (inspect, stats, dlq list; verify and dump scan too) take no lock: they scan
// the segment files (wal/log/scanner.hpp: read-only, every checksum checked) and replay the
// records into the engine's own RecoveredState (engine/durability/recovery.hpp), exactly as
// corq_open would, without installing anything. So an operator can look at a directory a running
// service holds; what they see is the log as far as it was written when the scan passed it.
//
// What the log can and cannot say: ready, delayed (due later than now) and dead-lettered messages
// are exact as of the last write. "In flight" means delivered and not settled since, as far as the
// log knows: a release is not logged, so a released message still counts as in flight until its
// next delivery or settlement. At the next corq_open every in-flight message is ready again.
// Counters (published, acked, ...) live only in a running engine and are not in the log.
#pragma once

#include "durability/recovery.hpp"
#include "log/scanner.hpp"
#include "options/options.hpp"
#include "queue/message.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace corqctl {

enum class MessageState { ready, in_flight, delayed };

const char *state_name(MessageState state) noexcept;

struct MessageView {
  const corq::core::Message *message;  // owned by LogView::state
  MessageState state;
  std::int64_t due_ms;  // delayed: when it becomes ready (unix ms); else 0
};

struct QueueView {
  std::uint32_t qid = 0;
  std::string name;
  corq::core::QueueOptions options;
  std::string dead_letter_queue;      // its name; "" for none
  std::vector<MessageView> messages;  // in id (publish) order
  std::uint64_t ready = 0, in_flight = 0, delayed = 0;
  std::uint64_t bytes_ready = 0;               // payload bytes of the ready messages
  std::uint64_t bytes = 0;                     // payload bytes of all its messages
  std::int64_t oldest_ready_published_ms = 0;  // 0: nothing ready
  std::uint64_t total() const noexcept { return ready + in_flight + delayed; }
};

struct LogView {
  // Declared first so that it outlives the views that point into it.
  corq::core::RecoveredState state;
  std::vector<QueueView> queues;  // by name
  corq::wal::ScanResult scan;
  std::uint64_t segment_files = 0;  // *.wal files in the directory (spares included)
  std::uint64_t bytes_on_disk = 0;  // their sizes
  std::uint64_t log_segments = 0;   // segments holding the log (first_lsn != 0)
  std::uint64_t log_bytes = 0;      // bytes of frames in them
  std::uint64_t frames = 0;
  std::int64_t now_ms = 0;  // when the view was taken: what "delayed" is relative to

  const QueueView *find(std::string_view name) const noexcept;
  /// Messages in the dead-letter queue of `queue` (0 when it has none or it is not in the log).
  std::uint64_t dead_letter_depth(const QueueView &queue) const noexcept;
};

/// Scans the log in `dir` without a lock and without writing, calling `visitor`. Returns exit_ok,
/// or exit_corrupt (`error` names the file and offset of the first corruption) or exit_unreadable
/// (missing directory, permissions, I/O error), with `error` set. A visitor returning a non-zero
/// value stops the scan; that is reported as corruption with `visitor_error`.
int scan_directory(const std::string &dir, const corq::wal::ScanVisitor &visitor,
                   corq::wal::ScanResult &result, const std::string &visitor_error,
                   std::string &error);

/// Rebuilds `out` from the log in `dir` (see the top of this file). Returns exit codes as
/// scan_directory does; a record that passed its checksum but does not decode is corruption too
/// (reported with its LSN, segment file and frame offset). Memory: every live message's payload.
int load_log_view(const std::string &dir, LogView &out, std::string &error);

}  // namespace corqctl
