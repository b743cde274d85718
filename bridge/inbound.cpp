// bridge/inbound.cpp — a JetStream durable pull consumer into a local queue or stream
// (inbound.hpp).
#include "inbound.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace corq::bridge {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t hwm_lease_ms = 24LL * 3600 * 1000;
constexpr std::size_t headers_max = 64;  // corq's limit per message
constexpr std::size_t header_key_max = 255;
constexpr auto suspect_check_every = std::chrono::milliseconds(200);

struct Meta {
  std::uint64_t stream_seq = 0;
  std::uint64_t delivery_seq = 0;
  std::uint64_t pending = 0;
  bool ok = false;
};

Meta meta_of(natsMsg *msg) {
  Meta m;
  jsMsgMetaData *meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK && meta != nullptr) {
    m.stream_seq = meta->Sequence.Stream;
    m.delivery_seq = meta->Sequence.Consumer;
    m.pending = meta->NumPending;
    m.ok = true;
    jsMsgMetaData_Destroy(meta);
  }
  return m;
}

}  // namespace

Inbound::Inbound(corq_engine *engine, NatsLink &link, InboundConfig config,
                 std::int64_t api_timeout_ms)
    : engine_(engine),
      link_(link),
      config_(std::move(config)),
      hwm_queue_(hwm_queue_name(config_.name)),
      api_timeout_ms_(api_timeout_ms) {}

Inbound::~Inbound() {
  if (thread_.joinable()) {
    request_stop();
    join();
  }
  for (auto &[seq, msg] : held_) natsMsg_Destroy(msg);
  if (subscription_ != nullptr) {
    natsSubscription_Unsubscribe(subscription_);
    natsSubscription_Destroy(subscription_);
  }
  if (hwm_consumer_ != nullptr) corq_consumer_close(hwm_consumer_);
  if (js_ != nullptr) jsCtx_Destroy(js_);
}

int Inbound::prepare(std::string &error) {
  const std::string where = "[inbound " + config_.name + "] ";
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = api_timeout_ms_;
  if (const natsStatus s = natsConnection_JetStream(&js_, link_.connection(), &options);
      s != NATS_OK) {
    error = where + nats_error("cannot create the JetStream context", s);
    return s == NATS_NO_MEMORY ? CORQ_ENOMEM : CORQ_EIO;
  }
  jsErrCode code = static_cast<jsErrCode>(0);
  jsStreamInfo *stream = nullptr;
  natsStatus s = js_GetStreamInfo(&stream, js_, config_.jetstream.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
      error = where + "JetStream stream '" + config_.jetstream + "' does not exist";
      return CORQ_ENOENT;
    }
    error = where +
            nats_error(("cannot look up JetStream stream '" + config_.jetstream + "'").c_str(), s);
    return CORQ_EIO;
  }
  std::string subject = config_.filter_subject;
  if (subject.empty() && stream->Config != nullptr && stream->Config->SubjectsLen > 0)
    subject = stream->Config->Subjects[0];
  jsStreamInfo_Destroy(stream);

  jsConsumerInfo *consumer = nullptr;
  s = js_GetConsumerInfo(&consumer, js_, config_.jetstream.c_str(), config_.durable.c_str(),
                         nullptr, &code);
  if (s == NATS_NOT_FOUND || (s != NATS_OK && code == JSConsumerNotFoundErr)) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = config_.durable.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = config_.ack_wait_ms * 1000000;  // nanoseconds
    cc.MaxDeliver = -1;
    cc.MaxAckPending = static_cast<int64_t>(config_.batch) * 4;
    if (!config_.filter_subject.empty()) cc.FilterSubject = config_.filter_subject.c_str();
    s = js_AddConsumer(&consumer, js_, config_.jetstream.c_str(), &cc, nullptr, &code);
    if (s != NATS_OK) {
      error = where +
              nats_error(("cannot create JetStream consumer '" + config_.durable + "'").c_str(), s);
      return CORQ_EIO;
    }
  } else if (s != NATS_OK) {
    error = where +
            nats_error(("cannot look up JetStream consumer '" + config_.durable + "'").c_str(), s);
    return CORQ_EIO;
  }
  const bool pull = consumer->Config != nullptr && (consumer->Config->DeliverSubject == nullptr ||
                                                    consumer->Config->DeliverSubject[0] == '\0');
  const bool explicit_ack =
      consumer->Config != nullptr && consumer->Config->AckPolicy == js_AckExplicit;
  if (consumer->Config != nullptr && consumer->Config->FilterSubject != nullptr &&
      consumer->Config->FilterSubject[0] != '\0')
    subject = consumer->Config->FilterSubject;
  // Where the consumer stands now: deliveries out before this start (a crash between a fetch and
  // its commit) make the rule suspect until they are all back (inbound.hpp).
  last_delivery_ = consumer->Delivered.Consumer;
  suspect_ = consumer->NumAckPending > 0;
  stats_.lag.store(consumer->NumPending, std::memory_order_relaxed);
  jsConsumerInfo_Destroy(consumer);
  if (!pull || !explicit_ack) {
    error = where + "JetStream consumer '" + config_.durable +
            "' must be a pull consumer with explicit acks (AckPolicy explicit, no deliver subject)";
    return CORQ_EINVAL;
  }
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = config_.jetstream.c_str();
  sub_options.Consumer = config_.durable.c_str();
  sub_options.ManualAck = true;
  s = js_PullSubscribe(&subscription_, js_, subject.c_str(), config_.durable.c_str(), nullptr,
                       &sub_options, &code);
  if (s != NATS_OK) {
    subscription_ = nullptr;
    error = where +
            nats_error(("cannot bind to JetStream consumer '" + config_.durable + "'").c_str(), s);
    return CORQ_EIO;
  }
  // The mark's queue: one message, never dead-lettered, leased for a day (the rule replaces it
  // at every commit).
  corq_config *hwm = corq_config_new();
  if (hwm == nullptr) {
    error = where + "out of memory";
    return CORQ_ENOMEM;
  }
  corq_config_set(hwm, "max_attempts", "0");
  corq_config_set(hwm, "dead_letter_queue", "");
  corq_config_set(hwm, "lease_ms", std::to_string(hwm_lease_ms).c_str());
  const int rc = corq_queue_declare(engine_, hwm_queue_.c_str(), hwm);
  corq_config_free(hwm);
  if (rc != CORQ_OK) {
    error = where + "cannot declare the high-water-mark queue '" + hwm_queue_ +
            "': " + corq_last_error();
    return rc;
  }
  return CORQ_OK;
}

