// engine/routing/active_set.hpp — the set of trie nodes active at one word position while a topic
// routing key is matched (TopicTrie::match simulates the pattern NFA with two of these).
//
// The hot path allocates nothing: the first `active_nodes_inline_max` nodes live in an array inside
// the set (on the matcher's stack). A key that activates more nodes at once (very wide tries full
// of
// '*' and '#') spills to the heap, where an index keeps de-duplication O(1); below the bound,
// de-duplication is a linear scan, which for a few dozen pointers beats hashing.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <span>
#include <unordered_set>
#include <vector>

namespace corq::core::routing {

/// Nodes a matcher tracks without allocating. 64 covers every realistic binding set (each active
/// node is a distinct binding prefix that matches the key so far) in 1 KiB of stack for two sets.
inline constexpr std::size_t active_nodes_inline_max = 64;

template <class Node>
class ActiveSet {
 public:
  ActiveSet() = default;
  ActiveSet(const ActiveSet &) = delete;
  ActiveSet &operator=(const ActiveSet &) = delete;

  /// Adds `node`, which the caller knows is not in the set yet (no scan).
  void add_new(const Node *node) {
    assert(node != nullptr);
    if (spilled_.empty() && size_ < inline_.size()) {
      inline_[size_++] = node;
      return;
    }
    spill();
    spilled_.push_back(node);
    index_.insert(node);
  }

  /// Adds `node` unless present; returns whether it was added.
  bool add_unique(const Node *node) {
    if (contains(node)) return false;
    add_new(node);
    return true;
  }

  /// The nodes, in insertion order.
  std::span<const Node *const> nodes() const noexcept {
    if (!spilled_.empty()) return {spilled_.data(), spilled_.size()};
    return {inline_.data(), size_};
  }

  bool empty() const noexcept { return size_ == 0 && spilled_.empty(); }

  /// Empties the set; keeps spilled capacity for the next word of the same key.
  void clear() noexcept {
    size_ = 0;
    spilled_.clear();
    index_.clear();
  }

 private:
  bool contains(const Node *node) const {
    if (!spilled_.empty()) return index_.contains(node);
    for (std::size_t i = 0; i < size_; ++i)
      if (inline_[i] == node) return true;
    return false;
  }

  // Moves the inline nodes to the heap (once per overflow; later adds go straight to the heap).
  void spill() {
    if (!spilled_.empty()) return;
    spilled_.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(size_));
    index_.insert(spilled_.begin(), spilled_.end());
    size_ = 0;
  }

  std::array<const Node *, active_nodes_inline_max>
      inline_;                              // the first size_ are set (no zeroing)
  std::size_t size_ = 0;                    // used entries of inline_ (0 once spilled)
  std::vector<const Node *> spilled_;       // every node, when more than inline_ holds
  std::unordered_set<const Node *> index_;  // de-duplication once spilled
};

}  // namespace corq::core::routing
