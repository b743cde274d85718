// bridge/nats_link.cpp — connecting to the cluster (nats_link.hpp).
#include "nats_link.hpp"

#include <corq/corq.h>

#include <vector>

namespace corq::bridge {

std::string nats_error(const char *what, natsStatus status) {
  const std::string status_text = natsStatus_GetText(status);
  std::string text = std::string(what) + ": " + status_text;
  natsStatus last = NATS_OK;
  const char *detail = nats_GetLastError(&last);
  // libnats's detail is "(file.c:line): text"; add it only when it says more than the status.
  if (detail != nullptr && detail[0] != '\0') {
    std::string extra = detail;
    if (extra[0] == '(') {
      const auto close = extra.find("): ");
      if (close != std::string::npos) extra = extra.substr(close + 3);
    }
    if (!extra.empty() && extra != status_text && text.find(extra) == std::string::npos)
      text += " (" + extra + ")";
  }
  return text;
}

namespace {

/// A server that requires a client certificate checks it only after the TLS 1.3 handshake, then
/// closes the connection: libnats reports a protocol error ("Expected 'PONG', got ''") or a
/// closed connection, which names nothing; the caller adds what is likely missing.
bool closed_after_handshake(natsStatus status) {
  return status == NATS_PROTOCOL_ERROR || status == NATS_CONNECTION_CLOSED ||
         status == NATS_IO_ERROR;
}

}  // namespace

NatsLink::~NatsLink() { close(); }

void NatsLink::close() {
  if (connection_ != nullptr) {
    // Posts the disconnected and closed callbacks; on_closed frees their closure.
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
    connection_ = nullptr;
  }
  delete callback_ref_;  // only set while no connection owns it
  callback_ref_ = nullptr;
  if (options_ != nullptr) {
    natsOptions_Destroy(options_);
    options_ = nullptr;
  }
  events_->connected.store(false, std::memory_order_release);
}

void NatsLink::Events::set_error(const std::string &text) {
  std::lock_guard lock(mutex);
  last_error = text;
}

std::string NatsLink::last_error() const {
  std::lock_guard lock(events_->mutex);
  return events_->last_error;
}

std::string NatsLink::server() const {
  if (connection_ == nullptr || !connected()) return {};
  char url[512] = {};
  if (natsConnection_GetConnectedUrl(connection_, url, sizeof url) != NATS_OK) return {};
  return url;
}

void NatsLink::on_disconnected(natsConnection *, void *closure) {
  Events &events = events_of(closure);
  events.connected.store(false, std::memory_order_release);
  events.disconnects.fetch_add(1, std::memory_order_relaxed);
  events.set_error("disconnected from the NATS server; reconnecting");
}

void NatsLink::on_reconnected(natsConnection *, void *closure) {
  events_of(closure).connected.store(true, std::memory_order_release);
}

void NatsLink::on_error(natsConnection *, natsSubscription *, natsStatus err, void *closure) {
  events_of(closure).set_error(std::string("NATS: ") + natsStatus_GetText(err));
}

void NatsLink::on_closed(natsConnection *, void *closure) {
  // libnats runs a connection's callbacks in the order posted, and closed is posted last (after
  // its reader, flusher and reconnect threads are joined): nothing uses the closure after this.
  delete static_cast<EventsRef *>(closure);
}

int NatsLink::connect(const NatsConfig &config, std::string &error) {
  close();
  auto failed = [&](const char *what, natsStatus s) {
    error = nats_error(what, s);
    close();
    return s == NATS_NO_MEMORY ? CORQ_ENOMEM : CORQ_EIO;
  };
  natsStatus s = natsOptions_Create(&options_);
  if (s != NATS_OK) return failed("cannot create NATS options", s);
  std::vector<const char *> servers;
  for (const std::string &url : config.servers) servers.push_back(url.c_str());
  s = natsOptions_SetServers(options_, servers.data(), static_cast<int>(servers.size()));
  if (s != NATS_OK) return failed("bad server list", s);
  // Keep the configured order (the operator's preference) only for the first connect; libnats
  // randomises reconnects by default, which spreads bridges over the cluster.
  natsOptions_SetName(options_, config.name.c_str());
  natsOptions_SetTimeout(options_, config.connect_timeout_ms);
  natsOptions_SetMaxReconnect(options_, -1);  // never give up once connected
  natsOptions_SetReconnectWait(options_, config.reconnect_wait_ms);
  natsOptions_SetRetryOnFailedConnect(options_, false, nullptr, nullptr);
  if (config.send_asap) natsOptions_SetSendAsap(options_, true);
  events_ = std::make_shared<Events>();
  callback_ref_ = new EventsRef(events_);
  natsOptions_SetDisconnectedCB(options_, &NatsLink::on_disconnected, callback_ref_);
  natsOptions_SetReconnectedCB(options_, &NatsLink::on_reconnected, callback_ref_);
  natsOptions_SetErrorHandler(options_, &NatsLink::on_error, callback_ref_);
  natsOptions_SetClosedCB(options_, &NatsLink::on_closed, callback_ref_);
  if (!config.user.empty()) {
    s = natsOptions_SetUserInfo(options_, config.user.c_str(), config.password.c_str());
    if (s != NATS_OK) return failed("cannot set user credentials", s);
  }
  if (!config.token.empty()) {
    s = natsOptions_SetToken(options_, config.token.c_str());
    if (s != NATS_OK) return failed("cannot set token", s);
  }
  if (!config.creds_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(options_, config.creds_file.c_str(), nullptr);
    if (s != NATS_OK) return failed("cannot use the creds file", s);
  }
  if (!config.nkey_public.empty()) {
    s = natsOptions_SetNKeyFromSeed(options_, config.nkey_public.c_str(),
                                    config.nkey_seed_file.c_str());
    if (s != NATS_OK) return failed("cannot use the nkey seed file", s);
  }
  if (config.tls) {
    s = natsOptions_SetSecure(options_, true);
    if (s != NATS_OK) return failed("cannot turn TLS on (libnats built without TLS?)", s);
    if (!config.tls_ca.empty()) {
      s = natsOptions_LoadCATrustedCertificates(options_, config.tls_ca.c_str());
      if (s != NATS_OK) return failed(("cannot load tls_ca '" + config.tls_ca + "'").c_str(), s);
    }
    if (!config.tls_cert.empty()) {
      s = natsOptions_LoadCertificatesChain(options_, config.tls_cert.c_str(),
                                            config.tls_key.c_str());
      if (s != NATS_OK) return failed("cannot load tls_cert/tls_key", s);
    }
    if (!config.tls_hostname.empty()) {
      s = natsOptions_SetExpectedHostname(options_, config.tls_hostname.c_str());
      if (s != NATS_OK) return failed("cannot set tls_hostname", s);
    }
  }
  // Up from the moment libnats is connected: a disconnect right after it must not be overwritten.
  events_->connected.store(true, std::memory_order_release);
  s = natsConnection_Connect(&connection_, options_);
  if (s != NATS_OK) {
    connection_ = nullptr;
    const int rc = failed("cannot connect to the NATS servers", s);
    if (closed_after_handshake(s) && config.tls && config.tls_cert.empty())
      error += "; if the servers require a client certificate, set tls_cert and tls_key";
    return rc;
  }
  callback_ref_ = nullptr;  // the connection's now: on_closed deletes it
  return CORQ_OK;
}

}  // namespace corq::bridge
