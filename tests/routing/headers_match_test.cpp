// Unit tests of routing::HeadersBinding: each x-match mode, bindings without arguments,
// presence-only (NULL-valued) arguments, empty values, "x-" arguments and headers, duplicate
// message headers, every compile error, and order-insensitive identity.
#include "routing/headers_match.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using corq::core::routing::HeadersBinding;
using corq::core::routing::XMatch;

// A header or argument list written as {key, value} pairs; a nullptr value is a NULL value.
struct Pair {
  const char *key;
  const char *value;
};

std::vector<corq_header> headers_of(std::initializer_list<Pair> pairs) {
  std::vector<corq_header> headers;
  for (const Pair &p : pairs)
    headers.push_back(corq_header{p.key, p.value, p.value ? std::strlen(p.value) : 0});
  return headers;
}

HeadersBinding compiled(std::initializer_list<Pair> arguments) {
  const std::vector<corq_header> list = headers_of(arguments);
  HeadersBinding binding;
  std::string error;
  EXPECT_EQ(HeadersBinding::compile(list.data(), list.size(), binding, error), CORQ_OK) << error;
  return binding;
}

bool matches(const HeadersBinding &binding, std::initializer_list<Pair> message) {
  const std::vector<corq_header> headers = headers_of(message);
  return binding.matches(headers.data(), headers.size());
}

// compile's error for these arguments (and that it is CORQ_EINVAL).
std::string compile_error(const std::vector<corq_header> &arguments) {
  HeadersBinding binding;
  std::string error;
  EXPECT_EQ(HeadersBinding::compile(arguments.data(), arguments.size(), binding, error),
            CORQ_EINVAL);
  EXPECT_FALSE(error.empty());
  return error;
}

// ---- x-match=all ----

TEST(HeadersBinding, all_is_the_default_mode) {
  EXPECT_EQ(compiled({{"format", "pdf"}}).x_match(), XMatch::all);
}

TEST(HeadersBinding, all_needs_every_argument_present_with_an_equal_value) {
  const HeadersBinding binding = compiled({{"x-match", "all"}, {"format", "pdf"}, {"type", "log"}});
  EXPECT_TRUE(matches(binding, {{"type", "log"}, {"format", "pdf"}}));
  EXPECT_TRUE(matches(binding, {{"type", "log"}, {"format", "pdf"}, {"extra", "1"}}));
  EXPECT_FALSE(matches(binding, {{"format", "pdf"}}));
  EXPECT_FALSE(matches(binding, {{"type", "log"}, {"format", "zip"}}));
  EXPECT_FALSE(matches(binding, {}));
}

TEST(HeadersBinding, values_compare_as_bytes) {
  const char with_nul[] = {'a', '\0', 'b'};
  const corq_header argument{"k", with_nul, sizeof with_nul};
  HeadersBinding binding;
  std::string error;
  ASSERT_EQ(HeadersBinding::compile(&argument, 1, binding, error), CORQ_OK);
  const char same[] = {'a', '\0', 'b'};
  const char other[] = {'a', '\0', 'c'};
  const corq_header equal{"k", same, sizeof same};
  const corq_header different{"k", other, sizeof other};
  const corq_header prefix{"k", same, 1};
  EXPECT_TRUE(binding.matches(&equal, 1));
  EXPECT_FALSE(binding.matches(&different, 1));
  EXPECT_FALSE(binding.matches(&prefix, 1));
  EXPECT_FALSE(matches(compiled({{"k", "V"}}), {{"k", "v"}}));
  EXPECT_FALSE(matches(compiled({{"k", "v"}}), {{"K", "v"}}));
}

TEST(HeadersBinding, all_with_no_arguments_matches_every_message) {
  EXPECT_TRUE(matches(compiled({}), {}));
  EXPECT_TRUE(matches(compiled({}), {{"a", "1"}}));
  EXPECT_TRUE(matches(compiled({{"x-match", "all"}}), {}));
  EXPECT_TRUE(matches(HeadersBinding(), {{"a", "1"}}));
}

TEST(HeadersBinding, all_ignores_x_arguments) {
  const HeadersBinding binding = compiled({{"x-match", "all"}, {"x-tag", "1"}, {"a", "1"}});
  EXPECT_TRUE(matches(binding, {{"a", "1"}}));
  EXPECT_TRUE(matches(compiled({{"x-only", "1"}}), {}));  // no counted argument: matches all
}

// ---- x-match=any ----

TEST(HeadersBinding, any_needs_at_least_one_argument_to_match) {
  const HeadersBinding binding = compiled({{"x-match", "any"}, {"format", "pdf"}, {"type", "log"}});
  EXPECT_EQ(binding.x_match(), XMatch::any);
  EXPECT_TRUE(matches(binding, {{"format", "pdf"}}));
  EXPECT_TRUE(matches(binding, {{"type", "log"}, {"format", "zip"}}));
  EXPECT_FALSE(matches(binding, {{"format", "zip"}, {"type", "txt"}}));
  EXPECT_FALSE(matches(binding, {}));
}

