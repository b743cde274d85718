#!/usr/bin/env python3
"""perf/report_streams.py — turns corq_stream_bench's JSON into the streams results table, the plot
and the recorded results file.

    report_streams.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

* reads Google Benchmark's JSON output of corq_stream_bench (one run: every scenario once per
  round — appends, tail following, replay, memory — each stream path next to its queue baseline);
* per benchmark, the median over rounds of each counter (p50) and the min–max over rounds (the
  spread); a ratio is the median over rounds of the ratio paired within a round (stream and queue
  ran seconds apart);
* prints two Markdown tables: each stream path against its same-round queue baseline (the ratio by
  the wall clock and, for the one-thread rows, by the thread's CPU time; the consumer group's
  tail-following row next to issue #17's target, >= 0.5x, judged), then every scenario (records/s p50 and spread,
  CPU ns per record, per-call p50/p99 of the appends, records per read, skipped records and the
  stream appender's flow-control waits, preemptions); then the memory line (resident and virtual
  bytes per retained record against corq_stream_stats' bytes, and a ready queue message);
* writes DIR/<hostname>-<YYYY-MM-DD>-streams.json: the benchmark's own JSON plus a `corq_report`
  section (hardware line, comparison rows with their ratios for perf/compare.py, scenario rows);
* draws FILE (default DIR/streams.png): records/s of each stream path next to its queue baseline
  (bars at the median, whiskers min–max over rounds), and memory per record;
* with --readme, replaces the text between `<!-- results:streams:begin -->` and
  `<!-- results:streams:end -->` (inserted after the routing-peers region if missing).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import os
import statistics
import sys

import report_common as rc  # same directory

# (benchmark, label, what it is, threads)
SCENARIOS = [
    ("append/stream_append", "`corq_stream_append`, 1 record per call, no key", "stream", 1),
    ("append/queue_publish", "`corq_publish` to a queue, 1 per call", "queue", 1),
    ("append/stream_producer64", "stream producer, batches of 64", "stream", 1),
    ("append/queue_producer64", "`corq_producer_send` to a queue, batches of 64", "queue", 1),
    ("tail/stream_reader", "appender (producer, 64) → reader following the tail "
     "(`corq_stream_read`, max 256)", "stream", 2),
    ("tail/stream_group", "appender (producer, 64) → consumer-group member (ordered, prefetch "
     "256, `corq_ack_upto` per batch)", "stream", 2),
    ("tail/queue_consumer", "producer (64) → consumer (prefetch 256, `corq_ack_upto` per batch)",
     "queue", 2),
    ("replay/stream_reader", "reader from `earliest` over every retained record", "stream", 1),
    ("replay/queue_consumer", "consumer draining as many ready messages (256 + `corq_ack_upto`)",
     "queue", 1),
]
# Stream path ÷ its queue baseline in the same round. target: shown, not judged (None: no target).
COMPARISONS = [
    {"key": "append_single", "label": "append, one record per call: `corq_stream_append` ÷ "
     "`corq_publish`", "a": "append/stream_append", "b": "append/queue_publish", "cpu": True,
     "target": None},
    {"key": "append_batch64", "label": "append, batches of 64: stream producer ÷ "
     "`corq_producer_send`", "a": "append/stream_producer64", "b": "append/queue_producer64",
     "cpu": True, "target": None},
    {"key": "tail", "label": "tail following, 2 threads: appender → **reader** ÷ producer → "
     "consumer + ack", "a": "tail/stream_reader", "b": "tail/queue_consumer", "cpu": False,
     "target": None},
    {"key": "tail_group", "label": "tail following, 2 threads: appender → **group member** + ack ÷ "
     "producer → consumer + ack", "a": "tail/stream_group", "b": "tail/queue_consumer", "cpu": False,
     "target": 0.5},
    {"key": "replay", "label": "replay of 1M records from memory: reader from earliest ÷ draining "
     "1M ready messages", "a": "replay/stream_reader", "b": "replay/queue_consumer", "cpu": True,
     "target": None},
]
MEMORY = {"key": "memory", "label": "memory per retained record ÷ per ready queue message (RSS)",
          "a": "memory/stream", "b": "memory/queue"}
COLORS = {"stream": "#d1495b", "queue": "#8d99ae", "stats": "#30638e", "vm": "#edae49"}

ANCHORS = ["<!-- results:routing-peers:end -->", "<!-- results:routing:end -->",
           "<!-- results:macro:end -->"]


rounds_by_name = rc.rounds_by_name
paired_ratios = rc.paired_ratios


def paired(rounds, a, b, counter):
    """Median over rounds of a's counter ÷ b's counter within a round; (None, 0) if none paired."""
    ratios = paired_ratios(rounds, a, b, counter)
    return (statistics.median(ratios) if ratios else None), len(ratios)


def spread(runs, name, counter):
    xs = [r[counter] for r in runs.get(name, []) if counter in r]
    return (min(xs), max(xs)) if xs else (None, None)


def build_scenarios(values, runs):
    rows = []
    for name, label, kind, threads in SCENARIOS:
        v = values.get(name, {})
        low, high = spread(runs, name, "records_per_s")
        rows.append({"scenario": name, "label": label, "kind": kind, "threads": threads,
                     "wall_rate": v.get("records_per_s"), "cpu_rate": v.get("records_per_cpu_s"),
                     "cpu_ns": v.get("cpu_ns_per_record"), "wall_ns": v.get("ns_per_record"),
                     "min_rate": low, "max_rate": high,
                     "p50_ns": v.get("p50_ns"), "p99_ns": v.get("p99_ns"),
                     "records_per_read": v.get("records_per_read"), "skipped": v.get("skipped"),
                     "throttled": v.get("throttled"),
                     "read_lag_ms": v.get("read_lag_ms"),
                     "append_rate": v.get("append_records_per_s"),
                     "preemptions": v.get("preemptions"), "rounds": v.get("repetitions", 0)})
    return rows


def build_comparisons(values, rounds):
    """The rows perf/compare.py pairs: each with `ratio` (wall clock), higher is better, except
    memory (lower is better)."""
    out = []
    for c in COMPARISONS:
        ratio, n = paired(rounds, c["a"], c["b"], "records_per_s")
        each = paired_ratios(rounds, c["a"], c["b"], "records_per_s")
        cpu_ratio = paired(rounds, c["a"], c["b"], "records_per_cpu_s")[0] if c["cpu"] else None
        out.append({"scenario": c["key"], "label": c["label"], "unit": "records/s",
                    "stream": values.get(c["a"], {}).get("records_per_s"),
                    "baseline": values.get(c["b"], {}).get("records_per_s"),
                    "value": values.get(c["a"], {}).get("records_per_s"),
                    "ratio": ratio, "cpu_ratio": cpu_ratio, "paired_rounds": n,
                    "ratio_min": min(each, default=None), "ratio_max": max(each, default=None),
                    "higher_is_better": True, "target": c["target"]})
    ratio, n = paired(rounds, MEMORY["a"], MEMORY["b"], "bytes_per_record")
    each = paired_ratios(rounds, MEMORY["a"], MEMORY["b"], "bytes_per_record")
    stream, queue = values.get(MEMORY["a"], {}), values.get(MEMORY["b"], {})
    out.append({"scenario": MEMORY["key"], "label": MEMORY["label"], "unit": "B/record",
                "stream": stream.get("bytes_per_record"), "baseline": queue.get("bytes_per_record"),
                "value": stream.get("bytes_per_record"), "ratio": ratio, "cpu_ratio": None,
                "paired_rounds": n, "higher_is_better": False, "target": None,
                "ratio_min": min(each, default=None), "ratio_max": max(each, default=None),
                "stats_bytes": stream.get("stats_bytes_per_record"),
                "queue_stats_bytes": queue.get("stats_bytes_per_record"),
                "vm_bytes": stream.get("vm_bytes_per_record"),
                "queue_vm_bytes": queue.get("vm_bytes_per_record")})
    return out


def fmt_rate(v):
    return "—" if v is None else f"{v / 1e6:.2f}"


def fmt_spread(low, high):
    return "—" if low is None else f"{low / 1e6:.2f}–{high / 1e6:.2f}"


def judged(c):
    """The target column: '—' without a target, else the target and whether the ratio meets it."""
    target = c.get("target")
    if target is None:
        return "—"
    if c.get("ratio") is None:
        return f"≥ {target}×: not measured"
    return f"≥ {target}×: {'met' if c['ratio'] >= target else '**missed**'}"


def lag_table(values):
    """Issue #17's dashboard target: a group's lag and offsets over 1,000 partitions in <= 1 ms,
    next to the stream's own stats on the same stream."""
    group = values.get("lag/group_stats_1000", {})
    stream = values.get("lag/stream_stats_1000", {})
    if not group:
        return "lag: not measured"
    p99 = group.get("p99_us")
    verdict = "not measured" if p99 is None else ("met" if p99 <= 1000 else "**missed**")
    return "\n".join([
        "| one stats call, 1,000 partitions | p50 µs | p99 µs | target |",
        "|---|--:|--:|---|",
        f"| `corq_group_stats_get` (lag, in flight, counters) | {group.get('p50_us', 0):,.1f} | "
        f"{group.get('p99_us', 0):,.1f} | ≤ 1,000 µs: {verdict} |",
        f"| `corq_stream_stats_get` (baseline, same stream) | {stream.get('p50_us', 0):,.1f} | "
        f"{stream.get('p99_us', 0):,.1f} | — |"])


