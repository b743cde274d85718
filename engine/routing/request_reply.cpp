// engine/routing/request_reply.cpp — see request_reply.hpp.
#include "routing/request_reply.hpp"

#include "capi/error.hpp"
#include "options/options.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

// GCC 12 reports false -Wrestrict overlaps inside std::string assignments here (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace corq::core::routing {
namespace {

using Clock = std::chrono::steady_clock;

/// The longest a pump consumes before it lets another waiter (or its own deadline) be checked.
constexpr std::int32_t pump_slice_ms = 50;
constexpr std::uint32_t reply_prefetch = 256;
constexpr std::size_t reply_batch_max = 64;
/// A request keeps two headers for itself (x-reply-to, x-correlation-id).
constexpr std::size_t request_headers_max = headers_max - 2;

std::string hex16(std::uint64_t n) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(n));
  return text;
}

std::uint64_t random64() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

}  // namespace

corq_reply *make_reply(const corq_delivery &d) {
  std::size_t bytes = sizeof(corq_reply) + d.header_count * sizeof(corq_header) + d.len;
  for (std::size_t i = 0; i < d.header_count; ++i)
    bytes += std::strlen(d.headers[i].key) + 1 + d.headers[i].value_len;
  auto *block = static_cast<char *>(std::malloc(bytes));
  if (block == nullptr) return nullptr;
  auto *reply = reinterpret_cast<corq_reply *>(block);
  auto *headers = reinterpret_cast<corq_header *>(block + sizeof(corq_reply));
  char *cursor = reinterpret_cast<char *>(headers + d.header_count);
  for (std::size_t i = 0; i < d.header_count; ++i) {
    const std::size_t key_len = std::strlen(d.headers[i].key);
    std::memcpy(cursor, d.headers[i].key, key_len + 1);
    headers[i].key = cursor;
    cursor += key_len + 1;
    if (d.headers[i].value_len != 0)
      std::memcpy(cursor, d.headers[i].value, d.headers[i].value_len);
    headers[i].value = cursor;
    headers[i].value_len = d.headers[i].value_len;
    cursor += d.headers[i].value_len;
  }
  if (d.len != 0) std::memcpy(cursor, d.data, d.len);
  *reply = corq_reply{cursor, d.len, d.header_count != 0 ? headers : nullptr, d.header_count};
  return reply;
}

RequestReply::~RequestReply() { shutdown(); }

void RequestReply::shutdown() {
  std::unique_lock lock(mutex_);
  closed_ = true;
  replies_.notify_all();
  // A pump in corq_consume returns soon: the engine is closed (or its slice ends).
  replies_.wait(lock, [&] { return !pumping_; });
  if (consumer_ != nullptr) corq_consumer_close(std::exchange(consumer_, nullptr));
}

int RequestReply::ensure_reply_queue() {
  if (!reply_queue_.empty()) return CORQ_OK;
  std::string name = "corq.reply-";
  name += hex16(random64());
  corq_config *config = corq_config_new();
  if (config == nullptr) return capi::fail(CORQ_ENOMEM, "out of memory");
  corq_config_set(config, "durable", "false");
  corq_config_set(config, "dead_letter_queue", "");
  int rc = corq_queue_declare(engine_, name.c_str(), config);
  corq_config_free(config);
  if (rc != CORQ_OK) return rc;
  rc = corq_consumer_open(engine_, name.c_str(), reply_prefetch, &consumer_);
  if (rc != CORQ_OK) return rc;
  reply_queue_ = name;
  return CORQ_OK;
}

void RequestReply::deliver(const corq_delivery &d) {
  std::string correlation;
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (std::strcmp(d.headers[i].key, correlation_header) == 0) {
      correlation.assign(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len);
      break;
    }
  }
  std::lock_guard lock(mutex_);
  auto it = pending_.find(correlation);
  if (it == pending_.end() || it->second->reply != nullptr) {
    counters_.late_replies.fetch_add(1, std::memory_order_relaxed);  // abandoned, or a duplicate
    return;
  }
  it->second->reply = make_reply(d);
  if (it->second->reply == nullptr) counters_.late_replies.fetch_add(1, std::memory_order_relaxed);
}

