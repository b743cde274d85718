// engine/capi/exchange_api.hpp — what the rest of the C API shares with exchange_api.cpp.
#pragma once

#include "routing/router.hpp"

#include <string>

namespace corq::capi {

/// Validates an exchange name argument of `function` (not NULL, not "", the queue-name rules);
/// returns CORQ_OK or CORQ_EINVAL with the detail set.
int check_exchange_name(const char *function, const char *name) noexcept;

/// One exchange as a JSON object: type, options and stats (corq_stats_json).
std::string exchange_stats_json(core::routing::Router &router, const core::routing::Exchange &x);

}  // namespace corq::capi
