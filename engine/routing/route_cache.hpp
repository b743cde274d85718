// engine/routing/route_cache.hpp — a publishing thread's memo of recent routing decisions.
//
// Why: a topology snapshot never changes (routing/topology.hpp), so within one snapshot the queues
// a (exchange, routing key) pair reaches through direct, topic and fanout exchanges never change
// either. Real publishers repeat their routing keys (an order service publishes a handful of
// `order.<region>.<event>` keys millions of times), yet every publish walked the topic trie again:
// with 10,000 bindings about 4,000 instructions of NFA steps and word look-ups per publish. The
// memo turns a repeated key into one hash and two byte compares, whatever the bindings.
//
// What an entry remembers, all of it valid exactly as long as the snapshot it was computed in:
//   - the exchange the publish named and the key (compared byte for byte on every hit);
//   - every exchange the message entered (exchange-to-exchange bindings, the alternate exchange),
//     and whether it was entered as an alternate, so a hit counts `published` and `alternated` on
//     them as the walk would;
//   - the distinct target queues with the exchange whose binding named each (for `routed`).
// What it does not remember: whether a target was deleted (checked on every hit, as the walk
// does), and anything decided by message headers — a walk that entered a headers exchange is not
// stored, so headers routing is always computed.
//
// Shape: 512 sets of two entries per thread, indexed by text_hash(exchange, key): an 8 KiB table of
// pointers allocated on a thread's first routed publish, and each entry (about 150 bytes plus its
// strings and lists) on the first key that lands in its place. A new key takes way 0 of its set
// and pushes the previous one to way 1, dropping what was there. A publisher cycling through more
// distinct keys than that misses and pays the walk plus one entry's update (the benchmark's
// "unique keys" scenario measures that path). Invalidation is O(1): the entries
// carry the epoch of the snapshot they were computed in, and the thread's topology cache bumps the
// epoch whenever it takes a new snapshot (Router::topology_for_publish) — the old snapshot, which
// the entries point into, stays alive until exactly then.
#pragma once

#include "routing/exchange.hpp"
#include "routing/text_hash.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corq::core {
class Queue;
}

namespace corq::core::routing {

struct Routes;

/// A queue a message routes to, and the exchange whose binding named it.
struct RoutedTarget {
  Queue *queue;
  Exchange *via;
};

/// An exchange a routed message entered; `alternated`: as the alternate of one that matched none.
struct EnteredExchange {
  Exchange *exchange;
  bool alternated;
};

struct CachedRoute {
  std::uint64_t epoch = 0;  // the snapshot's epoch; 0 never matches (epochs start at 1)
  std::uint64_t hash = 0;
  const Routes *entry = nullptr;  // the exchange the publish named, in that snapshot
  std::string exchange;
  std::string key;
  std::vector<EnteredExchange> entered;
  std::vector<RoutedTarget> targets;  // distinct queues, in routing order
};

class RouteCache {
 public:
  /// Sets of two ways: 1,024 entries at most, allocated one by one as keys arrive.
  static constexpr std::size_t sets = 512;

  /// The entry for (exchange, key) computed in the current snapshot, or nullptr.
  const CachedRoute *find(std::string_view exchange, std::string_view key,
                          std::uint64_t hash) const noexcept {
    if (slots_ == nullptr) return nullptr;
    const std::unique_ptr<CachedRoute> *set = &slots_[(hash % sets) * 2];
    for (int way = 0; way < 2; ++way) {
      const CachedRoute *c = set[way].get();
      if (c != nullptr && c->epoch == epoch_ && c->hash == hash && c->key == key &&
          c->exchange == exchange)
        return c;
    }
    return nullptr;
  }
  /// The entry to fill with (exchange, key)'s route: way 0 of its set (the previous way 0 moves
  /// to way 1, whose entry is reused), its lists emptied. Invalid until publish(). May throw
  /// std::bad_alloc (the caller then just does not cache).
  CachedRoute &claim(std::string_view exchange, std::string_view key, std::uint64_t hash,
                     const Routes *entry) {
    if (slots_ == nullptr) slots_ = std::make_unique<std::unique_ptr<CachedRoute>[]>(sets * 2);
    std::unique_ptr<CachedRoute> *set = &slots_[(hash % sets) * 2];
    std::swap(set[0], set[1]);
    if (set[0] == nullptr) set[0] = std::make_unique<CachedRoute>();
    CachedRoute &c = *set[0];
    c.epoch = 0;  // invalid until filled: an exception below leaves no half entry
    c.exchange.assign(exchange);
    c.key.assign(key);
    c.entered.clear();
    c.targets.clear();
    c.hash = hash;
    c.entry = entry;
    return c;
  }
  /// Marks a claimed entry complete.
  void publish(CachedRoute &c) const noexcept { c.epoch = epoch_; }
  /// Forgets every entry (a new snapshot): O(1).
  void invalidate() noexcept { ++epoch_; }

 private:
  std::unique_ptr<std::unique_ptr<CachedRoute>[]> slots_;
  std::uint64_t epoch_ = 1;
};

}  // namespace corq::core::routing
