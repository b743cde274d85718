// bench/log/durable_footprint.cpp — what a nearly empty durable engine takes on disk:
//
//   footprint_fresh/<backend>  a fresh directory; one durable queue; `footprint_msgs` 64 B messages
//       published (one producer, NOWAIT sends, one corq_producer_flush at the end) and left ready;
//       corq_sync. `disk_open_MiB`: what the directory takes on disk then (du: allocated blocks, so
//       a preallocated segment counts whole); `disk_MiB`: the same after corq_close (target: one
//       segment + 1 MiB). `wal_files` and `spare_files` count the files.
//
// The measured time of a repetition is the publishing; the directory is removed afterwards.
#include "durable_harness.hpp"

#include <chrono>
#include <filesystem>
#include <string>

namespace corq::bench::durable_bench {
namespace {

constexpr const char *queue_name = "footprint";
/// The "1,000 small messages" in a fresh directory.
constexpr std::uint64_t footprint_msgs = 1000;

/// Publishes footprint_msgs 64 B messages on one producer and waits until they are durable.
std::string publish_few(corq_engine *engine) {
  if (std::string error = produce(engine, queue_name, small_msg_bytes, footprint_msgs);
      !error.empty()) {
    return error;
  }
  const int rc = corq_sync(engine, wait_limit_ms);
  return rc == CORQ_OK ? std::string() : corq_failure("corq_sync", rc);
}

/// Files of `dir` whose name starts with "spare-" (preallocated segments not in use yet).
std::uint64_t count_spares(const std::string &dir) {
  std::uint64_t count = 0;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    count += entry.path().filename().string().rfind("spare-", 0) == 0;
  }
  return count;
}

void run(benchmark::State &state, int round, const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  const std::string dir = bench_dir() + "/footprint-" + backend.name + "-r" + std::to_string(round);
  std::string error;
  std::uint64_t disk_open = 0, disk_closed = 0, wal_files = 0, spare_files = 0;
  LogInfo info;
  for (auto _ : state) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    corq_engine *engine = nullptr;
    error = open_engine(dir, backend, engine);
    if (error.empty()) error = declare_queue(engine, queue_name, false);
    const auto start = std::chrono::steady_clock::now();
    if (error.empty()) error = publish_few(engine);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (engine != nullptr) {
      info = log_info(engine);
      disk_open = disk_bytes(dir);
      corq_close(engine);
    }
    disk_closed = disk_bytes(dir);
    wal_files = count_wal_files(dir);
    spare_files = count_spares(dir);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!error.empty()) return;
  label_from(state, info);
  state.counters["msgs"] = static_cast<double>(footprint_msgs);
  state.counters["disk_open_MiB"] = static_cast<double>(disk_open) / (1 << 20);
  state.counters["disk_MiB"] = static_cast<double>(disk_closed) / (1 << 20);
  state.counters["wal_files"] = static_cast<double>(wal_files);
  state.counters["spare_files"] = static_cast<double>(spare_files);
  state.counters["round"] = round;
}

}  // namespace

void register_footprint_round(int round, const Backend &backend) {
  configure_log_run(
      benchmark::RegisterBenchmark((std::string("footprint_fresh/") + backend.name).c_str(),
                                   [=](benchmark::State &state) { run(state, round, backend); }));
}

}  // namespace corq::bench::durable_bench
