// tests/sim/workload.cpp — one seed of corq-sim (see workload.hpp).
//
// A seed runs a few epochs. An epoch opens an engine (a "process", ProcessVfs) on the simulated
// disk, runs a random mix of C API operations on five durable queues and a transient one, some of
// its publishes through two durable exchanges that fan a message out to several of them (declared
// and bound at every open: the recovered ones make that a no-op), and ends in one of:
//   * power loss when the log is quiet (after corq_sync), in torn-tail or reorder mode;
//   * power loss inside the log's next writes (a SimVfs crash point: between write and flush);
//   * a failed write or flush (EIO) — the engine fail-stops — then power loss or a plain restart;
//   * a plain restart (corq_close and open again).
// Some epochs also fill the disk (ENOSPC). After each, the directory is read without an engine
// (testing::snapshot_log) and checked against the model; an open with a failing read must fail; an
// engine is opened and closed (or crashed) and the state read again: it must not change. At the
// end some seeds flip a bit in a sealed segment: both the snapshot and corq_open must say
// CORQ_ECORRUPT.
#include "sim/workload.hpp"

#include "engine/testing.hpp"
#include "sim/epoch_end.hpp"
#include "sim/model.hpp"
#include "sim/process_vfs.hpp"
#include "sim/random.hpp"

#include <corq/corq.h>
#include <log/scanner.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

namespace corq::sim {
namespace {

constexpr const char *data_dir = "/data";
/// Bounds of a seed: epochs, operations per epoch, operations waited for a crash point.
constexpr std::uint64_t epochs_max = 4;
constexpr std::uint64_t epoch_ops_min = 20;
constexpr std::uint64_t epoch_ops_spread = 100;
constexpr std::uint64_t crash_wait_ops_max = 40;
constexpr std::uint32_t prefetch = 8;
constexpr std::int64_t q0_lease_ms = 5000;
constexpr std::int64_t q1_lease_ms = 3000;
/// How far sim time starts ahead of real time (the timer wheels pay per millisecond advanced).
constexpr std::int64_t sim_lead_ms = 10'000;

struct Held {  // an unsettled delivery
  std::size_t consumer;
  std::uint64_t tag;
  std::string payload;
  std::int64_t deadline_ms;
};

struct QueueSpec {
  const char *name;
  std::vector<std::pair<const char *, const char *>> options;
};

// q0/q1 are worked (consumed, settled, dead-lettered); p is only published and purged; d only
// published and deleted. Dead-letter queues q0.dlq and q1.dlq are declared by the engine.
const std::vector<QueueSpec> &queue_specs() {
  static const std::vector<QueueSpec> specs = {
      {"q0",
       {{"max_attempts", "3"},
        {"lease_ms", "5000"},
        {"retry_delay_ms", "500"},
        {"dedup_window_ms", "600000"}}},
      {"q1", {{"max_attempts", "2"}, {"lease_ms", "3000"}, {"retry_delay_ms", "200"}}},
      {"p", {{"dead_letter_queue", ""}}},
      {"d", {{"dead_letter_queue", ""}}},
      {"t", {{"durable", "false"}}},
  };
  return specs;
}

/// Where a publish through an exchange goes: the durable queues it must reach ("d" only while d
/// is declared) and whether transient t gets a copy too. fx is a fanout exchange; tx a topic one
/// with the bindings of topic_bindings().
struct Route {
  const char *exchange;
  const char *key;
  std::vector<const char *> durable;
  bool transient;
};

const std::vector<std::pair<const char *, const char *>> &topic_bindings() {  // queue, pattern
  static const std::vector<std::pair<const char *, const char *>> bindings = {
      {"q0", "o.*"}, {"q1", "o.#"}, {"p", "#.x"}, {"d", "*.d"}, {"t", "#.x"},
  };
  return bindings;
}

const std::vector<Route> &routes() {
  static const std::vector<Route> table = {
      {"fx", "any", {"q0", "q1", "p"}, true},
      {"fx", "", {"q0", "q1", "p"}, true},
      {"tx", "o.a", {"q0", "q1"}, false},
      {"tx", "o.x", {"q0", "q1", "p"}, true},
      {"tx", "o.a.x", {"q1", "p"}, true},
      {"tx", "z.x", {"p"}, true},  // one durable copy: a plain publish record
      {"tx", "o.d", {"q0", "q1", "d"}, false},
      {"tx", "n", {}, false},  // unroutable
  };
  return table;
}

/// The home (model.hpp) of the copies consumer `consumer` (Held::consumer) gets: q0 or q1.
const char *home_of_consumer(std::size_t consumer) { return consumer == 0 ? "q0" : "q1"; }

std::string text(const corq_delivery &d) {
  return std::string(static_cast<const char *>(d.data), d.len);
}

std::uint32_t death_count_of(const corq_delivery &d) {
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (std::string(d.headers[i].key) == "x-death-count") {
      const std::string v(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len);
      return static_cast<std::uint32_t>(std::stoul(v));
    }
  }
  return 0;
}

/// "queue: id(count,due?) ..." per queue, for verbose output and failure messages.
std::string describe(const testing::LogSnapshot &snapshot) {
  std::string out = "next id " + std::to_string(snapshot.next_message_id);
  for (const auto &[queue, list] : snapshot.queues) {
    out.append(" | ").append(queue).append(":");
    for (const testing::SnapshotMessage &m : list) {
      out.append(" ").append(std::to_string(m.id)).append("(");
      out.append(std::to_string(m.delivery_count));
      if (m.due_ms != 0) out.append(",delayed");
      if (!m.headers.empty()) out.append(",h");
      out.append(")");
    }
  }
  return out;
}

class Seed {
 public:
  Seed(std::uint64_t seed, const SimModes &modes)
      : seed_(seed), modes_(modes), rng_(seed), disk_(seed) {
    sync_none_ = modes.sync_none && rng_.one_in(5);
    power_safe_ = !sync_none_;
  }

