#!/usr/bin/env python3
"""The bindings benchmark: each language binding's cost per message, beside C, in the same rounds.

    perf/bindings.py --build-dir build/release --results-dir perf/results
                     [--quick] [--rounds N] [--only c,rust,...] [--readme bench/README.md]

The workload (bench/bindings/c_bench.c says it exactly, and each binding's bench program runs the
same through its public API): one thread, an in-memory engine, one transient queue, a consumer
with prefetch 256, 64-byte messages, publish + consume + ack in rounds of 64 —
  single: 64 one-message publishes, then 64 one-message consumes (timeout 0), each acked;
  batch:  one producer send of 64, consumes of up to 64 until 64 are taken, one ack_upto.
The programs:
  c       build/.../bench/bindings/corq_bindings_c_bench              (the baseline)
  rust    examples/rust/examples/bench.rs        (cargo build --release, offline)
  go      examples/go/cmd/corq-bench             (go build, offline)
  node    examples/node/bench.js                 (koffi from the npm registry: npm ci)
  python  examples/python/bench.py               (ctypes, Debian's python3)
A binding whose toolchain is missing is reported as skipped. Every round runs every program, the
order rotated each round; C, Rust and Go take 1,000,000 messages per run, Node.js and Python
200,000 (--quick: one round, a tenth of that). Per binding and mode the table gives the median
rate, the time per message, the time over C's per message (the median of the per-round
differences: the binding's own cost) and the rate as a fraction of C's (median of per-round
ratios). Writes <host>-<date>-bindings.json (every run), bindings.png, the table on stdout, and
with --readme the `results:bindings` region of that README (tools/bench.sh: bench/README.md).
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys

import report_common as rc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("single", "batch")
SHOWN = {"c": "C", "rust": "Rust", "go": "Go", "node": "Node.js", "python": "Python"}


class Binding:
    """One program of the benchmark: how to prepare it (build, install) and how to run it."""

    def __init__(self, name, messages, prepare):
        self.name, self.messages, self.prepare = name, messages, prepare
        self.command, self.env, self.cwd, self.skipped = None, None, None, None


def run(cmd, env=None, cwd=None, what=None):
    """Runs a preparation step; raises RuntimeError with its output when it fails."""
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what or cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}")


def base_env(build):
    """The environment every program gets: this build's libcorq, by path and through pkg-config."""
    env = dict(os.environ)
    env["CORQ_LIBRARY"] = os.path.join(build, "engine", "libcorq.so")
    env["PKG_CONFIG_PATH"] = os.path.join(build, "pkgconfig-build")
    env["CORQ_LIB_DIR"] = ""
    return env


def prepare_c(b, build, work):
    path = os.path.join(build, "bench", "bindings", "corq_bindings_c_bench")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built (cmake --build --target corq_bindings_c_bench)")
    b.command, b.env = [path], base_env(build)


def prepare_rust(b, build, work):
    cargo = shutil.which("cargo")
    if not cargo:
        b.skipped = "no cargo"
        return
    env = base_env(build)
    env["CARGO_TARGET_DIR"] = os.path.join(work, "rust-target")
    manifest = os.path.join(ROOT, "examples", "rust", "Cargo.toml")
    run([cargo, "build", "--offline", "--release", "--quiet", "--manifest-path", manifest,
         "--example", "bench"], env=env, what="cargo build --example bench")
    b.command, b.env = [os.path.join(env["CARGO_TARGET_DIR"], "release", "examples", "bench")], env


def prepare_go(b, build, work):
    go = shutil.which("go")
    source = os.path.join(ROOT, "examples", "go")
    if not go or not os.path.isdir(source):
        b.skipped = "no go toolchain" if not go else "no examples/go"
        return
    env = base_env(build)
    env.update(GOPROXY="off", GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="1",
               GOCACHE=os.path.join(work, "go-cache"), GOPATH=os.path.join(work, "gopath"))
    binary = os.path.join(work, "corq-go-bench")
    run([go, "build", "-o", binary, "./cmd/corq-bench"], env=env, cwd=source, what="go build")
    b.command, b.env = [binary], env


