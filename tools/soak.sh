#!/usr/bin/env bash
# The soak: a mixed workload on a durable engine, killed with SIGKILL every 2-6 s and reopened, for
# MINUTES minutes. Each cycle a child process publishes with confirms, consumes, acks (some synced),
# nacks, releases and holds deliveries (tests/crash/crash_child.cpp); after the kill the directory is
# reopened and checked against everything the children reported (tests/crash/crash_test.cpp):
# nothing confirmed lost, nothing unsent, nothing durably acked back, nothing twice.
#
# Reports messages lost (must be 0), reopen time, the child's peak RSS and the directory's disk use
# over time: a CSV, a PNG (python3-matplotlib) and a summary line; exit status 0 only if nothing was
# lost and no other violation was found.
#
# Usage: tools/soak.sh MINUTES [OUT_DIR]     (OUT_DIR default: build/soak)
# Environment: CORQ_CRASH_SEGMENT_BYTES (default: the engine's default segment size, 64 MiB),
#              CORQ_CRASH_SEED (replay the same kill schedule and child seeds).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: tools/soak.sh MINUTES [OUT_DIR]" >&2
  exit 2
fi
minutes=$1
out=${2:-build/soak}
# Debian's python3 has python3-matplotlib; a python3 earlier in PATH (pyenv, venv) may not.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
seconds=$("$python" -c "print(max(1, int(float('$minutes') * 60)))")

tools/install-deps.sh build bench >/dev/null
cmake -S . -B build/soak-build -DCMAKE_BUILD_TYPE=Release -DCORQ_BUILD_BENCH=OFF >/dev/null
cmake --build build/soak-build -j "$(nproc)" --target crash_test corq_crash_child >/dev/null

mkdir -p "$out"
csv="$out/soak.csv"
log="$out/soak.log"
export CORQ_CRASH_SEGMENT_BYTES=${CORQ_CRASH_SEGMENT_BYTES:-64MiB}
echo "soak: ${minutes} min, kill every 2-6 s, segment_bytes $CORQ_CRASH_SEGMENT_BYTES; CSV $csv"
status=0
CORQ_SOAK_SECONDS=$seconds CORQ_SOAK_CSV=$csv \
  build/soak-build/tests/crash/crash_test --gtest_filter=CrashTest.soak 2>&1 | tee "$log" |
  grep -E '^(soak:|\[  (FAILED|PASSED|SKIPPED))|violation|lost' || true
grep -q '^\[  PASSED  \] 1 test' "$log" || status=1

"$python" - "$csv" "$out/soak.png" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    print("soak: no cycle completed"); sys.exit(0)
num = lambda k: [float(r[k]) for r in rows]
t, lost, reopen = num("seconds"), num("lost"), num("reopen_ms")
rss = [v / 1024 for v in num("child_peak_rss_kb")]
disk = [v / 2**20 for v in num("disk_bytes")]
q = lambda v, p: sorted(v)[min(len(v) - 1, int(p * len(v)))]
print(f"soak: {len(rows)} cycles in {t[-1]:.0f} s: {int(sum(num('confirmed')))} confirmed, "
      f"{int(sum(num('acked')))} durably acked, lost {int(sum(lost))}; reopen ms p50 "
      f"{q(reopen, .5):.0f} p99 {q(reopen, .99):.0f} max {max(reopen):.0f}; child peak RSS max "
      f"{max(rss):.0f} MiB; disk max {max(disk):.0f} MiB, last {disk[-1]:.0f} MiB")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("soak: python3-matplotlib missing, no plot"); sys.exit(0)
fig, ax = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
for a, y, label in ((ax[0], lost, "messages lost (must be 0)"), (ax[1], reopen, "reopen (ms)"),
                    (ax[2], rss, "child peak RSS (MiB)"), (ax[3], disk, "data directory on disk (MiB)")):
    a.plot(t, y, marker=".", linewidth=1)
    a.set_ylabel(label, fontsize=8)
    a.grid(alpha=.3)
ax[3].set_xlabel("seconds since the start")
fig.suptitle(f"corq soak: SIGKILL every 2-6 s, {len(rows)} cycles")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=90)
print(f"soak: plot {sys.argv[2]}")
EOF
exit $status
