// engine/routing/router.cpp — see router.hpp.
#include "routing/router.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace corq::core::routing {
namespace {

/// A publisher thread's view of one router's topology (see topology_for_publish).
struct TopologyCache {
  std::uint64_t engine_instance = 0;
  std::uint64_t version = 0;
  std::shared_ptr<const Topology> topology;
  RouteCache routes;  // computed in `topology`: invalidated whenever it is replaced
};
thread_local TopologyCache topology_cache;

}  // namespace

int copy_arguments(const corq_header *arguments, std::size_t count, std::vector<OwnedArgument> &out,
                   std::string &error) {
  if (count != 0 && arguments == nullptr)
    return error = "arguments is NULL but argument_count > 0", CORQ_EINVAL;
  if (count > headers_max) return error = "more than 64 binding arguments", CORQ_EINVAL;
  out.clear();
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const corq_header &a = arguments[i];
    if (a.key == nullptr) return error = "a binding argument's key is NULL", CORQ_EINVAL;
    const std::size_t key_len = strnlen(a.key, header_key_bytes_max + 1);
    if (key_len == 0 || key_len > header_key_bytes_max)
      return error = "a binding argument's key is empty or longer than 255 bytes", CORQ_EINVAL;
    if (a.value == nullptr && a.value_len != 0)
      return error = "a binding argument's value is NULL but value_len > 0", CORQ_EINVAL;
    OwnedArgument owned{std::string(a.key, key_len), a.value != nullptr, {}};
    if (a.value != nullptr) owned.value.assign(static_cast<const char *>(a.value), a.value_len);
    out.push_back(std::move(owned));
  }
  return CORQ_OK;
}

std::vector<corq_header> argument_views(const std::vector<OwnedArgument> &owned) {
  std::vector<corq_header> views;
  views.reserve(owned.size());
  for (const OwnedArgument &a : owned) {
    views.push_back(
        {a.key.c_str(), a.has_value ? a.value.data() : nullptr, a.has_value ? a.value.size() : 0});
  }
  return views;
}

namespace {

const void *destination_key(const Destination &d) noexcept {
  return d.queue != nullptr ? static_cast<const void *>(d.queue.get())
                            : static_cast<const void *>(d.exchange.get());
}

}  // namespace

namespace {

/// A binding's route: its destination and key, without its arguments.
std::string route_identity(const Destination &destination, std::string_view key) {
  char head[40];
  std::snprintf(head, sizeof head, "%c%p", destination.queue != nullptr ? 'q' : 'x',
                destination_key(destination));
  std::string id(head);
  id.push_back('\0');
  id.append(key);
  return id;
}

/// Whether the type routes by (destination, key) alone, so bindings differing only in their
/// arguments share one route (headers exchanges route by the arguments: each binding is its own).
bool routes_ignore_arguments(ExchangeType type) noexcept { return type != ExchangeType::headers; }

}  // namespace

std::string binding_identity(const Destination &destination, std::string_view key,
                             const std::vector<OwnedArgument> &arguments) {
  std::vector<const OwnedArgument *> sorted;
  for (const OwnedArgument &a : arguments) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(),
            [](const OwnedArgument *a, const OwnedArgument *b) { return *a < *b; });
  std::string id = route_identity(destination, key);
  for (const OwnedArgument *a : sorted) {
    // Lengths first: no key or value can be mistaken for a separator.
    id += '\0' + std::to_string(a->key.size()) + ':' + a->key;
    id += a->has_value ? '=' + std::to_string(a->value.size()) + ':' + a->value : std::string("~");
  }
  return id;
}

// ---- control plane ------------------------------------------------------------------------------

int Router::declare(const std::string &name, ExchangeType type, const ExchangeOptions &options,
                    std::uint32_t xid, std::string &error) {
  std::lock_guard lock(mutex_);
  if (auto it = exchanges_.find(name); it != exchanges_.end()) {
    const Exchange &existing = *it->second.exchange;
    if (existing.type() == type && existing.options() == options) return CORQ_OK;
    error =
        "exchange '" + name + "' exists with another " +
        (existing.type() != type ? std::string("type (") + exchange_type_name(existing.type()) + ")"
                                 : std::string("options"));
    return CORQ_EEXIST;
  }
  auto exchange = std::make_shared<Exchange>(name, type, options, xid);
  auto routes = std::make_shared<const Routes>(exchange);
  exchanges_.emplace(name, ExchangeState{std::move(exchange), {}, {}});
  publish_locked(next_topology_locked(name, std::move(routes)));
  return CORQ_OK;
}

int Router::remove(const std::string &name, std::string &error) {
  std::lock_guard lock(mutex_);
  auto it = exchanges_.find(name);
  if (it == exchanges_.end()) return error = "no exchange named '" + name + "'", CORQ_ENOENT;
  // Its own bindings leave their destinations' inbound lists; bindings to it leave their sources.
  for (const auto &[identity, binding] : it->second.bindings) {
    auto in = inbound_.find(destination_key(binding.destination));
    if (in != inbound_.end()) {
      in->second.erase(name + '\0' + identity);
      if (in->second.empty()) inbound_.erase(in);
    }
  }
  const void *self = it->second.exchange.get();
  exchanges_.erase(it);
  auto next = next_topology_locked(name, nullptr);
  publish_locked(std::move(next));
  erase_inbound_locked(self);
  return CORQ_OK;
}

