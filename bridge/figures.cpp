// bridge/figures.cpp — JSON and Prometheus text of a bridge's figures (figures.hpp).
#include "figures.hpp"

namespace corq::bridge {

namespace {

void field(std::string &out, const char *name, const std::string &value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_string(out, value);
}

void field(std::string &out, const char *name, std::uint64_t value) {
  out += ",\"";
  out += name;
  out += "\":" + std::to_string(value);
}

/// A Prometheus label value: backslash, quote and newline escaped.
std::string label(const std::string &s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string render_json(const BridgeFigures &f) {
  std::string out = "{\"engine_id\":";
  append_json_string(out, f.engine_id);
  out += ",\"connected\":" + std::string(f.connected ? "true" : "false");
  field(out, "server", f.server);
  field(out, "disconnects", f.disconnects);
  field(out, "last_error", f.last_error);
  for (const char *direction : {"outbound", "inbound"}) {
    out += ",\"";
    out += direction;
    out += "\":[";
    bool first = true;
    for (const RuleFigures &r : f.rules) {
      if (r.direction != direction) continue;
      out += first ? "{" : ",{";
      first = false;
      out += "\"name\":";
      append_json_string(out, r.name);
      if (r.direction == "inbound") {
        field(out, "jetstream", r.jetstream);
        field(out, "durable", r.durable);
      }
      field(out, r.local_kind.c_str(), r.local_name);
      if (r.direction == "outbound") field(out, "subject", r.subject);
      out += ",\"connected\":" + std::string(f.connected ? "true" : "false");
      field(out, "forwarded", r.forwarded);
      field(out, "in_flight", r.in_flight);
      field(out, "retried", r.retried);
      field(out, "lag", r.lag);
      if (r.direction == "inbound") {
        field(out, "duplicates", r.duplicates);
        field(out, "high_water_mark", r.high_water_mark);
      }
      field(out, "headers_skipped", r.headers_skipped);
      field(out, "last_error", r.last_error);
      out += "}";
    }
    out += "]";
  }
  out += "}";
  return out;
}

std::string render_prometheus(const BridgeFigures &f) {
  std::string out;
  auto metric = [&](const char *name, const char *type, const char *help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  const std::string engine = "engine_id=\"" + label(f.engine_id) + "\"";
  metric("corq_bridge_connected", "gauge", "1 while the bridge is connected to the NATS cluster.");
  out += "corq_bridge_connected{" + engine + "} " + (f.connected ? "1" : "0") + "\n";
  metric("corq_bridge_disconnects_total", "counter", "Connections to the cluster lost.");
  out += "corq_bridge_disconnects_total{" + engine + "} " + std::to_string(f.disconnects) + "\n";
  struct Series {
    const char *name, *type, *help;
    std::uint64_t RuleFigures::*value;
    bool inbound_only;
  };
  static const Series series[] = {
      {"corq_bridge_forwarded_total", "counter",
       "Messages confirmed on the far side (JetStream publish ack, or local commit).",
       &RuleFigures::forwarded, false},
      {"corq_bridge_in_flight", "gauge", "Messages taken and not yet confirmed.",
       &RuleFigures::in_flight, false},
      {"corq_bridge_retried_total", "counter", "Publishes sent again, or commits tried again.",
       &RuleFigures::retried, false},
      {"corq_bridge_lag", "gauge",
       "Messages waiting: the local queue's or group's backlog "
       "(outbound), the JetStream consumer's pending count (inbound).",
       &RuleFigures::lag, false},
      {"corq_bridge_duplicates_total", "counter",
       "Inbound redeliveries at or below the high-water mark, dropped.", &RuleFigures::duplicates,
       true},
      {"corq_bridge_high_water_mark", "gauge",
       "Inbound: the last JetStream stream sequence committed locally.",
       &RuleFigures::high_water_mark, true},
  };
  for (const Series &s : series) {
    metric(s.name, s.type, s.help);
    for (const RuleFigures &r : f.rules) {
      if (s.inbound_only && r.direction != "inbound") continue;
      out += std::string(s.name) + "{" + engine + ",direction=\"" + r.direction + "\",rule=\"" +
             label(r.name) + "\"} " + std::to_string(r.*s.value) + "\n";
    }
  }
  return out;
}

}  // namespace corq::bridge
