// engine/routing/topology.hpp — an immutable snapshot of every exchange's bindings.
//
// Publishers route through a Topology without taking a lock: a snapshot never changes once the
// router has published it. A declaration builds the next snapshot from the current one, sharing
// everything it does not change: the map of exchanges is copied (its values are pointers, one per
// exchange), the changed exchange's Routes are rebuilt, and inside them a topic or direct binding
// copies only the trie nodes on its pattern's path (routing/topic_trie.hpp). So a bind costs the
// number of exchanges plus the pattern's path, never the number of bindings.
//
// Snapshots hold their queues and exchanges by shared_ptr: a queue deleted while a publisher still
// routes through an old snapshot stays allocated (and marked deleted, so the publish skips it)
// until the last snapshot that names it is dropped.
#pragma once

#include "queue/queue.hpp"
#include "routing/exchange.hpp"
#include "routing/headers_match.hpp"
#include "routing/text_hash.hpp"
#include "routing/topic_trie.hpp"
#include "routing/word_map.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corq::core::routing {

/// Where a binding leads: a queue, or another exchange (exactly one is set).
struct Destination {
  std::shared_ptr<Queue> queue;
  std::shared_ptr<Exchange> exchange;
  bool operator==(const Destination &other) const noexcept {
    return queue == other.queue && exchange == other.exchange;
  }
};

/// A fanout binding: its key takes no part in routing but in its identity (as in RabbitMQ).
struct FanoutRoute {
  std::string key;
  Destination destination;
};

/// A headers binding: its compiled arguments; the key, as for fanout, only names it.
struct HeadersRoute {
  std::string key;
  HeadersBinding arguments;
  Destination destination;
};

/// The destinations bound to one direct key (each once: Router counts bindings per route).
using DirectList = std::shared_ptr<const std::vector<Destination>>;

/// One exchange's bindings in one snapshot. Immutable once in a published Topology.
struct Routes {
  std::shared_ptr<Exchange> exchange;
  TopicTrie<Destination> keys;  // topic exchanges
  /// Direct exchanges: the whole routing key hashed once and looked up once (a persistent hash
  /// map, so a bind copies one path of it, not the map).
  WordMap<DirectList> direct;
  std::shared_ptr<const std::vector<FanoutRoute>> fanout;
  std::shared_ptr<const std::vector<HeadersRoute>> headers;

  explicit Routes(std::shared_ptr<Exchange> x)
      : exchange(std::move(x)),
        keys(exchange->type() == ExchangeType::topic),
        fanout(std::make_shared<const std::vector<FanoutRoute>>()),
        headers(std::make_shared<const std::vector<HeadersRoute>>()) {}

  /// Calls out(const Destination &) for every binding that matches; a destination bound several
  /// ways may come several times (the caller keeps one copy per queue).
  template <class Out>
  void match(std::string_view routing_key, const corq_header *message_headers,
             std::size_t header_count, Out &&out) const {
    switch (exchange->type()) {
      case ExchangeType::direct:
        if (const DirectList *list = direct.find(routing_key, word_hash(routing_key))) {
          for (const Destination &d : **list) out(d);
        }
        return;
      case ExchangeType::topic: keys.match(routing_key, out); return;
      case ExchangeType::fanout:
        for (const FanoutRoute &r : *fanout) out(r.destination);
        return;
      case ExchangeType::headers:
        for (const HeadersRoute &r : *headers) {
          if (r.arguments.matches(message_headers, header_count)) out(r.destination);
        }
        return;
    }
  }
};

/// Heterogeneous lookup by string_view, so a publish finds its exchange without a std::string.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const noexcept { return text_hash(name); }
};

struct Topology {
  std::unordered_map<std::string, std::shared_ptr<const Routes>, NameHash, std::equal_to<>>
      exchanges;

  const Routes *find(std::string_view name) const noexcept {
    auto it = exchanges.find(name);
    return it == exchanges.end() ? nullptr : it->second.get();
  }
};

}  // namespace corq::core::routing
