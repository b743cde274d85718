// tests/crash/crash_test.cpp — the real-process crash test (DESIGN §2 "Durability and recovery",
// §7 streams, §8 transactions).
//
// Many cycles: start corq_crash_child (crash_child.cpp) on one data directory, read its reports,
// (some of its confirmed publishes go to a queue nobody consumes, so the log compacts around them),
// SIGKILL it at a random moment (mostly 20-300 ms after the start, sometimes later so checkpoints
// and segment releases happen), then open the directory in this process, take every message of the
// queue without acking it, and hold it against the books kept from every child's reports:
//   - every confirmed message is there, unless the child tried to ack it in this cycle;
//   - every message this check saw last time is there again, unless the child tried to ack it;
//   - every message there was sent (reported "S" before the send), and its payload and header are
//     intact;
//   - no message whose ack was durable ("A") is there, nor any that an earlier check found gone;
//   - no message is there twice (by payload id or by engine message id), an id always names the
//     same engine message id;
//   - delivery counts are >= 1, higher than every count this check saw before, and higher than
//     every count the child saw before a sync returned ("Y");
//   - nothing is delayed or dead-lettered (nacks use delay 0 and there is no attempt limit);
//   - a message published through the fanout exchange (reported "F") has its copy in the consumed
//     queue and its copy in the kept queue both there or both gone — unless the child tried to ack
//     the first (then only the kept copy may be left) — with the same engine message id and the
//     routing headers; the kept copy is never settled, so it follows the rules of a kept message:
//     there if confirmed or seen by the previous check, never back once gone.
// Closing the consumers releases the messages; the next child consumes them.
// Then the stream (DESIGN §7): it reads every partition from its first retained record, and
//   - offsets are dense, timestamps do not go back, every record's payload, key and header are
//     intact and name a record id some child tried to append ("SA");
//   - a record known to be in the stream (confirmed "SC", delivered to a group "GD", or found by a
//     check) is there at exactly its place, unless retention deleted it (its offset is below the
//     partition's first); nothing else is ever at that place, and it is nowhere else;
//   - a record a check did not find (and retention does not explain) never appears again;
//   - an append call of this cycle is there whole, at consecutive offsets of one partition, or
//     not at all (unless retention cut it at the partition's first record);
// and both consumer groups (ordered and shared, the child of each cycle runs a member of one): a
// member with the same options takes every record it can without acking, and
//   - no record whose ack was durable ("GA", or an earlier check found it settled) is delivered;
//   - every record in the stream that the group never settled is delivered, unless the child
//     tried to ack it in this cycle ("GK": then the ack may have survived, and the record is
//     settled for good if this check does not get it);
//   - ordered mode delivers each partition in offset order; a delivery is the record the stream
//     holds at its offset.
// Closing the member releases the records (nothing of that is logged).
// Then the transactions (DESIGN §8, issue #18): the child publishes inputs to crash-txn-in and, in
// transactions of 1..8 of them, acks them, publishing one output message to crash-txn-out and
// appending one record to crash-txn-ledger per input, all of the input's id. The check takes every
// input and output without acking and reads the ledger from offset 0, and for every id:
//   - payloads and headers are intact (three salts: an input never passes for its output or
//     record), every id is of an input some child sent ("TS"), none is twice in a queue or in the
//     ledger; the ledger's offsets are dense from 0 and an offset the last check read holds the
//     same record;
//   - all or nothing: its output is there exactly when its ledger record is; of every commit tried
//     in this cycle ("TK"), the outputs of all its inputs are there or none;
//   - a committed transaction's input never comes back: an input is never there with its output,
//     nor after its commit returned OK ("TC"), nor is it taken again by a child after that;
//   - nothing is lost: every confirmed input ("TP"), and every input the previous check found, is
//     still there or has its output; every committed transaction's output is there; an output
//     once found stays (until the check itself acks it, past txn_outputs_kept; then it never
//     comes back, and its record stays);
//   - an output the previous check did not find is of a commit tried in this cycle (an aborted
//     transaction leaves nothing), and an input the previous check found left only by a commit
//     tried in this cycle; an input a check found nowhere (lost unconfirmed) never appears again.
// Closing the check's consumers releases the inputs for the next child and keeps the outputs.
//
// The second test is the smallest reproduction of the first loss this test found (live messages
// logged before a checkpoint whose segment-release drops the older declarations: see it below).
//
// Environment: CORQ_CRASH_SEED (replay a run; kill moments are wall-clock, so a replay is close,
// not exact), CORQ_CRASH_CYCLES (default 40, 20 under sanitizers), CORQ_CRASH_KEEP=1 (keep the
// data directory), CORQ_CRASH_SEGMENT_BYTES (default 1MiB; a large value turns segment releases
// off, to tell whether a failure needs them). On a failure the directory is kept and named in the
// message, with copies of it as the last two kills left it (before the check opened it), for
// `corqctl dump DIR` and for replaying the recovery.
#include "crash_protocol.hpp"
#include "engine/helpers.hpp"
#include "stream/stream_helpers.hpp"
#include "support/sanitizers.hpp"
#include "support/spawn.hpp"

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

extern char **environ;

namespace corq::test {
namespace {

namespace fs = std::filesystem;

/// What the books know about one payload id.
struct Book {
  bool attempted = false;           // "S": may appear
  bool confirmed = false;           // "C": must appear until acked
  bool acked = false;               // "A": must never appear again
  bool gone = false;                // an earlier check did not find it: must never appear again
  bool seen_last = false;           // the previous check found it
  std::int32_t ack_try_cycle = -1;  // the last cycle whose child reported "K" for it
  std::uint32_t parent_count = 0;   // delivery count the previous check saw
  std::uint32_t durable_count = 0;  // highest delivery count the child saw before a "Y"
  std::uint64_t message_id = 0;     // engine message id (0: not yet seen)
  // Published through the fanout exchange ("F"): the fields above are its copy in the consumed
  // queue, these its copy in the kept queue.
  bool fanout = false;
  bool keep_seen_last = false;
  bool keep_gone = false;
  std::uint32_t keep_count = 0;
};

/// What the books know about one stream record id.
struct RecordBook {
  bool attempted = false;  // "SA": may be in the stream
  bool confirmed = false;  // "SC": must be in the stream (until retention deletes it)
  bool gone = false;       // a check did not find it, nor did retention delete it: never again
  bool placed = false;     // it is in the stream for good, at partition:offset
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::uint64_t call_first = 0;  // the ids of the append call it came in ("SA")
  std::uint64_t call_last = 0;
  std::int32_t found_cycle = -1;  // the last cycle whose check found it
};

/// What the books know about one place (partition:offset) of the stream, per group
/// (crash::group_modes) for the group's part.
struct PlaceBook {
  std::uint64_t id = 0;  // the record known to be there for good (0: none known)
  std::array<std::int32_t, crash::group_mode_count> ack_try_cycle{-1, -1};  // the last "GK"
  std::array<bool, crash::group_mode_count> acked{};  // "GA", or a check found it settled
};

/// What the books know about one transaction id: an input, and the output message and ledger
/// record that the transaction acking it publishes and appends.
struct TxnBook {
  bool attempted = false;     // "TS": the input may be in crash-txn-in
  bool confirmed = false;     // "TP": the input is there until a commit that acks it is durable
  bool committed = false;     // "TC": its commit returned OK (durable): the outputs stay for good
  bool seen_in_last = false;  // the previous check found the input in crash-txn-in
  bool seen_out = false;      // a check found its output and record: they stay for good...
  bool out_settled = false;   // ...until a check acked the output (durably): the record stays
  bool gone = false;          // a check found it nowhere: its input was lost unconfirmed for good
  std::int32_t commit_try_cycle = -1;  // the last cycle whose child reported "TK" for it
};

std::string describe_txn_book(const TxnBook &b) {
  std::ostringstream o;
  o << "[" << (b.attempted ? "sent" : "unsent") << (b.confirmed ? ",confirmed" : "")
    << (b.committed ? ",committed" : "") << (b.seen_in_last ? ",seen in input" : "")
    << (b.seen_out ? ",seen out" : "") << (b.out_settled ? ",output settled" : "")
    << (b.gone ? ",gone" : "") << " commit-try-cycle " << b.commit_try_cycle << "]";
  return o.str();
}

std::string describe_book(const Book &b) {
  std::ostringstream o;
  o << "[" << (b.attempted ? "sent" : "unsent") << (b.confirmed ? ",confirmed" : "")
    << (b.acked ? ",acked" : "") << (b.gone ? ",gone" : "") << (b.seen_last ? ",seen" : "")
    << " ack-try-cycle " << b.ack_try_cycle << " counts " << b.parent_count << "/"
    << b.durable_count << " message " << b.message_id;
  if (b.fanout) {
    const char *kept = b.keep_seen_last ? "seen" : b.keep_gone ? "gone" : "unseen";
    o << "; fan-out, kept copy " << kept << " count " << b.keep_count;
  }
  o << "]";
  return o.str();
}

/// One cycle's numbers, printed with any failure.
struct CycleReport {
  int cycle = 0;
  std::uint64_t child_seed = 0;
  std::string backend;
  int kill_after_ms = 0;
  bool opened = false;  // the child reported "O" before the kill
  int opened_after_ms = 0;
  std::uint64_t sent = 0, confirmed = 0, delivered = 0, ack_tries = 0, acked = 0, syncs = 0;
  std::uint64_t fanned = 0;  // of the sent: through the fanout exchange
  std::uint64_t present = 0, gone = 0, check_ms = 0;
  std::uint64_t fan_copies = 0;  // kept copies of fanned-out messages the check found
  // For the soak (tools/soak.sh): confirmed messages this check found lost (must be 0), how long
  // corq_open took, the child's peak resident memory and the directory's disk use after the kill.
  std::uint64_t lost = 0, open_ms = 0, child_peak_rss_kb = 0, disk_bytes = 0;
  // The stream and the group whose member the child ran (crash::group_of_cycle).
  int group = 0;
  std::uint64_t records_sent = 0, records_confirmed = 0, group_delivered = 0, group_ack_tries = 0,
                group_acked = 0;
  std::uint64_t records_present = 0, records_gone = 0, first_retained = 0;  // the check's
  std::array<std::uint64_t, crash::group_mode_count> group_pending{};  // delivered at the check
  // The transactions: inputs sent ("TS") and confirmed ("TP"), commits tried ("TK") and returned
  // OK ("TC"), the inputs those acked; what the check found.
  std::uint64_t txn_sent = 0, txn_confirmed = 0, txn_commit_tries = 0, txn_commits = 0,
                txn_inputs_committed = 0;
  std::uint64_t txn_inputs_present = 0, txn_outputs_present = 0, txn_gone = 0,
                txn_outputs_settled = 0;

