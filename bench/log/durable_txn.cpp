// bench/log/durable_txn.cpp — durable consume-transform-produce in transactions against the same
// work without one, in the same run and on the same engine (issue #18: "≥ 0.8× the
// non-transactional throughput at batch sizes of 1 and 100 ... from 2 threads; the same with stream
// input and group-consumer acks"; DESIGN.md §8):
//
//   txn_queue_to_queue_b<B>/<sync>    input: a durable queue; 2 workers, each its own consumer
//   txn_group_to_queue_b<B>/<sync>    input: a durable stream of 2 partitions read by a consumer
//                                     group (ordered, 2 members: one partition each); output: a
//                                     durable queue
//   txn_group_to_stream_b<B>/<sync>   the same input; output: appended to a durable stream of one
//                                     partition (Kafka's topic-to-topic shape)
//
// B, the batch, is 1 or 100; <sync> is the engine's `sync` option, `always` (the default: every
// call below that waits returns once its writes are durable) or `none` (with a queue output
// nosync_iterations_factor times the loops: nothing waits for a flush there). Each of the 2
// worker threads loops: take B deliveries (corq_consume, prefetch txn_prefetch), then settle them:
//
//   txn     corq_txn_begin; per delivery corq_txn_publish of its payload to the output queue (or
//           corq_txn_append to the output stream) and corq_txn_ack; corq_txn_commit.
//   plain   B = 1: corq_publish (corq_stream_append), then corq_ack — the issue's "same three
//           calls" without a transaction. B = 100: one corq_producer_send
//           (corq_stream_producer_send) of the 100 outputs, then corq_ack_upto of the last tag.
//
// Why the plain batch uses batch calls: both loops move on only once the outputs are durable and
// then settle the inputs (the plain loop is at-least-once, the transaction exactly-once). Written
// as 100 corq_publish calls, the plain loop would wait for 100 group commits per batch — a loop no
// one tuning for throughput writes, and a ratio that flatters transactions by about the batch size.
// One batch send waits once, as one commit does, so the ratio shows what the transaction itself
// costs. (corq_ack does not wait for durability; the commit makes its acks durable in the same log
// batch as its publishes, so neither side waits for acks separately.)
//
// Why two outputs: the target is for publishing to "another" queue, with a queue or a
// group as the input (the first two scenarios). Appending to a durable stream is the shape Kafka
// users know, and it costs a transaction more by design — its records go through the engine log
// first and then to the stream's log, with a flush of each in turn (DESIGN §8, engine/README
// "Why stream records are written twice") — so it is measured on its own, not mixed into the
// queue scenarios.
//
// Pairing: the disk of a shared VM changes speed several-fold within a minute, so plain and txn
// run in alternating phases on the same engine, queues and consumers: `chunks` pairs of phases per
// round (plain first in even chunks, txn first in odd ones), each phase `iterations` loops per
// worker, behind one barrier. msgs/s of a mode = inputs it settled / the sum of its phases' times
// (first worker start to last worker end); `ratio` = the median over the round's chunks of txn
// msgs/s ÷ plain msgs/s within the chunk (robust to a stall of the shared disk hitting a phase),
// `time_ratio` = the round's txn msgs/s ÷ plain msgs/s (every stall counted).
// Latency, per loop: from the last delivery taken to the settle's end (txn: begin to commit's
// return; plain: the send and the ack) as txn_p50_us..., plain_p50_us..., and their ratios; the
// commit call alone as commit_p50_us.... Per message and mode: the process's CPU time
// (getrusage: workers and the engine's threads) and the bytes it wrote (/proc/self/io).
//
// Inputs are published before the timed part (the queue: NOWAIT sends and a flush; the stream:
// NOWAIT batches of 64 and corq_sync), the consumers and group members open before it (the members
// before the stream has records, so each holds one partition from the start). After the round the
// counts are checked: every input acked once, every output published once, every transaction
// committed. Each sync mode has its own engine directory, reused across rounds; each benchmark
// declares fresh queues and streams and deletes them at the end.
#include "durable_harness.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

