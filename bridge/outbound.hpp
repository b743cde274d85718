// bridge/outbound.hpp — one outbound rule: a local queue (or a stream, through a consumer group)
// forwarded to a JetStream subject, corq being the durable outbox.
//
// Data path, per message: corq_consume (a batch, up to the free part of the window) -> a natsMsg
// with Nats-Msg-Id and the message's headers -> js_PublishMsgAsync -> libnats's ack thread calls
// back with the outcome -> the rule's thread acks the delivery locally (corq_ack). The window is
// max_in_flight deliveries held at once (the consumer's prefetch, and libnats's MaxPending).
//
// Order: messages are published in delivery order on one connection. When a publish fails (a
// timeout, a leader election, a lost connection) nothing new is published until every publish out
// has its outcome; then the failed ones are published again, in order, after a backoff (and once
// connected), and only then new ones. A resend of a message that did reach the stream is dropped
// by the JetStream stream's duplicate window (same Nats-Msg-Id). What this cannot order: when
// message k fails while k+1, published after it, succeeds (possible only when the stream's leader
// changes between the two), k lands after k+1. max_in_flight = 1 rules that out, at the cost of a
// round trip per message.
//
// Leases: deliveries held while publishes are out (or failed, or waiting for the connection) have
// their leases extended every second by lease_ms, so a message is never redelivered locally, and
// never dead-lettered, because the cluster was slow or unreachable.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "nats_link.hpp"
#include "rule_stats.hpp"

#include <corq/corq.h>

namespace corq::bridge {

class Outbound {
 public:
  Outbound(corq_engine *engine, NatsLink &link, OutboundConfig config, std::string engine_id);
  ~Outbound();
  Outbound(const Outbound &) = delete;
  Outbound &operator=(const Outbound &) = delete;

  /// Before start: a JetStream stream captures the subject; makes the JetStream context. CORQ_*
  /// code.
  int prepare(std::string &error);
  /// Then, once every rule is prepared: opens the local consumer (it takes nothing before the
  /// thread starts). CORQ_* code.
  int open_local(std::string &error);
  /// Starts the rule's thread.
  void start();
  /// Asks the thread to stop taking deliveries and to finish by `deadline`.
  void request_stop(std::chrono::steady_clock::time_point deadline);
  /// Waits for the thread; true if every publish out was confirmed (nothing left unconfirmed).
  bool join();

  const OutboundConfig &config() const { return config_; }
  /// This rule's figures now (lag asks the engine).
  RuleFigures figures();

 private:
  enum class State : std::uint8_t { pending, failed, done };
  struct Entry {
    corq_delivery delivery;
    std::string msg_id;
    State state = State::pending;
    bool lease_lost = false;  // its lease ran out: the delivery is gone (and its data)
  };

  static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error, void *closure);
  void run();
  /// Applies the outcomes libnats reported: acks locally, marks failures.
  void absorb_results();
  /// Publishes window_[seq - base_seq_]; false (and the entry failed) if libnats refused it.
  bool publish(std::uint64_t seq);
  /// Waits up to `wait` for an outcome from libnats (or a stop request).
  void wait_for_results(std::chrono::milliseconds wait);
  void extend_leases();
  /// After the thread's loop: takes back what libnats still holds (released locally by closing
  /// the consumer).
  void abandon_pending();
  std::string message_id_of(const corq_delivery &delivery) const;

  corq_engine *const engine_;
  std::uint64_t registry_id_ = 0;  // the ack handler's closure (outbound.cpp: registry)
  NatsLink &link_;
  const OutboundConfig config_;
  const std::string engine_id_;
  corq_consumer *consumer_ = nullptr;
  jsCtx *js_ = nullptr;
  std::thread thread_;
  RuleStats stats_;

  // The rule's thread only.
  std::deque<Entry> window_;
  std::uint64_t base_seq_ = 0;  // sequence number of window_.front()
  std::size_t pending_count_ = 0;
  std::size_t failed_count_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_resend_{};
  std::chrono::steady_clock::time_point last_extend_{};
  bool all_confirmed_ = true;

  // Shared with libnats's callback thread.
  std::mutex mutex_;
  std::condition_variable wake_;
  struct Result {
    std::uint64_t seq;
    bool ok;
    std::string error;
  };
  std::unordered_map<natsMsg *, std::uint64_t> out_;  // message -> sequence (mutex_)
  std::vector<Result> results_;                       // mutex_
  bool stop_ = false;                                 // mutex_
  bool stop_seen_ = false;  // mutex_: the thread has seen stop_ (waits no longer end on it)
  std::chrono::steady_clock::time_point deadline_{};  // mutex_
};

}  // namespace corq::bridge
