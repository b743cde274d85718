#!/usr/bin/env python3
"""perf/report_log.py — turns corq_log_bench's JSON into the write-ahead-log results table, the plot
and the recorded results file.

    report_log.py BENCH_JSON --results-dir DIR [--png FILE] [--readme README.md] [--strict]

* reads Google Benchmark's JSON output of corq_log_bench (one run: the raw device and the Log on the
  psync and io_uring back ends, in rounds);
* per benchmark, takes the median over rounds of each counter; a ratio to the raw device is the
  median of the per-round ratios the benchmark computed against the raw numbers of its own round
  (so a disk that speeds up and slows down during the run does not skew it);
* prints a Markdown table: scenario, psync, io_uring, the raw device, each back end's ratio, the
  target, met/MISSED per back end;
* writes DIR/<hostname>-<YYYY-MM-DD>-log.json: the benchmark's own JSON plus a `corq_report` section
  (hardware and disk line, the rows, the missed targets) so a result file is self-describing;
* draws FILE (default DIR/log.png): latency percentiles and throughput, log next to the raw device;
* with --readme, replaces the text between `<!-- results:log:begin -->` and
  `<!-- results:log:end -->` (inserted after `<!-- results:engine:end -->` — or `<!-- results:end -->`
  — if missing, so the other suites' regions and this one never overwrite each other).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import readme_region  # noqa: E402  (same directory)

BACKENDS = ["psync", "io_uring"]
COLORS = {"psync": "#30638e", "io_uring": "#d1495b", "raw": "#8d99ae", "raw_fresh": "#c9ced6"}

# Throughput rows: (key, label, benchmark prefix, minimum payload-bytes ratio to raw 1 MiB bandwidth)
THROUGHPUT = [
    ("throughput_64B", "2 appenders, 64 B records, wait_durable every 4096", "throughput_64B", 0.12),
    ("throughput_1KiB", "2 appenders, 1 KiB records, wait_durable every 4096", "throughput_1KiB",
     0.5),
]
# Latency rows: (percentile name, counter, ratio counter, maximum ratio to raw 4 KiB write+flush)
LATENCY = [("p50", "p50_us", "p50_ratio", 1.5), ("p99", "p99_us", "p99_ratio", 2.0),
           ("p99.9", "p999_us", "p999_ratio", None)]

BEGIN_MARK = "<!-- results:log:begin -->"
END_MARK = "<!-- results:log:end -->"
ANCHORS = ["<!-- results:engine:end -->", "<!-- results:end -->"]


def base_name(run_name):
    """'latency_64B/psync/iterations:1/repeats:1/manual_time' -> 'latency_64B/psync'."""
    return "/".join(run_name.split("/")[:2])


def runs_by_name(bench_json):
    """{benchmark: [repetition, ...]} in run order, errors left out."""
    runs = {}
    for b in bench_json.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        runs.setdefault(base_name(b.get("run_name", b["name"])), []).append(b)
    return runs


def medians(runs):
    """{benchmark: {counter: median over rounds}}."""
    result = {}
    for name, reps in runs.items():
        counters = {k for r in reps for k, v in r.items() if isinstance(v, (int, float))}
        result[name] = {k: statistics.median(r[k] for r in reps if k in r) for k in counters}
        result[name]["repetitions"] = len(reps)
        result[name]["label"] = reps[0].get("label", "")
    return result


def skipped(bench_json):
    """{benchmark: error message} of the benchmarks that did not run (e.g. io_uring unavailable)."""
    return {base_name(b.get("run_name", b["name"])): b.get("error_message", "?")
            for b in bench_json.get("benchmarks", []) if b.get("error_occurred")}


def verdict(ratio, bound, higher_is_better):
    if bound is None or ratio is None:
        return None
    return ratio >= bound if higher_is_better else ratio <= bound


def build_rows(values):
    """One row per (scenario, back end): the log's median, the median of the raw device measured in
    the same moments (interleaved with that benchmark), the median of the per-round ratios."""
    rows = []
    for name, counter, ratio_counter, maximum in LATENCY:
        for backend in BACKENDS:
            v = values.get(f"latency_64B/{backend}", {})
            ratio = v.get(ratio_counter)
            rows.append({"scenario": f"latency_{name}", "backend": backend, "unit": "µs",
                         "label": f"append 64 B + wait_durable, {name}",
                         "raw_label": f"4 KiB write+fdatasync {name}",
                         "log": v.get(counter), "raw": v.get(f"raw_{counter}"), "ratio": ratio,
                         "target": f"≤ {maximum:g}×" if maximum else "—", "bound": maximum,
                         "met": verdict(ratio, maximum, False)})
    for key, label, prefix, minimum in THROUGHPUT:
        for backend in BACKENDS:
            v = values.get(f"{prefix}/{backend}", {})
            ratio = v.get("bandwidth_ratio")
            rows.append({"scenario": key, "backend": backend, "unit": "MB/s", "label": label,
                         "raw_label": "1 MiB write+fdatasync",
                         "log": v.get("MB_per_s"), "raw": v.get("raw_MB_per_s"), "ratio": ratio,
                         "records_per_s": v.get("records_per_s"),
                         "written_bytes_per_record": v.get("written_bytes_per_record"),
                         "target": f"≥ {minimum:g}×", "bound": minimum,
                         "met": verdict(ratio, minimum, True)})
    return rows


def fmt_value(v):
    if v is None:
        return "—"
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def fmt_ratio(r):
    return "—" if r is None else f"{r:.3g}×"


def result_text(row):
    if row["bound"] is None:
        return "—"
    if row["met"] is None:
        return "not run"
    return "met" if row["met"] else "**MISSED**"


def markdown_table(rows):
    lines = ["| scenario | back end | log | raw device, same moments | log ÷ raw | target | result |",
             "|---|---|--:|--:|--:|---|---|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['backend']} | {fmt_value(row['log'])} {row['unit']} |"
                     f" {fmt_value(row['raw'])} {row['unit']} ({row['raw_label']}) |"
                     f" {fmt_ratio(row['ratio'])} | {row['target']} | {result_text(row)} |")
    return "\n".join(lines)


def device_line(values):
    """The raw device's own benchmarks (medians over the rounds)."""
    raw4k = values.get("raw_4k/latency", {})
    fresh = values.get("raw_4k/latency_fresh", {})
    raw1m = values.get("raw_1m/bandwidth", {})

    def pct(v):
        return (f"p50 {fmt_value(v.get('p50_us'))} / p99 {fmt_value(v.get('p99_us'))} / "
                f"p99.9 {fmt_value(v.get('p999_us'))} µs")
    parts = []
    if raw4k:
        parts.append(f"4 KiB pwrite+fdatasync {pct(raw4k)}")
    if fresh:
        paired = ""
        if fresh.get("p50_ratio"):
            paired = (f" ({fmt_ratio(fresh['p50_ratio'])} / {fmt_ratio(fresh.get('p99_ratio'))} the "
                      "p50 / p99 of overwrites interleaved with them)")
        parts.append(f"the same into freshly fallocated, never written blocks (a new log segment's "
                     f"case) {pct(fresh)}{paired}")
    if raw1m:
        parts.append(f"1 MiB pwrite+fdatasync {fmt_value(raw1m.get('MB_per_s'))} MB/s")
    return "raw device: " + "; ".join(parts) if parts else "raw device: not measured"