/// Worker threads (the "2 threads"): distinct consumers of one queue, or two members of
/// one group.
constexpr unsigned txn_workers = 2;
/// Each consumer's and member's prefetch window: room for a batch of 100 and the next one.
constexpr std::uint32_t txn_prefetch = 256;
/// Input stream partitions: one per member, so neither member waits for the other's records.
constexpr unsigned input_partitions = txn_workers;
/// Records per corq_stream_producer_send when the input stream is filled.
constexpr std::size_t fill_batch = 64;
/// A consume waits this long for a delivery before it checks the no-progress limit.
constexpr std::int32_t consume_wait_ms = 100;
/// Leases far longer than a round: a delivery waiting in a prefetch window must not expire.
constexpr const char *input_lease_ms = "600000";
/// sync=none does no durability wait: this many times the loops of sync=always give phases of a
/// comparable length. Not for a stream output: a transaction appending to a durable stream flushes
/// the engine log under sync=none too (DESIGN §8), so its loops take as long as under always.
constexpr std::uint64_t nosync_iterations_factor = 4;

enum class Input { queue, group };
enum class Output { queue, stream };
enum Mode : std::size_t { plain = 0, txn = 1, modes = 2 };

struct Scenario {
  const char *name;  // the benchmark's first part, after "txn_"
  Input input;
  Output output;
};
constexpr std::array<Scenario, 3> scenarios = {{{"queue_to_queue", Input::queue, Output::queue},
                                                {"group_to_queue", Input::group, Output::queue},
                                                {"group_to_stream", Input::group, Output::stream}}};
constexpr std::array<std::size_t, 2> batches = {1, 100};
constexpr std::array<const char *, 2> sync_modes = {"always", "none"};

/// One benchmark: what it runs and how much.
struct TxnCase {
  Scenario scenario;
  std::size_t batch;
  const char *sync;
  std::uint64_t chunks;      // pairs of phases (plain, txn)
  std::uint64_t iterations;  // loops per worker and phase
  int round;
  Backend backend;
};

/// The names one benchmark declares (fresh per benchmark; queue and stream names share a space).
struct Names {
  std::string input, output, group;
};

/// What a worker thread owns; used by one thread at a time (set up by the main thread, then its
/// worker's).
struct Worker {
  corq_consumer *consumer = nullptr;
  corq_producer *producer = nullptr;                // plain batches to the output queue
  corq_stream_producer *stream_producer = nullptr;  // plain batches to the output stream
  std::vector<corq_delivery> deliveries;            // the batch taken
  std::vector<corq_message> outputs;                // the batch's outputs (views of the inputs)
  std::array<std::vector<std::uint64_t>, modes> settle_ns;
  std::vector<std::uint64_t> commit_ns;
  std::string error;
};

/// Everything the workers share in one benchmark.
struct Run {
  const TxnCase &c;
  corq_engine *engine;
  const Names &names;
  corq_publish_options wait_options;  // flags 0: sync=always waits for durability
};

std::uint64_t ns_since(std::chrono::steady_clock::time_point start) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
}

/// Fills w.deliveries[0..batch) from its consumer. "" or the failure.
std::string take_batch(Worker &w, std::size_t batch) {
  std::size_t have = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (have < batch) {
    const int n =
        corq_consume(w.consumer, w.deliveries.data() + have, batch - have, consume_wait_ms);
    if (n < 0) return corq_failure("corq_consume", n);
    if (n > 0) {
      have += static_cast<std::size_t>(n);
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress >
               std::chrono::milliseconds(wait_limit_ms)) {
      return "no delivery for " + std::to_string(wait_limit_ms / 1000) + " s";
    }
  }
  for (std::size_t i = 0; i < batch; ++i) {
    w.outputs[i] = corq_message{w.deliveries[i].data, w.deliveries[i].len, nullptr, 0, nullptr};
  }
  return {};
}

