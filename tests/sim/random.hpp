// tests/sim/random.hpp — what corq-sim's workloads share: the seeded random numbers (splitmix64:
// the same numbers on every platform) and the exception that ends a seed.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace corq::sim {

/// A failed invariant or an unexpected C API result: ends the seed.
struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// splitmix64 (same numbers on every platform).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  bool one_in(std::uint64_t n) { return below(n) == 0; }

 private:
  std::uint64_t state_;
};

}  // namespace corq::sim
