// engine/engine/testing.hpp — hooks for tests (in libcorq.a and the test build only; not exported
// from libcorq.so). They let a test drive time instead of sleeping.
#pragma once

#include <corq/corq.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace corq::wal {
class Vfs;
}

namespace corq::testing {

/// corq_open on a data directory whose log does its I/O through `vfs` (e.g. a wal::SimVfs that
/// fails, fills up or crashes on command). The vfs must outlive the engine.
int open_on_vfs(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                corq_engine **out);

/// For an engine opened with the option clock=manual: moves its clock forward by `ms` (>= 0) and
/// runs the scheduler once, synchronously, so that every delay, retry backoff and lease due by the
/// new time has taken effect when this returns, and so has TTL expiry as far as corq applies it
/// eagerly: at the head of a queue that has no consumer attached (elsewhere expired messages are
/// dead-lettered when a consumer meets them — see README, "What corq promises"). Returns
/// CORQ_EINVAL for a NULL engine, a negative ms or an engine on the system clock.
int advance_clock(corq_engine *engine, std::int64_t ms);

/// Transactions: while set, a commit with durable stream records stops right after the engine log
/// holds its batch on the disk, before any stream record is appended — as if the process died
/// there — and returns CORQ_OK (the queue half is applied). Recovery's re-append is then what
/// puts the records in their streams. Process-wide; tests only.
void set_txn_stop_before_streams(bool stop);

/// Streams: `hook(arg)` runs once, on the thread releasing segments, inside the next segment
/// release of any durable stream, right after the release has taken its floor (the LSN below
/// which a segment may go) and before it takes the retained ranges its marks record names — so a
/// test can append there. Process-wide; tests only.
void set_stream_release_hook(void (*hook)(void *), void *arg);

/// Durable queues: `hook(arg)` runs once, on the log maintainer's thread, when the next
/// compaction's scan meets a dead_letter record, before it decides whether to keep it — so a test
/// can settle the message right there. Process-wide; tests only.
void set_compaction_hook(void (*hook)(void *), void *arg);

/// The engine clock's current time in milliseconds (unix time; a manual clock starts at the real
/// time the engine was opened).
std::int64_t clock_now_ms(corq_engine *engine);

/// Whether the write-ahead log's ledger holds message `id` live (some durable copy of it is still
/// pinned: compaction keeps its records). -1 for an in-memory engine.
int log_id_live(corq_engine *engine, std::uint64_t id);

/// One message as recovery would install it (see snapshot_log).
struct SnapshotMessage {
  std::uint64_t id = 0;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;  // in the message's order
  std::uint32_t delivery_count = 0;
  std::uint32_t failed_attempts = 0;
  std::int64_t due_ms = 0;  // 0: ready; else delayed until then (unix ms)
  std::int64_t expires_at_ms = 0;
  bool operator==(const SnapshotMessage &) const = default;
};

/// The durable state a data directory holds: per durable queue (by name; declared queues with
/// no message too), its messages in id order.
struct LogSnapshot {
  std::map<std::string, std::vector<SnapshotMessage>> queues;
  std::uint64_t next_message_id = 1;
  bool operator==(const LogSnapshot &) const = default;
};

/// Reads the log of `dir` through `vfs` and replays it as corq_open's recovery would, without
/// opening an engine, taking the directory's lock or writing anything (so it consumes nothing and
/// logs no delivery): the state a corq_open of `dir` would start from. Returns CORQ_OK, or
/// CORQ_ECORRUPT (a corrupt log or a record that does not decode), CORQ_EIO (a read failed),
/// CORQ_ENOMEM, with `error` set. Not thread-safe against an engine writing `dir`.
int snapshot_log(corq::wal::Vfs &vfs, const std::string &dir, LogSnapshot &out, std::string &error);

}  // namespace corq::testing