  ~Seed() { close_engine(); }
  Seed(const Seed &) = delete;
  Seed &operator=(const Seed &) = delete;

  void run() {
    open_engine(true);
    const std::uint64_t epochs = 1 + rng_.below(epochs_max);
    for (std::uint64_t e = 0; e < epochs; ++e) {
      run_epoch(e);
      recover();
    }
    if (modes_.corrupt && rng_.one_in(3)) corrupt_sealed_segment();
    close_engine();
  }

 private:
  // ---- the engine ("process") ----

  void say(const std::string &line) const {
    if (modes_.verbose) std::printf("  seed %llu: %s\n", (unsigned long long)seed_, line.c_str());
  }

  std::unique_ptr<corq_config, void (*)(corq_config *)> engine_config() const {
    std::unique_ptr<corq_config, void (*)(corq_config *)> config(corq_config_new(),
                                                                 corq_config_free);
    corq_config_set(config.get(), "sync", sync_none_ ? "none" : "always");
    corq_config_set(config.get(), "clock", "manual");
    corq_config_set(config.get(), "segment_bytes", "1MiB");  // the smallest the engine takes
    return config;
  }

  /// corq_open through a new process view of the disk. Returns the code; on success engine_ set.
  int try_open(std::unique_ptr<ProcessVfs> &process, corq_engine *&engine) {
    process = std::make_unique<ProcessVfs>(disk_);
    engine = nullptr;
    return testing::open_on_vfs(data_dir, engine_config().get(), process.get(), &engine);
  }

  void open_engine(bool first) {
    if (const int rc = try_open(process_, engine_); rc != CORQ_OK) {
      throw Violation(std::string("corq_open failed: ") + corq_strerror(rc) + " (" +
                      corq_last_error() + ")");
    }
    // Time goes on across restarts: the new engine's manual clock starts at the real time.
    const std::int64_t now = testing::clock_now_ms(engine_);
    // Sim time runs ahead of real time (by sim_lead_ms at least), so that an engine opened only
    // to check recovery (on real time) never finds a delay or TTL due that was not due before.
    if (first) sim_now_ms_ = now + sim_lead_ms;
    if (sim_now_ms_ > now) testing::advance_clock(engine_, sim_now_ms_ - now);
    for (const QueueSpec &spec : queue_specs()) {
      if (spec.name == std::string("d") && !d_declared_ && !first) continue;
      declare(spec);
    }
    if (first) d_declared_ = true;
    declare_exchanges();
    consumers_.clear();
    for (const char *queue : {"q0", "q1"}) {
      corq_consumer *c = nullptr;
      must(corq_consumer_open(engine_, queue, prefetch, &c), "consumer_open");
      consumers_.push_back(c);
    }
    producer_ = nullptr;
    must(corq_producer_open(engine_, "q0", &producer_), "producer_open");
    producer_sent_.clear();
  }

  void declare_exchanges() {
    must(corq_exchange_declare(engine_, "fx", "fanout", nullptr), "declare exchange fx");
    must(corq_exchange_declare(engine_, "tx", "topic", nullptr), "declare exchange tx");
    for (const char *queue : {"q0", "q1", "p", "t"}) {
      must(corq_bind(engine_, "fx", queue, "", nullptr, 0), std::string("bind fx to ") + queue);
    }
    for (const auto &[queue, pattern] : topic_bindings()) {
      if (queue != std::string("d") || d_declared_) bind_topic(queue, pattern, true);
    }
  }

  /// Binds tx to `queue` (durable ends: logged; recovered ones make it a no-op).
  void bind_topic(const char *queue, const char *pattern, bool required) {
    const int rc = corq_bind(engine_, "tx", queue, pattern, nullptr, 0);
    say(std::string("bind tx to ") + queue + " '" + pattern + "' -> " + std::to_string(rc));
    if (required) return must(rc, std::string("bind tx to ") + queue);
    expect_ok_or_dead(rc, std::string("bind tx to ") + queue);
  }

