// engine/routing/exchange_publish.cpp — see exchange_publish.hpp.
#include "routing/exchange_publish.hpp"

#include "capi/error.hpp"
#include "durability/journal.hpp"
#include "producer/publish.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

namespace corq::core::routing {
namespace {

/// At most this many elements of a routing set live on the stack (a publish usually reaches a
/// handful of queues and exchanges); past that a vector and a hash set take over, so a fan-out to
/// thousands stays linear.
constexpr std::size_t inline_max = 16;
/// A publish_fanout record names its queues with a u16 count.
constexpr std::size_t fanout_durable_targets_max = 65535;

/// Elements in the order first added, each key once; `key(element)` names it.
template <class Element, class Key, Key (*key)(const Element &)>
class RoutingSet {
 public:
  bool contains(Key k) const {
    if (size_ <= inline_max) {
      for (std::size_t i = 0; i < size_; ++i)
        if (key(inline_[i]) == k) return true;
      return false;
    }
    return index_->count(k) != 0;
  }
  /// False if an element with that key was there already.
  bool add(const Element &e) {
    if (contains(key(e))) return false;
    if (size_ < inline_max) {
      inline_[size_++] = e;
      return true;
    }
    if (size_ == inline_max) {
      spill_.assign(inline_, inline_ + size_);
      index_ = std::make_unique<std::unordered_set<Key>>();
      for (std::size_t i = 0; i < size_; ++i) index_->insert(key(inline_[i]));
    }
    spill_.push_back(e);
    index_->insert(key(e));
    ++size_;
    return true;
  }
  /// Adds `e`, which the caller knows is not there yet (a route cache hit: distinct targets).
  void append_distinct(const Element &e) {
    if (size_ < inline_max) {
      inline_[size_++] = e;
      return;
    }
    add(e);
  }
  /// Removes the element at `i`; the last one takes its place.
  void remove_at(std::size_t i) {
    Element *all = data();
    if (size_ > inline_max) index_->erase(key(all[i]));
    all[i] = all[size_ - 1];
    if (size_ > inline_max) spill_.pop_back();
    --size_;
    if (size_ == inline_max) {  // back on the stack
      std::copy(spill_.begin(), spill_.end(), inline_);
      spill_.clear();
      index_.reset();
    }
  }
  std::size_t size() const noexcept { return size_; }
  Element *data() noexcept { return size_ <= inline_max ? inline_ : spill_.data(); }
  Element &operator[](std::size_t i) noexcept { return data()[i]; }

