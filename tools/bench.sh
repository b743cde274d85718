#!/usr/bin/env bash
# The benchmark suite — the README's main command.
#   1. installs missing Debian packages (tools/install-deps.sh build bench; needs root or sudo),
#   2. configures the `release` preset and builds only the benchmark binaries the chosen suites need,
#   3. runs each suite: its binary writes Google Benchmark JSON, its report script turns that into
#      perf/results/<host>-<date>.json, a plot, and a Markdown table printed here (corq next to its
#      peers measured in the same run, the ratio, the target, met/MISSED).
#
# Usage: tools/bench.sh [--quick] [--suite NAME]... [--out DIR] [--update-readme]
#   --quick          smoke run (seconds): one repetition of a fraction of the work; numbers are not
#                    meaningful; results go to build/release/perf-quick/ so perf/results/ is untouched
#   --suite NAME     run only this suite (repeatable; default: all of them): rings, engine, log,
#                    durable, peers, macro, routing, routing_peers, streams, bridge, bindings
#   --out DIR        where results go (default: perf/results, or build/release/perf-quick with --quick)
#   --update-readme  rewrite the results tables of bench/README.md (between their results markers)
#                    from this run
# Exit status: 0 when every suite ran (a missed target is reported in the table, it is not a failure).
#
# Adding a suite: write <name>_targets (prints the CMake targets it needs) and <name>_run (runs them
# and reports; gets the results directory as $1; a Google Benchmark binary runs through
# gbench_suite), and add <name> to suites_all.
set -euo pipefail
cd "$(dirname "$0")/.."

suites_all=(rings engine log durable peers macro routing routing_peers streams bridge bindings)
preset=release
build_dir=build/$preset
raw_dir=$build_dir/bench-out
# The file that holds every suite's results table (each between its results markers).
results_readme=bench/README.md

# Debian's python3 has python3-matplotlib; a python3 earlier in PATH (pyenv, venv) may not.
python=/usr/bin/python3
[ -x "$python" ] || python=python3

# ---- what the Google Benchmark suites share ------------------------------------------------
# A run takes minutes (see each suite); a stuck one must not spin both cores or hold the disk
# forever, hence the time limit.
gbench_limit_s=1800
gbench_quick_limit_s=300

# gbench_suite NAME BINARY SHOWN REPORT RESULTS_DIR [ARG]...
# Runs BINARY (with ARGs, --quick when asked) writing Google Benchmark JSON to $raw_dir/NAME.json and
# its full console output to $raw_dir/NAME.log, showing only the lines that match the regex SHOWN
# (one per benchmark), then turns the JSON into RESULTS_DIR's results with the REPORT script.
gbench_suite() {
  local name=$1 binary=$2 shown=$3 report_script=$4 results_dir=$5
  shift 5
  local raw=$raw_dir/$name.json log=$raw_dir/$name.log
  local args=(--benchmark_out="$raw" --benchmark_out_format=json
              --benchmark_context=corq_commit="$commit" "$@")
  [ "$quick" -eq 1 ] && args+=(--quick)
  local limit_s=$gbench_limit_s
  [ "$quick" -eq 1 ] && limit_s=$gbench_quick_limit_s
  set +e
  timeout "$limit_s" "$binary" "${args[@]}" 2>&1 | tee "$log" | grep --line-buffered -E "$shown"
  local status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "bench: ${binary##*/} failed ($status), see $log" >&2; return 1; }
  local report=("$report_script" "$raw" --results-dir "$results_dir")
  [ "$update_readme" -eq 1 ] && report+=(--readme "$results_readme")
  "$python" "${report[@]}"
}
# What the console shows of a suite: each benchmark's median, or its single repetition's line.
shown_medians='_median |/repeats:1/manual_time '
shown_single='/repeats:1/manual_time '

# ---- suite: rings — SpscRing / MpmcRing vs Boost.Lockfree vs moodycamel (bench/rings/) ----------
rings_targets() { echo corq_ring_bench; }
rings_run() {
  # A full run takes a minute or two on 2 cores (longer on a busy machine).
  # Interleaved: each peer's runs are spread over the suite.
  gbench_suite rings "$build_dir/bench/corq_ring_bench" "$shown_medians" perf/report_rings.py "$1" \
    --benchmark_enable_random_interleaving=true
}

# ---- suite: engine — the queue engine through its C API vs moodycamel (bench/engine/) ------------
# Throughput (1 producer -> 1 consumer, one message per call and 64 per call), RSS per ready message,
# publish -> deliver latency at 10% of the single-message rate next to a bare SpscRing ping-pong (the
# latency target's baseline, in the same rounds). Not interleaved: the latency runs take their rate
# from the single-message runs that precede them in the same process.
engine_targets() { echo corq_engine_bench; }
engine_run() {
  # A full run takes under a minute on 2 cores (15–30 s here at 423a1be).
  gbench_suite engine "$build_dir/bench/corq_engine_bench" "$shown_medians" perf/report_engine.py "$1"
}

