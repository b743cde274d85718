// bench/log/durable_stream_replay.cpp — replaying a durable stream from the device (issue #17:
// "replay from disk of a stream 4× larger than the bounded cache, really from the device (O_DIRECT
// reads, or the page cache dropped before the run): ≥ 0.5× the device's sequential read bandwidth,
// resident memory bounded (report both)"):
//
//   stream_replay_disk/psync   an engine with stream_cache_bytes = C (64 MiB; --quick: 1 MiB) and a
//       durable stream of one partition holding 4·C of 1 KiB records (appended before the clock
//       starts by a stream producer, NOWAIT batches of 64, one corq_sync). The engine is closed and
//       opened again (its recovery reads the log; the time is reported as `reopen_s`), the page
//       cache is dropped, and one thread opens a reader at "earliest" and reads every record
//       (corq_stream_read of up to 256, timeout 0), checking each (offsets consecutive from 0, the
//       payload's first 8 bytes its offset). Payload MB/s; `bandwidth_ratio` over the device's
//       sequential read bandwidth measured right before and right after the replay: a file of the
//       stream log's size written by the benchmark, read after dropping the page cache in 1 MiB
//       preads, both buffered and with O_DIRECT (the faster counts, so the baseline is the
//       stricter one). `device_read_MiB`: what the replay made the process read from the storage
//       layer (/proc/self/io read_bytes), proof that it came from the device; `rss_growth_MiB`:
//       the peak resident-set growth over the reader's start (sampled every 2 ms), next to the
//       cache bound `cache_MiB`.
//
// Dropping the page cache: sync(), then POSIX_FADV_DONTNEED on every file read (works for any
// user: the pages are clean), and, when the process may (root), writing 1 to
// /proc/sys/vm/drop_caches; `cache_dropped_globally` says whether that happened. The log's reads
// of evicted chunks are buffered preads on either back end (the io_uring back end writes through
// io_uring; reads of old records go through the psync reader), so the scenario runs once per round.
#include "durable_harness.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::durable_bench {
namespace {

constexpr std::size_t replay_record_bytes = 1024;
constexpr std::size_t replay_batch = 64;
constexpr std::size_t read_block_bytes = std::size_t{1} << 20;
constexpr std::size_t direct_alignment = 4096;
const char *const replay_stream = "replay";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// The resident set in bytes (/proc/self/statm), or 0.
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

/// Every regular file under `dir`.
std::vector<std::string> files_under(const std::string &dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path().string());
  }
  return files;
}

/// Drops the page cache of `paths` (and of everything, when allowed); `global` says whether
/// /proc/sys/vm/drop_caches was written.
void drop_page_cache(const std::vector<std::string> &paths, bool &global) {
  ::sync();
  for (const std::string &path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  global = fd >= 0 && ::write(fd, "1", 1) == 1;
  if (fd >= 0) ::close(fd);
}

/// Writes `bytes` (whole MiB) of non-zero data to `path`, then fdatasync.
std::string write_read_baseline_file(const std::string &path, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + path + ": " + std::strerror(errno);
  std::vector<unsigned char> block(read_block_bytes);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<unsigned char>(i * 131 + 7);
  std::string error;
  for (std::uint64_t done = 0; done < bytes && error.empty(); done += block.size()) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(done)) !=
        static_cast<ssize_t>(block.size()))
      error = "cannot write " + path + ": " + std::strerror(errno);
  }
  if (error.empty() && ::fdatasync(fd) != 0)
    error = "cannot fdatasync " + path + ": " + std::strerror(errno);
  ::close(fd);
  return error;
}

/// Reads `path` from the start in 1 MiB preads (O_DIRECT when `direct` and the file system takes
/// it) after dropping its page cache; sets the bytes per second. "" or the failure.
std::string read_sequentially(const std::string &path, bool direct, double &bytes_per_s) {
  bool global = false;
  drop_page_cache({path}, global);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
  if (fd < 0) {
    if (direct && errno == EINVAL) return read_sequentially(path, false, bytes_per_s);
    return "cannot open " + path + ": " + std::strerror(errno);
  }
  void *raw = std::aligned_alloc(direct_alignment, read_block_bytes);
  std::unique_ptr<void, decltype(&std::free)> buffer(raw, &std::free);
  std::uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.get(), read_block_bytes, static_cast<off_t>(total));
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return "cannot read " + path + ": " + std::strerror(err);
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
  }
  const double seconds = seconds_since(start);
  ::close(fd);
  bytes_per_s = static_cast<double>(total) / seconds;
  return {};
}

/// The device's sequential read bandwidth now: the better of buffered and O_DIRECT reads.
std::string device_read_bandwidth(const std::string &path, double &bytes_per_s) {
  double buffered = 0, direct = 0;
  if (std::string error = read_sequentially(path, false, buffered); !error.empty()) return error;
  if (std::string error = read_sequentially(path, true, direct); !error.empty()) return error;
  bytes_per_s = std::max(buffered, direct);
  return {};
}

