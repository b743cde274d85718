#!/usr/bin/env python3
"""perf/report_durable.py — turns corq_durable_bench's JSON into the durable-queue results table, the
plot and the recorded results file.

    report_durable.py BENCH_JSON --results-dir DIR [--png FILE] [--readme README.md] [--strict]

* reads Google Benchmark's JSON output of corq_durable_bench (one run: the raw device and durable
  queues through the C API on the psync and io_uring back ends, in rounds);
* per benchmark, takes the median over rounds of each counter; a ratio is the median of the
  per-round ratios the benchmark computed against raw writes made in its own moments (latency,
  publish) or against the publish-only run of its own round (pubsub);
* prints a Markdown table: scenario, back end, corq, the baseline, the ratio, the issue's target,
  met/MISSED;
* writes DIR/<hostname>-<YYYY-MM-DD>-durable.json: the benchmark's JSON plus a `corq_report` section
  (hardware and disk line, the rows, the missed targets);
* draws FILE (default DIR/durable.png): latency percentiles, throughput, recovery;
* with --readme, replaces the text between `<!-- results:durable:begin -->` and
  `<!-- results:durable:end -->` (inserted after `<!-- results:log:end -->` if missing).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip. Shares its helpers with
report_log.py.
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import readme_region  # noqa: E402  (same directory)
import report_log as rl  # noqa: E402  (same directory: runs_by_name, medians, hardware_line, ...)

BACKENDS = rl.BACKENDS
COLORS = rl.COLORS

BEGIN_MARK = "<!-- results:durable:begin -->"
END_MARK = "<!-- results:durable:end -->"
ANCHORS = ["<!-- results:log:end -->", "<!-- results:engine:end -->", "<!-- results:end -->"]

# (percentile, counter, ratio counter, maximum ratio to the raw 4 KiB write+fdatasync percentile)
LATENCY = [("p50", "p50_us", "p50_ratio", 1.5), ("p99", "p99_us", "p99_ratio", 2.0),
           ("p99.9", "p999_us", "p999_ratio", None)]
# (scenario, label, minimum payload-bytes ratio to the raw 1 MiB write+fdatasync bandwidth)
PUBLISH = [("publish_64B", "durable publish, 2 producers, 64 B, NOWAIT + flush every 4096", 0.12),
           ("publish_1KiB", "durable publish, 2 producers, 1 KiB, NOWAIT + flush every 4096", 0.5)]


def row(scenario, backend, label, value, unit, base, base_label, ratio, target, bound,
        higher_is_better, extra=None):
    r = {"scenario": scenario, "backend": backend, "label": label, "value": value, "unit": unit,
         "base": base, "base_label": base_label, "ratio": ratio, "target": target, "bound": bound,
         "met": rl.verdict(ratio if ratio is not None and base is not None else value, bound,
                           higher_is_better)}
    r.update(extra or {})
    return r


def build_rows(values, context):
    rows = []
    for name, counter, ratio_counter, maximum in LATENCY:
        for backend in BACKENDS:
            v = values.get(f"latency_64B/{backend}", {})
            rows.append(row(f"latency_{name}", backend,
                            f"synchronous `corq_publish` 64 B (sync=always), {name}",
                            v.get(counter), "µs", v.get(f"raw_{counter}"),
                            f"4 KiB write+fdatasync {name}", v.get(ratio_counter),
                            f"≤ {maximum:g}×" if maximum else "—", maximum, False))
    for key, label, minimum in PUBLISH:
        for backend in BACKENDS:
            v = values.get(f"{key}/{backend}", {})
            rows.append(row(key, backend, label, v.get("MB_per_s"), "MB/s", v.get("raw_MB_per_s"),
                            "1 MiB write+fdatasync", v.get("bandwidth_ratio"), f"≥ {minimum:g}×",
                            minimum, True, {"msgs_per_s": v.get("msgs_per_s"),
                                            "written_bytes_per_msg":
                                                v.get("written_bytes_per_msg")}))
    consumers = int(context.get("corq_consumers", 1))
    for backend in BACKENDS:
        v = values.get(f"pubsub_64B/{backend}", {})
        msgs = v.get("msgs_per_s")
        base = v.get("publish_msgs_per_s")
        rows.append(row("pubsub_64B", backend,
                        f"publish + consume + ack, 64 B, 2 producers, {consumers} consumer"
                        f"{'s' if consumers > 1 else ''} (prefetch "
                        f"{context.get('corq_consumer_prefetch', '1024')}, `corq_ack_upto` per "
                        "batch)", msgs / 1e3 if msgs else None, "k msgs/s",
                        base / 1e3 if base else None, "publish only, same round",
                        v.get("publish_ratio"), "≥ 0.6×", 0.6, True,
                        {"normalized_ratio": v.get("normalized_ratio")}))
    unsettled = int(context.get("corq_unsettled_msgs", 0))
    settled = int(context.get("corq_settled_msgs", 0))
    quick = context.get("corq_scale") == "quick"
    scaled = " (quick scale; the target is for {})" if quick else ""
    for backend in BACKENDS:
        v = values.get(f"recovery_unsettled/{backend}", {})
        rows.append(row("recovery_unsettled", backend,
                        f"reopen after {unsettled:,} unsettled 64 B messages" +
                        scaled.format("1,000,000"), v.get("reopen_s"), "s", None, "", None,
                        "≤ 1.5 s", 1.5, False))
    for backend in BACKENDS:
        v = values.get(f"recovery_settled/{backend}", {})
        rows.append(row("recovery_settled", backend,
                        f"reopen after {settled:,} 64 B messages published and acked" +
                        scaled.format("6,000,000"), v.get("reopen_s"), "s", None, "", None,
                        "≤ 0.2 s", 0.2, False))
    for backend in BACKENDS:
        v = values.get(f"recovery_settled/{backend}", {})
        rows.append(row("recovery_settled_segments", backend,
                        f"*.wal files (64 MiB) left after {settled:,} published and acked" +
                        scaled.format("6,000,000"), v.get("wal_files"), "files", None, "", None,
                        "≤ 3", 3, False))
    return rows


def fmt_value(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "files":
        return f"{v:g}"
    return f"{rl.fmt_value(v)} {unit}"


def result_text(r):
    if r["bound"] is None:
        return "—"
    if r["met"] is None:
        return "not run"
    return "met" if r["met"] else "**MISSED**"


def markdown_table(rows):
    lines = ["| scenario | back end | corq | baseline, same run | corq ÷ baseline | target | result |",
             "|---|---|--:|--:|--:|---|---|"]
    for r in rows:
        base = "—" if r["base"] is None else f"{fmt_value(r['base'], r['unit'])} ({r['base_label']})"
        lines.append(f"| {r['label']} | {r['backend']} | {fmt_value(r['value'], r['unit'])} | "
                     f"{base} | {rl.fmt_ratio(r['ratio'])} | {r['target']} | {result_text(r)} |")
    return "\n".join(lines)


def detail_lines(rows, values):
    out = [rl.device_line(values)]
    for key, _, _ in PUBLISH:
        parts = [f"{r['backend']} {r['msgs_per_s'] / 1e6:.2f} M msgs/s, "
                 f"{r['written_bytes_per_msg']:,.0f} B written per message"
                 for r in rows if r["scenario"] == key and r["value"] is not None]
        if parts:
            out.append(f"{key}: " + "; ".join(parts))
    parts = [f"{r['backend']} {rl.fmt_ratio(r.get('normalized_ratio'))}" for r in rows
             if r["scenario"] == "pubsub_64B" and r.get("normalized_ratio") is not None]
    if parts:
        out.append("pubsub_64B ÷ publish_64B with each divided by the raw bandwidth around it "
                   "(removes the disk's change of speed between the two runs): " + "; ".join(parts))
    for kind in ("recovery_unsettled", "recovery_settled"):
        parts = []
        for backend in BACKENDS:
            v = values.get(f"{kind}/{backend}")
            if v:
                parts.append(f"{backend}: filled at {v.get('fill_msgs_per_s', 0) / 1e6:.2f} M msgs/s, "
                             f"close {v.get('close_s', 0) * 1e3:,.0f} ms, "
                             f"{v.get('wal_files', 0):g} *.wal files ({v.get('wal_MiB', 0):,.0f} MiB) "
                             f"after close, {v.get('wal_files_after_reopen', 0):g} after reopen, "
                             f"{v.get('checkpoints', 0):g} checkpoints")
        if parts:
            out.append(f"{kind}: " + "; ".join(parts))
    return out


def spread_line(runs):
    parts = []
    for name, reps in runs.items():
        if name.startswith("recovery"):
            counter, unit, scale = "reopen_s", "ms reopen", 1e-3
        elif "bandwidth" in name or name.startswith("publish"):
            counter, unit, scale = "MB_per_s", "MB/s", 1
        elif name.startswith("pubsub"):
            counter, unit, scale = "msgs_per_s", "k msgs/s", 1e3
        else:
            counter, unit, scale = "p50_us", "µs p50", 1
        xs = [r[counter] for r in reps if counter in r]
        if xs:
            parts.append(f"{name} {min(xs) / scale:,.0f}–{max(xs) / scale:,.0f} {unit}")
    return "; ".join(parts)


def missed_targets(rows):
    out = []
    for r in rows:
        if r["met"] is False:
            shown = rl.fmt_ratio(r["ratio"]) if r["base"] is not None else fmt_value(r["value"],
                                                                                      r["unit"])
            out.append(f"{r['scenario']} {r['backend']}: {shown} (target {r['target']})")
    return out


def plot(rows, values, png_path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 3, 2]})
    ax = axes[0]
    series = [("raw 4 KiB write+fdatasync", "raw_4k/latency", COLORS["raw"]),
              ("corq psync", "latency_64B/psync", COLORS["psync"]),
              ("corq io_uring", "latency_64B/io_uring", COLORS["io_uring"])]
    counters = [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")]
    width = 0.27
    marked = False
    for i, (label, name, color) in enumerate(series):
        ys = [values.get(name, {}).get(c) or 0 for _, c in counters]
        xs = [k + (i - 1) * width for k in range(len(counters))]
        bars = ax.bar(xs, ys, width, label=label, color=color)
        paired = [values.get(name, {}).get(f"raw_{c}") for _, c in counters]
        if name.startswith("latency_") and any(paired):
            ax.scatter([x for x, p in zip(xs, paired) if p], [p for p in paired if p], marker="_",
                       s=300, color="black", zorder=3,
                       label=None if marked else "raw 4 KiB, in the same moments")
            marked = True
        for bar, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:,.0f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks(range(len(counters)))
    ax.set_xticklabels([n for n, _ in counters])
    ax.set_yscale("log")
    ax.set_ylabel("µs (log scale)")
    ax.set_title("Synchronous durable publish of 64 B vs one 4 KiB pwrite+fdatasync\n"
                 "(lower is better)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    groups = [("publish_64B", "publish 64 B", 0.12), ("publish_1KiB", "publish 1 KiB", 0.5),
              ("pubsub_64B", "pub+consume+ack 64 B", None)]
    width = 0.27
    for i, (label, which, color) in enumerate([("raw 1 MiB write+fdatasync", "raw", COLORS["raw"])]
                                              + [(f"corq {b}", b, COLORS[b]) for b in BACKENDS]):
        ys = []
        for key, _, _ in groups:
            vs = [values.get(f"{key}/{b}", {}) for b in BACKENDS]
            if which == "raw":
                raws = [v["raw_MB_per_s"] for v in vs if v.get("raw_MB_per_s")]
                ys.append(statistics.mean(raws) if raws else 0)
            else:
                ys.append(values.get(f"{key}/{which}", {}).get("MB_per_s") or 0)
        xs = [k + (i - 1) * width for k in range(len(groups))]
        bars = ax.bar(xs, ys, width, label=label, color=color)
        for bar, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:,.0f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=7)
        if which == "raw":
            for k, ((_, _, bound), y) in enumerate(zip(groups, ys)):
                if y and bound:
                    ax.hlines(y * bound, k - 0.45, k + 0.45, colors="black", linestyles="--",
                              linewidth=0.9, label="target" if k == 0 else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[1] for g in groups])
    ax.set_ylabel("MB/s (corq: payload bytes)")
    ax.set_title("Durable throughput, 2 producers, vs the raw bandwidth around the runs\n"
                 "(higher is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[2]
    kinds = [("recovery_unsettled", "unsettled", 1.5), ("recovery_settled", "published+acked", 0.2)]
    width = 0.35
    for i, backend in enumerate(BACKENDS):
        ys = [values.get(f"{k}/{backend}", {}).get("reopen_s") or 0 for k, _, _ in kinds]
        xs = [k + (i - 0.5) * width for k in range(len(kinds))]
        bars = ax.bar(xs, ys, width, label=f"corq {backend}", color=COLORS[backend])
        for bar, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:.3f}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=7)
    for k, (_, _, bound) in enumerate(kinds):
        ax.hlines(bound, k - 0.45, k + 0.45, colors="black", linestyles="--", linewidth=0.9,
                  label="target" if k == 0 else None)
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels([f"{lbl}" for _, lbl, _ in kinds])
    ax.set_yscale("log")
    ax.set_ylabel("s (log scale)")
    ax.set_title("Reopen (corq_open) time\n(lower is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def readme_section(rows, values, hardware, disk, png_rel, context, rounds, results_file, missed,
                   spread, skips):
    quick = context.get("corq_scale") == "quick"
    lines = [
        "### Durable queues\n",
        "Durable queues through the C API (`tools/bench.sh --suite durable`, `bench/log/durable_*`,"
        " `corq_durable_bench`) against the raw device, in the same run and the same directory; "
        f"commit `{context.get('corq_commit', 'unknown')}`, {hardware}; {disk}. Engine: "
        "`corq_open(dir)` with `sync=always`, `io_backend=psync|io_uring`, default 64 MiB segments, "
        "`direct_io=auto`; durable queues. Publish: 2 threads, each `corq_producer_send` of single "
        "messages with `CORQ_PUBLISH_NOWAIT` and `corq_producer_flush` every 4096 and at the end "
        f"({int(context.get('corq_small_msgs_per_producer', 0)):,} (64 B) / "
        f"{int(context.get('corq_large_msgs_per_producer', 0)):,} (1 KiB) per thread, nobody "
        "consuming), payload bytes only, against 1 MiB `pwrite`+`fdatasync` blocks written "
        f"({int(context.get('corq_paired_bandwidth_bytes', 0)) >> 20} MiB) right before and right "
        "after each run. Latency: one thread, synchronous `corq_publish` of 64 B, "
        f"{int(context.get('corq_latency_samples', 0)):,} samples per round in chunks of 20 "
        "alternating with 20 raw 4 KiB `pwrite`+`fdatasync`. Publish+consume+ack: the same "
        f"producers with 64 B plus {context.get('corq_consumers', '1')} consumer thread(s) "
        "(prefetch 1024, `corq_ack_upto` per batch) until all is acked and `corq_sync` returns, "
        "against the publish-only run of the same back end in the same round. Recovery: a fresh "
        f"directory; {int(context.get('corq_unsettled_msgs', 0)):,} unsettled 64 B messages "
        "(publish as above), `corq_close`, timed `corq_open`; and "
        f"{int(context.get('corq_settled_msgs', 0)):,} 64 B messages published in batches of 256 "
        "(NOWAIT, flush every 4096) and acked by one consumer while they come, `corq_sync`, "
        "`corq_close`, the `*.wal` files counted, timed `corq_open`. Publish, latency and "
        "pubsub share one engine directory per back end across rounds (each declares a fresh "
        f"queue and deletes it at the end). Medians of {rounds} rounds; a ratio is the median "
        "over rounds of the ratios paired within a round" +
        (". **Quick run: smaller counts, one round — numbers not meaningful.**" if quick else "."),
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
        (f"![durable queue benchmarks]({png_rel}) — " if png_rel else "") +
        f"raw numbers: `perf/results/{results_file}`.",
        "",
    ]
    if missed:
        lines.append("Durable targets missed in this run: " + "; ".join(missed) + ".")
    else:
        lines.append("Every durable target was met in this run.")
    return "\n".join(lines)


def replace_readme_region(readme_path, text):
    readme_region.replace_region(readme_path, "durable", text, ANCHORS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bench_json", help="corq_durable_bench --benchmark_out JSON")
    parser.add_argument("--results-dir", required=True,
                        help="where <host>-<date>-durable.json goes")
    parser.add_argument("--png", help="plot path (default: RESULTS_DIR/durable.png)")
    parser.add_argument("--readme", help="README to update between the durable results markers")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    with open(args.bench_json, encoding="utf-8") as f:
        bench_json = json.load(f)
    context = bench_json.get("context", {})
    runs = rl.runs_by_name(bench_json)
    values = rl.medians(runs)
    rows = build_rows(values, context)
    hardware = rl.hardware_line(context)
    disk = rl.disk_line(context)
    missed = missed_targets(rows)
    skips = rl.skipped(bench_json)
    errors = {k: v for k, v in skips.items() if not v.startswith("skipped:")}
    rounds = max((v.get("repetitions", 1) for v in values.values()), default=1)
    spread = spread_line(runs)

    os.makedirs(args.results_dir, exist_ok=True)
    date = context.get("date", "")[:10] or datetime.date.today().isoformat()
    results_file = f"{socket.gethostname()}-{date}-durable.json"
    bench_json["corq_report"] = {"hardware": hardware, "disk": disk, "rows": rows,
                                 "missed": missed, "skipped": skips, "medians": values,
                                 "details": detail_lines(rows, values), "spread": spread}
    with open(os.path.join(args.results_dir, results_file), "w", encoding="utf-8") as f:
        json.dump(bench_json, f, indent=1)
        f.write("\n")

    png = args.png or os.path.join(args.results_dir, "durable.png")
    try:
        plot(rows, values, png, f"corq durable queues vs the raw device — {hardware}; {disk}")
    except ImportError as e:
        print(f"report_durable: no plot ({e}); apt-get install python3-matplotlib",
              file=sys.stderr)
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
