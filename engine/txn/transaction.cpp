// engine/txn/transaction.cpp — see transaction.hpp.
#include "txn/transaction.hpp"

#include "capi/error.hpp"
#include "consumer/consumer.hpp"
#include "durability/journal.hpp"
#include "durability/stream_records.hpp"
#include "engine/engine.hpp"
#include "routing/exchange_publish.hpp"
#include "stream/group.hpp"
#include "stream/stream.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

namespace corq::core::txn {

std::atomic<bool> testing_stop_before_streams{false};

// ---- OwnedMessage
// ---------------------------------------------------------------------------------

OwnedMessage::OwnedMessage(const corq_message &m)
    : payload_(static_cast<const char *>(m.data), m.data == nullptr ? 0 : m.len) {
  strings_.reserve(m.header_count * 2);
  for (std::size_t i = 0; i < m.header_count; ++i) {
    strings_.emplace_back(m.headers[i].key);
    strings_.emplace_back(static_cast<const char *>(m.headers[i].value),
                          m.headers[i].value == nullptr ? 0 : m.headers[i].value_len);
    bytes_ += strings_[2 * i].size() + strings_[2 * i + 1].size();
  }
  bytes_ += payload_.size();
  if (m.dedup_id != nullptr) {
    dedup_id_ = m.dedup_id;
    has_dedup_ = true;
  }
}

const corq_message &OwnedMessage::view() {
  // Built here, not in the constructor: the strings' buffers move with a short string's object.
  headers_.resize(strings_.size() / 2);
  for (std::size_t i = 0; i < headers_.size(); ++i) {
    headers_[i].key = strings_[2 * i].c_str();
    headers_[i].value = strings_[2 * i + 1].data();
    headers_[i].value_len = strings_[2 * i + 1].size();
  }
  view_.data = payload_.data();
  view_.len = payload_.size();
  view_.headers = headers_.empty() ? nullptr : headers_.data();
  view_.header_count = headers_.size();
  view_.dedup_id = has_dedup_ ? dedup_id_.c_str() : nullptr;
  return view_;
}

// ---- adding operations
// ----------------------------------------------------------------------------

Transaction::Transaction(Engine &engine) : engine_(engine) {}
Transaction::~Transaction() = default;

bool Transaction::enter(const char *function) noexcept {
  if (!in_use_.exchange(true, std::memory_order_acquire)) return true;
  capi::fail(CORQ_ESTATE, std::string(function) +
                              ": the transaction is in use by another thread (one thread at a "
                              "time)");
  return false;
}

int Transaction::admit_operation(const char *function, std::uint64_t bytes) {
  if (closed_by_engine() || engine_.closed())
    return capi::fail(CORQ_ECLOSED, std::string(function) + ": the engine is closed");
  if (publishes_.size() + appends_.size() + acks_.size() >= max_operations) {
    return capi::fail(CORQ_ETOOBIG, std::string(function) + ": the transaction holds " +
                                        std::to_string(max_operations) +
                                        " operations already (the most one may hold)");
  }
  const std::uint64_t limit = engine_.options().txn_bytes_limit();
  if (bytes_ + bytes > limit) {
    return capi::fail(CORQ_ETOOBIG, std::string(function) + ": " + std::to_string(bytes) +
                                        " more bytes would pass max_txn_bytes " +
                                        std::to_string(limit) + " (the transaction holds " +
                                        std::to_string(bytes_) + ")");
  }
  return CORQ_OK;
}

int Transaction::check_message(const char *function, const corq_message &message) {
  const char *why = nullptr;
  const int rc = validate_message(message, engine_.options().max_message_bytes, why);
  return rc == CORQ_OK ? rc : capi::fail(rc, std::string(function) + ": " + why);
}

int Transaction::publish(const char *exchange, const char *routing_key, const corq_message &message,
                         const corq_publish_options *options) {
  PublishSettings settings;
  if (options != nullptr) {
    if (const int rc = read_publish_options(*options, settings); rc != CORQ_OK) return rc;
  }
  const char *key_text = routing_key == nullptr ? "" : routing_key;
  const std::size_t key_len = strnlen(key_text, routing::key_bytes_max + 1);
  if (key_len > routing::key_bytes_max)
    return capi::fail(CORQ_EINVAL, "corq_txn_publish: routing key longer than 255 bytes");
  if (const int rc = check_message("corq_txn_publish", message); rc != CORQ_OK) return rc;
  OwnedMessage copy(message);
  if (const int rc = admit_operation("corq_txn_publish", copy.bytes() + key_len); rc != CORQ_OK)
    return rc;
  const bool mandatory = (settings.flags & CORQ_PUBLISH_MANDATORY) != 0;
  std::shared_ptr<Queue> queue;
  if (exchange[0] == '\0') {
    queue = engine_.find(key_text);
    if (queue == nullptr) {
      if (mandatory) {
        return capi::fail(
            CORQ_EUNROUTABLE,
            std::string("corq_txn_publish: the default exchange has no queue named '") + key_text +
                "' (CORQ_PUBLISH_MANDATORY)");
      }
      return capi::fail(CORQ_ENOENT,
                        std::string("corq_txn_publish: no queue named '") + key_text + "'");
    }
  } else {
    // Checked now so a typo fails at once; routed again at commit, where it counts.
    const std::shared_ptr<const routing::Topology> topology = engine_.router().snapshot();
    const routing::Routes *entry = nullptr;
    if (const int rc = routing::find_publishable(*topology, exchange, entry); rc != CORQ_OK)
      return rc;
  }
  publishes_.push_back(
      {exchange, std::string(key_text, key_len), std::move(copy), settings, std::move(queue)});
  bytes_ += publishes_.back().message.bytes() + key_len;
  return CORQ_OK;
}

int Transaction::append(const char *stream_name, const void *key, std::size_t key_len,
                        const corq_message &message, const corq_publish_options *options) {
  if (options != nullptr) {
    PublishSettings settings;
    if (const int rc = read_publish_options(*options, settings); rc != CORQ_OK) return rc;
    if (settings.delay_ms != 0 || settings.ttl_ms != 0 || settings.priority != 0) {
      return capi::fail(CORQ_EINVAL,
                        "corq_txn_append: a stream record takes no delay_ms, ttl_ms or priority");
    }
  }
  if (key == nullptr && key_len != 0)
    return capi::fail(CORQ_EINVAL, "corq_txn_append: key is NULL but key_len is not 0");
  if (const int rc = check_message("corq_txn_append", message); rc != CORQ_OK) return rc;
  OwnedMessage copy(message);
  if (const int rc = admit_operation("corq_txn_append", copy.bytes() + key_len); rc != CORQ_OK)
    return rc;
  std::shared_ptr<stream::Stream> s = engine_.find_stream(stream_name);
  if (s == nullptr) {
    return capi::fail(CORQ_ENOENT,
                      std::string("corq_txn_append: no stream named '") + stream_name + "'");
  }
  AppendOp op{std::move(s), key != nullptr, {}, std::move(copy), 0};
  if (key != nullptr) op.key.assign(static_cast<const char *>(key), key_len);
  appends_.push_back(std::move(op));
  bytes_ += appends_.back().message.bytes() + key_len;
  return CORQ_OK;
}

int Transaction::ack(corq_consumer *handle, std::uint64_t tag) {
  if (const int rc = admit_operation("corq_txn_ack", 0); rc != CORQ_OK) return rc;
  auto *base = reinterpret_cast<ConsumerBase *>(handle);
  const std::uint64_t serial = engine_.consumer_serial(base);
  if (serial == 0) {
    return capi::fail(CORQ_EINVAL,
                      "corq_txn_ack: the consumer is not an open consumer of this "
                      "transaction's engine");
  }
  if (acked_.contains({base, tag})) {
    return capi::fail(CORQ_ESTATE, "corq_txn_ack: tag " + std::to_string(tag) +
                                       " is acked in this transaction already");
  }
  if (base->is_group_member) {
    if (const int rc = static_cast<stream::GroupMember *>(base)->txn_check(tag); rc != CORQ_OK)
      return rc;
  } else if (static_cast<Consumer *>(base)->held(tag) == nullptr) {
    return capi::fail(CORQ_ESTATE, "corq_txn_ack: tag " + std::to_string(tag) +
                                       " is not an unsettled delivery of this consumer");
  }
  acks_.push_back({base, serial, tag});
  acked_.insert({base, tag});
  return CORQ_OK;
}

// ---- commit
// ---------------------------------------------------------------------------------------

void PendingTxnRelease::finish(Journal &journal) {
  std::vector<std::byte> applied;
  records::Writer w(applied);
  w.u64(txn_id);
  w.u32(static_cast<std::uint32_t>(streams.size()));
  for (const auto &s : streams) w.u32(s->sid());
  wal::Lsn applied_lsn = 0;
  journal.release_txn_hold(hold_lsn, applied, applied_lsn);
  for (const auto &s : streams) {
    std::uint64_t seen = s->txn_applied_lsn.load(std::memory_order_acquire);
    while (seen < applied_lsn && !s->txn_applied_lsn.compare_exchange_weak(
                                     seen, applied_lsn, std::memory_order_acq_rel)) {
    }
    s->txn_applying.fetch_sub(1, std::memory_order_acq_rel);
  }
}

bool PendingTxnRelease::retry_appends() {
  for (; retried < retries.size(); ++retried) {
    Retry &r = retries[retried];
    if (r.stream->deleted()) continue;  // its records went with it
    wal::Lsn lsn = 0;
    std::string error;
    const int rc = r.stream->append_committed(r.partition, r.has_key ? r.key.data() : nullptr,
                                              r.key.size(), r.message.view(), r.timestamp_ms,
                                              stream::TxnMark{txn_id, r.seq}, lsn, error);
    // Refused again (still no room, or the stream's log failed): try at a later pass; a failed
    // log leaves them to the next open, which appends what its stream's log does not name.
    if (rc != CORQ_OK) return false;
    if (lsn != 0) waits.push_back({r.stream, r.partition, lsn});
  }
  return true;
}

bool PendingTxnRelease::ready() {
  if (retried < retries.size()) return false;
  for (const Wait &w : waits) {
    if (w.stream->deleted()) continue;  // its records went with it
    if (w.stream->log() == nullptr || w.stream->log()->durable_lsn() < w.lsn) return false;
    std::string ignored;
    w.stream->confirm_committed(w.partition, 0, sync::Clock::now(), ignored);  // visible now
  }
  return true;
}

/// One commit's work and what undoes it (transaction.hpp, steps 1-6).
class Commit {
 public:
  /// `logged` becomes true once the commit's batch is in the log.
  Commit(Transaction &t, std::int32_t timeout_ms, bool &logged)
      : t_(t),
        engine_(t.engine_),
        journal_(engine_.journal()),
        deadline_(sync::deadline_after_ms(timeout_ms)),
        timeout_ms_(timeout_ms),
        logged_(logged) {}
  ~Commit() { undo(); }

