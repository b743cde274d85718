// engine/routing/headers_match.cpp — compiling and matching headers-exchange bindings (the rules
// are at the top of headers_match.hpp).
#include "routing/headers_match.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <functional>
#include <string_view>
#include <utility>

namespace corq::core::routing {

namespace {

constexpr std::string_view x_match_key = "x-match";
constexpr std::string_view x_prefix = "x-";
// An offending value is quoted in the error message up to this many bytes.
constexpr std::size_t quoted_value_bytes_max = 32;

int invalid(std::string &error, std::string message) {
  error = std::move(message);
  return CORQ_EINVAL;
}

// The value as printable text for an error message: bytes outside ASCII 0x20-0x7e become '?'.
std::string quoted(const void *value, std::size_t len) {
  const char *bytes = static_cast<const char *>(value);
  std::string text = "\"";
  for (std::size_t i = 0; i < std::min(len, quoted_value_bytes_max); ++i)
    text += bytes[i] >= 0x20 && bytes[i] <= 0x7e ? bytes[i] : '?';
  text += len > quoted_value_bytes_max ? "...\"" : "\"";
  return text;
}

bool parse_x_match(std::string_view value, XMatch &mode) {
  if (value == "all")
    mode = XMatch::all;
  else if (value == "any")
    mode = XMatch::any;
  else if (value == "all-with-x")
    mode = XMatch::all_with_x;
  else if (value == "any-with-x")
    mode = XMatch::any_with_x;
  else
    return false;
  return true;
}

// Checks one argument's key; returns its length, or 0 with `error` set.
std::size_t checked_key_bytes(const corq_header &argument, std::size_t position,
                              std::string &error) {
  std::string prefix =
      "binding argument ";  // appended: GCC 12 -O2 warns falsely on "literal" + temporary
  prefix += std::to_string(position);
  prefix += ": ";
  if (argument.key == nullptr) return invalid(error, prefix + "key is NULL"), 0;
  const std::size_t bytes = strnlen(argument.key, header_key_bytes_max + 1);
  if (bytes == 0) return invalid(error, prefix + "key is empty"), 0;
  if (bytes > header_key_bytes_max)
    return invalid(error, prefix + "key is longer than 255 bytes"), 0;
  return bytes;
}

void append_length_prefixed(std::string &out, std::string_view bytes) {
  out += std::to_string(bytes.size());
  out += ':';
  out += bytes;
}

}  // namespace

int HeadersBinding::compile(const corq_header *arguments, std::size_t count, HeadersBinding &out,
                            std::string &error) {
  if (count > 0 && arguments == nullptr)
    return invalid(error,
                   "binding arguments are NULL but argument_count is " + std::to_string(count));
  if (count > headers_arguments_max)
    return invalid(error, "a binding takes at most 64 arguments, not " + std::to_string(count));
  HeadersBinding compiled;
  for (std::size_t i = 0; i < count; ++i) {
    const corq_header &argument = arguments[i];
    const std::size_t key_bytes = checked_key_bytes(argument, i, error);
    if (key_bytes == 0) return CORQ_EINVAL;
    const std::string_view key(argument.key, key_bytes);
    const bool presence_only = argument.value == nullptr;
    const std::string_view value =
        presence_only
            ? std::string_view()
            : std::string_view(static_cast<const char *>(argument.value), argument.value_len);
    if (key == x_match_key) {
      if (presence_only) return invalid(error, "binding argument x-match has a NULL value");
      if (!parse_x_match(value, compiled.x_match_))
        return invalid(error, "binding argument x-match is " + quoted(value.data(), value.size()) +
                                  ", not all, any, all-with-x or any-with-x");
    }
    compiled.arguments_.push_back(Argument{std::string(key), std::string(value), presence_only});
  }
  std::ranges::sort(compiled.arguments_, {}, &Argument::key);
  const auto twice = std::ranges::adjacent_find(compiled.arguments_, {}, &Argument::key);
  if (twice != compiled.arguments_.end())
    return invalid(error, "binding argument " + twice->key + " is given twice");
  compiled.mark_counted();
  compiled.build_canonical();
  out = std::move(compiled);
  return CORQ_OK;
}

// Which arguments take part in matching: never x-match itself; "x-" ones only in the -with-x modes.
void HeadersBinding::mark_counted() {
  const bool with_x = x_match_ == XMatch::all_with_x || x_match_ == XMatch::any_with_x;
  for (Argument &argument : arguments_) {
    if (argument.key == x_match_key)
      argument.counted = false;
    else
      argument.counted = with_x || !argument.key.starts_with(x_prefix);
  }
}

// Sorted by key (keys are unique), each key and value length-prefixed so no two argument sets
// produce the same bytes; 'N' marks a NULL value, 'V' a value (possibly empty).
void HeadersBinding::build_canonical() {
  canonical_.clear();
  for (const Argument &argument : arguments_) {
    append_length_prefixed(canonical_, argument.key);
    if (argument.presence_only) {
      canonical_ += 'N';
    } else {
      canonical_ += 'V';
      append_length_prefixed(canonical_, argument.value);
    }
  }
}

std::size_t HeadersBinding::identity_hash() const noexcept {
  return std::hash<std::string>{}(canonical_);
}

// The first header with the argument's key decides (see the file comment on duplicate keys).
bool HeadersBinding::argument_matches(const Argument &argument, const corq_header *headers,
                                      std::size_t count) const noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const corq_header &header = headers[i];
    if (header.key == nullptr || std::strcmp(header.key, argument.key.c_str()) != 0) continue;
    if (argument.presence_only) return true;
    if (header.value_len != argument.value.size()) return false;
    if (header.value_len == 0) return true;
    return header.value != nullptr &&
           std::memcmp(header.value, argument.value.data(), header.value_len) == 0;
  }
  return false;
}

bool HeadersBinding::matches(const corq_header *headers, std::size_t count) const noexcept {
  assert(headers != nullptr || count == 0);
  const bool need_all = x_match_ == XMatch::all || x_match_ == XMatch::all_with_x;
  for (const Argument &argument : arguments_) {
    if (!argument.counted) continue;
    const bool matched = argument_matches(argument, headers, count);
    if (need_all && !matched) return false;
    if (!need_all && matched) return true;
  }
  return need_all;  // all: none failed (vacuously true with none); any: none matched
}

}  // namespace corq::core::routing
