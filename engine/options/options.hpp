// engine/options/options.hpp — the engine and queue options of DESIGN.md §4, parsed and validated.
//
// Options arrive as string key/value pairs (a corq_config). Parsing happens once, on the control
// plane (corq_open, corq_queue_declare); the data plane only ever reads the typed structs below.
// Every limit is a named constant so the README, the header and the checks agree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace corq::wal {
class Vfs;
}

namespace corq::core {

/// The string bag behind corq_config. Ordered so that iteration (and error messages) is stable.
using OptionMap = std::map<std::string, std::string, std::less<>>;

inline constexpr std::size_t queue_name_bytes_max = 200;
inline constexpr std::uint64_t max_message_bytes_limit = 64ull << 20;  // 64 MiB
inline constexpr std::uint64_t max_length_limit = 1ull << 28;          // ring slots stay < 2^28
inline constexpr std::uint64_t max_bytes_limit = 1ull << 46;           // 64 TiB: effectively none
inline constexpr std::int64_t delay_ms_max = (1ll << 32) - 1;          // the timer wheel's span
inline constexpr std::uint32_t shards_max = 64;
/// The highest max_priority a queue may have (RabbitMQ allows 255 but advises at most 10: each
/// level is a ring of its own).
inline constexpr std::uint32_t max_priority_limit = 32;
inline constexpr std::uint32_t prefetch_max = 65536;
inline constexpr std::size_t headers_max = 64;
/// Headers the engine adds to a message published through an exchange: x-exchange, x-routing-key.
inline constexpr std::size_t routing_headers_max = 2;
/// Headers dead-lettering adds (x-death-reason, -queue, -count, -time-ms, -detail).
inline constexpr std::size_t death_headers_max = 5;
inline constexpr std::size_t header_key_bytes_max = 255;
inline constexpr std::size_t dedup_id_bytes_max = 255;

enum class SyncMode { always, none };
enum class IoBackend { automatic, io_uring, psync };
enum class DirectIo { automatic, on, off };
enum class ClockKind { system, manual };

struct EngineOptions {
  SyncMode sync = SyncMode::always;
  IoBackend io_backend = IoBackend::automatic;
  DirectIo direct_io = DirectIo::automatic;
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t max_message_bytes = 1ull << 20;
  ClockKind clock = ClockKind::system;
  /// The most memory the records of durable streams keep resident, over the whole engine: past it
  /// the oldest durable chunks are evicted and read back from the streams' logs when needed.
  std::uint64_t stream_cache_bytes = 256ull << 20;
  /// The most payload, header and key bytes one transaction holds (DESIGN.md §8); 0: the default,
  /// 64 MiB or segment_bytes if smaller (a commit is one log batch, which must fit a segment).
  /// Set explicitly, it must not exceed segment_bytes.
  std::uint64_t max_txn_bytes = 0;
  std::uint64_t txn_bytes_limit() const noexcept {
    return max_txn_bytes != 0 ? max_txn_bytes : std::min<std::uint64_t>(64ull << 20, segment_bytes);
  }
  /// Tests only (no option key): the log's I/O goes through this Vfs (e.g. wal::SimVfs).
  wal::Vfs *test_vfs = nullptr;
  bool operator==(const EngineOptions &) const = default;
};

enum class Overflow { block, reject, drop_head };

struct QueueOptions {
  bool durable = false;
  std::uint64_t max_length = 1'000'000;
  std::uint64_t max_bytes = 1ull << 30;
  Overflow overflow = Overflow::block;
  std::int64_t message_ttl_ms = 0;
  std::uint32_t max_attempts = 10;
  bool dead_letter_queue_set = false;  // false: the default "<name>.dlq"
  std::string dead_letter_queue;       // "" with dead_letter_queue_set: none
  std::int64_t retry_delay_ms = 100;
  double retry_backoff = 2.0;
  std::int64_t retry_delay_max_ms = 60'000;
  std::int64_t lease_ms = 30'000;
  std::int64_t dedup_window_ms = 0;
  std::uint32_t shards = 1;
  /// Deleted when its last consumer closes (one that never had a consumer stays).
  bool auto_delete = false;
  /// One consumer receives at a time; when it closes, the next in open order takes over.
  bool single_active_consumer = false;
  /// 0: no priorities. 1-32: a priority queue delivering higher priorities first (FIFO within one
  /// priority); a message's priority above it counts as it.
  std::uint32_t max_priority = 0;
  /// Dead letters go through this exchange instead of to a dead-letter queue ("" for none).
  std::string dead_letter_exchange;
  /// Their routing key there; unset: the message's own (x-routing-key, else the queue's name).
  bool dead_letter_routing_key_set = false;
  std::string dead_letter_routing_key;

