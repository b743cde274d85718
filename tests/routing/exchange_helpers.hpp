// tests/routing/exchange_helpers.hpp — what the exchange suites share, over the public C API.
#pragma once

#include "engine/helpers.hpp"

#include <set>

namespace corq::test {

/// Declares an exchange (NULL options when `options` is empty); returns the code.
inline int declare_exchange(corq_engine *engine, const std::string &name, const char *type,
                            const Options &options = {}) {
  if (options.empty()) return corq_exchange_declare(engine, name.c_str(), type, nullptr);
  ConfigPtr config;
  if (const int rc = try_make_config(options, config); rc != CORQ_OK) return rc;
  return corq_exchange_declare(engine, name.c_str(), type, config.get());
}

inline void must_declare_exchange(corq_engine *engine, const std::string &name, const char *type,
                                  const Options &options = {}) {
  must(declare_exchange(engine, name, type, options), "exchange_declare " + name);
}

inline void must_bind(corq_engine *engine, const std::string &exchange, const std::string &queue,
                      const char *key, const std::vector<corq_header> &arguments = {}) {
  must(corq_bind(engine, exchange.c_str(), queue.c_str(), key,
                 arguments.empty() ? nullptr : arguments.data(), arguments.size()),
       "bind " + queue + " to " + exchange);
}

/// Publishes through an exchange; returns the code, the routed count in *routed.
inline int try_xpublish(corq_engine *engine, const std::string &exchange, const char *key,
                        std::string_view payload, std::uint32_t *routed = nullptr,
                        const corq_publish_options *options = nullptr,
                        const std::vector<corq_header> &headers = {},
                        const char *dedup_id = nullptr, std::uint64_t *id = nullptr) {
  const corq_message m = message(payload, headers, dedup_id);
  return corq_exchange_publish(engine, exchange.c_str(), key, &m, options, id, routed);
}

/// Publishes through an exchange and returns how many queues took it; throws unless it succeeds.
inline std::uint32_t xpublish(corq_engine *engine, const std::string &exchange, const char *key,
                              std::string_view payload,
                              const std::vector<corq_header> &headers = {}) {
  std::uint32_t routed = 0;
  must(try_xpublish(engine, exchange, key, payload, &routed, nullptr, headers),
       "exchange_publish to " + exchange);
  return routed;
}

inline corq_exchange_stats exchange_stats(corq_engine *engine, const std::string &exchange) {
  corq_exchange_stats s{};
  s.struct_size = sizeof s;
  must(corq_exchange_stats_get(engine, exchange.c_str(), &s), "exchange_stats " + exchange);
  return s;
}

/// The payloads ready in `queue` (consumed and acked), as a multiset.
inline std::multiset<std::string> drained(corq_engine *engine, const std::string &queue) {
  const std::vector<std::string> all = drain_acking(engine, queue);
  return {all.begin(), all.end()};
}

/// A presence-only binding argument (NULL value).
inline corq_header present(const char *key) { return corq_header{key, nullptr, 0}; }

}  // namespace corq::test