  std::string describe() const {
    std::ostringstream o;
    o << "cycle " << cycle << " (child seed " << child_seed << ", " << backend << ", killed after "
      << kill_after_ms << " ms, "
      << (opened ? "opened after " + std::to_string(opened_after_ms) + " ms" : "before it opened")
      << "): sent " << sent << " (" << fanned << " fanned out), confirmed " << confirmed
      << ", delivered " << delivered << ", ack tries " << ack_tries << ", durable acks " << acked
      << ", syncs " << syncs << "; check found " << present << " present (and " << fan_copies
      << " kept fan-out copies), " << gone << " newly gone (" << check_ms
      << " ms); stream: appended " << records_sent << ", confirmed " << records_confirmed
      << ", group " << crash::group_modes[group] << " delivered " << group_delivered
      << ", ack tries " << group_ack_tries << ", durable acks " << group_acked << "; check found "
      << records_present << " records (the first retained of "
      << "partition 0 at " << first_retained << "), " << records_gone
      << " newly gone, groups deliver " << group_pending[0] << "/" << group_pending[1]
      << "; transactions: inputs sent " << txn_sent << ", confirmed " << txn_confirmed
      << ", commits tried " << txn_commit_tries << ", committed " << txn_commits << " ("
      << txn_inputs_committed << " inputs); check found " << txn_inputs_present << " inputs, "
      << txn_outputs_present << " outputs (and acked the oldest " << txn_outputs_settled << "), "
      << txn_gone << " inputs newly gone";
    return o.str();
  }
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "corq-crash-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/data";
  }
  void TearDown() override {
    const char *keep = std::getenv("CORQ_CRASH_KEEP");
    if (HasFailure() || (keep != nullptr && std::string(keep) == "1")) {
      std::cerr << "crash test: data directory kept at " << dir_ << "\n";
      return;
    }
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  Book &book(std::uint64_t id) {
    if (id >= books_.size()) books_.resize(std::max<std::size_t>(id + 1, books_.size() * 2));
    return books_[id];
  }

  void violation(const std::string &what) {
    if (violations_.size() < 40) violations_.push_back(what);
    ++violation_count_;
  }

  /// Applies one report line of the current cycle's child.
  void apply(std::string_view line, CycleReport &cycle) {
    if (line.empty()) return violation("empty report line");
    std::string_view rest = line;
    std::vector<std::string_view> fields;
    while (!rest.empty()) {
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      const std::size_t end = std::min(rest.find(' '), rest.size());
      if (end > 0) fields.push_back(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    if (fields.empty()) return violation("blank report line");
    const std::string_view kind_word = fields.front();
    fields.erase(fields.begin());
    if (kind_word.size() == 2 && kind_word[0] == 'T')
      return apply_txn(kind_word, fields, line, cycle);
    if (kind_word.size() == 2) return apply_stream(kind_word, fields, line, cycle);
    if (kind_word.size() != 1) return violation("unknown report line: " + std::string(line));
    const char kind = kind_word[0];
    auto number = [&](std::string_view text) { return parse_number(text, line); };
    switch (kind) {
      case 'O':
        cycle.opened = true;
        cycle.opened_after_ms = static_cast<int>(elapsed_ms(child_started_));
        return;
      case 'E': return violation("child reported: " + std::string(line.substr(2)));
      case 'Y': {
        ++cycle.syncs;
        for (const auto &[id, count] : undurable_deliveries_) {
          Book &b = book(id);
          b.durable_count = std::max(b.durable_count, count);
        }
        undurable_deliveries_.clear();
        return;
      }
      case 'F': {
        if (fields.size() != 1) return violation("bad report line: " + std::string(line));
        const std::uint64_t id = number(fields[0]);
        Book &b = book(id);
        if (id == 0 || b.attempted) return violation("id " + std::to_string(id) + " sent twice");
        b.attempted = true;
        b.fanout = true;
        next_id_ = std::max(next_id_, id + 1);
        ++cycle.sent;
        ++cycle.fanned;
        return;
      }
      case 'S':
      case 'C': {
        if (fields.size() != 2) return violation("bad report line: " + std::string(line));
        const std::uint64_t first = number(fields[0]);
        const std::uint64_t last = number(fields[1]);
        if (first == 0 || last < first) return violation("bad range: " + std::string(line));
        for (std::uint64_t id = first; id <= last; ++id) {
          Book &b = book(id);
          if (kind == 'S') {
            if (b.attempted) return violation("id " + std::to_string(id) + " sent twice");
            b.attempted = true;
            next_id_ = std::max(next_id_, id + 1);
            ++cycle.sent;
          } else {
            if (!b.attempted) return violation("id " + std::to_string(id) + " confirmed, not sent");
            b.confirmed = true;
            ++cycle.confirmed;
          }
        }
        return;
      }
      case 'D': {
        for (std::string_view field : fields) {
          const std::size_t a = field.find(':');
          const std::size_t b = field.find(':', a + 1);
          if (a == std::string_view::npos || b == std::string_view::npos) {
            return violation("bad report line: " + std::string(line));
          }
          const std::uint64_t id = number(field.substr(0, a));
          const std::uint64_t message_id = number(field.substr(a + 1, b - a - 1));
          const auto count = static_cast<std::uint32_t>(number(field.substr(b + 1)));
          check_message_id(id, message_id, "delivered to the child");
          if (!book(id).attempted) violation("child got id " + std::to_string(id) + ", never sent");
          undurable_deliveries_.emplace_back(id, count);
          ++cycle.delivered;
        }
        return;
      }
      case 'K':
      case 'A': {
        for (std::string_view field : fields) {
          const std::uint64_t id = number(field);
          Book &b = book(id);
          if (kind == 'K') {
            b.ack_try_cycle = cycle.cycle;
            ++cycle.ack_tries;
          } else {
            if (b.ack_try_cycle != cycle.cycle) {
              violation("durable ack of " + std::to_string(id) + " without an ack try");
            }
            b.acked = true;
            ++cycle.acked;
          }
        }
        return;
      }
      default: violation("unknown report line: " + std::string(line));
    }
  }

  TxnBook &txn_book(std::uint64_t id) {
    if (id >= txn_books_.size())
      txn_books_.resize(std::max<std::size_t>(id + 1, txn_books_.size() * 2));
    return txn_books_[id];
  }

  /// Applies one of the transactions' report lines ("T" kinds; see crash_protocol.hpp).
  void apply_txn(std::string_view kind, const std::vector<std::string_view> &fields,
                 std::string_view line, CycleReport &cycle) {
    auto number = [&](std::string_view text) { return parse_number(text, line); };
    if (kind == "TS" || kind == "TP") {
      if (fields.size() != 2) return violation("bad report line: " + std::string(line));
      const std::uint64_t first = number(fields[0]);
      const std::uint64_t last = number(fields[1]);
      if (first == 0 || last < first) return violation("bad range: " + std::string(line));
      for (std::uint64_t id = first; id <= last; ++id) {
        TxnBook &b = txn_book(id);
        if (kind == "TS") {
          if (b.attempted) return violation("txn input " + std::to_string(id) + " sent twice");
          b.attempted = true;
          ++cycle.txn_sent;
        } else {
          if (!b.attempted)
            return violation("txn input " + std::to_string(id) + " confirmed, not sent");
          b.confirmed = true;
          ++cycle.txn_confirmed;
        }
      }
      if (kind == "TS") next_txn_id_ = std::max(next_txn_id_, last + 1);
      return;
    }
    if ((kind != "TK" && kind != "TC") || fields.empty()) {
      return violation("bad report line: " + std::string(line));
    }
    std::vector<std::uint64_t> ids;
    for (std::string_view field : fields) ids.push_back(number(field));
    if (kind == "TC") {
      if (txn_tries_this_cycle_.empty() || txn_tries_this_cycle_.back() != ids) {
        return violation("a commit of other ids than the last commit tried: " + std::string(line));
      }
      for (std::uint64_t id : ids) txn_book(id).committed = true;
      ++cycle.txn_commits;
      cycle.txn_inputs_committed += ids.size();
      return;
    }
    for (std::uint64_t id : ids) {
      TxnBook &b = txn_book(id);
      if (!b.attempted) violation("txn input " + std::to_string(id) + " taken, never sent");
      // Its input was acked by a durable commit: it may never be delivered again.
      if (b.committed || b.seen_out) {
        violation("txn input " + std::to_string(id) + " taken again after its transaction " +
                  "committed " + describe_txn_book(b));
      }
      b.commit_try_cycle = cycle.cycle;
    }
    txn_tries_this_cycle_.push_back(std::move(ids));
    ++cycle.txn_commit_tries;
  }

  std::uint64_t parse_number(std::string_view text, std::string_view line) {
    std::uint64_t v = 0;
    if (text.empty()) violation("bad number in report line: " + std::string(line));
    for (char c : text) {
      if (c < '0' || c > '9') {
        violation("bad number in report line: " + std::string(line));
        return 0;
      }
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
  }

  RecordBook &record(std::uint64_t id) {
    if (id >= records_.size()) records_.resize(std::max<std::size_t>(id + 1, records_.size() * 2));
    return records_[id];
  }

  PlaceBook &place(std::uint32_t partition, std::uint64_t offset) {
    std::vector<PlaceBook> &places = places_[partition];
    if (offset >= places.size())
      places.resize(std::max<std::size_t>(offset + 1, places.size() * 2));
    return places[offset];
  }

  static std::string place_name(std::uint32_t partition, std::uint64_t offset) {
    return std::to_string(partition) + ":" + std::to_string(offset);
  }

  /// Record `id` is in the stream for good at partition:offset (`where` says who knows): it was
  /// nowhere else, and nothing else was there.
  void place_record(std::uint64_t id, std::uint32_t partition, std::uint64_t offset,
                    const char *where) {
    RecordBook &r = record(id);
    if (r.placed && (r.partition != partition || r.offset != offset)) {
      violation("record " + std::to_string(id) + " was at " + place_name(r.partition, r.offset) +
                ", now at " + place_name(partition, offset) + " (" + where + ")");
    }
    PlaceBook &p = place(partition, offset);
    if (p.id != 0 && p.id != id) {
      violation("offset " + place_name(partition, offset) + " held record " + std::to_string(p.id) +
                ", now record " + std::to_string(id) + " (" + where + ")");
    }
    r.placed = true;
    r.partition = partition;
    r.offset = offset;
    p.id = id;
  }

  /// Applies one of the stream's report lines (two-letter kinds; see crash_protocol.hpp).
  void apply_stream(std::string_view kind, const std::vector<std::string_view> &fields,
                    std::string_view line, CycleReport &cycle) {
    auto number = [&](std::string_view text) { return parse_number(text, line); };
    auto bad_line = [&] { violation("bad report line: " + std::string(line)); };
    // "<partition>:<offset>" or, with_id, "<partition>:<offset>:<id>".
    auto parse_place = [&](std::string_view field, bool with_id, std::uint32_t &partition,
                           std::uint64_t &offset, std::uint64_t &id) {
      const std::size_t a = field.find(':');
      const std::size_t b = with_id ? field.find(':', a + 1) : field.size();
      if (a == std::string_view::npos || b == std::string_view::npos) return false;
      const std::uint64_t p = number(field.substr(0, a));
      offset = number(field.substr(a + 1, b - a - 1));
      id = with_id ? number(field.substr(b + 1)) : 0;
      partition = static_cast<std::uint32_t>(p);
      return p < crash::stream_partitions && (!with_id || id != 0);
    };
    const int g = cycle.group;
    if (kind == "SA") {
      if (fields.size() != 2) return bad_line();
      const std::uint64_t first = number(fields[0]);
      const std::uint64_t last = number(fields[1]);
      if (first == 0 || last < first) return violation("bad range: " + std::string(line));
      for (std::uint64_t id = first; id <= last; ++id) {
        RecordBook &r = record(id);
        if (r.attempted) return violation("record " + std::to_string(id) + " appended twice");
        r.attempted = true;
        r.call_first = first;
        r.call_last = last;
      }
      next_record_id_ = std::max(next_record_id_, last + 1);
      calls_this_cycle_.emplace_back(first, last);
      cycle.records_sent += last - first + 1;
    } else if (kind == "SC") {
      if (fields.size() != 4) return bad_line();
      const std::uint64_t partition = number(fields[0]);
      const std::uint64_t offset = number(fields[1]);
      const std::uint64_t first = number(fields[2]);
      const std::uint64_t last = number(fields[3]);
      if (partition >= crash::stream_partitions || first == 0 || last < first) return bad_line();
      for (std::uint64_t id = first; id <= last; ++id) {
        RecordBook &r = record(id);
        if (!r.attempted || r.call_first != first || r.call_last != last) {
          return violation("records " + std::to_string(first) + ".." + std::to_string(last) +
                           " confirmed, not appended by one call");
        }
        r.confirmed = true;
        place_record(id, static_cast<std::uint32_t>(partition), offset + (id - first), "confirmed");
      }
      cycle.records_confirmed += last - first + 1;
    } else if (kind == "GD") {
      for (std::string_view field : fields) {
        std::uint32_t partition = 0;
        std::uint64_t offset = 0, id = 0;
        if (!parse_place(field, true, partition, offset, id)) return bad_line();
        if (!record(id).attempted) {
          violation("the group got record " + std::to_string(id) + ", never appended");
        }
        place_record(id, partition, offset, "delivered to the child's group member");
        ++cycle.group_delivered;
      }
    } else if (kind == "GK" || kind == "GA") {
      for (std::string_view field : fields) {
        std::uint32_t partition = 0;
        std::uint64_t offset = 0, unused = 0;
        if (!parse_place(field, false, partition, offset, unused)) return bad_line();
        PlaceBook &p = place(partition, offset);
        if (kind == "GK") {
          p.ack_try_cycle[g] = cycle.cycle;
          ++cycle.group_ack_tries;
        } else {
          if (p.ack_try_cycle[g] != cycle.cycle) {
            violation("durable group ack of " + place_name(partition, offset) +
                      " without an ack try");
          }
          p.acked[g] = true;
          ++cycle.group_acked;
        }
      }
    } else {
      violation("unknown report line: " + std::string(line));
    }
  }

  /// A payload id always names the same engine message id; within one engine, an engine message
  /// id names one payload. (A publish lost in the crash may leave its engine id to the next
  /// engine: the reverse map across engines holds only messages known to be in the log — see
  /// register_durable_ids.)
  void check_message_id(std::uint64_t id, std::uint64_t message_id, const char *where) {
    Book &b = book(id);
    if (b.message_id == 0) {
      b.message_id = message_id;
    } else if (b.message_id != message_id) {
      violation("payload id " + std::to_string(id) + " was message " +
                std::to_string(b.message_id) + ", now message " + std::to_string(message_id) +
                " (" + where + ")");
    }
    auto [it, inserted] = ids_this_engine_.try_emplace(message_id, id);
    if (!inserted && it->second != id) {
      violation("engine message id " + std::to_string(message_id) + " names payload ids " +
                std::to_string(it->second) + " and " + std::to_string(id) + " (" + where + ")");
    }
    if (auto d = id_of_message_.find(message_id); d != id_of_message_.end() && d->second != id) {
      violation("engine message id " + std::to_string(message_id) + " of payload id " +
                std::to_string(d->second) + ", which was in the log, now names payload id " +
                std::to_string(id) + " (" + where + ")");
    }
  }

  /// Engine message ids of messages known to be in the log (confirmed, durably acked, or found by
  /// a check) name their payload for good: no later engine may give them to another payload.
  void register_durable_id(std::uint64_t id) {
    const Book &b = books_[id];
    if (b.message_id == 0) return;
    auto [it, inserted] = id_of_message_.try_emplace(b.message_id, id);
    if (!inserted && it->second != id) {
      violation("engine message id " + std::to_string(b.message_id) + " names payload ids " +
                std::to_string(it->second) + " and " + std::to_string(id) + ", both in the log");
    }
  }

  /// Feeds whatever the pipe has; returns false at end of file.
  bool read_reports(int fd, std::string &pending, CycleReport &cycle) {
    char buffer[65536];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return true;
      violation("read from the child's pipe failed");
      return false;
    }
    if (n == 0) return false;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      apply(std::string_view(pending).substr(start, nl - start), cycle);
    }
    pending.erase(0, start);
    return true;
  }

  /// Starts the child, lets it run `cycle.kill_after_ms`, kills it and reads every report.
  void run_child(CycleReport &cycle) {
    ids_this_engine_.clear();
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const int child_fd = 3;
    posix_spawn_file_actions_t actions;
    ASSERT_EQ(posix_spawn_file_actions_init(&actions), 0);
    ASSERT_EQ(posix_spawn_file_actions_adddup2(&actions, fds[1], child_fd), 0);  // clears CLOEXEC
    const std::string seed = std::to_string(cycle.child_seed);
    const std::string start = std::to_string(next_id_);
    const std::string fd = std::to_string(child_fd);
    const std::string record_start = std::to_string(next_record_id_);
    std::vector<std::string> command = child_command(
        CORQ_CRASH_CHILD, {dir_, seed, start, fd, cycle.backend, record_start,
                           crash::group_modes[cycle.group], std::to_string(next_txn_id_)});
    std::vector<char *> argv;
    for (auto &word : command) argv.push_back(word.data());
    argv.push_back(nullptr);
    const std::string &child = command.front();
    pid_t pid = -1;
    child_started_ = std::chrono::steady_clock::now();
    const int spawned = posix_spawnp(&pid, child.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (spawned != 0) {
      ::close(fds[0]);
      FAIL() << "posix_spawn " << child << ": " << std::strerror(spawned);
    }
    std::string pending;
    bool open = true;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(cycle.kill_after_ms);
    while (open) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left));
      if (ready > 0) open = read_reports(fds[0], pending, cycle);
    }
    cycle.child_peak_rss_kb = peak_rss_kb(pid);
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (open) open = read_reports(fds[0], pending, cycle);
    ::close(fds[0]);
    if (!pending.empty()) violation("the child's last report line is incomplete: " + pending);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      violation("the child ended before the kill (status " + std::to_string(status) + ")");
    }
  }