void Inbound::start() {
  thread_ = std::thread([this] { run(); });
}

void Inbound::request_stop() {
  std::lock_guard lock(mutex_);
  stop_ = true;
  wake_.notify_all();
}

void Inbound::join() {
  if (thread_.joinable()) thread_.join();
}

bool Inbound::stopping() const {
  std::lock_guard lock(mutex_);
  return stop_;
}

void Inbound::sleep_for(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, wait, [&] { return stop_; });
}

int Inbound::load_mark(std::string &error) {
  if (hwm_consumer_ == nullptr) {
    if (const int rc = corq_consumer_open(engine_, hwm_queue_.c_str(), 16, &hwm_consumer_);
        rc != CORQ_OK) {
      hwm_consumer_ = nullptr;
      error = std::string("cannot open the high-water-mark queue: ") + corq_last_error();
      return rc;
    }
  }
  hwm_held_ = false;
  corq_delivery d[16];
  const int n = corq_consume(hwm_consumer_, d, 16, 0);
  if (n < 0) {
    error = std::string("cannot read the high-water mark: ") + corq_last_error();
    return n;
  }
  // Normally one message; more only if a commit's ack of the old one was lost with an engine
  // failure: the highest wins, the others are acked away.
  int best = -1;
  std::uint64_t best_mark = 0;
  for (int i = 0; i < n; ++i) {
    const std::string text(static_cast<const char *>(d[i].data), d[i].len);
    const std::uint64_t v = std::strtoull(text.c_str(), nullptr, 10);
    if (best < 0 || v >= best_mark) {
      best = i;
      best_mark = v;
    }
  }
  for (int i = 0; i < n; ++i) {
    if (i != best) corq_ack(hwm_consumer_, d[i].tag);
  }
  if (best >= 0) {
    hwm_held_ = true;
    hwm_tag_ = d[best].tag;
    mark_ = std::max(mark_, best_mark);
  }
  stats_.high_water_mark.store(mark_, std::memory_order_relaxed);
  return CORQ_OK;
}

