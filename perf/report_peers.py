#!/usr/bin/env python3
"""perf/report_peers.py — turns the peers suite's JSON lines into the corq-vs-peers table, the plot and
the recorded results file.

    report_peers.py RUNS_JSONL --results-dir DIR [--png FILE] [--readme bench/README.md] [--commit SHA]
                    [--strict]

* reads bench/peers/run.sh's output: a context line, one line per run (system, size, round,
  throughput, publish->ack latency percentiles, the exactly-once check), skipped systems with their
  reason, and the strace flush counts of --verify-fsync;
* per system and size takes the median over rounds of throughput and of each percentile; the ratio
  corq/peer is the median of the per-round ratios (corq durable against the peer in the same round);
* prints a Markdown table: system, durability, msgs/s, p50/p99/p99.9, corq durable ÷ peer, the issue's
  target for that peer (corq ≥ 50× RabbitMQ durable classic, ≥ 10× Redis Streams appendfsync
  always, ≥ 3× RocksDB sync=true; 64-byte messages), met/MISSED;
* writes DIR/<hostname>-<YYYY-MM-DD>-peers.json (the runs plus a `corq_report` section) and FILE
  (default DIR/peers.png): throughput (log scale) and latency percentiles per system;
* with --readme, replaces the text between `<!-- results:peers:begin -->` and
  `<!-- results:peers:end -->` (inserted after `<!-- results:durable:end -->` if missing).

A run that failed or was not exactly once is shown as FAILED and never enters a median.
Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import datetime
import json
import os
import statistics
import sys

import report_common as rc  # same directory

# Where the region goes in a README that does not have it yet.
ANCHORS = ["<!-- results:durable:end -->", "<!-- results:log:end -->", "<!-- results:end -->"]

REFERENCE = "corq-durable"
# system -> (label, issue's target: corq durable msgs/s ÷ peer msgs/s at 64 B, or None)
SYSTEMS = {
    "corq-durable": ("corq durable (sync=always)", None),
    "corq-transient": ("corq transient (in memory, reference)", None),
    "corq-stream": ("corq durable stream, shared group (sync=always)", None),
    "rabbitmq-classic": ("RabbitMQ durable classic queue", 50.0),
    "rabbitmq-quorum": ("RabbitMQ quorum queue", None),
    "redis-streams": ("Redis Streams, appendfsync always", 10.0),
    "rocksdb": ("RocksDB, sync=true", 3.0),
    "sqlite": ("SQLite, WAL + synchronous=FULL", None),
}
TARGET_SIZE = 64
# Issue #17: corq's durable stream (corq-stream) against Redis Streams, the same records.
STREAM_REFERENCE, STREAM_PEER, STREAM_TARGET = "corq-stream", "redis-streams", 10.0
COLORS = {"corq-durable": "#1f77b4", "corq-transient": "#aec7e8", "corq-stream": "#17becf",
          "rabbitmq-classic": "#ff7f0e",
          "rabbitmq-quorum": "#ffbb78", "redis-streams": "#d62728", "rocksdb": "#2ca02c",
          "sqlite": "#9467bd"}


def load(path):
    context, context_end, runs, skipped, verify = {}, {}, [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"report_peers: {path}:{n}: not JSON ({e})")
            if "context" in obj:
                context = obj["context"]
            elif "context_end" in obj:
                context_end = obj["context_end"]
            elif "run" in obj:
                runs.append(dict(obj["run"], round=obj.get("round", 1)))
            elif "skipped" in obj:
                skipped.append(dict(obj["skipped"], round=obj.get("round", 1)))
            elif "verify" in obj:
                verify.append(obj["verify"])
    if not runs and not skipped:
        sys.exit(f"report_peers: {path} holds no runs")
    return context, context_end, runs, skipped, verify


def ok(run):
    """Counted: every message arrived intact, exactly once or with system-flagged redeliveries."""
    return run.get("delivery") in ("exactly once", "at least once") and not run.get("error")


def build_rows(runs, skipped):
    """One row per (system, size) in SYSTEMS order: medians over the rounds' good runs."""
    by_key = {}
    for r in runs:
        by_key.setdefault((r["system"], r.get("size")), []).append(r)
    sizes = sorted({k[1] for k in by_key if isinstance(k[1], int)})
    rows = []
    for size in sizes:
        reference = {r["round"]: r for r in by_key.get((REFERENCE, size), []) if ok(r)}
        stream_reference = {r["round"]: r for r in by_key.get((STREAM_REFERENCE, size), [])
                            if ok(r)}
        for system, (label, target) in SYSTEMS.items():
            all_runs = by_key.get((system, size), [])
            good = [r for r in all_runs if ok(r)]
            row = {"system": system, "label": label, "size": size, "rounds": len(good),
                   "failed": [r.get("error") or "lost, corrupt or silently repeated messages"
                              for r in all_runs if not ok(r)],
                   "redelivered": sum(r.get("duplicates", 0) for r in good),
                   "delivered_messages": sum(r.get("messages", 0) for r in good),
                   "target": target if size == TARGET_SIZE else None}
            if not all_runs:
                reasons = sorted({s["reason"] for s in skipped if s["system"] == system})
                row["skipped"] = "; ".join(reasons) or "not run"
                rows.append(row)
                continue
            if good:
                row["durability"] = good[0].get("durability", "")
                row["msgs_per_s"] = statistics.median(r["msgs_per_s"] for r in good)
                for p in ("p50", "p99", "p999"):
                    row[p + "_us"] = statistics.median(r["latency_us"][p] for r in good)
                ratios = [reference[r["round"]]["msgs_per_s"] / r["msgs_per_s"]
                          for r in good if r["round"] in reference and r["msgs_per_s"] > 0]
                # corq's own rows (durable, transient) get no ratio: it is corq against its peers.
                is_peer = not system.startswith("corq-")
                row["ratio"] = statistics.median(ratios) if ratios and is_peer else None
                row["ratio_range"] = [min(ratios), max(ratios)] if ratios else None
                if system == STREAM_PEER:
                    stream_ratios = [stream_reference[r["round"]]["msgs_per_s"] / r["msgs_per_s"]
                                     for r in good
                                     if r["round"] in stream_reference and r["msgs_per_s"] > 0]
                    if stream_ratios:
                        row["stream_ratio"] = statistics.median(stream_ratios)
                        row["stream_target"] = STREAM_TARGET if size == TARGET_SIZE else None
                        row["stream_met"] = row["stream_ratio"] >= STREAM_TARGET
            if row["target"] is not None:
                row["met"] = row.get("ratio") is not None and row["ratio"] >= row["target"]
            rows.append(row)
    return rows


