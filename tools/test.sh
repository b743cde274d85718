#!/usr/bin/env bash
# The whole test suite — the README's test command and what CI runs.
#   1. installs missing Debian packages (tools/install-deps.sh; needs root or sudo),
#   2. Release build (GCC): every test,
#   3. ASan + UBSan + LeakSanitizer build (clang): every test,
#   4. TSan build (GCC): the multi-threaded tests (ctest label `concurrency`; only those are built),
#   5. aarch64: everything cross-built for AArch64, the test suite run under qemu
#      (tools/cross-aarch64.sh),
# and ends with one line totalling all passes. Exit status 0 only if everything passed.
# Usage: tools/test.sh [release|asan|tsan|aarch64]...   (default: all four)
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh build test || exit 1

# ccache (CMakeLists.txt): paths relative to this clone's root, so another clone of the same
# sources (CI's fresh clone) hits the cache too; the compile directory out of the hash for the
# same reason (debug info then names the first clone's paths).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true

passes=("$@")
[ ${#passes[@]} -eq 0 ] && passes=(release asan tsan aarch64)
jobs=$(nproc)
total_passed=0 total_failed=0 status=0
# What failed, collected from every pass and printed again just before the last line, so the
# tail of a long CI log (often all that is kept) names the failing tests and their first errors.
failures=$(mktemp)

# The AArch64 pass: its script prints "aarch64: N passed, N failed" as its last line.
run_aarch64() {
  local log line
  log=$(mktemp)
  tools/cross-aarch64.sh 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  line=$(grep -E '^aarch64: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then status=1; total_failed=$((total_failed + 1)); return; fi
  total_passed=$((total_passed + $(echo "$line" | sed -E 's/^aarch64: ([0-9]+) passed.*/\1/')))
  total_failed=$((total_failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
}

for preset in "${passes[@]}"; do
  echo "=== corq tests: $preset ==="
  start=$(date +%s)
  if [ "$preset" = aarch64 ]; then
    run_aarch64
    echo "=== $preset took $(( $(date +%s) - start )) s ==="
    continue
  fi
  if ! cmake --preset "$preset" >"build-$preset.log" 2>&1; then
    cat "build-$preset.log"; echo "configure failed: $preset"; status=1; continue
  fi
  # TSan runs the `concurrency` label only: build just those suites (tests/CMakeLists.txt).
  targets=()
  [ "$preset" = tsan ] && targets=(--target corq_concurrency_tests)
  if ! cmake --build --preset "$preset" -j "$jobs" "${targets[@]}" >>"build-$preset.log" 2>&1; then
    grep -E -B3 -A12 'error|Error' "build-$preset.log" | head -120; echo "build failed: $preset"
    status=1; continue
  fi
  rm -f "build-$preset.log"
  log=$(mktemp)
  ctest --preset "$preset" 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # ctest prints "N% tests passed, F tests failed out of T".
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$line" ]; then
    failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    total=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')
    total_passed=$((total_passed + total - failed))
    total_failed=$((total_failed + failed))
  else
    status=1
  fi
  if grep -q 'The following tests FAILED' "$log"; then
    {
      echo "--- $preset: failed tests ---"
      sed -n '/The following tests FAILED/,/^Errors while running/p' "$log" | grep -E '^[[:space:]]+[0-9]+ - '
      echo "--- $preset: first error lines ---"
      grep -E 'Failure$|Expected|Which is|Value of|Actual|ERROR: |WARNING: ThreadSanitizer|SUMMARY: |runtime error|Timeout|Exception|Subprocess aborted' "$log" | head -40
    } >>"$failures"
  fi
  rm -f "$log"
  echo "=== $preset took $(( $(date +%s) - start )) s ==="
done

if [ -s "$failures" ]; then echo "=== what failed ==="; cat "$failures"; fi
rm -f "$failures"
[ "$status" -eq 0 ] || [ "$total_failed" -gt 0 ] || total_failed=$((total_failed + 1))
echo "all: $total_passed passed, $total_failed failed"
exit "$status"
