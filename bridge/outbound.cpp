// bridge/outbound.cpp — a local queue or stream forwarded to a JetStream subject (outbound.hpp).
#include "outbound.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

namespace corq::bridge {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto extend_every = std::chrono::seconds(1);
constexpr std::size_t consume_batch_max = 256;

/// A header NATS can carry: a key of printable ASCII without ':' and a value without CR, LF or
/// NUL (NATS headers are text lines).
bool nats_header_ok(const corq_header &h) {
  for (const char *p = h.key; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  const auto *v = static_cast<const unsigned char *>(h.value);
  for (std::size_t i = 0; i < h.value_len; ++i) {
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') return false;
  }
  return true;
}

/// The rules libnats may still call back. libnats calls the ack handler on a thread of its own and
/// does not wait for a running call when its JetStream context is destroyed, so the handler's
/// closure is an id looked up here, under a mutex the destructor also takes: once a rule is out
/// of the registry no callback can be inside it, and a late callback finds nothing.
std::mutex registry_mutex;
std::unordered_map<std::uint64_t, Outbound *> &registry() {
  static std::unordered_map<std::uint64_t, Outbound *> rules;
  return rules;
}
std::uint64_t next_registry_id = 1;  // registry_mutex

const corq_header *find_header(const corq_delivery &d, const char *key) {
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (std::strcmp(d.headers[i].key, key) == 0) return &d.headers[i];
  }
  return nullptr;
}

}  // namespace

Outbound::Outbound(corq_engine *engine, NatsLink &link, OutboundConfig config,
                   std::string engine_id)
    : engine_(engine), link_(link), config_(std::move(config)), engine_id_(std::move(engine_id)) {
  std::lock_guard lock(registry_mutex);
  registry_id_ = next_registry_id++;
  registry().emplace(registry_id_, this);
}

Outbound::~Outbound() {
  if (thread_.joinable()) {
    request_stop(Clock::now());
    join();
  }
  {
    std::lock_guard lock(registry_mutex);
    registry().erase(registry_id_);
  }
  if (consumer_ != nullptr) corq_consumer_close(consumer_);
  if (js_ != nullptr) jsCtx_Destroy(js_);
}

