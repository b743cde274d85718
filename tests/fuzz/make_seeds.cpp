// tests/fuzz/make_seeds.cpp — writes the seed corpora of the fuzz targets:
//   corq_fuzz_make_seeds tests/fuzz/corpus
// (build it with `cmake --build <dir> --target corq_fuzz_make_seeds`). Existing files with the
// same names are replaced; other files (regression inputs, crash-<sha1>) are left alone.
//   * fuzz_log_recovery: real logs — small workloads run through the C API on a durable engine
//     over a wal::SimVfs; each seed is the segment file (trailing zero blocks cut off) behind the
//     target's two-byte prefix (flags, first segment id - 1).
//   * fuzz_options: every key with good and bad values, in each of the target's four modes.
//   * fuzz_capi: byte strings from a fixed-seed generator (every byte string decodes to calls).
#include "engine/testing.hpp"

#include <io/sim_vfs.hpp>
#include <log/scanner.hpp>

#include <corq/corq.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
constexpr std::string_view separator = "\n--CORQ-SEGMENT--\n";  // as in fuzz_log_recovery.cpp

void must(int rc, const char *what) {
  if (rc < 0) {
    std::fprintf(stderr, "make_seeds: %s: %s (%s)\n", what, corq_strerror(rc), corq_last_error());
    std::exit(1);
  }
}