 private:
  Element inline_[inline_max];  // the first size_ are set (no zeroing: a publish builds two sets)
  std::size_t size_ = 0;
  std::vector<Element> spill_;
  /// Past inline_max only: built on the first spill, so the usual publish constructs and destroys
  /// no hash set (two per publish: targets and exchanges).
  std::unique_ptr<std::unordered_set<Key>> index_;
};

/// A queue a publish reaches, and the exchange whose binding named it (for its `routed` count).
using Target = RoutedTarget;
const Queue *target_key(const Target &t) { return t.queue; }
using TargetSet = RoutingSet<Target, const Queue *, target_key>;

const Routes *routes_key(const Routes *const &r) { return r; }
using ExchangeSet = RoutingSet<const Routes *, const Routes *, routes_key>;

/// Step 2 of exchange_publish.hpp: a worklist over the exchanges the message enters, each once.
/// Counts `published` and `alternated` on them as it goes, and lists them in `entered` (when not
/// NULL) for the route cache. Returns false if a headers exchange took part: then the result
/// depends on the message's headers, not only on the key, and must not be cached.
bool route(const Topology &topology, const Routes &entry, std::string_view key,
           const corq_message &message, TargetSet &out,
           std::vector<EnteredExchange> *entered = nullptr) {
  ExchangeSet worklist;  // doubles as the set of exchanges entered
  worklist.add(&entry);
  auto enter = [&](const Routes *routes) { worklist.add(routes); };
  bool by_key_only = true;
  for (std::size_t next = 0; next < worklist.size(); ++next) {
    const Routes &routes = *worklist[next];
    Exchange &exchange = *routes.exchange;
    exchange.published.fetch_add(1, std::memory_order_relaxed);
    if (exchange.type() == ExchangeType::headers) by_key_only = false;
    if (entered != nullptr) entered->push_back({&exchange, false});
    bool matched = false;
    routes.match(key, message.headers, message.header_count, [&](const Destination &d) {
      matched = true;
      if (d.queue != nullptr) {
        if (!d.queue->deleted()) out.add({d.queue.get(), &exchange});
        return;
      }
      // The snapshot's routes of that exchange (a binding never outlives its destination in a
      // snapshot, but the exchange may have been redeclared: then the binding is gone too).
      const Routes *to = topology.find(d.exchange->name());
      if (to != nullptr && to->exchange == d.exchange) enter(to);
    });
    const std::string &alternate = exchange.options().alternate_exchange;
    if (!matched && !alternate.empty()) {
      const Routes *to = topology.find(alternate);
      if (to != nullptr && !worklist.contains(to)) {
        exchange.alternated.fetch_add(1, std::memory_order_relaxed);
        if (entered != nullptr) entered->back().alternated = true;
        enter(to);
      }
    }
  }
  return by_key_only;
}

/// Step 2 for a publish: from the thread's route cache, or by walking the topology (and then
/// remembered when only keys decided it). `entry` gets the exchange named. CORQ_OK, or
/// CORQ_ENOENT / CORQ_EINVAL (no such exchange, internal) with the detail set.
int route_publish(const Router::PublishView &view, std::string_view exchange, std::string_view key,
                  const corq_message &message, TargetSet &targets, const Routes *&entry) {
  const std::uint64_t hash = text_hash(exchange, key);
  if (const CachedRoute *hit = view.routes.find(exchange, key, hash)) {
    for (const EnteredExchange &e : hit->entered) {
      e.exchange->published.fetch_add(1, std::memory_order_relaxed);
      if (e.alternated) e.exchange->alternated.fetch_add(1, std::memory_order_relaxed);
    }
    for (const RoutedTarget &t : hit->targets)
      if (!t.queue->deleted()) targets.append_distinct(t);
    entry = hit->entry;
    return CORQ_OK;
  }
  if (const int rc = find_publishable(view.topology, exchange.data(), entry); rc != CORQ_OK)
    return rc;
  CachedRoute *memo = nullptr;
  try {
    memo = &view.routes.claim(exchange, key, hash, entry);
  } catch (const std::bad_alloc &) {  // no memo this time; routing itself goes on
  }
  if (!route(view.topology, *entry, key, message, targets, memo ? &memo->entered : nullptr) ||
      memo == nullptr)
    return CORQ_OK;
  memo->targets.assign(targets.data(), targets.data() + targets.size());
  view.routes.publish(*memo);
  return CORQ_OK;
}

/// Drops targets whose dedup window saw the message's dedup id (recording it in the others).
/// `recorded` gets the queues that recorded it, to forget it there if the publish fails after.
void filter_duplicates(TargetSet &targets, const corq_message &message, std::uint64_t id,
                       std::int64_t now_ms, std::vector<Queue *> &recorded,
                       std::uint64_t &first_original) {
  if (message.dedup_id == nullptr) return;
  for (std::size_t i = 0; i < targets.size();) {
    Queue &q = *targets[i].queue;
    std::uint64_t original = 0;
    if (q.dedup() == nullptr) {
      ++i;
    } else if (q.dedup()->seen_or_record(message.dedup_id, id, now_ms, original)) {
      q.deduplicated.fetch_add(1, std::memory_order_relaxed);
      if (first_original == 0) first_original = original;
      targets.remove_at(i);
    } else {
      recorded.push_back(&q);
      ++i;
    }
  }
}

void forget_duplicates(const std::vector<Queue *> &recorded, const corq_message &message,
                       std::uint64_t id) {
  for (Queue *q : recorded) q->dedup()->forget(message.dedup_id, id);
}

int full_error(const Queue &q) {
  return capi::fail(CORQ_EFULL, "queue '" + q.name() + "' is full (max_length " +
                                    std::to_string(q.options().max_length) + ", max_bytes " +
                                    std::to_string(q.options().max_bytes) +
                                    "): nothing was published");
}

bool drops_head(const Queue &q) noexcept { return q.options().overflow == Overflow::drop_head; }

/// Admission in every target or none (step 4). Targets deleted meanwhile are dropped from the set.
/// Returns CORQ_OK with one message of `bytes` reserved in each remaining target, or a CORQ_* code
/// with nothing reserved and nothing dropped.
int admit_everywhere(Engine &engine, TargetSet &targets, std::uint64_t bytes,
                     std::int32_t timeout_ms) {
  // A message that can never fit a drop_head target fails before anything is dropped anywhere.
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (drops_head(*targets[i].queue) && bytes > targets[i].queue->options().max_bytes)
      return full_error(*targets[i].queue);
  }
  bool have_deadline = false;
  sync::Clock::time_point deadline{};
  for (;;) {
    std::size_t i = 0;
    for (; i < targets.size(); ++i) {
      if (!drops_head(*targets[i].queue) && !targets[i].queue->reserve_one(bytes)) break;
    }
    if (i == targets.size()) {
      // Everyone else has room: only now may drop_head targets drop their oldest.
      std::size_t j = 0;
      for (; j < targets.size(); ++j) {
        if (drops_head(*targets[j].queue) && !targets[j].queue->reserve_one_dropping(bytes)) break;
      }
      if (j == targets.size()) return CORQ_OK;
      // Deleted under us (the only way a drop can fail once the size fits): give all back.
      for (std::size_t k = 0; k < targets.size(); ++k) {
        if (!drops_head(*targets[k].queue) || k < j) targets[k].queue->cancel_reservation(bytes);
      }
      if (targets[j].queue->deleted()) {
        targets.remove_at(j);
        continue;
      }
      return full_error(*targets[j].queue);
    }
    for (std::size_t k = 0; k < i; ++k)
      if (!drops_head(*targets[k].queue)) targets[k].queue->cancel_reservation(bytes);
    Queue &blocked = *targets[i].queue;
    if (blocked.deleted()) {
      targets.remove_at(i);  // it went away while we routed: it is no longer a target
      continue;
    }
    if (blocked.options().overflow == Overflow::reject) return full_error(blocked);
    if (engine.closed()) return capi::fail(CORQ_ECLOSED, "the engine is closed");
    if (!have_deadline) {
      deadline = sync::deadline_after_ms(timeout_ms);
      have_deadline = true;
    }
    if (!blocked.await_room(bytes, deadline, engine.closed_flag())) {
      if (engine.closed()) return capi::fail(CORQ_ECLOSED, "the engine is closed");
      if (!blocked.deleted()) return full_error(blocked);
    }
  }
}

/// Exchange "" : the queue named by the routing key, as corq_publish (no routing headers).
int publish_to_default(Engine &engine, const char *queue_name, const corq_message &message,
                       const PublishSettings &settings, const corq_publish_options *options,
                       std::uint64_t *message_id, std::uint32_t *routed) {
  std::size_t shard = 0;
  Queue *q = engine.lookup_for_publish(queue_name, shard);
  if (q == nullptr) {
    if ((settings.flags & CORQ_PUBLISH_MANDATORY) != 0) {
      return capi::fail(CORQ_EUNROUTABLE, std::string("the default exchange has no queue named '") +
                                              queue_name + "' (CORQ_PUBLISH_MANDATORY)");
    }
    return capi::fail(CORQ_ENOENT, std::string("no queue named '") + queue_name + "'");
  }
  std::size_t accepted = 0;
  const int rc =
      publish_batch(engine, *q, &message, 1, options, shard, message_id, nullptr, &accepted);
  if (rc == CORQ_OK && routed != nullptr) *routed = static_cast<std::uint32_t>(accepted);
  return rc;
}

/// Nothing took the message: refused under CORQ_PUBLISH_MANDATORY, else dropped; counted either
/// way.
int unroutable(Engine &engine, Exchange &exchange, const PublishSettings &settings,
               std::uint64_t *message_id) {
  exchange.unroutable.fetch_add(1, std::memory_order_relaxed);
  if ((settings.flags & CORQ_PUBLISH_MANDATORY) != 0) {
    return capi::fail(CORQ_EUNROUTABLE, "exchange '" + exchange.name() +
                                            "' routed the message to no queue "
                                            "(CORQ_PUBLISH_MANDATORY): nothing was stored");
  }
  const std::uint64_t id = engine.take_ids(1);  // it was published, even if nobody gets it
  if (message_id != nullptr) *message_id = id;
  return CORQ_OK;
}

/// One target: the plain publish path, with the routing headers.
int publish_to_one(Engine &engine, Queue &queue, const corq_message &message,
                   const corq_publish_options *options, const RoutingStamp &stamp,
                   std::uint64_t *message_id, std::uint32_t &taken) {
  std::size_t accepted = 0;
  const int rc =
      publish_batch(engine, queue, &message, 1, options, Engine::publishing_thread_shard(),
                    message_id, nullptr, &accepted, &stamp);
  taken = static_cast<std::uint32_t>(accepted);
  return rc;
}

/// The durable targets' copies go into the log before any copy is pushed (no consumer can settle a
/// copy whose publish is not yet in the log order): one publish record for one durable target,
/// one publish_fanout record for several, so a crash leaves the message in all of them or none.
/// On failure nothing stays pinned. `lsn` stays 0 when no target is durable.
int log_durable_copies(Engine &engine, TargetSet &targets, Message *const *copies,
                       const corq_message &message, std::int64_t due_ms, wal::Lsn &lsn) {
  if (engine.journal() == nullptr) return CORQ_OK;  // an in-memory engine: no durable queue
  std::vector<std::uint32_t> qids;
  std::vector<Message *> durable;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].queue->journal() == nullptr) continue;
    qids.push_back(targets[i].queue->qid());
    durable.push_back(copies[i]);
  }
  if (durable.empty()) return CORQ_OK;
  if (durable.size() > fanout_durable_targets_max) {
    return capi::fail(CORQ_EINVAL, "a message routed to " + std::to_string(durable.size()) +
                                       " durable queues (at most " +
                                       std::to_string(fanout_durable_targets_max) + ")");
  }
  Journal &journal = *engine.journal();
  std::string error;
  int rc;
  if (durable.size() == 1) {
    rc = journal.log_publish(qids[0], durable.data(), 1, &message, durable[0]->id, due_ms, lsn,
                             error);
  } else {
    rc = journal.log_publish_fanout(qids.data(), durable.data(), durable.size(), message.dedup_id,
                                    due_ms, lsn, error);
  }
  if (rc == CORQ_OK) return rc;
  for (Message *m : durable) journal.unpin(m);
  return capi::fail(rc, error);
}

