#!/usr/bin/env bash
# bench/peers/run.sh — the peers suite's runs: the durable work-queue scenario on corq and each peer,
# in rounds, written as JSON lines for perf/report_peers.py (tools/bench.sh --suite peers calls it).
#
# Usage: run.sh --bench PATH/corq_peers_bench --work DIR --out FILE.jsonl [--quick]
#               [--rounds N] [--messages N] [--sizes 64,1024] [--systems a,b,...] [--verify-fsync]
#   --quick          1 round of 10,000 messages, 64 B only (numbers are not meaningful)
#   default (full):  3 rounds of 100,000 messages, 64 B and 1 KiB
#   --verify-fsync   also count fsync/fdatasync/io_uring_enter calls with strace -f -c during a
#                    short extra run of each system (the servers' processes are attached to);
#                    the counts go into FILE as "verify" lines
# Every system runs the same scenario: 2 producers publishing batches of 100 with confirms (each
# batch's confirms awaited before the next), 2 consumers with prefetch 100 acking each message.
# Embedded systems (corq durable, RocksDB, SQLite) keep their data in DIR (the same disk); servers
# (bench/peers/servers.sh) are started for their runs of each round and always stopped (trap).
# A system that is not built or whose server does not start is written as skipped, with the reason;
# the suite goes on. Exit status 1 if a run failed, lost, corrupted or silently repeated a message,
# or corq delivered anything other than exactly once (a peer's repeats that it flags as
# redeliveries are allowed and reported: at-least-once delivery).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bench="" work="" out="" quick=0 rounds="" messages="" sizes="" systems="" verify=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --messages) messages=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --systems) systems=$2; shift ;;
    --verify-fsync) verify=1 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$bench" ] && [ -n "$work" ] && [ -n "$out" ] || { sed -n '4,8p' "$0" >&2; exit 2; }
[ -x "$bench" ] || { echo "run.sh: $bench is not an executable" >&2; exit 2; }
if [ "$verify" -eq 1 ] && ! command -v strace >/dev/null; then
  echo "run.sh: --verify-fsync needs strace (apt-get install strace); not verifying" >&2
  verify=0
fi
if [ "$quick" -eq 1 ]; then
  : "${rounds:=1}" "${messages:=10000}" "${sizes:=64}"
else
  : "${rounds:=3}" "${messages:=100000}" "${sizes:=64,1024}"
fi
: "${systems:=corq-durable,corq-transient,corq-stream,rabbitmq-classic,rabbitmq-quorum,redis-streams,rocksdb,sqlite}"
producers=2 consumers=2 batch=100 prefetch=100
run_limit_s=600  # one run; a stuck peer must not hold the machine

mkdir -p "$work" "$(dirname "$out")"
work=$(cd "$work" && pwd)
: >"$out"
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a system_list <<<"$systems"
mapfile -t built < <("$bench" --list)

json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
emit() { echo "$1" >>"$out"; }

# Servers started by this script, stopped on any exit.
running=()
stop_all() {
  local s
  for s in "${running[@]}"; do "$here/servers.sh" stop "$s" "$work/$s" || true; done
  running=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

server_of() {
  case "$1" in rabbitmq-*) echo rabbitmq ;; redis-*) echo redis ;; *) echo "" ;; esac
}

is_built() { local b; for b in "${built[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }

# skip ROUND SYSTEM REASON
skip() {
  echo "  $2: skipped: $3"
  emit "{\"round\": $1, \"skipped\": {\"system\": \"$2\", \"reason\": $(json_str "$3")}}"
}

# run_one ROUND SYSTEM SIZE PORT MESSAGES — one scenario run, its JSON line appended to $out.
failures=0
run_one() {
  local round=$1 system=$2 size=$3 port=$4 count=$5 data="$work/data-$2" line status
  rm -rf "$data"
  mkdir -p "$data"
  local args=(--system "$system" --producers $producers --consumers $consumers --batch $batch
              --prefetch $prefetch --size "$size" --messages "$count" --timeout $run_limit_s
              --queue "corq-peers-$round-$size")
  [ -n "$port" ] && args+=(--port "$port")
  case "$system" in corq-durable|corq-stream|rocksdb|sqlite) args+=(--dir "$data") ;; esac
  set +e
  line=$(timeout $((run_limit_s + 60)) "$bench" "${args[@]}")
  status=$?
  set -e
  rm -rf "$data"
  if [ -z "$line" ]; then
    line="{\"system\": \"$system\", \"size\": $size, \"delivery\": \"failed\", \"error\": \"exit status $status, no result\"}"
  fi
  # corq must deliver exactly once; a peer may redeliver (at least once) if it flags the repeats.
  if [ "$status" -ne 0 ] || { [[ "$system" == corq-* ]] && [[ "$line" != *'"delivery": "exactly once"'* ]]; }; then
    failures=$((failures + 1))
  fi
  emit "{\"round\": $round, \"run\": $line}"
  python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
if r.get("delivery") in ("exactly once", "at least once"):
    l = r["latency_us"]
    extra = "" if r["delivery"] == "exactly once" else f" ({r['duplicates']} redelivered)"
    print(f"  {r['system']:17} {r['size']:>5} B  {r['msgs_per_s']:>11,.0f} msgs/s  p50 {l['p50']:>8,} µs"
          f"  p99 {l['p99']:>9,} µs  p99.9 {l['p999']:>9,} µs  {r['delivery']}{extra}")
else:
    print(f"  {r['system']:17} {r.get('size', '?'):>5} B  FAILED: {r.get('error') or 'lost, corrupt or silently repeated messages'}"
          f" (missing {r.get('missing')}, duplicates {r.get('duplicates')}, redelivered {r.get('redelivered')}, corrupt {r.get('corrupt')})")
PY
}