void write_seed(const fs::path &dir, const std::string &name, const std::string &bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

// ---- fuzz_log_recovery ----------------------------------------------------------------------

using Workload = std::function<void(corq_engine *)>;

void declare(corq_engine *e, const char *queue,
             std::vector<std::pair<const char *, const char *>> options = {}) {
  corq_config *config = corq_config_new();
  for (const auto &[key, value] : options) must(corq_config_set(config, key, value), key);
  must(corq_queue_declare(e, queue, config), "declare");
  corq_config_free(config);
}

void publish(corq_engine *e, const char *queue, const std::string &body, std::int64_t delay_ms = 0,
             const char *dedup_id = nullptr) {
  static const corq_header headers[] = {{"trace", "abc", 3}, {"user", "ada", 3}};
  corq_message m{body.data(), body.size(), headers, body.size() % 3, dedup_id};
  corq_publish_options o{};
  o.struct_size = sizeof o;
  o.timeout_ms = 0;
  o.delay_ms = delay_ms;
  o.flags = CORQ_PUBLISH_NOWAIT;
  must(corq_publish(e, queue, &m, &o, nullptr), "publish");
}

/// Consumes up to `n` deliveries and settles each with `settle`.
void consume(corq_engine *e, const char *queue, int n,
             const std::function<void(corq_consumer *, const corq_delivery &)> &settle) {
  corq_consumer *c = nullptr;
  must(corq_consumer_open(e, queue, 64, &c), "consumer_open");
  corq_delivery out[64];
  const int got = corq_consume(c, out, static_cast<std::size_t>(std::min(n, 64)), 0);
  must(got, "consume");
  for (int i = 0; i < got; ++i) settle(c, out[i]);
  must(corq_consumer_close(c), "consumer_close");
}

std::vector<std::pair<std::string, Workload>> workloads() {
  const auto ack = [](corq_consumer *c, const corq_delivery &d) {
    must(corq_ack(c, d.tag), "ack");
  };
  const auto nack = [](corq_consumer *c, const corq_delivery &d) {
    must(corq_nack(c, d.tag, -1), "nack");
  };
  const auto reject = [](corq_consumer *c, const corq_delivery &d) {
    must(corq_reject(c, d.tag, "bad"), "reject");
  };
  const auto nothing = [](corq_consumer *, const corq_delivery &) {};
  return {
      {"empty", [](corq_engine *) {}},
      {"declare", [](corq_engine *e) { declare(e, "q"); }},
      {"declare_options",
       [](corq_engine *e) {
         declare(e, "jobs",
                 {{"max_attempts", "3"},
                  {"retry_delay_ms", "5"},
                  {"lease_ms", "1000"},
                  {"shards", "2"},
                  {"retry_backoff", "1.5"}});
         declare(e, "other", {{"dead_letter_queue", ""}, {"durable", "false"}});
       }},
      {"publish",
       [](corq_engine *e) {
         declare(e, "q");
         for (int i = 0; i < 6; ++i) publish(e, "q", "message " + std::to_string(i));
       }},
      {"publish_ack",
       [ack](corq_engine *e) {
         declare(e, "q");
         for (int i = 0; i < 8; ++i)
           publish(e, "q", std::string(static_cast<std::size_t>(i) * 40, 'p'));
         consume(e, "q", 5, ack);
       }},
      {"in_flight",
       [nothing](corq_engine *e) {
         declare(e, "q");
         for (int i = 0; i < 4; ++i) publish(e, "q", "held " + std::to_string(i));
         consume(e, "q", 3, nothing);  // released at close: logged as delivered, then released
       }},
      {"nack_retry",
       [nack](corq_engine *e) {
         declare(e, "jobs", {{"max_attempts", "2"}, {"retry_delay_ms", "10"}});
         for (int i = 0; i < 3; ++i) publish(e, "jobs", "job " + std::to_string(i));
         consume(e, "jobs", 3, nack);
         must(corq::testing::advance_clock(e, 50), "advance");
         consume(e, "jobs", 3, nack);  // second failure: dead-lettered
       }},
      {"reject_redrive",
       [reject](corq_engine *e) {
         declare(e, "q");
         for (int i = 0; i < 3; ++i) publish(e, "q", "poison " + std::to_string(i));
         consume(e, "q", 3, reject);
         std::uint64_t moved = 0;
         must(corq_redrive(e, "q.dlq", nullptr, 2, &moved), "redrive");
       }},
      {"dedup_delay",
       [](corq_engine *e) {
         declare(e, "q", {{"dedup_window_ms", "60000"}, {"message_ttl_ms", "100000"}});
         publish(e, "q", "once", 0, "id-1");
         publish(e, "q", "once again", 0, "id-1");
         publish(e, "q", "later", 5000);
       }},
      {"purge_delete",
       [](corq_engine *e) {
         declare(e, "q");
         declare(e, "other");
         for (int i = 0; i < 3; ++i) publish(e, "q", "purged");
         publish(e, "other", "deleted");
         must(corq_queue_purge(e, "q", nullptr), "purge");
         must(corq_queue_delete(e, "other"), "delete");
       }},
      {"batch",
       [ack](corq_engine *e) {
         declare(e, "q");
         corq_producer *p = nullptr;
         must(corq_producer_open(e, "q", &p), "producer_open");
         std::vector<std::string> bodies;
         for (int i = 0; i < 16; ++i) bodies.push_back("batched " + std::to_string(i));
         std::vector<corq_message> batch;
         for (const std::string &b : bodies)
           batch.push_back({b.data(), b.size(), nullptr, 0, nullptr});
         must(corq_producer_send(p, batch.data(), batch.size(), nullptr, nullptr), "send");
         must(corq_producer_flush(p, -1), "flush");
         corq_producer_close(p);
         consume(e, "q", 10, ack);
       }},
  };
}

/// Runs a workload on a fresh SimVfs and returns the log's segment files, trailing zero blocks
/// cut off, joined with the separator.
std::string run_workload(const Workload &workload, bool sync_none = false) {
  corq::wal::SimVfs vfs(1);
  corq_config *config = corq_config_new();
  must(corq_config_set(config, "segment_bytes", "1MiB"), "config");
  if (sync_none) must(corq_config_set(config, "sync", "none"), "config");
  must(corq_config_set(config, "clock", "manual"), "config");
  corq_engine *e = nullptr;
  must(corq::testing::open_on_vfs("/data", config, &vfs, &e), "open_on_vfs");
  corq_config_free(config);
  workload(e);
  must(corq_sync(e, -1), "sync");
  must(corq_close(e), "close");
  std::vector<std::string> names;
  must(vfs.list("/data", names) == 0 ? 0 : -1, "list");
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string &name : names) {
    std::uint64_t id = 0;
    if (!corq::wal::parse_segment_file_name(name, id)) continue;
    std::vector<std::byte> bytes;
    must(vfs.contents("/data/" + name, bytes) == 0 ? 0 : -1, "contents");
    std::size_t end = bytes.size();
    while (end > 0 && bytes[end - 1] == std::byte{0}) --end;
    end = (end + corq::wal::block_bytes - 1) / corq::wal::block_bytes * corq::wal::block_bytes;
    if (!out.empty()) out += separator;
    out.append(reinterpret_cast<const char *>(bytes.data()), std::min(end, bytes.size()));
  }
  return out;
}

void log_seeds(const fs::path &corpus) {
  const fs::path dir = corpus / "fuzz_log_recovery";
  for (const auto &[name, workload] : workloads()) {
    const std::string log = run_workload(workload);
    // flags: 0 = scan and replay only; 5 = fix checksums, also open an engine; 7 = and sync=none.
    for (unsigned flags : {0u, 5u, 7u}) {
      std::string seed;
      seed += static_cast<char>(flags);
      seed += static_cast<char>(0);  // first segment id 1
      write_seed(dir, "seed-" + name + "-" + std::to_string(flags), seed + log);
    }
  }
  // sync=none logs, whose frames after the first are marked unflushed, and the same log with its
  // second frame lost as a power loss may leave it (its first block zeroed): recovery must end
  // the log there, not call it corrupt, and invalidate the marked frames after it.
  for (const auto &[name, workload] : workloads()) {
    if (name != "batch" && name != "in_flight" && name != "nack_retry") continue;
    const std::string log = run_workload(workload, true);
    std::string hole = log;
    const std::size_t second = 2 * corq::wal::block_bytes;
    if (hole.size() >= second + 2 * corq::wal::block_bytes) {
      std::fill(hole.begin() + static_cast<std::ptrdiff_t>(second),
                hole.begin() + static_cast<std::ptrdiff_t>(second + corq::wal::block_bytes), '\0');
    }
    for (unsigned flags : {0u, 7u}) {
      const std::string prefix{static_cast<char>(flags), static_cast<char>(0)};
      write_seed(dir, "seed-sync-none-" + name + "-" + std::to_string(flags), prefix + log);
      write_seed(dir, "seed-sync-none-hole-" + name + "-" + std::to_string(flags), prefix + hole);
    }
  }
  // Logs that are not logs: nothing, a lone byte, zeros.
  write_seed(dir, "seed-nothing", std::string("\x01\x00", 2));
  write_seed(dir, "seed-zeros", std::string("\x01\x00", 2) + std::string(8192, '\0'));
}

