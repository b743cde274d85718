// tests/sim/stream_workload.cpp — the streams half of a corq-sim seed (workload.hpp).
//
// A durable stream "s" (3 partitions, 64 KiB log segments, sometimes retention_records) and its
// consumer group "g" (ordered, shared or key_ordered, chosen by the seed) on a simulated disk. An
// epoch runs a random mix of appends (waited, NOWAIT, producer batches), reads, group consumes,
// acks, nacks and corq_sync, and ends like the queue half's epochs: a quiet power loss, a crash
// point inside the next writes, a failed write or flush (EIO), or a plain restart. Then a
// throwaway engine opens what survived and the invariants of DESIGN.md §7 are checked:
//   * offsets are dense: every partition reads back as consecutive offsets from its first;
//   * an offset never changes: a record read back at an offset the workload appended carries
//     that append's payload (and under sync=always every record a reader or the group saw before
//     the crash is still there: records are visible only once durable);
//   * a confirmed append is never lost (unless retention deleted it), a producer batch is there
//     whole or not at all;
//   * a record whose settle was durable (acked or nacked-then-acked before a corq_sync that
//     returned 0) is never delivered to the group again, and every record retained and not
//     durably settled is delivered again.
// The throwaway engine is then closed (or crashed at once) and the next epoch opens its own.
#include "engine/testing.hpp"
#include "sim/epoch_end.hpp"
#include "sim/process_vfs.hpp"
#include "sim/random.hpp"
#include "sim/workload.hpp"

#include <corq/corq.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace corq::sim {
namespace {

constexpr const char *data_dir = "/data";
constexpr std::uint32_t partitions = 3;
constexpr std::uint64_t epochs_max = 3;
constexpr std::uint64_t epoch_ops_min = 10;
constexpr std::uint64_t epoch_ops_spread = 60;
constexpr std::uint64_t crash_wait_ops_max = 30;
constexpr std::uint32_t member_prefetch = 16;

/// What the workload knows of one offset of one partition.
struct Appended {
  std::string payload;
  bool confirmed = false;        // durable by the contract: it must survive
  std::uint64_t batch = 0;       // the producer batch it came in (0: a single append)
  bool settled = false;          // acked (or dead-lettered) by the group, in this engine's life
  bool settled_durable = false;  // ... and a corq_sync returned 0 after that
};

struct Delivery {
  std::uint64_t tag;
  std::uint32_t partition;
  std::uint64_t offset;
};

class StreamSeed {
 public:
  StreamSeed(std::uint64_t seed, const SimModes &modes)
      : seed_(seed), modes_(modes), rng_(seed ^ 0x5eed5eed5eedull) {
    sync_none_ = modes_.sync_none && rng_.one_in(5);
    const std::uint64_t mode = rng_.below(3);
    group_mode_ = mode == 0 ? "ordered" : mode == 1 ? "shared" : "key_ordered";
    // key_ordered keeps one record per key out: without keys it delivers like shared, and the
    // check (every unsettled record delivered again, without acking) can see them all.
    keyed_ = mode != 2;
    retention_ = rng_.one_in(3) ? 20 + rng_.below(200) : 0;
  }
  ~StreamSeed() { close_engine(); }
  StreamSeed(const StreamSeed &) = delete;
  StreamSeed &operator=(const StreamSeed &) = delete;

  void run() {
    open_engine();
    const std::uint64_t epochs = 1 + rng_.below(epochs_max);
    for (std::uint64_t e = 0; e < epochs; ++e) {
      run_epoch(e);
      recover();
    }
    close_engine();
  }

 private:
  void say(const std::string &line) const {
    if (modes_.verbose) {
      std::printf("  seed %llu streams: %s\n", (unsigned long long)seed_, line.c_str());
      std::fflush(stdout);
    }
  }

  void must(int rc, const std::string &what) {
    if (rc != CORQ_OK)
      throw Violation("streams: " + what + ": " + corq_strerror(rc) + " (" + corq_last_error() +
                      ")");
  }

