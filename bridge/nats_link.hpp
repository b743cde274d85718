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
#include <memory>
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
  bool connected() const { return events_->connected.load(std::memory_order_acquire); }
  /// The server connected to now ("" when disconnected).
  std::string server() const;
  /// The last connection-level event worth telling (disconnect, async error).
  std::string last_error() const;
  /// Disconnections seen since start.
  std::uint64_t disconnects() const { return events_->disconnects.load(std::memory_order_relaxed); }

 private:
  /// What libnats's connection callbacks write, kept apart from the NatsLink: libnats runs them on
  /// its own callback thread (one per process, shared by every connection), the disconnected and
  /// closed ones only after natsConnection_Close has returned — so they can come after the
  /// NatsLink (and the bridge) is gone. Their closure is a heap-allocated shared_ptr to these
  /// Events that on_closed, the last callback of a connection, deletes.
  struct Events {
    std::atomic<bool> connected{false};
    std::atomic<std::uint64_t> disconnects{0};
    std::mutex mutex;
    std::string last_error;  // mutex
    void set_error(const std::string &text);
  };
  using EventsRef = std::shared_ptr<Events>;
  static Events &events_of(void *closure) { return **static_cast<EventsRef *>(closure); }
  static void on_disconnected(natsConnection *nc, void *closure);
  static void on_reconnected(natsConnection *nc, void *closure);
  static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure);
  static void on_closed(natsConnection *nc, void *closure);

  natsConnection *connection_ = nullptr;
  natsOptions *options_ = nullptr;
  // A fresh one per connect(), so that a late callback of an earlier connection changes nothing.
  EventsRef events_ = std::make_shared<Events>();
  // The callbacks' closure until libnats owns it (a connection made): connect()'s failure paths
  // delete it, as libnats makes no callback for a connection that never came up.
  EventsRef *callback_ref_ = nullptr;
};

}  // namespace corq::bridge
