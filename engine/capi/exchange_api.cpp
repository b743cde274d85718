// engine/capi/exchange_api.cpp — the C API of pub/sub routing: exchanges, bindings, publishing
// through an exchange, exchange stats (DESIGN.md §6; the contract is in corq.h).
#include "capi/exchange_api.hpp"

#include "capi/handles.hpp"
#include "routing/exchange_publish.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using namespace corq::core;
using namespace corq::capi;

namespace corq::capi {

int check_exchange_name(const char *function, const char *name) noexcept {
  if (name == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": exchange name is NULL");
  if (name[0] == '\0') {
    return fail(CORQ_EINVAL, std::string(function) +
                                 ": \"\" is the default exchange: it cannot be declared, deleted "
                                 "or bound");
  }
  std::string error;
  if (!valid_queue_name(name, error)) {
    // The same rules as queue names; say "exchange".
    if (error.rfind("queue name", 0) == 0) error.replace(0, 5, "exchange");
    return fail(CORQ_EINVAL, std::string(function) + ": " + error);
  }
  return CORQ_OK;
}

std::string exchange_stats_json(routing::Router &router, const routing::Exchange &x) {
  return std::string("{\"type\":\"") + routing::exchange_type_name(x.type()) +
         "\",\"durable\":" + (x.options().durable ? "true" : "false") +
         ",\"internal\":" + (x.options().internal ? "true" : "false") +
         ",\"alternate_exchange\":\"" + x.options().alternate_exchange +
         "\",\"stats\":{\"bindings\":" + std::to_string(router.binding_count(x)) +
         ",\"published\":" + std::to_string(x.published.load(std::memory_order_relaxed)) +
         ",\"routed\":" + std::to_string(x.routed.load(std::memory_order_relaxed)) +
         ",\"unroutable\":" + std::to_string(x.unroutable.load(std::memory_order_relaxed)) +
         ",\"alternated\":" + std::to_string(x.alternated.load(std::memory_order_relaxed)) + "}}";
}

}  // namespace corq::capi

namespace {

/// A binding's key argument: NULL means "", at most 255 bytes.
int check_key(const char *function, const char *key) {
  if (key != nullptr && strnlen(key, routing::key_bytes_max + 1) > routing::key_bytes_max)
    return fail(CORQ_EINVAL, std::string(function) + ": key longer than 255 bytes");
  return CORQ_OK;
}

/// corq_bind and friends: checks, then the router. `destination_is_queue` picks the namespace of
/// `destination`; `add` binds, else unbinds.
int change_binding(const char *function, corq_engine *engine, const char *source,
                   const char *destination, bool destination_is_queue, const char *key,
                   const corq_header *arguments, std::size_t argument_count, bool add) {
  if (engine == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": engine is NULL");
  if (const int rc = check_exchange_name(function, source); rc != CORQ_OK) return rc;
  if (destination_is_queue) {
    if (const int rc = check_queue_name(destination); rc != CORQ_OK) return rc;
  } else if (const int rc = check_exchange_name(function, destination); rc != CORQ_OK) {
    return rc;
  }
  if (const int rc = check_key(function, key); rc != CORQ_OK) return rc;
  if (argument_count != 0 && arguments == nullptr)
    return fail(CORQ_EINVAL, std::string(function) + ": arguments is NULL but argument_count > 0");
  return guarded(function, [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, std::string(function) + ": the engine is closed");
    routing::Destination to;
    if (destination_is_queue) {
      to.queue = e.find(destination);
      if (to.queue == nullptr) {
        return fail(CORQ_ENOENT, std::string(function) + ": no queue named '" + destination + "'");
      }
    } else {
      to.exchange = e.router().find(destination);
      if (to.exchange == nullptr) {
        return fail(CORQ_ENOENT,
                    std::string(function) + ": no exchange named '" + destination + "'");
      }
    }
    std::string error;
    const std::string_view key_view = key == nullptr ? "" : key;
    const int rc = e.change_binding(source, to, key_view, arguments, argument_count, add, error);
    return rc == CORQ_OK ? rc : fail(rc, std::string(function) + ": " + error);
  });
}

/// The size of the first version of corq_exchange_stats: programs built against it stay valid
/// when the struct grows at its end.
constexpr std::size_t exchange_stats_v1_bytes = 48;
static_assert(sizeof(corq_exchange_stats) >= exchange_stats_v1_bytes);

}  // namespace

