// tests/support/spawn.hpp — the command line that starts one of the build's programs from a test.
//
// Natively that is just the program. In a cross build whose tests run under an emulator
// (qemu-aarch64: CMAKE_CROSSCOMPILING_EMULATOR, handed to the tests as CORQ_TEST_EMULATOR, its
// words separated by '|'), a test that is itself emulated cannot exec an AArch64 binary directly:
// the host kernel has no binfmt handler for it. So the emulator's command line goes in front, and
// the child is started with posix_spawnp (the emulator is found on PATH).
#pragma once

#include <string>
#include <vector>

namespace corq::test {

/// The argv that runs `program` with `args` here: [emulator words...] program args...
inline std::vector<std::string> child_command(const std::string &program,
                                              const std::vector<std::string> &args = {}) {
  std::vector<std::string> argv;
#ifdef CORQ_TEST_EMULATOR
  const std::string emulator = CORQ_TEST_EMULATOR;
  std::size_t start = 0;
  while (start <= emulator.size()) {
    const std::size_t bar = emulator.find('|', start);
    const std::size_t end = bar == std::string::npos ? emulator.size() : bar;
    if (end > start) argv.push_back(emulator.substr(start, end - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
#endif
  argv.push_back(program);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace corq::test
