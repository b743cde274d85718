// tests/sim/main.cpp — corq-sim: the deterministic crash simulator's command line.
//
//   corq-sim --seeds N [--seed-start S] [--verbose] [--no-reorder] [--no-sync-none] [--no-corrupt]
//
// Runs seeds S .. S+N-1 (workload.hpp: each seed's queue part, its streams part, then its
// transactions part), prints each failing seed with what broke and the exact command that replays
// it alone, and ends with the line "N seeds, F failures". Exit code: 0 when every seed passed, 1
// when one failed, 2 for bad arguments.
#include "sim/workload.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

bool parse_count(const char *text, std::uint64_t &out) {
  const char *end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && ptr == end && end != text;
}

int usage(const char *why) {
  std::fprintf(stderr,
               "corq-sim: %s\nusage: corq-sim --seeds N [--seed-start S] [--verbose] "
               "[--no-reorder] [--no-sync-none] [--no-corrupt]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  std::uint64_t seeds = 0;
  std::uint64_t seed_start = 1;
  bool seeds_given = false;
  corq::sim::SimModes modes;
  std::string flags;  // the mode flags, for the replay line
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--seeds" || arg == "--seed-start") && i + 1 < argc) {
      std::uint64_t &target = arg == "--seeds" ? seeds : seed_start;
      if (!parse_count(argv[++i], target)) return usage(("bad number for " + arg).c_str());
      seeds_given |= arg == "--seeds";
    } else if (arg == "--verbose") {
      modes.verbose = true;
    } else if (arg == "--no-reorder") {
      modes.reorder = false, flags += " --no-reorder";
    } else if (arg == "--no-sync-none") {
      modes.sync_none = false, flags += " --no-sync-none";
    } else if (arg == "--no-corrupt") {
      modes.corrupt = false, flags += " --no-corrupt";
    } else {
      return usage(("unknown argument " + arg).c_str());
    }
  }
  if (!seeds_given || seeds == 0) return usage("--seeds N (N >= 1) is required");
  std::uint64_t failures = 0;
  for (std::uint64_t seed = seed_start; seed - seed_start < seeds; ++seed) {
    std::string why = corq::sim::run_seed(seed, modes);
    if (why.empty()) why = corq::sim::run_stream_seed(seed, modes);
    if (why.empty()) why = corq::sim::run_txn_seed(seed, modes);
    if (why.empty()) continue;
    ++failures;
    std::printf(
        "seed %llu FAILED: %s\n  replay: corq-sim --seeds 1 --seed-start %llu%s --verbose\n",
        static_cast<unsigned long long>(seed), why.c_str(), static_cast<unsigned long long>(seed),
        flags.c_str());
    std::fflush(stdout);
  }
  std::printf("%llu seeds, %llu failures\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(failures));
  return failures == 0 ? 0 : 1;
}
