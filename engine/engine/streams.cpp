// engine/engine/streams.cpp — the engine's stream registry (DESIGN.md §7): declare, delete, find,
// and the scheduler's retention pass. Streams have their own namespace, apart from queues and
// exchanges, under streams_mutex_ (taken by declarations, deletions and lookups, never while a
// partition's mutex is held).
#include "engine/engine.hpp"

#include "durability/journal.hpp"
#include "durability/recovery.hpp"
#include "durability/stream_records.hpp"
#include "stream/group.hpp"

#include <cerrno>
#include <cstring>
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

stream::StreamLogConfig Engine::stream_log_config(std::uint32_t sid,
                                                  const StreamOptions &options) const {
  stream::StreamLogConfig config;
  config.dir = stream::stream_directory(dir_, sid);
  config.segment_bytes = options.partition_segment_bytes;
  config.flush = options_.sync == SyncMode::always;
  config.backend = backend_choice(options_);
  config.direct_io = direct_io_choice(options_);
  config.vfs = options_.test_vfs;
  config.resident = stream_resident_bytes_;
  config.cache_bytes = options_.stream_cache_bytes;
  return config;
}

int Engine::declare_stream(const std::string &name, const StreamOptions &options,
                           std::string &error) {
  std::lock_guard lock(streams_mutex_);
  if (closed()) return error = "the engine is closed", CORQ_ECLOSED;
  auto it = streams_.find(name);
  if (it != streams_.end()) {
    stream::Stream &existing = *it->second;
    const StreamOptions current = existing.options();
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
    if (existing.sid() != 0) {
      // The new limits survive a restart: the declaration again, same sid, new limits.
      StreamOptions updated = current;
      updated.retention_ms = options.retention_ms;
      updated.retention_bytes = options.retention_bytes;
      updated.retention_records = options.retention_records;
      std::vector<std::byte> payload;
      records::encode_stream_declare(payload, existing.sid(), name, updated);
      if (const int rc = journal_->log_topology(records::declare_stream, payload, error);
          rc != CORQ_OK)
        return rc;
    }
    existing.update_retention(options);
    scheduler_.poke_if_before(0);  // enforce the new limits now
    return CORQ_OK;
  }
  auto created = std::make_shared<stream::Stream>(name, options);
  if (options.durable) {
    // The declaration is durable before the stream's log exists: a crash in between leaves a
    // declared stream whose (empty) log the next open creates. A directory without a declaration
    // (a crash before the record) is removed by the next open.
    const std::uint32_t sid = next_sid_;
    std::vector<std::byte> payload;
    records::encode_stream_declare(payload, sid, name, options);
    if (const int rc = journal_->log_topology(records::declare_stream, payload, error);
        rc != CORQ_OK)
      return rc;
    ++next_sid_;
    int rc = CORQ_OK;
    if (const int made = files_->make_dir(dir_ + "/streams"); made != 0) {
      error = "cannot create " + dir_ + "/streams: " + std::strerror(-made);
      rc = CORQ_EIO;
    } else if (const int synced = files_->sync_dir(dir_); synced != 0) {
      error = "cannot sync " + dir_ + ": " + std::strerror(-synced);
      rc = CORQ_EIO;
    }
    if (rc == CORQ_OK) rc = created->open_log(stream_log_config(sid, options), sid, error);
    if (rc != CORQ_OK) {
      // Take the declaration back so the next open does not find a stream that never was.
      payload.clear();
      records::encode_stream_delete(payload, sid);
      std::string ignored;
      journal_->log_topology(records::delete_stream, payload, ignored);
      return rc;
    }
  }
  streams_.emplace(name, std::move(created));
  streams_version_.fetch_add(1, std::memory_order_release);
  return CORQ_OK;
}

