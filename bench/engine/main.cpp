// bench/engine/main.cpp — corq_engine_bench: the queue engine through its C API against moodycamel
// ConcurrentQueue, in one binary and one run.
//
//   corq_engine_bench [--quick] [any --benchmark_* flag]
//   corq_engine_bench --memory-probe corq|moodycamel MESSAGES     (internal: see engine_memory.cpp)
//
// Scenarios (benchmark names `<scenario>/<peer>`; what each reports):
//   memory_ready/{corq,moodycamel}    RSS growth per ready 64-byte message, child process: B/msg
//   single/{corq_send,corq_publish,moodycamel}    1 producer -> 1 consumer, 1 per call: msgs/s
//   batch64/{corq,moodycamel}         the same with 64 messages per call: msgs/s
//   latency/{corq,moodycamel}         publish -> deliver at 10% of the best single rate: p50/p99
//   latency/ring                      bare SpscRing ping-pong, the latency target's baseline:
//                                     one-way p50/p99 (half the round trip's)
// Memory runs first; then `repetitions` rounds of every throughput benchmark (corq and moodycamel
// taking turns), then the latency rounds (corq, moodycamel, the ring ping-pong), which take their
// rate from the single runs before them.
// `--quick` runs each once with a fraction of the messages (a smoke test; numbers not meaningful).
// tools/bench.sh (suite `engine`) runs this; perf/report_engine.py makes the table from its JSON.
#include "engine_harness.hpp"

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace corq::bench {

namespace engine {

EngineScale engine_full_scale() {
  return EngineScale{.single_messages = 2'000'000,
                     .batch_messages = 8'000'000,
                     .warmup_messages = std::uint64_t{1} << 20,  // one lap of the 1M ready ring
                     .memory_messages = 1'000'000,
                     .latency_messages = 200'000,
                     .latency_warmup_messages = 10'000,
                     .latency_rate_fraction = 0.10,
                     .ping_pong_round_trips = 200'000,
                     .ping_pong_warmup_round_trips = 10'000,
                     .repetitions = 5,
                     .quick = false};
}

EngineScale engine_quick_scale() {
  return EngineScale{.single_messages = 100'000,
                     .batch_messages = 400'000,
                     .warmup_messages = 65'536,
                     .memory_messages = 100'000,
                     .latency_messages = 10'000,
                     .latency_warmup_messages = 1'000,
                     .latency_rate_fraction = 0.10,
                     .ping_pong_round_trips = 10'000,
                     .ping_pong_warmup_round_trips = 1'000,
                     .repetitions = 1,
                     .quick = true};
}

std::string corq_failure(const char *what, int code) {
  return std::string(what) + ": " + corq_strerror(code) + " (" + corq_last_error() + ")";
}

BenchEngine::BenchEngine() {
  if (const int rc = corq_open(nullptr, nullptr, &engine_); rc != CORQ_OK) {
    throw std::runtime_error(corq_failure("corq_open", rc));
  }
  if (const int rc = corq_queue_declare(engine_, queue_name, nullptr); rc != CORQ_OK) {
    const std::string failure = corq_failure("corq_queue_declare", rc);
    corq_close(engine_);
    throw std::runtime_error(failure);
  }
}

BenchEngine::~BenchEngine() { corq_close(engine_); }

void BenchEngine::warm_up(std::uint64_t messages) {
  corq_producer *producer = nullptr;
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_producer_open(engine_, queue_name, &producer); rc != CORQ_OK) {
    throw std::runtime_error(corq_failure("warm-up corq_producer_open", rc));
  }
  if (const int rc = corq_consumer_open(engine_, queue_name, prefetch, &consumer); rc != CORQ_OK) {
    corq_producer_close(producer);
    throw std::runtime_error(corq_failure("warm-up corq_consumer_open", rc));
  }
  const std::uint64_t value = 0;
  corq_message batch[batch_messages];
  std::fill(std::begin(batch), std::end(batch),
            corq_message{&value, sizeof(value), nullptr, 0, nullptr});
  corq_delivery deliveries[batch_messages];
  std::string failure;
  for (std::uint64_t done = 0; done < messages && failure.empty(); done += batch_messages) {
    int rc = corq_producer_send(producer, batch, batch_messages, nullptr, nullptr);
    if (rc != CORQ_OK) failure = corq_failure("warm-up corq_producer_send", rc);
    for (std::size_t taken = 0; failure.empty() && taken < batch_messages;) {
      rc = corq_consume(consumer, deliveries, batch_messages - taken, consume_timeout_ms);
      if (rc <= 0) {
        failure = corq_failure("warm-up corq_consume", rc);
        break;
      }
      taken += static_cast<std::size_t>(rc);
      rc = corq_ack_upto(consumer, deliveries[rc - 1].tag);
      if (rc != CORQ_OK) failure = corq_failure("warm-up corq_ack_upto", rc);
    }
  }
  corq_consumer_close(consumer);
  corq_producer_close(producer);
  if (!failure.empty()) throw std::runtime_error(failure);
}

void RateBoard::record(const std::string &scenario, double messages_per_s) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(rates_.begin(), rates_.end(),
                         [&](const auto &e) { return e.first == scenario; });
  if (it == rates_.end()) it = rates_.insert(rates_.end(), {scenario, {}});
  it->second.push_back(messages_per_s);
}