/// Several targets: one body, shared (step 4).
int publish_to_many(Engine &engine, TargetSet &targets, const corq_message &message,
                    const PublishSettings &settings, const RoutingStamp &stamp,
                    std::uint64_t *message_id, std::uint32_t &taken) {
  const std::uint64_t id = engine.take_ids(1);
  const std::int64_t now_ms = engine.now_ms();
  std::vector<Queue *> recorded;
  std::uint64_t original_id = 0;
  filter_duplicates(targets, message, id, now_ms, recorded, original_id);
  if (targets.size() == 0) {  // every target had seen it: report the first one's original
    if (message_id != nullptr) *message_id = original_id;
    return CORQ_OK;
  }
  const std::uint64_t bytes = message.len;
  if (settings.delay_ms == 0) {
    if (const int rc = admit_everywhere(engine, targets, bytes, settings.timeout_ms);
        rc != CORQ_OK) {
      forget_duplicates(recorded, message, id);
      return rc;
    }
  }
  const std::size_t n = targets.size();
  Message *inline_copies[inline_max];
  std::vector<Message *> spilled_copies(n > inline_max ? n : 0);
  Message **copies = n > inline_max ? spilled_copies.data() : inline_copies;
  Message *body = make_routed_message(message, stamp, id, now_ms, 0);
  if (body != nullptr && settings.priority != 0)  // before sharing: every copy carries it
    body->set_priority(
        std::min<std::uint32_t>(static_cast<std::uint32_t>(settings.priority), max_priority_limit));
  // Every copy, transient ones too (one may move into a durable queue): the ledger keeps the id
  // live while any pinned copy remains (durability/ledger.hpp).
  if (body != nullptr && n > 1)
    body->flags = static_cast<std::uint16_t>(body->flags | Message::shared_id);
  if (body != nullptr && n > 1 && !share_message(body, copies, n)) {
    free_message(body);
    body = nullptr;
  }
  if (body == nullptr) {
    if (settings.delay_ms == 0) {
      for (std::size_t i = 0; i < n; ++i) targets[i].queue->cancel_reservation(bytes);
    }
    forget_duplicates(recorded, message, id);
    return capi::fail(CORQ_ENOMEM, "out of memory building the message");
  }
  if (n == 1) copies[0] = body;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t ttl_ms =
        settings.ttl_ms > 0 ? settings.ttl_ms : targets[i].queue->options().message_ttl_ms;
    copies[i]->expires_at_ms = ttl_ms > 0 ? now_ms + ttl_ms : 0;
  }
  const std::int64_t due_ms = settings.delay_ms > 0 ? now_ms + settings.delay_ms : 0;
  wal::Lsn lsn = 0;
  if (const int rc = log_durable_copies(engine, targets, copies, message, due_ms, lsn);
      rc != CORQ_OK) {
    for (std::size_t i = 0; i < n; ++i) {
      if (settings.delay_ms == 0) targets[i].queue->cancel_reservation(bytes);
      free_message(copies[i]);
    }
    forget_duplicates(recorded, message, id);
    return rc;
  }
  const std::size_t shard = Engine::publishing_thread_shard();
  for (std::size_t i = 0; i < n; ++i) {
    Queue &q = *targets[i].queue;
    if (settings.delay_ms > 0) {
      q.push_delayed(copies[i], now_ms + settings.delay_ms);
    } else {
      q.push_admitted(&copies[i], 1, shard);
    }
    q.published.fetch_add(1, std::memory_order_relaxed);
  }
  if (message_id != nullptr) *message_id = id;
  taken = static_cast<std::uint32_t>(n);
  // Durable targets: wait for the group commit holding the record, unless told not to.
  if (lsn == 0 || (settings.flags & CORQ_PUBLISH_NOWAIT) != 0) return CORQ_OK;
  std::string error;
  const int rc = engine.journal()->wait(lsn, -1, error);
  return rc == CORQ_OK ? rc : capi::fail(rc, error);
}

