// tests/sim/txn_model.hpp — what corq-sim's transaction workload (txn_workload.cpp) knows of its
// inputs, its transactions and their outputs, and the rule of DESIGN.md §8 a recovered directory
// must satisfy against that knowledge: after any crash, every transaction is there wholly or not
// at all.
//
// Names: everything carries its id at the start of its payload ("<id>:" then filler), unique in a
// seed. An input ("i<seed>.<n>" in queue "in", or "g<seed>.<n>" in stream "si", read by group "g")
// is consumed and acked by at most one transaction at a time. A transaction's outputs are, per
// input, one message (to queue "out", or through fanout exchange "fx": one copy in "fa" and one in
// "fb") and one record in stream "so"; each copy and record is a TxnOutput, named (id, where).
//
// A transaction's fate, as far as the workload knows it:
//   open     not committed yet (a check never sees one: every operation ends its transaction);
//   pending  corq_txn_commit returned 0 (sync=none: not durable), CORQ_ETIMEDOUT or CORQ_EFAILED
//            since the last recovery: it may be there or not — but wholly or not at all;
//   all      it must be wholly there: its commit returned 0 on a sync=always engine, or a
//            corq_sync returned 0 after a commit applied in this process, or a recovery found it;
//   none     nothing of it may ever exist: it was aborted, its commit was refused (CORQ_ESTATE,
//            CORQ_EFULL, ...), or a recovery found it absent.
// What a recovery shows of a transaction: its outputs there or missing (a copy the downstream
// consumer acked may be missing either way), its inputs acked (a queue input gone although its
// publish was durable; a group input in "si" that the group does not deliver again) or back
// (in "in"; delivered again). "All" is outputs there and inputs acked, "none" the opposite; any mix
// is a violation, and so is a "none" transaction with an output there, or an "all" one with
// something missing. The model then continues from what the recovery found (recovered()).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace corq::sim {

/// Where an input waits: a message of queue "in", or a record of stream "si" read by group "g".
enum class InputKind { queue, group };

struct TxnInput {
  InputKind kind = InputKind::queue;
  bool confirmed = false;      // its publish or append is durable: it must survive until acked
  std::uint64_t owner = 0;     // the transaction (pending or all) that acked it; 0: none
  bool acked = false;          // settled with corq_ack (a commit that had to fail) ...
  bool acked_durable = false;  // ... and durably so: it must never come back
  bool lost = false;           // a crash lost its publish: it must never appear
};

/// One effect of a transaction: a message copy in a queue, or a record in stream "so".
struct TxnOutput {
  std::string id;
  std::string where;           // "out", "fa", "fb" or "so"
  bool acked = false;          // a copy the downstream consumer acked ...
  bool acked_durable = false;  // ... and durably so: it must never come back
  bool gone = false;           // acked, then missing after a recovery: settled for good
};

enum class Fate { open, pending, all, none };

struct Txn {
  std::vector<std::string> inputs;
  std::vector<TxnOutput> outputs;
  Fate fate = Fate::open;
  bool applied_here = false;  // its commit returned 0 or CORQ_ETIMEDOUT: applied in this process
  std::string how;            // how it ended, for messages ("commit -> 0", "abort", ...)
};

/// What a recovered directory holds, by id.
struct TxnObserved {
  std::map<std::string, std::vector<std::string>> queues;  // "in", "out", "fa", "fb" -> ids
  std::vector<std::string> output_records;                 // every record of "so"
  std::set<std::string> input_records;                     // every record of "si"
  std::set<std::string> redelivered;                       // "si" records the group delivers
};

class TxnModel {
 public:
  /// A new input whose publish or append was attempted (returned 0, or failed in a way that does
  /// not say nothing was written).
  void add_input(const std::string &id, InputKind kind, bool confirmed);
  TxnInput &input(const std::string &id) { return inputs_.at(id); }

  /// A new transaction; returns its number (1, 2, ...).
  std::uint64_t begin();
  Txn &txn(std::uint64_t number) { return txns_.at(number); }
  /// Adds an output to transaction `number` (before its commit).
  void add_output(std::uint64_t number, const std::string &id, const std::string &where);

  /// The commit may have applied it: `durable` (fate all) or not (pending); `applied_here`: in
  /// this process it is applied (0 or CORQ_ETIMEDOUT). Its inputs are owned by it from now on.
  /// Returns a violation (an input another transaction already acked), or "".
  std::string committed(std::uint64_t number, bool durable, bool applied_here,
                        const std::string &how);
  /// Aborted, or a commit that applied nothing: fate none.
  void failed(std::uint64_t number, const std::string &how);
  /// A corq_sync returned 0: everything logged so far is durable.
  void all_durable();

  /// Before the crash, in this process: whether an input may be delivered now ("" if so), an
  /// output copy delivered, an output record read.
  std::string check_delivered_input(const std::string &id) const;
  /// Whether a commit whose outcome is unknown here (CORQ_EFAILED) acked input `id`: delivered
  /// again, it is evidently not acked in this process, but no other commit may take it.
  bool owned_unknown(const std::string &id) const;
  std::string check_visible_output(const std::string &id, const std::string &where) const;

  /// Every invariant of a recovered directory; empty when all hold, else the first violation.
  std::string check(const TxnObserved &seen) const;
  /// After a recovery (check passed): pending transactions become all or none, settled inputs
  /// and outputs stay gone, what came back may be delivered again. `durable`: what was read is
  /// on the disk (sync=always), so inputs found count as confirmed.
  void recovered(const TxnObserved &seen, bool durable);

  std::size_t transactions() const { return txns_.size(); }

 private:
  using Place = std::pair<std::string, std::string>;  // (id, where)
  /// One transaction's evidence in a recovered directory (names of what is there or missing).
  struct Evidence {
    std::vector<std::string> outputs_there, outputs_missing, inputs_acked, inputs_back;
    bool some() const { return !outputs_there.empty() || !inputs_acked.empty(); }
    bool missing() const { return !outputs_missing.empty() || !inputs_back.empty(); }
    std::string describe() const;
  };
  Evidence evidence(std::uint64_t number, const Txn &t, const TxnObserved &seen,
                    const std::map<Place, int> &there) const;
  bool back(const std::string &id, const TxnInput &in, const TxnObserved &seen,
            const std::map<Place, int> &there) const;
  static std::map<Place, int> index(const TxnObserved &seen);
  std::string check_known(const TxnObserved &seen, const std::map<Place, int> &there) const;
  std::string check_txn(std::uint64_t number, const Txn &t, const TxnObserved &seen,
                        const std::map<Place, int> &there) const;
  std::string check_inputs(const TxnObserved &seen, const std::map<Place, int> &there) const;

  std::map<std::string, TxnInput> inputs_;
  std::map<std::uint64_t, Txn> txns_;
  std::map<Place, std::pair<std::uint64_t, std::size_t>> outputs_;  // -> (txn, index in outputs)
};

}  // namespace corq::sim
