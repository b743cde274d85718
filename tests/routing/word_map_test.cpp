// Unit tests of routing::WordMap, the persistent hash map under each topic-trie node: random
// insertions and removals against std::map, with the real hash and with deliberately weak ones that
// force deep splits and full 64-bit collisions; old versions unchanged; removal restores the shape.
#include "routing/word_map.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using corq::core::routing::WordMap;
using Map = WordMap<int>;
using HashFn = std::function<std::uint64_t(const std::string &)>;

std::map<std::string, int> contents(const Map &map) {
  std::map<std::string, int> out;
  map.for_each([&](std::string_view word, const int &value) {
    EXPECT_TRUE(out.emplace(std::string(word), value).second) << "listed twice: " << word;
  });
  return out;
}

void expect_same(const Map &map, const std::map<std::string, int> &model, const HashFn &hash,
                 const std::vector<std::string> &universe) {
  ASSERT_EQ(map.size(), model.size());
  ASSERT_EQ(contents(map), model);
  for (const std::string &word : universe) {
    const int *found = map.find(word, hash(word));
    const auto it = model.find(word);
    if (it == model.end()) {
      ASSERT_EQ(found, nullptr) << word;
    } else {
      ASSERT_NE(found, nullptr) << word;
      ASSERT_EQ(*found, it->second) << word;
    }
  }
}

// Random with / without against std::map, keeping some old versions and re-checking them at the
// end (after thousands of later changes derived from them).
void check_against_std_map(const HashFn &hash, unsigned seed) {
  constexpr int operations = 2000, kept_every = 97;
  std::vector<std::string> universe;
  for (int i = 0; i < 300; ++i) universe.push_back("w" + std::to_string(i));
  universe.push_back("");
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, universe.size() - 1);
  Map map;
  std::map<std::string, int> model;
  std::vector<std::pair<Map, std::map<std::string, int>>> kept;
  for (int op = 0; op < operations; ++op) {
    const std::string &word = universe[pick(rng)];
    if (rng() % 3 == 0) {
      map = map.without(word, hash(word));
      model.erase(word);
    } else {
      map = map.with(word, hash(word), op);
      model[word] = op;
    }
    if (op % kept_every == 0) kept.emplace_back(map, model);
  }
  for (const auto &[old_map, old_model] : kept) expect_same(old_map, old_model, hash, universe);
  expect_same(map, model, hash, universe);
}

TEST(WordMap, behaves_like_a_map_with_the_real_hash) {
  check_against_std_map([](const std::string &w) { return corq::core::routing::word_hash(w); }, 1);
}

TEST(WordMap, behaves_like_a_map_when_hashes_share_their_low_bits) {
  // Only the top bits differ: every insert splits down to the last levels.
  check_against_std_map(
      [](const std::string &w) { return corq::core::routing::word_hash(w) << 50; }, 2);
}

TEST(WordMap, behaves_like_a_map_when_every_hash_collides) {
  check_against_std_map([](const std::string &) { return std::uint64_t{42}; }, 3);
}

TEST(WordMap, behaves_like_a_map_when_hashes_fall_into_few_classes) {
  check_against_std_map([](const std::string &w) { return std::uint64_t{w.size() % 3}; }, 4);
}

TEST(WordMap, with_and_without_leave_the_original_unchanged) {
  const auto hash = [](std::string_view w) { return corq::core::routing::word_hash(w); };
  const Map one = Map().with("a", hash("a"), 1);
  const Map two = one.with("b", hash("b"), 2);
  const Map replaced = two.with("a", hash("a"), 3);
  const Map removed = replaced.without("a", hash("a"));
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(*one.find("a", hash("a")), 1);
  EXPECT_EQ(one.find("b", hash("b")), nullptr);
  EXPECT_EQ(*two.find("a", hash("a")), 1);
  EXPECT_EQ(replaced.size(), 2u);
  EXPECT_EQ(*replaced.find("a", hash("a")), 3);
  EXPECT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed.find("a", hash("a")), nullptr);
  EXPECT_EQ(removed.without("zzz", hash("zzz")).size(), 1u);
}

TEST(WordMap, removing_every_word_leaves_an_empty_map) {
  const auto hash = [](std::string_view w) { return std::uint64_t{w.size()}; };  // collisions
  Map map;
  for (int i = 0; i < 100; ++i) map = map.with(std::to_string(i), hash(std::to_string(i)), i);
  for (int i = 0; i < 100; ++i) map = map.without(std::to_string(i), hash(std::to_string(i)));
  EXPECT_TRUE(map.empty());
  EXPECT_TRUE(contents(map).empty());
}

}  // namespace