  int run();

 private:
  struct ClaimedAck {
    ConsumerBase *consumer;
    std::uint64_t tag;
    Message *message = nullptr;         // a queue consumer's
    stream::GroupMember::TxnAck group;  // a group member's
  };
  struct Routed {
    std::vector<routing::RoutedTarget> targets;
    std::vector<Queue *> dedup_recorded;
    std::vector<Message *> copies;  // one per target
    std::uint64_t id = 0;
    std::int64_t due_ms = 0;
  };
  struct Reservation {
    Queue *queue;
    std::uint64_t bytes;
  };

  int claim_acks();
  int route_publishes();
  int place_appends();
  int filter_duplicates();
  int admit();
  int build_messages();
  int log(wal::Lsn &lsn);
  void apply();
  /// Step 5's durable half and step 6 (transaction.hpp), after the batch at `lsn` is logged.
  int finish_durable(wal::Lsn lsn);
  std::int32_t remaining_ms() const;
  /// Gives back everything taken so far (a failed commit: nothing happened).
  void undo() noexcept;
  int fail(int code, const std::string &detail) {
    return capi::fail(code, "corq_txn_commit: " + detail);
  }

  Transaction &t_;
  Engine &engine_;
  Journal *const journal_;
  const sync::Clock::time_point deadline_;
  const std::int32_t timeout_ms_;
  std::int64_t now_ms_ = 0;
  std::uint64_t txn_id_ = 0;
  std::vector<ClaimedAck> claimed_;
  std::shared_ptr<const routing::Topology> topology_;
  std::vector<Routed> routed_;  // one per publish
  std::vector<Reservation> reserved_;
  bool applied_ = false;
  bool durable_appends_ = false;
  wal::Lsn hold_lsn_ = 0;  // the batch's first LSN (Journal's hold)
  bool &logged_;
};

int Commit::claim_acks() {
  for (Transaction::AckOp &a : t_.acks_) {
    if (engine_.consumer_serial(a.consumer) != a.serial) {
      return fail(CORQ_ESTATE, "the consumer of tag " + std::to_string(a.tag) + " was closed");
    }
    ClaimedAck c{a.consumer, a.tag, nullptr, {}};
    if (a.consumer->is_group_member) {
      if (const int rc = static_cast<stream::GroupMember *>(a.consumer)->txn_claim(a.tag, c.group);
          rc != CORQ_OK)
        return rc;
    } else {
      c.message = static_cast<Consumer *>(a.consumer)->txn_claim(a.tag);
      if (c.message == nullptr) return CORQ_ESTATE;  // detail set by the consumer
    }
    claimed_.push_back(std::move(c));
  }
  return CORQ_OK;
}

int Commit::route_publishes() {
  routed_.resize(t_.publishes_.size());
  for (std::size_t i = 0; i < t_.publishes_.size(); ++i) {
    Transaction::PublishOp &p = t_.publishes_[i];
    Routed &r = routed_[i];
    const bool mandatory = (p.settings.flags & CORQ_PUBLISH_MANDATORY) != 0;
    if (p.exchange.empty()) {
      if (p.queue->deleted()) {
        return fail(mandatory ? CORQ_EUNROUTABLE : CORQ_ENOENT,
                    "queue '" + p.queue->name() + "' was deleted");
      }
      r.targets.push_back({p.queue.get(), nullptr});
      continue;
    }
    if (topology_ == nullptr) topology_ = engine_.router().snapshot();
    if (const int rc = routing::route_in(*topology_, p.exchange.c_str(), p.routing_key,
                                         p.message.view(), r.targets);
        rc != CORQ_OK)
      return rc;
    if (r.targets.empty() && mandatory) {
      return fail(CORQ_EUNROUTABLE, "exchange '" + p.exchange + "' routed a message with key '" +
                                        p.routing_key +
                                        "' to no queue (CORQ_PUBLISH_MANDATORY): nothing was "
                                        "stored");
    }
  }
  return CORQ_OK;
}

int Commit::place_appends() {
  // Room under discard=new, per partition, for all of this transaction's records together.
  std::map<std::pair<stream::Stream *, std::uint32_t>, std::pair<std::size_t, std::uint64_t>> need;
  for (Transaction::AppendOp &a : t_.appends_) {
    if (a.stream->deleted())
      return fail(CORQ_ENOENT, "stream '" + a.stream->name() + "' was deleted");
    const void *key = a.has_key ? a.key.data() : nullptr;
    a.partition = a.stream->choose_partition(key, a.key.size());
    const stream::AppendInput input{key, a.key.size(), &a.message.view()};
    auto &[count, bytes] = need[{a.stream.get(), a.partition}];
    ++count;
    bytes += stream::counted_bytes(input);
    if (a.stream->sid() != 0) durable_appends_ = true;
  }
  for (const auto &[where, amount] : need) {
    const std::string refusal = where.first->partition(where.second)
                                    .refusal(amount.first, amount.second, where.first->limits());
    if (!refusal.empty())
      return fail(CORQ_EFULL, "stream '" + where.first->name() + "': " + refusal);
  }
  return CORQ_OK;
}

int Commit::filter_duplicates() {
  for (std::size_t i = 0; i < routed_.size(); ++i) {
    Routed &r = routed_[i];
    r.id = engine_.take_ids(1);
    const corq_message &m = t_.publishes_[i].message.view();
    if (m.dedup_id == nullptr) continue;
    for (std::size_t k = 0; k < r.targets.size();) {
      Queue &q = *r.targets[k].queue;
      std::uint64_t original = 0;
      if (q.dedup() == nullptr) {
        ++k;
      } else if (q.dedup()->seen_or_record(m.dedup_id, r.id, now_ms_, original)) {
        q.deduplicated.fetch_add(1, std::memory_order_relaxed);
        r.targets.erase(r.targets.begin() + static_cast<std::ptrdiff_t>(k));
      } else {
        r.dedup_recorded.push_back(&q);
        ++k;
      }
    }
  }
  return CORQ_OK;
}

namespace {
bool drops_head(const Queue &q) noexcept { return q.options().overflow == Overflow::drop_head; }
std::string full_text(const Queue &q) {
  return "queue '" + q.name() + "' is full (max_length " + std::to_string(q.options().max_length) +
         ", max_bytes " + std::to_string(q.options().max_bytes) + "): nothing was committed";
}
}  // namespace

int Commit::admit() {
  std::vector<Reservation> want;
  for (std::size_t i = 0; i < routed_.size(); ++i) {
    if (t_.publishes_[i].settings.delay_ms != 0) continue;  // delayed: outside the limits
    const std::uint64_t bytes = t_.publishes_[i].message.view().len;
    for (const routing::RoutedTarget &target : routed_[i].targets) {
      if (drops_head(*target.queue) && bytes > target.queue->options().max_bytes)
        return fail(CORQ_EFULL, full_text(*target.queue));
      want.push_back({target.queue, bytes});
    }
  }
  // drop_head queues last: they drop their oldest only once every other queue has room.
  std::stable_partition(want.begin(), want.end(),
                        [](const Reservation &r) { return !drops_head(*r.queue); });
  for (;;) {
    const Reservation *blocked = nullptr;
    for (const Reservation &w : want) {
      const bool ok = drops_head(*w.queue) ? w.queue->reserve_one_dropping(w.bytes)
                                           : w.queue->reserve_one(w.bytes);
      if (!ok) {
        blocked = &w;
        break;
      }
      reserved_.push_back(w);
    }
    if (blocked == nullptr) return CORQ_OK;
    for (const Reservation &r : reserved_) r.queue->cancel_reservation(r.bytes);
    reserved_.clear();
    Queue &q = *blocked->queue;
    if (q.deleted()) return fail(CORQ_ENOENT, "queue '" + q.name() + "' was deleted");
    if (q.options().overflow != Overflow::block) return fail(CORQ_EFULL, full_text(q));
    if (engine_.closed()) return fail(CORQ_ECLOSED, "the engine is closed");
    if (!q.await_room(blocked->bytes, deadline_, engine_.closed_flag())) {
      if (engine_.closed()) return fail(CORQ_ECLOSED, "the engine is closed");
      if (q.deleted()) return fail(CORQ_ENOENT, "queue '" + q.name() + "' was deleted");
      return fail(CORQ_EFULL, full_text(q) + " (overflow=block, timeout_ms " +
                                  std::to_string(timeout_ms_) + " passed)");
    }
  }
}

int Commit::build_messages() {
  for (std::size_t i = 0; i < routed_.size(); ++i) {
    Routed &r = routed_[i];
    const std::size_t n = r.targets.size();
    if (n == 0) continue;
    const Transaction::PublishOp &p = t_.publishes_[i];
    const corq_message &m = t_.publishes_[i].message.view();
    Message *body =
        p.exchange.empty()
            ? make_message(m, r.id, now_ms_, 0)
            : make_routed_message(m, RoutingStamp{p.exchange, p.routing_key}, r.id, now_ms_, 0);
    if (body == nullptr) return fail(CORQ_ENOMEM, "out of memory building a message");
    if (p.settings.priority != 0) {
      body->set_priority(std::min<std::uint32_t>(static_cast<std::uint32_t>(p.settings.priority),
                                                 max_priority_limit));
    }
    r.copies.resize(n);
    if (n == 1) {
      r.copies[0] = body;
    } else {
      body->flags = static_cast<std::uint16_t>(body->flags | Message::shared_id);
      if (!share_message(body, r.copies.data(), n)) {
        free_message(body);
        r.copies.clear();
        return fail(CORQ_ENOMEM, "out of memory sharing a message");
      }
    }
    for (std::size_t k = 0; k < n; ++k) {
      const std::int64_t ttl_ms =
          p.settings.ttl_ms > 0 ? p.settings.ttl_ms : r.targets[k].queue->options().message_ttl_ms;
      r.copies[k]->expires_at_ms = ttl_ms > 0 ? now_ms_ + ttl_ms : 0;
    }
    r.due_ms = p.settings.delay_ms > 0 ? now_ms_ + p.settings.delay_ms : 0;
  }
  return CORQ_OK;
}

int Commit::log(wal::Lsn &lsn) {
  lsn = 0;
  if (journal_ == nullptr) return CORQ_OK;
  TxnBatch batch;
  records::Writer w(batch.heads);
  for (std::size_t i = 0; i < routed_.size(); ++i) {
    Routed &r = routed_[i];
    std::vector<std::uint32_t> qids;
    std::vector<Message *> durable;
    for (std::size_t k = 0; k < r.copies.size(); ++k) {
      if (r.targets[k].queue->journal() == nullptr) continue;
      qids.push_back(r.targets[k].queue->qid());
      durable.push_back(r.copies[k]);
    }
    if (durable.empty()) continue;
    if (durable.size() > 65535)
      return fail(CORQ_EINVAL, "a message routed to more than 65535 durable queues");
    const corq_message &m = t_.publishes_[i].message.view();
    const std::string_view dedup_id = m.dedup_id == nullptr ? std::string_view() : m.dedup_id;
    batch.begin(0);
    batch.entries.back().type =
        durable.size() == 1 ? Journal::encode_publish(w, qids[0], *durable[0], dedup_id, r.due_ms)
                            : Journal::encode_fanout(w, qids.data(), durable.data(), durable.size(),
                                                     dedup_id, r.due_ms);
    batch.end({static_cast<const std::byte *>(durable[0]->payload()), durable[0]->payload_len});
    for (Message *copy : durable) batch.pins.emplace_back(batch.entries.size() - 1, copy);
  }
  for (const ClaimedAck &c : claimed_) {
    if (c.consumer->is_group_member) {
      if (c.group.sid == 0) continue;
      batch.begin(records::group_progress);
      records::encode_group_progress(batch.heads, c.group.sid, c.group.group,
                                     records::Progress::snapshot_settled, c.group.partition,
                                     c.group.offset, c.group.generation);
      batch.end();
      continue;
    }
    Queue &q = static_cast<Consumer *>(c.consumer)->queue();
    if (q.journal() == nullptr) continue;
    batch.begin(records::remove);
    w.u32(q.qid());
    w.u32(1);
    w.u64(c.message->id);
    batch.end();
    batch.removed.push_back(c.message);
  }
  if (durable_appends_) txn_id_ = engine_.take_ids(1);  // unique in the data directory
  for (Transaction::AppendOp &a : t_.appends_) {
    if (a.stream->sid() == 0) continue;
    const corq_message &m = a.message.view();
    batch.begin(records::txn_append);
    w.u64(txn_id_);
    w.u32(a.stream->sid());
    w.u32(a.partition);
    w.u32(a.has_key ? static_cast<std::uint32_t>(a.key.size() + 1) : 0);
    if (a.has_key) w.bytes(a.key.data(), a.key.size());
    w.str16(m.dedup_id == nullptr ? std::string_view() : m.dedup_id);
    w.u16(static_cast<std::uint16_t>(m.header_count));
    for (std::size_t h = 0; h < m.header_count; ++h) {
      w.str16(m.headers[h].key);
      w.str32({static_cast<const char *>(m.headers[h].value), m.headers[h].value_len});
    }
    batch.end({static_cast<const std::byte *>(m.data), m.len});
  }
  if (batch.empty()) return CORQ_OK;
  // Last: the record that counts the commit (records.hpp, txn_commit).
  batch.begin(records::txn_commit);
  w.u64(txn_id_);
  batch.end();
  std::string error;
  if (const int rc = journal_->log_transaction(batch, lsn, error); rc != CORQ_OK)
    return fail(rc, error);
  hold_lsn_ = lsn + 1 - batch.entries.size();
  logged_ = true;
  return CORQ_OK;
}

void Commit::apply() {
  applied_ = true;
  const std::size_t shard = Engine::publishing_thread_shard();
  for (Routed &r : routed_) {
    for (std::size_t k = 0; k < r.copies.size(); ++k) {
      Queue &q = *r.targets[k].queue;
      if (r.due_ms != 0) {
        q.push_delayed(r.copies[k], r.due_ms);
      } else {
        q.push_admitted(&r.copies[k], 1, shard);
      }
      q.published.fetch_add(1, std::memory_order_relaxed);
    }
    for (const routing::RoutedTarget &target : r.targets)
      if (target.via != nullptr) routing::count_routed_targets(&target, 1);  // not the default
  }
  reserved_.clear();
  for (const ClaimedAck &c : claimed_) {
    if (c.consumer->is_group_member) {
      static_cast<stream::GroupMember *>(c.consumer)->txn_complete_ack(c.tag);
    } else {
      static_cast<Consumer *>(c.consumer)->txn_complete_ack(c.tag);
    }
  }
  // Transient streams: no log to agree with.
  for (Transaction::AppendOp &a : t_.appends_) {
    if (a.stream->sid() != 0) continue;
    wal::Lsn ignored = 0;
    std::string error;
    a.stream->append_committed(a.partition, a.has_key ? a.key.data() : nullptr, a.key.size(),
                               a.message.view(), now_ms_, stream::TxnMark{}, ignored, error);
  }
}

std::int32_t Commit::remaining_ms() const {
  if (timeout_ms_ < 0) return -1;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - sync::Clock::now());
  return static_cast<std::int32_t>(std::max<std::int64_t>(0, left.count()));
}

