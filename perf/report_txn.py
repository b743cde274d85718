#!/usr/bin/env python3
"""perf/report_txn.py — turns corq_durable_bench's transaction benchmarks (txn_*, issue #18) into the
transactions results tables, the plot and the recorded results file.

    report_txn.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

* reads Google Benchmark's JSON output of corq_durable_bench (the whole suite, or only the txn_*
  benchmarks: `--benchmark_filter='^txn_'`); each txn_<input>_to_<output>_b<B>/<sync> benchmark ran
  the transactional loop and the same work without a transaction in alternating phases of one round
  (bench/log/durable_txn.cpp);
* per benchmark, the median over rounds of each counter; the judged ratio is the median over rounds
  of each round's median over its chunks of txn msgs/s ÷ plain msgs/s within the chunk (a plain and
  a txn phase back to back: the same moments of the disk; a stall that hits one phase moves one
  chunk), shown next to the whole rounds' ratio (every stall counted);
* prints two Markdown tables: throughput (txn, plain, ratio, the issue's ≥ 0.8× target, judged for
  queue output under sync=always — the issue's "durable consume-transform-produce", with queue and
  group input; the rest shown, not judged) and the latency of one settle (txn: begin to commit's
  return, and the commit alone; plain: the send and the ack) p50/p99/p99.9;
* writes DIR/<hostname>-<YYYY-MM-DD>-txn.json: the benchmark's JSON plus a `corq_report` section;
* draws FILE (default DIR/txn.png): msgs/s of each mode and the ratios against the target;
* with --readme, replaces the text between `<!-- results:txn:begin -->` and
  `<!-- results:txn:end -->` (inserted after the durable region if missing).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip. Shares the disk suites'
helpers with report_durable.py (report_common.py).
"""
import sys

import report_common as rc  # same directory

ANCHORS = ["<!-- results:durable:end -->", "<!-- results:log:end -->", "<!-- results:end -->"]
TARGET = 0.8  # issue #18: ≥ 0.8× the non-transactional throughput

# (scenario, label of the input and output, judged against TARGET under sync=always)
SCENARIOS = [
    ("queue_to_queue", "queue → queue", True),
    ("group_to_queue", "stream (group, ordered) → queue", True),
    ("group_to_stream", "stream (group, ordered) → stream", False),
]
# The plot's short names of the scenarios.
SHORT = {"queue_to_queue": "queue→queue", "group_to_queue": "group→queue",
         "group_to_stream": "group→stream"}
BATCHES = [1, 100]
SYNCS = ["always", "none"]
COLORS = {"txn": "#d1495b", "plain": "#8d99ae"}


def bench_name(scenario, batch, sync):
    return f"txn_{scenario}_b{batch}/{sync}"


def build_rows(values, context):
    del context  # the counters say everything the rows need
    rows = []
    for sync in SYNCS:
        for scenario, label, judged in SCENARIOS:
            for batch in BATCHES:
                v = values.get(bench_name(scenario, batch, sync), {})
                bound = TARGET if judged and sync == "always" else None
                ratio = v.get("ratio")
                # perf/compare.py pairs rows by scenario and back end: the scenario names the
                # benchmark (sync mode included); value and ratio are what it compares.
                rows.append({
                    "scenario": bench_name(scenario, batch, sync), "sync": sync, "label": label,
                    "batch": batch, "backend": v.get("label", "").split(",")[0] or "—",
                    "txn": v.get("txn_msgs_per_s"), "plain": v.get("plain_msgs_per_s"),
                    "value": v.get("txn_msgs_per_s"), "unit": "msgs/s", "higher_is_better": True,
                    "ratio": ratio, "time_ratio": v.get("time_ratio"), "bound": bound,
                    "target": f"≥ {TARGET:g}×" if bound else "—",
                    "met": rc.within(ratio, bound, True),
                    "latency": {k: v.get(k) for k in (
                        "txn_p50_us", "txn_p99_us", "txn_p999_us", "commit_p50_us",
                        "commit_p99_us", "commit_p999_us", "plain_p50_us", "plain_p99_us",
                        "plain_p999_us", "p50_ratio", "p99_ratio", "p999_ratio")},
                    "txn_cpu_us_per_msg": v.get("txn_cpu_us_per_msg"),
                    "plain_cpu_us_per_msg": v.get("plain_cpu_us_per_msg"),
                    "txn_written_bytes_per_msg": v.get("txn_written_bytes_per_msg"),
                    "plain_written_bytes_per_msg": v.get("plain_written_bytes_per_msg"),
                    "samples": v.get("samples"), "iterations": v.get("iterations"),
                    "chunks": v.get("chunks")})
    return rows