void Inbound::take(natsMsgList &list) {
  std::vector<std::pair<Meta, natsMsg *>> got;
  got.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg *msg = list.Msgs[i];
    list.Msgs[i] = nullptr;  // ours now
    got.emplace_back(meta_of(msg), msg);
  }
  std::sort(got.begin(), got.end(), [](const auto &a, const auto &b) {
    return a.first.delivery_seq < b.first.delivery_seq;
  });
  for (auto &[meta, msg] : got) {
    if (!meta.ok) {  // not a JetStream message (cannot happen on a pull subscription): skip it
      natsMsg_Destroy(msg);
      continue;
    }
    if (meta.delivery_seq > last_delivery_ + 1) suspect_ = true;  // a delivery went missing
    last_delivery_ = std::max(last_delivery_, meta.delivery_seq);
    stats_.lag.store(meta.pending, std::memory_order_relaxed);
    if (meta.stream_seq <= mark_) {
      // Committed before (its ack was lost, or it came before a crash): ack it again, drop it.
      natsMsg_Ack(msg, nullptr);
      natsMsg_Destroy(msg);
      stats_.duplicates.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto [it, inserted] = held_.try_emplace(meta.stream_seq, msg);
    if (!inserted) {  // held already: keep the newer delivery (its ack is the one that counts)
      natsMsg_Destroy(it->second);
      it->second = msg;
    }
  }
  stats_.in_flight.store(held_.size(), std::memory_order_relaxed);
}

bool Inbound::may_commit() {
  if (held_.empty()) return false;
  if (!suspect_) return true;
  const auto now = Clock::now();
  if (now < next_check_) return false;
  next_check_ = now + suspect_check_every;
  jsConsumerInfo *info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetConsumerInfo(&info, js_, config_.jetstream.c_str(), config_.durable.c_str(), nullptr,
                         &code) != NATS_OK)
    return false;
  // Every unacked delivery of the consumer is one we hold: nothing is missing any more.
  const std::int64_t unacked = info->NumAckPending;
  const bool complete = unacked <= static_cast<int64_t>(held_.size());
  jsConsumerInfo_Destroy(info);
  if (complete) {
    suspect_ = false;
    suspect_since_ = {};
    return true;
  }
  if (suspect_since_ == Clock::time_point{}) suspect_since_ = now;
  // The missing deliveries come back within an AckWait; far longer means something else holds
  // them — most likely another client pulling from the same durable consumer.
  if (now - suspect_since_ > 3 * std::chrono::milliseconds(config_.ack_wait_ms)) {
    stats_.set_error("holding " + std::to_string(held_.size()) + " messages until " +
                     std::to_string(unacked - static_cast<std::int64_t>(held_.size())) +
                     " unacked deliveries of consumer '" + config_.durable +
                     "' come back; if another client pulls from it, give each bridge a durable "
                     "consumer of its own");
  }
  return false;
}

void Inbound::extend_ack_wait() {
  for (auto &[seq, msg] : held_) natsMsg_InProgress(msg, nullptr);
}

int Inbound::try_commit(std::size_t count, std::uint64_t new_mark) {
  corq_txn *txn = nullptr;
  if (const int rc = corq_txn_begin(engine_, &txn); rc != CORQ_OK) return rc;
  auto it = held_.begin();
  for (std::size_t i = 0; i < count; ++i, ++it) {
    natsMsg *msg = it->second;
    std::vector<corq_header> headers;
    std::vector<std::string> storage;
    storage.reserve(headers_max + 2);
    const char **keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &key_count) == NATS_OK) {
      for (int k = 0; k < key_count; ++k) {
        const char **values = nullptr;
        int value_count = 0;
        if (natsMsgHeader_Values(msg, keys[k], &values, &value_count) != NATS_OK) continue;
        for (int v = 0; v < value_count; ++v) {
          if (headers.size() >= headers_max - 2 || std::strlen(keys[k]) > header_key_max ||
              keys[k][0] == '\0') {
            stats_.headers_skipped.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          headers.push_back(corq_header{keys[k], values[v], std::strlen(values[v])});
        }
        std::free(values);
      }
      std::free(keys);
    }
    storage.push_back(natsMsg_GetSubject(msg));
    headers.push_back(corq_header{"x-nats-subject", storage.back().data(), storage.back().size()});
    storage.push_back(std::to_string(it->first));
    headers.push_back(corq_header{"x-nats-sequence", storage.back().data(), storage.back().size()});
    corq_message message{natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)),
                         headers.data(), headers.size(), nullptr};
    int rc;
    if (config_.to.is_stream()) {
      const char *subject = natsMsg_GetSubject(msg);
      const bool keyed = config_.key == "subject";
      rc = corq_txn_append(txn, config_.to.stream.c_str(), keyed ? subject : nullptr,
                           keyed ? std::strlen(subject) : 0, &message, nullptr);
    } else {
      rc = corq_txn_publish(txn, "", config_.to.queue.c_str(), &message, nullptr);
    }
    if (rc != CORQ_OK) {
      stats_.set_error(std::string("local transaction refused a message: ") + corq_last_error());
      corq_txn_abort(txn);
      return rc;
    }
  }
  if (hwm_held_) {
    if (const int rc = corq_txn_ack(txn, hwm_consumer_, hwm_tag_); rc != CORQ_OK) {
      corq_txn_abort(txn);
      return rc;
    }
  }
  const std::string mark = std::to_string(new_mark);
  const corq_message mark_message{mark.data(), mark.size(), nullptr, 0, nullptr};
  if (const int rc = corq_txn_publish(txn, "", hwm_queue_.c_str(), &mark_message, nullptr);
      rc != CORQ_OK) {
    corq_txn_abort(txn);
    return rc;
  }
  return corq_txn_commit(txn, static_cast<int32_t>(config_.commit_timeout_ms));
}