// ---- fuzz_options ---------------------------------------------------------------------------

void options_seeds(const fs::path &corpus) {
  const fs::path dir = corpus / "fuzz_options";
  const std::vector<std::pair<char, std::string>> seeds = {
      {0, ""},
      {0, "sync=always\nio_backend=auto\ndirect_io=auto"},
      {0, "sync=none\nio_backend=psync\ndirect_io=false"},
      {0, "segment_bytes=1MiB\nmax_message_bytes=64MiB\nclock=manual"},
      {0, "segment_bytes=1TiB"},
      {0, "segment_bytes=1023KiB"},
      {0, "max_message_bytes=0"},
      {0, "max_message_bytes=18446744073709551616"},
      {0, "lease_ms=5"},
      {0, "bogus=1"},
      {0, "io_backend=io_uring\nclock=sundial"},
      {1, "q"},
      {1, "q\nmax_length=10\noverflow=reject\nmax_bytes=1KiB"},
      {1, "q\nmax_length=268435456\nmax_bytes=64GiB\noverflow=drop_head"},
      {1, "q\nmax_length=0"},
      {1, "q\nretry_backoff=1.5\nretry_delay_ms=10\nretry_delay_max_ms=5"},
      {1, "q\nretry_backoff=100.0\nretry_delay_max_ms=4294967295"},
      {1, "q\nretry_backoff=1e300"},
      {1, "q\nretry_backoff=nan"},
      {1, "q\nretry_backoff=0.5"},
      {1, "q\ndead_letter_queue="},
      {1, "q\ndead_letter_queue=other"},
      {1, "q\ndead_letter_queue=q"},
      {1, "q\ndead_letter_queue=bad name"},
      {1, "q\ndurable=true"},
      {1, "q\ndurable=yes"},
      {1, "q\nshards=64\nlease_ms=1"},
      {1, "q\nshards=65"},
      {1, "q\nmessage_ttl_ms=4294967295\ndedup_window_ms=1000\nmax_attempts=0"},
      {1, "q\nmessage_ttl_ms=4294967296"},
      {1, "q\nsync=none"},
      {1, "bad name\nmax_length=1"},
      {1, ""},
      {2, "q"},
      {2, "jobs\nmax_attempts=3\nretry_backoff=1.25\ndead_letter_queue=\nshards=3"},
      {2, "jobs\ndurable=false\nlease_ms=100"},
      {2, "q\ndead_letter_queue=other\ndedup_window_ms=60000\nmax_bytes=1GiB"},
      {2, "q\nretry_backoff=2.000000000000001"},
      {3, "segment_bytes=1MiB"},
      {3, "segment_bytes=2MiB\nsync=none\ndirect_io=true"},
      {3, "io_backend=io_uring\nmax_message_bytes=1KiB"},
      {3, "segment_bytes=1KiB"},
  };
  int n = 0;
  for (const auto &[mode, text] : seeds) {
    char name[32];
    std::snprintf(name, sizeof name, "seed-%d-%02d", mode, n++);
    write_seed(dir, name, std::string(1, mode) + text);
  }
}

// ---- fuzz_capi ------------------------------------------------------------------------------

void capi_seeds(const fs::path &corpus) {
  const fs::path dir = corpus / "fuzz_capi";
  std::uint64_t state = 0x636f7271;  // splitmix64, fixed seed: the same seeds every time
  const auto next = [&state] {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < 32; ++i) {
    const std::size_t length = 32 + next() % 2000;
    std::string bytes;
    for (std::size_t b = 0; b < length; ++b) bytes += static_cast<char>(next() & 0xff);
    char name[32];
    std::snprintf(name, sizeof name, "seed-%02d", i);
    write_seed(dir, name, bytes);
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path corpus(argv[1]);
  log_seeds(corpus);
  options_seeds(corpus);
  capi_seeds(corpus);
  std::printf("seed corpora written to %s\n", argv[1]);
  return 0;
}
