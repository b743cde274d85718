#!/usr/bin/env bash
# Instructions per publish of each routing scenario, from callgrind (see perf/README.md).
#   perf/routing_instructions.sh [BUILD_DIR] [PUBLISHES]      (defaults: build/release, 100000)
# Runs bench/routing's corq_routing_count under valgrind --tool=callgrind for each scenario (plain
# corq_publish, direct exchange, topic with 10 and 10,000 bindings, fanout to 4), counting only
# inside corq_publish / corq_exchange_publish (--toggle-collect): set-up, binds and the purges
# between chunks are not counted, so total ÷ PUBLISHES is the cost of one publish. Deterministic:
# the same binary gives the same counts on any load. Prints one line per scenario, then the top
# functions (self cost, per publish) of the topic scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
n=${2:-100000}
bin=$build/bench/routing/corq_routing_count
[ -x "$bin" ] || { echo "routing_instructions: $bin not built (cmake --build $build --target corq_routing_count)" >&2; exit 2; }
command -v valgrind >/dev/null || tools/install-deps.sh profile >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total() {  # total instructions of a callgrind output file
  callgrind_annotate "$1" 2>/dev/null | grep -E 'PROGRAM TOTALS' | head -1 | awk '{gsub(",","",$1); print $1}'
}

for mode in plain direct topic10 topic10000 topic10000-fresh fanout4; do
  valgrind --tool=callgrind --callgrind-out-file="$work/$mode.out" \
    --toggle-collect=corq_publish --toggle-collect=corq_exchange_publish \
    "$bin" "$mode" "$n" 2>/dev/null >/dev/null
  t=$(total "$work/$mode.out")
  echo "$mode: $(( t / n )) instructions per publish ($n publishes: $t)"
done
for mode in topic10000 topic10000-fresh; do
  echo "--- $mode: top functions by self cost, instructions per publish ---"
  callgrind_annotate "$work/$mode.out" 2>/dev/null |
    awk -v n="$n" '/^ *[0-9,]+ +\(/ || /^ *[0-9,]+ +[^ ]/ {c=$1; gsub(",","",c); if (c+0 >= n) { $1=""; printf "%7.1f %s\n", c/n, $0 } }' |
    grep -v 'PROGRAM TOTALS' | head -20
done
