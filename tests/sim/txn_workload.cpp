// tests/sim/txn_workload.cpp — the transactions part of a corq-sim seed (workload.hpp).
//
// Consume-transform-produce on a simulated disk (DESIGN.md §8). Inputs are published to durable
// queue "in" and appended to durable stream "si" (2 partitions), which group "g" (ordered or
// shared, chosen by the seed) reads. A transaction takes 1-4 held inputs (from the queue consumer
// and the group member) and, per input, publishes an output message — to queue "out", or through
// fanout exchange "fx" to "fa" and "fb" (fb holds at most fb_length_max ready messages and
// rejects past that: such a commit fails with CORQ_EFULL) — appends an output record to stream
// "so" and acks the input. Then it commits, or aborts, or its commit is made to fail: one of its
// inputs is acked or released behind its back, or every lease runs out (CORQ_ESTATE); some epochs
// fill the disk (CORQ_ENOSPC). Sometimes it first acks a tag already settled, or the same tag
// twice (CORQ_ESTATE at once, the transaction stays usable). A downstream consumer takes and acks
// outputs; readers read "so". In the process, nothing of a transaction that did not commit may be
// delivered or read, and no acked input may come back (TxnModel::check_delivered_input /
// check_visible_output).
//
// An epoch ends like the other parts' (a quiet power loss, a crash point inside the next writes,
// EIO, a plain restart); then the directory is read — the queues without an engine
// (testing::snapshot_log), the streams and the group through a checking engine (whose recovery
// re-appends the stream records of committed transactions that never reached their stream) — and
// every transaction must be there wholly or not at all (txn_model.hpp). The checking engine goes
// on as the next epoch's, or is crashed at once: then the queues are read again (recovering twice
// changes nothing) and the next epoch opens its own engine.
//
// The three engine bugs this part found are fixed (tests/README.md).
#include "engine/testing.hpp"
#include "sim/epoch_end.hpp"
#include "sim/process_vfs.hpp"
#include "sim/random.hpp"
#include "sim/txn_model.hpp"
#include "sim/workload.hpp"

#include <corq/corq.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace corq::sim {
namespace {

constexpr const char *data_dir = "/data";
constexpr std::uint32_t stream_partitions = 2;
constexpr std::uint64_t epochs_max = 3;
constexpr std::uint64_t epoch_ops_min = 10;
constexpr std::uint64_t epoch_ops_spread = 50;
constexpr std::uint64_t crash_wait_ops_max = 20;
constexpr std::uint32_t input_prefetch = 16;
constexpr std::uint32_t output_prefetch = 8;
constexpr std::size_t inputs_per_txn_max = 4;
constexpr std::int64_t lease_ms = 5000;
constexpr const char *fb_length_max = "12";
constexpr std::int32_t commit_timeout_ms = 30000;
/// Output messages on a full disk are at least this big (up to twice as big).
constexpr std::uint64_t big_payload_bytes_min = 32 * 1024;
/// The check's group member takes everything unsettled at once: more than a seed ever appends
/// (a few hundred records), and far less than the most a prefetch may be (its slots cost memory).
constexpr std::uint32_t check_prefetch = 1024;

/// A delivery a consumer holds: of the queue consumer (group == false) or the group member.
struct Held {
  bool group;
  std::uint64_t tag;
  std::string input;
  std::uint64_t last_txn = 0;  // the last transaction that acked it and applied nothing
};

std::string id_of(const void *data, std::size_t len) {
  const std::string text(static_cast<const char *>(data), len);
  return text.substr(0, text.find(':'));
}

using ConfigPtr = std::unique_ptr<corq_config, void (*)(corq_config *)>;

ConfigPtr config(std::initializer_list<std::pair<const char *, std::string>> options) {
  ConfigPtr c(corq_config_new(), corq_config_free);
  for (const auto &[k, v] : options) corq_config_set(c.get(), k, v.c_str());
  return c;
}

class TxnSeed {
 public:
  TxnSeed(std::uint64_t seed, const SimModes &modes)
      : seed_(seed), modes_(modes), rng_(seed ^ 0x7a5c7a5c7a5cull), disk_(seed ^ 0x7a5cull) {
    // (Both draws are made in every mode, so that a mode flag keeps the seed's other choices.)
    sync_none_ = modes_.sync_none && rng_.one_in(5);
    group_mode_ = rng_.one_in(2) ? "ordered" : "shared";
    member_prefetch_ = input_prefetch;
  }
  ~TxnSeed() { close_engine(); }
  TxnSeed(const TxnSeed &) = delete;
  TxnSeed &operator=(const TxnSeed &) = delete;

