// tools/corqctl/text.cpp — escaping for terminal lines, JSON and Prometheus (see text.hpp).
#include "text.hpp"

namespace corqctl {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex_byte(std::string &out, unsigned char c) {
  out += hex_digits[c >> 4];
  out += hex_digits[c & 15];
}

}  // namespace

std::string printable(std::string_view bytes, std::size_t max_bytes) {
  std::string out;
  const std::size_t n = bytes.size() < max_bytes ? bytes.size() : max_bytes;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      append_hex_byte(out, c);
    }
  }
  if (n < bytes.size()) out += "...";
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      append_hex_byte(out, c);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

std::string prometheus_label(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace corqctl
