// bench/log/raw_device.cpp — the raw device baselines, measured in the benchmark's own directory
// (shared by corq_log_bench and corq_durable_bench; see raw_device.hpp):
//
//   raw_4k/latency     pwrite of one 4 KiB block + fdatasync, then the next block: the latency of
//                      the smallest durable write (what one log commit of one small record costs
//                      at best). p50/p99/p99.9 over `raw_latency_samples` samples.
//   raw_4k/latency_fresh  the same, but into a file just preallocated with fallocate and never
//                      written (a fresh file per repetition, deleted after): what the first write
//                      of a block of a new log segment costs on this filesystem (ext4 and XFS must
//                      also commit the extent's "unwritten -> written" change at each flush).
//                      Informational: the targets compare with raw_4k/latency. Its chunks of 20
//                      alternate with 20 overwrites of the baseline file; `p50_ratio` and
//                      `p99_ratio` are fresh ÷ overwrite in the same moments.
//   raw_1m/bandwidth   pwrite of 1 MiB + fdatasync, back to back: the device's durable sequential
//                      bandwidth (what the log's throughput is compared with). MB/s.
//
// Both write sequentially (like a log) through one file of `raw_file_bytes`, preallocated with
// fallocate and then written over once with zeros before anything is measured: the baselines are
// what the device does for an overwrite, without the filesystem's first-write cost of fallocated
// extents (that cost belongs to whoever writes into fresh extents — see warm_up_log). The file is
// opened with O_DIRECT when the filesystem takes it (otherwise buffered writes; fdatasync makes
// them durable either way); the context key `corq_raw_direct_io` records which. Offsets wrap around
// the file, and the cursor carries over between repetitions.
#include "raw_device.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {
namespace {

constexpr std::size_t small_block_bytes = 4096;
constexpr std::size_t large_block_bytes = std::size_t{1} << 20;
constexpr const char *raw_file_name = "raw-device.dat";

struct FreeDeleter {
  void operator()(void *p) const noexcept { std::free(p); }
};

/// The baseline file: an fd, an aligned buffer of one large block, and a write cursor.
struct RawFile {
  int fd = -1;
  bool direct = false;
  std::uint64_t bytes = 0;
  std::uint64_t cursor = 0;
  std::unique_ptr<std::byte, FreeDeleter> buffer;
};

RawFile &raw_file() {
  static RawFile file;
  return file;
}

std::string errno_text(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

/// Opens the file with O_DIRECT if the filesystem takes it, else buffered. Returns the fd or
/// -errno.
int open_raw(const std::string &path, bool &direct) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  direct = fd >= 0;
  if (fd < 0 && errno == EINVAL)
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  return fd >= 0 ? fd : -errno;
}

/// Writes `length` bytes of the buffer at the cursor (wrapping around the file) and fdatasyncs.
/// Returns an empty string or the failure.
std::string write_and_flush(RawFile &file, std::size_t length) {
  if (file.cursor + length > file.bytes) file.cursor = 0;
  std::size_t done = 0;
  while (done < length) {
    const ssize_t written = ::pwrite(file.fd, file.buffer.get() + done, length - done,
                                     static_cast<off_t>(file.cursor + done));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return written < 0 ? errno_text("pwrite") : "pwrite: no progress";
    done += static_cast<std::size_t>(written);
  }
  if (::fdatasync(file.fd) != 0) return errno_text("fdatasync");
  file.cursor += length;
  return {};
}

/// Times `samples` 4 KiB write+flush steps on `file`; returns an empty string or the failure.
std::string time_small_writes(RawFile &file, std::vector<std::uint64_t> &samples_ns,
                              double &seconds) {
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t &sample : samples_ns) {
    const auto before = std::chrono::steady_clock::now();
    if (std::string error = write_and_flush(file, small_block_bytes); !error.empty()) return error;
    sample = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now() - before)
                                            .count());
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
}

void run_latency(benchmark::State &state, std::uint64_t samples, int round) {
  RawFile &file = raw_file();
  std::vector<std::uint64_t> samples_ns(samples);
  for (auto _ : state) {
    double seconds = 0;
    if (const std::string error = time_small_writes(file, samples_ns, seconds); !error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    state.SetIterationTime(seconds);
  }
  report_percentiles(state, samples_ns);  // sorts
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["direct_io"] = file.direct ? 1 : 0;
  state.counters["round"] = round;
}

void run_latency_fresh(benchmark::State &state, std::uint64_t samples, int round) {
  const std::string path = bench_dir() + "/raw-fresh.dat";
  RawFile fresh;
  fresh.fd = open_raw(path, fresh.direct);
  fresh.bytes = samples * small_block_bytes;
  std::string error = fresh.fd < 0 ? std::string("open: ") + std::strerror(-fresh.fd) : "";
  if (error.empty()) {
    if (const int rc = ::posix_fallocate(fresh.fd, 0, static_cast<off_t>(fresh.bytes)); rc != 0) {
      error = std::string("fallocate: ") + std::strerror(rc);
    }
  }
  fresh.buffer.reset(
      static_cast<std::byte *>(std::aligned_alloc(small_block_bytes, small_block_bytes)));
  if (error.empty() && fresh.buffer == nullptr) error = "out of memory";
  if (error.empty()) {
    std::memcpy(fresh.buffer.get(), raw_file().buffer.get(), small_block_bytes);
    if (::fdatasync(fresh.fd) != 0) error = errno_text("fdatasync");  // the fallocate, durable
  }
  // Chunks of writes into fresh blocks alternate with chunks of overwrites of the baseline file,
  // so the two are compared in the same moments (`p50_ratio`: fresh ÷ overwrite).
  std::vector<std::uint64_t> samples_ns(samples), overwrite_ns(samples);
  for (auto _ : state) {
    double seconds = 0;
    for (std::uint64_t at = 0; error.empty() && at < samples; at += paired_chunk_samples) {
      const std::uint64_t chunk = std::min(paired_chunk_samples, samples - at);
      std::vector<std::uint64_t> chunk_ns(chunk);
      double chunk_s = 0;
      error = time_small_writes(fresh, chunk_ns, chunk_s);
      std::copy(chunk_ns.begin(), chunk_ns.end(), samples_ns.begin() + static_cast<long>(at));
      seconds += chunk_s;
      for (std::uint64_t i = at; error.empty() && i < at + chunk; ++i) {
        error = raw_small_write(overwrite_ns[i]);
      }
    }
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds);
  }
  if (fresh.fd >= 0) ::close(fresh.fd);
  ::unlink(path.c_str());
  if (!error.empty()) return;
  report_percentiles(state, samples_ns);  // sorts
  std::sort(overwrite_ns.begin(), overwrite_ns.end());
  state.counters["overwrite_p50_us"] = quantile_of_sorted(overwrite_ns, 0.50) / 1e3;
  state.counters["overwrite_p99_us"] = quantile_of_sorted(overwrite_ns, 0.99) / 1e3;
  state.counters["p50_ratio"] =
      quantile_of_sorted(samples_ns, 0.50) / quantile_of_sorted(overwrite_ns, 0.50);
  state.counters["p99_ratio"] =
      quantile_of_sorted(samples_ns, 0.99) / quantile_of_sorted(overwrite_ns, 0.99);
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["direct_io"] = fresh.direct ? 1 : 0;
  state.counters["round"] = round;
}