def comparison_table(comparisons):
    lines = ["| stream ÷ queue baseline, same round | stream | queue baseline | ratio (wall clock) "
             "| min–max over rounds | ratio (thread CPU) | target |",
             "|---|--:|--:|--:|--:|--:|---|"]
    for c in comparisons:
        if c["unit"] == "B/record":
            stream, base = rc.fmt_number(c["stream"]), rc.fmt_number(c["baseline"])
            stream, base = f"{stream} B", f"{base} B"
        else:
            stream, base = f"{fmt_rate(c['stream'])} M/s", f"{fmt_rate(c['baseline'])} M/s"
        each = ("—" if c["ratio_min"] is None else
                f"{c['ratio_min']:.2f}–{rc.fmt_ratio(c['ratio_max'], '.2f')}")
        lines.append(f"| {c['label']} | {stream} | {base} | {rc.fmt_ratio(c['ratio'], '.2f')} | "
                     f"{each} | {rc.fmt_ratio(c['cpu_ratio'], '.2f')} | {judged(c)} |")
    return "\n".join(lines)


def scenario_table(rows):
    lines = ["| scenario | path | M records/s (wall, p50) | min–max over rounds | M records/s "
             "(thread CPU) | CPU ns / record | per call p50 / p99 ns | records per read | skipped / "
             "appender throttled | preemptions |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        scenario, path = r["scenario"].split("/")
        calls = ("—" if r["p50_ns"] is None else
                 f"{rc.fmt_number(r['p50_ns'])} / {rc.fmt_number(r['p99_ns'])}")
        per_read = "—" if r["records_per_read"] is None else f"{r['records_per_read']:.0f}"
        skipped = ("—" if r["skipped"] is None else
                   f"{r['skipped']:,.0f} / {r['throttled'] or 0:,.0f}")
        pre = "—" if r["preemptions"] is None else f"{r['preemptions']:,.0f}"
        lines.append(f"| {scenario}: {r['label']} | `{path}` | {fmt_rate(r['wall_rate'])} | "
                     f"{fmt_spread(r['min_rate'], r['max_rate'])} | {fmt_rate(r['cpu_rate'])} | "
                     f"{rc.fmt_number(r['cpu_ns'])} | {calls} | {per_read} | {skipped} | {pre} |")
    return "\n".join(lines)


def memory_line(values, runs):
    s, q = values.get("memory/stream"), values.get("memory/queue")
    if not s or not q:
        return "The memory probes did not run."
    low, high = spread(runs, "memory/stream", "bytes_per_record")
    qlow, qhigh = spread(runs, "memory/queue", "bytes_per_record")
    return (f"Memory, {s.get('records', 0):,.0f} records of 64 B in a fresh process: a retained "
            f"stream record takes {s['bytes_per_record']:.1f} B of resident memory "
            f"({low:.1f}–{high:.1f} over the rounds) where `corq_stream_stats` counts "
            f"{s.get('stats_bytes_per_record', 0):.0f} B (key + payload + headers), i.e. "
            f"{s.get('overhead_bytes_per_record', 0):.1f} B of overhead per record, and "
            f"{s.get('vm_bytes_per_record', 0):.0f} B of address space; a ready queue message "
            f"takes {q['bytes_per_record']:.1f} B resident ({qlow:.1f}–{qhigh:.1f}) and "
            f"{q.get('vm_bytes_per_record', 0):.0f} B of address space.")


def spread_line(runs):
    parts = []
    for name, reps in runs.items():
        if name.startswith("memory/"):
            continue
        xs = [r["records_per_s"] for r in reps if "records_per_s" in r]
        if not xs:
            continue
        pre = statistics.median(r.get("preemptions", 0) for r in reps)
        parts.append(f"{name} {min(xs) / 1e6:,.2f}–{max(xs) / 1e6:,.2f} M/s ({pre:g} preemptions)")
    return "; ".join(parts)


def plot(rows, comparisons, png_path, title):
    plt = rc.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 1.3]})
    by = {r["scenario"]: r for r in rows}
    pairs = [("append/stream_append", "append/queue_publish", "append\n1 per call"),
             ("append/stream_producer64", "append/queue_producer64", "append\nbatches of 64"),
             ("tail/stream_reader", "tail/queue_consumer", "tail following\n2 threads"),
             ("tail/stream_group", "tail/queue_consumer", "tail, group\n+ ack"),
             ("replay/stream_reader", "replay/queue_consumer", "replay 1M\n(queue: drain)")]
    ax = axes[0]
    for i, (kind, label) in enumerate([("stream", "stream"), ("queue", "queue baseline")]):
        names = [a if kind == "stream" else b for a, b, _ in pairs]
        ys = [(by.get(n, {}).get("wall_rate") or 0) / 1e6 for n in names]
        xs = rc.grouped_bars(ax, i, 2, 0.38, ys, label, COLORS[kind], lambda y: f"{y:.1f}")
        lows = [max(0.0, y - (by.get(n, {}).get("min_rate") or y * 1e6) / 1e6)
                for n, y in zip(names, ys)]
        highs = [max(0.0, (by.get(n, {}).get("max_rate") or y * 1e6) / 1e6 - y)
                 for n, y in zip(names, ys)]
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="none", ecolor="black", capsize=3,
                    linewidth=0.8)
    ax.set_xticks(range(len(pairs)))
    ax.set_xticklabels([p[2] for p in pairs])
    ax.set_ylabel("M records (messages) / s, wall clock")
    ax.set_title("64-byte records, in-memory engine: median over rounds, whiskers min–max "
                 "(higher is better)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax = axes[1]
    mem = next(c for c in comparisons if c["unit"] == "B/record")
    series = [("resident", [mem["stream"] or 0, mem["baseline"] or 0], COLORS["stream"]),
              ("stats bytes (key + payload + headers)",
               [mem["stats_bytes"] or 0, mem["queue_stats_bytes"] or 0], COLORS["stats"])]
    for i, (label, ys, color) in enumerate(series):
        rc.grouped_bars(ax, i, len(series), 0.38, ys, label, color, lambda y: f"{y:.0f}")
    ax.set_ylim(top=1.35 * max(max(ys) for _, ys, _ in series) or 1)  # room for the legend
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["stream record", "ready queue\nmessage"])
    ax.set_ylabel("bytes per 64-byte record")
    ax.set_title("Memory per record, 1M held (lower is better)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    rc.save_figure(plt, fig, png_path, title)


def load_line(context):
    """'Load average at the start A / B / C, at the end D / E / F' (a shared machine)."""
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            end = " / ".join(f.read().split()[:3])
    except OSError:
        end = "unknown"
    return (f"Load average at the start {context.get('corq_loadavg_start', 'unknown')}, at the end "
            f"{end} (a shared 2-core VM: other work ran alongside, so expect noise)")


def readme_section(comparisons, rows, hardware, png_rel, context, rounds, results_file, memory,
                   spread_text, errors, values):
    def n(key):
        return f"{int(context.get(key, 0)):,}"
    lines = [
        f"Stream benchmarks (`tools/bench.sh --suite streams`, `bench/streams/`), commit "
        f"`{context.get('corq_commit', 'unknown')}`, {hardware}. {load_line(context)}. "
        f"In-memory engine, {context.get('corq_payload_bytes', '64')}-byte records without a key, "
        f"streams with one partition and `retention_records` {n('corq_retention_records')} "
        "(discard=old), transient queues with default options (max_length 1M); medians of "
        f"{rounds} rounds, each running every scenario once in turn; a ratio is the median over "
        "rounds of the ratio paired within a round. *Append*: one thread pinned to CPU 0, "
        f"{n('corq_append_records')} measured records after {n('corq_append_warmup')} unmeasured "
        "ones (the stream is at its retention, so every measured append also deletes the oldest "
        "record); the queue is purged every 65,536 messages with the clock stopped (as in the "
        "routing suite), the stream's retention runs inside the append and is timed; per-call "
        f"p50/p99 from every {context.get('corq_latency_sample_every', '8')}th call (TSC). "
        f"*Tail following*: {n('corq_tail_records')} records per run, the appender on CPU 0, the "
        "reader on CPU 1 opened at `latest` after "
        f"{n('corq_tail_warmup')} warm-up records (the queue gets as many pushed through), both "
        "waiting inside corq (10 ms timeout) when there is nothing to read; the time runs from the "
        "start gate to the last record read, and every record is checked (offset, payload, none "
        "skipped). A stream has no back-pressure (an appender a whole retention ahead of its reader "
        "deletes records the reader has not read), so the benchmark's appender waits while it is "
        "more than 7/8 of the retention ahead of the reader's published offset, as the queue's "
        "producer waits at max_length (*appender throttled*: flow checks that had to wait). The "
        "group row is the same with a consumer-group member (ordered mode, prefetch 256, "
        "`start=latest`, one `corq_ack_upto` per call) in place of the reader: issue #17's target "
        "is a group's tail reading ≥ 0.5× the queue's consume + ack. *Replay*: one pinned thread "
        "reads the "
        f"{n('corq_replay_records')} retained records from `earliest` (`corq_stream_read` of up "
        f"to 256, timeout 0), {context.get('corq_replay_passes', '1')} passes per run with a fresh "
        "reader each, next to a consumer draining as many ready messages from a queue (prefetch "
        "256, `corq_ack_upto` per batch), refilled with the clock stopped before each pass (a "
        "queue is read once, a stream any number of times). *Memory*: resident-set growth in a "
        "fresh child process holding 1M records (`bench/engine/engine_memory.cpp`'s method), "
        "against `corq_stream_stats`' `bytes`. Records/s by the wall clock and, for the "
        "one-thread rows, by the thread's own CPU time (`CLOCK_THREAD_CPUTIME_ID`, which does not "
        "run while another process holds the core). *Lag*: a stream of 1,000 partitions with "
        "10 records each, a group with one member that consumed and acked some of them; 2,000 "
        "calls of `corq_group_stats_get` (what a dashboard polls), next to as many of "
        "`corq_stream_stats_get` on the same stream, each timed on its own.",
        "",
        comparison_table(comparisons),
        "",
        lag_table(values),
        "",
        scenario_table(rows),
        "",
        memory,
        "",
        f"Spread over the rounds (min–max, wall clock) and median involuntary context switches of "
        f"the benchmark threads per run: {spread_text}.",
        "",
        rc.figure_and_raw_numbers("stream benchmarks", png_rel, results_file),
    ]
    for e in errors:
        lines.append("")
        lines.append(f"Benchmark error: {e}")
    return "\n".join(lines)


def main():
    args = rc.report_arguments(__doc__, "bench_json", "corq_stream_bench --benchmark_out JSON",
                               "streams", "<host>-<date>-streams.json").parse_args()
    bench_json = rc.load_json(args.bench_json)
    context = bench_json.get("context", {})
    runs = rc.runs_by_name(bench_json)
    values = rc.medians(runs)
    rounds_map = rounds_by_name(bench_json)
    rows = build_scenarios(values, runs)
    comparisons = build_comparisons(values, rounds_map)
    memory = memory_line(values, runs)
    hardware = rc.hardware_line(context)
    errors = [f"{b['name']}: {b.get('error_message', '?')}" for b in bench_json.get("benchmarks", [])
              if b.get("error_occurred")]
    rounds = max((v.get("repetitions", 1) for v in values.values()), default=1)
    spread_text = spread_line(runs)

    results_file = rc.results_file_name(rc.run_date(context), "streams")
    bench_json["corq_report"] = {"hardware": hardware, "rows": comparisons, "scenarios": rows,
                                 "memory": memory, "missed": [], "errors": errors,
                                 "medians": values, "spread": spread_text}
    rc.write_results(args.results_dir, results_file, bench_json)

    png = args.png or os.path.join(args.results_dir, "streams.png")
    png = rc.draw_or_skip("report_streams",
                          lambda: plot(rows, comparisons, png, f"corq streams — {hardware}"), png)

    print(f"\n{hardware}; {context.get('corq_scale', '?')} run, medians of {rounds} rounds; "
          f"{load_line(context)}\n")
    print(comparison_table(comparisons))
    print()
    print(lag_table(values))
    print()
    print(scenario_table(rows))
    print()
    print(memory)
    print("spread: " + spread_text)
    for e in errors:
        print(f"benchmark error: {e}")
    rc.print_outcome(args.results_dir, results_file, png, [])

    if args.readme:
        png_rel = rc.relative_to_readme(args.readme, png)
        rc.replace_region(args.readme, "streams",
                          readme_section(comparisons, rows, hardware, png_rel, context, rounds,
                                         results_file, memory, spread_text, errors, values),
                          ANCHORS)
        print(f"updated {args.readme}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