  /// Copies the directory as the kill left it (before this check opens it) to
  /// <root>/after-kill-<cycle>, keeping this cycle's and the previous one's: on a failure they are
  /// the state to replay the recovery from, and the state the previous check recovered.
  void snapshot(int cycle) {
    if (!snapshots_) return;
    std::error_code ignored;
    fs::remove_all(root_ + "/after-kill-" + std::to_string(cycle - 2), ignored);
    const std::string to = root_ + "/after-kill-" + std::to_string(cycle);
    std::error_code ec;
    fs::copy(dir_, to, fs::copy_options::recursive, ec);
    if (ec && fs::exists(dir_))
      violation("cannot copy " + dir_ + " to " + to + ": " + ec.message());
  }

  /// The window of each consumer a check takes a queue with (it opens as many as it needs):
  /// opening one costs in proportion to its size (a 65536-slot window ~10 ms), and a few
  /// thousand slots hold what one of these queues has, or most of it.
  static constexpr std::uint32_t take_window = 4096;

  /// Opens the directory, takes every message without acking, checks the books.
  void check(CycleReport &cycle) {
    const auto start = std::chrono::steady_clock::now();
    snapshot(cycle.cycle);
    cycle.disk_bytes = disk_bytes(dir_);
    ConfigPtr options(corq_config_new());
    crash::set_engine_options(options.get(), cycle.backend.c_str());
    corq_engine *raw = nullptr;
    const auto open_start = std::chrono::steady_clock::now();
    const int rc = corq_open(dir_.c_str(), options.get(), &raw);
    cycle.open_ms = static_cast<std::uint64_t>(elapsed_ms(open_start));
    if (rc != CORQ_OK) {
      return violation(std::string("corq_open after the kill: ") + corq_strerror(rc) + " (" +
                       corq_last_error() + ")");
    }
    EnginePtr engine(raw);
    ids_this_engine_.clear();
    ConfigPtr queue(corq_config_new());
    crash::set_queue_options(queue.get());
    must(corq_queue_declare(engine.get(), crash::queue_name, queue.get()), "declare");
    must(corq_queue_declare(engine.get(), crash::keep_queue_name, queue.get()), "declare");

    std::unordered_map<std::uint64_t, std::uint32_t> present;  // id -> delivery count
    // Kept copies of fanned-out messages (their other copy, in the consumed queue, is in present).
    std::unordered_map<std::uint64_t, std::uint32_t> kept_copies;
    std::vector<ConsumerPtr> consumers;
    std::vector<corq_delivery> batch(4096);
    // Both queues: the one the children consume and the one whose messages stay.
    for (const char *queue_name : {crash::queue_name, crash::keep_queue_name}) {
      const bool kept = queue_name == std::string(crash::keep_queue_name);
      std::size_t taken_here = 0;
      for (bool more = true; more;) {
        consumers.push_back(open_consumer(engine.get(), queue_name, take_window));
        std::size_t taken = 0;
        for (;;) {
          const int n =
              must(corq_consume(consumers.back().get(), batch.data(), batch.size(), 0), "consume");
          if (n == 0) break;
          taken += static_cast<std::size_t>(n);
          taken_here += static_cast<std::size_t>(n);
          for (int i = 0; i < n; ++i) {
            const corq_delivery &d = batch[static_cast<std::size_t>(i)];
            const std::uint64_t id = crash::id_of_payload(d.data, d.len);
            if (id == 0) {
              violation("message " + std::to_string(d.message_id) + ": corrupt payload (" +
                        std::to_string(d.len) + " bytes)");
              continue;
            }
            const std::string number = std::to_string(id);
            const bool fanout = id < books_.size() && books_[id].fanout;
            if (header_value(d, crash::id_header) != number ||
                (fanout ? !crash::has_routing_headers(d) : d.header_count != 1)) {
              violation("id " + number + ": wrong headers" + (fanout ? " (fanned out)" : ""));
            }
            // Both copies of a fanned-out message: the one id of its publish.
            check_message_id(id, d.message_id, kept ? "recovered, kept queue" : "recovered");
            auto &into = fanout && kept ? kept_copies : present;
            if (!into.emplace(id, d.delivery_count).second) {
              violation("id " + number + " is in " + queue_name + " twice");
            }
          }
        }
        more = taken == take_window;  // the window is full: there may be more
      }
      const corq_queue_stats s = stats(engine.get(), queue_name);
      if (s.ready != 0 || s.delayed != 0 || s.in_flight != taken_here) {
        violation(std::string("after taking every message of ") + queue_name + ": " + describe(s));
      }
    }
    const corq_queue_stats dlq = stats(engine.get(), crash::dead_letter_queue_name);
    if (dlq.ready + dlq.delayed + dlq.in_flight != 0) {
      violation("the dead-letter queue is not empty: " + describe(dlq));
    }

    const std::string when = " (at the check of cycle " + std::to_string(cycle.cycle) + ")";
    for (const auto &[id, count] : present) {
      const std::string number = std::to_string(id);
      const Book &b = book(id);
      const std::string when_b = when + " " + describe_book(b);
      if (!b.attempted) violation("id " + number + " is present but was never sent" + when);
      if (b.acked) violation("id " + number + " came back after its ack was durable" + when_b);
      if (b.gone)
        violation("id " + number + " came back after an earlier check lacked it" + when_b);
      if (count < 1) violation("id " + number + ": delivery_count 0" + when);
      if (b.seen_last && count <= b.parent_count) {
        violation("id " + number + ": delivery_count " + std::to_string(count) +
                  ", not above the previous check's " + std::to_string(b.parent_count) + when_b);
      }
      if (count <= b.durable_count) {
        violation("id " + number + ": delivery_count " + std::to_string(count) +
                  ", not above the durable delivery count " + std::to_string(b.durable_count) +
                  when_b);
      }
    }
    for (std::uint64_t id = 1; id < next_id_ && id < books_.size(); ++id) {
      Book &b = books_[id];
      if (!b.attempted || b.gone) continue;
      const auto it = present.find(id);
      if (b.confirmed || b.acked || it != present.end()) register_durable_id(id);
      if (it != present.end()) {
        b.seen_last = true;
        b.parent_count = it->second;
        continue;
      }
      const bool ack_tried = b.ack_try_cycle == cycle.cycle;
      if (!ack_tried && b.confirmed) {
        ++cycle.lost;
        violation("confirmed id " + std::to_string(id) + " is lost" + when + " " +
                  describe_book(b));
      } else if (!ack_tried && b.seen_last) {
        violation("id " + std::to_string(id) + ", present at the previous check, is lost" + when +
                  " " + describe_book(b));
      }
      b.gone = true;
      b.seen_last = false;
      ++cycle.gone;
    }
    check_fanout(cycle, present, kept_copies, when);
    cycle.present = present.size();
    cycle.fan_copies = kept_copies.size();
    check_stream(cycle, engine.get(), when);
    check_txn(cycle, engine.get(), when);
    consumers.clear();  // releases every message for the next child
    engine.reset();
    cycle.check_ms = static_cast<std::uint64_t>(elapsed_ms(start));
  }

