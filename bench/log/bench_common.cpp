// bench/log/bench_common.cpp — the helpers corq_log_bench and corq_durable_bench share
// (raw_device.hpp): the benchmark directory, /proc/self/io, percentiles (paired with raw writes or
// not), skipping an unavailable back end, the filesystem's name, main()'s start and end of a run.
#include "raw_device.hpp"

#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace corq::bench::wal_bench {
namespace {
std::string &bench_dir_storage() {
  static std::string dir;
  return dir;
}
}  // namespace

const std::string &bench_dir() { return bench_dir_storage(); }
void set_bench_dir(std::string dir) { bench_dir_storage() = std::move(dir); }

namespace {
/// A field of /proc/self/io ("write_bytes:", "read_bytes:"), or 0 when not available.
std::uint64_t process_io_field(const std::string &field) {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == field) return value;
  }
  return 0;
}
}  // namespace

std::uint64_t process_write_bytes() { return process_io_field("write_bytes:"); }
std::uint64_t process_read_bytes() { return process_io_field("read_bytes:"); }

void report_percentiles(benchmark::State &state, std::vector<std::uint64_t> &samples_ns) {
  std::sort(samples_ns.begin(), samples_ns.end());
  const auto us = [&](double quantile) { return quantile_of_sorted(samples_ns, quantile) / 1e3; };
  state.counters["p50_us"] = us(0.50);
  state.counters["p99_us"] = us(0.99);
  state.counters["p999_us"] = us(0.999);
  state.counters["max_us"] = samples_ns.empty() ? 0 : static_cast<double>(samples_ns.back()) / 1e3;
}

void report_paired_percentiles(benchmark::State &state, std::vector<std::uint64_t> &measured_ns,
                               std::vector<std::uint64_t> &raw_ns) {
  std::sort(raw_ns.begin(), raw_ns.end());
  report_percentiles(state, measured_ns);  // sorts
  const auto ratio = [&](double quantile) {
    return quantile_of_sorted(measured_ns, quantile) / quantile_of_sorted(raw_ns, quantile);
  };
  state.counters["raw_p50_us"] = quantile_of_sorted(raw_ns, 0.50) / 1e3;
  state.counters["raw_p99_us"] = quantile_of_sorted(raw_ns, 0.99) / 1e3;
  state.counters["raw_p999_us"] = quantile_of_sorted(raw_ns, 0.999) / 1e3;
  state.counters["p50_ratio"] = ratio(0.50);
  state.counters["p99_ratio"] = ratio(0.99);
  state.counters["p999_ratio"] = ratio(0.999);
  state.counters["samples"] = static_cast<double>(measured_ns.size());
}

bool skipped_as_unavailable(benchmark::State &state, const std::string &unavailable) {
  if (unavailable.empty()) return false;
  state.SkipWithError(("skipped: " + unavailable).c_str());
  for (auto _ : state) {  // the loop every benchmark has; after SkipWithError it runs no iteration
  }
  return true;
}

std::string filesystem_name(const std::string &dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53: return "ext4";  // also ext2/ext3
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0xF2F52010: return "f2fs";
    case 0x2FC12FC1: return "zfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof(hex), "0x%lx", static_cast<unsigned long>(fs.f_type));
      return hex;
    }
  }
}

std::string default_parent_dir(const std::vector<const char *> &env_vars) {
  for (const char *name : env_vars) {
    if (const char *env = std::getenv(name); env != nullptr && *env != '\0') return env;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

std::string make_bench_dir(const std::string &parent, const std::string &prefix) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  std::string templ = parent + "/" + prefix + ".XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::fprintf(stderr, "%s: cannot create a directory in %s: %s\n", prefix.c_str(),
                 parent.c_str(), std::strerror(errno));
    return {};
  }
  return std::filesystem::absolute(templ).string();
}

bool start_bench_dir(const char *program, const std::string &parent, const std::string &prefix,
                     const RawScale &scale) {
  const std::string dir = make_bench_dir(parent, prefix);
  if (dir.empty()) return false;
  set_bench_dir(dir);
  bool raw_direct = false;
  if (const std::string error = prepare_raw_file(scale, raw_direct); !error.empty()) {
    std::fprintf(stderr, "%s: raw baseline file: %s\n", program, error.c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return false;
  }
  benchmark::AddCustomContext("corq_bench_dir", dir);
  benchmark::AddCustomContext("corq_filesystem", filesystem_name(dir));
  benchmark::AddCustomContext("corq_raw_direct_io", raw_direct ? "true" : "false");
  return true;
}

void finish_bench_dir(const char *program) {
  close_raw_file();
  std::error_code ec;
  std::filesystem::remove_all(bench_dir(), ec);
  if (ec) {
    std::fprintf(stderr, "%s: could not remove %s: %s\n", program, bench_dir().c_str(),
                 ec.message().c_str());
  }
}

}  // namespace corq::bench::wal_bench