int Outbound::prepare(std::string &error) {
  const std::string where = "[outbound " + config_.name + "] ";
  // A JetStream stream must capture the subject, or every publish would fail ("no responders").
  {
    natsMsg *reply = nullptr;
    const std::string request = "{\"subject\":\"" + config_.subject + "\"}";
    const natsStatus s = natsConnection_RequestString(
        &reply, link_.connection(), "$JS.API.STREAM.NAMES", request.c_str(), 5000);
    if (s != NATS_OK) {
      error = where + nats_error("cannot ask JetStream which stream takes the subject", s);
      return CORQ_EIO;
    }
    const std::string body(natsMsg_GetData(reply),
                           static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
    if (body.find("\"error\"") != std::string::npos) {
      error = where + "JetStream refused the stream lookup: " + body;
      return CORQ_EIO;
    }
    if (body.find("\"streams\":[\"") == std::string::npos) {
      error = where + "no JetStream stream captures subject '" + config_.subject +
              "' (create one whose subjects include it)";
      return CORQ_ENOENT;
    }
  }
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.MaxPending = config_.max_in_flight;
  options.PublishAsync.AckHandler = &Outbound::on_ack;
  options.PublishAsync.AckHandlerClosure =
      reinterpret_cast<void *>(static_cast<std::uintptr_t>(registry_id_));
  if (const natsStatus s = natsConnection_JetStream(&js_, link_.connection(), &options);
      s != NATS_OK) {
    error = where + nats_error("cannot create the JetStream context", s);
    return s == NATS_NO_MEMORY ? CORQ_ENOMEM : CORQ_EIO;
  }
  return CORQ_OK;
}

int Outbound::open_local(std::string &error) {
  const std::string where = "[outbound " + config_.name + "] ";
  int rc = CORQ_OK;
  if (config_.from.is_stream()) {
    corq_config *group = corq_config_new();
    if (group == nullptr) {
      error = where + "out of memory";
      return CORQ_ENOMEM;
    }
    // The group's failed attempts can only come from lease expiries (the bridge never nacks):
    // no limit and no dead-letter queue, so a long outage never dead-letters anything.
    corq_config_set(group, "prefetch", std::to_string(config_.max_in_flight).c_str());
    corq_config_set(group, "max_attempts", "0");
    corq_config_set(group, "dead_letter_queue", "");
    rc = corq_group_consumer_open(engine_, config_.from.stream.c_str(), config_.group.c_str(),
                                  group, &consumer_);
    corq_config_free(group);
  } else {
    rc = corq_consumer_open(engine_, config_.from.queue.c_str(), config_.max_in_flight, &consumer_);
  }
  if (rc != CORQ_OK) {
    error = where + "cannot open the local consumer: " + corq_last_error();
    consumer_ = nullptr;
    return rc;
  }
  return CORQ_OK;
}

void Outbound::start() {
  last_extend_ = Clock::now();
  thread_ = std::thread([this] { run(); });
}

void Outbound::request_stop(Clock::time_point deadline) {
  std::lock_guard lock(mutex_);
  stop_ = true;
  deadline_ = deadline;
  wake_.notify_all();
}

bool Outbound::join() {
  if (thread_.joinable()) thread_.join();
  return all_confirmed_;
}

std::string Outbound::message_id_of(const corq_delivery &d) const {
  if (!config_.from.is_stream())
    return engine_id_ + "/" + config_.from.queue + "/" + std::to_string(d.message_id);
  const corq_header *partition = find_header(d, "x-stream-partition");
  const std::string p =
      partition == nullptr
          ? "0"
          : std::string(static_cast<const char *>(partition->value), partition->value_len);
  return engine_id_ + "/" + config_.from.stream + "/" + p + "/" + std::to_string(d.message_id);
}

void Outbound::on_ack(jsCtx *, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error, void *closure) {
  {
    std::lock_guard registered(registry_mutex);
    const auto found = registry().find(reinterpret_cast<std::uintptr_t>(closure));
    if (found == registry().end()) {  // the rule is gone: nothing waits for this outcome
      natsMsg_Destroy(msg);
      return;
    }
    Outbound *self = found->second;
    std::lock_guard lock(self->mutex_);
    if (const auto it = self->out_.find(msg); it != self->out_.end()) {
      Result result{it->second, ack != nullptr && error == nullptr, {}};
      if (!result.ok) {
        result.error = error != nullptr ? nats_error("JetStream publish failed", error->Err)
                                        : std::string("JetStream publish failed");
        if (error != nullptr && error->ErrText != nullptr && error->ErrText[0] != '\0')
          result.error += ": " + std::string(error->ErrText);
      }
      self->results_.push_back(std::move(result));
      self->out_.erase(it);
      self->wake_.notify_all();
    }
  }
  natsMsg_Destroy(msg);
}

bool Outbound::publish(std::uint64_t seq) {
  Entry &e = window_[seq - base_seq_];
  const corq_delivery &d = e.delivery;
  natsMsg *msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, config_.subject.c_str(), nullptr,
                                static_cast<const char *>(d.data), static_cast<int>(d.len));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", e.msg_id.c_str());
  for (std::size_t i = 0; s == NATS_OK && i < d.header_count; ++i) {
    const corq_header &h = d.headers[i];
    if (!nats_header_ok(h)) {
      stats_.headers_skipped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const std::string value(static_cast<const char *>(h.value), h.value_len);
    s = natsMsgHeader_Add(msg, h.key, value.c_str());
  }
  if (s == NATS_OK) {
    {
      std::lock_guard lock(mutex_);
      out_[msg] = seq;
    }
    natsMsg *const sent = msg;
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = config_.publish_timeout_ms;
    s = js_PublishMsgAsync(js_, &msg, &options);
    if (s != NATS_OK) {
      std::lock_guard lock(mutex_);
      out_.erase(sent);
    }
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);  // a no-op once libnats took it
    if (e.state == State::pending) ++failed_count_;
    e.state = State::failed;
    stats_.set_error(nats_error("JetStream publish refused", s));
    return false;
  }
  if (e.state == State::failed) --failed_count_;
  e.state = State::pending;
  ++pending_count_;
  return true;
}

void Outbound::absorb_results() {
  std::vector<Result> results;
  {
    std::lock_guard lock(mutex_);
    results.swap(results_);
  }
  for (Result &r : results) {
    if (r.seq < base_seq_) continue;
    Entry &e = window_[r.seq - base_seq_];
    if (e.state != State::pending) continue;
    --pending_count_;
    if (r.ok) {
      e.state = State::done;
      backoff_ = std::chrono::milliseconds(0);
      if (e.lease_lost) continue;  // redelivered locally; its resend is a duplicate JetStream drops
      const int rc = corq_ack(consumer_, e.delivery.tag);
      if (rc == CORQ_OK) {
        stats_.forwarded.fetch_add(1, std::memory_order_relaxed);
      } else if (rc != CORQ_ESTATE) {
        // The engine failed (fail-stop): after its restart the message comes back and its resend
        // is dropped by the duplicate window.
        stats_.set_error(std::string("local ack failed: ") + corq_last_error());
      }
    } else {
      stats_.set_error(r.error);
      if (e.lease_lost) {  // ready locally again: the next delivery of it is the resend
        e.state = State::done;
        continue;
      }
      e.state = State::failed;
      ++failed_count_;
    }
  }
  while (!window_.empty() && window_.front().state == State::done) {
    window_.pop_front();
    ++base_seq_;
  }
  stats_.in_flight.store(window_.size(), std::memory_order_relaxed);
}