  /// The dead-letter queue's name for a queue called `queue_name`; empty for none (also when
  /// dead letters go to a dead_letter_exchange).
  std::string dead_letter_queue_for(std::string_view queue_name) const;
  bool operator==(const QueueOptions &) const = default;
};

/// corq_exchange_declare's options (routing/exchange.hpp has the types).
struct ExchangeOptions {
  bool durable = false;
  bool internal = false;           // refuses direct publishes: only other exchanges feed it
  std::string alternate_exchange;  // where unroutable messages go; "" for none
  bool operator==(const ExchangeOptions &) const = default;
};

inline constexpr std::uint32_t stream_partitions_max = 1024;
/// A transient stream's default retention_bytes (per partition): memory stays bounded.
inline constexpr std::uint64_t transient_stream_bytes_default = 1ull << 30;
/// The longest retention_ms: effectively forever (31,700 years), still far from overflow.
inline constexpr std::int64_t retention_ms_max = 1'000'000'000'000'000;

enum class Discard { old_records, new_records };

/// corq_stream_declare's options (DESIGN.md §7). The retention limits are per partition; 0 means
/// no limit.
struct StreamOptions {
  std::uint32_t partitions = 1;
  bool durable = false;
  std::int64_t retention_ms = 0;
  std::uint64_t retention_bytes = 0;
  std::uint64_t retention_records = 0;
  Discard discard = Discard::old_records;
  std::int64_t dedup_window_ms = 0;
  std::uint64_t partition_segment_bytes = 64ull << 20;
  /// Redeclaring with update=true changes the retention limits (and is itself not compared).
  bool update = false;

  /// Equal but for the retention limits and `update` (what a redeclaration with update=true may
  /// change).
  bool same_shape(const StreamOptions &o) const noexcept {
    return partitions == o.partitions && durable == o.durable && discard == o.discard &&
           dedup_window_ms == o.dedup_window_ms &&
           partition_segment_bytes == o.partition_segment_bytes;
  }
  bool same_retention(const StreamOptions &o) const noexcept {
    return retention_ms == o.retention_ms && retention_bytes == o.retention_bytes &&
           retention_records == o.retention_records;
  }
};

enum class GroupMode { ordered, shared, key_ordered };

/// corq_group_consumer_open's options (DESIGN.md §7 "Consumer groups"): the group's mode and
/// start, the member's prefetch, and the queue rules of §4 for retries, leases and dead letters.
struct GroupOptions {
  GroupMode mode = GroupMode::ordered;
  std::uint32_t prefetch = 256;
  std::string start = "earliest";  // earliest | latest | time:MS (checked when parsed)
  std::uint32_t max_attempts = 10;
  std::int64_t retry_delay_ms = 100;
  double retry_backoff = 2.0;
  std::int64_t retry_delay_max_ms = 60'000;
  std::int64_t lease_ms = 30'000;
  bool dead_letter_queue_set = false;  // false: "<stream>.<group>.dlq"
  std::string dead_letter_queue;       // "" with dead_letter_queue_set: none

  /// What a later member must match to join (everything but its own prefetch).
  bool same_group(const GroupOptions &o) const noexcept {
    return mode == o.mode && start == o.start && max_attempts == o.max_attempts &&
           retry_delay_ms == o.retry_delay_ms && retry_backoff == o.retry_backoff &&
           retry_delay_max_ms == o.retry_delay_max_ms && lease_ms == o.lease_ms &&
           dead_letter_queue_set == o.dead_letter_queue_set &&
           dead_letter_queue == o.dead_letter_queue;
  }
};

/// True for a key that corq_open, corq_queue_declare or corq_exchange_declare accepts.
bool is_engine_option(std::string_view key);
bool is_stream_option(std::string_view key);
bool is_group_option(std::string_view key);
bool is_queue_option(std::string_view key);
bool is_exchange_option(std::string_view key);

/// Parses `map` into `out`. On a bad key or value returns false and fills `error` with a message
/// naming the key and the accepted values. `durable_default` is the durability of a queue whose
/// options don't say (true on a disk engine).
bool parse_engine_options(const OptionMap &map, EngineOptions &out, std::string &error);
bool parse_queue_options(const OptionMap &map, bool durable_default, QueueOptions &out,
                         std::string &error);

bool parse_exchange_options(const OptionMap &map, bool durable_default, ExchangeOptions &out,
                            std::string &error);
/// Stream options; a transient stream without retention_bytes gets
/// transient_stream_bytes_default.
bool parse_stream_options(const OptionMap &map, bool durable_default, StreamOptions &out,
                          std::string &error);
bool parse_group_options(const OptionMap &map, GroupOptions &out, std::string &error);
/// A stream's options as the JSON object corq_stats_json shows.
std::string stream_options_json(const StreamOptions &options);
/// The options as a map parse_stream_options / parse_group_options read back the same (`update`
/// left out): what the log's declaration records hold.
OptionMap stream_options_map(const StreamOptions &options);
OptionMap group_options_map(const GroupOptions &options);
/// Every exchange option as key/value text that parse_exchange_options reads back (log records).
OptionMap exchange_options_map(const ExchangeOptions &options);

/// corq_config_set's early check: whether `value` can ever be valid for `key` (an engine or a
/// queue key), by the same parser and with the same `error` text as corq_open and
/// corq_queue_declare. Checks that involve two keys (retry_delay_max_ms >= retry_delay_ms) can
/// only happen at use.
bool check_option_value(std::string_view key, std::string_view value, std::string &error);

/// Queue names: 1-200 bytes of [A-Za-z0-9._:-]. Fills `error` when invalid.
bool valid_queue_name(const char *name, std::string &error);

/// Every option as key/value text that parse_queue_options reads back to equal options (the
/// declaration records of the write-ahead log).
OptionMap queue_options_map(const QueueOptions &options);

/// `text` with JSON's string escapes applied (quotes, backslashes, control characters).
std::string json_escaped(std::string_view text);

/// The options as a JSON object (for corq_stats_json).
std::string queue_options_json(const QueueOptions &options, std::string_view queue_name);

}  // namespace corq::core
