// wal/record/crc32c.hpp — CRC-32C (Castagnoli), the checksum of every log frame.
//
// Hardware where the CPU has it: SSE4.2's crc32 instruction on x86-64, the ARMv8 CRC32C
// instructions on AArch64 (detected at run time); a table-driven portable fallback elsewhere.
// All three give identical results (tests check them against each other and known vectors).
#pragma once

#include <cstddef>
#include <cstdint>

namespace corq::wal {

/// Extends `crc` (start with 0) over `bytes` bytes at `data`.
std::uint32_t crc32c(std::uint32_t crc, const void *data, std::size_t bytes) noexcept;

/// The portable implementation (for tests and for CPUs without the instructions).
std::uint32_t crc32c_portable(std::uint32_t crc, const void *data, std::size_t bytes) noexcept;

/// Which implementation crc32c() uses here: "sse4.2", "armv8-crc" or "portable".
const char *crc32c_implementation() noexcept;

}  // namespace corq::wal