  void declare(const QueueSpec &spec) {
    corq_config *config = corq_config_new();
    for (const auto &[k, v] : spec.options) corq_config_set(config, k, v);
    const int rc = corq_queue_declare(engine_, spec.name, config);
    corq_config_free(config);
    must(rc, std::string("declare ") + spec.name);
  }

  /// Handles first (they only free memory on a dead disk), then the engine.
  void close_engine() {
    for (corq_consumer *c : consumers_) corq_consumer_close(c);
    consumers_.clear();
    if (producer_ != nullptr) corq_producer_close(producer_);
    producer_ = nullptr;
    held_.clear();
    if (engine_ != nullptr) corq_close(engine_);
    engine_ = nullptr;
  }

  void must(int rc, const std::string &what) {
    if (rc != CORQ_OK) {
      throw Violation(what + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")");
    }
  }

  /// After an error that fail-stops or a crash, durable operations fail: only these codes.
  void expect_ok_or_dead(int rc, const std::string &what) {
    if (rc == CORQ_OK) return;
    // Once the log failed (fail-stop) the engine's state is the next recovery's business: a
    // settlement may even have taken effect in memory before the log refused it.
    if (rc == CORQ_EFAILED) failed_ = true;
    if (failed_ && (process_->dead() || faults_armed_ || disk_full_)) return;
    if ((rc == CORQ_EFAILED || rc == CORQ_ENOSPC) && (process_->dead() || faults_armed_)) return;
    // A full disk: publishers get ENOSPC; once even the reserve is gone the log fail-stops.
    if ((rc == CORQ_ENOSPC || rc == CORQ_EFAILED) && disk_full_) return;
    must(rc, what);
  }

  // ---- publishing ----

  std::string next_payload() {
    std::string p = "m" + std::to_string(seed_) + "." + std::to_string(next_message_++) + ":";
    const std::uint64_t filler = rng_.one_in(4) ? 2000 + rng_.below(5000) : rng_.below(200);
    p.append(filler, static_cast<char>('a' + rng_.below(26)));
    return p;
  }

  /// What a publish's code says about its message.
  void published(const std::string &payload, const std::string &queue, int rc, bool confirmed,
                 std::uint64_t id) {
    Tracked &t = model_.at(payload, queue);
    if (rc == CORQ_OK || rc == CORQ_EFAILED || rc == CORQ_ETIMEDOUT) {
      t.attempted = true;
      t.confirmed = rc == CORQ_OK && confirmed && power_safe_;
      if (rc == CORQ_OK) t.id = id;
    } else {
      model_.never(payload, queue);
    }
    expect_ok_or_dead(rc == CORQ_ENOENT && queue == "d" ? CORQ_OK : rc, "publish to " + queue);
  }

  void publish_one(bool nowait) {
    static const char *queues[] = {"q0", "q0", "q1", "p", "d"};
    const std::string queue = queues[rng_.below(5)];
    const std::string payload = next_payload();
    corq_publish_options options{sizeof(corq_publish_options), 0, 0, 0, 0, 0};
    if (nowait) options.flags = CORQ_PUBLISH_NOWAIT;
    const bool worked = queue == "q0" || queue == "q1";
    if (worked && rng_.one_in(4))
      options.delay_ms = 1 + static_cast<std::int64_t>(rng_.below(9000));
    const bool ttl = worked && rng_.one_in(5);
    if (ttl) options.ttl_ms = 1 + static_cast<std::int64_t>(rng_.below(20000));
    corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    const corq_header header{"k", "v", 1};
    if (rng_.one_in(3)) {
      m.headers = &header;
      m.header_count = 1;
    }
    std::string dedup_key;
    if (queue == "q0" && rng_.one_in(3)) {
      dedup_key = "k" + std::to_string(rng_.below(8));
      m.dedup_id = dedup_key.c_str();
    }
    std::uint64_t id = 0;
    const int rc = corq_publish(engine_, queue.c_str(), &m, &options, &id);
    say("publish " + payload.substr(0, payload.find(':')) + " to " + queue +
        (nowait ? " nowait" : "") + (dedup_key.empty() ? "" : " dedup " + dedup_key) + " -> " +
        std::to_string(rc) + " id " + std::to_string(id));
    if ((rc == CORQ_OK || rc == CORQ_EFAILED || rc == CORQ_ETIMEDOUT) && id != 0) {
      // Ids only grow (and one lost in a crash may be given again: see recover()), so an id that
      // already names another message is a dedup hit: accepted without effect.
      const auto [known, fresh] = ids_.emplace(id, payload);
      if (!fresh) {
        if (dedup_key.empty()) throw Violation("publish returned the id of another message");
        model_.never(payload, queue);
        say("  (a dedup hit of " + known->second.substr(0, known->second.find(':')) + ")");
        return;
      }
    }
    published(payload, queue, rc, !nowait, id);
    if (ttl) model_.forget_counts({payload, queue});  // it may expire into the dead-letter queue
    if (rc == CORQ_OK && nowait && rng_.one_in(3)) {
      const int w = corq_wait_durable(engine_, id, -1);
      say("wait_durable -> " + std::to_string(w));
      expect_ok_or_dead(w, "wait_durable");
      if (w == CORQ_OK && power_safe_) model_.all_durable();
    }
  }

