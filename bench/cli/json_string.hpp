// bench/cli/json_string.hpp — a string as a JSON string literal, for the result lines the load
// generators print (corq-perf's summary, corq_peers_bench's JSON lines): queue and system names,
// error messages. Header-only; corq_peers_bench reaches it through corq_perf_histogram's include
// directory.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace corq::perf {

/// `text` quoted and escaped: '"' and '\' get a backslash, control characters become \u00XX; any
/// other byte (UTF-8 included) is copied as it is.
inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace corq::perf
