// tests/fuzz/fuzz_input.hpp — what every fuzz target shares: a reader that decodes the fuzzer's
// bytes into choices (never running past the end: an exhausted input reads as zeros), and the
// check that a corq call returned one of the codes its declaration documents.
//
// A target that meets an undocumented code, or a broken invariant, calls fuzz_fail(), which prints
// what happened and aborts: libFuzzer (or the corpus driver under ctest) reports the input.
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace corq::fuzz {

[[noreturn]] inline void fuzz_fail(const char *what, int rc) {
  std::fprintf(stderr, "fuzz: %s (rc %d: %s; detail: %s)\n", what, rc, corq_strerror(rc),
               corq_last_error());
  std::abort();
}

/// rc must be 0 or one of `allowed` (the codes the called function documents).
inline int expect_rc(const char *call, int rc, std::initializer_list<int> allowed) {
  if (rc == CORQ_OK) return rc;
  for (int code : allowed)
    if (rc == code) return rc;
  fuzz_fail(call, rc);
}

/// Decodes the fuzz input front to back. Every read is bounded by what is left.
class Input {
 public:
  Input(const std::uint8_t *data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::size_t left() const { return size_ - pos_; }

  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16() | (std::uint32_t{u16()} << 16)); }
  std::uint64_t u64() { return u32() | (std::uint64_t{u32()} << 32); }
  /// A number in [0, n) (n >= 1).
  std::size_t below(std::size_t n) { return n <= 256 ? u8() % n : u16() % n; }
  bool chance(unsigned percent) { return u8() % 100 < percent; }

  /// Up to `max` bytes: a length byte, then that many bytes (fewer at the end of the input).
  std::string_view bytes(std::size_t max) {
    std::size_t n = u8();
    if (n > max) n = max;
    if (n > left()) n = left();
    std::string_view out(reinterpret_cast<const char *>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  /// The rest of the input.
  std::string_view rest() {
    std::string_view out(reinterpret_cast<const char *>(data_ + pos_), left());
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t *data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace corq::fuzz