  void publish_batch() {
    const std::size_t count = 1 + rng_.below(8);
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < count; ++i) payloads.push_back(next_payload());
    std::vector<corq_message> batch;
    for (const std::string &p : payloads)
      batch.push_back({p.data(), p.size(), nullptr, 0, nullptr});
    corq_publish_options options{sizeof(corq_publish_options), CORQ_PUBLISH_NOWAIT, 0, 0, 0, 0};
    std::uint64_t first_id = 0;
    const int rc = corq_producer_send(producer_, batch.data(), batch.size(), &options, &first_id);
    const bool maybe = rc == CORQ_OK || rc == CORQ_EFAILED || rc == CORQ_ETIMEDOUT;
    for (std::size_t i = 0; maybe && first_id != 0 && i < count; ++i) {
      if (!ids_.emplace(first_id + i, payloads[i]).second) {
        throw Violation("a batch got the id of another message");
      }
    }
    say("batch of " + std::to_string(count) + " to q0 -> " + std::to_string(rc));
    for (std::size_t i = 0; i < count; ++i) published(payloads[i], "q0", rc, false, first_id + i);
    if (rc == CORQ_OK)
      producer_sent_.insert(producer_sent_.end(), payloads.begin(), payloads.end());
    if (rng_.one_in(2)) {
      const int f = corq_producer_flush(producer_, -1);
      say("producer_flush -> " + std::to_string(f));
      expect_ok_or_dead(f, "producer_flush");
      if (f == CORQ_OK && power_safe_) {
        for (const std::string &p : producer_sent_) model_.at(p, "q0").confirmed = true;
      }
    }
  }

