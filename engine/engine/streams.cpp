// engine/engine/streams.cpp — the engine's stream registry (DESIGN.md §7): declare, delete, find,
// and the scheduler's retention pass. Streams have their own namespace, apart from queues and
// exchanges, under streams_mutex_ (taken by declarations, deletions and lookups, never while a
// partition's mutex is held).
#include "engine/engine.hpp"

#include "stream/group.hpp"

#include <limits>

namespace corq::core {

namespace {

/// corq_stream_append's per-thread cache of the stream it last appended to: valid while the
/// engine's stream registry has the version it was filled at.
struct StreamCacheEntry {
  std::uint64_t engine_instance = 0;
  std::uint64_t version = 0;
  std::string name;
  std::shared_ptr<stream::Stream> stream;
};
thread_local StreamCacheEntry stream_cache;

}  // namespace

int Engine::declare_stream(const std::string &name, const StreamOptions &options,
                           std::string &error) {
  std::lock_guard lock(streams_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  auto it = streams_.find(name);
  if (it != streams_.end()) {
    const StreamOptions current = it->second->options();
    if (!current.same_shape(options)) {
      error = "stream '" + name +
              "' exists with other options (partitions, durable, discard, "
              "dedup_window_ms or partition_segment_bytes differ)";
      return CORQ_EEXIST;
    }
    if (current.same_retention(options)) return CORQ_OK;
    if (!options.update) {
      error = "stream '" + name +
              "' exists with other retention limits (redeclare with "
              "update=true to change them)";
      return CORQ_EEXIST;
    }
    it->second->update_retention(options);
    scheduler_.poke_if_before(0);  // enforce the new limits now
    return CORQ_OK;
  }
  streams_.emplace(name, std::make_shared<stream::Stream>(name, options));
  streams_version_.fetch_add(1, std::memory_order_release);
  return CORQ_OK;
}

int Engine::remove_stream(const std::string &name, std::string &error) {
  std::shared_ptr<stream::Stream> gone;
  {
    std::lock_guard lock(streams_mutex_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return error = "no stream named '" + name + "'", CORQ_ENOENT;
    gone = std::move(it->second);
    streams_.erase(it);
    streams_version_.fetch_add(1, std::memory_order_release);
  }
  gone->mark_deleted();  // readers' next call: CORQ_ENOENT; their pins free the records after
  return CORQ_OK;
}

std::shared_ptr<stream::Stream> Engine::find_stream(std::string_view name) {
  std::lock_guard lock(streams_mutex_);
  auto it = streams_.find(std::string(name));
  return it == streams_.end() ? nullptr : it->second;
}

stream::Stream *Engine::lookup_stream_for_append(const char *name) {
  const std::uint64_t version = streams_version_.load(std::memory_order_acquire);
  StreamCacheEntry &cached = stream_cache;
  if (cached.engine_instance == instance_id_ && cached.version == version && cached.name == name)
    return cached.stream.get();
  std::shared_ptr<stream::Stream> found = find_stream(name);
  if (found == nullptr) {
    if (cached.engine_instance == instance_id_) cached = {};  // may pin a deleted stream
    return nullptr;
  }
  cached = {instance_id_, version, name, std::move(found)};
  return cached.stream.get();
}

std::vector<std::shared_ptr<stream::Stream>> Engine::streams_snapshot() {
  std::lock_guard lock(streams_mutex_);
  std::vector<std::shared_ptr<stream::Stream>> out;
  out.reserve(streams_.size());
  for (const auto &[name, s] : streams_) out.push_back(s);
  return out;
}

std::int64_t Engine::enforce_stream_retention(std::int64_t now_ms) {
  std::int64_t next = 0;
  auto earliest = [&](std::int64_t due) {
    if (due != 0) next = next == 0 ? due : std::min(next, due);
  };
  for (const auto &s : streams_snapshot()) {
    earliest(s->enforce_retention(now_ms));
    // Groups: lease expiry and retries falling due.
    for (const auto &g : s->groups_snapshot()) {
      const std::int64_t due = g->scheduler_pass(now_ms);
      if (due != std::numeric_limits<std::int64_t>::max()) earliest(due);
    }
  }
  return next;
}

}  // namespace corq::core
