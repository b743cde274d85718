// tests/sim/model.hpp — what corq-sim knows about every message it ever tried to publish, and the
// invariants a recovered data directory must satisfy against that knowledge.
//
// A message is named by its payload ("m<seed>.<n>:" then filler), unique within a seed. A publish
// through an exchange puts one copy of it into each matched queue, so the model tracks copies: a
// copy is (payload, home), home being the queue it was published to; it stays the copy's home
// while the copy is dead-lettered into <home>.dlq and redriven back (home_of). A plain publish
// has one copy. Each copy has its own state; the model never guesses where a copy is; it knows
// only what the C API told the workload:
//   attempted  a publish returned 0 (or failed in a way that does not say "nothing was logged":
//              CORQ_EFAILED, CORQ_ETIMEDOUT) — the message MAY exist;
//   confirmed  durable by the contract — a synchronous publish returned 0 on sync=always, or a
//              later corq_sync / corq_wait_durable / the producer's corq_producer_flush returned 0;
//              it MUST exist after any crash until it is settled;
//   settled    acked, purged or deleted with its queue (returned 0); once a later corq_sync
//              returned 0 it is durably settled and MUST NOT come back;
//   never      a publish that says nothing was published (CORQ_ENOSPC, CORQ_ENOENT, a dedup hit):
//              the copy MUST NOT appear.
// Fan-out (DESIGN §6): the copies of one exchange publish into several durable queues are logged
// in one record, so after a crash those not settled are either all there or all gone ("grouped"
// copies; a copy whose membership the workload cannot be sure of, e.g. a dedup window that may
// have skipped it, is not grouped), and every copy there has the publish's one message id.
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

/// A copy: (payload, home queue).
using Copy = std::pair<std::string, std::string>;

/// The home of a copy found in `queue`: the queue itself, or X for the dead-letter queue X.dlq.
std::string home_of(const std::string &queue);

struct Tracked {
  bool grouped = false;  // one of a fan-out's durable copies, logged in one record
  std::uint64_t id = 0;  // the message id the publish returned (0: unknown)
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
  Tracked &at(const std::string &payload, const std::string &home) {
    return messages_[{payload, home}];
  }
  void never(const std::string &payload, const std::string &home) {
    never_.insert({payload, home});
  }
  bool never_published(const std::string &payload, const std::string &home) const {
    return never_.count({payload, home}) != 0;
  }

  /// Everything logged so far is durable (corq_sync / corq_wait_durable returned 0).
  void all_durable() {
    for (auto &[copy, m] : messages_) {
      if (m.attempted) m.confirmed = true;
      if (m.settled) m.settled_durable = true;
      if (m.counts_known) m.count_durable = std::max(m.count_durable, m.count_seen);
      m.death_durable = std::max(m.death_durable, m.death_seen);
    }
  }

  /// A delivery was seen with this count and x-death-count (0: none).
  void delivered(const Copy &copy, std::uint32_t count, std::uint32_t death_count) {
    Tracked &m = messages_[copy];
    if (m.counts_known) m.count_seen = std::max(m.count_seen, count);
    m.death_seen = std::max(m.death_seen, death_count);
  }

  /// The message may move to another queue (its delivery count restarts there).
  void forget_counts(const Copy &copy) {
    Tracked &m = messages_[copy];
    m.counts_known = false;
    m.count_seen = m.count_durable = 0;
  }
  void forget_all_counts() {
    for (auto &[copy, m] : messages_) forget_counts(copy);
  }

  /// Every invariant of a recovered directory; empty when all hold, else the first violation.
  std::string check(const testing::LogSnapshot &snapshot) const;

  /// After recovery the engine holds exactly the snapshot: counts seen from now on start from it.
  /// `durable`: what was read is on the disk (sync=always: flushed, or re-written at open), so the
  /// recovered messages count as confirmed; with sync=none it may be in the page cache only.
  void recovered(const testing::LogSnapshot &snapshot, bool durable);

  const std::map<Copy, Tracked> &messages() const { return messages_; }

 private:
  std::map<Copy, Tracked> messages_;
  std::set<Copy> never_;
};

}  // namespace corq::sim