def detail_lines(rows, values):
    """Lines that do not fit the table: the device's own figures, records/s and bytes written per
    record."""
    out = [device_line(values)]
    for key, _, _, _ in THROUGHPUT:
        parts = []
        for row in rows:
            if row["scenario"] == key and row["log"] is not None:
                parts.append(f"{row['backend']} {row['records_per_s'] / 1e6:.2f} M records/s, "
                             f"{row['written_bytes_per_record']:,.0f} B written per record")
        if parts:
            out.append(f"{key}: " + "; ".join(parts))
    return out


def spread_line(runs):
    """Per benchmark, the min–max of its headline counter over the rounds."""
    parts = []
    for name, reps in runs.items():
        counter, unit, scale = (("MB_per_s", "MB/s", 1) if "bandwidth" in name or
                                name.startswith("throughput") else ("p50_us", "µs p50", 1))
        xs = [r[counter] for r in reps if counter in r]
        if xs:
            parts.append(f"{name} {min(xs) / scale:,.0f}–{max(xs) / scale:,.0f} {unit}")
    return "; ".join(parts)


def missed_targets(rows):
    return [f"{row['scenario']} {row['backend']}: {fmt_ratio(row['ratio'])} of the raw device "
            f"(target {row['target']})" for row in rows if row["met"] is False]


def hardware_line(context):
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        model = m.group(1).strip() if m else None
    except (OSError, subprocess.CalledProcessError):
        pass
    model = model or platform.processor() or "unknown CPU"
    cpus = context.get("num_cpus") or os.cpu_count()
    date = context.get("date", "")[:10] or datetime.date.today().isoformat()
    return (f"{model}, {cpus} CPUs, Linux {platform.release()}, {platform.machine()}, "
            f"measured {date}")