void run_bandwidth(benchmark::State &state, std::uint64_t total_bytes, int round) {
  RawFile &file = raw_file();
  const std::uint64_t blocks = total_bytes / large_block_bytes;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < blocks; ++i) {
      if (const std::string error = write_and_flush(file, large_block_bytes); !error.empty()) {
        state.SkipWithError(error.c_str());
        return;
      }
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(seconds);
  }
  const double bytes_per_s = static_cast<double>(blocks * large_block_bytes) / seconds;
  state.counters["MB_per_s"] = bytes_per_s / 1e6;
  state.counters["flush_ms"] = seconds * 1e3 / static_cast<double>(blocks);
  state.counters["direct_io"] = file.direct ? 1 : 0;
  state.counters["round"] = round;
}

}  // namespace

std::string prepare_raw_file(const RawScale &scale, bool &direct) {
  RawFile &file = raw_file();
  const std::string path = bench_dir() + "/" + raw_file_name;
  file.fd = open_raw(path, file.direct);
  if (file.fd < 0) return "open " + path + ": " + std::strerror(-file.fd);
  direct = file.direct;
  file.bytes = scale.raw_file_bytes / large_block_bytes * large_block_bytes;
  file.buffer.reset(
      static_cast<std::byte *>(std::aligned_alloc(small_block_bytes, large_block_bytes)));
  if (file.buffer == nullptr) return "out of memory";
  // Not zeros only: a device (or a virtual disk) might treat all-zero blocks specially.
  for (std::size_t i = 0; i < large_block_bytes; ++i) {
    file.buffer.get()[i] = static_cast<std::byte>((i * 131 + 7) & 0xff);
  }
  const int rc = ::posix_fallocate(file.fd, 0, static_cast<off_t>(file.bytes));
  if (rc != 0 && rc != EOPNOTSUPP) return "fallocate " + path + ": " + std::strerror(rc);
  // Write the whole file once, so every measured write is an overwrite of written blocks.
  for (std::uint64_t at = 0; at < file.bytes; at += large_block_bytes) {
    std::size_t done = 0;
    while (done < large_block_bytes) {
      const ssize_t written = ::pwrite(file.fd, file.buffer.get() + done, large_block_bytes - done,
                                       static_cast<off_t>(at + done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return errno_text("pwrite (pre-writing the raw file)");
      done += static_cast<std::size_t>(written);
    }
  }
  if (::fdatasync(file.fd) != 0) return errno_text("fdatasync (pre-writing the raw file)");
  file.cursor = 0;
  return {};
}

void close_raw_file() {
  RawFile &file = raw_file();
  if (file.fd >= 0) ::close(file.fd);
  file.fd = -1;
}

std::string raw_small_write(std::uint64_t &ns) {
  const auto before = std::chrono::steady_clock::now();
  std::string error = write_and_flush(raw_file(), small_block_bytes);
  ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::steady_clock::now() - before)
                                      .count());
  return error;
}

std::string raw_large_writes(std::uint64_t bytes, double &seconds) {
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < bytes / large_block_bytes; ++i) {
    if (std::string error = write_and_flush(raw_file(), large_block_bytes); !error.empty()) {
      return error;
    }
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
}

void register_raw_round(const RawScale &scale, int round) {
  const std::uint64_t samples = scale.raw_latency_samples;
  const std::uint64_t fresh_samples = scale.raw_fresh_latency_samples;
  const std::uint64_t bandwidth_bytes = scale.raw_bandwidth_bytes;
  configure_log_run(benchmark::RegisterBenchmark(
      "raw_4k/latency", [=](benchmark::State &state) { run_latency(state, samples, round); }));
  configure_log_run(benchmark::RegisterBenchmark(
      "raw_4k/latency_fresh",
      [=](benchmark::State &state) { run_latency_fresh(state, fresh_samples, round); }));
  configure_log_run(benchmark::RegisterBenchmark("raw_1m/bandwidth", [=](benchmark::State &state) {
    run_bandwidth(state, bandwidth_bytes, round);
  }));
}

}  // namespace corq::bench::wal_bench
