#!/usr/bin/env bash
# Cross-builds the whole of corq — the library, corqctl, corq-sim, the fuzz corpus drivers, the
# crash child and every test — for AArch64 with Debian's g++-aarch64-linux-gnu, and runs the test
# suite under qemu-aarch64 (ctest through CMAKE_CROSSCOMPILING_EMULATOR).
#   1. installs missing Debian packages (tools/install-deps.sh build cross; needs root or sudo),
#   2. makes the private AArch64 sysroot (tools/aarch64-sysroot.sh: arm64 liburing and mimalloc
#      from Debian, unpacked, not installed; GoogleTest built for aarch64) into build/aarch64-sysroot,
#   3. configures and builds the `aarch64` preset (cmake/toolchains/aarch64-linux-gnu.cmake;
#      Release -O2, warnings are errors, no benchmarks) into build/aarch64,
#   4. checks in the binaries that the target's code was generated: corq::cpu_relax()'s `isb` in
#      the spin loops of libcorq.so and the ring stress test, and the ARMv8 CRC32C instructions
#      (crc32cx) in libcorq.so. That they are chosen at run time, and that cache_line_bytes is 64,
#      are tests of the suite (Crc32c.implementation_is_named_and_matches_this_cpu,
#      Platform.cache_line_bytes_is_64_on_x86_64_and_aarch64_linux),
#   5. runs `ctest --preset aarch64` and ends with `aarch64: N passed, N failed`.
# Exit status 0 only if the build, the checks and every test passed.
#
# What qemu-user cannot show, and so this pass does not claim:
#   - it runs the guest's memory accesses with the host's (x86 TSO) ordering, so a reordering only
#     a real weakly-ordered ARM core would make cannot appear; it checks AArch64 code generation
#     (LDAR/STLR, LSE or outline atomics, isb), the ABI and the logic;
#   - qemu 7.2 has no io_uring syscalls (io_uring_setup is ENOSYS), so the tests of the io_uring
#     back end skip here, as they do on any machine without io_uring; the psync back end, the
#     simulated disk and io_backend=auto (which falls back to psync) are tested.
#
# Usage: tools/cross-aarch64.sh [ctest args...]   e.g. -R Ring --repeat until-fail:20
# Environment: CORQ_AARCH64_SYSROOT  another sysroot (default build/aarch64-sysroot).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh build cross || exit 1

triple=aarch64-linux-gnu
objdump=$triple-objdump
out=build/aarch64
jobs=$(nproc)
fail() { echo "cross-aarch64: $*"; echo "aarch64: 0 passed, 1 failed"; exit 1; }

for tool in $triple-g++ "$objdump" qemu-aarch64; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

start_all=$(date +%s)
echo "=== corq aarch64: sysroot and build ($($triple-g++ --version | head -1), $(qemu-aarch64 --version | head -1)) ==="
tools/aarch64-sysroot.sh "${CORQ_AARCH64_SYSROOT:-build/aarch64-sysroot}" || fail "sysroot failed"
export CORQ_AARCH64_SYSROOT=$(realpath "${CORQ_AARCH64_SYSROOT:-build/aarch64-sysroot}")
log=build/aarch64.log
mkdir -p build
if ! cmake --preset aarch64 >"$log" 2>&1; then
  cat "$log"; fail "configure failed"
fi
if ! cmake --build --preset aarch64 -j "$jobs" >>"$log" 2>&1; then
  grep -E -B3 -A12 'error|Error' "$log" | head -120; fail "build failed (log: $log)"
fi
echo "=== build took $(( $(date +%s) - start_all )) s (log: $log) ==="

# ---- code generation checks ----
status=0 check_failed=0
echo "=== corq aarch64: target checks ==="
count_insn() {  # binary mnemonic -> how many times it occurs in the disassembly
  "$objdump" -d --no-show-raw-insn "$1" | awk -v m="$2" '$2 == m {n++} END {print n + 0}'
}
lib=$(readlink -f "$out/engine/libcorq.so")
[ -f "$lib" ] || fail "no $out/engine/libcorq.so"
format=$("$objdump" -f "$lib" | sed -nE 's/.*file format (.*)/\1/p')
echo "info: $(basename "$lib"): $format"
[ "$format" = elf64-littleaarch64 ] || { echo "FAILED: $lib is not an AArch64 object"; check_failed=1; }
for bin in "$lib" "$out/tests/ring_stress_test"; do
  n=$(count_insn "$bin" isb)
  echo "info: $(basename "$bin") contains $n isb instruction(s) (corq::cpu_relax in the spin loops)"
  [ "$n" -gt 0 ] || { echo "FAILED: no isb in $bin"; check_failed=1; }
done
n=$(count_insn "$lib" crc32cx)
echo "info: $(basename "$lib") contains $n crc32cx instruction(s) (the ARMv8 CRC-32C path)"
[ "$n" -gt 0 ] || { echo "FAILED: no crc32cx in $lib"; check_failed=1; }
[ $check_failed -eq 0 ] || status=1

# ---- the test suite under qemu ----
echo "=== corq aarch64: ctest --preset aarch64 (qemu-aarch64) ==="
test_log=$(mktemp)
ctest --preset aarch64 "$@" 2>&1 | tee "$test_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# ctest prints "N% tests passed, F tests failed out of T".
line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$test_log" | tail -1)
skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .*\(Skipped\)$' "$test_log")
rm -f "$test_log"
passed=0 failed=0
if [ -n "$line" ]; then
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((total - failed))
else
  status=1
fi

echo
echo "=== corq aarch64: summary (qemu-aarch64, total $(( $(date +%s) - start_all )) s) ==="
echo "ctest: ${line:-no summary line} ($skipped of them skipped: see 'The following tests did not run')"
[ $check_failed -eq 0 ] || echo "target checks: FAILED (see above)"
# A failed check counts as one failure so the total never says "0 failed" with a bad exit.
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))
echo "aarch64: $passed passed, $failed failed"
exit "$status"
