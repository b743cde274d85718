// tests/sim/txn_model.cpp — the all-or-nothing invariants of transactions (see txn_model.hpp).
#include "sim/txn_model.hpp"

#include <stdexcept>

namespace corq::sim {
namespace {

std::string join(const std::vector<std::string> &names) {
  if (names.empty()) return "-";
  std::string out;
  for (const std::string &n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::string name_of(std::uint64_t number, const Txn &t) {
  return "transaction " + std::to_string(number) + " (" + t.how + ")";
}

}  // namespace

void TxnModel::add_input(const std::string &id, InputKind kind, bool confirmed) {
  TxnInput in;
  in.kind = kind;
  in.confirmed = confirmed;
  if (!inputs_.emplace(id, in).second) throw std::logic_error("input " + id + " added twice");
}

std::uint64_t TxnModel::begin() {
  const std::uint64_t number = txns_.size() + 1;
  txns_.emplace(number, Txn{});
  return number;
}

void TxnModel::add_output(std::uint64_t number, const std::string &id, const std::string &where) {
  Txn &t = txns_.at(number);
  outputs_[{id, where}] = {number, t.outputs.size()};
  t.outputs.push_back({id, where, false, false, false});
}

std::string TxnModel::committed(std::uint64_t number, bool durable, bool applied_here,
                                const std::string &how) {
  Txn &t = txns_.at(number);
  t.fate = durable ? Fate::all : Fate::pending;
  t.applied_here = applied_here;
  t.how = how;
  for (const std::string &id : t.inputs) {
    TxnInput &in = inputs_.at(id);
    // A delivery is acked by one commit at most: a second one must have failed to claim it.
    if (in.owner != 0 && in.owner != number)
      return name_of(number, t) + " acked input " + id + ", which " +
             name_of(in.owner, txns_.at(in.owner)) + " had acked";
    in.owner = number;
    if (durable) in.confirmed = true;  // its publish is in the log before the commit
  }
  return {};
}

void TxnModel::failed(std::uint64_t number, const std::string &how) {
  Txn &t = txns_.at(number);
  t.fate = Fate::none;
  t.how = how;
}

void TxnModel::all_durable() {
  for (auto &[id, in] : inputs_) {
    in.confirmed = !in.lost;
    if (in.acked) in.acked_durable = true;
  }
  for (auto &[number, t] : txns_) {
    if (t.fate == Fate::pending && t.applied_here) {
      t.fate = Fate::all;
      t.how += ", then corq_sync -> 0";
      for (const std::string &id : t.inputs) inputs_.at(id).confirmed = true;
    }
    for (TxnOutput &o : t.outputs) {
      if (o.acked) o.acked_durable = true;
    }
  }
}

std::string TxnModel::check_delivered_input(const std::string &id) const {
  const auto it = inputs_.find(id);
  if (it == inputs_.end() || it->second.lost) return "input " + id + " was never published";
  const TxnInput &in = it->second;
  if (in.acked) return "input " + id + " was delivered again after corq_ack returned 0";
  if (in.owner != 0) {
    const Txn &t = txns_.at(in.owner);
    if (t.fate == Fate::all || t.applied_here)
      return "input " + id + " was delivered again after " + name_of(in.owner, t) + " acked it";
  }
  return {};
}

bool TxnModel::owned_unknown(const std::string &id) const {
  const TxnInput &in = inputs_.at(id);
  return in.owner != 0 && txns_.at(in.owner).fate == Fate::pending &&
         !txns_.at(in.owner).applied_here;
}

std::string TxnModel::check_visible_output(const std::string &id, const std::string &where) const {
  const auto it = outputs_.find({id, where});
  if (it == outputs_.end()) return id + " in " + where + " is no transaction's output";
  const Txn &t = txns_.at(it->second.first);
  const TxnOutput &o = t.outputs[it->second.second];
  if (t.fate == Fate::none || t.fate == Fate::open)
    return "output " + id + " in " + where + " of " + name_of(it->second.first, t) + " is visible";
  if (o.acked) return "output " + id + " in " + where + " was delivered again after its ack";
  return {};
}

std::map<TxnModel::Place, int> TxnModel::index(const TxnObserved &seen) {
  std::map<Place, int> there;
  for (const auto &[queue, ids] : seen.queues) {
    for (const std::string &id : ids) ++there[{id, queue}];
  }
  for (const std::string &id : seen.output_records) ++there[{id, "so"}];
  return there;
}

bool TxnModel::back(const std::string &id, const TxnInput &in, const TxnObserved &seen,
                    const std::map<Place, int> &there) const {
  return in.kind == InputKind::queue ? there.count({id, "in"}) != 0
                                     : seen.redelivered.count(id) != 0;
}

std::string TxnModel::Evidence::describe() const {
  return "outputs there: " + join(outputs_there) + "; outputs missing: " + join(outputs_missing) +
         "; inputs acked: " + join(inputs_acked) + "; inputs back: " + join(inputs_back);
}

TxnModel::Evidence TxnModel::evidence(std::uint64_t number, const Txn &t, const TxnObserved &seen,
                                      const std::map<Place, int> &there) const {
  Evidence e;
  for (const TxnOutput &o : t.outputs) {
    const std::string name = o.id + "@" + o.where;
    if (there.count({o.id, o.where}) != 0) {
      e.outputs_there.push_back(name);
    } else if (!o.acked && !o.gone) {
      e.outputs_missing.push_back(name);  // (an acked copy may be missing either way)
    }
  }
  for (const std::string &id : t.inputs) {
    const TxnInput &in = inputs_.at(id);
    if (in.owner != number) continue;
    if (back(id, in, seen, there)) {
      e.inputs_back.push_back(id);
    } else if (in.kind == InputKind::queue ? in.confirmed : seen.input_records.count(id) != 0) {
      // Gone from "in" although its publish was durable; in "si" but not delivered again.
      e.inputs_acked.push_back(id);
    }
  }
  return e;
}

std::string TxnModel::check_known(const TxnObserved &seen,
                                  const std::map<Place, int> &there) const {
  for (const auto &[place, count] : there) {
    const auto &[id, where] = place;
    if (count > 1) return id + " is in " + where + " " + std::to_string(count) + " times";
    if (where == "in") {
      const auto it = inputs_.find(id);
      if (it == inputs_.end() || it->second.lost)
        return "input " + id + " is in 'in' but was never published (or was lost before)";
    } else if (outputs_.count(place) == 0) {
      return id + " is in " + where + " but is no transaction's output";
    }
  }
  for (const std::string &id : seen.input_records) {
    const auto it = inputs_.find(id);
    if (it == inputs_.end() || it->second.lost)
      return "input record " + id + " is in 'si' but was never appended (or was lost before)";
  }
  return {};
}

std::string TxnModel::check_txn(std::uint64_t number, const Txn &t, const TxnObserved &seen,
                                const std::map<Place, int> &there) const {
  for (const TxnOutput &o : t.outputs) {
    if (o.acked_durable && there.count({o.id, o.where}) != 0)
      return "output " + o.id + " in " + o.where + " of " + name_of(number, t) +
             " came back after its ack was durable";
  }
  if (t.fate == Fate::open) return {};
  const Evidence e = evidence(number, t, seen, there);
  if (t.fate == Fate::none) {
    if (!e.outputs_there.empty())
      return name_of(number, t) +
             " must have no effect, but its outputs are there: " + join(e.outputs_there);
    return {};
  }
  if (e.some() && e.missing()) return name_of(number, t) + " is only partly there: " + e.describe();
  if (t.fate == Fate::all && e.missing())
    return name_of(number, t) + " must be wholly there, but: " + e.describe();
  return {};
}

std::string TxnModel::check_inputs(const TxnObserved &seen,
                                   const std::map<Place, int> &there) const {
  for (const auto &[id, in] : inputs_) {
    if (in.lost) continue;  // (check_known: it is not there)
    const bool exists =
        in.kind == InputKind::queue ? there.count({id, "in"}) != 0 : seen.input_records.count(id);
    if (in.kind == InputKind::group && in.confirmed && !exists)
      return "the confirmed input record " + id + " is missing from 'si'";
    if (in.owner != 0) continue;  // the transaction's check covers it
    const bool is_back = back(id, in, seen, there);
    if (is_back && in.acked_durable) return "input " + id + " came back after a durable corq_ack";
    if (!is_back && !in.acked && in.confirmed) {
      return in.kind == InputKind::queue
                 ? "the confirmed input " + id + " (never acked) is missing from 'in'"
                 : "the input record " + id + " (never acked) is not delivered to the group again";
    }
  }
  return {};
}

std::string TxnModel::check(const TxnObserved &seen) const {
  const std::map<Place, int> there = index(seen);
  if (std::string why = check_known(seen, there); !why.empty()) return why;
  for (const auto &[number, t] : txns_) {
    if (std::string why = check_txn(number, t, seen, there); !why.empty()) return why;
  }
  return check_inputs(seen, there);
}

void TxnModel::recovered(const TxnObserved &seen, bool durable) {
  const std::map<Place, int> there = index(seen);
  for (auto &[number, t] : txns_) {
    if (t.fate == Fate::pending) {
      const Evidence e = evidence(number, t, seen, there);
      // Nothing either way (every output acked downstream, no input known durable): the outputs
      // were delivered, so it was applied.
      const bool all = e.some() || !e.missing();
      t.fate = all ? Fate::all : Fate::none;
      t.how += all ? ", found whole" : ", found absent";
      for (const std::string &id : t.inputs) {
        TxnInput &in = inputs_.at(id);
        if (!all && in.owner == number) in.owner = 0;  // back: to be consumed again
      }
    }
    t.applied_here = false;
    for (TxnOutput &o : t.outputs) {
      const bool here = there.count({o.id, o.where}) != 0;
      if (here) {
        o.acked = o.acked_durable = false;  // back, to be delivered again
      } else if (o.acked) {
        o.gone = true;
      }
    }
  }
  for (auto &[id, in] : inputs_) {
    if (in.lost) continue;
    const bool exists =
        in.kind == InputKind::queue ? there.count({id, "in"}) != 0 : seen.input_records.count(id);
    if (!exists) {
      // Gone from "in" (acked, or its publish lost) or missing from "si" (its append lost).
      if (in.owner == 0 && !in.acked) in.lost = true;
      if (in.kind == InputKind::group) in.lost = true;
      if (in.acked) in.acked_durable = true;
      continue;
    }
    in.confirmed = in.confirmed || durable;
    if (back(id, in, seen, there)) {
      in.acked = in.acked_durable = false;
    } else if (in.acked) {
      in.acked_durable = true;  // a record in "si" the group no longer delivers: settled for good
    }
  }
}

}  // namespace corq::sim