def fmt_int(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt_ratio(v):
    if v is None:
        return "—"
    return f"{v:.3g}×" if v < 100 else f"{v:,.0f}×"


def verdict(row):
    return rc.result_cell(row["target"] is not None, bool(row.get("met")))


def fmt_size(size):
    return f"{size} B" if size < 1024 else f"{size // 1024} KiB"


def markdown_table(rows):
    lines = ["| system | size | msgs/s | p50 µs | p99 µs | p99.9 µs | corq durable ÷ peer | target | |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        size = fmt_size(r["size"])
        if "skipped" in r:
            lines.append(f"| {r['label']} | {size} | skipped: {r['skipped']} | | | | | | |")
            continue
        if "msgs_per_s" not in r:
            lines.append(f"| {r['label']} | {size} | FAILED: {r['failed'][0]} | | | | | | |")
            continue
        target = f"≥ {r['target']:g}×" if r["target"] is not None else "—"
        mark = " †" if r["redelivered"] else ""
        lines.append(f"| {r['label']}{mark} | {size} | {fmt_int(r['msgs_per_s'])} | {fmt_int(r['p50_us'])} | "
                     f"{fmt_int(r['p99_us'])} | {fmt_int(r['p999_us'])} | {fmt_ratio(r.get('ratio'))} | "
                     f"{target} | {verdict(r)} |")
    for r in rows:
        if r.get("stream_ratio") is None:
            continue
        target = (f" (target ≥ {r['stream_target']:g}×: "
                  f"{'met' if r['stream_met'] else '**missed**'})" if r.get("stream_target") else "")
        lines.append("")
        lines.append(f"corq's durable stream with a shared group (`corq-stream`) ÷ {r['label']} at "
                     f"{fmt_size(r['size'])}: {fmt_ratio(r['stream_ratio'])}{target}.")
    repeated = [r for r in rows if r.get("redelivered")]
    if repeated:
        lines.append("")
        lines.append("† at-least-once delivery: " + "; ".join(
            f"{r['label']} {fmt_size(r['size'])} delivered {r['redelivered']:,} of "
            f"{r['delivered_messages']:,} messages a second time, each flagged `redelivered` by the "
            "broker (nothing lost; throughput counts distinct messages)" for r in repeated) + ".")
    failed = [r for r in rows if r.get("failed")]
    if failed:
        lines.append("")
        lines.append("Failed runs (left out of the medians): " + "; ".join(
            f"{r['label']} {fmt_size(r['size'])}: {', '.join(r['failed'])}" for r in failed) + ".")
    return "\n".join(lines)


def verify_lines(verify):
    lines = []
    for v in verify:
        calls = v.get("calls", {})
        flushes = sum(calls.get(c, 0) for c in ("fsync", "fdatasync"))
        detail = ", ".join(f"{k} {n:,}" for k, n in sorted(calls.items())) or "none"
        per_k = 1000.0 * flushes / v["messages"] if v.get("messages") else 0
        lines.append(f"- {SYSTEMS.get(v['system'], (v['system'],))[0]}: {detail} during "
                     f"{v['messages']:,} messages ({per_k:.1f} fsync+fdatasync per 1,000 messages)")
    return lines


def missed(rows):
    return [r for r in rows if (r["target"] is not None and not r.get("met")) or
            (r.get("stream_target") is not None and not r.get("stream_met"))]


def hardware_line(context):
    return (f"{context.get('cpu', 'unknown CPU')}, {context.get('cpus', '?')} CPUs, Linux "
            f"{context.get('kernel', '?')}, {context.get('machine', '?')}, "
            f"{context.get('filesystem', '?')} filesystem, measured {context.get('when', '')[:10]}")


def plot(rows, png_path, title):
    plt = rc.pyplot()
    sizes = sorted({r["size"] for r in rows})
    measured = [r for r in rows if "msgs_per_s" in r]
    fig, axes = plt.subplots(len(sizes), 2, figsize=(13, 4.2 * len(sizes)), squeeze=False)
    for i, size in enumerate(sizes):
        these = [r for r in measured if r["size"] == size]
        if not these:  # every system skipped or failed at this size
            for ax in axes[i]:
                ax.text(0.5, 0.5, f"{fmt_size(size)}: no system measured", ha="center",
                        va="center", transform=ax.transAxes)
                ax.set_axis_off()
            continue
        names = [r["label"].split(",")[0].replace(" (", "\n(") for r in these]
        ax = axes[i][0]
        bars = ax.barh(range(len(these)), [r["msgs_per_s"] for r in these],
                       color=[COLORS.get(r["system"], "grey") for r in these])
        ax.set_yticks(range(len(these)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("messages/s (log scale; higher is better)")
        ax.set_title(f"{fmt_size(size)}: end-to-end throughput")
        for b, r in zip(bars, these):
            text = f"{r['msgs_per_s']:,.0f}"
            if r.get("ratio"):
                text += f"  (corq durable {fmt_ratio(r['ratio'])})"
            ax.text(b.get_width(), b.get_y() + b.get_height() / 2, " " + text, va="center",
                    fontsize=7)
        ax.set_xlim(right=max(r["msgs_per_s"] for r in these) * 30)
        ax = axes[i][1]
        width = 0.26
        for k, (p, label) in enumerate((("p50_us", "p50"), ("p99_us", "p99"),
                                        ("p999_us", "p99.9"))):
            ax.barh([j + (k - 1) * width for j in range(len(these))],
                    [max(r[p], 1) / 1000.0 for r in these], height=width, label=label)
        ax.set_yticks(range(len(these)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("publish → ack latency, ms (log scale; lower is better)")
        ax.set_title(f"{fmt_size(size)}: latency percentiles")
        ax.legend(fontsize=8)
    rc.save_figure(plt, fig, png_path, title, dpi=110)


def readme_section(rows, context, context_end, verify, png_rel, results_file, commit):
    gone = missed(rows)
    lines = [f"{hardware_line(context)}; commit `{commit}`. Load average at the start "
             f"{' / '.join(context.get('loadavg', []))}, at the end "
             f"{' / '.join(context_end.get('loadavg', []))} (a shared 2-core VM: other work ran "
             "alongside, so compare ratios within this run, not absolute numbers across runs). "
             f"{context.get('rounds', '?')} rounds of {context.get('messages', 0):,} messages per "
             "system and size; medians over rounds; a ratio is the median of the ratios paired "
             "within a round.",
             "",
             markdown_table(rows),
             "",
             f"![corq against its peers]({png_rel})",
             ""]
    if verify:
        lines += ["Flushes counted with `strace -f -c` on a short run of each system (the server "
                  "process for RabbitMQ and Redis; corq with its psync back end, whose flushes are "
                  "system calls):", ""] + verify_lines(verify) + [""]
    if gone:
        lines.append("Targets **missed** in this run: " + "; ".join(
            f"{r['label']} ({fmt_ratio(r.get('ratio'))}, target ≥ {r['target']:g}×)" for r in gone)
            + ".")
    else:
        lines.append("Every target is met in this run.")
    met = [r for r in rows if r["target"] is not None and r.get("met")]
    if met:
        lines.append("Met: " + "; ".join(
            f"{r['label']} ({fmt_ratio(r['ratio'])}, target ≥ {r['target']:g}×)" for r in met) + ".")
    lines += ["", f"Raw numbers: `perf/results/{results_file}`."]
    return "\n".join(lines)


def main():
    parser = rc.report_arguments(__doc__, "runs_jsonl", "bench/peers/run.sh --out file", "peers",
                                 "<host>-<date>-peers.json")
    parser.add_argument("--commit", default="unknown", help="the commit measured")
    args = parser.parse_args()

    context, context_end, runs, skipped, verify = load(args.runs_jsonl)
    rows = build_rows(runs, skipped)
    date = (context.get("when") or datetime.date.today().isoformat())[:10]
    results_file = rc.results_file_name(date, "peers")
    png = args.png or os.path.join(args.results_dir, "peers.png")
    gone = missed(rows)
    rc.write_results(args.results_dir, results_file,
                     {"context": context, "context_end": context_end, "runs": runs,
                      "skipped": skipped, "verify": verify,
                      "corq_report": {"commit": args.commit, "hardware": hardware_line(context),
                                      "rows": rows,
                                      "missed": [f"{r['system']} {r['size']} B" for r in gone]}})
    plot(rows, png, f"corq against its peers — durable work queue, {hardware_line(context)}")

    print(f"hardware: {hardware_line(context)}")
    print(markdown_table(rows))
    for line in verify_lines(verify):
        print(line)
    for r in rows:
        for e in r["failed"]:
            print(f"FAILED run: {r['system']} {r['size']} B: {e}")
    if gone:
        print("Peer targets missed in this run: " + "; ".join(
            f"{r['system']} {r['size']} B ({fmt_ratio(r.get('ratio'))}, target ≥ {r['target']:g}×)"
            for r in gone))
    print(f"results: {os.path.join(args.results_dir, results_file)}; plot: {png}")
    if args.readme:
        rc.replace_region(args.readme, "peers",
                          readme_section(rows, context, context_end, verify,
                                         rc.relative_to_readme(args.readme, png), results_file,
                                         args.commit), ANCHORS)
        print(f"updated {args.readme}")
    return 1 if args.strict and gone else 0


if __name__ == "__main__":
    sys.exit(main())
