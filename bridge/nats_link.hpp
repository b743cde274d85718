// bridge/nats_link.hpp — the bridge's one connection to the NATS cluster.
//
// libnats (Debian's libnats-dev, "cnats") keeps the connection: it reconnects by itself to any of
// the configured servers, without limit, with reconnect_wait_ms between attempts; the rules only
// ask whether it is connected now. At start the connection must succeed at once (no retry): a
// wrong password, an untrusted certificate or an unreachable cluster is an error of
// corq_bridge_start, not a background retry that hides it.
//
// Secrets: the config's password and token go to libnats and nowhere else. Error texts come from
// libnats (which does not print credentials) and the server URLs, which the config parser refuses
// to take with user:password@ in them.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <mutex>
#include <string>

#include "config.hpp"

namespace corq::bridge {

/// "what failed: libnats's text" for a natsStatus, with libnats's thread-local detail when there
/// is one (e.g. "SSL handshake error: certificate verify failed").
std::string nats_error(const char *what, natsStatus status);

class NatsLink {
 public:
  NatsLink() = default;
  ~NatsLink();
  NatsLink(const NatsLink &) = delete;
  NatsLink &operator=(const NatsLink &) = delete;

  /// Connects with the config's servers, credentials and TLS. CORQ_OK, CORQ_EIO (cannot connect,
  /// refused, TLS failure: `error` says which) or CORQ_ENOMEM.
  int connect(const NatsConfig &config, std::string &error);
  /// Closes the connection (pending publishes are abandoned; callers drain first).
  void close();

  natsConnection *connection() const { return connection_; }
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  /// The server connected to now ("" when disconnected).
  std::string server() const;
  /// The last connection-level event worth telling (disconnect, async error).
  std::string last_error() const;
  /// Disconnections seen since start.
  std::uint64_t disconnects() const { return disconnects_.load(std::memory_order_relaxed); }

 private:
  static void on_disconnected(natsConnection *nc, void *closure);
  static void on_reconnected(natsConnection *nc, void *closure);
  static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure);
  void set_error(const std::string &text);

  natsConnection *connection_ = nullptr;
  natsOptions *options_ = nullptr;
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> disconnects_{0};
  mutable std::mutex mutex_;
  std::string last_error_;  // mutex_
};

}  // namespace corq::bridge
