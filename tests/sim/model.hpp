// tests/sim/model.hpp — what corq-sim knows about every message it ever tried to publish, and the
// invariants a recovered data directory must satisfy against that knowledge.
//
// A message is named by its payload ("m<seed>.<n>:" then filler), unique within a seed. The model
// never guesses where a message is; it knows only what the C API told the workload:
//   attempted  a publish returned 0 (or failed in a way that does not say "nothing was logged":
//              CORQ_EFAILED, CORQ_ETIMEDOUT) — the message MAY exist;
//   confirmed  durable by the contract — a synchronous publish returned 0 on sync=always, or a
//              later corq_sync / corq_wait_durable / the producer's corq_producer_flush returned 0;
//              it MUST exist after any crash until it is settled;
//   settled    acked, purged or deleted with its queue (returned 0); once a later corq_sync
//              returned 0 it is durably settled and MUST NOT come back;
//   never      a publish that says nothing was published (CORQ_ENOSPC, CORQ_ENOENT, a dedup hit):
//              the payload MUST NOT appear.
// Counts: a delivery count (and an x-death-count) seen before a successful corq_sync is durable:
// recovery must give at least that much — unless the message may have moved since (dead-letter,
// redrive, TTL, lease expiry reset counts), which the workload tells the model (forget_counts).
#pragma once

#include "engine/testing.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace corq::sim {

struct Tracked {
  std::string queue;  // published to
  bool attempted = false;
  bool confirmed = false;
  bool settled = false;
  bool settled_durable = false;
  bool counts_known = true;  // false once the message may have moved (counts reset)
  std::uint32_t count_seen = 0, count_durable = 0;
  std::uint32_t death_seen = 0, death_durable = 0;
};

class Model {
 public:
  Tracked &at(const std::string &payload) { return messages_[payload]; }
  void never(const std::string &payload) { never_.insert(payload); }
  bool never_published(const std::string &payload) const { return never_.count(payload) != 0; }

  /// Everything logged so far is durable (corq_sync / corq_wait_durable returned 0).
  void all_durable() {
    for (auto &[payload, m] : messages_) {
      if (m.attempted) m.confirmed = true;
      if (m.settled) m.settled_durable = true;
      if (m.counts_known) m.count_durable = std::max(m.count_durable, m.count_seen);
      m.death_durable = std::max(m.death_durable, m.death_seen);
    }
  }

  /// A delivery was seen with this count and x-death-count (0: none).
  void delivered(const std::string &payload, std::uint32_t count, std::uint32_t death_count) {
    Tracked &m = at(payload);
    if (m.counts_known) m.count_seen = std::max(m.count_seen, count);
    m.death_seen = std::max(m.death_seen, death_count);
  }

  /// The message may move to another queue (its delivery count restarts there).
  void forget_counts(const std::string &payload) {
    Tracked &m = at(payload);
    m.counts_known = false;
    m.count_seen = m.count_durable = 0;
  }
  void forget_all_counts() {
    for (auto &[payload, m] : messages_) forget_counts(payload);
  }

  /// Every invariant of a recovered directory; empty when all hold, else the first violation.
  std::string check(const testing::LogSnapshot &snapshot) const;

  /// After recovery the engine holds exactly the snapshot: counts seen from now on start from it.
  /// `durable`: what was read is on the disk (sync=always: flushed, or re-written at open), so the
  /// recovered messages count as confirmed; with sync=none it may be in the page cache only.
  void recovered(const testing::LogSnapshot &snapshot, bool durable);

  const std::map<std::string, Tracked> &messages() const { return messages_; }

 private:
  std::map<std::string, Tracked> messages_;
  std::set<std::string> never_;
};

}  // namespace corq::sim