  /// After a crash point, EIO or a fail-stop, durable calls may fail with these codes only.
  void expect_ok_or_dead(int rc, const std::string &what) {
    if (rc == CORQ_OK) return;
    // (A failed spare-segment allocation makes the log refuse appends with CORQ_ENOSPC.)
    if ((rc == CORQ_EFAILED || rc == CORQ_EIO || rc == CORQ_ETIMEDOUT || rc == CORQ_ENOSPC) &&
        (faults_armed_ || process_->dead()))
      return;
    must(rc, what);
  }

  using ConfigPtr = std::unique_ptr<corq_config, void (*)(corq_config *)>;
  ConfigPtr config(std::initializer_list<std::pair<const char *, std::string>> options) const {
    ConfigPtr c(corq_config_new(), corq_config_free);
    for (const auto &[k, v] : options) corq_config_set(c.get(), k, v.c_str());
    return c;
  }

  int try_open(std::unique_ptr<ProcessVfs> &process, corq_engine *&engine) {
    process = std::make_unique<ProcessVfs>(disk_);
    engine = nullptr;
    // The smallest stream cache: the oldest chunks leave memory and reads come from the log.
    ConfigPtr c = config({{"sync", sync_none_ ? "none" : "always"},
                          {"clock", "manual"},
                          {"segment_bytes", "1MiB"},
                          {"stream_cache_bytes", "1MiB"}});
    return testing::open_on_vfs(data_dir, c.get(), process.get(), &engine);
  }

  void declare(corq_engine *engine) {
    ConfigPtr c = config({{"partitions", std::to_string(partitions)},
                          {"partition_segment_bytes", "64KiB"},
                          {"retention_records", std::to_string(retention_)}});
    must(corq_stream_declare(engine, "s", c.get()), "stream_declare");
  }

  corq_consumer *open_member(corq_engine *engine, std::uint32_t prefetch) {
    ConfigPtr c = config({{"mode", group_mode_},
                          {"prefetch", std::to_string(prefetch)},
                          {"retry_delay_ms", "0"},
                          {"max_attempts", "0"}});
    corq_consumer *m = nullptr;
    must(corq_group_consumer_open(engine, "s", "g", c.get(), &m), "group_consumer_open");
    return m;
  }

  void open_engine() {
    const int rc = try_open(process_, engine_);
    if (rc != CORQ_OK)
      throw Violation(std::string("streams: corq_open failed: ") + corq_strerror(rc) + " (" +
                      corq_last_error() + ")");
    declare(engine_);
    member_ = open_member(engine_, member_prefetch);
    must(corq_stream_producer_open(engine_, "s", &producer_), "stream_producer_open");
  }

  void close_engine() {
    if (member_ != nullptr) corq_consumer_close(member_);
    member_ = nullptr;
    if (producer_ != nullptr) corq_stream_producer_close(producer_);
    producer_ = nullptr;
    held_.clear();
    if (engine_ != nullptr) corq_close(engine_);
    engine_ = nullptr;
  }

  std::string next_payload() {
    std::string p = "s" + std::to_string(seed_) + "." + std::to_string(next_++) + ":";
    p.append(rng_.one_in(5) ? 500 + rng_.below(3000) : rng_.below(100), 'x');
    return p;
  }

  // ---- operations ----

  void appended(std::uint32_t partition, std::uint64_t offset, const std::string &payload,
                bool confirmed, std::uint64_t batch) {
    Appended &a = records_[partition][offset];
    a = Appended{payload, confirmed, batch, false, false};
  }

  void append_one(bool nowait) {
    const std::string payload = next_payload();
    const std::string key = "k" + std::to_string(rng_.below(10));
    corq_message m{payload.data(), payload.size(), nullptr, 0, nullptr};
    corq_publish_options o{
        sizeof(corq_publish_options), nowait ? CORQ_PUBLISH_NOWAIT : 0u, -1, 0, 0, 0};
    std::uint32_t p = 0;
    std::uint64_t offset = 0;
    const int rc = corq_stream_append(engine_, "s", keyed_ ? key.data() : nullptr,
                                      keyed_ ? key.size() : 0, &m, &o, &p, &offset);
    say("append " + payload.substr(0, payload.find(':')) + (nowait ? " nowait" : "") + " -> " +
        std::to_string(rc) + " @" + std::to_string(p) + ":" + std::to_string(offset));
    expect_ok_or_dead(rc, "stream_append");
    if (rc == CORQ_OK) appended(p, offset, payload, !nowait && !sync_none_, 0);
  }

