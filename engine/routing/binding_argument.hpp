// engine/routing/binding_argument.hpp — a binding argument as corq keeps it (the caller's
// corq_header only lives for the call): the router's records and the log's bind records use it.
#pragma once

#include <string>
#include <tuple>

namespace corq::core::routing {

struct OwnedArgument {
  std::string key;
  bool has_value = false;  // false: NULL value (a headers binding then matches on presence)
  std::string value;

  bool operator<(const OwnedArgument &o) const {
    return std::tie(key, has_value, value) < std::tie(o.key, o.has_value, o.value);
  }
  bool operator==(const OwnedArgument &) const = default;
};

}  // namespace corq::core::routing