/// The plain settle: send the outputs (waiting for durability under sync=always), then ack.
std::string settle_plain(const Run &run, Worker &w, std::size_t n) {
  const bool to_queue = run.c.scenario.output == Output::queue;
  const char *out = run.names.output.c_str();
  int rc = CORQ_OK;
  if (n == 1) {
    rc = to_queue ? corq_publish(run.engine, out, w.outputs.data(), &run.wait_options, nullptr)
                  : corq_stream_append(run.engine, out, nullptr, 0, w.outputs.data(),
                                       &run.wait_options, nullptr, nullptr);
  } else {
    rc = to_queue ? corq_producer_send(w.producer, w.outputs.data(), n, &run.wait_options, nullptr)
                  : corq_stream_producer_send(w.stream_producer, nullptr, 0, w.outputs.data(), n,
                                              &run.wait_options, nullptr, nullptr);
  }
  if (rc != CORQ_OK) return corq_failure(to_queue ? "plain publish" : "plain append", rc);
  rc = n == 1 ? corq_ack(w.consumer, w.deliveries[0].tag)
              : corq_ack_upto(w.consumer, w.deliveries[n - 1].tag);
  return rc == CORQ_OK ? std::string() : corq_failure("plain ack", rc);
}

/// The transactional settle: one transaction of n outputs and n acks. Records the commit's time.
std::string settle_in_txn(const Run &run, Worker &w, std::size_t n) {
  const bool to_queue = run.c.scenario.output == Output::queue;
  const char *out = run.names.output.c_str();
  corq_txn *txn = nullptr;
  if (const int rc = corq_txn_begin(run.engine, &txn); rc != CORQ_OK) {
    return corq_failure("corq_txn_begin", rc);
  }
  for (std::size_t i = 0; i < n; ++i) {
    int rc = to_queue ? corq_txn_publish(txn, "", out, &w.outputs[i], nullptr)
                      : corq_txn_append(txn, out, nullptr, 0, &w.outputs[i], nullptr);
    if (rc == CORQ_OK) rc = corq_txn_ack(txn, w.consumer, w.deliveries[i].tag);
    if (rc != CORQ_OK) {
      corq_txn_abort(txn);
      return corq_failure(to_queue ? "corq_txn_publish/ack" : "corq_txn_append/ack", rc);
    }
  }
  const auto commit_start = std::chrono::steady_clock::now();
  const int rc = corq_txn_commit(txn, wait_limit_ms);  // frees txn whatever it returns
  w.commit_ns.push_back(ns_since(commit_start));
  return rc == CORQ_OK ? std::string() : corq_failure("corq_txn_commit", rc);
}

/// One worker's phase: `iterations` loops of take + settle in `mode`.
std::string run_phase(const Run &run, Worker &w, Mode mode) {
  const std::size_t batch = run.c.batch;
  for (std::uint64_t i = 0; i < run.c.iterations; ++i) {
    if (std::string error = take_batch(w, batch); !error.empty()) return error;
    const auto start = std::chrono::steady_clock::now();
    std::string error = mode == txn ? settle_in_txn(run, w, batch) : settle_plain(run, w, batch);
    w.settle_ns[mode].push_back(ns_since(start));
    if (!error.empty()) return error;
  }
  return {};
}

// ---- setting up and checking -------------------------------------------------------------------

/// Inputs the round settles, and the spare ones that keep a worker from running dry while the
/// other's prefetch window holds deliveries it will not take.
std::uint64_t inputs_needed(const TxnCase &c) {
  return modes * c.chunks * txn_workers * c.iterations * c.batch;
}
std::uint64_t inputs_to_fill(const TxnCase &c) {
  const std::uint64_t unit = fill_batch * input_partitions;  // equal records per partition
  const std::uint64_t want = inputs_needed(c) + txn_workers * txn_prefetch;
  return (want + unit - 1) / unit * unit;
}

std::string declare_stream(corq_engine *engine, const std::string &stream, unsigned partitions) {
  corq_config *config =
      make_config({{"partitions", std::to_string(partitions)}, {"retention_records", "0"}});
  if (config == nullptr) return "corq_config: out of memory or unknown key";
  const int rc = corq_stream_declare(engine, stream.c_str(), config);
  corq_config_free(config);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_stream_declare(" + stream + ")", rc);
}

