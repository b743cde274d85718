// engine/routing/router.hpp — the exchanges and bindings of one engine (the control plane), and
// the snapshot publishers route through (the data plane).
//
// Control plane: every declaration takes `mutex_`, changes the mutable binding records below, and
// publishes the next immutable Topology (routing/topology.hpp) with a new version number.
// Data plane: topology_for_publish() hands a publisher the current Topology through a per-thread
// cache validated by `version_` — one acquire load and no lock while nothing changes, like the
// queue lookup of corq_publish (Engine::lookup_for_publish).
//
// Deleting a queue or an exchange costs its own bindings: `inbound_` lists, per destination, the
// bindings that lead to it, so nothing scans the other bindings.
#pragma once

#include "options/options.hpp"
#include "routing/binding_argument.hpp"
#include "routing/route_cache.hpp"
#include "routing/topology.hpp"

#include <corq/corq.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corq::core::routing {

/// A binding as the control plane keeps it (for unbinding, deletion and, on disk, the log).
struct BindingRecord {
  std::string source;
  Destination destination;
  std::string key;
  std::vector<OwnedArgument> arguments;
};

class Router {
 public:
  explicit Router(std::uint64_t engine_instance) : engine_instance_(engine_instance) {}
  Router(const Router &) = delete;
  Router &operator=(const Router &) = delete;

  /// Declares exchange `name`; the same type and options again is a no-op. Returns CORQ_OK,
  /// CORQ_EEXIST (another type or options) with `error` set. Names are checked by the caller.
  int declare(const std::string &name, ExchangeType type, const ExchangeOptions &options,
              std::uint32_t xid, std::string &error);
  /// Deletes exchange `name` and every binding from or to it. CORQ_ENOENT if there is none.
  int remove(const std::string &name, std::string &error);
  /// Adds the binding (a no-op if it exists; `added` says which). CORQ_ENOENT (no exchange
  /// `source`, or the destination was deleted), CORQ_EINVAL (bad key or arguments).
  int bind(const std::string &source, const Destination &destination, std::string_view key,
           const corq_header *arguments, std::size_t argument_count, bool &added,
           std::string &error);
  /// Removes the binding. CORQ_ENOENT if the exchange or the binding does not exist.
  int unbind(const std::string &source, const Destination &destination, std::string_view key,
             const corq_header *arguments, std::size_t argument_count, std::string &error);
  /// A queue was deleted (marked deleted before this call): its bindings go.
  void forget_queue(const Queue &queue);

  std::shared_ptr<Exchange> find(std::string_view name);
  /// Bindings whose source is `exchange` (corq_exchange_stats.bindings).
  std::uint64_t binding_count(const Exchange &exchange);
  /// Every exchange, sorted by name (stats, corqctl).
  std::vector<std::shared_ptr<Exchange>> exchanges_snapshot();
  /// Every binding, sorted by source then destination name (corqctl, checkpoints).
  std::vector<BindingRecord> bindings_snapshot();
  /// Drops every exchange and binding (the engine is going away).
  void clear();

  /// The current Topology, for a publisher on this thread: no lock while nothing has changed. The
  /// reference stays valid until this thread's next call (the thread's cache holds it).
  const Topology &topology_for_publish() { return view_for_publish().topology; }
  /// The current Topology and this thread's route cache for it (invalidated whenever the thread
  /// takes a new snapshot); valid as topology_for_publish's reference.
  struct PublishView {
    const Topology &topology;
    RouteCache &routes;
  };
  PublishView view_for_publish();
  /// The current Topology, held by the caller as long as it likes (a transaction's commit routes
  /// several messages and may dead-letter meanwhile, which replaces this thread's cache).
  std::shared_ptr<const Topology> snapshot();

 private:
  struct ExchangeState {
    std::shared_ptr<Exchange> exchange;
    std::unordered_map<std::string, BindingRecord> bindings;  // by identity (binding_identity)
    /// direct, topic and fanout exchanges: how many bindings share each (destination, key) — the
    /// route — keyed by route_identity. Arguments do not take part in their routing, so two
    /// bindings that differ only in arguments are one route: it enters the routes with the first
    /// and leaves with the last (RabbitMQ keeps routing while any of them is bound).
    std::unordered_map<std::string, std::uint32_t> route_refs;
  };
  /// Where a binding comes from, as listed under its destination in inbound_.
  struct InboundRef {
    std::string source;
    std::string identity;
  };

  /// Publishes `next` as the current Topology (mutex_ held).
  void publish_locked(std::shared_ptr<const Topology> next);
  /// A copy of the current topology with exchange `name`'s routes replaced (nullptr: removed).
  std::shared_ptr<Topology> next_topology_locked(const std::string &name,
                                                 std::shared_ptr<const Routes> routes) const;
  /// `routes` with one binding added or removed.
  static std::shared_ptr<const Routes> with_binding(const Routes &routes, const BindingRecord &b,
                                                    bool add);
  /// Removes one binding from its source's state and routes, and from inbound_ (mutex_ held).
  void erase_binding_locked(ExchangeState &source, const std::string &identity);
  /// Removes every binding that leads to `destination` (mutex_ held).
  void erase_inbound_locked(const void *destination);

  const std::uint64_t engine_instance_;
  std::mutex mutex_;
  std::unordered_map<std::string, ExchangeState> exchanges_;                               // mutex_
  std::unordered_map<const void *, std::unordered_map<std::string, InboundRef>> inbound_;  // mutex_
  std::shared_ptr<const Topology> current_ = std::make_shared<const Topology>();           // mutex_
  std::atomic<std::uint64_t> version_{1};
};

/// Copies and checks binding arguments (at most 64; keys 1-255 bytes; a NULL value only with
/// value_len 0). CORQ_OK or CORQ_EINVAL with `error`.
int copy_arguments(const corq_header *arguments, std::size_t count, std::vector<OwnedArgument> &out,
                   std::string &error);
/// The arguments as corq_headers again (views into `owned`).
std::vector<corq_header> argument_views(const std::vector<OwnedArgument> &owned);

/// The identity of a binding within its source exchange: destination, key and the arguments in a
/// canonical (sorted) form, so binding the same tuple twice is recognized whatever the order.
std::string binding_identity(const Destination &destination, std::string_view key,
                             const std::vector<OwnedArgument> &arguments);

}  // namespace corq::core::routing