def prepare_node(b, build, work):
    node, npm = shutil.which("node"), shutil.which("npm")
    source = os.path.join(ROOT, "examples", "node")
    if not node or not npm or not os.path.isdir(source):
        b.skipped = "no node/npm" if not (node and npm) else "no examples/node"
        return
    # koffi goes into the work dir (npm ci of a copy of the package files), never the source tree.
    deps = os.path.join(work, "node")
    os.makedirs(deps, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(source, name), deps)
    run([npm, "ci", "--no-audit", "--no-fund", "--omit=dev"], cwd=deps, what="npm ci")
    env = base_env(build)
    env["NODE_PATH"] = os.path.join(deps, "node_modules")
    b.command, b.env = [node, os.path.join(source, "bench.js")], env


def prepare_python(b, build, work):
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else shutil.which("python3")
    script = os.path.join(ROOT, "examples", "python", "bench.py")
    if not python or not os.path.exists(script):
        b.skipped = "no python3" if not python else "no examples/python/bench.py"
        return
    env = base_env(build)
    env["PYTHONPATH"] = os.path.join(ROOT, "examples", "python")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    b.command, b.env = [python, script], env


def bindings(quick):
    fast, slow = (100_032, 20_032) if quick else (1_000_000, 200_000)
    return [Binding("c", fast, prepare_c), Binding("rust", fast, prepare_rust),
            Binding("go", fast, prepare_go), Binding("node", slow, prepare_node),
            Binding("python", slow, prepare_python)]


def measure(b, mode):
    """One run of one program in one mode: its JSON line, with msgs_per_s and ns_per_msg added."""
    cmd = b.command + ["--mode", mode, "--messages", str(b.messages)]
    done = subprocess.run(cmd, env=b.env, cwd=b.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    lines = [json.loads(l) for l in done.stdout.splitlines() if l.startswith("{")]
    result = next((l for l in lines if l.get("mode") == mode), None)
    if result is None or result.get("binding") != b.name or result["messages"] != b.messages:
        raise RuntimeError(f"{' '.join(cmd)} printed no result for {b.name}/{mode}: {done.stdout}")
    result["msgs_per_s"] = result["messages"] / result["seconds"]
    result["ns_per_msg"] = result["seconds"] * 1e9 / result["messages"]
    return result


def rows_of(runs, names, rounds):
    """One row per binding and mode: medians, and the per-round comparisons with C."""
    rows = []
    for mode in MODES:
        base = [runs.get((r, "c", mode)) for r in range(rounds)]
        for name in names:
            mine = [runs.get((r, name, mode)) for r in range(rounds)]
            ok = [m for m in mine if m]
            if not ok:
                continue
            paired = [(m, c) for m, c in zip(mine, base) if m and c]
            rows.append({
                "binding": name, "mode": mode, "rounds": len(ok), "messages": ok[0]["messages"],
                "msgs_per_s": statistics.median(m["msgs_per_s"] for m in ok),
                "ns_per_msg": statistics.median(m["ns_per_msg"] for m in ok),
                "min_msgs_per_s": min(m["msgs_per_s"] for m in ok),
                "max_msgs_per_s": max(m["msgs_per_s"] for m in ok),
                "over_c_ns": (statistics.median(m["ns_per_msg"] - c["ns_per_msg"] for m, c in paired)
                              if paired and name != "c" else None),
                "of_c": (statistics.median(m["msgs_per_s"] / c["msgs_per_s"] for m, c in paired)
                         if paired and name != "c" else None),
            })
    return rows


def fmt_ns(v):
    return "—" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}")


def markdown_table(rows, skips):
    lines = ["| binding | mode | msgs/s (median) | ns/msg | over C, ns/msg | × C | min–max msgs/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {SHOWN[r['binding']]} | {r['mode']} | {rc.fmt_number(r['msgs_per_s'])} | "
                     f"{fmt_ns(r['ns_per_msg'])} | {fmt_ns(r['over_c_ns'])} | "
                     f"{rc.fmt_ratio(r['of_c'], '.2f')} | {rc.fmt_number(r['min_msgs_per_s'])}–"
                     f"{rc.fmt_number(r['max_msgs_per_s'])} |")
    for name, why in skips.items():
        lines.append(f"| {SHOWN[name]} | — | skipped: {why} | | | | |")
    return "\n".join(lines)


