// engine/routing/request_reply.hpp — corq_request's side of request-reply: one private reply queue
// per engine, and the requesters waiting on it for their correlation ids.
//
// The reply queue ("corq.reply-" and 16 hex digits: transient, no dead-letter queue) is declared on
// the engine's first request, with one internal consumer. Requesters do not each consume: whoever
// waits while nobody consumes becomes the pump — it consumes a batch (up to pump_slice_ms), hands
// each reply to the requester whose correlation id it carries, acks it, and lets the next waiter
// take over; the others sleep on a condition variable. A reply whose requester stopped waiting
// (timed out) finds no entry: it is acked, dropped and counted, never delivered to a later request
// (every request gets a fresh correlation id).
//
// Built on the public C API (like a client library would be): the reply queue and its consumer
// keep every rule of ordinary queues and consumers. Control plane in weight: a mutex per reply.
#pragma once

#include <corq/corq.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace corq::core::routing {

/// Counters of request-reply (corq_stats_json "requests").
struct RequestCounters {
  std::atomic<std::uint64_t> sent{0}, replied{0}, timed_out{0}, late_replies{0};
  std::atomic<std::uint64_t> responses_dropped{0};  // corq_respond: the reply queue was gone
};

class RequestReply {
 public:
  /// `counters` outlive it (the engine's).
  RequestReply(corq_engine *engine, RequestCounters &counters)
      : engine_(engine), counters_(counters) {}
  ~RequestReply();
  RequestReply(const RequestReply &) = delete;
  RequestReply &operator=(const RequestReply &) = delete;

  /// corq_request (arguments checked by the caller). On success *reply is a corq_reply_free'able
  /// block; on any error it stays NULL and the thread's error detail is set.
  int request(const char *exchange, const char *routing_key, const corq_message &request,
              std::int32_t timeout_ms, corq_reply **reply);
  /// The engine is closing: wakes every waiter (they return CORQ_ECLOSED) and closes the reply
  /// consumer once no pump runs. Idempotent.
  void shutdown();

  /// The headers a request carries (corq_respond reads them).
  static constexpr const char *reply_to_header = "x-reply-to";
  static constexpr const char *correlation_header = "x-correlation-id";

 private:
  struct Pending {
    corq_reply *reply = nullptr;  // set by the pump
  };
  /// Declares the reply queue and opens its consumer on first use (mutex_ held).
  int ensure_reply_queue();
  /// One pump slice (called without mutex_, with pumping_ set): consumes what came back.
  int pump(std::int32_t wait_ms);
  void deliver(const corq_delivery &d);

  corq_engine *const engine_;
  std::mutex mutex_;
  std::condition_variable replies_;
  std::unordered_map<std::string, Pending *> pending_;  // by correlation id (mutex_)
  std::string reply_queue_;                             // "" until the first request
  corq_consumer *consumer_ = nullptr;                   // used only by the pump
  bool pumping_ = false;                                // mutex_
  bool closed_ = false;                                 // mutex_
  std::uint64_t next_correlation_ = 1;                  // mutex_
  RequestCounters &counters_;
};

/// A reply block: the corq_reply and copies of its payload and headers in one allocation.
corq_reply *make_reply(const corq_delivery &d);

}  // namespace corq::core::routing