std::string declare_input_queue(corq_engine *engine, const std::string &queue) {
  corq_config *config = make_config({{"durable", "true"},
                                     {"dead_letter_queue", ""},
                                     {"max_length", "268435456"},
                                     {"max_bytes", "64GiB"},
                                     {"lease_ms", input_lease_ms}});
  if (config == nullptr) return "corq_config: out of memory or unknown key";
  const int rc = corq_queue_declare(engine, queue.c_str(), config);
  corq_config_free(config);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_queue_declare(" + queue + ")", rc);
}

/// Declares the input and output of `c` and opens every worker's consumer and producer.
std::string set_up(const TxnCase &c, corq_engine *engine, const Names &names,
                   std::vector<Worker> &workers) {
  const bool group = c.scenario.input == Input::group;
  std::string error = group ? declare_stream(engine, names.input, input_partitions)
                            : declare_input_queue(engine, names.input);
  if (error.empty()) {
    error = c.scenario.output == Output::queue ? declare_queue(engine, names.output, true)
                                               : declare_stream(engine, names.output, 1);
  }
  corq_config *group_options = make_config({{"mode", "ordered"},
                                            {"prefetch", std::to_string(txn_prefetch)},
                                            {"lease_ms", input_lease_ms},
                                            {"dead_letter_queue", ""}});
  for (Worker &w : workers) {
    if (!error.empty()) break;
    w.deliveries.resize(c.batch);
    w.outputs.resize(c.batch);
    // Room for every sample up front: the timed loops do not allocate for their bookkeeping.
    for (std::vector<std::uint64_t> &samples : w.settle_ns)
      samples.reserve(c.chunks * c.iterations);
    w.commit_ns.reserve(c.chunks * c.iterations);
    const int rc = group
                       ? corq_group_consumer_open(engine, names.input.c_str(), names.group.c_str(),
                                                  group_options, &w.consumer)
                       : corq_consumer_open(engine, names.input.c_str(), txn_prefetch, &w.consumer);
    if (rc != CORQ_OK) error = corq_failure("consumer open", rc);
    if (error.empty() && c.scenario.output == Output::queue) {
      if (const int prc = corq_producer_open(engine, names.output.c_str(), &w.producer); prc != 0)
        error = corq_failure("corq_producer_open", prc);
    } else if (error.empty()) {
      if (const int prc =
              corq_stream_producer_open(engine, names.output.c_str(), &w.stream_producer);
          prc != 0)
        error = corq_failure("corq_stream_producer_open", prc);
    }
  }
  corq_config_free(group_options);
  return error;
}

/// Publishes the inputs (not timed): NOWAIT, then one wait until all are durable.
std::string fill_inputs(const TxnCase &c, corq_engine *engine, const Names &names) {
  const std::uint64_t total = inputs_to_fill(c);
  if (c.scenario.input == Input::queue) return produce(engine, names.input, small_msg_bytes, total);
  corq_stream_producer *producer = nullptr;
  if (const int rc = corq_stream_producer_open(engine, names.input.c_str(), &producer); rc != 0)
    return corq_failure("corq_stream_producer_open", rc);
  std::vector<unsigned char> payload(small_msg_bytes, 0xc3);
  const std::vector<corq_message> batch(
      fill_batch, corq_message{payload.data(), payload.size(), nullptr, 0, nullptr});
  corq_publish_options options{};
  options.struct_size = sizeof(options);
  options.flags = CORQ_PUBLISH_NOWAIT;
  options.timeout_ms = wait_limit_ms;
  std::string error;
  // No key: each batch goes to the next partition, so both get total / input_partitions records.
  for (std::uint64_t sent = 0; sent < total && error.empty(); sent += fill_batch) {
    if (const int rc = corq_stream_producer_send(producer, nullptr, 0, batch.data(), fill_batch,
                                                 &options, nullptr, nullptr);
        rc != CORQ_OK)
      error = corq_failure("corq_stream_producer_send", rc);
  }
  corq_stream_producer_close(producer);
  if (error.empty()) {
    if (const int rc = corq_sync(engine, wait_limit_ms); rc != CORQ_OK)
      error = corq_failure("corq_sync", rc);
  }
  return error;
}