void Inbound::commit_held() {
  auto backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
  auto last_extend = Clock::now();
  while (!held_.empty()) {
    const std::size_t count = std::min<std::size_t>(held_.size(), config_.batch);
    const std::uint64_t new_mark = std::next(held_.begin(), static_cast<long>(count - 1))->first;
    int rc = try_commit(count, new_mark);
    if (rc == CORQ_ETIMEDOUT) {
      // Applied here, durability not confirmed in time: wait for it before acking upstream.
      rc = corq_sync(engine_, -1);
    }
    if (rc == CORQ_OK) {
      hwm_held_ = false;
      mark_ = new_mark;
      stats_.high_water_mark.store(mark_, std::memory_order_relaxed);
      auto it = held_.begin();
      for (std::size_t i = 0; i < count; ++i) {
        natsMsg_Ack(it->second, nullptr);
        natsMsg_Destroy(it->second);
        it = held_.erase(it);
      }
      stats_.forwarded.fetch_add(count, std::memory_order_relaxed);
      stats_.in_flight.store(held_.size(), std::memory_order_relaxed);
      // The new mark's delivery, for the next transaction to replace.
      std::string error;
      if (const int mrc = load_mark(error); mrc != CORQ_OK) stats_.set_error(error);
      backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
      continue;
    }
    // Not committed: nothing of it applied. Keep the batch (its JetStream deadlines extended) and
    // try again — a full queue or disk is backpressure, not a reason to drop or reorder.
    stats_.retried.fetch_add(1, std::memory_order_relaxed);
    if (rc != CORQ_EFULL)
      stats_.set_error(std::string("local commit failed: ") + corq_last_error());
    if (rc == CORQ_ESTATE) {
      std::string error;  // the mark's delivery is no longer held: take it again
      load_mark(error);
    }
    if (stopping()) return;  // unacked upstream: redelivered, and recognised, later
    const auto now = Clock::now();
    if (now - last_extend >= std::chrono::milliseconds(config_.ack_wait_ms / 3)) {
      extend_ack_wait();
      last_extend = now;
    }
    sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(config_.retry_backoff_max_ms));
  }
}

void Inbound::run() {
  std::string error;
  while (load_mark(error) != CORQ_OK) {
    stats_.set_error(error);
    if (stopping()) return;
    sleep_for(std::chrono::milliseconds(config_.retry_backoff_max_ms));
  }
  auto backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
  auto last_extend = Clock::now();
  while (!stopping()) {
    // Fetch only what may be held: a batch at a time, never more than the consumer allows.
    natsMsgList list{};
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = natsSubscription_Fetch(
        &list, subscription_, static_cast<int>(config_.batch), config_.fetch_wait_ms, &code);
    if (s == NATS_OK) {
      take(list);
      natsMsgList_Destroy(&list);
      backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
    } else {
      natsMsgList_Destroy(&list);
      if (s != NATS_TIMEOUT) {
        stats_.set_error(nats_error("JetStream fetch failed", s));
        sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(config_.retry_backoff_max_ms));
      }
    }
    if (may_commit()) {
      commit_held();
      last_extend = Clock::now();
    } else if (!held_.empty() &&
               Clock::now() - last_extend >= std::chrono::milliseconds(config_.ack_wait_ms / 3)) {
      extend_ack_wait();
      last_extend = Clock::now();
    }
  }
}

RuleFigures Inbound::figures() {
  RuleFigures f;
  f.direction = "inbound";
  f.name = config_.name;
  f.local_kind = config_.to.is_stream() ? "stream" : "queue";
  f.local_name = config_.to.name();
  f.jetstream = config_.jetstream;
  f.durable = config_.durable;
  stats_.fill(f);
  f.lag = stats_.lag.load(std::memory_order_relaxed);
  return f;
}

}  // namespace corq::bridge