  void append_batch() {
    const std::size_t count = 1 + rng_.below(6);
    std::vector<std::string> payloads;
    std::vector<corq_message> batch;
    for (std::size_t i = 0; i < count; ++i) payloads.push_back(next_payload());
    for (const std::string &p : payloads)
      batch.push_back({p.data(), p.size(), nullptr, 0, nullptr});
    const bool nowait = rng_.one_in(2);
    corq_publish_options o{
        sizeof(corq_publish_options), nowait ? CORQ_PUBLISH_NOWAIT : 0u, -1, 0, 0, 0};
    std::uint32_t p = 0;
    std::uint64_t first = 0;
    const int rc = corq_stream_producer_send(producer_, nullptr, 0, batch.data(), batch.size(), &o,
                                             &p, &first);
    say("batch of " + std::to_string(count) + " -> " + std::to_string(rc) + " @" +
        std::to_string(p) + ":" + std::to_string(first));
    expect_ok_or_dead(rc, "stream_producer_send");
    if (rc != CORQ_OK) return;
    ++batches_;
    for (std::size_t i = 0; i < count; ++i)
      appended(p, first + i, payloads[i], !nowait && !sync_none_, batches_);
  }

  void consume() {
    std::vector<corq_delivery> out(member_prefetch);
    const int n = corq_consume(member_, out.data(), out.size(), 0);
    if (n < 0) return expect_ok_or_dead(n, "consume");
    for (int i = 0; i < n; ++i) {
      const corq_delivery &d = out[static_cast<std::size_t>(i)];
      std::uint32_t partition = 0;
      for (std::size_t h = 0; h < d.header_count; ++h) {
        if (std::string(d.headers[h].key) == "x-stream-partition")
          partition = static_cast<std::uint32_t>(std::stoul(
              std::string(static_cast<const char *>(d.headers[h].value), d.headers[h].value_len)));
      }
      auto &part = records_[partition];
      const std::string got(static_cast<const char *>(d.data), d.len);
      if (auto it = part.find(d.message_id); it != part.end()) {
        if (it->second.payload != got)
          throw Violation(
              "streams: the group got another payload at " + std::to_string(partition) + ":" +
              std::to_string(d.message_id) + ": " + got.substr(0, got.find(':')) + " (" +
              std::to_string(got.size()) + " bytes) instead of " +
              it->second.payload.substr(0, it->second.payload.find(':')) + " (" +
              std::to_string(it->second.payload.size()) + " bytes), first difference at " +
              std::to_string(std::mismatch(got.begin(), got.end(), it->second.payload.begin(),
                                           it->second.payload.end())
                                 .first -
                             got.begin()) +
              " delivery_count " + std::to_string(d.delivery_count));
        // Under sync=always the group sees durable records only.
        if (!sync_none_) it->second.confirmed = true;
      }
      held_.push_back({d.tag, partition, d.message_id});
    }
    say("consume -> " + std::to_string(n));
  }

  void settle() {
    if (held_.empty()) return;
    const std::size_t i = rng_.below(held_.size());
    const Delivery d = held_[i];
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    if (rng_.one_in(4)) {
      const int rc = corq_nack(member_, d.tag, 0);
      say("nack " + std::to_string(d.partition) + ":" + std::to_string(d.offset) + " -> " +
          std::to_string(rc));
      return expect_ok_or_dead(rc == CORQ_ESTATE ? CORQ_OK : rc, "nack");
    }
    const int rc = corq_ack(member_, d.tag);
    say("ack " + std::to_string(d.partition) + ":" + std::to_string(d.offset) + " -> " +
        std::to_string(rc));
    expect_ok_or_dead(rc, "ack");
    auto &part = records_[d.partition];
    // (A record the model does not know: an append that failed with CORQ_EFAILED may be there.)
    if (auto it = part.find(d.offset); rc == CORQ_OK && it != part.end()) it->second.settled = true;
  }