/// The `"committed":N` of the stats' "transactions" object, or -1.
long long committed_transactions(corq_engine *engine) {
  char *json = nullptr;
  if (corq_stats_json(engine, &json) != CORQ_OK || json == nullptr) return -1;
  const std::string text(json);
  corq_free(json);
  const std::string needle = "\"transactions\":{\"committed\":";
  const std::size_t at = text.find(needle);
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + needle.size());
}

/// After the round: every input settled once, every output there once, every txn committed.
std::string check_counts(const TxnCase &c, corq_engine *engine, const Names &names) {
  const std::uint64_t settled = inputs_needed(c);
  std::uint64_t acked = 0, outputs = 0;
  if (c.scenario.input == Input::queue) {
    corq_queue_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_queue_stats_get(engine, names.input.c_str(), &stats); rc != 0)
      return corq_failure("corq_queue_stats_get(input)", rc);
    acked = stats.acked;
  } else {
    corq_group_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc =
            corq_group_stats_get(engine, names.input.c_str(), names.group.c_str(), &stats);
        rc != 0)
      return corq_failure("corq_group_stats_get", rc);
    acked = stats.acked;
  }
  if (c.scenario.output == Output::queue) {
    corq_queue_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_queue_stats_get(engine, names.output.c_str(), &stats); rc != 0)
      return corq_failure("corq_queue_stats_get(output)", rc);
    outputs = stats.published;
  } else {
    corq_stream_stats stats{};
    stats.struct_size = sizeof(stats);
    if (const int rc = corq_stream_stats_get(engine, names.output.c_str(), &stats); rc != 0)
      return corq_failure("corq_stream_stats_get(output)", rc);
    outputs = stats.appended;
  }
  const long long committed = committed_transactions(engine);
  const long long want_committed = static_cast<long long>(c.chunks * txn_workers * c.iterations);
  if (acked != settled || outputs != settled || committed != want_committed) {
    return "wrong counts after the round: acked " + std::to_string(acked) + ", outputs " +
           std::to_string(outputs) + " (settled " + std::to_string(settled) + "), committed " +
           std::to_string(committed) + " (want " + std::to_string(want_committed) + ")";
  }
  return {};
}

void tear_down(const TxnCase &c, corq_engine *engine, const Names &names,
               std::vector<Worker> &workers) {
  for (Worker &w : workers) {
    if (w.consumer != nullptr) corq_consumer_close(w.consumer);
    corq_producer_close(w.producer);
    if (w.stream_producer != nullptr) corq_stream_producer_close(w.stream_producer);
  }
  if (engine == nullptr) return;
  if (c.scenario.input == Input::group) {
    corq_group_delete(engine, names.input.c_str(), names.group.c_str());
    corq_stream_delete(engine, names.input.c_str());
  } else {
    corq_queue_delete(engine, names.input.c_str());
  }
  if (c.scenario.output == Output::stream) corq_stream_delete(engine, names.output.c_str());
}

// ---- the round ---------------------------------------------------------------------------------

/// Times, CPU time and bytes written per mode, summed over the round's phases; and each chunk's
/// phase times, for the ratio paired within a chunk.
struct Totals {
  std::array<double, modes> seconds{};
  std::array<double, modes> cpu_seconds{};  // the whole process: workers and the engine's threads
  std::array<std::uint64_t, modes> written_bytes{};
  std::vector<std::array<double, modes>> chunk_seconds;
};

/// The median over the chunks of txn msgs/s ÷ plain msgs/s within the chunk (the same inputs in
/// both phases: plain time ÷ txn time). A stall of the shared disk that hits one phase moves one
/// chunk's ratio, not the median; the whole round's ratio (time_ratio) takes every stall in.
double chunk_median_ratio(const Totals &totals) {
  std::vector<double> ratios;
  for (const std::array<double, modes> &chunk : totals.chunk_seconds) {
    ratios.push_back(chunk[plain] / chunk[txn]);
  }
  std::sort(ratios.begin(), ratios.end());
  const std::size_t n = ratios.size();
  if (n == 0) return 0;
  return n % 2 == 1 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
}

