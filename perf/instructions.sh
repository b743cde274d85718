#!/usr/bin/env bash
# Instructions per message on the engine's hot path, from callgrind (see perf/README.md).
#   perf/instructions.sh [BUILD_DIR] [MESSAGES]      (defaults: build/release, 102400; rounded up to a multiple of 64)
# Runs bench/engine's corq_engine_count under valgrind --tool=callgrind for each mode (single,
# publish, batch) with MESSAGES and 2×MESSAGES messages; the difference of the two totals divided by
# MESSAGES is the cost of one message with start-up and shutdown cancelled out. Deterministic: the
# same binary gives the same counts on any load. Prints one line per mode and the top functions of
# the larger single and batch runs (inclusive of nothing: self cost, per message).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-102400}
n=$(( (n + 63) / 64 * 64 ))  # the batch mode moves whole batches of 64
bin=$build/bench/corq_engine_count
[ -x "$bin" ] || { echo "instructions: $bin not built (cmake --build $build --target corq_engine_count)" >&2; exit 2; }
command -v valgrind >/dev/null || tools/install-deps.sh profile >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total() {  # total instructions of a callgrind output file
  callgrind_annotate "$1" 2>/dev/null | grep -E 'PROGRAM TOTALS' | head -1 | awk '{gsub(",","",$1); print $1}'
}

for mode in single publish batch; do
  valgrind --tool=callgrind --callgrind-out-file="$work/$mode-1.out" "$bin" "$mode" "$n" 2>/dev/null >/dev/null
  valgrind --tool=callgrind --callgrind-out-file="$work/$mode-2.out" "$bin" "$mode" $((2 * n)) 2>/dev/null >/dev/null
  a=$(total "$work/$mode-1.out") b=$(total "$work/$mode-2.out")
  echo "$mode: $(( (b - a) / n )) instructions per message ($n messages: $a, $((2 * n)): $b)"
done
for mode in single batch; do
  echo "--- $mode: top functions by self cost, instructions per message (2×$n-message run) ---"
  callgrind_annotate "$work/$mode-2.out" 2>/dev/null |
    awk -v n=$((2 * n)) '/^[0-9,]+ +\(/ || /^ *[0-9,]+ +[^ ]/ {c=$1; gsub(",","",c); if (c+0 >= n*2) { $1=""; printf "%7.1f %s\n", c/n, $0 } }' |
    grep -v 'PROGRAM TOTALS' | head -25
done
