// engine/routing/topic_trie.hpp — the bindings of a topic (or direct) exchange: a persistent trie
// of binding patterns, matched against routing keys by publishers without locks.
//
// Rules (RabbitMQ's topic exchange, DESIGN §6): keys and patterns are words separated by '.';
// empty words are words ("a..b" is "a", "", "b"; "." is two empty words) but the empty string is
// zero words. In a pattern, the whole word '*' matches exactly one word and the whole word '#'
// matches zero or more; any other word ("a*", "#a", "") matches only itself.
//
// Shape: each node is a pattern prefix. Its children are the literal words (a persistent hash map,
// word_map.hpp), plus one '*' child and one '#' child; the destinations bound with exactly that
// pattern sit in the node it ends at. A binding change copies the nodes on its pattern's path
// (path copying) and shares every other node with the previous trie, which stays valid and
// unchanged: the control plane builds the next version while publishers keep matching the current
// one, and swaps a pointer (the integrator's std::atomic<std::shared_ptr<const TopicTrie>> or RCU).
//
// Matching simulates the pattern NFA word by word over a de-duplicated set of active nodes (no
// backtracking): a node reached through '#' stays active on every word (the loop), and whenever a
// node becomes active its '#' child does too (epsilon: '#' may match zero words). Each node enters
// a set at most once, so a match costs O(words x active nodes), whatever the '#'s, and reports
// every binding at most once.
#pragma once

#include "routing/active_set.hpp"
#include "routing/word_map.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace corq::core::routing {

/// Longest routing key or binding pattern the engine accepts, in bytes (DESIGN §6). The engine
/// validates it before calling in; the trie asserts it for patterns, and matches any key length.
inline constexpr std::size_t key_bytes_max = 255;

/// Calls fn(word) for each '.'-separated word of `key` (none for ""). Never allocates.
template <class Fn>
void for_each_word(std::string_view key, Fn &&fn) {
  if (key.empty()) return;
  for (;;) {
    const std::size_t dot = key.find('.');
    fn(key.substr(0, dot));
    if (dot == std::string_view::npos) return;
    key.remove_prefix(dot + 1);
  }
}

/// Destination: copyable, equality-comparable (e.g. std::shared_ptr<Queue> or a small struct).
/// Thread-safety: a TopicTrie is an immutable value; any number of threads may call the const
/// members of the same trie, and of tries sharing nodes, at once. Every trie returned by
/// with_binding / without_binding is independent of the one it came from.
template <class Destination>
class TopicTrie {
 public:
  /// wildcards=false is a direct exchange: '*' and '#' are ordinary words, so a pattern matches
  /// exactly the key equal to it.
  explicit TopicTrie(bool wildcards = true) : wildcards_(wildcards) {}

  /// A new trie with (pattern, d) bound, sharing every node off the pattern's path with this one.
  /// *added (not NULL) is false, and the result equals this trie, if the binding existed.
  /// Precondition (asserted): pattern.size() <= key_bytes_max. Cost: the pattern's words x O(log
  /// fanout), plus the destinations already bound with the same pattern (compared with operator==).
  TopicTrie with_binding(std::string_view pattern, const Destination &d, bool *added) const;

  /// A new trie without (pattern, d), pruning nodes left empty; same cost as with_binding.
  /// *removed (not NULL) is false, and the result equals this trie, if it was not bound.
  TopicTrie without_binding(std::string_view pattern, const Destination &d, bool *removed) const;

  /// Number of (pattern, destination) bindings.
  std::size_t size() const noexcept { return size_; }
  bool wildcards() const noexcept { return wildcards_; }

  /// Number of trie nodes (root included; 0 when empty). Walks the whole trie: for tests and
  /// diagnostics (proving removal prunes), not for the hot path.
  std::size_t node_count() const;

  /// Calls out(const Destination &) once for every binding whose pattern matches routing_key. A
  /// destination bound with several matching patterns is reported once per pattern (the caller
  /// de-duplicates destinations); one binding is never reported twice. Order is unspecified.
  /// Allocates only when more than active_nodes_inline_max nodes are active at once. Any key length
  /// works (the 255-byte bound is the caller's to enforce). An exception from `out` propagates;
  /// there is nothing to undo.
  template <class Out>
  void match(std::string_view routing_key, Out &&out) const;

 private:
  struct Node;
  using NodePtr = std::shared_ptr<const Node>;