  void read() {
    const std::uint32_t p = static_cast<std::uint32_t>(rng_.below(partitions));
    corq_stream_reader *r = nullptr;
    if (const int rc = corq_stream_reader_open(engine_, "s", p, "earliest", &r); rc != CORQ_OK)
      return expect_ok_or_dead(rc, "reader_open");
    std::vector<corq_stream_record> out(64);
    for (;;) {
      const int n = corq_stream_read(r, out.data(), out.size(), 0);
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        const corq_stream_record &rec = out[static_cast<std::size_t>(i)];
        auto it = records_[p].find(rec.offset);
        if (it == records_[p].end()) continue;
        if (it->second.payload != std::string(static_cast<const char *>(rec.data), rec.len))
          throw Violation("streams: a reader got another payload at " + std::to_string(p) + ":" +
                          std::to_string(rec.offset));
        if (!sync_none_) it->second.confirmed = true;  // readers see durable records only
      }
    }
    corq_stream_reader_close(r);
  }

  void sync() {
    const int rc = corq_sync(engine_, -1);
    say("sync -> " + std::to_string(rc));
    expect_ok_or_dead(rc, "sync");
    if (rc != CORQ_OK) return;
    for (auto &[p, part] : records_) {
      for (auto &[offset, a] : part) {
        a.confirmed = true;
        if (a.settled) a.settled_durable = true;
      }
    }
  }

  void step() {
    const std::uint64_t pick = rng_.below(100);
    if (pick < 25) return append_one(false);
    if (pick < 35) return append_one(true);
    if (pick < 45) return append_batch();
    if (pick < 60) return consume();
    if (pick < 82) return settle();
    if (pick < 88) return read();
    return sync();
  }

  wal::SimCrashMode crash_mode() {
    return modes_.reorder && rng_.one_in(2) ? wal::SimCrashMode::reorder
                                            : wal::SimCrashMode::torn_tail;
  }

  void run_epoch(std::uint64_t epoch) {
    const std::uint64_t ops = epoch_ops_min + rng_.below(epoch_ops_spread);
    for (std::uint64_t i = 0; i < ops; ++i) step();
    end_epoch(
        epoch, rng_, disk_, process_, faults_armed_, crash_wait_ops_max, [this] { step(); },
        [this] { sync(); }, [this] { return crash_mode(); },
        [this](const std::string &s) { say(s); });
  }

  // ---- recovery and the checks ----