int Router::bind(const std::string &source, const Destination &destination, std::string_view key,
                 const corq_header *arguments, std::size_t argument_count, bool &added,
                 std::string &error) {
  added = false;
  if (key.size() > key_bytes_max) return error = "binding key longer than 255 bytes", CORQ_EINVAL;
  BindingRecord record{source, destination, std::string(key), {}};
  if (const int rc = copy_arguments(arguments, argument_count, record.arguments, error); rc != 0)
    return rc;
  std::lock_guard lock(mutex_);
  auto it = exchanges_.find(source);
  if (it == exchanges_.end()) return error = "no exchange named '" + source + "'", CORQ_ENOENT;
  if (destination.queue != nullptr && destination.queue->deleted())
    return error = "queue '" + destination.queue->name() + "' was deleted", CORQ_ENOENT;
  if (destination.exchange != nullptr) {
    auto dest = exchanges_.find(destination.exchange->name());
    if (dest == exchanges_.end() || dest->second.exchange != destination.exchange)
      return error = "exchange '" + destination.exchange->name() + "' was deleted", CORQ_ENOENT;
  }
  if (it->second.exchange->type() == ExchangeType::headers) {
    HeadersBinding compiled;  // checked here, so a bad x-match never reaches a snapshot
    const std::vector<corq_header> views = argument_views(record.arguments);
    if (const int rc = HeadersBinding::compile(views.data(), views.size(), compiled, error);
        rc != CORQ_OK)
      return rc;
  }
  std::string identity = binding_identity(destination, key, record.arguments);
  if (it->second.bindings.count(identity) != 0) return CORQ_OK;  // the same tuple: a no-op
  // A second binding of an existing route (other arguments) changes no snapshot.
  const bool new_route = !routes_ignore_arguments(it->second.exchange->type()) ||
                         ++it->second.route_refs[route_identity(destination, key)] == 1;
  std::shared_ptr<const Routes> next_routes;
  if (new_route) {
    const std::shared_ptr<const Routes> &routes =
        current_->exchanges.find(std::string_view(source))->second;
    next_routes = with_binding(*routes, record, /*add=*/true);
  }
  inbound_[destination_key(destination)].emplace(source + '\0' + identity,
                                                 InboundRef{source, identity});
  it->second.bindings.emplace(std::move(identity), std::move(record));
  if (new_route) publish_locked(next_topology_locked(source, std::move(next_routes)));
  added = true;
  return CORQ_OK;
}

int Router::unbind(const std::string &source, const Destination &destination, std::string_view key,
                   const corq_header *arguments, std::size_t argument_count, std::string &error) {
  if (key.size() > key_bytes_max) return error = "binding key longer than 255 bytes", CORQ_EINVAL;
  std::vector<OwnedArgument> owned;
  if (const int rc = copy_arguments(arguments, argument_count, owned, error); rc != CORQ_OK)
    return rc;
  std::lock_guard lock(mutex_);
  auto it = exchanges_.find(source);
  if (it == exchanges_.end()) return error = "no exchange named '" + source + "'", CORQ_ENOENT;
  const std::string identity = binding_identity(destination, key, owned);
  if (it->second.bindings.count(identity) == 0)
    return error = "no such binding on exchange '" + source + "'", CORQ_ENOENT;
  erase_binding_locked(it->second, identity);
  return CORQ_OK;
}

void Router::forget_queue(const Queue &queue) {
  std::lock_guard lock(mutex_);
  erase_inbound_locked(&queue);
}

void Router::erase_inbound_locked(const void *destination) {
  auto in = inbound_.find(destination);
  if (in == inbound_.end()) return;
  std::unordered_map<std::string, InboundRef> refs = std::move(in->second);
  inbound_.erase(in);
  for (auto &[combined, ref] : refs) {
    auto source = exchanges_.find(ref.source);
    if (source != exchanges_.end()) erase_binding_locked(source->second, ref.identity);
  }
}

void Router::erase_binding_locked(ExchangeState &source, const std::string &identity) {
  auto b = source.bindings.find(identity);
  if (b == source.bindings.end()) return;
  const std::string &name = source.exchange->name();
  auto in = inbound_.find(destination_key(b->second.destination));
  if (in != inbound_.end()) {
    in->second.erase(name + '\0' + identity);
    if (in->second.empty()) inbound_.erase(in);
  }
  if (routes_ignore_arguments(source.exchange->type())) {
    // The route stays while another binding (other arguments) still has it.
    auto refs = source.route_refs.find(route_identity(b->second.destination, b->second.key));
    if (refs != source.route_refs.end() && --refs->second != 0) {
      source.bindings.erase(b);
      return;
    }
    if (refs != source.route_refs.end()) source.route_refs.erase(refs);
  }
  const auto &routes = current_->exchanges.find(std::string_view(name))->second;
  auto next_routes = with_binding(*routes, b->second, /*add=*/false);
  source.bindings.erase(b);
  publish_locked(next_topology_locked(name, std::move(next_routes)));
}