context() {
  local fs
  fs=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work" 2>/dev/null || echo unknown)
  python3 - "$1" "$fs" "$rounds" "$messages" "$sizes" <<'PY'
import json, os, platform, sys
cpu = "unknown"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip(); break
except OSError:
    pass
print(json.dumps({"context": {
    "when": sys.argv[1], "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
    "machine": platform.machine(), "filesystem": sys.argv[2], "loadavg": open("/proc/loadavg").read().split()[:3],
    "rounds": int(sys.argv[3]), "messages": int(sys.argv[4]), "sizes": [int(s) for s in sys.argv[5].split(",")],
    "producers": 2, "consumers": 2, "batch": 100, "prefetch": 100}}))
PY
}

# verify_fsync SYSTEM PORT — a short run under strace -f -c, counting the flush system calls of the
# process that makes the data durable (the server, or the benchmark itself for embedded systems).
verify_fsync() {
  local system=$1 port=$2 server count=20000 trace="$work/strace-$1.txt" data="$work/data-$1"
  server=$(server_of "$system")
  rm -rf "$data"; mkdir -p "$data"
  local args=(--system "$system" --size 64 --messages $count --queue corq-peers-verify --timeout $run_limit_s)
  [ -n "$port" ] && args+=(--port "$port")
  case "$system" in corq-durable|corq-stream|rocksdb|sqlite) args+=(--dir "$data") ;; esac
  # The psync back end (pwritev2 + fdatasync, the same group commit as io_uring's) shows each
  # write and flush as a system call.
  case "$system" in corq-durable|corq-stream) args+=(--io-backend psync) ;; esac
  local calls=fsync,fdatasync,sync_file_range,io_uring_enter
  set +e
  if [ -n "$server" ]; then
    local pid spid
    pid=$(cat "$work/$server/rabbitmq.pid" 2>/dev/null || cat "$work/$server/server.pid")
    strace -f -c -e trace=$calls -p "$pid" -o "$trace" 2>/dev/null &
    spid=$!
    sleep 2
    "$bench" "${args[@]}" >/dev/null
    kill -INT "$spid"; wait "$spid"
  else
    strace -f -c -e trace=$calls -o "$trace" "$bench" "${args[@]}" >/dev/null
  fi
  set -e
  rm -rf "$data"
  python3 - "$system" "$count" "$trace" <<'PY' >>"$out"
import json, sys
system, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = {}
for l in open(path):
    f = l.split()
    if len(f) >= 5 and f[-1] in ("fsync", "fdatasync", "sync_file_range", "io_uring_enter"):
        calls[f[-1]] = int(f[3]) if len(f) == 6 else int(f[3])
print(json.dumps({"verify": {"system": system, "messages": count, "calls": calls}}))
PY
  tail -1 "$out" | sed 's/^/  /'
}

emit "$(context "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
echo "peers: ${rounds} round(s) of ${messages} messages, sizes ${sizes} B; ${producers} producers" \
     "(batches of ${batch}, confirms awaited), ${consumers} consumers (prefetch ${prefetch}, ack each)"
port="" current=""  # the server running now ("" for none); a server serves its systems of one round
for round in $(seq 1 "$rounds"); do
  echo "peers: round $round of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  for system in "${system_list[@]}"; do
    if ! is_built "$system"; then
      skip "$round" "$system" "not built into corq_peers_bench (its client library was not found at build time)"
      continue
    fi
    server=$(server_of "$system")
    if [ "$server" != "$current" ]; then
      # Only the server of the system being measured runs: no idle server competes with a run.
      stop_all; [ -z "$current" ] || rm -rf "${work:?}/$current"
      current=$server port=""
      if [ -n "$server" ]; then
        rm -rf "${work:?}/$server"
        running+=("$server")
        if ! port=$("$here/servers.sh" start "$server" "$work/$server" 2>"$work/$server-start.err"); then
          port=failed
        fi
      fi
    fi
    if [ "$port" = failed ]; then
      skip "$round" "$system" "$server could not be started: $(tail -1 "$work/$server-start.err")"
      continue
    fi
    for size in "${size_list[@]}"; do run_one "$round" "$system" "$size" "$port" "$messages"; done
    if [ "$verify" -eq 1 ] && [ "$round" -eq 1 ]; then verify_fsync "$system" "$port"; fi
  done
  stop_all; [ -z "$current" ] || rm -rf "${work:?}/$current"
  current=""
done
emit "{\"context_end\": {\"loadavg\": $(python3 -c 'import json; print(json.dumps(open("/proc/loadavg").read().split()[:3]))')}}"
echo "peers: results in $out"
[ "$failures" -eq 0 ] || { echo "peers: $failures run(s) failed (see the lines marked FAILED)" >&2; exit 1; }
