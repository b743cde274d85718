// tests/sim/model.cpp — the invariants (see model.hpp).
#include "sim/model.hpp"

#include <charconv>

namespace corq::sim {
namespace {

std::optional<std::string> header_of(const testing::SnapshotMessage &m, const std::string &key) {
  for (const auto &[k, v] : m.headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::optional<std::int64_t> integer(const std::optional<std::string> &text) {
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  const char *end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

bool ends_with(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The x-death-* headers of a message in `queue`: consistent with each other and with where it is.
std::string check_death_headers(const std::string &queue, const testing::SnapshotMessage &m,
                                std::uint32_t death_durable) {
  const auto reason = header_of(m, "x-death-reason");
  const auto origin = header_of(m, "x-death-queue");
  const auto count = integer(header_of(m, "x-death-count"));
  const auto time = integer(header_of(m, "x-death-time-ms"));
  const bool in_dlq = ends_with(queue, ".dlq");
  if (!reason && !origin && !count && !time) {
    if (in_dlq) return "has no x-death-* headers in dead-letter queue " + queue;
    if (death_durable > 0) return "lost its x-death-* headers (x-death-count was durable)";
    return {};
  }
  if (!reason || !origin || !count || !time) return "has some x-death-* headers but not all";
  static const std::set<std::string> reasons = {"rejected", "max_attempts", "expired", "maxlen"};
  if (reasons.count(*reason) == 0) return "has x-death-reason '" + *reason + "'";
  const std::string expected_origin = in_dlq ? queue.substr(0, queue.size() - 4) : queue;
  if (*origin != expected_origin) {
    return "has x-death-queue '" + *origin + "' in queue " + queue;
  }
  if (*count < 1) return "has x-death-count " + std::to_string(*count);
  if (*count < death_durable) {
    return "x-death-count went down from " + std::to_string(death_durable) + " to " +
           std::to_string(*count);
  }
  return {};
}

}  // namespace

std::string home_of(const std::string &queue) {
  return ends_with(queue, ".dlq") ? queue.substr(0, queue.size() - 4) : queue;
}

std::string Model::check(const testing::LogSnapshot &snapshot) const {
  std::map<Copy, std::string> where;           // copy -> queue
  std::map<std::string, std::uint64_t> id_of;  // payload -> the id of its copies
  for (const auto &[queue, list] : snapshot.queues) {
    for (const testing::SnapshotMessage &m : list) {
      const std::string &p = m.payload;
      const Copy copy{p, home_of(queue)};
      const std::string name = "message '" + p.substr(0, p.find(':')) + "' (id " +
                               std::to_string(m.id) + ", in " + queue + ") ";
      if (!where.emplace(copy, queue).second) {
        return name + "is also in " + where[copy] + ": twice";
      }
      const auto found = messages_.find(copy);
      if (never_.count(copy) != 0 || found == messages_.end() || !found->second.attempted) {
        return name + "was never published (or was gone after an earlier recovery)";
      }
      const Tracked &t = found->second;
      if (t.settled_durable) return name + "came back after a durable settlement";
      if (t.id != 0 && m.id != t.id) {
        return name + "has another id than its publish returned (" + std::to_string(t.id) + ")";
      }
      // One message id for all the copies of a fan-out.
      if (const auto [other, fresh] = id_of.emplace(p, m.id); !fresh && other->second != m.id) {
        return name + "has another id than its copy in another queue (" +
               std::to_string(other->second) + ")";
      }
      if (t.counts_known && m.delivery_count < t.count_durable) {
        return name + "delivery count went down from " + std::to_string(t.count_durable) + " to " +
               std::to_string(m.delivery_count);
      }
      if (std::string why = check_death_headers(queue, m, t.death_durable); !why.empty()) {
        return name + why;
      }
    }
  }
  for (const auto &[copy, t] : messages_) {
    if (t.attempted && t.confirmed && !t.settled && where.count(copy) == 0) {
      return "confirmed message '" + copy.first.substr(0, copy.first.find(':')) +
             "' (published to " + copy.second + ") is missing";
    }
  }
  // Atomic fan-out: of a publish's grouped copies that nothing settled (each may have been
  // dead-lettered or redriven: found by its home), all are there or none is. Copies of one
  // payload are adjacent in messages_.
  std::string present, missing;  // homes of the current payload's unsettled grouped copies
  const std::string *payload = nullptr;
  auto verdict = [&]() -> std::string {
    if (payload == nullptr || present.empty() || missing.empty()) return {};
    const std::string name = payload->substr(0, payload->find(':'));
    return "fan-out message '" + name + "' is only partly there: in" + present + ", not in" +
           missing + " (none of those copies was settled)";
  };
  for (const auto &[copy, t] : messages_) {
    if (payload == nullptr || *payload != copy.first) {
      if (std::string why = verdict(); !why.empty()) return why;
      payload = &copy.first;
      present.clear();
      missing.clear();
    }
    if (!t.grouped || !t.attempted || t.settled) continue;
    (where.count(copy) != 0 ? present : missing).append(" " + copy.second);
  }
  return verdict();
}

void Model::recovered(const testing::LogSnapshot &snapshot, bool durable) {
  std::map<Copy, const testing::SnapshotMessage *> present;
  for (const auto &[queue, list] : snapshot.queues) {
    for (const testing::SnapshotMessage &m : list) present[{m.payload, home_of(queue)}] = &m;
  }
  for (auto &[copy, t] : messages_) {
    const auto found = present.find(copy);
    if (found == present.end()) {
      // Gone for good: whatever happens later, it must not come back.
      if (t.attempted) never_.insert(copy);
      t = Tracked{t.grouped};
      continue;
    }
    const testing::SnapshotMessage &m = *found->second;
    t.id = m.id;
    t.attempted = true;
    t.confirmed = durable;  // it is in the log the engine now continues
    t.settled = t.settled_durable = false;
    t.counts_known = m.expires_at_ms == 0;  // a TTL may move it to the dead-letter queue
    t.count_seen = t.count_durable = m.delivery_count;
    const auto death = integer(header_of(m, "x-death-count"));
    t.death_seen = t.death_durable = death ? static_cast<std::uint32_t>(*death) : 0;
  }
}

}  // namespace corq::sim
