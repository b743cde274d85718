// bridge/bridge.cpp — the C API of corq/bridge.h: a bridge is one NATS connection and a thread
// per rule.
#include <corq/bridge.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "config.hpp"
#include "figures.hpp"
#include "inbound.hpp"
#include "nats_link.hpp"
#include "outbound.hpp"

namespace {

thread_local std::string bridge_error;

int fail(int code, const std::string &detail) {
  bridge_error = detail;
  return code;
}

/// The local queue or stream a rule names exists (checked without taking anything from it).
int check_local(corq_engine *engine, const corq::bridge::LocalEnd &end, const std::string &where,
                std::string &error) {
  int rc = CORQ_OK;
  if (end.is_stream()) {
    corq_stream_stats st{};
    st.struct_size = sizeof st;
    rc = corq_stream_stats_get(engine, end.stream.c_str(), &st);
  } else {
    corq_queue_stats st{};
    st.struct_size = sizeof st;
    rc = corq_queue_stats_get(engine, end.queue.c_str(), &st);
  }
  if (rc != CORQ_OK)
    error = where + "local " + (end.is_stream() ? "stream '" : "queue '") + end.name() +
            "': " + corq_last_error();
  return rc;
}

}  // namespace

struct corq_bridge {
  corq_engine *engine = nullptr;
  std::string engine_id;
  corq::bridge::BridgeConfig config;
  corq::bridge::NatsLink link;
  std::vector<std::unique_ptr<corq::bridge::Outbound>> outbound;
  std::vector<std::unique_ptr<corq::bridge::Inbound>> inbound;
};

namespace {

corq::bridge::BridgeFigures figures_of(corq_bridge &bridge) {
  corq::bridge::BridgeFigures f;
  f.engine_id = bridge.engine_id;
  f.connected = bridge.link.connected();
  f.server = bridge.link.server();
  f.disconnects = bridge.link.disconnects();
  f.last_error = bridge.link.last_error();
  for (auto &rule : bridge.outbound) f.rules.push_back(rule->figures());
  for (auto &rule : bridge.inbound) f.rules.push_back(rule->figures());
  return f;
}

/// corq_bridge_stats_json and corq_bridge_metrics_text: the figures rendered into malloc'd text
/// (corq_free is free()).
int render(corq_bridge *bridge, char **out, const char *function,
           std::string (*renderer)(const corq::bridge::BridgeFigures &)) {
  bridge_error.clear();
  if (bridge == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": bridge is NULL");
  if (out == nullptr) return fail(CORQ_EINVAL, std::string(function) + ": output is NULL");
  *out = nullptr;
  try {
    const std::string text = renderer(figures_of(*bridge));
    char *copy = static_cast<char *>(std::malloc(text.size() + 1));
    if (copy == nullptr) return fail(CORQ_ENOMEM, std::string(function) + ": out of memory");
    std::memcpy(copy, text.c_str(), text.size() + 1);
    *out = copy;
    return CORQ_OK;
  } catch (const std::bad_alloc &) {
    return fail(CORQ_ENOMEM, std::string(function) + ": out of memory");
  }
}

}  // namespace

