#!/usr/bin/env python3
"""perf/report_log.py — turns corq_log_bench's JSON into the write-ahead-log results table, the plot
and the recorded results file.

    report_log.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

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
import statistics
import sys

import report_common as rc  # same directory

BACKENDS = rc.BACKENDS
COLORS = rc.BACKEND_COLORS

# Throughput rows: (key, label, benchmark prefix, minimum payload-bytes ratio to raw 1 MiB bandwidth)
THROUGHPUT = [
    ("throughput_64B", "2 appenders, 64 B records, wait_durable every 4096", "throughput_64B", 0.12),
    ("throughput_1KiB", "2 appenders, 1 KiB records, wait_durable every 4096", "throughput_1KiB",
     0.5),
]
# Latency rows: (percentile name, counter, ratio counter, maximum ratio to raw 4 KiB write+flush)
LATENCY = [("p50", "p50_us", "p50_ratio", 1.5), ("p99", "p99_us", "p99_ratio", 2.0),
           ("p99.9", "p999_us", "p999_ratio", None)]

# Where the region goes in a README that does not have it yet: after the engine's, or the rings'.
ANCHORS = ["<!-- results:engine:end -->", "<!-- results:end -->"]


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
                         "met": rc.within(ratio, maximum, False)})
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
                         "met": rc.within(ratio, minimum, True)})
    return rows


def fmt_ratio(r):
    return rc.fmt_ratio(r, ".3g")


def markdown_table(rows):
    lines = ["| scenario | back end | log | raw device, same moments | log ÷ raw | target | result |",
             "|---|---|--:|--:|--:|---|---|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['backend']} | {rc.fmt_number(row['log'])} "
                     f"{row['unit']} | {rc.fmt_number(row['raw'])} {row['unit']} "
                     f"({row['raw_label']}) | {fmt_ratio(row['ratio'])} | {row['target']} | "
                     f"{rc.result_cell(row['bound'] is not None, row['met'])} |")
    return "\n".join(lines)


def detail_lines(rows, values):
    """Lines that do not fit the table: the device's own figures, records/s and bytes written per
    record."""
    out = [rc.device_line(values)]
    for key, _, _, _ in THROUGHPUT:
        parts = []
        for row in rows:
            if row["scenario"] == key and row["log"] is not None:
                parts.append(f"{row['backend']} {row['records_per_s'] / 1e6:.2f} M records/s, "
                             f"{row['written_bytes_per_record']:,.0f} B written per record")
        if parts:
            out.append(f"{key}: " + "; ".join(parts))
    return out


def spread_headline(name):
    """The counter whose spread over the rounds is shown for a benchmark: (counter, unit, scale)."""
    if "bandwidth" in name or name.startswith("throughput"):
        return "MB_per_s", "MB/s", 1
    return "p50_us", "µs p50", 1


def missed_targets(rows):
    return [f"{row['scenario']} {row['backend']}: {fmt_ratio(row['ratio'])} of the raw device "
            f"(target {row['target']})" for row in rows if row["met"] is False]


def plot(rows, values, png_path, title):
    plt = rc.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    # Latency: raw 4 KiB, raw into fresh blocks, log psync, log io_uring; p50/p99/p99.9.
    series = [("raw 4 KiB write+fdatasync", "raw_4k/latency", COLORS["raw"]),
              ("raw, fresh fallocated blocks", "raw_4k/latency_fresh", COLORS["raw_fresh"]),
              ("log psync", "latency_64B/psync", COLORS["psync"]),
              ("log io_uring", "latency_64B/io_uring", COLORS["io_uring"])]
    rc.plot_latency_vs_raw(axes[0], values, series, 0.2,
                           "raw 4 KiB, in the same moments as the log",
                           "Durable write latency: one 64 B append + wait_durable vs one 4 KiB "
                           "pwrite+fdatasync\n(lower is better)")
    # Throughput: payload MB/s per size and back end, next to the raw 1 MiB bandwidth measured
    # around those runs; dashed: the target (a fraction of that raw bandwidth).
    ax = axes[1]
    keys = [key for key, _, _, _ in THROUGHPUT]
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
        rc.grouped_bars(ax, i, len(bars_by), 0.27, ys, label, color, lambda y: f"{y:,.0f}")
        if which == "raw":
            rc.target_lines(ax, [y * minimum if y else None
                                 for y, (_, _, _, minimum) in zip(ys, THROUGHPUT)])
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(["64 B records", "1 KiB records"])
    ax.set_ylabel("MB/s (log: payload bytes)")
    ax.set_title("Log throughput, 2 appenders, vs the raw bandwidth around the runs\n"
                 "(higher is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    rc.save_figure(plt, fig, png_path, title)


def readme_section(suite, rows, details, spread, png_rel, results_file, missed):
    context, hardware, disk, rounds = suite.context, suite.hardware, suite.disk, suite.rounds
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
    lines += rc.bullet_lines(details, spread, suite.skips)
    lines += ["", rc.figure_and_raw_numbers("write-ahead log benchmarks", png_rel, results_file),
              ""]
    lines.append(rc.missed_sentence(missed, "Log targets missed in this run: ",
                                    "Every log target was met in this run."))
    return "\n".join(lines)


def main():
    return rc.disk_suite_main(__doc__, "log", "corq_log_bench",
                              "corq write-ahead log vs the raw device",
                              lambda values, _context: build_rows(values), missed_targets,
                              detail_lines, spread_headline, markdown_table, plot, readme_section,
                              ANCHORS)


if __name__ == "__main__":
    sys.exit(main())