std::string open_replay_engine(const std::string &dir, std::uint64_t cache_bytes,
                               corq_engine *&out) {
  out = nullptr;
  corq_config *options = corq_config_new();
  if (options == nullptr) return "corq_config_new: out of memory";
  corq_config_set(options, "sync", "always");
  corq_config_set(options, "stream_cache_bytes", std::to_string(cache_bytes).c_str());
  const int rc = corq_open(dir.c_str(), options, &out);
  corq_config_free(options);
  if (rc != CORQ_OK) {
    out = nullptr;
    return corq_failure("corq_open(" + dir + ")", rc);
  }
  return {};
}

/// Declares the stream and appends `records` records numbered by their offsets, then corq_sync.
std::string fill_stream(corq_engine *engine, std::uint64_t records) {
  corq_config *config = corq_config_new();
  corq_config_set(config, "partitions", "1");
  const int declared = corq_stream_declare(engine, replay_stream, config);
  corq_config_free(config);
  if (declared != CORQ_OK) return corq_failure("corq_stream_declare", declared);
  corq_stream_producer *producer = nullptr;
  if (const int rc = corq_stream_producer_open(engine, replay_stream, &producer); rc != CORQ_OK)
    return corq_failure("corq_stream_producer_open", rc);
  std::vector<unsigned char> payloads(replay_batch * replay_record_bytes, 0x5a);
  std::vector<corq_message> batch(replay_batch);
  for (std::size_t i = 0; i < replay_batch; ++i) {
    batch[i] = corq_message{payloads.data() + i * replay_record_bytes, replay_record_bytes, nullptr,
                            0, nullptr};
  }
  corq_publish_options options{};
  options.struct_size = sizeof(options);
  options.flags = CORQ_PUBLISH_NOWAIT;
  options.timeout_ms = wait_limit_ms;
  std::string error;
  for (std::uint64_t sent = 0; sent < records && error.empty();) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(replay_batch, records - sent));
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t seq = sent + i;
      std::memcpy(payloads.data() + i * replay_record_bytes, &seq, sizeof seq);
    }
    if (const int rc = corq_stream_producer_send(producer, nullptr, 0, batch.data(), n, &options,
                                                 nullptr, nullptr);
        rc != CORQ_OK)
      error = corq_failure("corq_stream_producer_send", rc);
    sent += n;
  }
  corq_stream_producer_close(producer);
  if (error.empty()) {
    if (const int rc = corq_sync(engine, wait_limit_ms); rc != CORQ_OK)
      error = corq_failure("corq_sync", rc);
  }
  return error;
}