  struct Node {
    WordMap<NodePtr> literals;
    NodePtr star;                           // the child for the word '*' (wildcard tries only)
    NodePtr hash;                           // the child for the word '#' (wildcard tries only)
    std::vector<Destination> destinations;  // bound with the pattern that ends here
    bool reached_by_hash = false;  // this node is some node's '#' child: it loops on any word

    bool empty() const noexcept {
      return literals.empty() && !star && !hash && destinations.empty();
    }
  };

  enum class Edge { literal, star, hash };

  Edge edge_of(std::string_view word) const noexcept {
    if (wildcards_ && word == "*") return Edge::star;
    if (wildcards_ && word == "#") return Edge::hash;
    return Edge::literal;
  }
  const Node *child(const Node &parent, std::string_view word) const noexcept;
  static NodePtr with_child(const Node *parent, Edge edge, std::string_view word, NodePtr child);
  static std::vector<std::string_view> words_of(std::string_view pattern);
  std::vector<const Node *> path_of(const std::vector<std::string_view> &words) const;
  NodePtr rebuild(const std::vector<const Node *> &path, const std::vector<std::string_view> &words,
                  NodePtr end) const;

  static std::size_t count_nodes(const Node &at);
  static void activate(ActiveSet<Node> &set, const Node *node);
  static void step(const ActiveSet<Node> &from, std::string_view word, ActiveSet<Node> &to);

  TopicTrie(NodePtr root, std::size_t size, bool wildcards)
      : root_(std::move(root)), size_(size), wildcards_(wildcards) {}

  NodePtr root_;  // nullptr: no bindings
  std::size_t size_ = 0;
  bool wildcards_ = true;
};

template <class Destination>
auto TopicTrie<Destination>::child(const Node &parent, std::string_view word) const noexcept
    -> const Node * {
  switch (edge_of(word)) {
    case Edge::star: return parent.star.get();
    case Edge::hash: return parent.hash.get();
    case Edge::literal: break;
  }
  const NodePtr *found = parent.literals.find(word, word_hash(word));
  return found ? found->get() : nullptr;
}

// A copy of `parent` (nullptr: a new empty node) whose child at (edge, word) is `child`, removed
// when child is nullptr. Returns nullptr when the copy is left empty (pruned).
template <class Destination>
auto TopicTrie<Destination>::with_child(const Node *parent, Edge edge, std::string_view word,
                                        NodePtr child) -> NodePtr {
  Node copy = parent ? *parent : Node{};
  switch (edge) {
    case Edge::star: copy.star = std::move(child); break;
    case Edge::hash: copy.hash = std::move(child); break;
    case Edge::literal:
      copy.literals = child ? copy.literals.with(word, word_hash(word), std::move(child))
                            : copy.literals.without(word, word_hash(word));
      break;
  }
  if (copy.empty()) return nullptr;
  return std::make_shared<const Node>(std::move(copy));
}

template <class Destination>
std::vector<std::string_view> TopicTrie<Destination>::words_of(std::string_view pattern) {
  std::vector<std::string_view> words;
  for_each_word(pattern, [&](std::string_view word) { words.push_back(word); });
  return words;
}

// The existing nodes along `words` from the root: path[i] is the node before words[i], and the last
// entry the node the pattern ends at. nullptr from the first word with no node on.
template <class Destination>
auto TopicTrie<Destination>::path_of(const std::vector<std::string_view> &words) const
    -> std::vector<const Node *> {
  std::vector<const Node *> path;
  path.reserve(words.size() + 1);
  const Node *at = root_.get();
  path.push_back(at);
  for (std::string_view word : words) {
    at = at ? child(*at, word) : nullptr;
    path.push_back(at);
  }
  return path;
}

// Copies the path bottom-up, hanging `end` (the pattern's new end node, nullptr if pruned) under
// copies of its ancestors. Returns the new root (nullptr: the trie is empty).
template <class Destination>
auto TopicTrie<Destination>::rebuild(const std::vector<const Node *> &path,
                                     const std::vector<std::string_view> &words, NodePtr end) const
    -> NodePtr {
  assert(path.size() == words.size() + 1);
  NodePtr built = std::move(end);
  for (std::size_t i = words.size(); i-- > 0;) {
    if (built && edge_of(words[i]) == Edge::hash && !built->reached_by_hash) {
      Node marked = *built;  // a new '#' node: it must loop on every word
      marked.reached_by_hash = true;
      built = std::make_shared<const Node>(std::move(marked));
    }
    built = with_child(path[i], edge_of(words[i]), words[i], std::move(built));
  }
  return built;
}

