#!/usr/bin/env bash
# Cross-builds corq's ring tests and the log's CRC-32C test for AArch64 and runs them under qemu-user
# — the check that the rings, the blocking layer and the checksum build warning-free, pick the right
# per-target constants and code (ARMv8 CRC32C instructions) and pass on ARM64.
# Caveat: qemu-user on an x86-64 host runs the guest's memory accesses with the host's (TSO) ordering,
# so this cannot expose a reordering only a real weakly-ordered ARM core would make; it checks the
# AArch64 code generation (LDAR/STLR, LSE/outline atomics, isb), the ABI and the logic.
#   1. installs missing Debian packages (tools/install-deps.sh cross; needs root or sudo),
#   2. builds GoogleTest for aarch64 from Debian's sources (/usr/src/googletest) once, into
#      build/aarch64/gtest (rebuilt when the compiler or the googletest package changes),
#   3. builds ring_unit_test, ring_stress_test and event_count_test (+ engine/sync/event_count.cpp)
#      and wal_crc32c_test (+ wal/record/crc32c.cpp) with
#      aarch64-linux-gnu-g++ -std=c++20 -O2 -Wall -Wextra -Wpedantic -Werror,
#   4. checks the target facts the rings depend on: corq::cache_line_bytes is 64 on aarch64 Linux
#      (printed by a probe run under qemu) and corq::cpu_relax() compiles to `isb` (disassembly);
#      and that crc32c uses the ARMv8 CRC32C instructions: crc32cx in its code, and chosen at run
#      time under qemu (a second probe prints crc32c_implementation() and the check value),
#   5. runs each test binary under `qemu-aarch64 -L /usr/aarch64-linux-gnu`, prints gtest's summary
#      lines per binary and one line totalling them (`aarch64: N passed, N failed`).
# Exit status 0 only if the build, the checks and every test passed.
#
# Plain compiler invocations, no CMake: the top-level CMakeLists.txt requires liburing and mimalloc,
# which the ring tests do not use and which would have to be installed for arm64 as well.
#
# Usage: tools/cross-aarch64.sh [gtest flags...]   e.g. --gtest_filter='MpmcRing*' --gtest_repeat=100
# The flags go to every test binary. With --gtest_repeat the counts are those of the last repetition;
# a failure in any repetition still fails the run (non-zero exit, at least one failure counted).
# All four binaries take ~3 s under qemu on 2 cores (the first run also builds GoogleTest, ~15 s).
# Environment: CORQ_CROSS_TIMEOUT  seconds allowed per test binary under qemu (default 900).
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh cross || exit 1

triple=aarch64-linux-gnu
cxx=$triple-g++
ar=$triple-ar
objdump=$triple-objdump
sysroot=/usr/$triple
qemu=(qemu-aarch64 -L "$sysroot")
gtest_root=/usr/src/googletest/googletest
out=build/aarch64
timeout_s=${CORQ_CROSS_TIMEOUT:-900}
jobs=$(nproc)

for tool in "$cxx" "$ar" "$objdump" qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "cross-aarch64: $tool not found" >&2; exit 1; }
done
if [ ! -f "$gtest_root/src/gtest-all.cc" ]; then
  echo "cross-aarch64: GoogleTest sources missing ($gtest_root); install the Debian package" \
       "googletest (or libgtest-dev, which depends on it)" >&2
  exit 1
fi
mkdir -p "$out/gtest" "$out/obj" "$out/bin"

# corq's own code: the project's flags (CMake: C++20, Release -O2 here, corq_warnings).
common=(-std=c++20 -O2 -pthread)
warn=(-Wall -Wextra -Wpedantic -Werror)
corq_inc=(-Iengine/include -Iengine -Iwal -Itests)
gtest_inc=(-isystem "$gtest_root/include")

# Runs up to $jobs compile commands at once; each command is one string run by bash, its output
# going to a log that is shown only on failure. Returns non-zero if any command failed.
pending=() failed_build=0
run_parallel() {  # name command...
  local name=$1; shift
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  ( "$@" >"$out/obj/$name.log" 2>&1 || { echo "--- $name failed:"; cat "$out/obj/$name.log"; exit 1; } ) &
  pending+=($!)
}
wait_all() {
  local pid
  for pid in "${pending[@]}"; do wait "$pid" || failed_build=1; done
  pending=()
  return $failed_build
}

start_all=$(date +%s)
echo "=== corq aarch64: build ($($cxx --version | head -1)) ==="