/// Samples the resident set every 2 ms until stopped; keeps the peak.
class RssSampler {
 public:
  RssSampler() : peak_(resident_bytes()) {
    thread_ = std::thread([this] {
      while (!stop_.load(std::memory_order_relaxed)) {
        peak_.store(std::max(peak_.load(std::memory_order_relaxed), resident_bytes()),
                    std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  RssSampler(const RssSampler &) = delete;
  RssSampler &operator=(const RssSampler &) = delete;
  ~RssSampler() { stop(); }
  std::uint64_t stop() {
    if (thread_.joinable()) {
      stop_.store(true, std::memory_order_relaxed);
      thread_.join();
      peak_.store(std::max(peak_.load(std::memory_order_relaxed), resident_bytes()),
                  std::memory_order_relaxed);
    }
    return peak_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> peak_;
  std::thread thread_;
};

/// Reads every record from "earliest", checking each. Sets the payload bytes read.
std::string replay(corq_engine *engine, std::uint64_t records, std::uint64_t &payload_bytes) {
  corq_stream_reader *reader = nullptr;
  if (const int rc = corq_stream_reader_open(engine, replay_stream, 0, "earliest", &reader);
      rc != CORQ_OK)
    return corq_failure("corq_stream_reader_open", rc);
  std::vector<corq_stream_record> out(256);
  std::string error;
  std::uint64_t next = 0;
  payload_bytes = 0;
  while (next < records && error.empty()) {
    const int n = corq_stream_read(reader, out.data(), out.size(), 0);
    if (n < 0) {
      error = corq_failure("corq_stream_read", n);
      break;
    }
    if (n == 0) {
      error =
          "the replay stopped at offset " + std::to_string(next) + " of " + std::to_string(records);
      break;
    }
    for (int i = 0; i < n && error.empty(); ++i) {
      std::uint64_t seq = ~std::uint64_t{0};
      if (out[i].len >= sizeof seq) std::memcpy(&seq, out[i].data, sizeof seq);
      if (out[i].offset != next || seq != next || out[i].len != replay_record_bytes) {
        error = "record " + std::to_string(next) + " came back as offset " +
                std::to_string(out[i].offset) + " numbered " + std::to_string(seq);
      }
      payload_bytes += out[i].len;
      ++next;
    }
  }
  if (error.empty() && corq_stream_reader_skipped(reader) != 0)
    error = "the reader skipped records";
  corq_stream_reader_close(reader);
  return error;
}

void run(benchmark::State &state, std::uint64_t cache_bytes, int round) {
  const std::string dir = bench_dir() + "/stream-replay-r" + std::to_string(round);
  const std::string baseline_path = bench_dir() + "/stream-replay-read-baseline";
  const std::uint64_t records = 4 * cache_bytes / replay_record_bytes;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  corq_engine *engine = nullptr;
  std::string error = open_replay_engine(dir, cache_bytes, engine);
  // What the stream's log holds: the bytes the fill sent to the storage layer (segment files are
  // preallocated, so their sizes would say more; the engine's own log adds a few KiB).
  const std::uint64_t written_before = process_write_bytes();
  if (error.empty()) error = fill_stream(engine, records);
  if (engine != nullptr) corq_close(engine);
  engine = nullptr;
  const std::uint64_t log_bytes = process_write_bytes() - written_before;
  // The baseline file: as large as the stream's log, in whole MiB.
  const std::uint64_t baseline_bytes = std::max<std::uint64_t>(log_bytes >> 20, 1) << 20;
  if (error.empty()) error = write_read_baseline_file(baseline_path, baseline_bytes);
  bool global = false;
  double reopen_s = 0, seconds = 0, raw_before = 0, raw_after = 0;
  std::uint64_t payload_bytes = 0, device_read = 0, rss_start = 0, rss_peak = 0;
  for (auto _ : state) {
    if (!error.empty()) break;
    const std::vector<std::string> log_files = files_under(dir);
    drop_page_cache(log_files, global);
    const auto reopen = std::chrono::steady_clock::now();
    error = open_replay_engine(dir, cache_bytes, engine);
    reopen_s = seconds_since(reopen);
    if (error.empty()) error = device_read_bandwidth(baseline_path, raw_before);
    if (error.empty()) {
      drop_page_cache(log_files, global);
      const std::uint64_t read_before = process_read_bytes();
      RssSampler sampler;
      rss_start = resident_bytes();
      const auto start = std::chrono::steady_clock::now();
      error = replay(engine, records, payload_bytes);
      seconds = seconds_since(start);
      rss_peak = sampler.stop();
      device_read = process_read_bytes() - read_before;
    }
    if (error.empty()) error = device_read_bandwidth(baseline_path, raw_after);
    if (!error.empty()) break;
    state.SetIterationTime(seconds);
  }
  if (engine != nullptr) corq_close(engine);
  std::filesystem::remove_all(dir, ec);
  std::filesystem::remove(baseline_path, ec);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const double payload_per_s = static_cast<double>(payload_bytes) / seconds;
  const double raw_per_s = (raw_before + raw_after) / 2;
  state.counters["MB_per_s"] = payload_per_s / 1e6;
  state.counters["log_MB_per_s"] = static_cast<double>(log_bytes) / seconds / 1e6;
  state.counters["msgs_per_s"] = static_cast<double>(records) / seconds;
  state.counters["raw_read_MB_per_s"] = raw_per_s / 1e6;
  state.counters["raw_read_before_MB_per_s"] = raw_before / 1e6;
  state.counters["raw_read_after_MB_per_s"] = raw_after / 1e6;
  state.counters["bandwidth_ratio"] = payload_per_s / raw_per_s;
  state.counters["log_bandwidth_ratio"] = static_cast<double>(log_bytes) / seconds / raw_per_s;
  state.counters["stream_MiB"] = static_cast<double>(payload_bytes) / (1 << 20);
  state.counters["log_MiB"] = static_cast<double>(log_bytes) / (1 << 20);
  state.counters["cache_MiB"] = static_cast<double>(cache_bytes) / (1 << 20);
  state.counters["device_read_MiB"] = static_cast<double>(device_read) / (1 << 20);
  state.counters["rss_growth_MiB"] =
      static_cast<double>(rss_peak > rss_start ? rss_peak - rss_start : 0) / (1 << 20);
  state.counters["rss_peak_MiB"] = static_cast<double>(rss_peak) / (1 << 20);
  state.counters["reopen_s"] = reopen_s;
  state.counters["cache_dropped_globally"] = global ? 1 : 0;
  state.counters["round"] = round;
}

}  // namespace

void register_stream_replay_round(const DurableScale &scale, int round) {
  const std::uint64_t cache = scale.replay_cache_bytes;
  configure_log_run(benchmark::RegisterBenchmark(
      "stream_replay_disk/psync", [=](benchmark::State &state) { run(state, cache, round); }));
}

}  // namespace corq::bench::durable_bench