/// User + system CPU time of the whole process so far.
double process_cpu_seconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval &t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Runs the round's phases on the workers' threads. "" or the first failure.
std::string run_phases(const Run &run, std::vector<Worker> &workers, Totals &totals) {
  std::vector<Mode> phases;
  for (std::uint64_t chunk = 0; chunk < run.c.chunks; ++chunk) {
    const Mode first = chunk % 2 == 0 ? plain : txn;
    phases.push_back(first);
    phases.push_back(first == plain ? txn : plain);
  }
  // Every phase is two barrier completions (start, end); each stamps the time when the last
  // thread arrives, so a phase runs from all workers released to the last one finished.
  std::vector<std::chrono::steady_clock::time_point> stamps;
  stamps.reserve(2 * phases.size());
  std::barrier barrier(static_cast<std::ptrdiff_t>(txn_workers + 1), [&stamps]() noexcept {
    stamps.push_back(std::chrono::steady_clock::now());
  });
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (Worker &w : workers) {
    threads.emplace_back([&, worker = &w] {
      for (const Mode mode : phases) {
        barrier.arrive_and_wait();
        if (!failed.load(std::memory_order_relaxed)) {
          worker->error = run_phase(run, *worker, mode);
          if (!worker->error.empty()) failed.store(true, std::memory_order_relaxed);
        }
        barrier.arrive_and_wait();
      }
    });
  }
  totals.chunk_seconds.assign(run.c.chunks, {});
  for (std::size_t phase = 0; phase < phases.size(); ++phase) {
    const Mode mode = phases[phase];
    const std::uint64_t written_before = process_write_bytes();
    const double cpu_before = process_cpu_seconds();
    const std::size_t start = stamps.size();
    barrier.arrive_and_wait();
    barrier.arrive_and_wait();
    const double seconds = std::chrono::duration<double>(stamps[start + 1] - stamps[start]).count();
    totals.seconds[mode] += seconds;
    totals.chunk_seconds[phase / 2][mode] = seconds;
    totals.cpu_seconds[mode] += process_cpu_seconds() - cpu_before;
    totals.written_bytes[mode] += process_write_bytes() - written_before;
  }
  for (std::thread &thread : threads) thread.join();
  for (const Worker &w : workers) {
    if (!w.error.empty()) return w.error;
  }
  return {};
}

/// p50/p99/p99.9 (µs) of `samples` (sorted here) as <prefix>p50_us, <prefix>p99_us,
/// <prefix>p999_us.
void put_percentiles(benchmark::State &state, const std::string &prefix,
                     std::vector<std::uint64_t> &samples) {
  std::sort(samples.begin(), samples.end());
  state.counters[prefix + "p50_us"] = quantile_of_sorted(samples, 0.50) / 1e3;
  state.counters[prefix + "p99_us"] = quantile_of_sorted(samples, 0.99) / 1e3;
  state.counters[prefix + "p999_us"] = quantile_of_sorted(samples, 0.999) / 1e3;
}

