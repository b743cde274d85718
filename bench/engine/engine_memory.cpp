// bench/engine/engine_memory.cpp — resident memory per ready message: publish N 64-byte messages
// into a queue nobody consumes and divide the growth of the resident set by N.
//
//   memory_ready/corq         N = 1M corq_producer_send (batches of 64) into a transient queue with
//                             default options (max_length 1M): message blocks + ready-ring cells
//   memory_ready/moodycamel   N = 1M std::vector<char>(64) enqueued (with a token) into a
//                             moodycamel::ConcurrentQueue<std::vector<char>>: what an application
//                             that queues its own payload copies would hold
//
// Each measurement runs in a fresh child process (this binary, `--memory-probe PEER N`), which
// reads its own resident set (/proc/self/statm) after setting up the queue and again after the N
// publishes, and prints the difference. A fresh process matters: in the benchmark process itself
// the allocators keep pages that earlier scenarios freed, and reusing them would hide part of the
// growth. The Google Benchmark side only spawns the child, waits for it and reports its numbers.
#include "engine_harness.hpp"

#include <concurrentqueue/concurrentqueue.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern char **environ;

namespace corq::bench::engine {
namespace {

constexpr std::size_t payload_bytes = 64;
/// The child's whole output is one short line; anything longer is a malfunction.
constexpr std::size_t probe_output_bytes_max = 4096;

/// Resident set size of this process in bytes (second field of /proc/self/statm, in pages).
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

int print_growth(std::uint64_t before, std::uint64_t after, std::uint64_t messages) {
  std::printf("rss_growth_bytes=%" PRIu64 " messages=%" PRIu64 "\n",
              after > before ? after - before : 0, messages);
  return 0;
}

int probe_corq(std::uint64_t messages) {
  BenchEngine engine;
  corq_producer *producer = nullptr;
  if (const int rc = corq_producer_open(engine.get(), queue_name, &producer); rc != CORQ_OK) {
    std::fprintf(stderr, "%s\n", corq_failure("corq_producer_open", rc).c_str());
    return 1;
  }
  std::array<char, payload_bytes> payload;
  payload.fill('m');
  corq_message batch[batch_messages];
  for (auto &m : batch) m = corq_message{payload.data(), payload.size(), nullptr, 0, nullptr};

  const std::uint64_t before = resident_bytes();
  for (std::uint64_t done = 0; done < messages;) {
    const auto count =
        static_cast<std::size_t>(std::min<std::uint64_t>(batch_messages, messages - done));
    if (const int rc = corq_producer_send(producer, batch, count, nullptr, nullptr);
        rc != CORQ_OK) {
      std::fprintf(stderr, "%s\n", corq_failure("corq_producer_send", rc).c_str());
      return 1;
    }
    done += count;
  }
  const std::uint64_t after = resident_bytes();

  corq_queue_stats stats{};
  stats.struct_size = sizeof(stats);
  if (const int rc = corq_queue_stats_get(engine.get(), queue_name, &stats);
      rc != CORQ_OK || stats.ready != messages) {
    std::fprintf(stderr,
                 "memory probe: the queue holds %" PRIu64 " ready messages, expected %" PRIu64 "\n",
                 stats.ready, messages);
    return 1;
  }
  corq_producer_close(producer);
  return print_growth(before, after, messages);
}

int probe_moodycamel(std::uint64_t messages) {
  moodycamel::ConcurrentQueue<std::vector<char>> queue;
  moodycamel::ProducerToken token(queue);
  const std::uint64_t before = resident_bytes();
  for (std::uint64_t i = 0; i < messages; ++i) {
    if (!queue.enqueue(token, std::vector<char>(payload_bytes, 'm'))) {
      std::fprintf(stderr, "memory probe: moodycamel enqueue failed\n");
      return 1;
    }
  }
  const std::uint64_t after = resident_bytes();
  if (queue.size_approx() != messages) {
    std::fprintf(stderr, "memory probe: moodycamel holds the wrong number of items\n");
    return 1;
  }
  return print_growth(before, after, messages);
}

/// What a probe child printed, or why there is nothing to read.
struct ProbeOutput {
  std::string text;
  std::string error;  // empty: the child ran and exited 0
};

/// Runs `this binary --memory-probe peer messages` and collects its stdout.
ProbeOutput spawn_probe(const std::string &peer, std::uint64_t messages) {
  int out[2];
  if (::pipe(out) != 0) return {{}, std::string("pipe failed: ") + std::strerror(errno)};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::string self = "/proc/self/exe", flag = "--memory-probe", peer_arg = peer;
  std::string count = std::to_string(messages);
  char *argv[] = {self.data(), flag.data(), peer_arg.data(), count.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ProbeOutput result;
  char buffer[256];
  ssize_t got = 0;
  // Read to EOF (so the child never blocks on a full pipe), keep at most probe_output_bytes_max.
  while (spawned == 0 && (got = ::read(out[0], buffer, sizeof(buffer))) > 0) {
    const auto room = probe_output_bytes_max - std::min(probe_output_bytes_max, result.text.size());
    result.text.append(buffer, std::min(room, static_cast<std::size_t>(got)));
  }
  ::close(out[0]);
  if (spawned != 0) return {{}, std::string("posix_spawn failed: ") + std::strerror(spawned)};
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.error = "the memory probe child failed (its stderr is above)";
  }
  return result;
}

/// One repetition: one child process, its growth divided by its message count.
void measure_once(benchmark::State &state, const std::string &peer, std::uint64_t messages) {
  const auto start = std::chrono::steady_clock::now();
  ProbeOutput probe = spawn_probe(peer, messages);
  state.SetIterationTime(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::uint64_t growth = 0, counted = 0;
  if (probe.error.empty() &&
      std::sscanf(probe.text.c_str(), "rss_growth_bytes=%" SCNu64 " messages=%" SCNu64, &growth,
                  &counted) != 2) {
    probe.error = "the memory probe printed something unexpected: " + probe.text;
  }
  if (!probe.error.empty() || counted == 0) {
    state.SkipWithError(probe.error.empty() ? "the memory probe counted no messages"
                                            : probe.error.c_str());
    return;
  }
  state.counters["bytes_per_msg"] = static_cast<double>(growth) / static_cast<double>(counted);
  state.counters["rss_growth_mib"] = static_cast<double>(growth) / (1024.0 * 1024.0);
  state.counters["messages"] = static_cast<double>(counted);
}

}  // namespace

int run_memory_probe(const std::string &peer, std::uint64_t messages) {
  if (messages == 0) return std::fprintf(stderr, "memory probe: messages must be > 0\n"), 2;
  try {
    if (peer == "corq") return probe_corq(messages);
    if (peer == "moodycamel") return probe_moodycamel(messages);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "memory probe: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "memory probe: unknown peer '%s' (corq | moodycamel)\n", peer.c_str());
  return 2;
}

void register_engine_memory(const EngineScale &scale) {
  const std::uint64_t messages = scale.memory_messages;
  for (const std::string peer : {"corq", "moodycamel"}) {
    const auto body = [=](benchmark::State &state) {
      for (auto _ : state) measure_once(state, peer, messages);
    };
    configure_engine_run(benchmark::RegisterBenchmark(("memory_ready/" + peer).c_str(), body),
                         scale.repetitions);
  }
}

}  // namespace corq::bench::engine