TEST(HeadersBinding, any_with_no_arguments_matches_no_message) {
  EXPECT_FALSE(matches(compiled({{"x-match", "any"}}), {}));
  EXPECT_FALSE(matches(compiled({{"x-match", "any"}}), {{"a", "1"}}));
  EXPECT_FALSE(matches(compiled({{"x-match", "any"}, {"x-tag", "1"}}), {{"x-tag", "1"}}));
}

// ---- the -with-x modes ----

TEST(HeadersBinding, all_with_x_counts_x_arguments_too) {
  const HeadersBinding binding = compiled({{"x-match", "all-with-x"}, {"x-tag", "1"}, {"a", "1"}});
  EXPECT_EQ(binding.x_match(), XMatch::all_with_x);
  EXPECT_TRUE(matches(binding, {{"a", "1"}, {"x-tag", "1"}}));
  EXPECT_FALSE(matches(binding, {{"a", "1"}}));
  EXPECT_FALSE(matches(binding, {{"a", "1"}, {"x-tag", "2"}}));
}

TEST(HeadersBinding, any_with_x_counts_x_arguments_too) {
  const HeadersBinding binding = compiled({{"x-match", "any-with-x"}, {"x-tag", "1"}, {"a", "1"}});
  EXPECT_EQ(binding.x_match(), XMatch::any_with_x);
  EXPECT_TRUE(matches(binding, {{"x-tag", "1"}}));
  EXPECT_TRUE(matches(binding, {{"a", "1"}}));
  EXPECT_FALSE(matches(binding, {{"x-tag", "2"}}));
}

TEST(HeadersBinding, x_match_itself_is_never_counted) {
  // The message's own x-match header is not compared with the binding's.
  EXPECT_TRUE(matches(compiled({{"x-match", "all-with-x"}}), {}));
  EXPECT_FALSE(matches(compiled({{"x-match", "any-with-x"}}), {{"x-match", "any-with-x"}}));
}

// ---- values ----

TEST(HeadersBinding, null_valued_argument_matches_on_presence_alone) {
  const HeadersBinding binding = compiled({{"flag", nullptr}});
  EXPECT_TRUE(matches(binding, {{"flag", "anything"}}));
  EXPECT_TRUE(matches(binding, {{"flag", ""}}));
  EXPECT_TRUE(matches(binding, {{"flag", nullptr}}));
  EXPECT_FALSE(matches(binding, {{"other", "1"}}));
  EXPECT_TRUE(
      matches(compiled({{"x-match", "any"}, {"a", "1"}, {"flag", nullptr}}), {{"flag", "x"}}));
}

TEST(HeadersBinding, empty_value_matches_only_an_empty_header_value) {
  const HeadersBinding binding = compiled({{"k", ""}});
  EXPECT_TRUE(matches(binding, {{"k", ""}}));
  EXPECT_TRUE(matches(binding, {{"k", nullptr}}));  // a NULL header value is empty (len 0)
  EXPECT_FALSE(matches(binding, {{"k", "x"}}));
  EXPECT_FALSE(matches(binding, {}));
}

TEST(HeadersBinding, x_headers_in_messages_take_part_in_matching) {
  EXPECT_TRUE(
      matches(compiled({{"x-match", "all-with-x"}, {"x-origin", "eu"}}), {{"x-origin", "eu"}}));
  // In plain all/any, an ordinary argument still finds its header among x- ones.
  EXPECT_TRUE(matches(compiled({{"a", "1"}}), {{"x-exchange", "e"}, {"x-a", "2"}, {"a", "1"}}));
}

TEST(HeadersBinding, a_header_given_twice_is_compared_by_its_first_occurrence) {
  const HeadersBinding binding = compiled({{"k", "1"}});
  EXPECT_TRUE(matches(binding, {{"k", "1"}, {"k", "2"}}));
  EXPECT_FALSE(matches(binding, {{"k", "2"}, {"k", "1"}}));
}

TEST(HeadersBinding, a_header_with_a_null_key_is_ignored) {
  EXPECT_TRUE(matches(compiled({{"k", "1"}}), {{nullptr, "1"}, {"k", "1"}}));
  EXPECT_FALSE(matches(compiled({{"k", "1"}}), {{nullptr, "1"}}));
}

// ---- bad arguments ----

TEST(HeadersBinding, bad_x_match_value_is_einval_with_a_message) {
  const std::string error = compile_error(headers_of({{"x-match", "some"}, {"a", "1"}}));
  EXPECT_NE(error.find("x-match"), std::string::npos) << error;
  EXPECT_NE(error.find("some"), std::string::npos) << error;
  compile_error(headers_of({{"x-match", "ALL"}}));
  compile_error(headers_of({{"x-match", ""}}));
}

