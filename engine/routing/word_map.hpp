// engine/routing/word_map.hpp — a persistent (immutable, structurally shared) map from a word to a
// value: the literal children of one topic-trie node.
//
// Why not a sorted vector: path copying a trie node copies its children. A direct exchange with ten
// thousand queues bound by ten thousand keys has ten thousand children under its root, and copying
// them on every bind and unbind would make binding cost grow with all bindings. This is a hash
// array mapped trie (Bagwell's HAMT): 32-way branches indexed by 5 bits of the word's 64-bit hash
// at a time, a bitmap saying which of the 32 slots are present, and only present slots stored.
// `with` and `without` copy one branch per level (at most `levels_max` + 1 branches of at most 32
// slots), and share everything else with the original, which stays valid and unchanged.
//
// Every operation takes the word's hash from the caller, so a routing key's word is hashed once and
// then looked up in every active trie node; look-up never allocates. The caller must pass the same
// hash for the same word every time (the trie uses word_hash; tests use weaker ones to force
// collisions). Words whose full 64-bit hashes collide share a
// collision list at the bottom (compared by bytes), so correctness never depends on the hash.
//
// Thread-safety: a WordMap is a value. Concurrent `find` calls on maps sharing branches are safe
// (branches are immutable after construction); assigning to one WordMap object while another thread
// reads the same object is a data race, as for any value.
#pragma once