/// Adds to each exchange's `routed` the queues its own bindings named and that took the message
/// (`targets` lost those whose dedup window swallowed it).
void count_routed(TargetSet &targets) {
  // Usually every target came through one exchange: one add, not one per target.
  Exchange *run = nullptr;
  std::uint64_t run_count = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].via != run) {
      if (run != nullptr) run->routed.fetch_add(run_count, std::memory_order_relaxed);
      run = targets[i].via;
      run_count = 0;
    }
    ++run_count;
  }
  if (run != nullptr) run->routed.fetch_add(run_count, std::memory_order_relaxed);
}

}  // namespace

int exchange_publish(Engine &engine, const char *exchange, const char *routing_key,
                     const corq_message &message, const corq_publish_options *options,
                     std::uint64_t *message_id, std::uint32_t *routed) {
  if (routed != nullptr) *routed = 0;
  PublishSettings settings;
  if (options != nullptr) {
    if (const int rc = read_publish_options(*options, settings); rc != CORQ_OK) return rc;
  }
  if (engine.closed()) [[unlikely]]
    return capi::fail(CORQ_ECLOSED, "the engine is closed");
  const char *key_text = routing_key == nullptr ? "" : routing_key;
  const std::size_t key_len = strnlen(key_text, key_bytes_max + 1);
  if (key_len > key_bytes_max) return capi::fail(CORQ_EINVAL, "routing key longer than 255 bytes");
  const std::string_view key(key_text, key_len);
  if (!is_plain_message(message, engine.options().max_message_bytes)) {
    const char *error = nullptr;
    const int rc = validate_message(message, engine.options().max_message_bytes, error);
    if (rc != CORQ_OK) return capi::fail(rc, error);
  }
  if (exchange[0] == '\0')
    return publish_to_default(engine, key_text, message, settings, options, message_id, routed);

  const std::string_view name(exchange);
  const Routes *entry = nullptr;
  TargetSet targets;
  if (const int rc =
          route_publish(engine.router().view_for_publish(), name, key, message, targets, entry);
      rc != CORQ_OK)
    return rc;
  if (targets.size() == 0) return unroutable(engine, *entry->exchange, settings, message_id);
  const RoutingStamp stamp{name, key};
  std::uint32_t taken = 0;
  const int rc =
      targets.size() == 1
          ? publish_to_one(engine, *targets[0].queue, message, options, stamp, message_id, taken)
          : publish_to_many(engine, targets, message, settings, stamp, message_id, taken);
  if (rc != CORQ_OK) return rc;
  if (taken != 0) count_routed(targets);
  if (routed != nullptr) *routed = taken;
  return CORQ_OK;
}

