// engine/engine/testing.cpp — see testing.hpp.
#include "engine/testing.hpp"

#include "capi/error.hpp"
#include "capi/handles.hpp"

namespace corq::testing {
using namespace corq::core;

int advance_clock(corq_engine *engine, std::int64_t ms) {
  if (engine == nullptr) return capi::fail(CORQ_EINVAL, "advance_clock: engine is NULL");
  if (ms < 0) return capi::fail(CORQ_EINVAL, "advance_clock: ms must be >= 0");
  Engine &e = *capi::engine_of(engine);
  if (!e.clock().manual())
    return capi::fail(CORQ_EINVAL, "advance_clock: the engine is not on clock=manual");
  e.clock().advance(ms);
  e.scheduler().run_pass(e.now_ms());
  return CORQ_OK;
}

int open_on_vfs(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                corq_engine **out) {
  return capi::open_engine(dir, engine_options, vfs, out);
}

std::int64_t clock_now_ms(corq_engine *engine) { return capi::engine_of(engine)->now_ms(); }

}  // namespace corq::testing
