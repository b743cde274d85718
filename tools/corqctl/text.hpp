// tools/corqctl/text.hpp — bytes made safe for the places corqctl prints them: a terminal line
// (payload and header previews), a JSON string, a Prometheus label value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace corqctl {

/// Longest payload preview `dlq list` and `consume` print by default (bytes of the payload).
inline constexpr std::size_t preview_bytes_default = 64;

/// `bytes` on one line: printable ASCII as is, everything else (and '"', '\\') as \xNN. At most
/// `max_bytes` input bytes; "..." is appended when it cut something off.
std::string printable(std::string_view bytes, std::size_t max_bytes);

/// `s` as a JSON string literal, quotes included (control bytes as \u00NN; other bytes as they
/// are, so UTF-8 passes through).
std::string json_string(std::string_view s);

/// `s` escaped for a Prometheus label value (backslash, double quote and newline), no quotes.
std::string prometheus_label(std::string_view s);

}  // namespace corqctl