TEST(HeadersBinding, null_x_match_value_is_einval) {
  EXPECT_NE(compile_error(headers_of({{"x-match", nullptr}})).find("NULL"), std::string::npos);
}

TEST(HeadersBinding, null_or_empty_key_is_einval) {
  EXPECT_NE(compile_error(headers_of({{"a", "1"}, {nullptr, "1"}})).find("NULL"),
            std::string::npos);
  EXPECT_NE(compile_error(headers_of({{"", "1"}})).find("empty"), std::string::npos);
}

TEST(HeadersBinding, key_over_255_bytes_is_einval) {
  const std::string longest(255, 'k'), too_long(256, 'k');
  compiled({{longest.c_str(), "1"}});
  EXPECT_NE(compile_error(headers_of({{too_long.c_str(), "1"}})).find("255"), std::string::npos);
}

TEST(HeadersBinding, more_than_64_arguments_is_einval) {
  std::vector<std::string> keys;
  for (int i = 0; i < 65; ++i) keys.push_back("k" + std::to_string(i));
  std::vector<corq_header> arguments;
  for (const std::string &key : keys) arguments.push_back(corq_header{key.c_str(), "v", 1});
  EXPECT_NE(compile_error(arguments).find("64"), std::string::npos);
  arguments.pop_back();
  HeadersBinding binding;
  std::string error;
  EXPECT_EQ(HeadersBinding::compile(arguments.data(), arguments.size(), binding, error), CORQ_OK);
}

TEST(HeadersBinding, the_same_key_twice_is_einval) {
  EXPECT_NE(compile_error(headers_of({{"a", "1"}, {"b", "1"}, {"a", "2"}})).find("twice"),
            std::string::npos);
  compile_error(headers_of({{"x-match", "all"}, {"x-match", "any"}}));
}

TEST(HeadersBinding, null_arguments_with_a_count_is_einval) {
  HeadersBinding binding;
  std::string error;
  EXPECT_EQ(HeadersBinding::compile(nullptr, 1, binding, error), CORQ_EINVAL);
  EXPECT_EQ(HeadersBinding::compile(nullptr, 0, binding, error), CORQ_OK);
}

TEST(HeadersBinding, a_failed_compile_leaves_the_output_unchanged) {
  HeadersBinding binding = compiled({{"x-match", "any"}, {"a", "1"}});
  std::string error;
  const std::vector<corq_header> bad = headers_of({{"x-match", "none"}});
  ASSERT_EQ(HeadersBinding::compile(bad.data(), bad.size(), binding, error), CORQ_EINVAL);
  EXPECT_EQ(binding, compiled({{"a", "1"}, {"x-match", "any"}}));
}

TEST(HeadersBinding, arguments_are_copied) {
  std::string key = "k", value = "v";
  const corq_header argument{key.c_str(), value.data(), value.size()};
  HeadersBinding binding;
  std::string error;
  ASSERT_EQ(HeadersBinding::compile(&argument, 1, binding, error), CORQ_OK);
  key = "z";
  value = "z";
  EXPECT_TRUE(matches(binding, {{"k", "v"}}));
}

// ---- identity ----

TEST(HeadersBinding, equality_ignores_argument_order) {
  const HeadersBinding a = compiled({{"x-match", "any"}, {"a", "1"}, {"b", nullptr}, {"c", ""}});
  const HeadersBinding b = compiled({{"c", ""}, {"b", nullptr}, {"a", "1"}, {"x-match", "any"}});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.identity_hash(), b.identity_hash());
}

TEST(HeadersBinding, equality_tells_different_arguments_apart) {
  const HeadersBinding base = compiled({{"a", "1"}});
  EXPECT_FALSE(base == compiled({{"a", "2"}}));
  EXPECT_FALSE(base == compiled({{"a", nullptr}}));                   // NULL is not a value
  EXPECT_FALSE(compiled({{"a", ""}}) == compiled({{"a", nullptr}}));  // nor is it empty
  EXPECT_FALSE(base == compiled({{"a", "1"}, {"b", "1"}}));
  EXPECT_FALSE(base == compiled({{"x-match", "any"}, {"a", "1"}}));
  // Length prefixes keep key/value boundaries apart: ("ab","c") is not ("a","bc").
  EXPECT_FALSE(compiled({{"ab", "c"}}) == compiled({{"a", "bc"}}));
  // An explicit x-match=all is a different argument set from none (RabbitMQ's binding identity).
  EXPECT_FALSE(base == compiled({{"x-match", "all"}, {"a", "1"}}));
}

}  // namespace