def disk_line(context):
    direct = "O_DIRECT" if context.get("corq_raw_direct_io") == "true" else "buffered (no O_DIRECT)"
    uring = context.get("corq_io_uring", "?")
    return (f"{context.get('corq_filesystem', '?')} filesystem, {direct}, io_uring "
            f"{'available' if uring == 'available' else 'unavailable (' + uring + ')'}")


def plot(rows, values, png_path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    # Latency: raw 4 KiB, raw into fresh blocks, log psync, log io_uring; p50/p99/p99.9.
    ax = axes[0]
    series = [("raw 4 KiB write+fdatasync", "raw_4k/latency", COLORS["raw"]),
              ("raw, fresh fallocated blocks", "raw_4k/latency_fresh", COLORS["raw_fresh"]),
              ("log psync", "latency_64B/psync", COLORS["psync"]),
              ("log io_uring", "latency_64B/io_uring", COLORS["io_uring"])]
    counters = [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")]
    width = 0.2
    marked = False
    for i, (label, name, color) in enumerate(series):
        ys = [values.get(name, {}).get(c) or 0 for _, c in counters]
        xs = [k + (i - 1.5) * width for k in range(len(counters))]
        bars = ax.bar(xs, ys, width, label=label, color=color)
        paired = [values.get(name, {}).get(f"raw_{c}") for _, c in counters]
        if name.startswith("latency_") and any(paired):
            ax.scatter([x for x, p in zip(xs, paired) if p], [p for p in paired if p], marker="_",
                       s=300, color="black", zorder=3,
                       label=None if marked else "raw 4 KiB, in the same moments as the log")
            marked = True
        for bar, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:,.0f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks(range(len(counters)))
    ax.set_xticklabels([n for n, _ in counters])
    ax.set_yscale("log")
    ax.set_ylabel("µs (log scale)")
    ax.set_title("Durable write latency: one 64 B append + wait_durable vs one 4 KiB "
                 "pwrite+fdatasync\n(lower is better)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    # Throughput: payload MB/s per size and back end, next to the raw 1 MiB bandwidth measured
    # around those runs; dashed: the target (a fraction of that raw bandwidth).
    ax = axes[1]
    keys = [key for key, _, _, _ in THROUGHPUT]
    bounds = {key: minimum for key, _, _, minimum in THROUGHPUT}
    width = 0.27
    bars_by = [("raw 1 MiB write+fdatasync", "raw", COLORS["raw"])] + \
        [(f"log {b}", b, COLORS[b]) for b in BACKENDS]
    for i, (label, which, color) in enumerate(bars_by):
        ys = []
        for key in keys:
            group = [r for r in rows if r["scenario"] == key]
            if which == "raw":
                raws = [r["raw"] for r in group if r["raw"]]
                ys.append(statistics.mean(raws) if raws else 0)
            else:
                ys.append(next((r["log"] or 0 for r in group if r["backend"] == which), 0))
        xs = [k + (i - 1) * width for k in range(len(keys))]
        bars = ax.bar(xs, ys, width, label=label, color=color)
        for bar, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:,.0f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=7)
        if which == "raw":
            for k, (key, y) in enumerate(zip(keys, ys)):
                if y:
                    ax.hlines(y * bounds[key], k - 0.45, k + 0.45, colors="black",
                              linestyles="--", linewidth=0.9,
                              label="target" if k == 0 else None)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(["64 B records", "1 KiB records"])
    ax.set_ylabel("MB/s (log: payload bytes)")
    ax.set_title("Log throughput, 2 appenders, vs the raw bandwidth around the runs\n"
                 "(higher is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def readme_section(rows, values, hardware, disk, png_rel, context, rounds, results_file, missed,
                   spread, skips):
    lines = [
        "### Write-ahead log\n",
        f"The log alone (`wal/`, `tools/bench.sh --suite log`, `bench/log/`) against the raw device, "
        f"in the same run and the same directory; commit `{context.get('corq_commit', 'unknown')}`, "
        f"{hardware}; {disk}. Raw baselines: `pwrite`+`fdatasync` of 4 KiB blocks (latency, "
        f"{int(context.get('corq_raw_latency_samples', 0)):,} samples per round) and of 1 MiB "
        "blocks (bandwidth) on a preallocated, already written file. Log: 64 MiB segments; latency "
        "is one thread appending one 64-byte record and waiting for it (`wait_durable`), "
        f"{int(context.get('corq_latency_samples', 0)):,} samples per round; throughput is 2 "
        "threads appending single-record batches without waiting and calling `wait_durable` every "
        "4096 records "
        f"({int(context.get('corq_small_records_per_thread', 0)):,} (64 B) / "
        f"{int(context.get('corq_large_records_per_thread', 0)):,} (1 KiB) records per thread), "
        "payload bytes only. Medians of "
        f"{rounds} rounds. The disk of a shared VM changes speed several-fold within a minute, so "
        "each log benchmark measures the raw device in the same moments: the latency benchmark "
        "alternates 20 log samples with 20 raw 4 KiB samples, the throughput benchmark writes "
        f"{int(context.get('corq_paired_bandwidth_bytes', 0)) >> 20} MiB of raw 1 MiB blocks right "
        "before and right after its run; a ratio is the median over rounds of those paired ratios. "
        "A throughput ratio near or above 1× is possible: a group commit writes everything pending "
        "(often more than 1 MiB) with one write and one flush. "
        "The issue's targets are for durable publishes through the engine; the log alone is the "
        "upper bound of what the engine can reach.",
        "",
        markdown_table(rows),
        "",
    ]
    lines += [f"- {d}" for d in detail_lines(rows, values)]
    lines += [f"- spread over the rounds (min–max): {spread}"]
    for name, message in skips.items():
        lines.append(f"- {name}: {message}")
    lines += [
        "",
        (f"![write-ahead log benchmarks]({png_rel}) — " if png_rel else "") +
        f"raw numbers: `perf/results/{results_file}`.",
        "",
    ]
    if missed:
        lines.append("Log targets missed in this run: " + "; ".join(missed) + ".")
    else:
        lines.append("Every log target was met in this run.")
    return "\n".join(lines)


def replace_readme_region(readme_path, text):
    readme_region.replace_region(readme_path, "log", text, ANCHORS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bench_json", help="corq_log_bench --benchmark_out JSON")
    parser.add_argument("--results-dir", required=True, help="where <host>-<date>-log.json goes")
    parser.add_argument("--png", help="plot path (default: RESULTS_DIR/log.png)")
    parser.add_argument("--readme", help="README to update between the log results markers")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    with open(args.bench_json, encoding="utf-8") as f:
        bench_json = json.load(f)
    context = bench_json.get("context", {})
    runs = runs_by_name(bench_json)
    values = medians(runs)
    rows = build_rows(values)
    hardware = hardware_line(context)
    disk = disk_line(context)
    missed = missed_targets(rows)
    skips = skipped(bench_json)
    errors = {k: v for k, v in skips.items() if not v.startswith("skipped:")}
    rounds = max((v.get("repetitions", 1) for v in values.values()), default=1)
    spread = spread_line(runs)

    os.makedirs(args.results_dir, exist_ok=True)
    date = context.get("date", "")[:10] or datetime.date.today().isoformat()
    results_file = f"{socket.gethostname()}-{date}-log.json"
    bench_json["corq_report"] = {"hardware": hardware, "disk": disk, "rows": rows,
                                 "missed": missed, "skipped": skips, "medians": values,
                                 "details": detail_lines(rows, values), "spread": spread}
    with open(os.path.join(args.results_dir, results_file), "w", encoding="utf-8") as f:
        json.dump(bench_json, f, indent=1)
        f.write("\n")

    png = args.png or os.path.join(args.results_dir, "log.png")
    try:
        plot(rows, values, png, f"corq write-ahead log vs the raw device — {hardware}; {disk}")
    except ImportError as e:
        print(f"report_log: no plot ({e}); apt-get install python3-matplotlib", file=sys.stderr)
        png = None

    print(f"\n{hardware}; {disk}; {context.get('corq_scale', '?')} run, medians of {rounds} "
          "rounds\n")
    print(markdown_table(rows))
    print()
    for line in detail_lines(rows, values):
        print(line)
    print("spread: " + spread)
    for name, message in skips.items():
        print(f"{name}: {message}")
    print("targets missed: " + ("; ".join(missed) if missed else "none"))
    print(f"results: {os.path.join(args.results_dir, results_file)}" +
          (f", plot: {png}" if png else ""))

    if args.readme:
        png_rel = os.path.relpath(png, os.path.dirname(os.path.abspath(args.readme))) if png else ""
        replace_readme_region(args.readme, readme_section(rows, values, hardware, disk, png_rel,
                                                          context, rounds, results_file, missed,
                                                          spread, skips))
        print(f"updated {args.readme}")
    return 1 if (args.strict and missed) or errors else 0


if __name__ == "__main__":
    sys.exit(main())