  /// One corq_exchange_publish through fx or tx. Its durable copies are logged in one record, so
  /// the model groups them (model.hpp): after a crash all or none of them may be there.
  void publish_through_exchange() {
    const Route &route = routes()[rng_.below(routes().size())];
    std::vector<std::string> targets(route.durable.begin(), route.durable.end());
    if (!d_declared_) std::erase(targets, "d");
    const bool to_q0 = std::find(targets.begin(), targets.end(), "q0") != targets.end();
    const bool worked_only =
        !targets.empty() && std::all_of(targets.begin(), targets.end(), [](const std::string &q) {
          return q == "q0" || q == "q1";
        });
    const std::string payload = next_payload();
    const bool nowait = rng_.one_in(3);
    corq_publish_options options{sizeof(corq_publish_options), 0, 0, 0, 0, 0};
    if (nowait) options.flags = CORQ_PUBLISH_NOWAIT;
    if (rng_.one_in(2)) options.flags |= CORQ_PUBLISH_MANDATORY;
    // Delays and TTLs only where every copy is worked: p is purged (not its delayed messages) and
    // has no dead-letter queue (an expired copy there would just vanish).
    if (worked_only && rng_.one_in(4))
      options.delay_ms = 1 + static_cast<std::int64_t>(rng_.below(9000));
    const bool ttl = worked_only && rng_.one_in(5);
    if (ttl) options.ttl_ms = 1 + static_cast<std::int64_t>(rng_.below(20000));
    corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    const corq_header header{"k", "v", 1};
    if (rng_.one_in(3)) {
      m.headers = &header;
      m.header_count = 1;
    }
    // q0's dedup window may skip its copy (the other targets keep theirs).
    std::string dedup_key;
    if (to_q0 && rng_.one_in(3)) {
      dedup_key = "k" + std::to_string(rng_.below(8));
      m.dedup_id = dedup_key.c_str();
    }
    std::uint64_t id = 0;
    std::uint32_t routed = 0;
    const int rc =
        corq_exchange_publish(engine_, route.exchange, route.key, &m, &options, &id, &routed);
    std::string to;
    for (const std::string &q : targets) to += " " + q;
    say("publish " + payload.substr(0, payload.find(':')) + " through " + route.exchange + " '" +
        route.key + "' to" + to + (route.transient ? " t" : "") + (nowait ? " nowait" : "") +
        (dedup_key.empty() ? "" : " dedup " + dedup_key) + " -> " + std::to_string(rc) + " id " +
        std::to_string(id) + " routed " + std::to_string(routed));
    const bool maybe = rc == CORQ_OK || rc == CORQ_EFAILED || rc == CORQ_ETIMEDOUT;
    if (maybe && id != 0 && !ids_.emplace(id, payload).second) {
      throw Violation("an exchange publish returned the id of another message");
    }
    const std::size_t expected = targets.size() + (route.transient ? 1 : 0);
    if (targets.empty()) {  // nothing may store it, mandatory or not
      if (rc == CORQ_EUNROUTABLE && (options.flags & CORQ_PUBLISH_MANDATORY) != 0) return;
      if (rc == CORQ_OK && (routed != 0 || id == 0)) {
        throw Violation("an unroutable publish returned routed " + std::to_string(routed) +
                        ", id " + std::to_string(id));
      }
      return expect_ok_or_dead(rc, "unroutable publish through " + std::string(route.exchange));
    }
    // Which copies were made: all, but q0's when its dedup window saw the key (routed tells).
    bool q0_skipped = false;
    bool q0_unsure = false;
    if (rc == CORQ_OK) {
      q0_skipped = !dedup_key.empty() && routed + 1 == expected;
      if (routed != expected && !q0_skipped) {
        throw Violation("an exchange publish routed " + std::to_string(routed) + " copies, " +
                        std::to_string(expected) + " expected");
      }
    } else {
      q0_unsure = !dedup_key.empty();
    }
    std::size_t grouped = 0;
    for (const std::string &q : targets) {
      if (!(q == "q0" && (q0_skipped || q0_unsure))) ++grouped;
    }
    for (const std::string &q : targets) {
      if (q == "q0" && q0_skipped) {
        model_.never(payload, q);
        continue;
      }
      Tracked &t = model_.at(payload, q);
      if (maybe) {
        t.attempted = true;
        t.confirmed = rc == CORQ_OK && !nowait && power_safe_;
        if (rc == CORQ_OK) t.id = id;
        // One record holds them (when it holds two or more); a copy q0's window may have skipped
        // is outside it.
        t.grouped = grouped >= 2 && !(q == "q0" && q0_unsure);
      } else {
        model_.never(payload, q);
      }
      if (ttl) model_.forget_counts({payload, q});  // it may expire into the dead-letter queue
    }
    if (rc == CORQ_EUNROUTABLE) throw Violation("a routable publish returned CORQ_EUNROUTABLE");
    expect_ok_or_dead(rc, "publish through " + std::string(route.exchange));
    if (rc == CORQ_OK && nowait && rng_.one_in(3)) {
      const int w = corq_wait_durable(engine_, id, -1);
      say("wait_durable -> " + std::to_string(w));
      expect_ok_or_dead(w, "wait_durable");
      if (w == CORQ_OK && power_safe_) model_.all_durable();
    }
  }

  // ---- consuming and settling ----

  void consume() {
    const std::size_t which = rng_.below(2);
    corq_delivery out[4];
    const int n = corq_consume(consumers_[which], out, 1 + rng_.below(4), 0);
    say("consume q" + std::to_string(which) + " -> " + std::to_string(n));
    if (n < 0) return expect_ok_or_dead(n, "consume");
    const std::int64_t lease = which == 0 ? q0_lease_ms : q1_lease_ms;
    for (int i = 0; i < n; ++i) {
      const std::string p = text(out[i]);
      if (model_.never_published(p, home_of_consumer(which))) {
        throw Violation("delivered a never-published message " + p);
      }
      model_.delivered({p, home_of_consumer(which)}, out[i].delivery_count, death_count_of(out[i]));
      held_.push_back({which, out[i].tag, p, sim_now_ms_ + lease});
    }
  }

  void settle() {
    if (held_.empty()) return consume();
    const std::size_t index = rng_.below(held_.size());
    const Held h = held_[index];
    held_.erase(held_.begin() + static_cast<long>(index));
    corq_consumer *c = consumers_[h.consumer];
    const Copy copy{h.payload, home_of_consumer(h.consumer)};
    const std::uint64_t how = rng_.below(10);
    int rc = 0;
    std::string what;
    if (how < 4) {
      rc = corq_ack(c, h.tag), what = "ack";
      // Settled, or maybe (a failed log may still have written the record): it may be gone.
      if (rc == CORQ_OK || rc == CORQ_EFAILED) model_.at(copy.first, copy.second).settled = true;
    } else if (how < 6) {
      const std::int64_t delay = rng_.one_in(3) ? -1 : static_cast<std::int64_t>(rng_.below(3000));
      rc = corq_nack(c, h.tag, delay), what = "nack " + std::to_string(delay);
      model_.forget_counts(copy);  // may reach max_attempts: dead-lettered
    } else if (how < 8) {
      rc = corq_release(c, h.tag), what = "release";
    } else if (how < 9) {
      rc = corq_reject(c, h.tag, rng_.one_in(2) ? "poison" : nullptr), what = "reject";
      model_.forget_counts(copy);
    } else {
      const std::int64_t lease = 1 + static_cast<std::int64_t>(rng_.below(8000));
      rc = corq_extend(c, h.tag, lease), what = "extend " + std::to_string(lease);
      if (rc == CORQ_OK) held_.push_back({h.consumer, h.tag, h.payload, sim_now_ms_ + lease});
    }
    say(what + " " + h.payload.substr(0, h.payload.find(':')) + " -> " + std::to_string(rc));
    // Settling is logged, never waited for: only a failed log makes it fail (the lease is live).
    expect_ok_or_dead(rc, what + " of a live delivery");
  }

