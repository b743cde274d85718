// Tests of CRC-32C: the published check values, the hardware implementation (SSE4.2 / ARMv8 CRC,
// whichever this CPU has) against the portable one on every length 0..1024 at every alignment, and
// resuming from a previous result.
#include "record/crc32c.hpp"

#include <gtest/gtest.h>

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using corq::wal::crc32c;
using corq::wal::crc32c_implementation;
using corq::wal::crc32c_portable;

/// Both implementations, so every known-answer test checks each of them.
using CrcFn = std::uint32_t (*)(std::uint32_t, const void *, std::size_t) noexcept;
struct Named {
  CrcFn fn;
  const char *name;
};
const Named implementations[] = {{crc32c, "crc32c (dispatched)"},
                                 {crc32c_portable, "crc32c_portable"}};

TEST(Crc32c, check_value_of_123456789_is_e3069283) {
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, "123456789", 9), 0xE3069283u);
  }
}

TEST(Crc32c, rfc3720_iscsi_vectors) {
  std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF), ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<unsigned char>(i);
    descending[i] = static_cast<unsigned char>(31 - i);
  }
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, zeros.data(), zeros.size()), 0x8A9136AAu);
    EXPECT_EQ(impl.fn(0, ones.data(), ones.size()), 0x62A8AB43u);
    EXPECT_EQ(impl.fn(0, ascending.data(), ascending.size()), 0x46DD794Eu);
    EXPECT_EQ(impl.fn(0, descending.data(), descending.size()), 0x113FDB5Cu);
  }
}

TEST(Crc32c, rfc3720_iscsi_read_command_pdu) {
  // RFC 3720 B.4: a 48-byte iSCSI Read (10) command PDU.
  const unsigned char pdu[48] = {0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                 0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, pdu, sizeof(pdu)), 0xD9963A56u);
  }
}

TEST(Crc32c, empty_input_returns_the_crc_unchanged) {
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, nullptr, 0), 0u);
    EXPECT_EQ(impl.fn(0xE3069283u, nullptr, 0), 0xE3069283u);
    EXPECT_EQ(impl.fn(0x12345678u, "x", 0), 0x12345678u);
  }
}

TEST(Crc32c, single_bytes) {
  // Known values: crc32c of one byte "a" and of one zero byte.
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(0, "a", 1), 0xC1D04330u);
    const unsigned char zero = 0;
    EXPECT_EQ(impl.fn(0, &zero, 1), 0x527D5351u);
  }
}

TEST(Crc32c, implementation_is_named_and_matches_this_cpu) {
  const std::string name = crc32c_implementation();
#if defined(__x86_64__)
  __builtin_cpu_init();
  EXPECT_EQ(name, __builtin_cpu_supports("sse4.2") ? "sse4.2" : "portable");
#elif defined(__aarch64__) && defined(__linux__)
  // What the kernel says this core has (qemu-aarch64 emulates a core with the CRC32 extension).
  EXPECT_EQ(name, (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0 ? "armv8-crc" : "portable");
#elif defined(__aarch64__)
  EXPECT_TRUE(name == "armv8-crc" || name == "portable") << name;
#else
  EXPECT_EQ(name, "portable");
#endif
  std::printf("crc32c implementation: %s\n", name.c_str());
}

TEST(Crc32c, hardware_equals_portable_for_every_length_and_alignment) {
  constexpr std::size_t length_max = 1024;
  constexpr std::size_t alignments = 16;
  std::mt19937_64 random(0xC0FFEE);
  // Over-allocated so that every (alignment, length) window lies inside it.
  std::vector<unsigned char> bytes(length_max + alignments + 8);
  for (unsigned char &b : bytes) b = static_cast<unsigned char>(random());
  for (std::size_t alignment = 0; alignment < alignments; ++alignment) {
    for (std::size_t length = 0; length <= length_max; ++length) {
      const unsigned char *p = bytes.data() + alignment;
      const std::uint32_t seed = static_cast<std::uint32_t>(random());
      ASSERT_EQ(crc32c(0, p, length), crc32c_portable(0, p, length))
          << "alignment " << alignment << " length " << length;
      ASSERT_EQ(crc32c(seed, p, length), crc32c_portable(seed, p, length))
          << "alignment " << alignment << " length " << length << " seed " << seed;
    }
  }
}

TEST(Crc32c, hardware_equals_portable_on_large_buffers) {
  std::mt19937_64 random(42);
  std::vector<unsigned char> bytes((1u << 20) + 13);
  for (unsigned char &b : bytes) b = static_cast<unsigned char>(random());
  EXPECT_EQ(crc32c(0, bytes.data(), bytes.size()), crc32c_portable(0, bytes.data(), bytes.size()));
  EXPECT_EQ(crc32c(0, bytes.data() + 3, bytes.size() - 3),
            crc32c_portable(0, bytes.data() + 3, bytes.size() - 3));
}

TEST(Crc32c, incremental_equals_one_shot_at_every_split) {
  std::mt19937_64 random(7);
  std::vector<unsigned char> bytes(300);
  for (unsigned char &b : bytes) b = static_cast<unsigned char>(random());
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    const std::uint32_t whole = impl.fn(0, bytes.data(), bytes.size());
    for (std::size_t split = 0; split <= bytes.size(); ++split) {
      const std::uint32_t first = impl.fn(0, bytes.data(), split);
      ASSERT_EQ(impl.fn(first, bytes.data() + split, bytes.size() - split), whole)
          << "split at " << split;
    }
    // Three pieces of uneven sizes, and byte by byte.
    std::uint32_t crc = impl.fn(0, bytes.data(), 1);
    crc = impl.fn(crc, bytes.data() + 1, 150);
    crc = impl.fn(crc, bytes.data() + 151, bytes.size() - 151);
    EXPECT_EQ(crc, whole);
    crc = 0;
    for (unsigned char b : bytes) crc = impl.fn(crc, &b, 1);
    EXPECT_EQ(crc, whole);
  }
}

TEST(Crc32c, check_value_resumed_from_a_prefix) {
  const char *text = "123456789";
  for (const Named &impl : implementations) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(impl.fn(0, text, 4), text + 4, 5), 0xE3069283u);
  }
}

TEST(Crc32c, detects_every_single_bit_flip_in_a_frame_sized_buffer) {
  std::vector<unsigned char> bytes(4096);
  std::mt19937_64 random(1);
  for (unsigned char &b : bytes) b = static_cast<unsigned char>(random());
  const std::uint32_t good = crc32c(0, bytes.data(), bytes.size());
  for (std::size_t bit = 0; bit < bytes.size() * 8; bit += 7) {
    bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    ASSERT_NE(crc32c(0, bytes.data(), bytes.size()), good) << "bit " << bit;
    bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
  }
}

}  // namespace
