// bench/log/log_throughput.cpp — how many durable bytes per second the log takes from two
// appenders that do not wait for each record: the log under the durable-publish scenario
// (2 producers, NOWAIT sends, a flush every 4096), without the engine around it.
//
//   throughput_64B/<backend>    each of 2 threads appends `small_records_per_thread` single-record
//   throughput_1KiB/<backend>   batches of 64 B (1 KiB) payload, calling wait_durable on its last
//   LSN
//                               after every 4096th record and at the end
//
// Reported per repetition: payload MB/s (record payload bytes only: no record or frame headers, no
// padding), records/s, the ratio of payload bytes/s to the raw 1 MiB write+flush bandwidth measured
// right around the run (`bandwidth_ratio` over `raw_MB_per_s`: `paired_bandwidth_bytes` of raw
// writes just before and just after it, in the same directory; the durable engine's targets are ≥
// 0.12× for 64 B and ≥ 0.5× for 1 KiB, and the log alone is the upper bound of what the engine can
// reach), and the bytes the process sent to storage per record (/proc/self/io: the 4 KiB frame
// padding and the segment headers show up there). The time runs from the start gate to the last
// appender's final wait_durable returning: every counted record is durable.
//
// The appenders are not pinned: with the log's writer thread they are three threads on the
// machine's cores, as in an embedding process. Each repetition opens the back end's log, runs,
// releases every segment before the one being written (once both appenders are done: release_before
// must not run while the writer may be rolling a segment — see the report) and closes it.
#include "log_harness.hpp"

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::wal_bench {
namespace {

/// One appender: `records` single-record batches, a wait every records_per_wait and at the end.
std::string append_stream(wal::Log &log, std::size_t record_bytes, std::uint64_t records) {
  std::vector<std::byte> payload(record_bytes, std::byte{0xa5});
  const wal::Record record{1, payload};
  wal::Lsn last = 0;
  for (std::uint64_t i = 1; i <= records; ++i) {
    if (const int rc = log.append({&record, 1}, last); rc != 0) {
      return std::string("append: ") + std::strerror(-rc);
    }
    if (i % records_per_wait == 0 || i == records) {
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(durable_wait_limit_s);
      if (const int rc = log.wait_durable(last, deadline); rc != 0) {
        return std::string("wait_durable: ") + std::strerror(-rc);
      }
    }
  }
  return {};
}

/// Runs the appenders behind a start gate; returns an empty string or the first failure.
std::string measure(wal::Log &log, std::size_t record_bytes, std::uint64_t records_per_thread,
                    double &seconds) {
  StartGate gate(throughput_appenders);
  FinishLine finish;
  std::vector<std::string> errors(throughput_appenders);
  std::vector<std::thread> appenders;
  for (unsigned t = 0; t < throughput_appenders; ++t) {
    appenders.emplace_back([&, t] {
      gate.arrive_and_wait();
      errors[t] = append_stream(log, record_bytes, records_per_thread);
      finish.record();
    });
  }
  const auto start = gate.open();
  for (std::thread &appender : appenders) appender.join();
  seconds = finish.seconds_since(start);
  for (const std::string &error : errors) {
    if (!error.empty()) return error;
  }
  return {};
}

void run(benchmark::State &state, std::size_t record_bytes, std::uint64_t records_per_thread,
         std::uint64_t paired_bandwidth_bytes, int round, const Backend &backend) {
  if (skipped_as_unavailable(state, backend.unavailable)) return;
  std::unique_ptr<wal::Log> log;
  std::string error = open_log(backend, log);
  double seconds = 0, raw_before_s = 0, raw_after_s = 0;
  std::uint64_t written_bytes = 0;
  for (auto _ : state) {
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_before_s);
    const std::uint64_t written_before = process_write_bytes();
    if (error.empty()) error = measure(*log, record_bytes, records_per_thread, seconds);
    written_bytes = process_write_bytes() - written_before;
    if (error.empty()) error = raw_large_writes(paired_bandwidth_bytes, raw_after_s);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  if (log != nullptr) {
    log->release_before(log->durable_lsn() + 1);  // both appenders are done: the writer is idle
    state.counters["direct_io"] = log->direct_io() ? 1 : 0;
    state.SetLabel(std::string(log->backend_name()) + (log->direct_io() ? ", O_DIRECT" : ""));
    log->close();
  }
  if (!error.empty()) return;
  const double records = static_cast<double>(records_per_thread * throughput_appenders);
  const double payload_bytes_per_s = records * static_cast<double>(record_bytes) / seconds;
  state.counters["MB_per_s"] = payload_bytes_per_s / 1e6;
  state.counters["records_per_s"] = records / seconds;
  state.counters["written_bytes_per_record"] = static_cast<double>(written_bytes) / records;
  // The device's bandwidth around this run: the 1 MiB writes just before and just after it.
  const double raw_bytes_per_s =
      static_cast<double>(2 * (paired_bandwidth_bytes >> 20 << 20)) / (raw_before_s + raw_after_s);
  state.counters["raw_MB_per_s"] = raw_bytes_per_s / 1e6;
  state.counters["bandwidth_ratio"] = payload_bytes_per_s / raw_bytes_per_s;
  state.counters["round"] = round;
}

}  // namespace

void register_log_throughput_round(const LogScale &scale, int round, const Backend &backend,
                                   std::size_t record_bytes) {
  const bool small = record_bytes == small_record_bytes;
  const std::uint64_t records =
      small ? scale.small_records_per_thread : scale.large_records_per_thread;
  const std::uint64_t paired_bytes = scale.paired_bandwidth_bytes;
  const std::string name =
      std::string(small ? "throughput_64B/" : "throughput_1KiB/") + backend.name;
  configure_log_run(benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &state) {
    run(state, record_bytes, records, paired_bytes, round, backend);
  }));
}

}  // namespace corq::bench::wal_bench