  void ack_upto() {
    const std::size_t which = rng_.below(2);
    std::uint64_t top = 0;
    for (const Held &h : held_) {
      if (h.consumer == which && rng_.one_in(2)) top = std::max(top, h.tag);
    }
    if (top == 0) return;
    const int rc = corq_ack_upto(consumers_[which], top);
    say("ack_upto q" + std::to_string(which) + " tag " + std::to_string(top) + " -> " +
        std::to_string(rc));
    expect_ok_or_dead(rc, "ack_upto");
    std::erase_if(held_, [&](const Held &h) {
      if (h.consumer != which || h.tag > top) return false;
      if (rc == CORQ_OK || rc == CORQ_EFAILED)
        model_.at(h.payload, home_of_consumer(which)).settled = true;
      return true;  // on an error (a failed log) their state is unknown: never settled again
    });
  }

  /// Consumes from a dead-letter queue and settles at once (ack or release).
  void drain_dead_letters() {
    const char *queue = rng_.one_in(2) ? "q0.dlq" : "q1.dlq";
    corq_consumer *c = nullptr;
    must(corq_consumer_open(engine_, queue, prefetch, &c), "consumer_open dlq");
    corq_delivery out[4];
    const int n = corq_consume(c, out, 1 + rng_.below(4), 0);
    say(std::string("consume ") + queue + " -> " + std::to_string(n));
    for (int i = 0; n > 0 && i < n; ++i) {
      const std::string p = text(out[i]);
      const Copy copy{p, home_of(queue)};
      model_.delivered(copy, out[i].delivery_count, death_count_of(out[i]));
      const bool ack = rng_.one_in(2);
      const int rc = ack ? corq_ack(c, out[i].tag) : corq_release(c, out[i].tag);
      expect_ok_or_dead(rc, "settle a dead letter");
      if (ack && (rc == CORQ_OK || rc == CORQ_EFAILED)) model_.at(p, copy.second).settled = true;
    }
    corq_consumer_close(c);
    if (n < 0) expect_ok_or_dead(n, "consume dlq");
  }

  // ---- control plane and time ----

  void advance() {
    const std::int64_t ms = 1 + static_cast<std::int64_t>(rng_.below(8000));
    sim_now_ms_ += ms;
    const int rc = testing::advance_clock(engine_, ms);
    say("advance " + std::to_string(ms) + " ms -> " + std::to_string(rc));
    must(rc, "advance_clock");
    // Leases due by now expired (deadline <= now): those deliveries are gone from the consumer.
    std::erase_if(held_, [&](const Held &h) {
      if (h.deadline_ms > sim_now_ms_) return false;
      model_.forget_counts({h.payload, home_of_consumer(h.consumer)});  // may be dead-lettered
      return true;
    });
  }

  void redrive() {
    const char *queue = rng_.one_in(2) ? "q0.dlq" : "q1.dlq";
    std::uint64_t moved = 0;
    const int rc = corq_redrive(engine_, queue, nullptr, 1 + rng_.below(5), &moved);
    say(std::string("redrive ") + queue + " -> " + std::to_string(rc));
    model_.forget_all_counts();
    if (rc != CORQ_EFULL) expect_ok_or_dead(rc, "redrive");
  }

  void purge() {
    std::uint64_t purged = 0;
    const int rc = corq_queue_purge(engine_, "p", &purged);
    say("purge p -> " + std::to_string(rc) + " (" + std::to_string(purged) + ")");
    expect_ok_or_dead(rc, "purge");
    if (rc != CORQ_OK && rc != CORQ_EFAILED) return;  // EFAILED: maybe purged
    for (const auto &[copy, t] : model_.messages()) {
      if (copy.second == "p" && t.attempted) model_.at(copy.first, copy.second).settled = true;
    }
  }