# ---- suite: log — the write-ahead log (wal/) vs the raw device, in the same directory (bench/log/) --
# pwrite+fdatasync baselines (4 KiB latency, 1 MiB bandwidth), then the Log's append+wait_durable
# latency and its 2-appender throughput (64 B, 1 KiB), psync and io_uring side by side, in rounds.
# The scratch directory goes under $build_dir (override: CORQ_LOG_BENCH_DIR=/mnt/nvme/...) and is
# removed at the end; it peaks at about 1 GiB.
log_targets() { echo corq_log_bench; }
log_run() {
  # A full run takes about three minutes (most of it the log's latency samples on a slow flush).
  gbench_suite log "$build_dir/bench/log/corq_log_bench" "$shown_single" perf/report_log.py "$1" \
    --dir "${CORQ_LOG_BENCH_DIR:-$build_dir}"
}

# ---- suite: durable — durable queues through the C API vs the raw device, same directory (bench/log/) --
# corq_durable_bench: raw pwrite+fdatasync baselines, then on psync and io_uring: synchronous publish
# latency (interleaved with raw 4 KiB samples), 2-producer NOWAIT publish throughput (64 B, 1 KiB; raw
# 1 MiB bandwidth right around each run), publish+consume+ack vs publish-only of the same round, and
# recovery (reopen of 1M unsettled; of 6M published and acked, with the *.wal files left),
# consume-transform-produce in transactions vs without (perf/report_txn.py); --quick:
# 100k / 300k. The scratch directory goes under $build_dir (override: CORQ_DURABLE_BENCH_DIR or
# CORQ_LOG_BENCH_DIR) and is removed at the end; it peaks at about 1.5 GiB.
durable_targets() { echo corq_durable_bench; }
durable_run() {
  # A full run takes a few minutes (three rounds; most of it the 6M-message recovery runs and the
  # latency samples).
  gbench_suite durable "$build_dir/bench/log/corq_durable_bench" "$shown_single" \
    perf/report_durable.py "$1" --dir "${CORQ_DURABLE_BENCH_DIR:-${CORQ_LOG_BENCH_DIR:-$build_dir}}"
  # The transaction benchmarks (txn_*, consume-transform-produce vs the same calls without a
  # transaction) ran in the same binary: their own report (bench/README.md, "Transactions").
  local report=(perf/report_txn.py "$raw_dir/durable.json" --results-dir "$1")
  [ "$update_readme" -eq 1 ] && report+=(--readme "$results_readme")
  "$python" "${report[@]}"
}

# ---- suite: peers — corq against RabbitMQ, Redis Streams, RocksDB, SQLite (bench/peers/) ---------
# The durable work-queue scenario on every system in the same run: 2 producers publishing batches of
# 100 with confirms (each batch's confirms awaited), 2 consumers with prefetch 100 acking each
# message; 3 rounds of 100,000 messages, 64 B and 1 KiB (--quick: 1 round of 10,000, 64 B). Servers
# (RabbitMQ, Redis) are started by bench/peers/servers.sh as the current user on 127.0.0.1, private
# ports and directories, and always stopped; a peer that is not built or does not start is reported
# as skipped. Data directories go under $build_dir (override: CORQ_PEERS_BENCH_DIR) and are removed.
# CORQ_PEERS_VERIFY_FSYNC=1 adds strace flush counts (bench/peers/run.sh --verify-fsync).
peers_targets() { echo corq_peers_bench; }
peers_run() {
  local results_dir=$1 raw=$raw_dir/peers.jsonl
  local args=(--bench "$build_dir/bench/peers/corq_peers_bench" --out "$raw"
              --work "${CORQ_PEERS_BENCH_DIR:-$build_dir/peers-work}")
  [ "$quick" -eq 1 ] && args+=(--quick)
  [ "${CORQ_PEERS_VERIFY_FSYNC:-0}" = 1 ] && args+=(--verify-fsync)
  local status=0
  bench/peers/run.sh "${args[@]}" || status=$?
  [ -s "$raw" ] || { echo "bench: bench/peers/run.sh wrote no results ($status)" >&2; return 1; }
  local report=(perf/report_peers.py "$raw" --results-dir "$results_dir" --commit "$commit")
  [ "$update_readme" -eq 1 ] && report+=(--readme "$results_readme")
  "$python" "${report[@]}"
  return "$status"
}

