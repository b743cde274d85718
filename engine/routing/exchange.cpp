// engine/routing/exchange.cpp — see exchange.hpp.
#include "routing/exchange.hpp"

namespace corq::core::routing {

std::optional<ExchangeType> exchange_type_from(std::string_view name) noexcept {
  if (name == "direct") return ExchangeType::direct;
  if (name == "fanout") return ExchangeType::fanout;
  if (name == "topic") return ExchangeType::topic;
  if (name == "headers") return ExchangeType::headers;
  return std::nullopt;
}

const char *exchange_type_name(ExchangeType type) noexcept {
  switch (type) {
    case ExchangeType::direct: return "direct";
    case ExchangeType::fanout: return "fanout";
    case ExchangeType::topic: return "topic";
    case ExchangeType::headers: return "headers";
  }
  return "unknown";
}

}  // namespace corq::core::routing
