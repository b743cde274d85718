// Concurrency test of routing::TopicTrie: publishers match against a version while the control
// plane derives new versions from it (sharing its nodes) and drops old ones. Under TSan this proves
// the nodes really are read-only once built; everywhere it checks that each version a publisher
// holds keeps routing exactly as it did when it was published.
#include "routing/topic_trie.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/sanitizers.hpp"

namespace {

using Trie = corq::core::routing::TopicTrie<int>;

// The current version; the lock covers only the pointer copy, never a match (the engine would use
// std::atomic<std::shared_ptr> or RCU instead).
class Current {
 public:
  std::shared_ptr<const Trie> get() {
    std::lock_guard lock(mutex_);
    return trie_;
  }
  void set(std::shared_ptr<const Trie> trie) {
    std::lock_guard lock(mutex_);
    trie_ = std::move(trie);
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<const Trie> trie_;
};

TEST(TopicTrieConcurrency, publishers_match_old_versions_while_new_ones_are_built) {
  // Destination 0 is bound to "#" in every version: every match reports it. Destinations 1..n come
  // and go under "k.<i>.#", and a version's size() tells how many of them it holds.
  bool added = false;
  Current current;
  current.set(std::make_shared<const Trie>(Trie().with_binding("#", 0, &added)));
  std::atomic<bool> stop{false};
  std::atomic<long> matches{0};
  auto publisher = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const std::shared_ptr<const Trie> trie = current.get();
      int always = 0, total = 0;
      for (int i = 0; i < 8; ++i) {
        trie->match("k." + std::to_string(i) + ".x", [&](const int &d) {
          always += d == 0;
          ++total;
        });
      }
      ASSERT_EQ(always, 8);
      // Each "k.<i>.#" binding matches exactly one of the eight keys.
      ASSERT_EQ(total, 8 + static_cast<int>(trie->size()) - 1);
      matches.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> publishers;
  for (int i = 0; i < 2; ++i) publishers.emplace_back(publisher);
  // Build versions only once the publishers are matching, or on a loaded machine the rounds can
  // all finish before a publisher thread is first scheduled and nothing runs concurrently (this
  // test once failed that way). A publisher that fails an assertion has stopped: stop waiting.
  while (matches.load(std::memory_order_relaxed) < 2 && !HasFailure()) std::this_thread::yield();
  const int rounds = static_cast<int>(corq::test::scaled(2000));
  for (int round = 0; round < rounds; ++round) {
    const std::shared_ptr<const Trie> trie = current.get();
    const int d = 1 + round % 8;
    const std::string pattern = "k." + std::to_string(round % 8) + ".#";
    bool changed = false;
    Trie next = trie->with_binding(pattern, d, &changed);
    if (!changed) next = trie->without_binding(pattern, d, &changed);
    ASSERT_TRUE(changed);
    current.set(std::make_shared<const Trie>(std::move(next)));
  }
  stop = true;
  for (std::thread &t : publishers) t.join();
  EXPECT_GT(matches.load(), 0);
}

}  // namespace
