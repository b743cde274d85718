// tools/corqctl/read_commands.hpp — the commands that only read a data directory: inspect, verify,
// dump, stats, dlq list, stream read. None takes the directory's lock (see log_view.hpp), so each
// works on a directory a running service holds. Each prints its result to stdout, its errors to
// stderr
// ("corqctl: DIR: ..."), and returns a corqctl exit code (exit_codes.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace corqctl {

/// Queues with their options, ready / in-flight / delayed counts, dead-letter depth; segments and
/// bytes on disk; the durable exchanges (type, options) with their bindings (destination, key,
/// arguments); the durable streams (options, per partition first / end offset, records, bytes)
/// with their consumer groups (mode, options, per partition committed offset and lag).
int run_inspect(const std::string &dir);

/// Every segment header, frame checksum and record of the log, and of every durable stream's log;
/// on corruption, the file and offset of the first one (exit_corrupt).
int run_verify(const std::string &dir);

/// Every frame and record, human-readable. `queue` non-empty: only the records about that queue;
/// `exchange` non-empty: only the records about that exchange (its declaration, deletion and the
/// bindings from or to it). exit_no_queue if the log never declared the one asked for.
int run_dump(const std::string &dir, const std::string &queue, const std::string &exchange);

enum class StatsFormat { text, json, prometheus };
/// Per-queue gauges, the durable exchanges (with their binding counts; JSON: the bindings too), the
/// durable streams' partitions and their groups' committed offsets and lag, the transactions since
/// the directory was created (log_view.hpp), and the log's size, as tables, one JSON object, or
/// Prometheus text.
int run_stats(const std::string &dir, StatsFormat format);

/// Browses `queue` (normally a dead-letter queue) without consuming: up to `max_messages` (0: all)
/// messages in publish order with id, size, delivery count, state, headers (x-death-*) and the
/// first `preview_bytes` of the payload.
int run_dlq_list(const std::string &dir, const std::string &queue, std::uint64_t max_messages,
                 std::size_t preview_bytes);

struct StreamReadArgs {
  std::string stream;
  std::int64_t partition = -1;      // -1: every partition
  std::string from = "earliest";    // earliest | latest | offset:N | time:MS (resolve_start)
  std::uint64_t max_records = 100;  // 0: all
  bool json = false;
  std::size_t preview_bytes = 0;  // of each payload and header value
};
/// Prints a durable stream's records from `from` on, without consuming anything (streams keep their
/// records): one partition, or every partition merged by timestamp (then partition, offset), at
/// most max_records. Each with its partition, offset, timestamp, key, headers and a payload
/// preview; `json`: one JSON object. exit_no_queue for a stream the log does not hold; exit_usage
/// for a partition the stream does not have, a start past a partition's end, or offset:N without a
/// partition on a stream of several.
int run_stream_read(const std::string &dir, const StreamReadArgs &args);

}  // namespace corqctl