def plot(rows, png, title):
    plt = rc.pyplot()
    names = list(dict.fromkeys(r["binding"] for r in rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.38
    for i, (mode, color) in enumerate((("single", "#4c72b0"), ("batch", "#55a868"))):
        ys = [next((r["ns_per_msg"] for r in rows if r["binding"] == n and r["mode"] == mode), 0)
              for n in names]
        xs = [k + (i - 0.5) * width for k in range(len(names))]
        bars = ax.bar(xs, ys, width, label=mode, color=color)
        rc.label_bars(ax, bars, ys, lambda v: fmt_ns(v))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([SHOWN[n] for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("ns per message, publish + consume + ack (log)")
    ax.legend()
    ax.grid(axis="y", alpha=.3)
    rc.save_figure(plt, fig, png, title, title_size=9, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", required=True, help="a CMake build dir (libcorq, the C bench)")
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--work", help="where builds and installs go (default BUILD_DIR/bindings-bench)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; 1 with --quick)")
    parser.add_argument("--only", help="comma-separated bindings (c is always measured)")
    parser.add_argument("--quick", action="store_true", help="one short round (numbers not meaningful)")
    parser.add_argument("--readme", metavar="README_MD",
                        help="the README.md holding the bindings results region, rewritten between "
                             "its markers (tools/bench.sh --update-readme: bench/README.md)")
    parser.add_argument("--commit", default="unknown")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    build = os.path.abspath(args.build_dir)
    work = os.path.abspath(args.work or os.path.join(build, "bindings-bench"))
    os.makedirs(work, exist_ok=True)

    chosen = bindings(args.quick)
    if args.only:
        wanted = {"c"} | set(args.only.split(","))
        unknown = wanted - {b.name for b in chosen}
        if unknown:
            parser.error(f"unknown bindings: {', '.join(sorted(unknown))}")
        chosen = [b for b in chosen if b.name in wanted]
    skips = {}
    for b in chosen:
        print(f"bindings: preparing {b.name} ...", flush=True)
        try:
            b.prepare(b, build, work)
        except RuntimeError as e:
            if b.name == "c":
                raise SystemExit(f"bindings: the C baseline cannot run: {e}")
            b.skipped = str(e).splitlines()[0]
            print(f"bindings: {b.name} skipped: {e}", file=sys.stderr)
        if b.skipped:
            skips[b.name] = b.skipped
    ready = [b for b in chosen if not b.skipped]

    runs = {}
    for r in range(rounds):
        order = ready[r % len(ready):] + ready[:r % len(ready)]
        for b in order:
            for mode in MODES:
                try:
                    runs[(r, b.name, mode)] = res = measure(b, mode)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"bindings: round {r + 1} {b.name}/{mode} failed: {e}", file=sys.stderr)
                    continue
                print(f"bindings: round {r + 1}/{rounds} {b.name:6} {mode:6} "
                      f"{rc.fmt_number(res['msgs_per_s'])} msgs/s", flush=True)

    names = [b.name for b in ready]
    rows = rows_of(runs, names, rounds)
    hardware = rc.hardware_line({})
    results_file = rc.results_file_name(datetime.date.today().isoformat(), "bindings")
    rc.write_results(args.results_dir, results_file,
                     {"context": {"corq_commit": args.commit, "quick": args.quick, "rounds": rounds},
                      "runs": [dict(v, round=k[0]) for k, v in sorted(runs.items())],
                      "corq_report": {"hardware": hardware, "rows": rows, "skipped": skips}})
    png = os.path.join(args.results_dir, "bindings.png")
    png = rc.draw_or_skip("bindings", lambda: plot(rows, png, f"corq bindings — {hardware}"), png)
    table = markdown_table(rows, skips)
    print(f"\n{hardware}\n\n{table}\n\nresults: {os.path.join(args.results_dir, results_file)}"
          + (f", plot: {png}" if png else ""))
    if args.readme:
        png_rel = rc.relative_to_readme(args.readme, png)
        text = (f"Measured by `tools/bench.sh --suite bindings` (commit `{args.commit}`), {hardware}; "
                f"{rounds} round(s), medians. One thread, in-memory engine, 64 B messages, "
                "publish + consume + ack; *over C* is the binding's own cost per message (its time "
                "minus C's in the same round).\n\n" + table
                + (f"\n\n![bindings]({png_rel})" if png_rel else ""))
        rc.replace_region(args.readme, "bindings", text,
                          ["<!-- results:bridge:end -->", "<!-- results:macro:end -->",
                           "<!-- results:end -->"])
    return 0 if all(runs.get((r, "c", m)) for r in range(rounds) for m in MODES) else 1


if __name__ == "__main__":
    sys.exit(main())
