// bridge/inbound.hpp — one inbound rule: a JetStream durable pull consumer into a local queue or
// stream, each message acked on JetStream only once it is durable in corq.
//
// Data path, per batch: natsSubscription_Fetch (up to `batch` messages, waiting up to
// fetch_wait_ms) -> one corq transaction: a publish (or stream append) per new message, the ack
// of the delivery holding the old high-water mark and the publish of the new one -> commit (on a
// sync=always engine it returns once durable) -> natsMsg_Ack of every message. One fsync per
// batch, one JetStream ack per message (libnats sends them without waiting).
//
// The high-water mark is the highest JetStream stream sequence committed, kept as the one message
// of the queue "corq-bridge.<rule>.hwm" (a decimal number), replaced in the same transaction as
// the messages it covers: after any crash the mark and the messages agree. A message whose
// sequence is at or below the mark is a redelivery (its JetStream ack was lost): acked, dropped,
// counted as a duplicate.
//
// That needs one invariant: nothing below the mark is left uncommitted. Messages come in stream
// order, but a delivery can go missing — the bridge crashed between a fetch and its commit (the
// messages come back only after the consumer's AckWait, after newer ones), or a fetch's messages
// arrived after the fetch gave up. Committing the newer ones first would raise the mark over the
// missing ones and drop them later as "duplicates". So the rule watches the consumer's delivery
// sequence (one number per delivery, no gaps): after a gap, and at start when the consumer has
// unacked deliveries, it holds new messages back (acking nothing, extending their AckWait) until
// the consumer's count of unacked deliveries equals what it holds — every missing delivery is
// back — then commits them all in stream order. Memory stays bounded by the consumer's
// MaxAckPending (the bridge creates it with 4 x batch).
//
// Backpressure: the next fetch happens only once the batch is committed; a full target
// (CORQ_EFULL) or a full disk is retried with backoff while the batch's JetStream deadlines are
// extended (natsMsg_InProgress). The bridge never buffers more than one batch.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "config.hpp"
#include "nats_link.hpp"
#include "rule_stats.hpp"

#include <corq/corq.h>

namespace corq::bridge {

class Inbound {
 public:
  Inbound(corq_engine *engine, NatsLink &link, InboundConfig config, std::int64_t api_timeout_ms);
  ~Inbound();
  Inbound(const Inbound &) = delete;
  Inbound &operator=(const Inbound &) = delete;

  /// Before start: the local target exists, the JetStream stream exists; creates the durable
  /// consumer when missing (explicit acks), binds a pull subscription to it and declares the
  /// high-water-mark queue. Fetches nothing. CORQ_* code.
  int prepare(std::string &error);
  void start();
  /// Asks the thread to stop after the batch it is committing.
  void request_stop();
  void join();

  const InboundConfig &config() const { return config_; }
  /// This rule's figures now.
  RuleFigures figures();

 private:
  void run();
  /// Reads the mark: the highest of the hwm queue's messages (normally one), held by hwm_tag_.
  int load_mark(std::string &error);
  /// Takes a fetched batch: duplicates acked, new messages into held_, gaps noticed.
  void take(natsMsgList &list);
  /// Whether held_ may be committed now: not suspect, or the consumer's unacked deliveries are
  /// exactly the held ones (asks JetStream, at most every 200 ms).
  bool may_commit();
  /// Commits held_ in stream order, `batch` at a time, each with the mark, then acks on
  /// JetStream. Retries (backoff, AckWait extended) until done or the rule stops.
  void commit_held();
  /// One transaction of the first `count` held messages. CORQ_* code of the commit.
  int try_commit(std::size_t count, std::uint64_t new_mark);
  void extend_ack_wait();
  bool stopping() const;
  void sleep_for(std::chrono::milliseconds wait);

  corq_engine *const engine_;
  NatsLink &link_;
  const InboundConfig config_;
  const std::string hwm_queue_;
  jsCtx *js_ = nullptr;
  natsSubscription *subscription_ = nullptr;
  corq_consumer *hwm_consumer_ = nullptr;  // opened and used on the rule's thread
  bool hwm_held_ = false;
  std::uint64_t hwm_tag_ = 0;
  std::uint64_t mark_ = 0;
  std::map<std::uint64_t, natsMsg *> held_;  // stream sequence -> its latest delivery (owned)
  std::uint64_t last_delivery_ = 0;          // highest consumer (delivery) sequence seen
  bool suspect_ = false;                     // a delivery may be missing: hold, don't commit
  std::chrono::steady_clock::time_point next_check_{};
  std::chrono::steady_clock::time_point suspect_since_{};  // when the current hold-back began
  std::chrono::steady_clock::time_point last_progress_{};
  std::int64_t api_timeout_ms_ = 5000;
  std::thread thread_;
  RuleStats stats_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // mutex_
};

}  // namespace corq::bridge
