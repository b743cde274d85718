// engine/capi/handles.hpp — how the opaque C handles map onto the engine's C++ objects.
//
// corq_engine, corq_producer and corq_consumer are never defined: a handle is the address of the
// C++ object, cast. corq_config is the only handle with a definition of its own.
#pragma once

#include "consumer/consumer.hpp"
#include "engine/engine.hpp"
#include "options/options.hpp"
#include "producer/publish.hpp"
#include "stream/group.hpp"

#include <corq/corq.h>

#include "capi/error.hpp"

#include <new>
#include <stdexcept>
#include <string>

struct corq_config {
  corq::core::OptionMap options;
};

namespace corq::capi {
using namespace corq::core;

inline Engine *engine_of(corq_engine *e) noexcept { return reinterpret_cast<Engine *>(e); }
inline corq_engine *handle_of(Engine *e) noexcept { return reinterpret_cast<corq_engine *>(e); }
inline Producer *producer_of(corq_producer *p) noexcept { return reinterpret_cast<Producer *>(p); }
/// A corq_consumer is a ConsumerBase: a queue Consumer or a stream group's GroupMember.
inline ConsumerBase *base_of(corq_consumer *c) noexcept {
  return reinterpret_cast<ConsumerBase *>(c);
}
inline bool is_group_member(corq_consumer *c) noexcept { return base_of(c)->is_group_member; }
/// The queue consumer behind `c` (the caller checked it is not a group member).
inline Consumer *consumer_of(corq_consumer *c) noexcept {
  return static_cast<Consumer *>(base_of(c));
}
inline stream::GroupMember *group_member_of(corq_consumer *c) noexcept {
  return static_cast<stream::GroupMember *>(base_of(c));
}
inline corq_consumer *handle_of(ConsumerBase *c) noexcept {
  return reinterpret_cast<corq_consumer *>(c);
}

/// corq_open, with the log's I/O through `vfs` when not NULL (tests: wal::SimVfs).
int open_engine(const char *dir, const corq_config *engine_options, corq::wal::Vfs *vfs,
                corq_engine **out) noexcept;

/// Validates a queue name argument; returns CORQ_OK or CORQ_EINVAL with the detail set.
int check_queue_name(const char *name) noexcept;

/// Runs `body` and turns a C++ exception (bad_alloc, or any other) into a CORQ_* code: no exception
/// ever crosses the C API.
template <class Body>
int guarded(const char *function, Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(CORQ_ENOMEM, std::string(function) + ": out of memory");
  } catch (const std::exception &e) {
    return fail(CORQ_EIO, std::string(function) + ": " + e.what());
  } catch (...) {
    return fail(CORQ_EIO, std::string(function) + ": unknown failure");
  }
}

}  // namespace corq::capi