extern "C" {

const char *corq_bridge_last_error(void) { return bridge_error.c_str(); }

int corq_bridge_start(corq_engine *engine, const char *config, corq_bridge **out) {
  bridge_error.clear();
  if (out == nullptr) return fail(CORQ_EINVAL, "corq_bridge_start: out is NULL");
  *out = nullptr;
  if (engine == nullptr) return fail(CORQ_EINVAL, "corq_bridge_start: engine is NULL");
  if (config == nullptr) return fail(CORQ_EINVAL, "corq_bridge_start: config is NULL");
  try {
    auto bridge = std::make_unique<corq_bridge>();
    bridge->engine = engine;
    std::string error;
    if (!corq::bridge::parse_config(config, bridge->config, error))
      return fail(CORQ_EINVAL, "corq_bridge_start: config " + error);
    char id[37];
    if (const int rc = corq_engine_id(engine, id); rc != CORQ_OK)
      return fail(rc, std::string("corq_bridge_start: ") + corq_last_error());
    bridge->engine_id = id;
    // Local names first (no network needed to find a typo), then the cluster.
    for (const auto &rule : bridge->config.outbound) {
      if (const int rc = check_local(engine, rule.from, "[outbound " + rule.name + "] ", error);
          rc != CORQ_OK)
        return fail(rc, "corq_bridge_start: " + error);
    }
    for (const auto &rule : bridge->config.inbound) {
      if (const int rc = check_local(engine, rule.to, "[inbound " + rule.name + "] ", error);
          rc != CORQ_OK)
        return fail(rc, "corq_bridge_start: " + error);
    }
    if (const int rc = bridge->link.connect(bridge->config.nats, error); rc != CORQ_OK)
      return fail(rc, "corq_bridge_start: " + error);
    for (const auto &rule : bridge->config.outbound) {
      bridge->outbound.push_back(
          std::make_unique<corq::bridge::Outbound>(engine, bridge->link, rule, bridge->engine_id));
      if (const int rc = bridge->outbound.back()->prepare(error); rc != CORQ_OK)
        return fail(rc, "corq_bridge_start: " + error);
    }
    for (const auto &rule : bridge->config.inbound) {
      bridge->inbound.push_back(std::make_unique<corq::bridge::Inbound>(
          engine, bridge->link, rule, bridge->config.nats.jetstream_timeout_ms));
      if (const int rc = bridge->inbound.back()->prepare(error); rc != CORQ_OK)
        return fail(rc, "corq_bridge_start: " + error);
    }
    // Local consumers last: a start that fails above has taken nothing and made no group.
    for (auto &rule : bridge->outbound) {
      if (const int rc = rule->open_local(error); rc != CORQ_OK)
        return fail(rc, "corq_bridge_start: " + error);
    }
    for (auto &rule : bridge->outbound) rule->start();
    for (auto &rule : bridge->inbound) rule->start();
    *out = bridge.release();
    return CORQ_OK;
  } catch (const std::bad_alloc &) {
    return fail(CORQ_ENOMEM, "corq_bridge_start: out of memory");
  } catch (const std::exception &e) {
    return fail(CORQ_EIO, std::string("corq_bridge_start: ") + e.what());
  }
}

int corq_bridge_config_check(const char *config) {
  bridge_error.clear();
  if (config == nullptr) return fail(CORQ_EINVAL, "corq_bridge_config_check: config is NULL");
  try {
    corq::bridge::BridgeConfig parsed;
    std::string error;
    if (!corq::bridge::parse_config(config, parsed, error))
      return fail(CORQ_EINVAL, "config " + error);
    return CORQ_OK;
  } catch (const std::bad_alloc &) {
    return fail(CORQ_ENOMEM, "corq_bridge_config_check: out of memory");
  }
}

int corq_bridge_stats_json(corq_bridge *bridge, char **json) {
  return render(bridge, json, "corq_bridge_stats_json", corq::bridge::render_json);
}

int corq_bridge_metrics_text(corq_bridge *bridge, char **text) {
  return render(bridge, text, "corq_bridge_metrics_text", corq::bridge::render_prometheus);
}

int corq_bridge_stop(corq_bridge *bridge, int32_t timeout_ms) {
  bridge_error.clear();
  if (bridge == nullptr) return fail(CORQ_EINVAL, "corq_bridge_stop: bridge is NULL");
  if (timeout_ms < -1) return fail(CORQ_EINVAL, "corq_bridge_stop: timeout_ms must be -1 or >= 0");
  const auto deadline =
      timeout_ms < 0 ? std::chrono::steady_clock::time_point::max()
                     : std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (auto &rule : bridge->inbound) rule->request_stop();
  for (auto &rule : bridge->outbound) rule->request_stop(deadline);
  bool confirmed = true;
  for (auto &rule : bridge->outbound) confirmed = rule->join() && confirmed;
  for (auto &rule : bridge->inbound) rule->join();
  // Rules go before the connection they use.
  bridge->outbound.clear();
  bridge->inbound.clear();
  bridge->link.close();
  delete bridge;
  if (!confirmed)
    return fail(CORQ_ETIMEDOUT,
                "corq_bridge_stop: publishes were still unconfirmed at the timeout; their messages "
                "were released and will be sent again (JetStream drops the duplicates)");
  return CORQ_OK;
}

}  // extern "C"
