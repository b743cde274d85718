// engine/routing/headers_match.hpp — one compiled binding of a headers exchange: its arguments,
// checked and copied once at bind time, matched against a message's headers at publish time.
//
// Rules (DESIGN §6, AMQP 0-9-1's headers exchange): the argument "x-match" picks the mode:
//   all (default)  every counted argument matches a message header;
//   any            at least one does;
//   all-with-x,    the same, but arguments starting with "x-" are counted too (all but x-match
//   any-with-x     itself); in all/any they are ignored for matching.
// An argument matches when the message has a header with the same key and a byte-equal value; an
// argument whose value is NULL matches on the header's presence alone (AMQP's void); an empty value
// matches only an empty header value. `all` with no counted argument matches every message, `any`
// with none matches none. Message headers starting with "x-" take part like any other. When a
// message carries the same key twice, the first occurrence is the one compared (as a linear scan of
// the headers meets it first), so a later duplicate can neither make nor break a match.
//
// Identity: a binding is its arguments as a set (order does not matter); explicit "x-match=all"
// and no x-match are different argument sets and so different bindings, as in RabbitMQ.
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace corq::core::routing {

enum class XMatch { all, any, all_with_x, any_with_x };

/// Most arguments one binding may carry (the same bound as a message's headers, corq.h).
inline constexpr std::size_t headers_arguments_max = 64;
/// Longest argument key, in bytes (the same bound as a header key, corq.h).
inline constexpr std::size_t header_key_bytes_max = 255;

/// Thread-safety: immutable after compile; `matches` may run on any number of threads at once.
class HeadersBinding {
 public:
  HeadersBinding() = default;  // x-match=all with no argument: matches every message

  /// Compiles binding arguments (count of them; `arguments` may be NULL when count is 0). Returns
  /// CORQ_OK and sets `out`, or CORQ_EINVAL with `error` set to a sentence naming the fault and
  /// `out` unchanged: arguments NULL with count > 0, more than headers_arguments_max arguments, a
  /// NULL or empty key, a key over header_key_bytes_max bytes, the same key twice (ambiguous: which
  /// one would count?), an x-match value other than all / any / all-with-x / any-with-x, or an
  /// x-match whose value is NULL. Every key and value is copied; the caller's may go away after.
  static int compile(const corq_header *arguments, std::size_t count, HeadersBinding &out,
                     std::string &error);

  /// Whether a message with these headers (count of them; may be NULL when count is 0) matches.
  /// A header with a NULL key is ignored; a NULL value is an empty value (corq.h allows NULL with
  /// value_len 0). Cost: counted arguments x headers key comparisons, at most 64 x 64; allocates
  /// nothing.
  bool matches(const corq_header *headers, std::size_t count) const noexcept;

  /// Same argument set, regardless of the order they were given in.
  bool operator==(const HeadersBinding &other) const noexcept {
    return canonical_ == other.canonical_;
  }

  XMatch x_match() const noexcept { return x_match_; }

  /// The binding's identity as bytes: arguments sorted by key, each length-prefixed, with NULL
  /// values told apart from empty ones. Equal strings iff operator== holds; usable as a map key.
  const std::string &canonical() const noexcept { return canonical_; }
  /// A hash of canonical(), for hash maps of bindings.
  std::size_t identity_hash() const noexcept;

 private:
  struct Argument {
    std::string key;
    std::string value;
    bool presence_only = false;  // the value was NULL: any value of the header matches
    bool counted = false;        // takes part in matching under x_match_
  };

  bool argument_matches(const Argument &argument, const corq_header *headers,
                        std::size_t count) const noexcept;
  void mark_counted();
  void build_canonical();

  XMatch x_match_ = XMatch::all;
  std::vector<Argument> arguments_;  // every argument, x-match too (never counted), sorted by key
  std::string canonical_;
};

}  // namespace corq::core::routing
