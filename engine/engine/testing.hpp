// engine/engine/testing.hpp — hooks for tests (in libcorq.a and the test build only; not exported
// from libcorq.so). They let a test drive time instead of sleeping.
#pragma once

#include <corq/corq.h>

#include <cstdint>

namespace corq::wal {
class Vfs;
}

namespace corq::testing {

/// corq_open on a data directory whose log does its I/O through `vfs` (e.g. a wal::SimVfs that
/// fails, fills up or crashes on command). The vfs must outlive the engine.
int open_on_vfs(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                corq_engine **out);

/// For an engine opened with the option clock=manual: moves its clock forward by `ms` (>= 0) and
/// runs the scheduler once, synchronously, so that every delay, retry backoff and lease due by the
/// new time has taken effect when this returns, and so has TTL expiry as far as corq applies it
/// eagerly: at the head of a queue that has no consumer attached (elsewhere expired messages are
/// dead-lettered when a consumer meets them — see README, "What corq promises"). Returns
/// CORQ_EINVAL for a NULL engine, a negative ms or an engine on the system clock.
int advance_clock(corq_engine *engine, std::int64_t ms);

/// The engine clock's current time in milliseconds (unix time; a manual clock starts at the real
/// time the engine was opened).
std::int64_t clock_now_ms(corq_engine *engine);

}  // namespace corq::testing