#include "routing/text_hash.hpp"

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corq::core::routing {

/// The hash WordMap is keyed by (routing/text_hash.hpp: inline, no library call). Callers hash a
/// word once and pass the result to every `find`.
inline std::uint64_t word_hash(std::string_view word) noexcept { return text_hash(word); }

template <class Value>
class WordMap {
 public:
  WordMap() = default;

  /// The value bound to `word` (whose hash is `hash`), or nullptr. The pointer stays valid as
  /// long as any WordMap sharing that branch lives. Never allocates.
  const Value *find(std::string_view word, std::uint64_t hash) const noexcept;

  /// A new map with `word` bound to `value` (replacing a previous value); this map is unchanged.
  WordMap with(std::string_view word, std::uint64_t hash, Value value) const;

  /// A new map without `word`; this map is unchanged. Without `word` present, returns a copy of
  /// this map (sharing everything).
  WordMap without(std::string_view word, std::uint64_t hash) const;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Calls fn(std::string_view word, const Value &) for every entry, in no particular order.
  template <class Fn>
  void for_each(Fn &&fn) const {
    if (root_) visit(*root_, fn);
  }

 private:
  struct Branch;
  using BranchPtr = std::shared_ptr<const Branch>;

  // One slot of a branch: a sub-branch (`branch` set) or a leaf (word, its hash, its value).
  struct Slot {
    BranchPtr branch;
    std::uint64_t hash = 0;
    std::string word;
    Value value{};
    bool is_leaf() const noexcept { return branch == nullptr; }
  };

  // Bitmapped branch above the collision level; at the collision level `bitmap` is unused and
  // `slots` is a plain list of leaves whose hashes are all equal.
  struct Branch {
    std::uint32_t bitmap = 0;
    std::vector<Slot> slots;
  };

  static constexpr unsigned bits_per_level = 5;
  static constexpr std::uint32_t slot_mask = (1u << bits_per_level) - 1;
  // Levels 0..levels_max-1 consume the 64 hash bits, 5 at a time (the last takes the 4 left); at
  // level `levels_max` every hash bit is used up and colliding words share one list.
  static constexpr unsigned levels_max = (64 + bits_per_level - 1) / bits_per_level;

  static std::uint32_t slot_bit(std::uint64_t hash, unsigned level) noexcept {
    return 1u << ((hash >> (level * bits_per_level)) & slot_mask);
  }
  static std::size_t slot_index(std::uint32_t bitmap, std::uint32_t bit) noexcept {
    return bits_set(bitmap & (bit - 1));
  }
  /// std::popcount, which without -mpopcnt (the x86-64 baseline Debian builds for) is a call into
  /// libgcc (__popcountdi2: ~20 instructions and a call per trie step); the SWAR sum is 12
  /// instructions inline.
  static std::size_t bits_set(std::uint32_t x) noexcept {
#if defined(__POPCNT__) || !defined(__x86_64__)
    return static_cast<std::size_t>(std::popcount(x));
#else
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0fu;
    return (x * 0x01010101u) >> 24;
#endif
  }
  static Slot leaf(std::string_view word, std::uint64_t hash, Value value) {
    return Slot{nullptr, hash, std::string(word), std::move(value)};
  }
  static Slot sub_branch(BranchPtr branch) {
    Slot slot;
    slot.branch = std::move(branch);
    return slot;
  }

  static BranchPtr insert(const Branch *at, unsigned level, Slot &&entry, bool &grew);
  static BranchPtr insert_collision(const Branch *at, Slot &&entry, bool &grew);
  static BranchPtr erase(const BranchPtr &at, unsigned level, std::string_view word,
                         std::uint64_t hash, bool &shrank);
  static BranchPtr erase_collision(const BranchPtr &at, std::string_view word, bool &shrank);
  static BranchPtr replace_child(const Branch &at, std::size_t index, std::uint32_t bit,
                                 BranchPtr child);

  template <class Fn>
  static void visit(const Branch &at, Fn &fn) {
    for (const Slot &slot : at.slots) {
      if (slot.is_leaf())
        fn(std::string_view(slot.word), slot.value);
      else
        visit(*slot.branch, fn);
    }
  }

  WordMap(BranchPtr root, std::size_t size) : root_(std::move(root)), size_(size) {}

  BranchPtr root_;
  std::size_t size_ = 0;
};

template <class Value>
const Value *WordMap<Value>::find(std::string_view word, std::uint64_t hash) const noexcept {
  const Branch *at = root_.get();
  for (unsigned level = 0; at != nullptr; ++level) {
    if (level == levels_max) {
      for (const Slot &slot : at->slots)
        if (slot.word == word) return &slot.value;
      return nullptr;
    }
    const std::uint32_t bit = slot_bit(hash, level);
    if ((at->bitmap & bit) == 0) return nullptr;
    const Slot &slot = at->slots[slot_index(at->bitmap, bit)];
    if (slot.is_leaf()) return slot.hash == hash && slot.word == word ? &slot.value : nullptr;
    at = slot.branch.get();
  }
  return nullptr;
}

template <class Value>
WordMap<Value> WordMap<Value>::with(std::string_view word, std::uint64_t hash, Value value) const {
  bool grew = false;
  BranchPtr root = insert(root_.get(), 0, leaf(word, hash, std::move(value)), grew);
  return WordMap(std::move(root), size_ + (grew ? 1 : 0));
}

template <class Value>
WordMap<Value> WordMap<Value>::without(std::string_view word, std::uint64_t hash) const {
  if (!root_) return *this;
  bool shrank = false;
  BranchPtr root = erase(root_, 0, word, hash, shrank);
  if (!shrank) return *this;
  assert(size_ > 0);
  return WordMap(std::move(root), size_ - 1);
}

// Returns a copy of `at` (nullptr: an empty branch) with `entry` added or its value replaced.
template <class Value>
auto WordMap<Value>::insert(const Branch *at, unsigned level, Slot &&entry, bool &grew)
    -> BranchPtr {
  if (level == levels_max) return insert_collision(at, std::move(entry), grew);
  Branch copy = at ? *at : Branch{};
  const std::uint32_t bit = slot_bit(entry.hash, level);
  const std::size_t index = slot_index(copy.bitmap, bit);
  if ((copy.bitmap & bit) == 0) {
    copy.bitmap |= bit;
    copy.slots.insert(copy.slots.begin() + static_cast<std::ptrdiff_t>(index), std::move(entry));
    grew = true;
  } else if (Slot &slot = copy.slots[index]; !slot.is_leaf()) {
    slot.branch = insert(slot.branch.get(), level + 1, std::move(entry), grew);
  } else if (slot.hash == entry.hash && slot.word == entry.word) {
    slot.value = std::move(entry.value);
  } else {
    // Two words share this slot: push both one level down (deeper still while their bits agree).
    bool ignored = false;
    BranchPtr below = insert(nullptr, level + 1, std::move(slot), ignored);
    slot = sub_branch(insert(below.get(), level + 1, std::move(entry), grew));
  }
  return std::make_shared<const Branch>(std::move(copy));
}

template <class Value>
auto WordMap<Value>::insert_collision(const Branch *at, Slot &&entry, bool &grew) -> BranchPtr {
  Branch copy = at ? *at : Branch{};
  for (Slot &slot : copy.slots) {
    if (slot.word == entry.word) {
      slot.value = std::move(entry.value);
      return std::make_shared<const Branch>(std::move(copy));
    }
  }
  copy.slots.push_back(std::move(entry));
  grew = true;
  return std::make_shared<const Branch>(std::move(copy));
}

// Returns `at` without `word` (`at` itself when absent; nullptr when nothing is left). A branch
// left with one leaf is returned as is; the parent pulls that leaf up (replace_child), so a map
// always has the shape its words alone would give it, whatever the order of operations.
template <class Value>
auto WordMap<Value>::erase(const BranchPtr &at, unsigned level, std::string_view word,
                           std::uint64_t hash, bool &shrank) -> BranchPtr {
  if (level == levels_max) return erase_collision(at, word, shrank);
  const std::uint32_t bit = slot_bit(hash, level);
  if ((at->bitmap & bit) == 0) return at;
  const std::size_t index = slot_index(at->bitmap, bit);
  const Slot &slot = at->slots[index];
  if (!slot.is_leaf()) {
    BranchPtr child = erase(slot.branch, level + 1, word, hash, shrank);
    if (!shrank) return at;
    return replace_child(*at, index, bit, std::move(child));
  }
  if (slot.hash != hash || slot.word != word) return at;
  shrank = true;
  return replace_child(*at, index, bit, nullptr);
}

template <class Value>
auto WordMap<Value>::erase_collision(const BranchPtr &at, std::string_view word, bool &shrank)
    -> BranchPtr {
  Branch copy = *at;
  for (auto it = copy.slots.begin(); it != copy.slots.end(); ++it) {
    if (it->word != word) continue;
    copy.slots.erase(it);
    shrank = true;
    if (copy.slots.empty()) return nullptr;
    return std::make_shared<const Branch>(std::move(copy));
  }
  return at;
}

// A copy of `at` whose slot `index` (bit `bit`) holds `child`: removed when child is nullptr,
// replaced by child's only slot when that is a leaf (pulled up), else pointing at child.
template <class Value>
auto WordMap<Value>::replace_child(const Branch &at, std::size_t index, std::uint32_t bit,
                                   BranchPtr child) -> BranchPtr {
  Branch copy = at;
  if (child == nullptr) {
    copy.bitmap &= ~bit;
    copy.slots.erase(copy.slots.begin() + static_cast<std::ptrdiff_t>(index));
    if (copy.slots.empty()) return nullptr;
  } else if (child->slots.size() == 1 && child->slots.front().is_leaf()) {
    copy.slots[index] = child->slots.front();
  } else {
    copy.slots[index] = sub_branch(std::move(child));
  }
  return std::make_shared<const Branch>(std::move(copy));
}

}  // namespace corq::core::routing