  void delete_or_declare() {
    if (!d_declared_) {
      const QueueSpec &spec = queue_specs()[3];
      corq_config *config = corq_config_new();
      for (const auto &[k, v] : spec.options) corq_config_set(config, k, v);
      const int rc = corq_queue_declare(engine_, spec.name, config);
      corq_config_free(config);
      say("declare d -> " + std::to_string(rc));
      expect_ok_or_dead(rc, "declare d");
      d_declared_ = rc == CORQ_OK;
      if (d_declared_) bind_topic("d", "*.d", false);  // its binding went with the delete
      return;
    }
    const int rc = corq_queue_delete(engine_, "d");
    say("delete d -> " + std::to_string(rc));
    expect_ok_or_dead(rc, "delete");
    if (rc != CORQ_OK && rc != CORQ_EFAILED) return;  // EFAILED: maybe deleted
    d_declared_ = false;
    for (const auto &[copy, t] : model_.messages()) {
      if (copy.second == "d" && t.attempted) model_.at(copy.first, copy.second).settled = true;
    }
  }

  void sync() {
    const int rc = corq_sync(engine_, -1);
    say("sync -> " + std::to_string(rc));
    expect_ok_or_dead(rc, "sync");
    // corq_sync flushes in both sync modes: what was logged before it survives a power loss.
    if (rc == CORQ_OK) model_.all_durable();
  }

  void step() {
    const std::uint64_t pick = rng_.below(100);
    if (pick < 14) return publish_one(false);
    if (pick < 20) return publish_one(true);
    if (pick < 27) return publish_batch();
    if (pick < 34) return publish_through_exchange();
    if (pick < 52) return consume();
    if (pick < 70) return settle();
    if (pick < 74) return ack_upto();
    if (pick < 82) return advance();
    if (pick < 84) return redrive();
    if (pick < 88) return drain_dead_letters();
    if (pick < 90) return purge();
    if (pick < 92) return delete_or_declare();
    return sync();
  }

  // ---- epochs, crashes, recovery ----

  wal::SimCrashMode crash_mode() {
    return modes_.reorder && rng_.one_in(2) ? wal::SimCrashMode::reorder
                                            : wal::SimCrashMode::torn_tail;
  }

  void run_epoch(std::uint64_t epoch) {
    const std::uint64_t ops = epoch_ops_min + rng_.below(epoch_ops_spread);
    if (rng_.one_in(8)) {
      disk_full_ = true;
      disk_.set_capacity(disk_.used_bytes() + (1 + rng_.below(3)) * (1u << 20));
    }
    for (std::uint64_t i = 0; i < ops; ++i) step();
    end_epoch(
        epoch, rng_, disk_, process_, faults_armed_, crash_wait_ops_max, [this] { step(); },
        [this] { sync(); }, [this] { return crash_mode(); },
        [this](const std::string &s) { say(s); });
  }

  /// The process is dead (or about to be restarted): close it, check the disk, open again.
  void recover() {
    close_engine();
    disk_.clear_faults();
    disk_.set_capacity(0);
    faults_armed_ = disk_full_ = failed_ = false;
    testing::LogSnapshot before;
    std::string error;
    if (const int rc = testing::snapshot_log(disk_, data_dir, before, error); rc != CORQ_OK) {
      throw Violation(std::string("recovery read failed: ") + corq_strerror(rc) + ": " + error);
    }
    if (modes_.verbose) say("recovered: " + describe(before));
    if (std::string why = model_.check(before); !why.empty()) throw Violation(why);
    model_.recovered(before, power_safe_);
    // A delete of d that failed may or may not be in the log: d is what recovery says.
    d_declared_ = before.queues.count("d") != 0;
    // Ids from the recovered next id on were lost with their publishes: the engine gives them
    // again.
    ids_.erase(ids_.lower_bound(before.next_message_id), ids_.end());
    if (rng_.one_in(4)) open_with_failing_read();
    const std::string before_records = modes_.verbose ? log_records() : std::string();
    // Recover twice: open, then close or crash at once; the state must not change.
    std::unique_ptr<ProcessVfs> process;
    corq_engine *engine = nullptr;
    must(try_open(process, engine), "corq_open (first recovery)");
    // (With sync=none what was read may be in the page cache only: a crash could drop it.)
    if (!sync_none_ && rng_.one_in(2)) process->kill(rng_.next(), crash_mode());
    corq_close(engine);
    testing::LogSnapshot again;
    if (const int rc = testing::snapshot_log(disk_, data_dir, again, error); rc != CORQ_OK) {
      throw Violation(std::string("second recovery read failed: ") + corq_strerror(rc) + ": " +
                      error);
    }
    if (!(again == before) && modes_.verbose) {
      say("log before the second open:");
      dump_records(before_records);
      say("log after it:");
      dump_records(log_records());
    }
    if (!(again == before)) {
      throw Violation("recovering twice gave a different state: first " + describe(before) +
                      "; then " + describe(again));
    }
    open_engine(false);
  }

