// engine/engine/topology.cpp — exchanges and bindings at the engine level: the router (routing/)
// plus the write-ahead log for the durable ones, their recovery and their checkpoint records.
//
// Durable: an exchange is durable on a disk engine unless declared durable=false; a binding is
// durable when both its ends are (a durable exchange bound to a transient subscriber queue is the
// usual pub/sub case: after a restart the exchange is back, the binding and the queue are not).
// Each change takes topology_mutex_ for its router change and its log record together, so the
// log holds the changes in the order the router made them; a record is durable before the call
// returns. Lock order: registry_mutex_ (checkpoints), then topology_mutex_, then the router's.
#include "durability/records.hpp"
#include "durability/recovery.hpp"
#include "durability/topology_records.hpp"
#include "engine/engine.hpp"

namespace corq::core {
namespace {

bool durable_end(const routing::Destination &to) noexcept {
  return to.queue != nullptr ? to.queue->qid() != 0 : to.exchange->xid() != 0;
}

/// The log record of a binding between durable ends.
std::vector<std::byte> binding_payload(const routing::Exchange &source,
                                       const routing::Destination &to, std::string_view key,
                                       std::vector<routing::OwnedArgument> arguments) {
  records::Binding b;
  b.source_xid = source.xid();
  b.to_exchange = to.exchange != nullptr;
  b.destination_id = to.queue != nullptr ? to.queue->qid() : to.exchange->xid();
  b.key = std::string(key);
  b.arguments = std::move(arguments);
  std::vector<std::byte> payload;
  records::encode_binding(payload, b);
  return payload;
}

}  // namespace

int Engine::declare_exchange(const std::string &name, routing::ExchangeType type,
                             const ExchangeOptions &options, std::string &error) {
  std::lock_guard lock(topology_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  std::uint32_t xid = 0;
  if (options.durable && journal_ != nullptr && router_.find(name) == nullptr) {
    // Logged (and durable) before the exchange exists: bindings to it can only follow.
    xid = next_xid_++;
    std::vector<std::byte> payload;
    records::encode_exchange_declare(payload, xid, name, static_cast<std::uint8_t>(type), options);
    if (const int rc = journal_->log_topology(records::declare_exchange, payload, error); rc != 0)
      return rc;
  }
  return router_.declare(name, type, options, xid, error);
}

int Engine::remove_exchange(const std::string &name, std::string &error) {
  std::lock_guard lock(topology_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  const std::shared_ptr<routing::Exchange> x = router_.find(name);
  if (x == nullptr) return error = "no exchange named '" + name + "'", CORQ_ENOENT;
  if (x->xid() != 0) {
    std::vector<std::byte> payload;
    records::Writer(payload).u32(x->xid());
    if (const int rc = journal_->log_topology(records::delete_exchange, payload, error); rc != 0)
      return rc;
  }
  return router_.remove(name, error);
}

int Engine::change_binding(const std::string &source, const routing::Destination &to,
                           std::string_view key, const corq_header *arguments,
                           std::size_t argument_count, bool add, std::string &error) {
  std::lock_guard lock(topology_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  bool added = false;
  const int rc = add ? router_.bind(source, to, key, arguments, argument_count, added, error)
                     : router_.unbind(source, to, key, arguments, argument_count, error);
  if (rc != CORQ_OK || (add && !added)) return rc;
  const std::shared_ptr<routing::Exchange> x = router_.find(source);
  if (x == nullptr || x->xid() == 0 || !durable_end(to)) return CORQ_OK;
  std::vector<routing::OwnedArgument> owned;
  routing::copy_arguments(arguments, argument_count, owned, error);  // checked by the router
  const std::vector<std::byte> payload = binding_payload(*x, to, key, std::move(owned));
  const int log_rc = journal_->log_topology(add ? records::bind : records::unbind, payload, error);
  if (log_rc != CORQ_OK && add) {
    std::string ignored;  // not in the log: not bound either
    router_.unbind(source, to, key, arguments, argument_count, ignored);
  }
  return log_rc;
}

routing::RequestReply &Engine::request_reply() {
  std::lock_guard lock(request_reply_mutex_);
  if (request_reply_ == nullptr) {
    request_reply_ = std::make_unique<routing::RequestReply>(reinterpret_cast<corq_engine *>(this),
                                                             request_counters_);
  }
  return *request_reply_;
}

void Engine::install_topology(
    RecoveredState &state,
    const std::unordered_map<std::uint32_t, std::shared_ptr<Queue>> &by_qid) {
  std::lock_guard lock(topology_mutex_);
  std::string error;
  for (const auto &[xid, x] : state.exchanges) {
    router_.declare(x.name, static_cast<routing::ExchangeType>(x.type), x.options, xid, error);
  }
  next_xid_.store(std::max(next_xid_.load(), state.next_xid));
  for (const auto &[identity, b] : state.bindings) {
    // A binding whose end is gone (its deletion released from the log with it) is dropped.
    auto source = state.exchanges.find(b.source_xid);
    if (source == state.exchanges.end()) continue;
    routing::Destination to;
    if (b.to_exchange) {
      auto dest = state.exchanges.find(b.destination_id);
      if (dest == state.exchanges.end()) continue;
      to.exchange = router_.find(dest->second.name);
    } else {
      auto queue = by_qid.find(b.destination_id);
      if (queue == by_qid.end()) continue;
      to.queue = queue->second;
    }
    if (to.queue == nullptr && to.exchange == nullptr) continue;
    const std::vector<corq_header> views = routing::argument_views(b.arguments);
    bool added = false;
    router_.bind(source->second.name, to, b.key, views.data(), views.size(), added, error);
  }
}

void Engine::encode_topology(std::vector<std::vector<std::byte>> &payloads,
                             std::vector<std::uint8_t> &types) {
  std::lock_guard lock(topology_mutex_);
  std::unordered_map<std::string, std::shared_ptr<routing::Exchange>> durable;
  for (const auto &x : router_.exchanges_snapshot()) {
    if (x->xid() == 0) continue;
    records::encode_exchange_declare(payloads.emplace_back(), x->xid(), x->name(),
                                     static_cast<std::uint8_t>(x->type()), x->options());
    types.push_back(records::declare_exchange);
    durable.emplace(x->name(), x);
  }
  for (routing::BindingRecord &b : router_.bindings_snapshot()) {
    auto source = durable.find(b.source);
    if (source == durable.end() || !durable_end(b.destination)) continue;
    payloads.push_back(
        binding_payload(*source->second, b.destination, b.key, std::move(b.arguments)));
    types.push_back(records::bind);
  }
}

}  // namespace corq::core