def k_msgs(v):
    if v is None:
        return "—"
    return f"{v:,.0f} msgs/s" if v < 1e4 else f"{rc.fmt_number(v / 1e3)} k msgs/s"


def us_triple(lat, prefix):
    parts = [lat.get(f"{prefix}_{q}_us") for q in ("p50", "p99", "p999")]
    if any(p is None for p in parts):
        return "—"
    return " / ".join(rc.fmt_number(p) for p in parts)


def markdown_table(rows):
    lines = ["| input → output | batch | sync | in a transaction | the same without one, same run "
             "| txn ÷ plain, paired chunks | txn ÷ plain, whole rounds | target | result |",
             "|---|--:|---|--:|--:|--:|--:|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['batch']} | {r['sync']} | {k_msgs(r['txn'])} | "
                     f"{k_msgs(r['plain'])} | {rc.fmt_ratio(r['ratio'], '.3g')} | "
                     f"{rc.fmt_ratio(r['time_ratio'], '.3g')} | {r['target']} | "
                     f"{rc.result_cell(r['bound'] is not None, r['met'])} |")
    lines += ["", "Latency of one settle, µs, p50 / p99 / p99.9 (txn: `corq_txn_begin` to "
              "`corq_txn_commit`'s return; plain: the send and the ack):", "",
              "| input → output | batch | sync | txn | of it, the commit | plain | txn ÷ plain p50 "
              "/ p99 |", "|---|--:|---|--:|--:|--:|--:|"]
    for r in rows:
        lat = r["latency"]
        ratios = (f"{rc.fmt_ratio(lat.get('p50_ratio'), '.3g')} / "
                  f"{rc.fmt_ratio(lat.get('p99_ratio'), '.3g')}")
        lines.append(f"| {r['label']} | {r['batch']} | {r['sync']} | {us_triple(lat, 'txn')} | "
                     f"{us_triple(lat, 'commit')} | {us_triple(lat, 'plain')} | {ratios} |")
    return "\n".join(lines)


def detail_lines(rows, values):
    out = [rc.device_line(values)]
    parts = []
    for r in rows:
        if r["txn_cpu_us_per_msg"] is None:
            continue
        parts.append(f"{r['scenario']} {r['txn_cpu_us_per_msg']:.1f} / "
                     f"{r['plain_cpu_us_per_msg']:.1f} µs CPU and "
                     f"{r['txn_written_bytes_per_msg']:,.0f} / "
                     f"{r['plain_written_bytes_per_msg']:,.0f} B written")
    if parts:
        out.append("per message, txn / plain (the whole process: workers and the engine's threads; "
                   "bytes the process sent to storage, /proc/self/io): " + "; ".join(parts))
    return out


def spread_headline(name):
    """The ratio's min–max over the rounds, in per cent (spread_line prints whole numbers)."""
    if name.startswith("txn_"):
        return "ratio", "% (txn ÷ plain)", 0.01
    return None


def missed_targets(rows):
    return [f"{r['scenario']}: {rc.fmt_ratio(r['ratio'], '.3g')} (target "
            f"{r['target']})" for r in rows if r["met"] is False]