# ---- suite: routing — pub/sub routing through the C API (bench/routing/) -------------------------
# One publishing thread, 64-byte messages into transient queues: a topic exchange with 10 and with
# 10,000 bindings (each publish reaching the same single queue), fanout to 4 queues, next to a plain
# corq_publish and a direct exchange to one queue, all in the same rounds; each with a consumer
# draining the queues on the other core and with the publisher alone (queues purged between
# chunks); plus the topic matcher alone on the same bindings. Interleaved: every round runs every
# scenario once, in turn.
routing_targets() { echo corq_routing_bench; }
routing_run() {
  # A full run takes a few minutes on 2 cores (7 rounds; longer on a busy machine).
  gbench_suite routing "$build_dir/bench/routing/corq_routing_bench" "$shown_single" \
    perf/report_routing.py "$1"
}

# ---- suite: routing_peers — the routing suite's topic scenario on corq and RabbitMQ (bench/routing/) --
# The same 10,000 bindings and keys on corq and on RabbitMQ's topic exchange, transient and durable:
# one publisher, batches of 100 confirmed, 3 rounds of 50,000 publishes (--quick: 1 of 5,000).
# RabbitMQ is started per round by bench/peers/servers.sh (private ports and directory, always
# stopped); corq durable's data goes under $build_dir (override: CORQ_ROUTING_PEERS_DIR).
routing_peers_targets() { echo corq_routing_peers; }
routing_peers_run() {
  local results_dir=$1 raw=$raw_dir/routing-peers.jsonl
  local args=(--bench "$build_dir/bench/routing/corq_routing_peers" --out "$raw"
              --work "${CORQ_ROUTING_PEERS_DIR:-$build_dir/routing-peers-work}")
  [ "$quick" -eq 1 ] && args+=(--quick)
  # A full run takes about five minutes (RabbitMQ's 10,000 durable binds take about a minute).
  local status=0
  bench/routing/peers.sh "${args[@]}" || status=$?
  [ -s "$raw" ] || { echo "bench: bench/routing/peers.sh wrote no results ($status)" >&2; return 1; }
  local report=(perf/report_routing_peers.py "$raw" --results-dir "$results_dir" --commit "$commit")
  [ "$update_readme" -eq 1 ] && report+=(--readme "$results_readme")
  "$python" "${report[@]}"
  return "$status"
}

# ---- suite: streams — the in-memory streams through the C API next to queues (bench/streams/) ----
# 64-byte records, in-memory engine, every scenario once per round (7 rounds), each stream path with
# its queue baseline measured in the same round: one thread appending (corq_stream_append; a stream
# producer with batches of 64) next to corq_publish / corq_producer_send of 64 into a queue purged
# between chunks; tail following (an appender and a reader on the two cores) next to a producer and
# a consumer with prefetch 256 on a queue; a reader replaying 1M retained records from earliest next
# to draining 1M ready messages; resident memory per retained record (a child process each) next to
# a ready message. The streams keep retention_records 1M, so memory stays bounded.
streams_targets() { echo corq_stream_bench; }
streams_run() {
  # A full run takes about a minute on 2 cores (longer on a busy machine).
  gbench_suite streams "$build_dir/bench/streams/corq_stream_bench" "$shown_single" \
    perf/report_streams.py "$1"
}

# ---- suite: bridge — corq-bridge against a real 3-node JetStream cluster (bench/bridge/) ----------
# Issue #19's performance section, in one run against one R3 cluster on 127.0.0.1 (TLS + auth, made
# by tests/bridge's harness, on the same two cores): outbound throughput of 50,000 1 KiB messages
# from a durable queue (sync=always) through an outbound rule, next to js_PublishMsgAsync alone with
# the same window (256; target >= 0.5x), plus the profile's lines (an in-memory queue, windows 64
# and 1024, the baseline with SendAsap); latency end to end (corq -> outbound -> JetStream ->
# inbound -> corq, 3,000 messages at 500/s, durable and in memory) next to a synchronous js_Publish
# and an async one at a time; 5 rounds, the order reversed every other round
# (--quick: 1 round of 2,000 / 200). Needs libnats-dev, nats-server and openssl (tools/install-deps.sh
# build test); without them the suite is skipped. The corq data directories go under $build_dir
# (override: CORQ_BRIDGE_BENCH_DIR), the cluster's stores under $TMPDIR; both are removed.
bridge_missing() {
  local missing=()
  pkg-config --exists libnats 2>/dev/null || missing+=(libnats-dev)
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  echo "${missing[*]}"
}
# Without its prerequisites the suite has no binary; it names libcorq then, so that a run of this
# suite alone still has a target to build (cmake's --target needs one) before it reports the skip.
bridge_targets() { if [ -n "$(bridge_missing)" ]; then echo corq; else echo corq_bridge_bench; fi; }
bridge_run() {
  local missing
  missing=$(bridge_missing)
  if [ -n "$missing" ]; then
    echo "bench: suite bridge skipped: missing $missing (tools/install-deps.sh build test)" >&2
    return 0
  fi
  # A full run takes about five minutes on 2 cores (longer on a busy machine).
  gbench_suite bridge "$build_dir/bench/bridge/corq_bridge_bench" "$shown_single" \
    perf/report_bridge.py "$1" --dir "${CORQ_BRIDGE_BENCH_DIR:-$build_dir}"
}

