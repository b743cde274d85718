// engine/routing/exchange.hpp — an exchange: its name, type, options and counters.
//
// An Exchange object is the exchange's identity for as long as it is declared: bindings name it as
// a destination (exchange-to-exchange), the C API reads its counters. It holds no bindings — those
// live in the router's immutable Topology snapshots (routing/topology.hpp), so a publisher that
// routes through an old snapshot never sees a half-changed binding table, and an exchange bound to
// itself through others (a cycle) creates no reference cycle.
#pragma once

#include "options/options.hpp"

#include <corq/platform.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corq::core::routing {

enum class ExchangeType : std::uint8_t { direct, fanout, topic, headers };

/// "direct" -> direct, ...; nullopt for anything else.
std::optional<ExchangeType> exchange_type_from(std::string_view name) noexcept;
const char *exchange_type_name(ExchangeType type) noexcept;

class Exchange {
 public:
  /// `xid` != 0: a durable exchange with that id in the write-ahead log (never reused).
  Exchange(std::string name, ExchangeType type, ExchangeOptions options, std::uint32_t xid = 0)
      : name_(std::move(name)), type_(type), options_(std::move(options)), xid_(xid) {}
  Exchange(const Exchange &) = delete;
  Exchange &operator=(const Exchange &) = delete;

  const std::string &name() const noexcept { return name_; }
  ExchangeType type() const noexcept { return type_; }
  const ExchangeOptions &options() const noexcept { return options_; }
  std::uint32_t xid() const noexcept { return xid_; }

  // Counters (corq_exchange_stats), relaxed: statistics, not synchronization. Written by every
  // publish through the exchange, so they get a line of their own away from the read-only fields.
  alignas(cache_line_bytes) std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> routed{0};
  std::atomic<std::uint64_t> unroutable{0};
  std::atomic<std::uint64_t> alternated{0};

 private:
  const std::string name_;
  const ExchangeType type_;
  const ExchangeOptions options_;
  const std::uint32_t xid_;
};

}  // namespace corq::core::routing