  void open_with_failing_read() {
    const std::uint64_t injected = disk_.counters().faults_injected;
    disk_.fail_read(1 + rng_.below(4), -EIO);
    std::unique_ptr<ProcessVfs> process;
    corq_engine *engine = nullptr;
    const int rc = try_open(process, engine);
    disk_.clear_faults();
    const bool fired = disk_.counters().faults_injected != injected;
    say("open with a failing read -> " + std::to_string(rc) + (fired ? " (fired)" : ""));
    if (rc == CORQ_OK) corq_close(engine);
    if (fired && rc == CORQ_OK) throw Violation("corq_open succeeded although a read failed");
    if (rc != CORQ_OK && rc != CORQ_EIO) {
      throw Violation(std::string("corq_open with a failing read: ") + corq_strerror(rc) +
                      ", expected CORQ_EIO");
    }
  }

  /// Every record of the log as "lsn:type:first id" (verbose output of a failure).
  std::string log_records() {
    std::string out;
    wal::ScanVisitor visitor;
    visitor.frame = [&](const wal::FrameInfo &f) {
      out +=
          "\n    [segment " + std::to_string(f.segment_id) + " @" + std::to_string(f.offset) + "]";
    };
    visitor.record = [&](const wal::RecoveredRecord &r) {
      std::uint64_t id = 0;
      const std::size_t at = r.type == 11                                               ? 0
                             : r.type == 4 || r.type == 5 || r.type == 7 || r.type == 8 ? 8
                                                                                        : 4;
      if (r.payload.size() >= at + 8) std::memcpy(&id, r.payload.data() + at, 8);
      out += " " + std::to_string(r.lsn) + ":" + std::to_string(r.type) + ":" + std::to_string(id);
      return 0;
    };
    wal::ScanResult scan;
    wal::scan_log(disk_, data_dir, visitor, scan);
    return out;
  }
  void dump_records(const std::string &records) const {
    if (modes_.verbose) std::printf("%s\n", records.c_str());
  }

  /// Flips one bit of a frame in a sealed (not the tail) segment, after a clean close: the
  /// directory must then be reported corrupt, by the snapshot and by corq_open.
  void corrupt_sealed_segment() {
    close_engine();
    std::vector<wal::FrameInfo> frames;
    wal::ScanVisitor visitor;
    visitor.frame = [&](const wal::FrameInfo &f) { frames.push_back(f); };
    wal::ScanResult scan;
    if (wal::scan_log(disk_, data_dir, visitor, scan) != 0)
      throw Violation("scan before corrupting");
    std::erase_if(frames,
                  [&](const wal::FrameInfo &f) { return f.segment_id >= scan.tail_segment_id; });
    if (frames.empty()) return open_engine(false);  // one segment only: nothing sealed
    const wal::FrameInfo &f = frames[rng_.below(frames.size())];
    const std::string file = std::string(data_dir) + "/" + wal::segment_file_name(f.segment_id);
    const std::uint64_t offset = f.offset + rng_.below(f.frame_bytes);
    const int bit = static_cast<int>(rng_.below(8));
    say("flip bit " + std::to_string(bit) + " of byte " + std::to_string(offset) + " of " + file);
    if (disk_.flip_bit(file, offset, bit) != 0) throw Violation("flip_bit failed");
    testing::LogSnapshot snapshot;
    std::string error;
    const int rc = testing::snapshot_log(disk_, data_dir, snapshot, error);
    if (rc != CORQ_ECORRUPT) {
      throw Violation("a flipped bit at " + file + ":" + std::to_string(offset) +
                      " was not reported as corruption by the scan (" + corq_strerror(rc) + ")");
    }
    std::unique_ptr<ProcessVfs> process;
    corq_engine *engine = nullptr;
    const int open_rc = try_open(process, engine);
    if (open_rc == CORQ_OK) corq_close(engine);
    if (open_rc != CORQ_ECORRUPT) {
      throw Violation("a flipped bit at " + file + ":" + std::to_string(offset) +
                      " was not reported by corq_open (" + corq_strerror(open_rc) + ")");
    }
  }

  const std::uint64_t seed_;
  const SimModes modes_;
  Random rng_;
  wal::SimVfs disk_;
  bool sync_none_ = false;
  bool power_safe_ = true;
  Model model_;
  std::unique_ptr<ProcessVfs> process_;
  corq_engine *engine_ = nullptr;
  std::vector<corq_consumer *> consumers_;
  corq_producer *producer_ = nullptr;
  std::vector<std::string> producer_sent_;
  std::vector<Held> held_;
  std::map<std::uint64_t, std::string> ids_;  // message id -> payload, of accepted publishes
  std::int64_t sim_now_ms_ = 0;
  std::uint64_t next_message_ = 1;
  bool d_declared_ = false;
  bool faults_armed_ = false;
  bool disk_full_ = false;
  bool failed_ = false;  // a call returned CORQ_EFAILED: the engine fail-stopped
};

}  // namespace

std::string run_seed(std::uint64_t seed, const SimModes &modes) {
  try {
    Seed(seed, modes).run();
  } catch (const Violation &v) {
    return v.what();
  }
  return {};
}

}  // namespace corq::sim