int find_publishable(const Topology &topology, const char *exchange, const Routes *&entry) {
  entry = topology.find(exchange);
  if (entry == nullptr) {
    std::string name_error;
    if (!valid_queue_name(exchange, name_error))
      return capi::fail(CORQ_EINVAL, "bad exchange name: " + name_error);
    return capi::fail(CORQ_ENOENT, std::string("no exchange named '") + exchange + "'");
  }
  if (entry->exchange->options().internal) {
    return capi::fail(CORQ_EINVAL, std::string("exchange '") + exchange +
                                       "' is internal: only other exchanges publish to it");
  }
  return CORQ_OK;
}

int route_in(const Topology &topology, const char *exchange, std::string_view key,
             const corq_message &message, std::vector<RoutedTarget> &out) {
  out.clear();
  const Routes *entry = nullptr;
  if (const int rc = find_publishable(topology, exchange, entry); rc != CORQ_OK) return rc;
  TargetSet targets;
  route(topology, *entry, key, message, targets);
  if (targets.size() == 0) entry->exchange->unroutable.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < targets.size(); ++i)
    out.push_back({targets[i].queue, targets[i].via});
  return CORQ_OK;
}

void count_routed_targets(const RoutedTarget *targets, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    targets[i].via->routed.fetch_add(1, std::memory_order_relaxed);
}