int Engine::remove_stream(const std::string &name, std::string &error) {
  std::shared_ptr<stream::Stream> gone;
  {
    std::lock_guard lock(streams_mutex_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return error = "no stream named '" + name + "'", CORQ_ENOENT;
    if (const std::uint32_t sid = it->second->sid(); sid != 0) {
      std::vector<std::byte> payload;
      records::encode_stream_delete(payload, sid);
      if (const int rc = journal_->log_topology(records::delete_stream, payload, error);
          rc != CORQ_OK)
        return rc;
    }
    gone = std::move(it->second);
    streams_.erase(it);
    streams_version_.fetch_add(1, std::memory_order_release);
  }
  gone->mark_deleted();  // readers' next call: CORQ_ENOENT; their pins free the records after
  if (const std::uint32_t sid = gone->sid(); sid != 0) {
    // The deletion is durable: the files go (a crash before this: the next open removes them).
    gone->close_log();
    if (const int rc = remove_stream_directory(stream::stream_directory(dir_, sid)); rc != 0) {
      log(CORQ_LOG_WARN, "stream '" + name + "' deleted, its files not: " + std::strerror(-rc));
    }
  }
  return CORQ_OK;
}

int Engine::install_streams(RecoveredState &state, std::string &error) {
  std::lock_guard lock(streams_mutex_);
  next_sid_ = state.next_sid;
  // Directories of streams deleted (or never declared: a crash between directory and record).
  std::vector<std::string> names;
  if (files_->list(dir_ + "/streams", names) == 0) {
    for (const std::string &file : names) {
      if (file == "." || file == "..") continue;
      std::uint32_t sid = 0;
      const bool numbered =
          file.size() == 10 && file.find_first_not_of("0123456789") == std::string::npos;
      if (numbered) sid = static_cast<std::uint32_t>(std::stoul(file));
      if (numbered && state.streams.count(sid) != 0) continue;
      const std::string path = dir_ + "/streams/" + file;
      if (const int rc = remove_stream_directory(path); rc != 0) {
        log(CORQ_LOG_WARN,
            "cannot remove " + path + " (no stream declares it): " + std::strerror(-rc));
      } else {
        log(CORQ_LOG_INFO, "removed " + path + " (no stream declares it)");
      }
    }
  }
  if (!state.streams.empty()) {
    if (const int rc = files_->make_dir(dir_ + "/streams"); rc != 0) {
      error = "cannot create " + dir_ + "/streams: " + std::strerror(-rc);
      return CORQ_EIO;
    }
  }
  for (auto &[sid, recovered] : state.streams) {
    auto s = std::make_shared<stream::Stream>(recovered.name, recovered.options);
    if (const int rc = s->open_log(stream_log_config(sid, recovered.options), sid, error);
        rc != CORQ_OK)
      return rc;
    s->enforce_retention(now_ms());  // the limits again over what was read back
    // Its groups, where their committed offsets were (members join them again).
    for (auto g = state.groups.lower_bound({sid, std::string()});
         g != state.groups.end() && g->first.first == sid; ++g) {
      const GroupOptions &options = g->second.options;
      const std::string dead_letters = options.dead_letter_queue_set
                                           ? options.dead_letter_queue
                                           : recovered.name + "." + g->first.second + ".dlq";
      s->adopt_group(*this, g->first.second, options, dead_letters, g->second.partitions);
    }
    streams_.insert_or_assign(recovered.name, std::move(s));
  }
  streams_version_.fetch_add(1, std::memory_order_release);
  return CORQ_OK;
}

void Engine::encode_streams(std::vector<std::vector<std::byte>> &payloads,
                            std::vector<std::uint8_t> &types) {
  for (const auto &[name, s] : streams_) {
    if (s->sid() == 0) continue;
    records::encode_stream_declare(payloads.emplace_back(), s->sid(), name, s->options());
    types.push_back(records::declare_stream);
  }
}

void Engine::encode_groups(std::vector<std::vector<std::byte>> &payloads,
                           std::vector<std::uint8_t> &types) {
  for (const auto &s : streams_snapshot()) {
    if (s->sid() == 0) continue;
    for (const auto &g : s->groups_snapshot()) g->encode_state(payloads, types);
  }
}

int Engine::sync_streams(std::chrono::steady_clock::time_point deadline, std::string &error) {
  for (const auto &s : streams_snapshot()) {
    if (const int rc = s->sync(deadline, error); rc != CORQ_OK) {
      error = "stream '" + s->name() + "': " + error;
      return rc;
    }
  }
  return CORQ_OK;
}

int Engine::remove_stream_directory(const std::string &path) {
  std::vector<std::string> names;
  if (const int rc = files_->list(path, names); rc != 0) return rc == -ENOENT ? 0 : rc;
  for (const std::string &name : names) {
    if (name == "." || name == "..") continue;
    if (const int rc = files_->remove(path + "/" + name); rc != 0 && rc != -ENOENT) return rc;
  }
  if (const int rc = files_->remove_dir(path); rc != 0 && rc != -ENOENT) return rc;
  // The removal is durable once the parent is synced (a crash before: the next open removes it).
  return files_->sync_dir(path.substr(0, path.find_last_of('/')));
}

void Engine::close_stream_logs() {
  for (const auto &s : streams_snapshot()) s->close_log();
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
    if (s->sid() != 0 &&
        static_cast<std::uint64_t>(stream_resident_bytes()) > options_.stream_cache_bytes) {
      // Over the stream cache (appends evict only in the partition they append to): any stream's
      // oldest chunks that are in its log leave memory.
      s->evict(s->log()->durable_lsn());
    }
    if (s->sid() != 0 &&
        (s->txn_applying.load(std::memory_order_acquire) != 0 ||
         journal_->durable_lsn() < s->txn_applied_lsn.load(std::memory_order_acquire))) {
      // A transaction's records there are named only by the engine log's txn_append records
      // until its txn_applied record is durable (engine/txn/): no segment goes before.
      earliest(now_ms + stream::Stream::release_interval_ms);
    } else if (s->sid() != 0) {
      // Segments holding only deleted records go (a few file operations, only when one is free).
      std::string error;
      int rc = 0;
      earliest(s->maybe_release(now_ms, error, rc));
      if (rc < 0) log(CORQ_LOG_WARN, "stream '" + s->name() + "': releasing segments: " + error);
    }
    // Groups: lease expiry and retries falling due.
    for (const auto &g : s->groups_snapshot()) {
      const std::int64_t due = g->scheduler_pass(now_ms);
      if (due != std::numeric_limits<std::int64_t>::max()) earliest(due);
    }
  }
  return next;
}

}  // namespace corq::core
