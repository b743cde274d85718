// engine/options/options.cpp — parsing and validation of engine and queue options.
#include "options/options.hpp"

#include <cstdio>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

namespace corq::core {
namespace {

constexpr std::string_view engine_keys[] = {
    "sync",  "io_backend",         "direct_io",    "segment_bytes", "max_message_bytes",
    "clock", "stream_cache_bytes", "max_txn_bytes"};
constexpr std::string_view queue_keys[] = {"durable",
                                           "max_length",
                                           "max_bytes",
                                           "overflow",
                                           "message_ttl_ms",
                                           "max_attempts",
                                           "dead_letter_queue",
                                           "retry_delay_ms",
                                           "retry_backoff",
                                           "retry_delay_max_ms",
                                           "lease_ms",
                                           "dedup_window_ms",
                                           "shards",
                                           "auto_delete",
                                           "dead_letter_exchange",
                                           "dead_letter_routing_key",
                                           "single_active_consumer",
                                           "max_priority"};

bool fail(std::string &error, std::string_view key, std::string_view value, std::string_view want) {
  error = "option '" + std::string(key) + "': bad value '" + std::string(value) + "' (expected " +
          std::string(want) + ")";
  return false;
}

/// Parses a non-negative integer, with an optional KiB/MiB/GiB suffix when `sizes` is true.
bool parse_u64(std::string_view text, bool sizes, std::uint64_t &out) {
  if (text.empty() || text.size() > 40) return false;
  std::uint64_t multiplier = 1;
  if (sizes) {
    struct Suffix {
      std::string_view text;
      std::uint64_t factor;
    };
    for (Suffix s :
         {Suffix{"KiB", 1ull << 10}, Suffix{"MiB", 1ull << 20}, Suffix{"GiB", 1ull << 30}}) {
      if (text.size() > s.text.size() && text.substr(text.size() - s.text.size()) == s.text) {
        multiplier = s.factor;
        text.remove_suffix(s.text.size());
        break;
      }
    }
  }
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (value > UINT64_MAX / multiplier) return false;
  out = value * multiplier;
  return true;
}

bool parse_in_range(std::string_view key, std::string_view text, bool sizes, std::uint64_t low,
                    std::uint64_t high, std::uint64_t &out, std::string &error) {
  std::uint64_t value = 0;
  if (!parse_u64(text, sizes, value) || value < low || value > high) {
    return fail(error, key, text,
                "an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "]" +
                    (sizes ? ", optionally with a KiB/MiB/GiB suffix" : ""));
  }
  out = value;
  return true;
}

bool parse_ms(std::string_view key, std::string_view text, std::int64_t low, std::int64_t &out,
              std::string &error) {
  std::uint64_t value = 0;
  if (!parse_in_range(key, text, false, static_cast<std::uint64_t>(low),
                      static_cast<std::uint64_t>(delay_ms_max), value, error)) {
    return false;
  }
  out = static_cast<std::int64_t>(value);
  return true;
}

bool parse_bool(std::string_view key, std::string_view text, bool &out, std::string &error) {
  if (text == "true" || text == "1") return out = true, true;
  if (text == "false" || text == "0") return out = false, true;
  return fail(error, key, text, "true or false");
}

bool parse_engine_key(const std::string &key, const std::string &value, EngineOptions &o,
                      std::string &error) {
  if (key == "sync") {
    if (value == "always") return o.sync = SyncMode::always, true;
    if (value == "none") return o.sync = SyncMode::none, true;
    return fail(error, key, value, "always or none");
  }
  if (key == "io_backend") {
    if (value == "auto") return o.io_backend = IoBackend::automatic, true;
    if (value == "io_uring") return o.io_backend = IoBackend::io_uring, true;
    if (value == "psync") return o.io_backend = IoBackend::psync, true;
    return fail(error, key, value, "auto, io_uring or psync");
  }
  if (key == "direct_io") {
    if (value == "auto") return o.direct_io = DirectIo::automatic, true;
    if (value == "true") return o.direct_io = DirectIo::on, true;
    if (value == "false") return o.direct_io = DirectIo::off, true;
    return fail(error, key, value, "auto, true or false");
  }
  if (key == "segment_bytes") {
    return parse_in_range(key, value, true, 1ull << 20, 1ull << 40, o.segment_bytes, error);
  }
  if (key == "max_message_bytes") {
    return parse_in_range(key, value, true, 1, max_message_bytes_limit, o.max_message_bytes, error);
  }
  if (key == "stream_cache_bytes") {
    return parse_in_range(key, value, true, 1ull << 20, 1ull << 50, o.stream_cache_bytes, error);
  }
  if (key == "max_txn_bytes") {
    return parse_in_range(key, value, true, 1, 1ull << 40, o.max_txn_bytes, error);
  }
  if (key == "clock") {
    if (value == "system") return o.clock = ClockKind::system, true;
    if (value == "manual") return o.clock = ClockKind::manual, true;
    return fail(error, key, value, "system or manual");
  }
  error = "unknown engine option '" + key + "'";
  return false;
}

bool parse_overflow(const std::string &value, Overflow &out, std::string &error) {
  if (value == "block") return out = Overflow::block, true;
  if (value == "reject") return out = Overflow::reject, true;
  if (value == "drop_head") return out = Overflow::drop_head, true;
  return fail(error, "overflow", value, "block, reject or drop_head");
}

bool parse_backoff(const std::string &value, double &out, std::string &error) {
  const char *text = value.c_str();
  char *end = nullptr;
  errno = 0;
  const double parsed = std::strtod(text, &end);
  if (value.empty() || end != text + value.size() || errno != 0 || !std::isfinite(parsed) ||
      parsed < 1.0 || parsed > 100.0) {
    return fail(error, "retry_backoff", value, "a number in [1.0, 100.0]");
  }
  out = parsed;
  return true;
}

bool parse_queue_key(const std::string &key, const std::string &value, QueueOptions &o,
                     std::string &error) {
  std::uint64_t u = 0;
  if (key == "durable") return parse_bool(key, value, o.durable, error);
  if (key == "max_length")
    return parse_in_range(key, value, false, 1, max_length_limit, o.max_length, error);
  if (key == "max_bytes")
    return parse_in_range(key, value, true, 1, max_bytes_limit, o.max_bytes, error);
  if (key == "overflow") return parse_overflow(value, o.overflow, error);
  if (key == "message_ttl_ms") return parse_ms(key, value, 0, o.message_ttl_ms, error);
  if (key == "max_attempts") {
    if (!parse_in_range(key, value, false, 0, 1'000'000, u, error)) return false;
    o.max_attempts = static_cast<std::uint32_t>(u);
    return true;
  }
  if (key == "dead_letter_queue") {
    std::string name_error;
    if (!value.empty() && !valid_queue_name(value.c_str(), name_error)) {
      return fail(error, key, value, "\"\" or a queue name: " + name_error);
    }
    o.dead_letter_queue_set = true;
    o.dead_letter_queue = value;
    return true;
  }
  if (key == "retry_delay_ms") return parse_ms(key, value, 0, o.retry_delay_ms, error);
  if (key == "retry_backoff") return parse_backoff(value, o.retry_backoff, error);
  if (key == "retry_delay_max_ms") return parse_ms(key, value, 0, o.retry_delay_max_ms, error);
  if (key == "lease_ms") return parse_ms(key, value, 1, o.lease_ms, error);
  if (key == "dedup_window_ms") return parse_ms(key, value, 0, o.dedup_window_ms, error);
  if (key == "shards") {
    if (!parse_in_range(key, value, false, 1, shards_max, u, error)) return false;
    o.shards = static_cast<std::uint32_t>(u);
    return true;
  }
  if (key == "auto_delete") return parse_bool(key, value, o.auto_delete, error);
  if (key == "max_priority") {
    if (!parse_in_range(key, value, false, 0, max_priority_limit, u, error)) return false;
    o.max_priority = static_cast<std::uint32_t>(u);
    return true;
  }
  if (key == "single_active_consumer")
    return parse_bool(key, value, o.single_active_consumer, error);
  if (key == "dead_letter_exchange") {
    std::string name_error;
    if (!value.empty() && !valid_queue_name(value.c_str(), name_error)) {
      return fail(error, key, value, "\"\" or an exchange name: " + name_error);
    }
    o.dead_letter_exchange = value;
    return true;
  }
  if (key == "dead_letter_routing_key") {
    if (value.size() > 255)
      return fail(error, key, value.substr(0, 32) + "...", "at most 255 bytes");
    o.dead_letter_routing_key_set = true;
    o.dead_letter_routing_key = value;
    return true;
  }
  error = "unknown queue option '" + key + "'";
  return false;
}

bool parse_stream_key(const std::string &key, const std::string &value, StreamOptions &o,
                      std::string &error) {
  std::uint64_t u = 0;
  if (key == "partitions") {
    if (!parse_in_range(key, value, false, 1, stream_partitions_max, u, error)) return false;
    o.partitions = static_cast<std::uint32_t>(u);
    return true;
  }
  if (key == "durable") return parse_bool(key, value, o.durable, error);
  if (key == "retention_ms") {
    if (!parse_in_range(key, value, false, 0, retention_ms_max, u, error)) return false;
    o.retention_ms = static_cast<std::int64_t>(u);
    return true;
  }
  if (key == "retention_bytes")
    return parse_in_range(key, value, true, 0, max_bytes_limit, o.retention_bytes, error);
  if (key == "retention_records")
    return parse_in_range(key, value, false, 0, 1ull << 52, o.retention_records, error);
  if (key == "discard") {
    if (value == "old") return o.discard = Discard::old_records, true;
    if (value == "new") return o.discard = Discard::new_records, true;
    return fail(error, key, value, "old or new");
  }
  if (key == "dedup_window_ms") return parse_ms(key, value, 0, o.dedup_window_ms, error);
  if (key == "partition_segment_bytes") {
    return parse_in_range(key, value, true, 64ull << 10, 1ull << 32, o.partition_segment_bytes,
                          error);
  }
  if (key == "update") return parse_bool(key, value, o.update, error);
  error = "unknown stream option '" + key + "'";
  return false;
}

bool parse_group_key(const std::string &key, const std::string &value, GroupOptions &o,
                     std::string &error) {
  std::uint64_t u = 0;
  if (key == "mode") {
    if (value == "ordered") return o.mode = GroupMode::ordered, true;
    if (value == "shared") return o.mode = GroupMode::shared, true;
    if (value == "key_ordered") return o.mode = GroupMode::key_ordered, true;
    return fail(error, key, value, "ordered, shared or key_ordered");
  }
  if (key == "prefetch") {
    if (!parse_in_range(key, value, false, 1, prefetch_max, u, error)) return false;
    o.prefetch = static_cast<std::uint32_t>(u);
    return true;
  }
  if (key == "start") {
    // offset:N names one partition's position: a group starts at a point of the whole stream.
    const bool time = value.rfind("time:", 0) == 0 && value.size() > 5 &&
                      value.find_first_not_of("0123456789", 5) == std::string::npos &&
                      value.size() <= 5 + 18;
    if (value == "earliest" || value == "latest" || time) return o.start = value, true;
    return fail(error, key, value, "earliest, latest or time:MS");
  }
  // The rest are the queue rules (§4): the same parser, the same limits and messages.
  QueueOptions q;
  if (key == "max_attempts" || key == "retry_delay_ms" || key == "retry_backoff" ||
      key == "retry_delay_max_ms" || key == "lease_ms" || key == "dead_letter_queue") {
    if (!parse_queue_key(key, value, q, error)) return false;
    if (key == "max_attempts") o.max_attempts = q.max_attempts;
    if (key == "retry_delay_ms") o.retry_delay_ms = q.retry_delay_ms;
    if (key == "retry_backoff") o.retry_backoff = q.retry_backoff;
    if (key == "retry_delay_max_ms") o.retry_delay_max_ms = q.retry_delay_max_ms;
    if (key == "lease_ms") o.lease_ms = q.lease_ms;
    if (key == "dead_letter_queue") {
      o.dead_letter_queue_set = true;
      o.dead_letter_queue = q.dead_letter_queue;
    }
    return true;
  }
  error = "unknown group option '" + key + "'";
  return false;
}

}  // namespace