  void run() {
    open_engine(true);
    const std::uint64_t epochs = 1 + rng_.below(epochs_max);
    for (std::uint64_t e = 0; e < epochs; ++e) {
      run_epoch(e);
      recover();
    }
    close_engine();
  }

 private:
  // ---- the engine ----

  void say(const std::string &line) const {
    if (!modes_.verbose) return;
    std::printf("  seed %llu txn: %s\n", (unsigned long long)seed_, line.c_str());
    std::fflush(stdout);
  }

  void must(int rc, const std::string &what) {
    if (rc != CORQ_OK)
      throw Violation("txn: " + what + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")");
  }
  void violated(const std::string &why) { throw Violation("txn: " + why); }

  /// The process is dying or its log failed: durable calls may fail, with these codes only.
  bool dying() const { return faults_armed_ || failed_ || disk_full_ || process_->dead(); }
  void expect_ok_or_dead(int rc, const std::string &what) {
    if (rc == CORQ_OK) return;
    if (rc == CORQ_EFAILED) failed_ = true;
    // (A failed spare-segment allocation makes a log refuse writes with CORQ_ENOSPC.)
    if ((rc == CORQ_EFAILED || rc == CORQ_EIO || rc == CORQ_ETIMEDOUT || rc == CORQ_ENOSPC) &&
        dying())
      return;
    must(rc, what);
  }

  int try_open(std::unique_ptr<ProcessVfs> &process, corq_engine *&engine) {
    process = std::make_unique<ProcessVfs>(disk_);
    engine = nullptr;
    ConfigPtr c = config({{"sync", sync_none_ ? "none" : "always"},
                          {"clock", "manual"},
                          {"segment_bytes", "1MiB"},
                          {"stream_cache_bytes", "1MiB"}});
    return testing::open_on_vfs(data_dir, c.get(), process.get(), &engine);
  }

  void declare_queue(const char *name,
                     std::initializer_list<std::pair<const char *, std::string>> options) {
    ConfigPtr c = config(options);
    must(corq_queue_declare(engine_, name, c.get()), std::string("declare ") + name);
  }

  void declare_topology() {
    declare_queue("in", {{"dead_letter_queue", ""},
                         {"max_attempts", "0"},
                         {"lease_ms", std::to_string(lease_ms)},
                         {"retry_delay_ms", "0"}});
    declare_queue("out", {{"dead_letter_queue", ""}});
    declare_queue("fa", {{"dead_letter_queue", ""}});
    declare_queue(
        "fb", {{"dead_letter_queue", ""}, {"max_length", fb_length_max}, {"overflow", "reject"}});
    must(corq_exchange_declare(engine_, "fx", "fanout", nullptr), "declare fx");
    for (const char *q : {"fa", "fb"})
      must(corq_bind(engine_, "fx", q, "", nullptr, 0), std::string("bind fx to ") + q);
    for (const char *s : {"si", "so"}) {
      ConfigPtr c = config({{"partitions", std::to_string(stream_partitions)},
                            {"partition_segment_bytes", "64KiB"}});
      must(corq_stream_declare(engine_, s, c.get()), std::string("declare ") + s);
    }
  }

  corq_consumer *open_member(corq_engine *engine, std::uint32_t prefetch) {
    ConfigPtr c = config({{"mode", group_mode_},
                          {"prefetch", std::to_string(prefetch)},
                          {"lease_ms", std::to_string(lease_ms)},
                          {"retry_delay_ms", "0"},
                          {"max_attempts", "0"}});
    corq_consumer *m = nullptr;
    must(corq_group_consumer_open(engine, "si", "g", c.get(), &m), "group_consumer_open");
    return m;
  }

  void open_engine(bool first) {
    if (const int rc = try_open(process_, engine_); rc != CORQ_OK)
      violated(std::string("corq_open failed: ") + corq_strerror(rc) + " (" + corq_last_error() +
               ")");
    if (first) declare_topology();
    open_consumers();
  }