std::shared_ptr<const Routes> Router::with_binding(const Routes &routes, const BindingRecord &b,
                                                   bool add) {
  auto next = std::make_shared<Routes>(routes);
  switch (routes.exchange->type()) {
    case ExchangeType::direct: {
      const std::uint64_t hash = word_hash(b.key);
      const DirectList *current = routes.direct.find(b.key, hash);
      auto list = current == nullptr ? std::make_shared<std::vector<Destination>>()
                                     : std::make_shared<std::vector<Destination>>(**current);
      if (add) {
        list->push_back(b.destination);
      } else {
        std::erase(*list, b.destination);
      }
      next->direct = list->empty() ? routes.direct.without(b.key, hash)
                                   : routes.direct.with(b.key, hash, std::move(list));
      break;
    }
    case ExchangeType::topic: {
      bool changed = false;
      next->keys = add ? routes.keys.with_binding(b.key, b.destination, &changed)
                       : routes.keys.without_binding(b.key, b.destination, &changed);
      break;
    }
    case ExchangeType::fanout: {
      auto list = std::make_shared<std::vector<FanoutRoute>>(*routes.fanout);
      if (add) {
        list->push_back({b.key, b.destination});
      } else {
        std::erase_if(*list, [&](const FanoutRoute &r) {
          return r.key == b.key && r.destination == b.destination;
        });
      }
      next->fanout = std::move(list);
      break;
    }
    case ExchangeType::headers: {
      HeadersBinding compiled;
      std::string error;
      const std::vector<corq_header> views = argument_views(b.arguments);
      HeadersBinding::compile(views.data(), views.size(), compiled, error);  // checked at bind
      auto list = std::make_shared<std::vector<HeadersRoute>>(*routes.headers);
      if (add) {
        list->push_back({b.key, std::move(compiled), b.destination});
      } else {
        std::erase_if(*list, [&](const HeadersRoute &r) {
          return r.key == b.key && r.destination == b.destination && r.arguments == compiled;
        });
      }
      next->headers = std::move(list);
      break;
    }
  }
  return next;
}

std::shared_ptr<Topology> Router::next_topology_locked(const std::string &name,
                                                       std::shared_ptr<const Routes> routes) const {
  auto next = std::make_shared<Topology>(*current_);
  if (routes == nullptr) {
    next->exchanges.erase(name);
  } else {
    next->exchanges.insert_or_assign(name, std::move(routes));
  }
  return next;
}

void Router::publish_locked(std::shared_ptr<const Topology> next) {
  current_ = std::move(next);
  version_.fetch_add(1, std::memory_order_release);
}

// ---- reads --------------------------------------------------------------------------------------

std::shared_ptr<Exchange> Router::find(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = exchanges_.find(std::string(name));
  return it == exchanges_.end() ? nullptr : it->second.exchange;
}

std::uint64_t Router::binding_count(const Exchange &exchange) {
  std::lock_guard lock(mutex_);
  auto it = exchanges_.find(exchange.name());
  return it == exchanges_.end() || it->second.exchange.get() != &exchange
             ? 0
             : it->second.bindings.size();
}

std::vector<std::shared_ptr<Exchange>> Router::exchanges_snapshot() {
  std::vector<std::shared_ptr<Exchange>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto &[name, state] : exchanges_) all.push_back(state.exchange);
  }
  std::sort(all.begin(), all.end(), [](auto &a, auto &b) { return a->name() < b->name(); });
  return all;
}

std::vector<BindingRecord> Router::bindings_snapshot() {
  std::vector<BindingRecord> all;
  {
    std::lock_guard lock(mutex_);
    for (auto &[name, state] : exchanges_)
      for (auto &[identity, binding] : state.bindings) all.push_back(binding);
  }
  auto name_of = [](const Destination &d) -> const std::string & {
    return d.queue != nullptr ? d.queue->name() : d.exchange->name();
  };
  std::sort(all.begin(), all.end(), [&](const BindingRecord &a, const BindingRecord &b) {
    return std::tie(a.source, name_of(a.destination), a.key) <
           std::tie(b.source, name_of(b.destination), b.key);
  });
  return all;
}

void Router::clear() {
  std::lock_guard lock(mutex_);
  exchanges_.clear();
  inbound_.clear();
  publish_locked(std::make_shared<const Topology>());
}

Router::PublishView Router::view_for_publish() {
  TopologyCache &cache = topology_cache;
  if (cache.engine_instance == engine_instance_ &&
      cache.version == version_.load(std::memory_order_acquire)) {
    return {*cache.topology, cache.routes};
  }
  std::lock_guard lock(mutex_);  // the version and the snapshot, read together
  cache.engine_instance = engine_instance_;
  cache.version = version_.load(std::memory_order_relaxed);
  cache.routes.invalidate();  // before the old snapshot, which its entries point into, goes
  cache.topology = current_;
  return {*cache.topology, cache.routes};
}

std::shared_ptr<const Topology> Router::snapshot() {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace corq::core::routing
