// Unit tests of routing::TopicTrie: RabbitMQ's topic rules one by one, a table of (pattern, key)
// cases, a randomized comparison with a plain dynamic-programming matcher, persistence (old
// versions unchanged), removal and pruning, duplicates, '#'-heavy patterns against long keys,
// direct mode, and no allocation while matching.
#include "routing/topic_trie.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <vector>

// Counts this thread's heap allocations, so a test can prove match allocates nothing. The
// replacements pair malloc with free; GCC's -O2 sees operator new inlined next to free() and warns
// of a mismatch it cannot see is none (-Wmismatched-new-delete).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
thread_local std::size_t allocations = 0;
}  // namespace

[[gnu::noinline]] void *operator new(std::size_t bytes) {
  ++allocations;
  if (void *p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void *p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void *p, std::size_t) noexcept { std::free(p); }

namespace {

using corq::core::routing::TopicTrie;
using Trie = TopicTrie<int>;

// ---- a reference matcher, written for obviousness rather than speed ----

std::vector<std::string> split(const std::string &key) {
  std::vector<std::string> words;
  if (key.empty()) return words;  // the empty key is zero words
  std::string word;
  for (char c : key) {
    if (c == '.') {
      words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  words.push_back(word);
  return words;
}

// match[i][j]: pattern words from i on match key words from j on (filled from the back).
bool reference_matches(const std::vector<std::string> &p, const std::vector<std::string> &k) {
  std::vector<std::vector<char>> match(p.size() + 1, std::vector<char>(k.size() + 1, 0));
  match[p.size()][k.size()] = 1;
  for (std::size_t i = p.size(); i-- > 0;) {
    for (std::size_t j = k.size() + 1; j-- > 0;) {
      const bool more = j < k.size();
      if (p[i] == "#")
        match[i][j] = match[i + 1][j] || (more && match[i][j + 1]);
      else if (p[i] == "*")
        match[i][j] = more && match[i + 1][j + 1];
      else
        match[i][j] = more && p[i] == k[j] && match[i + 1][j + 1];
    }
  }
  return match[0][0] != 0;
}

bool reference_matches(const std::string &pattern, const std::string &key) {
  return reference_matches(split(pattern), split(key));
}

// ---- helpers ----

Trie bound(Trie trie, const std::string &pattern, int destination) {
  bool added = false;
  trie = trie.with_binding(pattern, destination, &added);
  EXPECT_TRUE(added) << pattern;
  return trie;
}

Trie unbound(Trie trie, const std::string &pattern, int destination) {
  bool removed = false;
  trie = trie.without_binding(pattern, destination, &removed);
  EXPECT_TRUE(removed) << pattern;
  return trie;
}

// Every destination reported for `key`, sorted, duplicates kept.
std::vector<int> routed(const Trie &trie, std::string_view key) {
  std::vector<int> out;
  trie.match(key, [&](const int &d) { out.push_back(d); });
  std::sort(out.begin(), out.end());
  return out;
}

bool matches(const std::string &pattern, const std::string &key) {
  const Trie trie = bound(Trie(), pattern, 1);
  return !routed(trie, key).empty();
}

std::string repeat_words(std::string_view word, std::size_t count) {
  std::string key;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) key += '.';
    key += word;
  }
  return key;
}

// ---- the rules, one by one ----

TEST(TopicTrie, literal_pattern_matches_only_the_equal_key) {
  EXPECT_TRUE(matches("a.b.c", "a.b.c"));
  EXPECT_FALSE(matches("a.b.c", "a.b"));
  EXPECT_FALSE(matches("a.b.c", "a.b.c.d"));
  EXPECT_FALSE(matches("a.b.c", "a.b.x"));
  EXPECT_FALSE(matches("a.b", "ab"));
}

TEST(TopicTrie, star_matches_exactly_one_word) {
  EXPECT_TRUE(matches("a.*.c", "a.b.c"));
  EXPECT_TRUE(matches("*", "oneword"));
  EXPECT_TRUE(matches("*.*", "a.b"));
  EXPECT_FALSE(matches("a.*.c", "a.c"));
  EXPECT_FALSE(matches("a.*.c", "a.b.b.c"));
  EXPECT_FALSE(matches("*", "a.b"));
}

TEST(TopicTrie, star_does_not_match_the_empty_key) { EXPECT_FALSE(matches("*", "")); }

TEST(TopicTrie, star_matches_an_empty_word) {
  EXPECT_TRUE(matches("a.*.b", "a..b"));
  EXPECT_TRUE(matches("*.b", ".b"));
  EXPECT_TRUE(matches("a.*", "a."));
}

TEST(TopicTrie, hash_matches_zero_words_at_the_end) {
  EXPECT_TRUE(matches("a.#", "a"));
  EXPECT_TRUE(matches("a.b.#", "a.b"));
}

TEST(TopicTrie, hash_matches_zero_words_at_the_start) {
  EXPECT_TRUE(matches("#.a", "a"));
  EXPECT_TRUE(matches("#.a.b", "a.b"));
}

TEST(TopicTrie, hash_matches_zero_words_in_the_middle) { EXPECT_TRUE(matches("a.#.b", "a.b")); }

TEST(TopicTrie, hash_matches_many_words_anywhere) {
  EXPECT_TRUE(matches("a.#", "a.b.c.d"));
  EXPECT_TRUE(matches("#.d", "a.b.c.d"));
  EXPECT_TRUE(matches("a.#.d", "a.b.c.d"));
  EXPECT_FALSE(matches("a.#.d", "a.b.c"));
  EXPECT_FALSE(matches("a.#", "b.a"));
}

TEST(TopicTrie, hash_alone_matches_every_key_including_the_empty_one) {
  for (const char *key : {"", ".", "a", "a.b", "..", "#", "*", "a.b.c.d.e.f"})
    EXPECT_TRUE(matches("#", key)) << key;
}

TEST(TopicTrie, consecutive_hashes_match_like_one) {
  for (const char *key : {"", "a", "a.b", "a.b.c"}) {
    EXPECT_TRUE(matches("#.#", key)) << key;
    EXPECT_TRUE(matches("#.#.#", key)) << key;
  }
  EXPECT_TRUE(matches("a.#.#.b", "a.b"));
  EXPECT_TRUE(matches("a.#.#.b", "a.x.y.z.b"));
}

TEST(TopicTrie, spread_out_hashes_each_match_zero_or_more) {
  EXPECT_TRUE(matches("#.a.#.b.#", "a.b"));
  EXPECT_TRUE(matches("#.a.#.b.#", "x.a.y.b.z"));
  EXPECT_TRUE(matches("#.a.#.b.#", "a.a.b.b"));
  EXPECT_FALSE(matches("#.a.#.b.#", "b.a"));
}

TEST(TopicTrie, star_and_hash_together_need_at_least_the_stars) {
  EXPECT_FALSE(matches("*.#", ""));
  EXPECT_TRUE(matches("*.#", "a"));
  EXPECT_TRUE(matches("#.*", "a.b.c"));
  EXPECT_FALSE(matches("#.*.#", ""));
  EXPECT_TRUE(matches("#.*.#", "a"));
  EXPECT_FALSE(matches("*.#.*", "a"));
  EXPECT_TRUE(matches("*.#.*", "a.b"));
}

TEST(TopicTrie, wildcards_are_whole_words_only) {
  EXPECT_FALSE(matches("a*", "ab"));
  EXPECT_TRUE(matches("a*", "a*"));
  EXPECT_FALSE(matches("#a", "a"));
  EXPECT_FALSE(matches("#a", "x.a"));
  EXPECT_TRUE(matches("#a", "#a"));
  EXPECT_FALSE(matches("a.**", "a.b"));
}

TEST(TopicTrie, wildcard_words_in_a_key_are_ordinary_words) {
  EXPECT_FALSE(matches("a", "*"));
  EXPECT_FALSE(matches("a", "#"));
  EXPECT_TRUE(matches("*", "#"));
  EXPECT_TRUE(matches("*", "*"));
}

TEST(TopicTrie, empty_words_are_words) {
  EXPECT_TRUE(matches("a..b", "a..b"));
  EXPECT_FALSE(matches("a.b", "a..b"));
  EXPECT_FALSE(matches("a..b", "a.b"));
  EXPECT_TRUE(matches("*.*.*", "a..b"));
  EXPECT_FALSE(matches("*.*", "a..b"));
  EXPECT_TRUE(matches("a.", "a."));
  EXPECT_FALSE(matches("a.", "a"));
}

TEST(TopicTrie, empty_key_is_zero_words) {
  EXPECT_TRUE(matches("", ""));
  EXPECT_TRUE(matches("#", ""));
  EXPECT_FALSE(matches("*", ""));
  EXPECT_FALSE(matches("", "a"));
  EXPECT_FALSE(matches("", "."));
}

TEST(TopicTrie, dot_key_is_two_empty_words) {
  EXPECT_FALSE(matches("*", "."));
  EXPECT_TRUE(matches("*.*", "."));
  EXPECT_TRUE(matches(".", "."));
  EXPECT_TRUE(matches("*.#", "."));
  EXPECT_TRUE(matches("#.", "."));
  EXPECT_FALSE(matches("", "."));
  EXPECT_FALSE(matches("*.*.*", "."));
}

// ---- a table of cases, checked against the trie and the reference matcher alike ----

struct Case {
  const char *pattern;
  const char *key;
  bool match;
};

constexpr Case cases[] = {
    {"a.b.c", "a.b.c", true},
    {"a.*.c", "a.b.c", true},
    {"a.#.b", "a.b", true},
    {"a.#.b", "a.b.b", true},
    {"a.#.b", "a.b.c", false},
    {"a.b.b.c", "a.b.c", false},
    {"#", "nothing.here", true},
    {"#.#", "", true},
    {"#.b", "a.b", true},
    {"#.b", "a.b.c", false},
    {"*.*", "vodka.gin", true},
    {"*.*", "a.b.c", false},
    {"a.*", "a.b", true},
    {"a.*", "a", false},
    {"*.b.c", "b.b.c", true},
    {"*.b.c", "b.c", false},
    {"a.#", "a.a.a.a.a", true},
    {"a.#.#", "a", true},
    {"b.b.c", "a.b.c", false},
    {"", "", true},
    {"*.*.*", "b.c.c", true},
    {"*.*.*", "a.b", false},
    {"*.#", "oneword", true},
    {"#.*.#", "nothing.here.at.all", true},
    {"*.#.#", "a.b", true},
    {"#.#.#", "", true},
    {"*", "oneword", true},
    {"#.b.#", "b", true},
    {"#.b.#", "a.b.c", true},
    {"#.b.#", "a.c", false},
    {"x.#.y.#.z", "x.y.z", true},
    {"x.#.y.#.z", "x.z.y", false},
    {"#.x.*", "x.x", true},
    {"#.x.*", "x", false},
    {"a..", "a..", true},
    {"a..", "a.", false},
    {"..", "..", true},
    {"#..", "..", true},
    {"#", ".", true},
    {"*.", "a.", true},
    {"*.", "a", false},
    {"#.#.a.#.#", "a", true},
    {"#.#.a.#.#", "b", false},
    {"a.#.a", "a", false},
    {"a.#.a", "a.a", true},
    {"#.a.#.a.#", "a.a", true},
    {"#.a.#.a.#", "b.a.b", false},
    {"vodka.martini", "vodka.martini", true},
    {"vodka.martini", "vodka.gin", false},
};

TEST(TopicTrie, table_of_patterns_and_keys) {
  for (const Case &c : cases) {
    EXPECT_EQ(matches(c.pattern, c.key), c.match)
        << "pattern '" << c.pattern << "' key '" << c.key << "'";
    EXPECT_EQ(reference_matches(c.pattern, c.key), c.match)
        << "reference: pattern '" << c.pattern << "' key '" << c.key << "'";
  }
}

TEST(TopicTrie, all_table_patterns_bound_together_route_each_key_to_its_matches) {
  Trie trie;
  const int count = static_cast<int>(std::size(cases));
  for (int i = 0; i < count; ++i) {
    bool added = false;
    trie = trie.with_binding(cases[i].pattern, i, &added);  // a pattern may repeat: new id, added
    ASSERT_TRUE(added);
  }
  for (const Case &probe : cases) {
    std::vector<int> expected;
    for (int i = 0; i < count; ++i)
      if (reference_matches(cases[i].pattern, probe.key)) expected.push_back(i);
    EXPECT_EQ(routed(trie, probe.key), expected) << "key '" << probe.key << "'";
  }
}

// ---- randomized: the trie against the reference ----

std::string random_text(std::mt19937 &rng, const std::vector<std::string> &alphabet,
                        std::size_t words_max) {
  const std::size_t words = std::uniform_int_distribution<std::size_t>(0, words_max)(rng);
  std::string text;
  for (std::size_t i = 0; i < words; ++i) {
    if (i > 0) text += '.';
    text += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
  }
  return text;
}

void expect_same_as_reference(const Trie &trie,
                              const std::vector<std::vector<std::string>> &patterns,
                              const std::vector<bool> &bound, const std::string &key) {
  const std::vector<std::string> key_words = split(key);
  std::vector<int> expected;
  for (std::size_t i = 0; i < patterns.size(); ++i)
    if (bound[i] && reference_matches(patterns[i], key_words))
      expected.push_back(static_cast<int>(i));
  ASSERT_EQ(routed(trie, key), expected) << "key '" << key << "'";
}

TEST(TopicTrie, matches_like_the_reference_on_random_patterns_and_keys) {
  const std::vector<std::string> pattern_words = {"a", "b", "", "*", "#"};
  const std::vector<std::string> key_words = {"a", "b", "", "*", "#"};
  constexpr int rounds = 12, patterns_per_round = 60, keys_per_round = 250;
  std::mt19937 rng(20240601);
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::string> patterns;
    std::vector<std::vector<std::string>> pattern_words_split;
    std::vector<bool> live;
    Trie trie;
    for (int i = 0; i < patterns_per_round; ++i) {
      patterns.push_back(random_text(rng, pattern_words, 6));
      pattern_words_split.push_back(split(patterns.back()));
      trie = bound(trie, patterns.back(), i);
      live.push_back(true);
    }
    for (int i = 0; i < keys_per_round; ++i)
      expect_same_as_reference(trie, pattern_words_split, live, random_text(rng, key_words, 8));
    for (int i = 0; i < patterns_per_round; i += 2) {  // remove half, then compare again
      trie = unbound(trie, patterns[static_cast<std::size_t>(i)], i);
      live[static_cast<std::size_t>(i)] = false;
    }
    EXPECT_EQ(trie.size(), static_cast<std::size_t>(patterns_per_round / 2));
    for (int i = 0; i < keys_per_round; ++i)
      expect_same_as_reference(trie, pattern_words_split, live, random_text(rng, key_words, 8));
  }
}

// ---- persistence, removal, duplicates ----

TEST(TopicTrie, with_binding_leaves_the_original_unchanged) {
  const Trie before = bound(bound(Trie(), "a.*", 1), "a.#", 2);
  const Trie after = bound(before, "a.b", 3);
  EXPECT_EQ(before.size(), 2u);
  EXPECT_EQ(routed(before, "a.b"), (std::vector<int>{1, 2}));
  EXPECT_EQ(after.size(), 3u);
  EXPECT_EQ(routed(after, "a.b"), (std::vector<int>{1, 2, 3}));
}

TEST(TopicTrie, without_binding_leaves_the_original_unchanged) {
  const Trie before = bound(bound(bound(Trie(), "a.*", 1), "a.#", 2), "a.b", 3);
  const Trie after = unbound(before, "a.#", 2);
  EXPECT_EQ(routed(before, "a.b"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(routed(before, "a"), (std::vector<int>{2}));
  EXPECT_EQ(routed(after, "a.b"), (std::vector<int>{1, 3}));
  EXPECT_TRUE(routed(after, "a").empty());
}

TEST(TopicTrie, every_version_stays_valid_after_later_versions_are_dropped) {
  std::vector<Trie> versions{Trie()};
  for (int i = 0; i < 50; ++i)
    versions.push_back(bound(versions.back(), "k." + std::to_string(i), i));
  versions.erase(versions.begin() + 10, versions.end() - 1);  // drop the middle versions
  EXPECT_EQ(routed(versions[5], "k.4"), (std::vector<int>{4}));
  EXPECT_TRUE(routed(versions[5], "k.5").empty());
  EXPECT_EQ(routed(versions.back(), "k.49"), (std::vector<int>{49}));
}

TEST(TopicTrie, removed_binding_no_longer_matches_and_size_drops) {
  Trie trie = bound(bound(Trie(), "a.b", 1), "a.b", 2);
  trie = unbound(trie, "a.b", 1);
  EXPECT_EQ(trie.size(), 1u);
  EXPECT_EQ(routed(trie, "a.b"), (std::vector<int>{2}));
}

TEST(TopicTrie, removal_prunes_nodes_left_empty) {
  Trie trie = bound(Trie(), "a.b.c", 1);
  EXPECT_EQ(trie.node_count(), 4u);  // root, a, a.b, a.b.c
  trie = unbound(trie, "a.b.c", 1);
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_EQ(trie.node_count(), 0u);

  trie = bound(bound(Trie(), "a", 1), "a.#.*.c", 2);
  trie = unbound(trie, "a.#.*.c", 2);
  EXPECT_EQ(trie.node_count(), 2u);  // root and a, which still holds a binding
  EXPECT_EQ(routed(trie, "a"), (std::vector<int>{1}));
}

TEST(TopicTrie, removing_a_binding_that_is_not_there_is_a_no_op) {
  const Trie trie = bound(Trie(), "a.b", 1);
  bool removed = true;
  Trie same = trie.without_binding("a.b", 2, &removed);
  EXPECT_FALSE(removed);
  same = same.without_binding("a.c", 1, &removed);
  EXPECT_FALSE(removed);
  same = same.without_binding("a.b.c", 1, &removed);
  EXPECT_FALSE(removed);
  EXPECT_EQ(same.size(), 1u);
  EXPECT_EQ(routed(same, "a.b"), (std::vector<int>{1}));
  EXPECT_FALSE((Trie().without_binding("a", 1, &removed), removed));
}

TEST(TopicTrie, binding_the_same_pattern_and_destination_twice_is_a_no_op) {
  const Trie trie = bound(Trie(), "a.#", 7);
  bool added = true;
  const Trie again = trie.with_binding("a.#", 7, &added);
  EXPECT_FALSE(added);
  EXPECT_EQ(again.size(), 1u);
  EXPECT_EQ(routed(again, "a.b"), (std::vector<int>{7}));
}

TEST(TopicTrie, a_destination_is_reported_once_per_matching_pattern) {
  const Trie trie = bound(bound(bound(Trie(), "a.*", 1), "#", 1), "b.*", 1);
  EXPECT_EQ(routed(trie, "a.x"), (std::vector<int>{1, 1}));
}

TEST(TopicTrie, a_binding_is_reported_once_however_many_ways_its_hashes_match) {
  // "#.a.#" matches "a.a.a" three ways and "#.#.#" many more; each binding is still reported once.
  const Trie trie = bound(bound(bound(Trie(), "#.a.#", 1), "#.#.#", 2), "#.#", 3);
  EXPECT_EQ(routed(trie, "a.a.a"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(routed(trie, ""), (std::vector<int>{2, 3}));
}

TEST(TopicTrie, ten_hashes_against_a_200_word_key_match_without_blowing_up) {
  // A backtracking matcher takes time exponential in the '#'s here; the NFA walk stays linear.
  const std::string hashes = repeat_words("#", 10);
  const Trie trie = bound(bound(Trie(), hashes + ".z", 1), hashes + ".a", 2);
  EXPECT_EQ(routed(trie, repeat_words("a", 200)), (std::vector<int>{2}));
  EXPECT_TRUE(routed(trie, repeat_words("a", 200) + ".b").empty());
  const Trie spread = bound(Trie(), "#.a.#.a.#.a.#.a.#.a.#.b", 3);
  EXPECT_TRUE(routed(spread, repeat_words("a", 200)).empty());
  EXPECT_EQ(routed(spread, repeat_words("a", 200) + ".b"), (std::vector<int>{3}));
}

TEST(TopicTrie, a_longest_pattern_of_empty_words_binds_and_unbinds) {
  const std::string dots(corq::core::routing::key_bytes_max, '.');  // 256 empty words
  Trie trie = bound(Trie(), dots, 1);
  EXPECT_EQ(routed(trie, dots), (std::vector<int>{1}));
  EXPECT_TRUE(routed(trie, dots.substr(1)).empty());
  trie = unbound(trie, dots, 1);
  EXPECT_EQ(trie.node_count(), 0u);
}

TEST(TopicTrie, thousands_of_literal_children_bind_match_and_unbind) {
  constexpr int keys = 5000;
  Trie trie;
  for (int i = 0; i < keys; ++i) trie = bound(trie, "k" + std::to_string(i) + ".x", i);
  for (int i = 0; i < keys; i += 2) trie = unbound(trie, "k" + std::to_string(i) + ".x", i);
  EXPECT_EQ(trie.size(), static_cast<std::size_t>(keys / 2));
  for (int i = 0; i < keys; ++i) {
    const std::vector<int> got = routed(trie, "k" + std::to_string(i) + ".x");
    ASSERT_EQ(got, i % 2 ? std::vector<int>{i} : std::vector<int>{}) << i;
  }
  EXPECT_EQ(trie.node_count(), 1u + 2u * (keys / 2));
}

// ---- direct mode ----

TEST(TopicTrie, direct_mode_treats_star_and_hash_as_literal_words) {
  Trie trie(false);
  trie = bound(bound(bound(trie, "a.*", 1), "#", 2), "a.b", 3);
  EXPECT_FALSE(trie.wildcards());
  EXPECT_EQ(routed(trie, "a.*"), (std::vector<int>{1}));
  EXPECT_EQ(routed(trie, "#"), (std::vector<int>{2}));
  EXPECT_EQ(routed(trie, "a.b"), (std::vector<int>{3}));
  EXPECT_TRUE(routed(trie, "a.c").empty());
  EXPECT_TRUE(routed(trie, "").empty());
  EXPECT_TRUE(routed(trie, "a").empty());
}

TEST(TopicTrie, direct_mode_matches_only_the_equal_key) {
  const Trie trie = bound(bound(Trie(false), "", 1), "a..b", 2);
  EXPECT_EQ(routed(trie, ""), (std::vector<int>{1}));
  EXPECT_EQ(routed(trie, "a..b"), (std::vector<int>{2}));
  EXPECT_TRUE(routed(trie, "a.b").empty());
  EXPECT_TRUE(routed(trie, ".").empty());
}

TEST(TopicTrie, bindings_survive_in_the_mode_they_were_made) {
  const Trie topic = bound(Trie(true), "a.*", 1);
  bool added = false;
  EXPECT_TRUE(topic.with_binding("a.b", 2, &added).wildcards());
}

// ---- the hot path ----

TEST(TopicTrie, match_allocates_nothing_below_the_inline_bound) {
  Trie trie;
  for (const Case &c : cases) {
    bool added = false;
    trie = trie.with_binding(c.pattern, 1, &added);
  }
  const std::string long_key = repeat_words("a", 200);
  std::size_t reported = 0;
  const std::size_t before = allocations;
  for (const Case &c : cases) trie.match(c.key, [&](const int &) { ++reported; });
  trie.match(long_key, [&](const int &) { ++reported; });
  EXPECT_EQ(allocations, before);
  EXPECT_GT(reported, 0u);
}

TEST(TopicTrie, more_active_nodes_than_the_inline_bound_still_match_correctly) {
  // 100 patterns "*.<i>.#.#" keep 100+ nodes active at once: the sets spill to the heap.
  constexpr int patterns = 100;
  static_assert(patterns > static_cast<int>(corq::core::routing::active_nodes_inline_max));
  Trie trie;
  for (int i = 0; i < patterns; ++i) trie = bound(trie, "#.w" + std::to_string(i) + ".#.#", i);
  std::string key;
  for (int i = 0; i < patterns; ++i) key += (i ? ".w" : "w") + std::to_string(i);
  std::vector<int> all(patterns);
  for (int i = 0; i < patterns; ++i) all[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(routed(trie, key), all);
  EXPECT_EQ(routed(trie, key + ".tail.x.y"), all);
  EXPECT_TRUE(routed(trie, "nothing").empty());
}

}  // namespace