  /// The workload's consumers on engine_: of "in", the group member, downstream of the outputs.
  void open_consumers() {
    must(corq_consumer_open(engine_, "in", input_prefetch, &inputs_), "consumer_open in");
    member_ = open_member(engine_, member_prefetch_);
    for (const char *q : {"out", "fa", "fb"}) {
      corq_consumer *c = nullptr;
      must(corq_consumer_open(engine_, q, output_prefetch, &c), std::string("consumer_open ") + q);
      downstream_.push_back(c);
    }
  }

  void close_engine() {
    if (inputs_ != nullptr) corq_consumer_close(inputs_);
    if (member_ != nullptr) corq_consumer_close(member_);
    inputs_ = member_ = nullptr;
    for (corq_consumer *c : downstream_) corq_consumer_close(c);
    downstream_.clear();
    held_.clear();
    settled_.clear();
    if (engine_ != nullptr) corq_close(engine_);
    engine_ = nullptr;
  }

  corq_consumer *consumer_of(const Held &h) const { return h.group ? member_ : inputs_; }

  std::string payload_of(const std::string &id, bool big = false) {
    std::string p = id + ":";
    if (big) {
      p.append(big_payload_bytes_min + rng_.below(big_payload_bytes_min), 'x');
    } else {
      p.append(rng_.one_in(6) ? 500 + rng_.below(2500) : rng_.below(64), 'x');
    }
    return p;
  }

  // ---- inputs ----

  /// What an input's publish or append code says: it may exist (0, or a failure that does not
  /// say nothing was written), or it does not.
  void input_attempted(const std::string &id, InputKind kind, int rc, bool waited) {
    if (rc == CORQ_OK || rc == CORQ_EFAILED || rc == CORQ_ETIMEDOUT)
      model_.add_input(id, kind, rc == CORQ_OK && waited && !sync_none_);
    expect_ok_or_dead(rc, "publish input " + id);
  }

  void publish_input() {
    const std::string id = "i" + std::to_string(seed_) + "." + std::to_string(next_input_++);
    const std::string payload = payload_of(id);
    const bool nowait = rng_.one_in(4);
    corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    corq_publish_options o{
        sizeof(corq_publish_options), nowait ? CORQ_PUBLISH_NOWAIT : 0u, -1, 0, 0, 0};
    const int rc = corq_publish(engine_, "in", &m, &o, nullptr);
    say("publish " + id + (nowait ? " nowait" : "") + " -> " + std::to_string(rc));
    input_attempted(id, InputKind::queue, rc, !nowait);
  }

  void append_input() {
    const std::string id = "g" + std::to_string(seed_) + "." + std::to_string(next_input_++);
    const std::string payload = payload_of(id);
    const bool keyed = rng_.one_in(2);
    corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    corq_publish_options o{sizeof(corq_publish_options), 0, -1, 0, 0, 0};
    const int rc = corq_stream_append(engine_, "si", keyed ? id.data() : nullptr,
                                      keyed ? id.size() : 0, &m, &o, nullptr, nullptr);
    say("append " + id + " -> " + std::to_string(rc));
    input_attempted(id, InputKind::group, rc, true);
  }

  void consume() {
    const bool group = rng_.one_in(2);
    corq_delivery out[4];
    const int n = corq_consume(group ? member_ : inputs_, out, 1 + rng_.below(4), 0);
    say(std::string("consume ") + (group ? "si" : "in") + " -> " + std::to_string(n));
    if (n < 0) return expect_ok_or_dead(n, "consume");
    for (int i = 0; i < n; ++i) {
      const std::string id = id_of(out[i].data, out[i].len);
      if (std::string why = model_.check_delivered_input(id); !why.empty()) violated(why);
      if (model_.owned_unknown(id)) {
        const int rc = corq_release(group ? member_ : inputs_, out[i].tag);
        say("  release " + id + " (acked by a commit whose outcome is unknown) -> " +
            std::to_string(rc));
        expect_ok_or_dead(rc, "release");
        continue;
      }
      held_.push_back({group, out[i].tag, id, 0});
    }
  }

  // ---- transactions ----

  /// Checks that a refused operation is refused at once with CORQ_ESTATE (and not added).
  void expect_refused(int rc, const std::string &what) {
    say(what + " -> " + std::to_string(rc));
    if (rc != CORQ_ESTATE) violated(what + " returned " + std::to_string(rc) + ", not CORQ_ESTATE");
  }