  /// What a check read from one partition: its first retained offset and the record id at each
  /// offset from there (0: a record that is not any child's).
  struct PartitionContents {
    std::uint64_t first = 0;
    std::vector<std::uint64_t> ids;
    std::uint64_t end() const { return first + ids.size(); }
  };
  using StreamContents = std::array<PartitionContents, crash::stream_partitions>;
  static constexpr std::size_t check_prefetch = 2 * crash::group_lag_limit;

  /// The stream and its groups after the kill, against the books (see the top of the file).
  void check_stream(CycleReport &cycle, corq_engine *engine, const std::string &when) {
    ConfigPtr options(corq_config_new());
    crash::set_stream_options(options.get());
    // Declared by the first child, unless it was killed before: then here (like the queues).
    must(corq_stream_declare(engine, crash::stream_name, options.get()), "stream_declare");
    StreamContents stream;
    std::vector<corq_stream_record> batch(4096);
    for (std::uint32_t p = 0; p < crash::stream_partitions; ++p) {
      PartitionContents &contents = stream[p];
      ReaderPtr reader = open_reader(engine, crash::stream_name, p, "earliest");
      std::int64_t last_timestamp = 0;
      for (;;) {
        const int n = must(corq_stream_read(reader.get(), batch.data(), batch.size(), 0), "read");
        if (n == 0) break;
        for (int i = 0; i < n; ++i) {
          const corq_stream_record &r = batch[static_cast<std::size_t>(i)];
          if (contents.ids.empty()) {
            contents.first = r.offset;
          } else if (r.offset != contents.end()) {
            // The books below index by offset: nothing more of this stream can be checked.
            return violation("partition " + std::to_string(p) + " has a hole: offset " +
                             std::to_string(r.offset) + " follows " +
                             std::to_string(contents.end() - 1) + when);
          }
          if (r.timestamp_ms < last_timestamp) {
            violation("the timestamp of " + place_name(p, r.offset) + " goes back " +
                      std::to_string(last_timestamp - r.timestamp_ms) + " ms" + when);
          }
          last_timestamp = r.timestamp_ms;
          contents.ids.push_back(check_record(r, p, cycle, when));
        }
      }
      cycle.records_present += contents.ids.size();
    }
    cycle.first_retained = stream[0].first;
    const corq_stream_stats stats = stream_stats(engine, crash::stream_name);
    if (stats.partitions != crash::stream_partitions || stats.records != cycle.records_present) {
      violation("the stream's stats say " + std::to_string(stats.partitions) + " partitions and " +
                std::to_string(stats.records) + " records; its readers read " +
                std::to_string(cycle.records_present) + when);
    }

    // Every record known to be in the stream is there, unless retention deleted it; whatever
    // else was not found is gone for good.
    for (std::uint64_t id = 1; id < next_record_id_; ++id) {
      RecordBook &r = records_[id];
      if (!r.attempted || r.gone || r.found_cycle == cycle.cycle) continue;
      const PartitionContents &contents = stream[r.partition];
      if (r.placed && !contents.ids.empty() && r.offset < contents.first) continue;  // retention
      if (r.placed) {
        violation(std::string(r.confirmed ? "confirmed" : "durable") + " record " +
                  std::to_string(id) + " at " + place_name(r.partition, r.offset) +
                  " is lost; the partition holds [" + std::to_string(contents.first) + ", " +
                  std::to_string(contents.end()) + ")" + when);
      }
      r.gone = true;
      ++cycle.records_gone;
    }

    // An append call of this cycle is there whole, at consecutive offsets of one partition, or
    // not at all. (Calls of earlier cycles were checked by their own cycle's check; their records
    // have been held to their places since.)
    const auto found_now = [&](std::uint64_t id) {
      return records_[id].found_cycle == cycle.cycle;
    };
    for (const auto &[first, last] : calls_this_cycle_) {
      std::uint64_t found = 0;
      for (std::uint64_t id = first; id <= last; ++id) found += found_now(id) ? 1 : 0;
      if (found == 0) continue;
      const std::string name = "append call " + std::to_string(first) + ".." + std::to_string(last);
      const std::uint64_t cut = last - found + 1;  // the first of it, if what is there is its tail
      const RecordBook &tail = records_[last];
      // Retention may have deleted its head: then the rest starts the partition.
      const bool whole_or_cut_by_retention =
          found == last - first + 1 ||
          (found_now(last) && found_now(cut) &&
           records_[cut].offset == stream[records_[cut].partition].first);
      if (!whole_or_cut_by_retention) {
        violation(name + " is there in part: " + std::to_string(found) + " records" + when);
        continue;
      }
      for (std::uint64_t id = cut; id <= last; ++id) {
        const RecordBook &r = records_[id];
        if (!found_now(id) || r.partition != tail.partition ||
            r.offset != tail.offset - (last - id)) {
          violation(name + " is not at consecutive offsets of one partition: record " +
                    std::to_string(id) + " at " + place_name(r.partition, r.offset) + ", record " +
                    std::to_string(last) + " at " + place_name(tail.partition, tail.offset) + when);
          break;
        }
      }
    }

    for (int g = 0; g < crash::group_mode_count; ++g) check_group(cycle, engine, g, stream, when);
  }

