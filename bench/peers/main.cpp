// bench/peers/main.cpp — corq_peers_bench: one run of the durable work-queue scenario on one system
// (corq or a peer), printed as one JSON object on stdout (tools/bench.sh, suite `peers`, collects
// them; perf/report_peers.py makes the table and plot).
//
// Usage: corq_peers_bench --system NAME [--dir PATH] [--port N] [--producers N] [--consumers N]
//          [--size BYTES] [--batch N] [--prefetch N] [--messages N] [--queue NAME] [--timeout S]
//          [--io-backend auto|psync|io_uring]   (corq-durable: the engine's io_backend option)
//        corq_peers_bench --list        (the systems built into this binary, one a line)
// Exit status: 0 when every message was delivered intact, exactly once or (at least once) with
// every repeat flagged as a redelivery by the system itself; 1 when the run failed, lost or
// corrupted a message or repeated one silently (the JSON says which: "delivery", "error"); 2 for
// bad arguments.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "json_string.hpp"  // bench/cli: corq_perf_histogram's include directory
#include "peer.hpp"
#include "workload.hpp"

namespace {

using corq::peers::PeerOptions;
using corq::perf::json_string;

constexpr std::uint64_t messages_max = 100'000'000;  // the per-id check holds a byte per message
constexpr std::size_t size_max = 16u << 20;
constexpr std::size_t threads_max = 64;

void usage(std::FILE *to) {
  std::fprintf(to,
               "usage: corq_peers_bench --system NAME [--dir PATH] [--port N] [--producers N]\n"
               "         [--consumers N] [--size BYTES] [--batch N] [--prefetch N] [--messages N]\n"
               "         [--queue NAME] [--timeout S] [--io-backend auto|psync|io_uring]\n"
               "       corq_peers_bench --list\n");
}

[[noreturn]] void bad(const std::string &what) {
  std::fprintf(stderr, "corq_peers_bench: %s\n", what.c_str());
  usage(stderr);
  std::exit(2);
}

std::uint64_t parse_count(const char *flag, const char *text, std::uint64_t lo, std::uint64_t hi) {
  char *end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi) {
    bad(std::string(flag) + " wants a whole number in [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "], got '" + text + "'");
  }
  return v;
}

PeerOptions parse(int argc, char **argv) {
  PeerOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (flag == "--list") {
      for (const auto &s : corq::peers::systems_built()) std::printf("%s\n", s.c_str());
      std::exit(0);
    }
    if (i + 1 >= argc) bad("missing value for " + flag);
    const char *v = argv[++i];
    if (flag == "--system")
      o.system = v;
    else if (flag == "--dir")
      o.dir = v;
    else if (flag == "--queue")
      o.queue = v;
    else if (flag == "--io-backend")
      o.io_backend = v;
    else if (flag == "--port")
      o.port = static_cast<int>(parse_count("--port", v, 1, 65535));
    else if (flag == "--producers")
      o.producers = parse_count("--producers", v, 1, threads_max);
    else if (flag == "--consumers")
      o.consumers = parse_count("--consumers", v, 1, threads_max);
    else if (flag == "--size")
      o.size = parse_count("--size", v, corq::peers::header_bytes, size_max);
    else if (flag == "--batch")
      o.batch = parse_count("--batch", v, 1, 65536);
    else if (flag == "--prefetch")
      o.prefetch = static_cast<std::uint32_t>(parse_count("--prefetch", v, 1, 65536));
    else if (flag == "--messages")
      o.messages = parse_count("--messages", v, 1, messages_max);
    else if (flag == "--timeout")
      o.timeout_s = static_cast<double>(parse_count("--timeout", v, 1, 86400));
    else
      bad("unknown argument '" + flag + "'");
  }
  if (o.system.empty()) bad("--system is required");
  const auto built = corq::peers::systems_built();
  if (std::find(built.begin(), built.end(), o.system) == built.end()) {
    std::string names;
    for (const auto &name : built) names += " " + name;
    bad("unknown or not built system '" + o.system + "' (built:" + names + ")");
  }
  if (o.io_backend != "auto" && o.io_backend != "psync" && o.io_backend != "io_uring")
    bad("--io-backend wants auto, psync or io_uring, got '" + o.io_backend + "'");
  if ((o.system == "corq-durable" || o.system == "rocksdb" || o.system == "sqlite") &&
      o.dir.empty())
    bad("--system " + o.system + " needs --dir");
  if ((o.system.rfind("rabbitmq", 0) == 0 || o.system == "redis-streams") && o.port == 0)
    bad("--system " + o.system + " needs --port");
  if (o.messages < o.producers) bad("--messages must be at least --producers");
  return o;
}

}  // namespace

int main(int argc, char **argv) {
  const PeerOptions o = parse(argc, argv);
  std::unique_ptr<corq::peers::PeerSystem> system;
  std::string durability;
  corq::peers::ScenarioResult r;
  try {
    system = corq::peers::make_system(o);
    durability = system->durability();
  } catch (const std::exception &e) {
    r.error = e.what();
  }
  if (system) r = corq::peers::run_scenario(o, *system);
  std::printf(
      "{\"system\": %s, \"durability\": %s, \"size\": %zu, \"producers\": %zu, \"consumers\": %zu, "
      "\"batch\": %zu, \"prefetch\": %u, \"messages\": %llu, \"elapsed_s\": %.6f, "
      "\"msgs_per_s\": %.1f, \"latency_us\": {\"p50\": %llu, \"p99\": %llu, \"p999\": %llu, "
      "\"max\": %llu}, \"consumed\": %llu, \"missing\": %llu, \"duplicates\": %llu, "
      "\"corrupt\": %llu, \"redelivered\": %llu, \"id_sum_ok\": %s, \"exactly_once\": %s, "
      "\"delivery\": \"%s\", "
      "\"error\": %s}\n",
      json_string(o.system).c_str(), json_string(durability).c_str(), o.size, o.producers,
      o.consumers, o.batch, o.prefetch, static_cast<unsigned long long>(o.messages), r.elapsed_s,
      r.msgs_per_s, static_cast<unsigned long long>(r.latency_p50_us),
      static_cast<unsigned long long>(r.latency_p99_us),
      static_cast<unsigned long long>(r.latency_p999_us),
      static_cast<unsigned long long>(r.latency_max_us),
      static_cast<unsigned long long>(r.consumed), static_cast<unsigned long long>(r.missing),
      static_cast<unsigned long long>(r.duplicates), static_cast<unsigned long long>(r.corrupt),
      static_cast<unsigned long long>(r.redelivered), r.id_sum_ok ? "true" : "false",
      r.exactly_once() ? "true" : "false", r.delivery(), json_string(r.error).c_str());
  std::fflush(stdout);
  return r.at_least_once() ? 0 : 1;
}