void report(benchmark::State &state, const TxnCase &c, std::vector<Worker> &workers,
            const Totals &totals) {
  std::array<std::vector<std::uint64_t>, modes> settle;
  std::vector<std::uint64_t> commit;
  for (Worker &w : workers) {
    for (std::size_t m = 0; m < modes; ++m) {
      settle[m].insert(settle[m].end(), w.settle_ns[m].begin(), w.settle_ns[m].end());
    }
    commit.insert(commit.end(), w.commit_ns.begin(), w.commit_ns.end());
  }
  const double msgs = static_cast<double>(inputs_needed(c) / modes);  // per mode
  const double txn_rate = msgs / totals.seconds[txn];
  const double plain_rate = msgs / totals.seconds[plain];
  state.counters["txn_msgs_per_s"] = txn_rate;
  state.counters["plain_msgs_per_s"] = plain_rate;
  state.counters["txns_per_s"] = txn_rate / static_cast<double>(c.batch);
  state.counters["ratio"] = chunk_median_ratio(totals);
  state.counters["time_ratio"] = txn_rate / plain_rate;
  state.counters["txn_written_bytes_per_msg"] =
      static_cast<double>(totals.written_bytes[txn]) / msgs;
  state.counters["plain_written_bytes_per_msg"] =
      static_cast<double>(totals.written_bytes[plain]) / msgs;
  state.counters["txn_cpu_us_per_msg"] = totals.cpu_seconds[txn] * 1e6 / msgs;
  state.counters["plain_cpu_us_per_msg"] = totals.cpu_seconds[plain] * 1e6 / msgs;
  put_percentiles(state, "txn_", settle[txn]);
  put_percentiles(state, "plain_", settle[plain]);
  put_percentiles(state, "commit_", commit);
  for (const char *q : {"p50", "p99", "p999"}) {
    const std::string suffix = std::string(q) + "_us";
    state.counters[std::string(q) + "_ratio"] =
        state.counters["txn_" + suffix] / state.counters["plain_" + suffix];
  }
  state.counters["batch"] = static_cast<double>(c.batch);
  state.counters["chunks"] = static_cast<double>(c.chunks);
  state.counters["iterations"] = static_cast<double>(c.iterations);  // per worker and phase
  state.counters["sync_always"] = std::string(c.sync) == "always" ? 1 : 0;
  state.counters["samples"] = static_cast<double>(settle[txn].size());
  state.counters["round"] = c.round;
}

void run(benchmark::State &state, const TxnCase &c) {
  if (skipped_as_unavailable(state, c.backend.unavailable)) return;
  std::string id = std::string(c.scenario.name) + "-b" + std::to_string(c.batch) + "-r" +
                   std::to_string(c.round);
  std::replace(id.begin(), id.end(), '_', '-');  // names: [A-Za-z0-9._:-]
  const Names names{"txn-in-" + id, "txn-out-" + id, "txn-group"};
  corq_engine *engine = nullptr;
  std::string error = open_engine(bench_dir() + "/txn-" + c.sync, c.backend, engine, c.sync);
  std::vector<Worker> workers(txn_workers);
  if (error.empty()) error = set_up(c, engine, names, workers);
  if (error.empty()) error = fill_inputs(c, engine, names);
  Totals totals;
  for (auto _ : state) {
    const Run r{c, engine, names,
                corq_publish_options{sizeof(corq_publish_options), 0, wait_limit_ms, 0, 0, 0}};
    if (error.empty()) error = run_phases(r, workers, totals);
    if (error.empty()) error = check_counts(c, engine, names);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(totals.seconds[plain] + totals.seconds[txn]);
  }
  tear_down(c, engine, names, workers);
  // retire_engine labels, waits for the checkpointer and closes; the input is gone already.
  retire_engine(state, engine, names.input);
  if (!error.empty()) return;
  state.SetLabel(std::string(c.backend.name) + ", sync=" + c.sync);
  report(state, c, workers, totals);
}

}  // namespace

void register_txn_round(const DurableScale &scale, int round, const Backend &backend) {
  for (const char *sync : sync_modes) {
    for (const Scenario &scenario : scenarios) {
      const std::uint64_t factor = std::string(sync) == "none" && scenario.output == Output::queue
                                       ? nosync_iterations_factor
                                       : 1;
      for (const std::size_t batch : batches) {
        const TxnCase c{
            scenario,
            batch,
            sync,
            scale.txn_chunks,
            factor * (batch == 1 ? scale.txn_single_iterations : scale.txn_batch_iterations),
            round,
            backend};
        const std::string name =
            std::string("txn_") + scenario.name + "_b" + std::to_string(batch) + "/" + sync;
        configure_log_run(benchmark::RegisterBenchmark(
            name.c_str(), [c](benchmark::State &state) { run(state, c); }));
      }
    }
  }
}

}  // namespace corq::bench::durable_bench
