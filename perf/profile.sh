#!/usr/bin/env bash
# Profiles a command two ways (see perf/README.md):
#   perf/profile.sh flame OUT.svg -- COMMAND [ARGS...]
#       perf record (cpu-clock, which works without hardware counters on virtual machines, with
#       DWARF call chains) -> perf/flamegraph.py -> OUT.svg, plus the top functions printed.
#   perf/profile.sh callgrind OUT_PREFIX -- COMMAND [ARGS...]
#       valgrind --tool=callgrind: instruction counts, repeatable on a noisy machine (the same
#       binary and inputs give the same total); writes OUT_PREFIX.out and OUT_PREFIX.txt (the
#       annotated top functions) and prints the total. Divide by the messages the command moved
#       for instructions per message.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: perf/profile.sh flame|callgrind OUT -- COMMAND [ARGS...]" >&2; exit 2; }
[ $# -ge 4 ] && [ "$3" = "--" ] || usage
mode=$1 out=$2
shift 3
python=/usr/bin/python3
[ -x "$python" ] || python=python3
tools/install-deps.sh profile >/dev/null
case "$mode" in
  flame)
    data=$(mktemp --suffix=.perf.data)
    trap 'rm -f "$data"' EXIT
    perf record -q -e cpu-clock -F 2000 --call-graph dwarf,16384 -o "$data" -- "$@"
    perf report -i "$data" --no-children --stdio --percent-limit 2 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -20
    perf script -i "$data" 2>/dev/null | "$python" perf/flamegraph.py --title "$*" > "$out"
    echo "profile: flame graph $out"
    ;;
  callgrind)
    valgrind --tool=callgrind --callgrind-out-file="$out.out" -- "$@" 2> "$out.log"
    callgrind_annotate "$out.out" 2>/dev/null | head -60 > "$out.txt"
    total=$(grep -E '^[0-9,]+ .*PROGRAM TOTALS' "$out.txt" | head -1 | awk '{print $1}')
    echo "profile: ${total:-?} instructions (PROGRAM TOTALS); annotated top functions in $out.txt"
    ;;
  *) usage ;;
esac