double RateBoard::best_median() const {
  std::lock_guard lock(mutex_);
  double best = 0;
  for (auto [scenario, rates] : rates_) {  // a copy: sorted below
    std::sort(rates.begin(), rates.end());
    const std::size_t n = rates.size();
    const double median = n % 2 == 1 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
    best = std::max(best, median);
  }
  return best;
}

std::uint64_t preemptions_of_this_thread() noexcept {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_nivcsw);
}

RateBoard &single_rate_board() {
  static RateBoard board;
  return board;
}

}  // namespace engine
}  // namespace corq::bench

int main(int argc, char **argv) {
  using namespace corq::bench::engine;
  if (argc == 4 && std::strcmp(argv[1], "--memory-probe") == 0) {
    return run_memory_probe(argv[2], std::strtoull(argv[3], nullptr, 10));
  }
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags it understands
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "corq_engine_bench: unknown argument '%s' (--quick | --benchmark_*)\n",
                   argv[i]);
      return 2;
    }
  }
  const EngineScale scale = quick ? engine_quick_scale() : engine_full_scale();
  (void)corq::bench::allowed_cpus();  // before any thread pins itself
  (void)corq::bench::ns_per_tick();   // calibrate the ping-pong's tick clock outside every run

  benchmark::AddCustomContext("corq_scale", quick ? "quick" : "full");
  benchmark::AddCustomContext("corq_version", corq_version_string());
  benchmark::AddCustomContext("corq_prefetch", std::to_string(prefetch));
  benchmark::AddCustomContext("corq_single_messages", std::to_string(scale.single_messages));
  benchmark::AddCustomContext("corq_batch_messages", std::to_string(scale.batch_messages));
  benchmark::AddCustomContext("corq_warmup_messages", std::to_string(scale.warmup_messages));
  benchmark::AddCustomContext("corq_memory_messages", std::to_string(scale.memory_messages));
  benchmark::AddCustomContext("corq_latency_messages", std::to_string(scale.latency_messages));
  benchmark::AddCustomContext("corq_latency_rate_fraction",
                              std::to_string(scale.latency_rate_fraction));
  benchmark::AddCustomContext("corq_ping_pong_round_trips",
                              std::to_string(scale.ping_pong_round_trips));
  benchmark::AddCustomContext("corq_allowed_cpus",
                              std::to_string(corq::bench::allowed_cpus().size()));

  register_engine_memory(scale);
  for (int round = 0; round < scale.repetitions; ++round) register_engine_throughput_round(scale);
  for (int round = 0; round < scale.repetitions; ++round) register_engine_latency_round(scale);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