  /// One record a check read from partition `p`: intact, someone's, and at its place. Returns its
  /// id (0: it is no child's record).
  std::uint64_t check_record(const corq_stream_record &in, std::uint32_t p, CycleReport &cycle,
                             const std::string &when) {
    const std::string where = place_name(p, in.offset);
    const std::uint64_t id = crash::id_of_payload(in.data, in.len, crash::record_salt);
    if (id == 0) {
      violation("the record at " + where + " is corrupt (" + std::to_string(in.len) + " bytes)" +
                when);
      return 0;
    }
    const std::string number = std::to_string(id);
    if (id >= records_.size() || !records_[id].attempted) {
      violation("record " + number + " at " + where + " was never appended" + when);
      return 0;
    }
    RecordBook &r = records_[id];
    const std::optional<std::string> key = crash::record_key_of(r.call_first);
    const bool key_intact =
        key ? in.key != nullptr &&
                  std::string(static_cast<const char *>(in.key), in.key_len) == *key
            : in.key == nullptr;
    const bool headers_intact =
        in.header_count == 1 && std::strcmp(in.headers[0].key, crash::id_header) == 0 &&
        std::string(static_cast<const char *>(in.headers[0].value), in.headers[0].value_len) ==
            number;
    if (!key_intact || !headers_intact) {
      violation("record " + number + " at " + where + ": wrong " +
                (key_intact ? "headers" : "key") + when);
    }
    if (r.gone)
      violation("record " + number + " is back at " + where + " after a check lacked it" + when);
    if (r.found_cycle == cycle.cycle)
      violation("record " + number + " is in the stream twice" + when);
    r.found_cycle = cycle.cycle;
    place_record(id, p, in.offset, "found by the check");
    return id;
  }

  /// Group g (crash::group_modes): a member with the child's options takes everything it can
  /// without acking; exactly the records in the stream the group has not settled must come.
  void check_group(CycleReport &cycle, corq_engine *engine, int g, const StreamContents &stream,
                   const std::string &when) {
    const char *mode = crash::group_modes[g];
    const bool ordered = std::string(mode) == "ordered";
    const std::string group = crash::group_name(mode);
    const std::string in_group = " (group " + group + ")" + when;
    ConfigPtr options(corq_config_new());
    crash::set_group_options(options.get(), mode);
    // More than any group lags (crash::group_lag_limit): one member's window takes all there is.
    corq_config_set(options.get(), "prefetch", std::to_string(check_prefetch).c_str());
    corq_consumer *raw = nullptr;
    must(corq_group_consumer_open(engine, crash::stream_name, group.c_str(), options.get(), &raw),
         "group_consumer_open " + group);
    ConsumerPtr member(raw);
    std::array<std::vector<bool>, crash::stream_partitions> delivered;
    std::array<std::uint64_t, crash::stream_partitions> next_in_order{};  // ordered mode
    for (std::uint32_t p = 0; p < crash::stream_partitions; ++p) {
      delivered[p].assign(stream[p].ids.size(), false);
      next_in_order[p] = stream[p].first;
    }
    std::vector<corq_delivery> batch(4096);
    std::size_t taken = 0;
    for (;;) {
      const int n = must(corq_consume(member.get(), batch.data(), batch.size(), 0), "consume");
      if (n == 0) break;
      taken += static_cast<std::size_t>(n);
      for (int i = 0; i < n; ++i) {
        const corq_delivery &d = batch[static_cast<std::size_t>(i)];
        const std::optional<std::int64_t> partition =
            parse_decimal(header_value(d, "x-stream-partition"));
        const std::uint64_t offset = d.message_id;
        if (!partition || *partition >= crash::stream_partitions) {
          violation("a delivery without a partition" + in_group);
          continue;
        }
        const auto p = static_cast<std::uint32_t>(*partition);
        const std::string where = place_name(p, offset);
        if (offset < stream[p].first || offset >= stream[p].end()) {
          violation("delivered " + where + ", not in the stream" + in_group);
          continue;
        }
        const std::uint64_t index = offset - stream[p].first;
        const std::uint64_t id = crash::id_of_payload(d.data, d.len, crash::record_salt);
        if (id != stream[p].ids[index] ||
            header_value(d, "x-stream-offset") != std::to_string(offset)) {
          violation("delivered " + where + " as record " + std::to_string(id) +
                    " (or with a wrong x-stream-offset); the stream holds record " +
                    std::to_string(stream[p].ids[index]) + in_group);
        }
        if (delivered[p][index]) violation("delivered " + where + " twice" + in_group);
        delivered[p][index] = true;
        if (ordered && offset < next_in_order[p]) {
          violation("delivered " + where + " after offset " + std::to_string(next_in_order[p] - 1) +
                    " of its partition" + in_group);
        }
        next_in_order[p] = std::max(next_in_order[p], offset + 1);
      }
    }
    if (taken >= check_prefetch)
      violation("the check's member window filled up: it cannot tell" + in_group);
    for (std::uint32_t p = 0; p < crash::stream_partitions; ++p) {
      for (std::uint64_t index = 0; index < delivered[p].size(); ++index) {
        const std::uint64_t offset = stream[p].first + index;
        PlaceBook &book = place(p, offset);
        const std::string where =
            place_name(p, offset) + " (record " + std::to_string(stream[p].ids[index]) + ")";
        if (book.acked[g] && delivered[p][index]) {
          violation(where + " was delivered again after its ack was durable" + in_group);
        } else if (!book.acked[g] && !delivered[p][index] && book.ack_try_cycle[g] != cycle.cycle) {
          violation(where +
                    " was not delivered, yet the group never settled it (its last ack try: " +
                    "cycle " + std::to_string(book.ack_try_cycle[g]) + ")" + in_group);
        }
        // An ack tried in this cycle survived the kill: settled for good.
        if (!delivered[p][index]) book.acked[g] = true;
      }
    }
    cycle.group_pending[static_cast<std::size_t>(g)] = taken;
    // Closing the member releases its deliveries (nothing of that is logged).
  }