int Commit::finish_durable(wal::Lsn lsn) {
  std::string error;
  if (!durable_appends_) {
    // Its group acks are applied: the batch may go with the next checkpoint that passes it.
    wal::Lsn ignored = 0;
    journal_->release_txn_hold(hold_lsn_, {}, ignored);
    const int rc = journal_->wait(lsn, remaining_ms(), error);
    return rc == CORQ_OK ? rc : fail(rc, error);
  }
  // A stream's log must never hold what the engine log may lose: the batch is on the disk first
  // (also under sync=none). Not bounded by timeout_ms: the stream half cannot be left behind.
  if (const int rc = journal_->flush_through(lsn, -1, error); rc != CORQ_OK) return fail(rc, error);
  if (testing_stop_before_streams.load(std::memory_order_relaxed)) return CORQ_OK;
  PendingTxnRelease release;
  release.hold_lsn = hold_lsn_;
  release.txn_id = txn_id_;
  for (Transaction::AppendOp &a : t_.appends_) {
    if (a.stream->sid() == 0) continue;
    if (std::find(release.streams.begin(), release.streams.end(), a.stream) ==
        release.streams.end()) {
      a.stream->txn_applying.fetch_add(1, std::memory_order_acq_rel);
      release.streams.push_back(a.stream);
    }
  }
  int first_error = CORQ_OK;
  std::string first_detail;
  engine_.note_txn_stream_writes();
  std::uint32_t seq = 0;  // the record's position among the durable stream records (as logged)
  for (Transaction::AppendOp &a : t_.appends_) {
    if (a.stream->sid() == 0) continue;
    const std::uint32_t mark = seq++;
    if (first_error == CORQ_ENOSPC) {
      // After a refused record, the rest wait with it (their order in each partition is kept).
      release.retries.push_back({a.stream, a.partition, a.has_key, std::move(a.key),
                                 std::move(a.message), mark, now_ms_});
      continue;
    }
    wal::Lsn stream_lsn = 0;
    const int rc = a.stream->append_committed(a.partition, a.has_key ? a.key.data() : nullptr,
                                              a.key.size(), a.message.view(), now_ms_,
                                              stream::TxnMark{txn_id_, mark}, stream_lsn, error);
    if (rc == CORQ_ENOSPC && first_error == CORQ_OK) {
      // The disk is full. The engine log holds the whole transaction and its other parts are
      // applied: failing now would break "all or nothing" in this process (and corq.h's promise
      // that CORQ_ENOSPC applied nothing). The record waits for room (PendingTxnRelease).
      first_error = rc;
      release.retries.push_back({a.stream, a.partition, a.has_key, std::move(a.key),
                                 std::move(a.message), mark, now_ms_});
      continue;
    }
    if (rc != CORQ_OK && first_error == CORQ_OK) {
      first_error = rc;
      first_detail = "stream '" + a.stream->name() + "': " + error;
    }
    if (stream_lsn != 0) release.waits.push_back({a.stream, a.partition, stream_lsn});
  }
  if (first_error == CORQ_ENOSPC) {
    // Committed: the scheduler appends the waiting records once there is room, then lets go of
    // the batch as for any deferred release.
    engine_.note_txn_appends_deferred(release.retries.size());
    engine_.defer_txn_release(std::move(release));
    return CORQ_OK;
  }
  if (first_error != CORQ_OK) {
    // A stream's log failed (the engine is fail-stopped): the engine log keeps the transaction
    // held, and the next open appends what is missing.
    for (const auto &s : release.streams) s->txn_applying.fetch_sub(1, std::memory_order_acq_rel);
    return fail(first_error, first_detail);
  }
  bool timed_out = false;
  for (const PendingTxnRelease::Wait &w : release.waits) {
    const int rc = w.stream->confirm_committed(w.partition, w.lsn, deadline_, error);
    if (rc == CORQ_ETIMEDOUT) {
      timed_out = true;
    } else if (rc != CORQ_OK) {
      for (const auto &s : release.streams) s->txn_applying.fetch_sub(1, std::memory_order_acq_rel);
      return fail(rc, "stream '" + w.stream->name() + "': " + error);
    }
  }
  if (!timed_out && journal_->flushes()) {
    release.finish(*journal_);
    return CORQ_OK;
  }
  if (!timed_out) {
    // sync=none: the streams' logs hold the records written, not flushed; txn_applied must not
    // reach the disk before them (a power loss would keep it and lose them, and recovery would
    // not append them again). The scheduler flushes each stream once for all such commits of a
    // pass, then lets go (Engine::finish_txn_releases).
    engine_.defer_txn_release(std::move(release));
    return CORQ_OK;
  }
  // Applied, not yet durable in a stream's log: the scheduler lets go of the batch once it is.
  engine_.defer_txn_release(std::move(release));
  return fail(CORQ_ETIMEDOUT, "timed out waiting for a stream's log (timeout_ms " +
                                  std::to_string(timeout_ms_) +
                                  "): the transaction is committed and becomes durable later");
}