  /// Adds one input's outputs and its ack to `txn` (every call must succeed: all is checked).
  bool add_input(corq_txn *txn, std::uint64_t number, std::size_t k, const Held &h) {
    const std::string suffix = std::to_string(seed_) + "." + std::to_string(number) + "." +
                               std::to_string(k) + "." + h.input;
    const std::string out_id = "o" + suffix, record_id = "r" + suffix;
    // On a full disk, big output messages (in the engine log only) make the engine log itself
    // run out of room: a commit it refuses must apply nothing.
    const std::string out_payload = payload_of(out_id, disk_full_);
    const std::string record_payload = payload_of(record_id);
    const bool fanout = rng_.one_in(3);
    corq_message m{out_payload.data(), out_payload.size(), nullptr, 0, nullptr};
    must(corq_txn_publish(txn, fanout ? "fx" : "", fanout ? "" : "out", &m, nullptr),
         "txn_publish");
    if (fanout) {
      model_.add_output(number, out_id, "fa");
      model_.add_output(number, out_id, "fb");
    } else {
      model_.add_output(number, out_id, "out");
    }
    const corq_message r{record_payload.data(), record_payload.size(), nullptr, 0, nullptr};
    const bool keyed = rng_.one_in(2);
    must(corq_txn_append(txn, "so", keyed ? h.input.data() : nullptr, keyed ? h.input.size() : 0,
                         &r, nullptr),
         "txn_append");
    model_.add_output(number, record_id, "so");
    if (const int rc = corq_txn_ack(txn, consumer_of(h), h.tag); rc != CORQ_OK) {
      std::string why =
          "txn_ack " + h.input + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")";
      if (h.last_txn != 0) {
        why += "; transaction " + std::to_string(h.last_txn) + " (" + model_.txn(h.last_txn).how +
               ") had acked it and applied nothing";
      }
      violated(why);
    }
    if (rng_.one_in(8))
      expect_refused(corq_txn_ack(txn, consumer_of(h), h.tag), "txn_ack " + h.input + " again");
    return fanout;
  }