int RequestReply::pump(std::int32_t wait_ms) {
  corq_delivery batch[reply_batch_max];
  const int n = corq_consume(consumer_, batch, reply_batch_max, wait_ms);
  for (int i = 0; i < n; ++i) {
    deliver(batch[i]);
    corq_ack(consumer_, batch[i].tag);  // copied out (or dropped): settled at once
  }
  return n < 0 ? n : CORQ_OK;
}

int RequestReply::request(const char *exchange, const char *routing_key,
                          const corq_message &request, std::int32_t timeout_ms,
                          corq_reply **reply) {
  if (request.header_count > request_headers_max) {
    return capi::fail(CORQ_EINVAL,
                      "a request has at most 62 headers of its own (corq adds "
                      "x-reply-to and x-correlation-id)");
  }
  if (request.header_count != 0 && request.headers == nullptr)
    return capi::fail(CORQ_EINVAL, "request headers is NULL but header_count > 0");
  Pending pending;
  std::string correlation;
  std::string reply_to;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return capi::fail(CORQ_ECLOSED, "the engine is closed");
    if (const int rc = ensure_reply_queue(); rc != CORQ_OK) return rc;
    correlation = "c";
    correlation += hex16(next_correlation_++);
    reply_to = reply_queue_;
    pending_.emplace(correlation, &pending);
  }
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    pending_.erase(correlation);
    if (pending.reply != nullptr) corq_reply_free(pending.reply);
  };
  std::vector<corq_header> headers(request.headers, request.headers + request.header_count);
  headers.push_back({reply_to_header, reply_to.data(), reply_to.size()});
  headers.push_back({correlation_header, correlation.data(), correlation.size()});
  corq_message m = request;
  m.headers = headers.data();
  m.header_count = headers.size();
  corq_publish_options options{sizeof options, CORQ_PUBLISH_MANDATORY, 30'000, 0, 0, 0};
  if (timeout_ms >= 0) options.timeout_ms = timeout_ms;  // a full request queue waits no longer
  const auto deadline = timeout_ms < 0 ? Clock::time_point::max()
                                       : Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (const int rc =
          corq_exchange_publish(engine_, exchange, routing_key, &m, &options, nullptr, nullptr);
      rc != CORQ_OK) {
    forget();
    return rc;  // CORQ_EUNROUTABLE: no responder
  }
  counters_.sent.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(mutex_);
  while (pending.reply == nullptr) {
    const auto now = Clock::now();
    int failure = CORQ_OK;
    if (closed_) failure = CORQ_ECLOSED;
    if (failure == CORQ_OK && now >= deadline) failure = CORQ_ETIMEDOUT;
    if (failure == CORQ_OK && !pumping_ && consumer_ != nullptr) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      const auto slice = static_cast<std::int32_t>(
          std::min<std::int64_t>(pump_slice_ms, std::max<std::int64_t>(left.count(), 0)));
      pumping_ = true;
      lock.unlock();
      const int rc = pump(slice);
      lock.lock();
      pumping_ = false;
      replies_.notify_all();
      if (rc == CORQ_ENOENT) {
        // Someone deleted the reply queue: what was on its way is lost (those requests time out);
        // the next request declares a new one.
        corq_consumer_close(std::exchange(consumer_, nullptr));
        reply_queue_.clear();
      } else if (rc != CORQ_OK) {
        failure = rc;
      }
    } else if (failure == CORQ_OK) {
      replies_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(pump_slice_ms)));
    }
    if (failure != CORQ_OK && pending.reply == nullptr) {
      pending_.erase(correlation);
      if (failure == CORQ_ETIMEDOUT) {
        counters_.timed_out.fetch_add(1, std::memory_order_relaxed);
        return capi::fail(CORQ_ETIMEDOUT, "no response within " + std::to_string(timeout_ms) +
                                              " ms (a late one will be dropped)");
      }
      return capi::fail(failure, failure == CORQ_ECLOSED ? "the engine is closed"
                                                         : std::string(corq_last_error()));
    }
  }
  pending_.erase(correlation);
  counters_.replied.fetch_add(1, std::memory_order_relaxed);
  *reply = pending.reply;
  return CORQ_OK;
}

}  // namespace corq::core::routing