  /// Reads partition `p` whole through a reader of `engine`: offset -> payload.
  std::map<std::uint64_t, std::string> read_back(corq_engine *engine, std::uint32_t p,
                                                 std::uint64_t &end) {
    corq_stream_reader *r = nullptr;
    must(corq_stream_reader_open(engine, "s", p, "earliest", &r), "reader_open (check)");
    std::map<std::uint64_t, std::string> out;
    std::vector<corq_stream_record> batch(128);
    std::uint64_t expected = 0;
    bool first = true;
    for (;;) {
      const int n = corq_stream_read(r, batch.data(), batch.size(), 0);
      if (n < 0) must(n, "read (check)");
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        const corq_stream_record &rec = batch[static_cast<std::size_t>(i)];
        if (!first && rec.offset != expected)
          throw Violation("streams: partition " + std::to_string(p) + " has a hole: " +
                          std::to_string(expected) + " then " + std::to_string(rec.offset));
        first = false;
        expected = rec.offset + 1;
        out.emplace(rec.offset, std::string(static_cast<const char *>(rec.data), rec.len));
      }
    }
    corq_stream_reader_close(r);
    corq_stream_stats s{};
    s.struct_size = sizeof s;
    must(corq_stream_stats_get(engine, "s", &s), "stream_stats (check)");
    end = out.empty() ? 0 : expected;
    return out;
  }

  void recover() {
    close_engine();
    disk_.clear_faults();
    faults_armed_ = false;
    std::unique_ptr<ProcessVfs> process;
    corq_engine *engine = nullptr;
    must(try_open(process, engine), "corq_open (recovery)");
    std::map<std::uint32_t, std::map<std::uint64_t, std::string>> found;
    for (std::uint32_t p = 0; p < partitions; ++p) {
      std::uint64_t end = 0;
      found[p] = read_back(engine, p, end);
      check_partition(p, found[p]);
    }
    const auto delivered = check_group(engine, found);
    corq_close(engine);  // (its own deliveries are released; nothing of them is logged)
    say("recovered: " + std::to_string(found[0].size()) + "/" + std::to_string(found[1].size()) +
        "/" + std::to_string(found[2].size()) + " records, " + std::to_string(delivered.size()) +
        " delivered to the group");
    // The model continues from what survived: lost appends are gone for good (their offsets may
    // be used again); a settle that was not known durable either survived (the record is not
    // delivered any more: now it is durably settled) or not (it is delivered again).
    for (std::uint32_t p = 0; p < partitions; ++p) {
      auto &part = records_[p];
      for (auto it = part.begin(); it != part.end();) {
        if (found[p].count(it->first) == 0 && !retained_gone(p, it->first, found[p])) {
          it = part.erase(it);
          continue;
        }
        Appended &a = it->second;
        a.confirmed = true;  // it was read back from the disk (re-flushed at open)
        if (found[p].count(it->first) != 0)
          a.settled = a.settled_durable = delivered.count({p, it->first}) == 0;
        ++it;
      }
    }
    open_engine();
  }

  /// True when `offset` is below what partition `p` retains (retention deleted it, not a crash).
  bool retained_gone(std::uint32_t p, std::uint64_t offset,
                     const std::map<std::uint64_t, std::string> &found) const {
    (void)p;
    return !found.empty() && offset < found.begin()->first;
  }

  void check_partition(std::uint32_t p, const std::map<std::uint64_t, std::string> &found) {
    const auto &part = records_[p];
    const std::uint64_t first = found.empty() ? 0 : found.begin()->first;
    const std::uint64_t end = found.empty() ? 0 : found.rbegin()->first + 1;
    std::map<std::uint64_t, std::pair<std::size_t, std::size_t>> batches;  // batch -> (seen, all)
    for (const auto &[offset, a] : part) {
      auto it = found.find(offset);
      if (it != found.end() && it->second != a.payload)
        throw Violation("streams: offset " + std::to_string(p) + ":" + std::to_string(offset) +
                        " changed after recovery: " + it->second.substr(0, it->second.find(':')) +
                        " instead of " + a.payload.substr(0, a.payload.find(':')));
      if (a.confirmed && it == found.end() && !(offset < first && !found.empty()) &&
          !(found.empty() && retention_ != 0 && offset < end)) {
        // Gone without retention explaining it. (An empty partition: retention may have deleted
        // everything only if it was emptied; with records_retention that never happens.)
        throw Violation("streams: the confirmed record " + std::to_string(p) + ":" +
                        std::to_string(offset) + " (" + a.payload.substr(0, a.payload.find(':')) +
                        ") is lost; partition reads back [" + std::to_string(first) + ", " +
                        std::to_string(end) + ")");
      }
      if (a.batch != 0 && offset >= first) {
        auto &[seen, all] = batches[a.batch];
        ++all;
        seen += it != found.end();
      }
    }
    for (const auto &[batch, counts] : batches) {
      if (counts.first != 0 && counts.first != counts.second)
        throw Violation("streams: a producer batch came back in part (" +
                        std::to_string(counts.first) + " of " + std::to_string(counts.second) +
                        " records)");
    }
  }

  /// One member takes everything it can (no acks): exactly the retained records not durably
  /// settled must come.
  std::set<std::pair<std::uint32_t, std::uint64_t>> check_group(
      corq_engine *engine,
      const std::map<std::uint32_t, std::map<std::uint64_t, std::string>> &found) {
    corq_consumer *m = open_member(engine, 100000);
    std::set<std::pair<std::uint32_t, std::uint64_t>> delivered;
    std::vector<corq_delivery> out(512);
    for (;;) {
      const int n = corq_consume(m, out.data(), out.size(), 0);
      if (n < 0) must(n, "consume (check)");
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        const corq_delivery &d = out[static_cast<std::size_t>(i)];
        std::uint32_t partition = 0;
        for (std::size_t h = 0; h < d.header_count; ++h) {
          if (std::string(d.headers[h].key) == "x-stream-partition")
            partition = static_cast<std::uint32_t>(std::stoul(std::string(
                static_cast<const char *>(d.headers[h].value), d.headers[h].value_len)));
        }
        delivered.insert({partition, d.message_id});
      }
    }
    char *json = nullptr;
    std::string group_state;
    if (corq_stats_json(engine, &json) == CORQ_OK) {
      const std::string text(json);
      corq_free(json);
      const std::size_t at = text.find("\"g\":{");
      if (at != std::string::npos) group_state = text.substr(at, text.find('}', at) - at + 1);
    }
    // The group's committed offsets: under sync=none a power loss may drop a stream's tail after
    // retention deleted older records to make room for it; recovery then keeps those older
    // records again, below offsets the group had already moved past (skipped, as deleted).
    std::vector<std::uint64_t> committed(partitions, 0);
    if (const std::size_t at = group_state.find("\"committed\":["); at != std::string::npos) {
      std::size_t pos = at + 13;
      for (std::uint32_t p = 0; p < partitions; ++p) {
        committed[p] = std::stoull(group_state.substr(pos));
        pos = group_state.find(',', pos) + 1;
      }
    }
    corq_consumer_close(m);
    for (const auto &[p, part] : records_) {
      const auto &there = found.at(p);
      for (const auto &[offset, a] : part) {
        const bool present = there.count(offset) != 0;
        const bool got = delivered.count({p, offset}) != 0;
        if (a.settled_durable && got)
          throw Violation(
              "streams: " + std::to_string(p) + ":" + std::to_string(offset) + " (" +
              a.payload.substr(0, a.payload.find(':')) +
              ") was durably settled and was delivered again after recovery; the "
              "partition holds " +
              std::to_string(there.size()) + " records from " +
              (there.empty() ? std::string("-") : std::to_string(there.begin()->first)));
        const bool maybe_skipped = sync_none_ && offset < committed[p];
        // Retention deletes in memory before the stream's log says so durably: a group that fell
        // behind skips the deleted records (Group::catch_up_locked, logged as settled), and a
        // crash before the deletion was durable brings them back — retained, skipped for good.
        // Any record once more than retention_records behind the partition's end may be one.
        const bool maybe_deleted =
            retention_ != 0 && !part.empty() && offset + retention_ <= part.rbegin()->first;
        if (present && !a.settled_durable && !a.settled && !got && a.confirmed && !maybe_skipped &&
            !maybe_deleted) {
          throw Violation("streams: " + std::to_string(p) + ":" + std::to_string(offset) +
                          " is retained and was never settled, but the group did not deliver it "
                          "after recovery (mode " +
                          group_mode_ + ", group " + group_state + ")");
        }
      }
    }
    return delivered;
  }

  const std::uint64_t seed_;
  const SimModes modes_;
  Random rng_;
  wal::SimVfs disk_;
  bool sync_none_ = false;
  std::string group_mode_;
  bool keyed_ = true;
  std::uint64_t retention_ = 0;
  std::unique_ptr<ProcessVfs> process_;
  corq_engine *engine_ = nullptr;
  corq_consumer *member_ = nullptr;
  corq_stream_producer *producer_ = nullptr;
  std::vector<Delivery> held_;
  std::map<std::uint32_t, std::map<std::uint64_t, Appended>> records_;
  std::uint64_t next_ = 1;
  std::uint64_t batches_ = 0;
  bool faults_armed_ = false;
};

}  // namespace

std::string run_stream_seed(std::uint64_t seed, const SimModes &modes) {
  try {
    StreamSeed(seed, modes).run();
  } catch (const Violation &v) {
    return v.what();
  }
  return {};
}

}  // namespace corq::sim