void Outbound::wait_for_results(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  // Once stopping, only an outcome ends the wait early (the stop itself is already seen).
  wake_.wait_for(lock, wait, [&] { return !results_.empty() || (stop_ && !stop_seen_); });
}

void Outbound::extend_leases() {
  const auto now = Clock::now();
  if (now - last_extend_ < extend_every) return;
  last_extend_ = now;
  for (Entry &e : window_) {
    if (e.state == State::done || e.lease_lost) continue;
    if (corq_extend(consumer_, e.delivery.tag, config_.lease_ms) == CORQ_ESTATE) {
      e.lease_lost = true;
      if (e.state == State::failed) {  // nothing to resend: the message is ready locally again
        e.state = State::done;
        --failed_count_;
      }
    }
  }
}

void Outbound::run() {
  std::vector<corq_delivery> batch(std::min<std::size_t>(config_.max_in_flight, consume_batch_max));
  while (true) {
    absorb_results();
    extend_leases();
    bool stopping = false;
    Clock::time_point deadline;
    {
      std::lock_guard lock(mutex_);
      stopping = stop_;
      deadline = deadline_;
    }
    if (stopping) {
      {
        std::lock_guard lock(mutex_);
        stop_seen_ = true;
      }
      // Take nothing new, resend nothing: wait for the outcomes of what is out.
      if (pending_count_ == 0 || Clock::now() >= deadline) break;
      wait_for_results(
          std::min(std::chrono::milliseconds(20),
                   std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) +
                       std::chrono::milliseconds(1)));
      continue;
    }
    if (failed_count_ > 0) {
      // Resend in order: only once every publish out has its outcome, the connection is up and
      // the backoff has passed.
      if (pending_count_ > 0) {
        wait_for_results(std::chrono::milliseconds(20));
        continue;
      }
      const auto now = Clock::now();
      if (!link_.connected() || now < next_resend_) {
        wait_for_results(std::chrono::milliseconds(20));
        continue;
      }
      backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(config_.retry_backoff_ms),
                            std::chrono::milliseconds(config_.retry_backoff_max_ms));
      next_resend_ = now + backoff_;
      for (std::size_t i = 0; i < window_.size(); ++i) {
        if (window_[i].state != State::failed) continue;
        stats_.retried.fetch_add(1, std::memory_order_relaxed);
        if (!publish(base_seq_ + i)) break;  // refused at once: wait for the next round
      }
      continue;
    }
    if (!link_.connected()) {
      wait_for_results(std::chrono::milliseconds(20));
      continue;
    }
    const std::size_t room = config_.max_in_flight - window_.size();
    if (room == 0) {
      wait_for_results(std::chrono::milliseconds(100));
      continue;
    }
    const int n = corq_consume(consumer_, batch.data(), std::min(room, batch.size()),
                               pending_count_ > 0 ? 1 : 100);
    if (n < 0) {
      stats_.set_error(std::string("local consume failed: ") + corq_last_error());
      wait_for_results(std::chrono::milliseconds(n == CORQ_ECLOSED ? 1000 : 200));
      continue;
    }
    for (int i = 0; i < n; ++i) {
      Entry &e = window_.emplace_back();
      e.delivery = batch[static_cast<std::size_t>(i)];
      e.msg_id = message_id_of(e.delivery);
      publish(base_seq_ + window_.size() - 1);
    }
    stats_.in_flight.store(window_.size(), std::memory_order_relaxed);
  }
  abandon_pending();
}

void Outbound::abandon_pending() {
  if (pending_count_ > 0 || failed_count_ > 0) all_confirmed_ = false;
  natsMsgList list{};
  if (js_PublishAsyncGetPendingList(&list, js_) == NATS_OK) natsMsgList_Destroy(&list);
  {
    std::lock_guard lock(mutex_);
    out_.clear();
    results_.clear();
  }
  // Closing the consumer releases every delivery not acked: ready again locally, sent again by
  // the next run under the same Nats-Msg-Id.
  if (consumer_ != nullptr) {
    corq_consumer_close(consumer_);
    consumer_ = nullptr;
  }
  window_.clear();
  stats_.in_flight.store(0, std::memory_order_relaxed);
}

RuleFigures Outbound::figures() {
  RuleFigures f;
  f.direction = "outbound";
  f.name = config_.name;
  f.local_kind = config_.from.is_stream() ? "stream" : "queue";
  f.local_name = config_.from.name();
  f.subject = config_.subject;
  if (config_.from.is_stream()) {
    corq_group_stats st{};
    st.struct_size = sizeof st;
    if (corq_group_stats_get(engine_, config_.from.stream.c_str(), config_.group.c_str(), &st) ==
        CORQ_OK)
      f.lag = st.lag;
  } else {
    corq_queue_stats st{};
    st.struct_size = sizeof st;
    if (corq_queue_stats_get(engine_, config_.from.queue.c_str(), &st) == CORQ_OK)
      f.lag = st.ready + st.delayed;
  }
  stats_.fill(f);
  return f;
}

}  // namespace corq::bridge
