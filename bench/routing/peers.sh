#!/usr/bin/env bash
# bench/routing/peers.sh — the routing peers comparison: the topic scenario with 10,000 bindings on
# corq and on RabbitMQ's topic exchange, transient and durable, in rounds, written as JSON lines for
# perf/report_routing_peers.py (tools/bench.sh --suite routing_peers calls it).
#
# Usage: peers.sh --bench PATH/corq_routing_peers --work DIR --out FILE.jsonl [--quick]
#                 [--rounds N] [--publishes N]
#   default (full): 3 rounds of 50,000 publishes per system; --quick: 1 round of 5,000
# Each round: corq transient, corq durable (sync=always, data under DIR), then RabbitMQ started
# (bench/peers/servers.sh: private ports and directory on 127.0.0.1) for its transient and durable
# runs, and stopped again, so no idle server runs next to corq. One publishing thread, batches of
# 100 whose confirms are awaited, no consumer; each run checks that all messages landed in the
# queues their keys route to. A RabbitMQ that does not start is written as skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
servers=$here/../peers/servers.sh

bench="" work="" out="" quick=0 rounds="" publishes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --publishes) publishes=$2; shift ;;
    *) echo "peers.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$bench" ] && [ -n "$work" ] && [ -n "$out" ] || { sed -n '6,8p' "$0" >&2; exit 2; }
[ -x "$bench" ] || { echo "peers.sh: $bench is not an executable" >&2; exit 2; }
if [ "$quick" -eq 1 ]; then
  : "${rounds:=1}" "${publishes:=5000}"
else
  : "${rounds:=3}" "${publishes:=50000}"
fi
run_limit_s=600  # one run; a stuck broker must not hold the machine

mkdir -p "$work" "$(dirname "$out")"
work=$(cd "$work" && pwd)
: >"$out"
trap '"$servers" stop rabbitmq "$work/rabbitmq" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

status=0
# run ROUND SYSTEM DURABLE [ARG]...: one run, its JSON line (with the round) appended to $out.
run() {
  local round=$1 system=$2 durable=$3 line
  shift 3
  if line=$(timeout "$run_limit_s" "$bench" --system "$system" --durable "$durable" \
              --publishes "$publishes" "$@"); then
    echo "${line%\}}, \"round\": $round}" | tee -a "$out"
  else
    echo "peers.sh: $system durable=$durable failed in round $round" >&2
    status=1
  fi
}

for round in $(seq 1 "$rounds"); do
  run "$round" corq 0
  rm -rf "$work/corq"
  run "$round" corq 1 --dir "$work/corq"
  rm -rf "$work/corq"
  if port=$("$servers" start rabbitmq "$work/rabbitmq"); then
    run "$round" rabbitmq 0 --port "$port"
    run "$round" rabbitmq 1 --port "$port"
    "$servers" stop rabbitmq "$work/rabbitmq"
  else
    echo "{\"system\": \"rabbitmq\", \"skipped\": \"the server did not start\", \"round\": $round}" |
      tee -a "$out"
  fi
  rm -rf "$work/rabbitmq"
done
exit "$status"