def plot(rows, values, png_path, title):
    del values
    plt = rc.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 2]})
    shown = [r for r in rows if r["sync"] == "always"]
    names = [f"{SHORT[name]}\nbatch {b}" for name, _, _ in SCENARIOS for b in BATCHES]
    ax = axes[0]
    for i, mode in enumerate(["txn", "plain"]):
        ys = [(r[mode] or 0) / 1e3 for r in shown]
        rc.grouped_bars(ax, i, 2, 0.35, ys, "in a transaction" if mode == "txn" else
                        "the same without one", COLORS[mode], lambda y: f"{y:,.1f}" if y < 10 else f"{y:,.0f}")
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels(names, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("k msgs/s (log scale)")
    ax.set_title("Consume-transform-produce, 2 threads, sync=always (higher is better)",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    for i, sync in enumerate(SYNCS):
        ys = [r["ratio"] or 0 for r in rows if r["sync"] == sync]
        rc.grouped_bars(ax, i, len(SYNCS), 0.35, ys, f"sync={sync}",
                        COLORS["txn"] if sync == "always" else COLORS["plain"],
                        lambda y: f"{y:.2f}")
    ax.axhline(TARGET, color="black", linestyle="--", linewidth=0.9, label="target (≥ 0.8×)")
    labels = [f"{SHORT[name]}\nbatch {b}" for name, _, _ in SCENARIOS for b in BATCHES]
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel("txn msgs/s ÷ plain msgs/s, same round")
    ax.set_title("Ratio (target judged for queue output under sync=always)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    rc.save_figure(plt, fig, png_path, title)


def readme_section(suite, rows, details, spread, png_rel, results_file, missed):
    context, hardware, disk, rounds = suite.context, suite.hardware, suite.disk, suite.rounds
    quick = context.get("corq_scale") == "quick"
    any_row = next((r for r in rows if r["iterations"]), {})
    lines = [
        "### Transactions\n",
        "Consume-transform-produce in transactions against the same work without one (issue #18; "
        "`corq_durable_bench --benchmark_filter='^txn_'`, `bench/log/durable_txn.cpp`, table by "
        f"`perf/report_txn.py`); commit `{context.get('corq_commit', 'unknown')}`, {hardware}; "
        f"{disk}. Engine: `corq_open(dir)` on the back end `io_backend=auto` picks "
        f"({any_row.get('backend', '?')}), `sync=always` (the default) or `sync=none`, 64 B "
        "payloads, inputs published before the timed part. Two worker threads, each its own "
        "consumer of one durable queue (prefetch 256), or each a member of one `ordered` group on a "
        "durable stream of 2 partitions (one partition each); each loop takes B deliveries and "
        "settles them — **txn**: `corq_txn_begin`, per delivery `corq_txn_publish` of its payload "
        "to the output queue (or `corq_txn_append` to a durable stream of one partition) and "
        "`corq_txn_ack`, `corq_txn_commit`; **plain**, the baseline: batch 1 — `corq_publish` "
        "(`corq_stream_append`) then `corq_ack`, the issue's same three calls; batch 100 — one "
        "`corq_producer_send` (`corq_stream_producer_send`) of the 100 outputs then `corq_ack_upto`. "
        "The plain batch uses the batch calls because both loops move on once the outputs are "
        "durable and then settle the inputs: 100 synchronous `corq_publish` calls would wait for "
        "100 group commits where one commit waits once, a baseline no one tuning for throughput "
        "writes, and the ratio would flatter transactions by about the batch size. Plain and txn run "
        f"in alternating phases on the same engine and consumers ({int(any_row.get('chunks') or 0)} "
        "pairs per round, which goes first alternating), so both see the disk in the same moments. "
        f"Medians of {rounds} rounds. *Paired chunks*, the judged ratio: per round, the median "
        "over its chunks of txn msgs/s ÷ plain msgs/s within the chunk (a stall of the shared disk "
        "that hits one phase moves one chunk's ratio, not the median), then the median over "
        "rounds; *whole rounds*: per round, all its txn phases against all its plain phases, then "
        "the median over rounds. msgs/s: inputs settled per second over all phases of a mode. The "
        "issue's ≥ 0.8× is judged for the queue output under `sync=always`; the stream output and "
        "`sync=none` are shown, not judged" +
        (". **Quick run: smaller counts, one round — numbers not meaningful.**" if quick else "."),
        "",
        markdown_table(rows),
        "",
    ]
    lines += rc.bullet_lines(details, spread, suite.skips)
    lines += ["", rc.figure_and_raw_numbers("transaction benchmarks", png_rel, results_file), ""]
    lines.append(rc.missed_sentence(missed, "Transaction targets missed in this run: ",
                                    "Every transaction target was met in this run."))
    return "\n".join(lines)


def main():
    return rc.disk_suite_main(__doc__, "txn", "corq_durable_bench",
                              "corq transactions vs the same work without one", build_rows,
                              missed_targets, detail_lines, spread_headline, markdown_table, plot,
                              readme_section, ANCHORS)


if __name__ == "__main__":
    sys.exit(main())
