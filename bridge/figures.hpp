// bridge/figures.hpp — a bridge's figures rendered for people and machines: the JSON of
// corq_bridge_stats_json and the Prometheus text of corq_bridge_metrics_text (what corq-bridge
// writes to --metrics-file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rule_stats.hpp"

namespace corq::bridge {

struct BridgeFigures {
  std::string engine_id;
  bool connected = false;
  std::string server;
  std::uint64_t disconnects = 0;
  std::string last_error;
  std::vector<RuleFigures> rules;
};

std::string render_json(const BridgeFigures &figures);
std::string render_prometheus(const BridgeFigures &figures);

}  // namespace corq::bridge