template <class Destination>
TopicTrie<Destination> TopicTrie<Destination>::with_binding(std::string_view pattern,
                                                            const Destination &d,
                                                            bool *added) const {
  assert(added != nullptr);
  assert(pattern.size() <= key_bytes_max);
  const std::vector<std::string_view> words = words_of(pattern);
  const std::vector<const Node *> path = path_of(words);
  const Node *end = path.back();
  if (end && std::ranges::find(end->destinations, d) != end->destinations.end()) {
    *added = false;
    return *this;
  }
  Node end_copy = end ? *end : Node{};
  end_copy.destinations.push_back(d);
  *added = true;
  return TopicTrie(rebuild(path, words, std::make_shared<const Node>(std::move(end_copy))),
                   size_ + 1, wildcards_);
}

template <class Destination>
TopicTrie<Destination> TopicTrie<Destination>::without_binding(std::string_view pattern,
                                                               const Destination &d,
                                                               bool *removed) const {
  assert(removed != nullptr);
  const std::vector<std::string_view> words = words_of(pattern);
  const std::vector<const Node *> path = path_of(words);
  const Node *end = path.back();
  const auto found = end ? std::ranges::find(end->destinations, d) - end->destinations.begin() : 0;
  if (!end || found == std::ssize(end->destinations)) {
    *removed = false;
    return *this;
  }
  Node end_copy = *end;
  end_copy.destinations.erase(end_copy.destinations.begin() + found);
  NodePtr new_end = end_copy.empty() ? nullptr : std::make_shared<const Node>(std::move(end_copy));
  *removed = true;
  assert(size_ > 0);
  return TopicTrie(rebuild(path, words, std::move(new_end)), size_ - 1, wildcards_);
}

template <class Destination>
std::size_t TopicTrie<Destination>::node_count() const {
  return root_ ? count_nodes(*root_) : 0;
}

template <class Destination>
std::size_t TopicTrie<Destination>::count_nodes(const Node &at) {
  std::size_t count = 1;
  if (at.star) count += count_nodes(*at.star);
  if (at.hash) count += count_nodes(*at.hash);
  at.literals.for_each([&](std::string_view, const NodePtr &next) { count += count_nodes(*next); });
  return count;
}

// Makes `node` active with its epsilon closure: its '#' child, that child's '#' child, and so on
// ('#' may match zero words). A '#' node may already be active (through its own loop or another
// path), so those are added only if new; any other node has one parent, active at most once, so it
// can only arrive once per word.
template <class Destination>
void TopicTrie<Destination>::activate(ActiveSet<Node> &set, const Node *node) {
  if (node->reached_by_hash) {
    if (!set.add_unique(node)) return;  // already active, and so is its closure
  } else {
    set.add_new(node);
  }
  for (const Node *h = node->hash.get(); h != nullptr; h = h->hash.get())
    if (!set.add_unique(h)) return;
}

// Advances every active node in `from` over `word` into `to` (empty on entry).
template <class Destination>
void TopicTrie<Destination>::step(const ActiveSet<Node> &from, std::string_view word,
                                  ActiveSet<Node> &to) {
  const std::uint64_t hash = word_hash(word);  // once per word, for every node's look-up
  for (const Node *at : from.nodes()) {
    if (at->reached_by_hash) activate(to, at);  // '#' takes this word too
    if (at->star) activate(to, at->star.get());
    if (const NodePtr *next = at->literals.find(word, hash)) activate(to, next->get());
  }
}

template <class Destination>
template <class Out>
void TopicTrie<Destination>::match(std::string_view routing_key, Out &&out) const {
  if (!root_) return;
  ActiveSet<Node> sets[2];
  int current = 0;
  activate(sets[current], root_.get());
  bool dead = false;  // no node active: nothing can match any more
  for_each_word(routing_key, [&](std::string_view word) {
    if (dead) return;
    sets[1 - current].clear();
    step(sets[current], word, sets[1 - current]);
    current = 1 - current;
    dead = sets[current].empty();
  });
  for (const Node *at : sets[current].nodes())
    for (const Destination &d : at->destinations) out(d);
}

}  // namespace corq::core::routing