extern "C" {

int corq_exchange_declare(corq_engine *engine, const char *exchange, const char *type,
                          const corq_config *options) {
  constexpr const char *function = "corq_exchange_declare";
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_exchange_declare: engine is NULL");
  if (const int rc = check_exchange_name(function, exchange); rc != CORQ_OK) return rc;
  // corq.h: the "corq." namespace is the engine's (its generated queue names live there too), as
  // RabbitMQ reserves "amq.".
  if (std::string_view(exchange).starts_with("corq.")) {
    return fail(CORQ_EINVAL, std::string("corq_exchange_declare: exchange name '") + exchange +
                                 "': names starting with 'corq.' are reserved");
  }
  if (type == nullptr) return fail(CORQ_EINVAL, "corq_exchange_declare: type is NULL");
  const auto parsed_type = routing::exchange_type_from(type);
  if (!parsed_type) {
    return fail(CORQ_EINVAL, std::string("corq_exchange_declare: unknown exchange type '") + type +
                                 "' (expected direct, fanout, topic or headers)");
  }
  return guarded(function, [&] {
    Engine &e = *engine_of(engine);
    static const OptionMap no_options;
    const OptionMap &map = options == nullptr ? no_options : options->options;
    ExchangeOptions parsed;
    std::string error;
    if (!parse_exchange_options(map, /*durable_default=*/e.journal() != nullptr, parsed, error))
      return fail(CORQ_EINVAL, "corq_exchange_declare: " + error);
    if (e.journal() == nullptr) parsed.durable = false;  // nothing is durable in memory
    const int rc = e.declare_exchange(exchange, *parsed_type, parsed, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_exchange_declare: " + error);
  });
}

int corq_exchange_delete(corq_engine *engine, const char *exchange) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_exchange_delete: engine is NULL");
  if (const int rc = check_exchange_name("corq_exchange_delete", exchange); rc != CORQ_OK)
    return rc;
  return guarded("corq_exchange_delete", [&] {
    Engine &e = *engine_of(engine);
    std::string error;
    const int rc = e.remove_exchange(exchange, error);
    return rc == CORQ_OK ? rc : fail(rc, "corq_exchange_delete: " + error);
  });
}

int corq_bind(corq_engine *engine, const char *exchange, const char *queue, const char *key,
              const corq_header *arguments, size_t argument_count) {
  return change_binding("corq_bind", engine, exchange, queue, true, key, arguments, argument_count,
                        true);
}

int corq_unbind(corq_engine *engine, const char *exchange, const char *queue, const char *key,
                const corq_header *arguments, size_t argument_count) {
  return change_binding("corq_unbind", engine, exchange, queue, true, key, arguments,
                        argument_count, false);
}

int corq_exchange_bind(corq_engine *engine, const char *source, const char *destination,
                       const char *key, const corq_header *arguments, size_t argument_count) {
  return change_binding("corq_exchange_bind", engine, source, destination, false, key, arguments,
                        argument_count, true);
}

int corq_exchange_unbind(corq_engine *engine, const char *source, const char *destination,
                         const char *key, const corq_header *arguments, size_t argument_count) {
  return change_binding("corq_exchange_unbind", engine, source, destination, false, key, arguments,
                        argument_count, false);
}

int corq_exchange_publish(corq_engine *engine, const char *exchange, const char *routing_key,
                          const corq_message *message, const corq_publish_options *options,
                          uint64_t *message_id, uint32_t *routed) {
  if (routed != nullptr) *routed = 0;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_exchange_publish: engine is NULL");
  if (message == nullptr) return fail(CORQ_EINVAL, "corq_exchange_publish: message is NULL");
  if (exchange == nullptr) return fail(CORQ_EINVAL, "corq_exchange_publish: exchange name is NULL");
  // A declared exchange's name was checked when it was declared: exchange_publish checks the name
  // only when no exchange has it (EINVAL for a bad one, else ENOENT), off the hot path.
  if (exchange[0] == '\0' &&
      check_queue_name(routing_key == nullptr ? "" : routing_key) != CORQ_OK) {
    return fail(CORQ_EINVAL, std::string("corq_exchange_publish: the default exchange routes to "
                                         "the queue named by the routing key: ") +
                                 corq_last_error());
  }
  return guarded("corq_exchange_publish", [&] {
    const int rc = routing::exchange_publish(*engine_of(engine), exchange, routing_key, *message,
                                             options, message_id, routed);
    if (rc != CORQ_OK) {
      return fail(rc, std::string("corq_exchange_publish: ") + corq_last_error());
    }
    return rc;
  });
}

int corq_exchange_stats_get(corq_engine *engine, const char *exchange, corq_exchange_stats *out) {
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_exchange_stats_get: engine is NULL");
  if (const int rc = check_exchange_name("corq_exchange_stats_get", exchange); rc != CORQ_OK)
    return rc;
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_exchange_stats_get: out is NULL");
  if (out->struct_size != exchange_stats_v1_bytes &&
      out->struct_size < sizeof(corq_exchange_stats)) {
    return fail(CORQ_EINVAL,
                "corq_exchange_stats_get: out->struct_size must be sizeof(corq_exchange_stats) (" +
                    std::to_string(sizeof(corq_exchange_stats)) + "), got " +
                    std::to_string(out->struct_size));
  }
  return guarded("corq_exchange_stats_get", [&] {
    Engine &e = *engine_of(engine);
    std::shared_ptr<routing::Exchange> x = e.router().find(exchange);
    if (x == nullptr) {
      return fail(CORQ_ENOENT,
                  std::string("corq_exchange_stats_get: no exchange named '") + exchange + "'");
    }
    corq_exchange_stats s{};
    s.bindings = e.router().binding_count(*x);
    s.published = x->published.load(std::memory_order_relaxed);
    s.routed = x->routed.load(std::memory_order_relaxed);
    s.unroutable = x->unroutable.load(std::memory_order_relaxed);
    s.alternated = x->alternated.load(std::memory_order_relaxed);
    // Fill only what both sides know (the struct grows at its end); struct_size says what.
    const std::size_t size = std::min<std::size_t>(out->struct_size, sizeof s);
    s.struct_size = static_cast<std::uint32_t>(size);
    std::memcpy(out, &s, size);
    return CORQ_OK;
  });
}

int corq_request(corq_engine *engine, const char *exchange, const char *routing_key,
                 const corq_message *request, int32_t timeout_ms, corq_reply **reply) {
  if (reply == nullptr) return fail(CORQ_EINVAL, "corq_request: reply is NULL");
  *reply = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_request: engine is NULL");
  if (request == nullptr) return fail(CORQ_EINVAL, "corq_request: request is NULL");
  if (exchange == nullptr) return fail(CORQ_EINVAL, "corq_request: exchange name is NULL");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_request: timeout_ms must be -1 or >= 0");
  return guarded("corq_request", [&] {
    Engine &e = *engine_of(engine);
    if (e.closed()) return fail(CORQ_ECLOSED, "corq_request: the engine is closed");
    const int rc = e.request_reply().request(exchange, routing_key, *request, timeout_ms, reply);
    return rc == CORQ_OK ? rc : fail(rc, std::string("corq_request: ") + corq_last_error());
  });
}

void corq_reply_free(corq_reply *reply) { std::free(reply); }

int corq_respond(corq_consumer *consumer, uint64_t tag, const corq_message *response) {
  if (consumer == nullptr) return fail(CORQ_EINVAL, "corq_respond: consumer is NULL");
  if (response == nullptr) return fail(CORQ_EINVAL, "corq_respond: response is NULL");
  if (is_group_member(consumer)) {
    return fail(CORQ_EINVAL,
                "corq_respond: a stream group's deliveries are records, not requests (respond "
                "with corq_exchange_publish and settle the record)");
  }
  Consumer &c = *consumer_of(consumer);
  Engine &e = c.queue().engine();
  if (e.closed()) return fail(CORQ_ECLOSED, "corq_respond: the engine is closed");
  return guarded("corq_respond", [&] {
    const Message *request = c.held(tag);
    if (request == nullptr) {
      return fail(CORQ_ESTATE, "corq_respond: tag " + std::to_string(tag) +
                                   " is not an unsettled delivery of this consumer");
    }
    bool found = false;
    const std::string reply_to(request->header(routing::RequestReply::reply_to_header, found));
    if (!found) {
      return fail(CORQ_EINVAL,
                  "corq_respond: the delivery has no x-reply-to header (not a request); nothing "
                  "was acked");
    }
    const std::string correlation(
        request->header(routing::RequestReply::correlation_header, found));
    if (response->header_count >= headers_max) {
      return fail(CORQ_EINVAL,
                  "corq_respond: a response has at most 63 headers of its own (corq "
                  "adds x-correlation-id)");
    }
    if (response->header_count != 0 && response->headers == nullptr)
      return fail(CORQ_EINVAL, "corq_respond: response headers is NULL but header_count > 0");
    std::vector<corq_header> headers(response->headers, response->headers + response->header_count);
    headers.push_back(
        {routing::RequestReply::correlation_header, correlation.data(), correlation.size()});
    corq_message m = *response;
    m.headers = headers.data();
    m.header_count = headers.size();
    std::size_t shard = 0;
    Queue *reply_queue = e.lookup_for_publish(reply_to.c_str(), shard);
    if (reply_queue == nullptr) {
      e.request_counters().responses_dropped.fetch_add(1, std::memory_order_relaxed);
    } else {
      corq_publish_options options{sizeof options, 0, 0, 0, 0, 0};  // full: fail at once
      const int rc = publish_batch(e, *reply_queue, &m, 1, &options, shard, nullptr);
      if (rc == CORQ_ENOENT) {  // deleted under us: as if it were gone already
        e.request_counters().responses_dropped.fetch_add(1, std::memory_order_relaxed);
      } else if (rc != CORQ_OK) {
        return fail(rc, std::string("corq_respond: ") + corq_last_error() + "; nothing was acked");
      }
    }
    const int rc = c.ack(tag);
    return rc == CORQ_OK ? rc : fail(rc, std::string("corq_respond: ") + corq_last_error());
  });
}

}  // extern "C"