  /// Where a check holds a message it took: its consumer and tag.
  struct Taken {
    corq_consumer *consumer;
    std::uint64_t tag;
  };
  using TakenMessages = std::map<std::uint64_t, Taken>;  // by transaction id

  /// The transactions after the kill (DESIGN §8), against the books: takes every input of
  /// crash-txn-in and every output of crash-txn-out without acking, reads crash-txn-ledger from
  /// its first record, and holds what it found to the rules (check_txn_books).
  void check_txn(CycleReport &cycle, corq_engine *engine, const std::string &when) {
    // Declared by the first child, unless it was killed before: then here (like the others).
    ConfigPtr queue(corq_config_new());
    crash::set_queue_options(queue.get());
    must(corq_queue_declare(engine, crash::txn_input_queue_name, queue.get()), "declare");
    must(corq_queue_declare(engine, crash::txn_output_queue_name, queue.get()), "declare");
    ConfigPtr ledger_options(corq_config_new());
    crash::set_txn_ledger_options(ledger_options.get());
    must(corq_stream_declare(engine, crash::txn_ledger_name, ledger_options.get()),
         "stream_declare");
    std::vector<ConsumerPtr> consumers;  // closing them releases everything for the next child
    const TakenMessages inputs =
        take_txn_queue(engine, crash::txn_input_queue_name, crash::txn_input_salt, consumers, when);
    const TakenMessages outputs = take_txn_queue(engine, crash::txn_output_queue_name,
                                                 crash::txn_output_salt, consumers, when);
    const corq_queue_stats dlq = stats(engine, std::string(crash::txn_input_queue_name) + ".dlq");
    if (dlq.ready + dlq.delayed + dlq.in_flight != 0) {
      violation(std::string(crash::txn_input_queue_name) +
                "'s dead-letter queue is not empty: " + describe(dlq) + when);
    }
    std::unordered_set<std::uint64_t> ledger;
    if (!read_txn_ledger(engine, ledger, when)) return;
    check_txn_books(cycle, inputs, outputs, ledger, when);
    cycle.txn_inputs_present = inputs.size();
    cycle.txn_outputs_present = outputs.size();
    settle_txn_outputs(cycle, engine, outputs);
  }

  /// Outputs a check keeps: past that, it acks the oldest. Outputs stay across many kills, so
  /// the log keeps and compacts transactions' records around them, but a long run (the soak)
  /// does not grow crash-txn-out, and every check, without bound.
  static constexpr std::size_t txn_outputs_kept = 1000;

  /// Acks the oldest outputs past txn_outputs_kept and makes the acks durable: from now on those
  /// outputs must never be there again, and their ledger records stay.
  void settle_txn_outputs(CycleReport &cycle, corq_engine *engine, const TakenMessages &outputs) {
    if (outputs.size() <= txn_outputs_kept) return;
    std::size_t excess = outputs.size() - txn_outputs_kept;
    for (auto it = outputs.begin(); excess > 0; ++it, --excess) {  // by id: the oldest first
      must(corq_ack(it->second.consumer, it->second.tag), "ack an output");
      txn_books_[it->first].out_settled = true;
      ++cycle.txn_outputs_settled;
    }
    must(corq_sync(engine, 10000), "sync the outputs' acks");
  }

  /// Takes every message of one of the transactions' queues without acking (the consumers go to
  /// `consumers`): each intact (payload of `salt`, the id header) and there once.
  TakenMessages take_txn_queue(corq_engine *engine, const char *queue, std::uint64_t salt,
                               std::vector<ConsumerPtr> &consumers, const std::string &when) {
    TakenMessages ids;
    std::vector<corq_delivery> batch(take_window);
    std::size_t taken = 0;
    for (bool more = true; more;) {
      consumers.push_back(open_consumer(engine, queue, take_window));
      std::size_t taken_here = 0;
      for (int n; (n = must(corq_consume(consumers.back().get(), batch.data(), batch.size(), 0),
                            "consume")) > 0;) {
        taken_here += static_cast<std::size_t>(n);
        for (int i = 0; i < n; ++i) {
          const corq_delivery &d = batch[static_cast<std::size_t>(i)];
          const std::uint64_t id = crash::id_of_payload(d.data, d.len, salt);
          if (id == 0) {
            violation(std::string(queue) + ": message " + std::to_string(d.message_id) +
                      ": corrupt payload (" + std::to_string(d.len) + " bytes)" + when);
            continue;
          }
          const std::string number = std::to_string(id);
          if (d.header_count != 1 || header_value(d, crash::id_header) != number) {
            violation(std::string(queue) + ": id " + number + ": wrong headers" + when);
          }
          if (!ids.emplace(id, Taken{consumers.back().get(), d.tag}).second)
            violation(std::string(queue) + " holds id " + number + " twice" + when);
        }
      }
      taken += taken_here;
      more = taken_here == take_window;  // the window is full: there may be more
    }
    const corq_queue_stats s = stats(engine, queue);
    if (s.ready != 0 || s.delayed != 0 || s.in_flight != taken) {
      violation(std::string("after taking every message of ") + queue + ": " + describe(s) + when);
    }
    return ids;
  }

  /// Reads crash-txn-ledger from its first record into `ids`: offsets dense from 0 (nothing is
  /// ever deleted from it), every record intact (payload, no key, the id header) and there once,
  /// and the records the previous check read still at their offsets. False when the ledger cannot
  /// be held to the books.
  bool read_txn_ledger(corq_engine *engine, std::unordered_set<std::uint64_t> &ids,
                       const std::string &when) {
    std::vector<std::uint64_t> in_order;
    std::vector<corq_stream_record> batch(4096);
    ReaderPtr reader = open_reader(engine, crash::txn_ledger_name, 0, "earliest");
    for (int n;
         (n = must(corq_stream_read(reader.get(), batch.data(), batch.size(), 0), "read")) > 0;) {
      for (int i = 0; i < n; ++i) {
        const corq_stream_record &r = batch[static_cast<std::size_t>(i)];
        const std::string where =
            std::string(crash::txn_ledger_name) + " offset " + std::to_string(r.offset);
        if (r.offset != in_order.size()) {
          violation(where + " follows " + std::to_string(in_order.size()) +
                    " records: a hole, or records deleted" + when);
          return false;
        }
        const std::uint64_t id = crash::id_of_payload(r.data, r.len, crash::txn_ledger_salt);
        in_order.push_back(id);
        if (id == 0) {
          violation(where + ": corrupt record (" + std::to_string(r.len) + " bytes)" + when);
          continue;
        }
        const std::string number = std::to_string(id);
        if (r.key != nullptr || r.key_len != 0 || r.header_count != 1 ||
            std::strcmp(r.headers[0].key, crash::id_header) != 0 ||
            std::string(static_cast<const char *>(r.headers[0].value), r.headers[0].value_len) !=
                number) {
          violation(where + ": record " + number + " has a wrong key or headers" + when);
        }
        if (!ids.insert(id).second)
          violation(where + ": record " + number + " is there twice" + when);
      }
    }
    const corq_stream_stats s = stream_stats(engine, crash::txn_ledger_name);
    if (s.partitions != 1 || s.records != in_order.size()) {
      violation(std::string(crash::txn_ledger_name) + ": the stats say " +
                std::to_string(s.partitions) + " partitions and " + std::to_string(s.records) +
                " records; the reader read " + std::to_string(in_order.size()) + when);
    }
    // An offset once read never changes (DESIGN §7).
    for (std::size_t offset = 0; offset < txn_ledger_.size(); ++offset) {
      const std::uint64_t now = offset < in_order.size() ? in_order[offset] : 0;
      if (now != txn_ledger_[offset]) {
        violation(std::string(crash::txn_ledger_name) + " offset " + std::to_string(offset) +
                  " held record " + std::to_string(txn_ledger_[offset]) +
                  " at the previous check, " +
                  (offset < in_order.size() ? "now record " + std::to_string(now) : "now nothing") +
                  when);
        break;
      }
    }
    txn_ledger_ = std::move(in_order);
    return true;
  }

