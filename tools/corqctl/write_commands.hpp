// tools/corqctl/write_commands.hpp — the commands that change a data directory: publish, consume,
// purge, dlq redrive, group seek. They open the engine through the C API (corq_open), which
// recovers the log and takes the directory's lock, so they fail with exit_locked while another
// process (a running service) has the directory open. They refuse a path that is not a corq data
// directory (no LOCK file and no segment), so a typo never turns some other directory into one.
// Before closing they wait until what they logged is durable (corq_sync). Errors go to stderr
// ("corqctl: DIR: ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace corqctl {

/// What every writing command needs to open the engine.
struct EngineTarget {
  std::string dir;
  std::vector<std::string> options;  // "key=value" engine options for corq_open
};

struct PublishArgs {
  /// The queue; with `through_exchange`, the routing key (the default exchange "" routes by the
  /// key to the queue of that name, so the positional argument means the same thing either way).
  std::string queue;
  bool through_exchange = false;  // corq_exchange_publish through `exchange` ("" allowed)
  std::string exchange;
  bool mandatory = false;  // CORQ_PUBLISH_MANDATORY: unroutable fails instead of being dropped
  std::vector<std::string> headers;  // "key=value"
  std::string data;
  bool data_from_stdin = false;
  bool declare = false;  // declare the queue (default options) if it is missing
  std::string dedup_id;
  std::int64_t delay_ms = 0;
  std::int64_t ttl_ms = 0;
};
/// Publishes one message to a queue (corq_publish) or through an exchange (corq_exchange_publish),
/// and waits until it is durable.
int run_publish(const EngineTarget &target, const PublishArgs &args);

enum class Settle { release, ack };
struct ConsumeArgs {
  std::string queue;
  std::uint32_t max_messages = 1;  // <= the prefetch limit (65536)
  std::int32_t wait_ms = 0;        // for the first message; later ones are polled
  Settle settle = Settle::release;
  bool raw = false;  // payloads only, each followed by a newline
  std::size_t preview_bytes = 0;
};
/// Takes up to max_messages, prints them, then settles them all (release: back to the queue with
/// their delivery count raised; ack: gone).
int run_consume(const EngineTarget &target, const ConsumeArgs &args);

int run_purge(const EngineTarget &target, const std::string &queue);

/// Moves up to `max_messages` (0: all) ready messages of `queue` to `to_queue`, or, when that is
/// empty, each to the queue it was dead-lettered from (its x-death-queue header).
int run_redrive(const EngineTarget &target, const std::string &queue, const std::string &to_queue,
                std::uint64_t max_messages);

struct GroupSeekArgs {
  std::string stream;
  std::string group;
  std::string start;            // earliest | latest | offset:N | time:MS
  std::int32_t partition = -1;  // -1: every partition
};
/// corq_group_seek: moves the consumer group's position (its committed offset: the records from
/// there on are delivered again, or those before it skipped) on one partition or all of them.
/// exit_no_queue for a missing stream or group, exit_usage for a bad start, a start past a
/// partition's end or a partition the stream does not have (nothing moves).
int run_group_seek(const EngineTarget &target, const GroupSeekArgs &args);

}  // namespace corqctl
