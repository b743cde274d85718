// bench/streams/stream_lag.cpp — what a dashboard polls: a consumer group's lag and offsets on a
// stream of 1,000 partitions (issue #17: read in <= 1 ms), next to the stream's own stats on the
// same stream in the same round.
//
// Scenarios (benchmark names `lag/<path>`):
//   group_stats_1000   corq_group_stats_get of a group (ordered, one member) whose partitions
//                      stand at different committed offsets (records appended round robin, some
//                      consumed and acked);
//   stream_stats_1000  baseline: corq_stream_stats_get on the same stream (every partition's
//                      offsets and bytes, no group state).
// Each run makes `lag_calls` calls; counters: the median and p99 of one call in microseconds.
#include "stream_harness.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace corq::bench::streams {
namespace {

constexpr std::uint32_t lag_partitions = 1000;
constexpr int lag_calls = 2000;

enum class LagPath { group, stream };

struct LagOutcome {
  std::vector<double> micros;
  std::string error;
};

LagOutcome run_lag_once(LagPath path) {
  LagOutcome run;
  BenchEngine engine;
  if (run.error = engine.open(); !run.error.empty()) return run;
  corq_config *options = corq_config_new();
  corq_config_set(options, "partitions", std::to_string(lag_partitions).c_str());
  int rc = corq_stream_declare(engine.get(), "lag", options);
  corq_config_free(options);
  if (rc != CORQ_OK) {
    run.error = corq_failure("corq_stream_declare", rc);
    return run;
  }
  Batch batch(1);
  for (std::uint32_t i = 0; i < lag_partitions * 10; ++i) {  // 10 records per partition
    batch.number(i);
    rc = corq_stream_append(engine.get(), "lag", nullptr, 0, batch.messages(), nullptr, nullptr,
                            nullptr);
    if (rc != CORQ_OK) {
      run.error = corq_failure("corq_stream_append", rc);
      return run;
    }
  }
  corq_consumer *member = nullptr;
  rc = corq_group_consumer_open(engine.get(), "lag", "dashboard", nullptr, &member);
  if (rc != CORQ_OK) {
    run.error = corq_failure("corq_group_consumer_open", rc);
    return run;
  }
  // Some of the records consumed and acked: committed offsets differ between partitions.
  std::vector<corq_delivery> deliveries(256);
  for (int i = 0; i < 10; ++i) {
    const int n = corq_consume(member, deliveries.data(), deliveries.size(), 0);
    if (n > 0) corq_ack_upto(member, deliveries[static_cast<std::size_t>(n - 1)].tag);
  }
  run.micros.reserve(lag_calls);
  for (int i = 0; i < lag_calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (path == LagPath::group) {
      corq_group_stats s{};
      s.struct_size = sizeof s;
      rc = corq_group_stats_get(engine.get(), "lag", "dashboard", &s);
    } else {
      corq_stream_stats s{};
      s.struct_size = sizeof s;
      rc = corq_stream_stats_get(engine.get(), "lag", &s);
    }
    const auto stop = std::chrono::steady_clock::now();
    if (rc != CORQ_OK) {
      run.error = corq_failure("stats", rc);
      break;
    }
    run.micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
  }
  corq_consumer_close(member);
  return run;
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[at];
}

void register_lag_path(const char *name, LagPath path) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      const LagOutcome run = run_lag_once(path);
      double total = 0;
      for (double us : run.micros) total += us;
      state.SetIterationTime(total > 0 ? total / 1e6 : 1e-9);
      if (!run.error.empty()) {
        state.SkipWithError(run.error.c_str());
        continue;
      }
      state.counters["p50_us"] = percentile(run.micros, 0.50);
      state.counters["p99_us"] = percentile(run.micros, 0.99);
      state.counters["calls"] = static_cast<double>(run.micros.size());
      state.counters["partitions"] = lag_partitions;
    }
  };
  configure_stream_run(benchmark::RegisterBenchmark(name, body));
}

}  // namespace

void register_lag_round() {
  register_lag_path("lag/group_stats_1000", LagPath::group);
  register_lag_path("lag/stream_stats_1000", LagPath::stream);
}

}  // namespace corq::bench::streams