# ---- suite: bindings — each language binding's cost per message beside C (bench/bindings/) -------
# One thread, in-memory engine, 64 B publish + consume + ack, single messages and batches of 64: the
# C baseline (bench/bindings/c_bench.c) and the Rust, Go, Node.js and Python bindings' bench
# programs, every program in every round (5 rounds, order rotated; --quick: 1 short round). The
# Rust and Go programs are built, and koffi installed (npm ci), under $build_dir/bindings-bench;
# a binding whose toolchain is missing is reported as skipped (perf/bindings.py).
bindings_targets() { printf '%s\n' corq corq_bindings_c_bench; }
bindings_run() {
  # A full run takes about two minutes on 2 cores (most of it the Python and Node.js runs).
  local args=(perf/bindings.py --build-dir "$build_dir" --results-dir "$1" --commit "$commit")
  [ "$quick" -eq 1 ] && args+=(--quick)
  [ "$update_readme" -eq 1 ] && args+=(--readme "$results_readme")
  "$python" "${args[@]}"
}

# ---- suite: macro — corq-perf scenarios: work queue transient/durable at 64 B/1 KiB/64 KiB, ------
# fan-out, many producers, latency at 10/50/90 % of the closed-loop rate (perf/macro.py).
macro_targets() { echo corq-perf; }
macro_run() {
  local results_dir=$1
  local args=(perf/macro.py --perf "$build_dir/bench/cli/corq-perf" --results-dir "$results_dir"
              --work "${CORQ_MACRO_BENCH_DIR:-$build_dir/macro-work}" --commit "$commit")
  [ "$quick" -eq 1 ] && args+=(--quick)
  [ "$update_readme" -eq 1 ] && args+=(--readme "$results_readme")
  "$python" "${args[@]}"
}

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0 update_readme=0 out_dir="" suites=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --update-readme) update_readme=1 ;;
    --suite) [ $# -ge 2 ] || { usage >&2; exit 2; }; suites+=("$2"); shift ;;
    --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out_dir=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ ${#suites[@]} -eq 0 ] && suites=("${suites_all[@]}")
for s in "${suites[@]}"; do
  declare -F "${s}_run" >/dev/null || { echo "bench: unknown suite '$s' (${suites_all[*]})" >&2; exit 2; }
done
if [ -z "$out_dir" ]; then
  if [ "$quick" -eq 1 ]; then out_dir=$build_dir/perf-quick; else out_dir=perf/results; fi
fi
if [ "$quick" -eq 1 ] && [ "$update_readme" -eq 1 ]; then
  echo "bench: --update-readme needs a full run, not --quick" >&2; exit 2
fi
# Results name the commit they measured; "-dirty" if engine/ or wal/ had uncommitted changes.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no -- engine wal 2>/dev/null)" ]; then
  commit=$commit-dirty
fi

started=$(date +%s)
tools/install-deps.sh build bench

targets=()
for s in "${suites[@]}"; do mapfile -t -O "${#targets[@]}" targets < <("${s}_targets"); done
mkdir -p "$build_dir" "$raw_dir"
echo "=== corq bench: building ${targets[*]} ($preset) ==="
if ! { cmake --preset "$preset" && cmake --build --preset "$preset" -j"$(nproc)" --target "${targets[@]}"; } \
    >"$raw_dir/build.log" 2>&1; then
  grep -E -B3 -A12 'error|Error' "$raw_dir/build.log" | head -120 || true  # (set -e: no match)
  echo "bench: build failed, see $raw_dir/build.log" >&2
  exit 1
fi

status=0
for s in "${suites[@]}"; do
  echo "=== corq bench: suite $s$([ "$quick" -eq 1 ] && echo ' (quick)') ==="
  suite_started=$(date +%s)
  "${s}_run" "$out_dir" || status=1
  echo "=== suite $s took $(( $(date +%s) - suite_started )) s ==="
done
echo "=== corq bench: done in $(( $(date +%s) - started )) s; results in $out_dir ==="
exit "$status"
