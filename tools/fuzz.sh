#!/usr/bin/env bash
# Runs corq's libFuzzer targets (tests/fuzz/) for a given time each.
# Usage: tools/fuzz.sh SECONDS [TARGET...]    (default: every target)
#   targets: fuzz_log_recovery fuzz_options fuzz_capi
#
# Builds build/fuzz with clang: the targets link with -fsanitize=fuzzer,address,undefined and the
# library is instrumented too (-fsanitize=fuzzer-no-link), so coverage counts corq's own code.
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/) plus what earlier runs
# found (build/fuzz/work/<target>/, where new inputs go); crashes, leaks and timeouts are saved to
# build/fuzz/crashes/<target>/. Ends with one summary line per target (executions, exec/s,
# coverage, corpus size, new crash files) and exits 1 if any target found a crash.
# A crash becomes a regression input: fix it, then copy the file into tests/fuzz/corpus/<target>/
# (ctest runs every corpus file in the normal builds).
set -uo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_log_recovery fuzz_options fuzz_capi)
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
  echo "usage: tools/fuzz.sh SECONDS [TARGET...]   (targets: ${all_targets[*]})" >&2
  exit 2
fi
seconds=$1
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " =~ " $t " ]]; then
    echo "tools/fuzz.sh: unknown target '$t' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

command -v clang++ >/dev/null || tools/install-deps.sh build test || exit 1
build=build/fuzz
if ! cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORQ_FUZZ=ON \
      -DCORQ_SANITIZE=address -DCORQ_BUILD_BENCH=OFF -DCORQ_BUILD_TOOLS=OFF \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
      >"$build.configure.log" 2>&1; then
  cat "$build.configure.log"; echo "tools/fuzz.sh: configure failed" >&2; exit 1
fi
if ! cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$build.build.log" 2>&1; then
  grep -E -B3 -A12 'error' "$build.build.log" | head -80; echo "tools/fuzz.sh: build failed" >&2
  exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
summary=()
for t in "${targets[@]}"; do
  work=$build/work/$t crashes=$build/crashes/$t log=$build/$t.log
  mkdir -p "$work" "$crashes"
  before=$(ls "$crashes" | wc -l)
  echo "=== $t: ${seconds}s (log: $log) ==="
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: the SimVfs keeps segments in memory.
  "$build/tests/fuzz/$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" >"$log" 2>&1
  rc=$?
  tail -n 25 "$log" | grep -E 'DONE|stat::|ERROR|SUMMARY' || true
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
  corp=$(echo "$last" | sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p')
  found=$(( $(ls "$crashes" | wc -l) - before ))
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then status=1; fi
  summary+=("$t: ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, new crashes ${found} (exit $rc)")
done
echo "=== summary (${seconds}s per target) ==="
printf '%s\n' "${summary[@]}"
[ "$status" -eq 0 ] || echo "crash inputs are in $build/crashes/<target>/ — reproduce with: $build/tests/fuzz/<target> FILE"
exit "$status"
