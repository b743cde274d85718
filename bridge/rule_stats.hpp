// bridge/rule_stats.hpp — the figures of one bridge rule (corq_bridge_stats_json), written by the
// rule's thread and read by any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace corq::bridge {

/// A rule's figures at one moment, as corq_bridge_stats_json and the metrics text show them.
struct RuleFigures {
  std::string direction;  // "outbound" or "inbound"
  std::string name;
  // Where from and to: outbound {queue|stream} -> subject; inbound jetstream/durable ->
  // {queue|stream}.
  std::string local_kind, local_name, subject, jetstream, durable;
  std::uint64_t forwarded = 0, in_flight = 0, retried = 0, lag = 0, duplicates = 0,
                high_water_mark = 0, headers_skipped = 0;
  std::string last_error;
};

struct RuleStats {
  std::atomic<std::uint64_t> forwarded{0};   // confirmed on the far side (JetStream ack / commit)
  std::atomic<std::uint64_t> in_flight{0};   // taken, not yet confirmed
  std::atomic<std::uint64_t> retried{0};     // resends (outbound) or commit retries (inbound)
  std::atomic<std::uint64_t> duplicates{0};  // inbound: redeliveries at or below the mark
  std::atomic<std::uint64_t> high_water_mark{0};  // inbound: last JetStream sequence committed
  std::atomic<std::uint64_t> lag{0};              // inbound: the consumer's pending count
  std::atomic<std::uint64_t> headers_skipped{0};  // headers NATS cannot carry (outbound)

  /// Copies the counters every rule has (and the last error) into `f`.
  void fill(RuleFigures &f) const {
    f.forwarded = forwarded.load(std::memory_order_relaxed);
    f.in_flight = in_flight.load(std::memory_order_relaxed);
    f.retried = retried.load(std::memory_order_relaxed);
    f.duplicates = duplicates.load(std::memory_order_relaxed);
    f.high_water_mark = high_water_mark.load(std::memory_order_relaxed);
    f.headers_skipped = headers_skipped.load(std::memory_order_relaxed);
    f.last_error = last_error();
  }

  void set_error(const std::string &text) {
    std::lock_guard lock(mutex_);
    last_error_ = text;
  }
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }

 private:
  mutable std::mutex mutex_;
  std::string last_error_;
};

/// Appends s to out as a JSON string (quotes and escapes).
inline void append_json_string(std::string &out, const std::string &s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace corq::bridge
