#!/usr/bin/env bash
# Hunts flakes: runs the test suites whose outcome depends on real time (ctest label `timing`:
# `unit-timing` and `concurrency-timing`, see tests/CMakeLists.txt) again and again for a given
# time, natively (the Release build) or under qemu-aarch64 (the cross build of
# tools/cross-aarch64.sh), and stops at the first failure with its output. A flake found this way
# is a bug to fix, never a retry to add.
#
# Usage: tools/repeat-timing.sh native|aarch64 MINUTES [ctest args...]
#   e.g. tools/repeat-timing.sh native 30
#        tools/repeat-timing.sh aarch64 30 -E CrashTest     (more rounds of the rest)
# Prints one line per round and ends with `repeat-timing: R rounds, T tests passed, F failed in S s`.
# Exit status 0 only if every round passed.
set -uo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
minutes=${2:-}
if [ -z "$target" ] || [ -z "$minutes" ] || ! [[ "$minutes" =~ ^[0-9]+$ ]]; then
  echo "usage: tools/repeat-timing.sh native|aarch64 MINUTES [ctest args...]" >&2
  exit 2
fi
shift 2

case "$target" in
  native)
    tools/install-deps.sh build test || exit 1
    cmake --preset release >/dev/null || exit 1
    cmake --build --preset release -j "$(nproc)" >build/repeat-timing-build.log 2>&1 ||
      { tail -50 build/repeat-timing-build.log; exit 1; }
    ctest_cmd=(ctest --preset release)
    ;;
  aarch64)
    # Builds everything and runs the timing suites once (round 1); the rounds below reuse the build.
    tools/cross-aarch64.sh -L timing "$@" | tail -3
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "repeat-timing: the first aarch64 round failed"; exit 1; }
    ctest_cmd=(ctest --preset aarch64)
    ;;
  *)
    echo "repeat-timing: unknown target '$target' (native or aarch64)" >&2
    exit 2
    ;;
esac

start=$(date +%s)
deadline=$((start + minutes * 60))
rounds=0 passed=0 failed=0
log=$(mktemp)
while [ "$(date +%s)" -lt "$deadline" ]; do
  rounds=$((rounds + 1))
  round_start=$(date +%s)
  # The preset's own settings (output on failure, timeouts) apply; -j2: the machine's two cores.
  "${ctest_cmd[@]}" -L timing -j "$(nproc)" "$@" >"$log" 2>&1
  rc=$?
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  total=$(echo "$line" | sed -E 's/.* out of ([0-9]+).*/\1/')
  bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/')
  [ -n "$total" ] || { total=0; bad=1; }
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  echo "round $rounds: $((total - bad))/$total passed in $(($(date +%s) - round_start)) s"
  if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
    grep -E -A40 'FAILED|Failure|\*\*\*Failed|Timeout' "$log" | head -200
    break
  fi
done
rm -f "$log"
echo "repeat-timing: $rounds rounds, $passed tests passed, $failed failed in $(($(date +%s) - start)) s ($target)"
[ "$failed" -eq 0 ]