  /// The rules of issue #18 for every transaction id (see the top of the file); updates the books.
  void check_txn_books(CycleReport &cycle, const TakenMessages &inputs,
                       const TakenMessages &outputs,
                       const std::unordered_set<std::uint64_t> &ledger, const std::string &when) {
    auto never_sent = [&](std::uint64_t id, const char *where) {
      if (id >= txn_books_.size() || !txn_books_[id].attempted) {
        violation("txn id " + std::to_string(id) + " is in " + where +
                  " but its input was never sent" + when);
      }
    };
    for (const auto &[id, taken] : inputs) never_sent(id, crash::txn_input_queue_name);
    for (const auto &[id, taken] : outputs) never_sent(id, crash::txn_output_queue_name);
    for (std::uint64_t id : ledger) never_sent(id, crash::txn_ledger_name);
    for (std::uint64_t id = 1; id < next_txn_id_ && id < txn_books_.size(); ++id) {
      TxnBook &b = txn_books_[id];
      if (!b.attempted) continue;
      const bool in = inputs.count(id) != 0;
      const bool out = outputs.count(id) != 0;
      const bool recorded = ledger.count(id) != 0;
      auto fails = [&](const std::string &what) {
        violation("txn id " + std::to_string(id) + " " + what + when + " " + describe_txn_book(b));
      };
      // An output a check acked counts as produced: the ack removed it, not a crash.
      const bool produced = out || b.out_settled;
      if (b.gone && (in || out || recorded)) fails("is back after a check found it nowhere");
      if (in && (produced || b.committed)) fails("has its input back, though it was committed");
      if (out && b.out_settled) fails("has its output back after a check acked it durably");
      if (produced != recorded) {
        fails(produced ? "has its output but no ledger record: half a transaction"
                       : "has its ledger record but no output: half a transaction");
      }
      if (b.seen_out && !produced) fails("lost its output, present at an earlier check");
      if (b.seen_out && !recorded) fails("lost its ledger record, present at an earlier check");
      if (b.committed && !produced) fails("lost its output, though its commit returned OK");
      if (out && !b.seen_out && b.commit_try_cycle != cycle.cycle) {
        fails("has a new output, yet no commit acking it was tried in this cycle");
      }
      if (!in && !produced && (b.confirmed || b.seen_in_last)) {
        fails(b.confirmed ? "is lost: its input was confirmed, and no output is there"
                          : "is lost: its input was there at the previous check, no output is");
      }
      if (b.seen_in_last && !in && b.commit_try_cycle != cycle.cycle) {
        fails("left the input queue, yet no commit acking it was tried in this cycle");
      }
      b.seen_in_last = in;
      b.seen_out = b.seen_out || out;
      if (!in && !produced && !recorded && !b.gone) {
        b.gone = true;
        ++cycle.txn_gone;
      }
    }
    // All or nothing per transaction: the outputs of every commit tried in this cycle.
    for (const std::vector<std::uint64_t> &ids : txn_tries_this_cycle_) {
      std::size_t there = 0;
      for (std::uint64_t id : ids) there += outputs.count(id);
      if (there != 0 && there != ids.size()) {
        std::string list;
        for (std::uint64_t id : ids)
          list += " " + std::to_string(id) + (outputs.count(id) != 0 ? "+" : "-");
        violation("a transaction is there in part (output there +, missing -):" + list + when);
      }
    }
  }

  /// The fanned-out messages' kept copies against their books (the copies in the consumed queue
  /// were checked as ordinary messages): all or nothing of one publish, one message id (checked
  /// as they were taken), a kept copy there until a kill loses its publish, then never again.
  void check_fanout(CycleReport &cycle,
                    const std::unordered_map<std::uint64_t, std::uint32_t> &present,
                    const std::unordered_map<std::uint64_t, std::uint32_t> &kept_copies,
                    const std::string &when) {
    for (const auto &[id, count] : kept_copies) {
      const Book &b = book(id);
      const std::string number = std::to_string(id);
      const std::string when_b = when + " " + describe_book(b);
      if (b.keep_gone) {
        violation("kept copy of fanned-out id " + number +
                  " came back after an earlier check lacked it" + when_b);
      }
      if (count < 1) violation("kept copy of id " + number + ": delivery_count 0" + when);
      if (b.keep_seen_last && count <= b.keep_count) {
        violation("kept copy of id " + number + ": delivery_count " + std::to_string(count) +
                  ", not above the previous check's " + std::to_string(b.keep_count) + when_b);
      }
    }
    for (std::uint64_t id = 1; id < next_id_ && id < books_.size(); ++id) {
      Book &b = books_[id];
      if (!b.fanout || !b.attempted || b.keep_gone) continue;
      const std::string number = std::to_string(id);
      const auto kept = kept_copies.find(id);
      const bool in_consumed = present.count(id) != 0;
      // Atomic fan-out: one log record put both copies there, only an ack removes the consumed
      // one (tried in this cycle or before: a copy whose ack was tried earlier may be gone).
      if (kept != kept_copies.end() && !in_consumed && b.ack_try_cycle < 0) {
        violation("fanned-out id " + number + " is in " + crash::keep_queue_name + " but not in " +
                  crash::queue_name + ", where it was never acked" + when + " " + describe_book(b));
      }
      if (kept == kept_copies.end() && in_consumed) {
        violation("fanned-out id " + number + " is in " + crash::queue_name + " but not in " +
                  crash::keep_queue_name + ", where nothing settles it" + when + " " +
                  describe_book(b));
      }
      if (kept != kept_copies.end()) {
        b.keep_seen_last = true;
        b.keep_count = kept->second;
        continue;
      }
      if (b.confirmed) {
        ++cycle.lost;
        violation("the kept copy of confirmed fanned-out id " + number + " is lost" + when + " " +
                  describe_book(b));
      } else if (b.keep_seen_last) {
        violation("the kept copy of fanned-out id " + number +
                  ", present at the previous check, is lost" + when + " " + describe_book(b));
      }
      b.keep_gone = true;
      b.keep_seen_last = false;
    }
  }

  /// The child's peak resident set (VmHWM of /proc/PID/status) in KiB; 0 if unreadable.
  static std::uint64_t peak_rss_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    return 0;
  }
  /// Bytes the files under `dir` take on disk (allocated blocks: preallocated segments count
  /// whole).
  static std::uint64_t disk_bytes(const std::string &dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto &entry : fs::recursive_directory_iterator(dir, ec)) {
      struct stat st {};
      if (::stat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
        total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return total;
  }

  /// Runs cycles (numbered from `first_cycle`) until `cycles` have run or `deadline` passed,
  /// killing each child after kill_after(cycle) ms; stops at the first violation. Returns the
  /// cycles' reports.
  template <class KillAfter>
  std::vector<CycleReport> run_cycles(std::uint64_t seed, int cycles,
                                      std::chrono::steady_clock::time_point deadline,
                                      KillAfter kill_after, int first_cycle = 0) {
    std::mt19937_64 rng(seed);
    std::vector<CycleReport> reports;
    for (int c = first_cycle; c < first_cycle + cycles && violation_count_ == 0 &&
                              std::chrono::steady_clock::now() < deadline;
         ++c) {
      CycleReport cycle;
      cycle.cycle = c;
      cycle.child_seed = rng();
      cycle.backend = c % 2 == 0 ? "psync" : "auto";
      cycle.kill_after_ms = kill_after(c, rng);
      cycle.group = crash::group_of_cycle(c);
      undurable_deliveries_.clear();
      calls_this_cycle_.clear();
      txn_tries_this_cycle_.clear();
      run_child(cycle);
      if (HasFatalFailure()) return reports;
      if (violation_count_ == 0) check(cycle);
      reports.push_back(cycle);
    }
    return reports;
  }

  /// Totals of a run, a failure listing every violation and cycle, and the basic expectations.
  void summarize(const char *what, std::uint64_t seed, const std::vector<CycleReport> &reports,
                 std::chrono::steady_clock::time_point start) {
    std::uint64_t sent = 0, fanned = 0, confirmed = 0, acked = 0, opened = 0;
    std::uint64_t records_confirmed = 0, retention_checks = 0;
    std::array<std::uint64_t, crash::group_mode_count> group_cycles{}, group_acked{};
    std::uint64_t txn_commit_tries = 0, txn_commits = 0, txn_inputs_committed = 0;
    for (const CycleReport &r : reports) {
      sent += r.sent;
      fanned += r.fanned;
      confirmed += r.confirmed;
      acked += r.acked;
      opened += r.opened ? 1 : 0;
      records_confirmed += r.records_confirmed;
      retention_checks += r.first_retained > 0 ? 1 : 0;
      group_cycles[static_cast<std::size_t>(r.group)] += r.opened ? 1 : 0;
      group_acked[static_cast<std::size_t>(r.group)] += r.group_acked;
      txn_commit_tries += r.txn_commit_tries;
      txn_commits += r.txn_commits;
      txn_inputs_committed += r.txn_inputs_committed;
    }
    const std::uint64_t txn_outputs = reports.empty() ? 0 : reports.back().txn_outputs_present;
    std::ostringstream summary;
    summary << "seed " << seed << " (replay: CORQ_CRASH_SEED=" << seed << "), " << reports.size()
            << " cycles (" << opened << " opened before the kill) in " << elapsed_ms(start)
            << " ms: " << sent << " sent (" << fanned << " through the fanout exchange), "
            << confirmed << " confirmed, " << acked
            << " durably acked; stream: " << records_confirmed
            << " records confirmed, durable group acks " << crash::group_modes[0] << " "
            << group_acked[0] << ", " << crash::group_modes[1] << " " << group_acked[1] << ", "
            << retention_checks
            << " checks after retention deleted records; transactions: " << txn_commit_tries
            << " commits tried, " << txn_commits << " committed (" << txn_inputs_committed
            << " inputs), " << txn_outputs << " outputs at the last check";
    std::cout << what << ": " << summary.str() << "\n";
    if (violation_count_ != 0) {
      std::ostringstream o;
      o << violation_count_ << " violation(s); " << summary.str() << "\ndata directory: " << dir_
        << " (as each of the last two kills left it: " << root_ << "/after-kill-<cycle>)\n";
      for (const std::string &v : violations_) o << "  " << v << "\n";
      o << "cycles:\n";
      for (const CycleReport &r : reports) o << "  " << r.describe() << "\n";
      ADD_FAILURE() << o.str();
    }
    EXPECT_GT(opened, 0u) << "no child ever opened the directory before it was killed";
    EXPECT_GT(confirmed, 0u);
    EXPECT_GT(acked, 0u);
    EXPECT_GT(fanned, 0u) << "no child published through the fanout exchange";
    EXPECT_GT(records_confirmed, 0u) << "no child's stream append was confirmed";
    EXPECT_GT(txn_commits, 0u) << "no child's transaction commit returned OK";
    for (std::size_t g = 0; g < crash::group_mode_count; ++g) {
      // (A run of a cycle or two may not have had a child of each group.)
      if (group_cycles[g] > 0) {
        EXPECT_GT(group_acked[g], 0u)
            << "no durable ack in the " << crash::group_modes[g] << " group";
      }
    }
  }

  std::string root_;
  std::string dir_;
  bool snapshots_ = true;  // copy the directory as each kill left it (for failure reports)
  std::vector<Book> books_;
  std::uint64_t next_id_ = 1;
  std::chrono::steady_clock::time_point child_started_;
  std::unordered_map<std::uint64_t, std::uint64_t> id_of_message_;    // engine id -> payload id
  std::unordered_map<std::uint64_t, std::uint64_t> ids_this_engine_;  // the same, this engine
  std::vector<std::pair<std::uint64_t, std::uint32_t>> undurable_deliveries_;
  // The stream's books: by record id, and by place (partition, then offset).
  std::vector<RecordBook> records_;
  std::array<std::vector<PlaceBook>, crash::stream_partitions> places_;
  std::uint64_t next_record_id_ = 1;
  // The transactions' books: by transaction id; the ledger's ids in offset order as the last
  // check read it; the ids of each commit tried ("TK") in this cycle.
  std::vector<TxnBook> txn_books_;
  std::uint64_t next_txn_id_ = 1;
  std::vector<std::uint64_t> txn_ledger_;
  std::vector<std::vector<std::uint64_t>> txn_tries_this_cycle_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls_this_cycle_;  // "SA" ranges
  std::vector<std::string> violations_;
  std::uint64_t violation_count_ = 0;
};