  void transact() {
    if (held_.empty()) return consume();
    const std::size_t count = 1 + rng_.below(std::min(held_.size(), inputs_per_txn_max));
    std::vector<Held> taken;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t at = rng_.below(held_.size());
      taken.push_back(held_[at]);
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(at));
    }
    corq_txn *txn = nullptr;
    must(corq_txn_begin(engine_, &txn), "txn_begin");
    const std::uint64_t number = model_.begin();
    if (!settled_.empty() && rng_.one_in(5)) {
      const Held &s = settled_[rng_.below(settled_.size())];
      expect_refused(corq_txn_ack(txn, consumer_of(s), s.tag), "txn_ack settled " + s.input);
    }
    bool fanout = false;
    std::string names;
    for (std::size_t k = 0; k < taken.size(); ++k) {
      model_.txn(number).inputs.push_back(taken[k].input);
      fanout |= add_input(txn, number, k, taken[k]);
      names += " " + taken[k].input;
    }
    say("transaction " + std::to_string(number) + " over" + names);
    const std::uint64_t ending = rng_.below(12);
    if (ending == 0) {
      corq_txn_abort(txn);
      say("  abort");
      model_.failed(number, "aborted");
      hold_again(taken, number);
    } else if (ending <= 2) {
      fail_behind_its_back(txn, number, taken, ending == 1);
    } else if (ending == 3 && rng_.one_in(3)) {
      expire_leases(txn, number);
    } else {
      commit(txn, number, taken, fanout);
    }
  }

  /// Inputs of transaction `number`, which applied nothing: still held by their consumers.
  void hold_again(std::vector<Held> &taken, std::uint64_t number) {
    for (Held &h : taken) h.last_txn = number;
    held_.insert(held_.end(), taken.begin(), taken.end());
  }

  void commit(corq_txn *txn, std::uint64_t number, std::vector<Held> &taken, bool fanout) {
    const int rc = corq_txn_commit(txn, commit_timeout_ms);
    const std::string detail = rc == CORQ_OK ? std::string() : corq_last_error();
    say("  commit -> " + std::to_string(rc) + (detail.empty() ? "" : " (" + detail + ")"));
    const std::string how = "commit -> " + std::to_string(rc);
    if (rc == CORQ_OK || rc == CORQ_ETIMEDOUT || rc == CORQ_EFAILED) {
      // The outcome may be unknown (CORQ_ETIMEDOUT, CORQ_EFAILED), never partial.
      const bool here = rc == CORQ_OK || rc == CORQ_ETIMEDOUT;
      if (std::string why = model_.committed(number, rc == CORQ_OK && !sync_none_, here, how);
          !why.empty())
        violated(why);
      if (here) settled_.insert(settled_.end(), taken.begin(), taken.end());
      return expect_ok_or_dead(rc, "txn_commit");
    }
    // Nothing applied: the inputs stay held.
    model_.failed(number, how);
    hold_again(taken, number);
    if (rc == CORQ_EFULL && fanout) return;  // fb was full
    expect_ok_or_dead(rc, "txn_commit");
  }

  /// One input is acked (or released) with the consumer's own call after corq_txn_ack: the
  /// commit must fail with CORQ_ESTATE and apply nothing; the other inputs stay held.
  void fail_behind_its_back(corq_txn *txn, std::uint64_t number, std::vector<Held> &taken,
                            bool ack) {
    const std::size_t at = rng_.below(taken.size());
    const Held h = taken[at];
    taken.erase(taken.begin() + static_cast<std::ptrdiff_t>(at));
    // An ordered group promises a plain ack after a crash only up to the committed offset
    // (DESIGN.md §7): one above it may be delivered again. Released instead, it is checked.
    if (h.group && group_mode_ == "ordered") ack = false;
    const int settle_rc =
        ack ? corq_ack(consumer_of(h), h.tag) : corq_release(consumer_of(h), h.tag);
    say(std::string("  ") + (ack ? "ack " : "release ") + h.input + " -> " +
        std::to_string(settle_rc));
    expect_ok_or_dead(settle_rc, "settle an input of an open transaction");
    if (ack && (settle_rc == CORQ_OK || settle_rc == CORQ_EFAILED))
      model_.input(h.input).acked = true;
    if (settle_rc == CORQ_OK) settled_.push_back(h);
    const int rc = corq_txn_commit(txn, commit_timeout_ms);
    say("  commit -> " + std::to_string(rc));
    model_.failed(number, std::string("commit after an input was ") + (ack ? "acked" : "released") +
                              " -> " + std::to_string(rc));
    hold_again(taken, number);
    // (A failed log refuses the commit before it looks at its acks.)
    if (rc == CORQ_ESTATE || (rc == CORQ_EFAILED && dying())) return;
    violated("a commit whose input " + h.input + " was " + (ack ? "acked" : "released") +
             " returned " + std::to_string(rc) + ", not CORQ_ESTATE");
  }

  /// Every lease runs out before the commit: it must fail with CORQ_ESTATE; every held delivery
  /// is back in its queue or partition.
  void expire_leases(corq_txn *txn, std::uint64_t number) {
    must(testing::advance_clock(engine_, lease_ms + 1), "advance_clock");
    held_.clear();
    const int rc = corq_txn_commit(txn, commit_timeout_ms);
    say("  leases ran out; commit -> " + std::to_string(rc));
    model_.failed(number, "commit after its leases ran out -> " + std::to_string(rc));
    if (rc == CORQ_ESTATE || (rc == CORQ_EFAILED && dying())) return;
    violated("a commit whose leases ran out returned " + std::to_string(rc) + ", not CORQ_ESTATE");
  }

  // ---- downstream ----

  /// A consumer of "out", "fa" or "fb" takes outputs and acks (or releases) them at once.
  void consume_outputs() {
    static const char *queues[] = {"out", "fa", "fb"};
    const std::size_t which = rng_.below(3);
    corq_delivery out[4];
    const int n = corq_consume(downstream_[which], out, 1 + rng_.below(4), 0);
    say(std::string("consume ") + queues[which] + " -> " + std::to_string(n));
    if (n < 0) return expect_ok_or_dead(n, "consume outputs");
    for (int i = 0; i < n; ++i) {
      const std::string id = id_of(out[i].data, out[i].len);
      if (std::string why = model_.check_visible_output(id, queues[which]); !why.empty())
        violated(why);
      const bool ack = !rng_.one_in(4);
      const int rc = ack ? corq_ack(downstream_[which], out[i].tag)
                         : corq_release(downstream_[which], out[i].tag);
      expect_ok_or_dead(rc, "settle an output");
      if (ack && (rc == CORQ_OK || rc == CORQ_EFAILED)) mark_output_acked(id, queues[which]);
    }
  }

  void mark_output_acked(const std::string &id, const std::string &queue) {
    // The transaction's number is the second field of the id: o<seed>.<number>.<k>.<input>.
    const std::size_t a = id.find('.') + 1;
    const std::uint64_t number = std::stoull(id.substr(a, id.find('.', a) - a));
    for (TxnOutput &o : model_.txn(number).outputs) {
      if (o.id == id && o.where == queue) o.acked = true;
    }
  }

  /// Reads one partition of "so" from the start: only committed outputs, each once.
  void read_outputs() {
    const auto p = static_cast<std::uint32_t>(rng_.below(stream_partitions));
    corq_stream_reader *r = nullptr;
    if (const int rc = corq_stream_reader_open(engine_, "so", p, "earliest", &r); rc != CORQ_OK)
      return expect_ok_or_dead(rc, "reader_open");
    std::vector<corq_stream_record> out(64);
    std::set<std::string> seen;
    for (int n = 0; (n = corq_stream_read(r, out.data(), out.size(), 0)) > 0;) {
      for (int i = 0; i < n; ++i) {
        const std::string id =
            id_of(out[static_cast<std::size_t>(i)].data, out[static_cast<std::size_t>(i)].len);
        if (!seen.insert(id).second) violated("record " + id + " is twice in 'so'");
        if (std::string why = model_.check_visible_output(id, "so"); !why.empty()) violated(why);
      }
    }
    corq_stream_reader_close(r);
    say("read so/" + std::to_string(p) + ": " + std::to_string(seen.size()) + " records");
  }

  void sync() {
    const int rc = corq_sync(engine_, -1);
    say("sync -> " + std::to_string(rc));
    expect_ok_or_dead(rc, "sync");
    if (rc == CORQ_OK) model_.all_durable();
  }

  void step() {
    const std::uint64_t pick = rng_.below(100);
    if (pick < 14) return publish_input();
    if (pick < 26) return append_input();
    if (pick < 44) return consume();
    if (pick < 76) return transact();
    if (pick < 86) return consume_outputs();
    if (pick < 90) return read_outputs();
    return sync();
  }

  // ---- epochs, crashes, recovery ----

  wal::SimCrashMode crash_mode() {
    return modes_.reorder && rng_.one_in(2) ? wal::SimCrashMode::reorder
                                            : wal::SimCrashMode::torn_tail;
  }

  void run_epoch(std::uint64_t epoch) {
    const std::uint64_t ops = epoch_ops_min + rng_.below(epoch_ops_spread);
    if (rng_.one_in(6)) {
      // A full disk: commits that would grow the log fail with CORQ_ENOSPC, having applied
      // nothing; acks still work (until the reserve is gone too: then the log fail-stops).
      disk_full_ = true;
      const std::uint64_t room = rng_.below(3) * (1u << 20) + rng_.below(1u << 20);
      disk_.set_capacity(disk_.used_bytes() + room);
      say("disk full: " + std::to_string(room) + " bytes of room");
    }
    for (std::uint64_t i = 0; i < ops; ++i) step();
    end_epoch(
        epoch, rng_, disk_, process_, faults_armed_, crash_wait_ops_max, [this] { step(); },
        [this] { sync(); }, [this] { return crash_mode(); },
        [this](const std::string &s) { say(s); });
  }

  testing::LogSnapshot snapshot(const char *when) {
    testing::LogSnapshot s;
    std::string error;
    if (const int rc = testing::snapshot_log(disk_, data_dir, s, error); rc != CORQ_OK)
      violated(std::string(when) + " read failed: " + corq_strerror(rc) + ": " + error);
    return s;
  }

  /// Every record of stream `stream` (all partitions), by id.
  std::vector<std::string> read_stream(corq_engine *engine, const char *stream) {
    std::vector<std::string> ids;
    std::vector<corq_stream_record> out(128);
    for (std::uint32_t p = 0; p < stream_partitions; ++p) {
      corq_stream_reader *r = nullptr;
      must(corq_stream_reader_open(engine, stream, p, "earliest", &r), "reader_open (check)");
      for (int n = 0; (n = corq_stream_read(r, out.data(), out.size(), 0)) != 0;) {
        if (n < 0) must(n, "read (check)");
        for (int i = 0; i < n; ++i) {
          const corq_stream_record &rec = out[static_cast<std::size_t>(i)];
          ids.push_back(id_of(rec.data, rec.len));
          say(std::string("  ") + stream + "/" + std::to_string(p) + "@" +
              std::to_string(rec.offset) + " " + ids.back());
        }
      }
      corq_stream_reader_close(r);
    }
    return ids;
  }

  /// What the group delivers now: one member takes everything unsettled (and acks nothing).
  std::set<std::string> redelivered(corq_engine *engine) {
    const std::unique_ptr<corq_consumer, int (*)(corq_consumer *)> m(
        open_member(engine, check_prefetch), corq_consumer_close);
    std::set<std::string> ids;
    std::vector<corq_delivery> out(512);
    for (int n = 0; (n = corq_consume(m.get(), out.data(), out.size(), 0)) != 0;) {
      if (n < 0) must(n, "consume (check)");
      for (int i = 0; i < n; ++i) {
        const corq_delivery &d = out[static_cast<std::size_t>(i)];
        ids.insert(id_of(d.data, d.len));
      }
    }
    if (ids.size() >= check_prefetch) violated("the check's prefetch is too small: raise it");
    return ids;
  }

  void recover() {
    close_engine();
    disk_.clear_faults();
    disk_.set_capacity(0);
    faults_armed_ = failed_ = disk_full_ = false;
    TxnObserved seen;
    const testing::LogSnapshot before = snapshot("recovery");
    for (const char *q : {"in", "out", "fa", "fb"}) {
      auto &ids = seen.queues[q];
      if (const auto it = before.queues.find(q); it != before.queues.end()) {
        for (const testing::SnapshotMessage &m : it->second)
          ids.push_back(id_of(m.payload.data(), m.payload.size()));
      }
    }
    // The checking engine is engine_ at once: a violation closes it (~TxnSeed) before its disk.
    must(try_open(process_, engine_), "corq_open (check)");
    seen.output_records = read_stream(engine_, "so");
    const std::vector<std::string> inputs = read_stream(engine_, "si");
    seen.input_records.insert(inputs.begin(), inputs.end());
    seen.redelivered = redelivered(engine_);
    say("recovered: in " + std::to_string(seen.queues["in"].size()) + ", out " +
        std::to_string(seen.queues["out"].size()) + ", fa " +
        std::to_string(seen.queues["fa"].size()) + ", fb " +
        std::to_string(seen.queues["fb"].size()) + ", so " +
        std::to_string(seen.output_records.size()) + ", si " + std::to_string(inputs.size()) +
        " (" + std::to_string(seen.redelivered.size()) + " delivered)");
    if (std::string why = model_.check(seen); !why.empty()) violated(why);
    model_.recovered(seen, !sync_none_);
    // The checking engine goes on as the next epoch's (an open costs as much as the epoch).
    if (sync_none_ || rng_.one_in(2)) return open_consumers();
    // Recover twice: crash at once (what its recovery wrote, stream records of committed
    // transactions included, may be lost): the next open must find the same.
    process_->kill(rng_.next(), crash_mode());
    close_engine();
    const testing::LogSnapshot again = snapshot("second recovery");
    for (const char *q : {"in", "out", "fa", "fb"}) {
      const auto a = before.queues.find(q), b = again.queues.find(q);
      const bool same = (a == before.queues.end()) == (b == again.queues.end()) &&
                        (a == before.queues.end() || a->second == b->second);
      if (!same) violated(std::string("recovering twice changed queue ") + q);
    }
    open_engine(false);
  }

  const std::uint64_t seed_;
  const SimModes modes_;
  Random rng_;
  wal::SimVfs disk_;
  bool sync_none_ = false;
  std::string group_mode_;
  std::uint32_t member_prefetch_ = input_prefetch;
  TxnModel model_;
  std::unique_ptr<ProcessVfs> process_;
  corq_engine *engine_ = nullptr;
  corq_consumer *inputs_ = nullptr;
  corq_consumer *member_ = nullptr;
  std::vector<corq_consumer *> downstream_;  // of "out", "fa", "fb"
  std::vector<Held> held_;
  std::vector<Held> settled_;  // deliveries settled in this process: their tags are stale
  std::uint64_t next_input_ = 1;
  bool faults_armed_ = false;
  bool disk_full_ = false;
  bool failed_ = false;  // a call returned CORQ_EFAILED: the engine fail-stopped
};

}  // namespace

std::string run_txn_seed(std::uint64_t seed, const SimModes &modes) {
  try {
    TxnSeed(seed, modes).run();
  } catch (const Violation &v) {
    return v.what();
  }
  return {};
}

}  // namespace corq::sim