std::string QueueOptions::dead_letter_queue_for(std::string_view queue_name) const {
  if (dead_letter_queue_set) return dead_letter_queue;
  if (!dead_letter_exchange.empty()) return {};
  return std::string(queue_name) + ".dlq";
}

bool is_engine_option(std::string_view key) {
  for (auto k : engine_keys)
    if (k == key) return true;
  return false;
}

bool is_queue_option(std::string_view key) {
  for (auto k : queue_keys)
    if (k == key) return true;
  return false;
}

bool is_stream_option(std::string_view key) {
  static constexpr std::string_view keys[] = {"partitions",
                                              "durable",
                                              "retention_ms",
                                              "retention_bytes",
                                              "retention_records",
                                              "discard",
                                              "dedup_window_ms",
                                              "partition_segment_bytes",
                                              "update"};
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

bool is_group_option(std::string_view key) {
  static constexpr std::string_view keys[] = {
      "mode",          "prefetch",           "start",    "max_attempts",     "retry_delay_ms",
      "retry_backoff", "retry_delay_max_ms", "lease_ms", "dead_letter_queue"};
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

bool is_exchange_option(std::string_view key) {
  return key == "durable" || key == "internal" || key == "alternate_exchange";
}

namespace {

bool parse_exchange_key(const std::string &key, const std::string &value, ExchangeOptions &o,
                        std::string &error) {
  if (key == "durable") return parse_bool(key, value, o.durable, error);
  if (key == "internal") return parse_bool(key, value, o.internal, error);
  if (key == "alternate_exchange") {
    std::string name_error;
    if (!value.empty() && !valid_queue_name(value.c_str(), name_error)) {
      return fail(error, key, value, "\"\" or an exchange name: " + name_error);
    }
    o.alternate_exchange = value;
    return true;
  }
  error = "unknown exchange option '" + key + "'";
  return false;
}

}  // namespace

bool parse_exchange_options(const OptionMap &map, bool durable_default, ExchangeOptions &out,
                            std::string &error) {
  ExchangeOptions parsed;
  parsed.durable = durable_default;
  for (const auto &[key, value] : map) {
    if (!parse_exchange_key(key, value, parsed, error)) return false;
  }
  out = parsed;
  return true;
}

OptionMap exchange_options_map(const ExchangeOptions &o) {
  return {{"durable", o.durable ? "true" : "false"},
          {"internal", o.internal ? "true" : "false"},
          {"alternate_exchange", o.alternate_exchange}};
}

bool check_option_value(std::string_view key, std::string_view value, std::string &error) {
  const std::string key_text(key), value_text(value);
  if (is_engine_option(key)) {
    EngineOptions scratch;
    return parse_engine_key(key_text, value_text, scratch, error);
  }
  if (is_stream_option(key) && !is_queue_option(key)) {
    StreamOptions scratch;
    return parse_stream_key(key_text, value_text, scratch, error);
  }
  if (is_group_option(key) && !is_queue_option(key)) {
    GroupOptions scratch;
    return parse_group_key(key_text, value_text, scratch, error);
  }
  if (!is_queue_option(key)) {
    ExchangeOptions scratch;
    return parse_exchange_key(key_text, value_text, scratch, error);
  }
  QueueOptions scratch;
  return parse_queue_key(key_text, value_text, scratch, error);
}

bool parse_stream_options(const OptionMap &map, bool durable_default, StreamOptions &out,
                          std::string &error) {
  StreamOptions parsed;
  parsed.durable = durable_default;
  bool bytes_set = false;
  for (const auto &[key, value] : map) {
    if (!parse_stream_key(key, value, parsed, error)) return false;
    bytes_set = bytes_set || key == "retention_bytes";
  }
  if (!parsed.durable && !bytes_set) parsed.retention_bytes = transient_stream_bytes_default;
  out = parsed;
  return true;
}

bool parse_group_options(const OptionMap &map, GroupOptions &out, std::string &error) {
  GroupOptions parsed;
  for (const auto &[key, value] : map) {
    if (!parse_group_key(key, value, parsed, error)) return false;
  }
  if (parsed.retry_delay_max_ms < parsed.retry_delay_ms) {
    error = "option 'retry_delay_max_ms' (" + std::to_string(parsed.retry_delay_max_ms) +
            ") is below 'retry_delay_ms' (" + std::to_string(parsed.retry_delay_ms) + ")";
    return false;
  }
  out = parsed;
  return true;
}

OptionMap stream_options_map(const StreamOptions &o) {
  return {{"partitions", std::to_string(o.partitions)},
          {"durable", o.durable ? "true" : "false"},
          {"retention_ms", std::to_string(o.retention_ms)},
          {"retention_bytes", std::to_string(o.retention_bytes)},
          {"retention_records", std::to_string(o.retention_records)},
          {"discard", o.discard == Discard::old_records ? "old" : "new"},
          {"dedup_window_ms", std::to_string(o.dedup_window_ms)},
          {"partition_segment_bytes", std::to_string(o.partition_segment_bytes)}};
}

OptionMap group_options_map(const GroupOptions &o) {
  char backoff[64];
  std::snprintf(backoff, sizeof backoff, "%.17g", o.retry_backoff);
  OptionMap map{{"mode", o.mode == GroupMode::ordered  ? "ordered"
                         : o.mode == GroupMode::shared ? "shared"
                                                       : "key_ordered"},
                {"prefetch", std::to_string(o.prefetch)},
                {"start", o.start},
                {"max_attempts", std::to_string(o.max_attempts)},
                {"retry_delay_ms", std::to_string(o.retry_delay_ms)},
                {"retry_backoff", backoff},
                {"retry_delay_max_ms", std::to_string(o.retry_delay_max_ms)},
                {"lease_ms", std::to_string(o.lease_ms)}};
  if (o.dead_letter_queue_set) map.emplace("dead_letter_queue", o.dead_letter_queue);
  return map;
}

std::string stream_options_json(const StreamOptions &o) {
  std::string json = "{\"partitions\":" + std::to_string(o.partitions);
  json += ",\"durable\":" + std::string(o.durable ? "true" : "false");
  json += ",\"retention_ms\":" + std::to_string(o.retention_ms);
  json += ",\"retention_bytes\":" + std::to_string(o.retention_bytes);
  json += ",\"retention_records\":" + std::to_string(o.retention_records);
  json += ",\"discard\":\"" + std::string(o.discard == Discard::old_records ? "old" : "new") + "\"";
  json += ",\"dedup_window_ms\":" + std::to_string(o.dedup_window_ms);
  json += ",\"partition_segment_bytes\":" + std::to_string(o.partition_segment_bytes) + "}";
  return json;
}

bool parse_engine_options(const OptionMap &map, EngineOptions &out, std::string &error) {
  EngineOptions parsed;
  for (const auto &[key, value] : map) {
    if (!parse_engine_key(key, value, parsed, error)) return false;
  }
  if (parsed.max_txn_bytes > parsed.segment_bytes) {
    error = "max_txn_bytes " + std::to_string(parsed.max_txn_bytes) +
            " is larger than segment_bytes " + std::to_string(parsed.segment_bytes) +
            " (a transaction is one log batch)";
    return false;
  }
  out = parsed;
  return true;
}

bool parse_queue_options(const OptionMap &map, bool durable_default, QueueOptions &out,
                         std::string &error) {
  QueueOptions parsed;
  parsed.durable = durable_default;
  for (const auto &[key, value] : map) {
    if (!parse_queue_key(key, value, parsed, error)) return false;
  }
  if (parsed.retry_delay_max_ms < parsed.retry_delay_ms) {
    error = "option 'retry_delay_max_ms' (" + std::to_string(parsed.retry_delay_max_ms) +
            ") is below 'retry_delay_ms' (" + std::to_string(parsed.retry_delay_ms) + ")";
    return false;
  }
  if (parsed.dead_letter_queue_set && !parsed.dead_letter_exchange.empty()) {
    error = "options 'dead_letter_queue' and 'dead_letter_exchange' exclude each other";
    return false;
  }
  if (parsed.max_priority > 0 && parsed.shards > 1) {
    // A priority queue orders its whole content by priority: its levels are its shards.
    error =
        "options 'max_priority' and 'shards' > 1 exclude each other (a priority queue has one "
        "ring per priority, not shards)";
    return false;
  }
  out = parsed;
  return true;
}

bool valid_queue_name(const char *name, std::string &error) {
  if (name == nullptr) return error = "queue name is NULL", false;
  const std::size_t length = std::strlen(name);
  if (length == 0 || length > queue_name_bytes_max) {
    error = "queue name must be 1-200 bytes, got " + std::to_string(length);
    return false;
  }
  for (std::size_t i = 0; i < length; ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      error = "queue name has a byte outside [A-Za-z0-9._:-] at offset " + std::to_string(i);
      return false;
    }
  }
  return true;
}

OptionMap queue_options_map(const QueueOptions &o) {
  static constexpr const char *overflow_names[] = {"block", "reject", "drop_head"};
  char backoff[64];
  std::snprintf(backoff, sizeof backoff, "%.17g", o.retry_backoff);
  OptionMap map{
      {"durable", o.durable ? "true" : "false"},
      {"max_length", std::to_string(o.max_length)},
      {"max_bytes", std::to_string(o.max_bytes)},
      {"overflow", overflow_names[static_cast<int>(o.overflow)]},
      {"message_ttl_ms", std::to_string(o.message_ttl_ms)},
      {"max_attempts", std::to_string(o.max_attempts)},
      {"retry_delay_ms", std::to_string(o.retry_delay_ms)},
      {"retry_backoff", backoff},
      {"retry_delay_max_ms", std::to_string(o.retry_delay_max_ms)},
      {"lease_ms", std::to_string(o.lease_ms)},
      {"dedup_window_ms", std::to_string(o.dedup_window_ms)},
      {"shards", std::to_string(o.shards)},
  };
  if (o.dead_letter_queue_set) map.emplace("dead_letter_queue", o.dead_letter_queue);
  // Written only when used: declarations logged before these options read the same.
  if (o.auto_delete) map.emplace("auto_delete", "true");
  if (o.single_active_consumer) map.emplace("single_active_consumer", "true");
  if (o.max_priority != 0) map.emplace("max_priority", std::to_string(o.max_priority));
  if (!o.dead_letter_exchange.empty()) map.emplace("dead_letter_exchange", o.dead_letter_exchange);
  if (o.dead_letter_routing_key_set)
    map.emplace("dead_letter_routing_key", o.dead_letter_routing_key);
  return map;
}

std::string json_escaped(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out;
}

std::string queue_options_json(const QueueOptions &o, std::string_view queue_name) {
  static constexpr const char *overflow_names[] = {"block", "reject", "drop_head"};
  std::string json = "{";
  json += "\"durable\":" + std::string(o.durable ? "true" : "false");
  json += ",\"max_length\":" + std::to_string(o.max_length);
  json += ",\"max_bytes\":" + std::to_string(o.max_bytes);
  json += ",\"overflow\":\"" + std::string(overflow_names[static_cast<int>(o.overflow)]) + "\"";
  json += ",\"message_ttl_ms\":" + std::to_string(o.message_ttl_ms);
  json += ",\"max_attempts\":" + std::to_string(o.max_attempts);
  json += ",\"dead_letter_queue\":\"" + o.dead_letter_queue_for(queue_name) + "\"";
  json += ",\"retry_delay_ms\":" + std::to_string(o.retry_delay_ms);
  json += ",\"retry_backoff\":" + std::to_string(o.retry_backoff);
  json += ",\"retry_delay_max_ms\":" + std::to_string(o.retry_delay_max_ms);
  json += ",\"lease_ms\":" + std::to_string(o.lease_ms);
  json += ",\"dedup_window_ms\":" + std::to_string(o.dedup_window_ms);
  json += ",\"shards\":" + std::to_string(o.shards);
  json += ",\"auto_delete\":" + std::string(o.auto_delete ? "true" : "false");
  json += ",\"single_active_consumer\":" + std::string(o.single_active_consumer ? "true" : "false");
  json += ",\"max_priority\":" + std::to_string(o.max_priority);
  json += ",\"dead_letter_exchange\":\"" + o.dead_letter_exchange + "\"";
  if (o.dead_letter_routing_key_set) {
    json += ",\"dead_letter_routing_key\":\"" + json_escaped(o.dead_letter_routing_key) + "\"";
  }
  json += "}";
  return json;
}

}  // namespace corq::core