std::size_t route_dead_letter(Engine &engine, const Queue &origin, Message *dead) noexcept {
  TargetSet targets;
  const corq_message view{dead->payload(), dead->payload_len, dead->headers(), dead->header_count,
                          nullptr};
  try {
    const QueueOptions &o = origin.options();
    bool found = false;
    const std::string_view own_key = dead->header("x-routing-key", found);
    const std::string key(o.dead_letter_routing_key_set
                              ? std::string_view(o.dead_letter_routing_key)
                          : found ? own_key
                                  : std::string_view(origin.name()));
    const Topology &topology = engine.router().topology_for_publish();
    const Routes *entry = topology.find(o.dead_letter_exchange);
    if (entry != nullptr) route(topology, *entry, key, view, targets);
    if (targets.size() == 0 && entry != nullptr)
      entry->exchange->unroutable.fetch_add(1, std::memory_order_relaxed);
  } catch (...) {  // out of memory routing it: the dead letter is dropped (and counted so)
    free_message(dead);
    return 0;
  }
  // Room now or never: a dead letter waits for nobody.
  for (std::size_t i = 0; i < targets.size();) {
    if (targets[i].queue->reserve_one(dead->payload_len)) {
      ++i;
    } else {
      targets.remove_at(i);
    }
  }
  const std::size_t n = targets.size();
  if (n == 0) {
    free_message(dead);
    return 0;
  }
  {
    // A new place in the log for each copy (the origin's record is released by the caller's
    // remove, after); they share the id with the origin (the caller made it shared) and each other.
    dead->log_bucket = 0;
    if (n > 1) dead->flags = static_cast<std::uint16_t>(dead->flags | Message::shared_id);
    Message *inline_copies[inline_max];
    std::vector<Message *> spilled_copies;
    if (n > inline_max) {
      try {
        spilled_copies.resize(n);
      } catch (...) {
        for (std::size_t i = 0; i < n; ++i) targets[i].queue->cancel_reservation(dead->payload_len);
        free_message(dead);
        return 0;
      }
    }
    Message **copies = n > inline_max ? spilled_copies.data() : inline_copies;
    if (n == 1) {
      copies[0] = dead;
    } else if (!share_message(dead, copies, n)) {
      for (std::size_t i = 0; i < n; ++i) targets[i].queue->cancel_reservation(dead->payload_len);
      free_message(dead);
      return 0;
    }
    const std::uint64_t bytes = copies[0]->payload_len;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t ttl_ms = targets[i].queue->options().message_ttl_ms;
      copies[i]->expires_at_ms = ttl_ms > 0 ? engine.now_ms() + ttl_ms : 0;
    }
    wal::Lsn lsn = 0;
    int logged = CORQ_ENOMEM;
    try {
      logged = log_durable_copies(engine, targets, copies, view, 0, lsn);
    } catch (...) {  // out of memory: as a failed log write, below
    }
    if (logged != CORQ_OK) {
      for (std::size_t i = 0; i < n; ++i) {
        targets[i].queue->cancel_reservation(bytes);
        free_message(copies[i]);
      }
      return 0;
    }
    for (std::size_t i = 0; i < n; ++i) targets[i].queue->push_reserved(copies[i]);
    count_routed(targets);
    return n;
  }
}

}  // namespace corq::core::routing