# ---- GoogleTest for aarch64, from Debian's sources; cached across runs ----
stamp="$($cxx --version | head -1) | googletest $(dpkg-query -W -f='${Version}' googletest 2>/dev/null)"
if [ ! -f "$out/gtest/libgtest_main.a" ] || [ "$(cat "$out/gtest/stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "building GoogleTest from $gtest_root"
  rm -f "$out/gtest/"*.a "$out/gtest/stamp"
  for src in gtest-all gtest_main; do
    run_parallel "$src" "$cxx" "${common[@]}" -I"$gtest_root" "${gtest_inc[@]}" \
      -c "$gtest_root/src/$src.cc" -o "$out/gtest/$src.o"
  done
  wait_all || { echo "cross-aarch64: GoogleTest build failed"; exit 1; }
  "$ar" rcs "$out/gtest/libgtest.a" "$out/gtest/gtest-all.o" &&
    "$ar" rcs "$out/gtest/libgtest_main.a" "$out/gtest/gtest_main.o" || exit 1
  echo "$stamp" >"$out/gtest/stamp"
fi

# ---- corq: event_count.cpp as in corq_objects, crc32c.cpp as in corq_wal (both PIC, hidden
# visibility), the tests, two probes ----
tests=(ring_unit_test ring_stress_test event_count_test wal_crc32c_test)
declare -A test_source=(
  [ring_unit_test]=tests/ring/ring_unit_test.cpp
  [ring_stress_test]=tests/ring/ring_stress_test.cpp
  [event_count_test]=tests/ring/event_count_test.cpp
  [wal_crc32c_test]=tests/wal/crc32c_test.cpp
)
declare -A test_objects=(
  [ring_unit_test]="$out/obj/event_count.o"
  [ring_stress_test]="$out/obj/event_count.o"
  [event_count_test]="$out/obj/event_count.o"
  [wal_crc32c_test]="$out/obj/crc32c.o"
)
cat >"$out/obj/probe.cpp" <<'EOF'
// Generated by tools/cross-aarch64.sh: prints the target facts the rings depend on.
#include <corq/mpmc_ring.hpp>
#include <corq/platform.hpp>
#include <corq/spsc_ring.hpp>

#include <cstdio>

extern "C" __attribute__((noinline)) void corq_probe_cpu_relax() { corq::cpu_relax(); }

int main() {
  corq_probe_cpu_relax();
#if defined(__aarch64__) && defined(__linux__) && !defined(__APPLE__)
  const char *target = "aarch64-linux";
#else
  const char *target = "NOT aarch64-linux";
#endif
  std::printf("target=%s cache_line_bytes=%zu sizeof(SpscRing<int>)=%zu sizeof(MpmcRing<int>)=%zu\n",
              target, corq::cache_line_bytes, sizeof(corq::SpscRing<int>),
              sizeof(corq::MpmcRing<int>));
  return corq::cache_line_bytes == 64 ? 0 : 1;
}
EOF
cat >"$out/obj/crc32c_probe.cpp" <<'EOF'
// Generated by tools/cross-aarch64.sh: which CRC-32C implementation runs here, and its check value.
#include "record/crc32c.hpp"

#include <cstdio>
#include <cstring>

int main() {
  const char *name = corq::wal::crc32c_implementation();
  const unsigned check = corq::wal::crc32c(0, "123456789", 9);
  std::printf("crc32c implementation=%s check=0x%08x\n", name, check);
  return std::strcmp(name, "armv8-crc") == 0 && check == 0xE3069283u ? 0 : 1;
}
EOF
run_parallel event_count "$cxx" "${common[@]}" "${warn[@]}" "${corq_inc[@]}" -fPIC \
  -fvisibility=hidden -fvisibility-inlines-hidden -DCORQ_BUILDING_LIBRARY \
  -c engine/sync/event_count.cpp -o "$out/obj/event_count.o"
run_parallel crc32c "$cxx" "${common[@]}" "${warn[@]}" "${corq_inc[@]}" -fPIC \
  -fvisibility=hidden -fvisibility-inlines-hidden \
  -c wal/record/crc32c.cpp -o "$out/obj/crc32c.o"
for t in "${tests[@]}"; do
  run_parallel "$t" "$cxx" "${common[@]}" "${warn[@]}" "${corq_inc[@]}" "${gtest_inc[@]}" \
    -c "${test_source[$t]}" -o "$out/obj/$t.o"
done
run_parallel probe "$cxx" "${common[@]}" "${warn[@]}" "${corq_inc[@]}" \
  "$out/obj/probe.cpp" -o "$out/bin/probe"
run_parallel crc32c_probe "$cxx" "${common[@]}" "${warn[@]}" "${corq_inc[@]}" \
  -c "$out/obj/crc32c_probe.cpp" -o "$out/obj/crc32c_probe.o"
wait_all || { echo "cross-aarch64: build failed"; echo "aarch64: 0 passed, 1 failed"; exit 1; }
for t in "${tests[@]}"; do
  "$cxx" -pthread "$out/obj/$t.o" ${test_objects[$t]} \
    "$out/gtest/libgtest_main.a" "$out/gtest/libgtest.a" -o "$out/bin/$t" ||
    { echo "cross-aarch64: link failed: $t"; echo "aarch64: 0 passed, 1 failed"; exit 1; }
done
"$cxx" -pthread "$out/obj/crc32c_probe.o" "$out/obj/crc32c.o" -o "$out/bin/crc32c_probe" ||
  { echo "cross-aarch64: link failed: crc32c_probe"; echo "aarch64: 0 passed, 1 failed"; exit 1; }
echo "=== build took $(( $(date +%s) - start_all )) s ==="

# ---- target checks ----
status=0 check_failed=0
echo "=== corq aarch64: target checks ==="
if probe_out=$("${qemu[@]}" "$out/bin/probe"); then
  echo "ok: $probe_out"
else
  echo "FAILED: corq::cache_line_bytes is not 64 on aarch64 Linux: ${probe_out:-probe did not run}"
  check_failed=1
fi
relax_asm=$("$objdump" -d --no-show-raw-insn --disassemble=corq_probe_cpu_relax "$out/bin/probe" |
            awk '/<corq_probe_cpu_relax>:/{f=1; next} f && NF==0 {exit} f {sub(/^ *[0-9a-f]+:[ \t]*/, ""); print}')
if grep -qx 'isb' <<<"$relax_asm"; then
  echo "ok: corq::cpu_relax() compiles to: $(paste -sd';' <<<"$relax_asm" | sed 's/;/; /g')"
else
  echo "FAILED: corq::cpu_relax() has no isb; it compiles to: $(paste -sd';' <<<"$relax_asm")"
  check_failed=1
fi
# Where the spin loops ended up in the test binaries (EventCount::await is inlined into callers).
for t in ring_stress_test event_count_test; do
  n=$("$objdump" -d --no-show-raw-insn "$out/bin/$t" | awk '$2 == "isb" && NF == 2 {n++} END {print n + 0}')
  echo "info: $t contains $n isb instruction(s)"
  [ "$n" -gt 0 ] || { echo "FAILED: no isb in $t's spin loops"; check_failed=1; }
done
if crc_out=$("${qemu[@]}" "$out/bin/crc32c_probe"); then
  echo "ok: $crc_out"
else
  echo "FAILED: crc32c does not use the ARMv8 CRC32C instructions here: ${crc_out:-probe did not run}"
  check_failed=1
fi
n=$("$objdump" -d --no-show-raw-insn "$out/obj/crc32c.o" | awk '$2 == "crc32cx" {n++} END {print n + 0}')
echo "info: crc32c.o contains $n crc32cx instruction(s)"
[ "$n" -gt 0 ] || { echo "FAILED: no crc32cx in crc32c.o"; check_failed=1; }
[ $check_failed -eq 0 ] || status=1

# ---- run under qemu ----
total_passed=0 total_failed=0 summaries=()
for t in "${tests[@]}"; do
  echo "=== corq aarch64: $t (qemu-aarch64) ==="
  log="$out/$t.log"
  t_start=$(date +%s)
  timeout -k 10 "$timeout_s" "${qemu[@]}" "$out/bin/$t" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - t_start ))
  # gtest's own summary: from the last "[==========] N tests from M test suites ran." to the end.
  summary=$(awk '/^\[==========\] [0-9]+ tests? from .* ran\./ {block = ""; f = 1}
                 f {block = block $0 "\n"} END {printf "%s", block}' "$log")
  if [ -z "$summary" ]; then
    # No summary: the binary crashed, hung (timeout sends TERM: rc 124, then KILL: 137) or died.
    why="exited with status $rc"; [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out (${timeout_s} s)"
    summaries+=("$t: no gtest summary — $why after ${secs} s")
    total_failed=$((total_failed + 1)); status=1; continue
  fi
  summaries+=("--- $t (${secs} s, exit status $rc)")
  while IFS= read -r line; do summaries+=("$line"); done <<<"$summary"
  passed=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' <<<"$summary")
  failed=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:.*/\1/p' <<<"$summary")
  total_passed=$((total_passed + ${passed:-0}))
  total_failed=$((total_failed + ${failed:-0}))
  # A non-zero exit with an all-passed summary (e.g. a crash in a static destructor) still fails.
  if [ "$rc" -ne 0 ]; then status=1; [ -n "$failed" ] || total_failed=$((total_failed + 1)); fi
done

echo
echo "=== corq aarch64: summary (qemu-aarch64, total $(( $(date +%s) - start_all )) s) ==="
for s in "${summaries[@]}"; do [ -n "$s" ] && echo "$s"; done
[ $check_failed -eq 0 ] || echo "target checks: FAILED (see above)"
# A failed target check counts as one failure so the total never says "0 failed" with a bad exit.
[ "$status" -eq 0 ] || [ "$total_failed" -gt 0 ] || total_failed=$((total_failed + 1))
echo "aarch64: $total_passed passed, $total_failed failed"
exit "$status"