std::uint64_t env_number(const char *name, std::uint64_t fallback) {
  const char *text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

TEST_F(CrashTest, sigkilled_publishers_and_consumers_lose_nothing_confirmed_and_resurrect_nothing) {
  const std::uint64_t seed = env_number("CORQ_CRASH_SEED", std::random_device{}());
  const auto cycles = static_cast<int>(env_number("CORQ_CRASH_CYCLES", scaled(40, 2)));
  const auto start = std::chrono::steady_clock::now();
  const auto reports = run_cycles(
      seed, cycles, std::chrono::steady_clock::time_point::max(), [](int c, std::mt19937_64 &rng) {
        // Mostly 20-300 ms; every fifth cycle 300-900 ms, long enough for checkpoints (every
        // 200 ms) to release segments. A sanitized child takes ~100 ms more to start: let most
        // of them get to work.
        const int ms = static_cast<int>(c % 5 == 4 ? 300 + rng() % 600 : 20 + rng() % 281);
        // An emulated one (qemu-user) takes ~300 ms.
        return ms + (under_emulator ? 300 : under_sanitizer ? 150 : 0);
      });
  if (HasFatalFailure()) return;
  summarize("crash test", seed, reports, start);
}

// The soak (tools/soak.sh runs it; skipped unless CORQ_SOAK_SECONDS is set): the same child and
// checks, killed every 2-6 s for CORQ_SOAK_SECONDS, with the default segment size unless
// CORQ_CRASH_SEGMENT_BYTES says otherwise. Writes one CSV line per cycle to CORQ_SOAK_CSV:
// cycle, seconds since the start, kill_after_ms, sent, confirmed, durably acked, present at the
// check, lost (must be 0), reopen ms, check ms, child peak RSS KiB, disk bytes after the kill.
TEST_F(CrashTest, soak) {
  const std::uint64_t seconds = env_number("CORQ_SOAK_SECONDS", 0);
  if (seconds == 0) GTEST_SKIP() << "set CORQ_SOAK_SECONDS (tools/soak.sh MINUTES does)";
  const std::uint64_t seed = env_number("CORQ_CRASH_SEED", std::random_device{}());
  snapshots_ = false;  // a copy of every state would cost more than the cycle
  const char *csv_path = std::getenv("CORQ_SOAK_CSV");
  std::ofstream csv;
  if (csv_path != nullptr && *csv_path != '\0') {
    csv.open(csv_path);
    ASSERT_TRUE(csv.good()) << "cannot write " << csv_path;
    csv << "cycle,seconds,kill_after_ms,sent,confirmed,acked,present,lost,reopen_ms,check_ms,"
           "child_peak_rss_kb,disk_bytes\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  std::vector<CycleReport> reports;
  // One cycle at a time, so that the CSV grows as the soak runs (a long soak can be watched).
  std::mt19937_64 rng(seed);
  for (int c = 0; violation_count_ == 0 && std::chrono::steady_clock::now() < deadline; ++c) {
    const int kill_after = 2000 + static_cast<int>(rng() % 4001);
    auto one = run_cycles(
        rng(), 1, std::chrono::steady_clock::time_point::max(),
        [&](int, std::mt19937_64 &) { return kill_after; }, c);
    if (HasFatalFailure() || one.empty()) return;
    const CycleReport &r = one.front();
    reports.push_back(r);
    if (csv.is_open()) {
      csv << c << ',' << static_cast<double>(elapsed_ms(start)) / 1000.0 << ',' << r.kill_after_ms
          << ',' << r.sent << ',' << r.confirmed << ',' << r.acked << ',' << r.present << ','
          << r.lost << ',' << r.open_ms << ',' << r.check_ms << ',' << r.child_peak_rss_kb << ','
          << r.disk_bytes << std::endl;
    }
  }
  summarize("soak", seed, reports, start);
}

// The smallest reproduction of what the crash test found first (no child, no kill): a checkpoint
// releases the segments that hold the queue's declaration and re-logs the declaration in its own
// batch, after live publish records of the segment it keeps. Recovery replays in log order, meets
// those publish records before any declaration of their queue, and drops them as belonging to a
// deleted queue. A graceful close and reopen is enough.
TEST_F(CrashTest, live_messages_logged_before_a_checkpoint_survive_the_release_of_older_segments) {
  const std::string segment = "1MiB";
  auto open = [&] {
    ConfigPtr options = make_config({{"segment_bytes", segment}, {"io_backend", "psync"}});
    corq_engine *engine = nullptr;
    must(corq_open(dir_.c_str(), options.get(), &engine), "corq_open");
    return EnginePtr(engine);
  };
  {
    EnginePtr engine = open();
    must_declare(engine.get(), "q");  // its declare record: the first segment
    ProducerPtr producer = open_producer(engine.get(), "q");
    ConsumerPtr consumer = open_consumer(engine.get(), "q", 256);
    corq_publish_options nowait = publish_options();
    nowait.flags = CORQ_PUBLISH_NOWAIT;
    // ~3 MiB published and acked: the log rolls past the first segments.
    const std::string body(200, 'c');
    std::vector<corq_message> batch(64, message(body));
    for (int round = 0; round < 250; ++round) {
      must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr),
           "send");
      std::vector<corq_delivery> got = consume(consumer.get(), 64, 1000);
      ASSERT_EQ(got.size(), 64u);
      must(corq_ack_upto(consumer.get(), got.back().tag), "ack_upto");
    }
    publish(engine.get(), "q", "live");  // confirmed, in the newest segment, after no declare
    must(corq_sync(engine.get(), -1), "sync");
    // A checkpoint (every 200 ms) releases every older segment: its declare lands after "live".
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
  EnginePtr engine = open();
  const corq_queue_stats s = stats(engine.get(), "q");
  EXPECT_EQ(s.ready, 1u) << "the confirmed message 'live' was lost across a checkpoint and a "
                            "graceful reopen; queue after reopen: "
                         << describe(s) << "; log: corqctl dump " << dir_;
}

}  // namespace
}  // namespace corq::test
