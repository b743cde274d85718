// tools/corqctl/read_commands.hpp — the commands that only read a data directory: inspect, verify,
// dump, stats, dlq list. None takes the directory's lock (see log_view.hpp), so each works on a
// directory a running service holds. Each prints its result to stdout, its errors to stderr
// ("corqctl: DIR: ..."), and returns a corqctl exit code (exit_codes.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace corqctl {

/// Queues with their options, ready / in-flight / delayed counts, dead-letter depth; segments and
/// bytes on disk; the durable exchanges (type, options) with their bindings (destination, key,
/// arguments).
int run_inspect(const std::string &dir);

/// Every segment header, frame checksum and record of the log; on corruption, the file and offset
/// of the first one (exit_corrupt).
int run_verify(const std::string &dir);

/// Every frame and record, human-readable. `queue` non-empty: only the records about that queue;
/// `exchange` non-empty: only the records about that exchange (its declaration, deletion and the
/// bindings from or to it). exit_no_queue if the log never declared the one asked for.
int run_dump(const std::string &dir, const std::string &queue, const std::string &exchange);

enum class StatsFormat { text, json, prometheus };
/// Per-queue gauges, the durable exchanges (with their binding counts; JSON: the bindings too) and
/// the log's size, as a table, one JSON object, or Prometheus text.
int run_stats(const std::string &dir, StatsFormat format);

/// Browses `queue` (normally a dead-letter queue) without consuming: up to `max_messages` (0: all)
/// messages in publish order with id, size, delivery count, state, headers (x-death-*) and the
/// first `preview_bytes` of the payload.
int run_dlq_list(const std::string &dir, const std::string &queue, std::uint64_t max_messages,
                 std::size_t preview_bytes);

}  // namespace corqctl