void Commit::undo() noexcept {
  if (applied_) return;
  for (const Reservation &r : reserved_) r.queue->cancel_reservation(r.bytes);
  reserved_.clear();
  for (std::size_t i = 0; i < routed_.size(); ++i) {
    Routed &r = routed_[i];
    for (Message *copy : r.copies) free_message(copy);
    r.copies.clear();
    const corq_message &m = t_.publishes_[i].message.view();
    for (Queue *q : r.dedup_recorded) q->dedup()->forget(m.dedup_id, r.id);
    r.dedup_recorded.clear();
  }
  for (const ClaimedAck &c : claimed_) {
    if (c.consumer->is_group_member) {
      static_cast<stream::GroupMember *>(c.consumer)->txn_unclaim(c.tag);
    } else {
      static_cast<Consumer *>(c.consumer)->txn_unclaim(c.tag);
    }
  }
  claimed_.clear();
}

int Commit::run() {
  if (engine_.closed()) return fail(CORQ_ECLOSED, "the engine is closed");
  if (journal_ != nullptr && journal_->failure_code() != CORQ_OK)
    return fail(CORQ_EFAILED, journal_->failure_text());
  now_ms_ = engine_.now_ms();
  if (const int rc = claim_acks(); rc != CORQ_OK) return rc;
  if (const int rc = route_publishes(); rc != CORQ_OK) return rc;
  if (const int rc = place_appends(); rc != CORQ_OK) return rc;
  if (const int rc = filter_duplicates(); rc != CORQ_OK) return rc;
  if (const int rc = admit(); rc != CORQ_OK) return rc;
  if (const int rc = build_messages(); rc != CORQ_OK) return rc;
  wal::Lsn lsn = 0;
  if (const int rc = log(lsn); rc != CORQ_OK) return rc;
  apply();
  if (lsn == 0) return CORQ_OK;  // nothing durable
  return finish_durable(lsn);
}

namespace {
/// A commit that logs no batch (nothing durable, or it failed before its batch) is counted for
/// the checkpoints' transaction counters here; a logged one is counted by its txn_commit record.
/// Committed as corq_txn_commit counts it (CORQ_OK or CORQ_ETIMEDOUT), else failed — also when
/// an exception passes through (the C API returns CORQ_ENOMEM).
struct UnloggedCommitCount {
  Engine &engine;
  int rc = CORQ_ENOMEM;
  bool logged = false;
  ~UnloggedCommitCount() {
    if (!logged) engine.note_unlogged_commit(rc == CORQ_OK || rc == CORQ_ETIMEDOUT);
  }
};
}  // namespace

int Transaction::commit(std::int32_t timeout_ms) {
  UnloggedCommitCount count{engine_};
  if (closed_by_engine() || engine_.closed())
    return count.rc = capi::fail(CORQ_ECLOSED, "corq_txn_commit: the engine is closed");
  if (publishes_.empty() && appends_.empty() && acks_.empty()) return count.rc = CORQ_OK;
  Commit commit(*this, timeout_ms, count.logged);
  return count.rc = commit.run();
}

}  // namespace corq::core::txn
