#!/usr/bin/env python3
"""perf/report_durable.py — turns corq_durable_bench's JSON into the durable-queue results table, the
plot and the recorded results file.

    report_durable.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

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

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip. Shares the disk suites'
helpers with report_log.py (report_common.py).
"""
import statistics
import sys

import report_common as rc  # same directory

BACKENDS = rc.BACKENDS
COLORS = rc.BACKEND_COLORS

# Where the region goes in a README that does not have it yet.
ANCHORS = ["<!-- results:log:end -->", "<!-- results:engine:end -->", "<!-- results:end -->"]

# (percentile, counter, ratio counter, maximum ratio to the raw 4 KiB write+fdatasync percentile)
LATENCY = [("p50", "p50_us", "p50_ratio", 1.5), ("p99", "p99_us", "p99_ratio", 2.0),
           ("p99.9", "p999_us", "p999_ratio", None)]
# (scenario, label, minimum payload-bytes ratio to the raw 1 MiB write+fdatasync bandwidth)
PUBLISH = [("publish_64B", "durable publish, 2 producers, 64 B, NOWAIT + flush every 4096", 0.12),
           ("publish_1KiB", "durable publish, 2 producers, 1 KiB, NOWAIT + flush every 4096", 0.5),
           # issue #17: a durable stream's appends through producers, batches of 64
           ("stream_append_64B", "durable stream append, 2 stream producers, 64 B, NOWAIT batches "
            "of 64 + `corq_sync` every 4096", 0.15)]


# (scenario, benchmark, label, the count the target is for, counter, unit, target, maximum)
RECOVERY = [
    ("recovery_unsettled", "recovery_unsettled",
     "reopen after {unsettled:,} unsettled 64 B messages", "1,000,000", "reopen_s", "s", "≤ 1.5 s",
     1.5),
    ("recovery_settled", "recovery_settled",
     "reopen after {settled:,} 64 B messages published and acked", "6,000,000", "reopen_s", "s",
     "≤ 0.2 s", 0.2),
    ("recovery_settled_segments", "recovery_settled",
     "*.wal files (64 MiB) left after {settled:,} published and acked", "6,000,000", "wal_files",
     "files", "≤ 3", 3),
]


def row(scenario, backend, label, value, unit, base, base_label, ratio, target, bound,
        higher_is_better, extra=None):
    r = {"scenario": scenario, "backend": backend, "label": label, "value": value, "unit": unit,
         "base": base, "base_label": base_label, "ratio": ratio, "target": target, "bound": bound,
         "met": rc.within(ratio if ratio is not None and base is not None else value, bound,
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
    # issue #17: a stream 4x stream_cache_bytes read back from the device (once per round: reads do
    # not depend on the back end)
    v = values.get("stream_replay_disk/psync", {})
    cache_mib = int(context.get("corq_replay_cache_bytes", 0)) >> 20
    rows.append(row("stream_replay_disk", "psync (reads)",
                    f"stream replay from disk: one reader from `earliest` over a durable stream of "
                    f"1 KiB records, 4× `stream_cache_bytes` ({cache_mib} MiB), page cache dropped",
                    v.get("MB_per_s"), "MB/s", v.get("raw_read_MB_per_s"),
                    "sequential 1 MiB reads of a file as large, cache dropped",
                    v.get("bandwidth_ratio"), "≥ 0.5×", 0.5, True,
                    {"rss_growth_MiB": v.get("rss_growth_MiB"), "cache_MiB": v.get("cache_MiB"),
                     "device_read_MiB": v.get("device_read_MiB"), "log_MiB": v.get("log_MiB"),
                     "log_bandwidth_ratio": v.get("log_bandwidth_ratio"),
                     "reopen_s": v.get("reopen_s"),
                     "cache_dropped_globally": v.get("cache_dropped_globally")}))
    counts = {"unsettled": int(context.get("corq_unsettled_msgs", 0)),
              "settled": int(context.get("corq_settled_msgs", 0))}
    scaled = " (quick scale; the target is for {})" if context.get("corq_scale") == "quick" else ""
    for key, benchmark, label, full_scale, counter, unit, target, bound in RECOVERY:
        for backend in BACKENDS:
            v = values.get(f"{benchmark}/{backend}", {})
            rows.append(row(key, backend, label.format(**counts) + scaled.format(full_scale),
                            v.get(counter), unit, None, "", None, target, bound, False))
    return rows


def fmt_value(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return f"{v:.3f} s"
    if unit == "files":
        return f"{v:g}"
    return f"{rc.fmt_number(v)} {unit}"


def markdown_table(rows):
    lines = ["| scenario | back end | corq | baseline, same run | corq ÷ baseline | target | result |",
             "|---|---|--:|--:|--:|---|---|"]
    for r in rows:
        base = "—" if r["base"] is None else f"{fmt_value(r['base'], r['unit'])} ({r['base_label']})"
        lines.append(f"| {r['label']} | {r['backend']} | {fmt_value(r['value'], r['unit'])} | "
                     f"{base} | {rc.fmt_ratio(r['ratio'], '.3g')} | {r['target']} | "
                     f"{rc.result_cell(r['bound'] is not None, r['met'])} |")
    return "\n".join(lines)


def detail_lines(rows, values):
    out = [rc.device_line(values)]
    for key, _, _ in PUBLISH:
        parts = [f"{r['backend']} {r['msgs_per_s'] / 1e6:.2f} M msgs/s, "
                 f"{r['written_bytes_per_msg']:,.0f} B written per message"
                 for r in rows if r["scenario"] == key and r["value"] is not None]
        if parts:
            out.append(f"{key}: " + "; ".join(parts))
    parts = [f"{r['backend']} {rc.fmt_ratio(r.get('normalized_ratio'), '.3g')}" for r in rows
             if r["scenario"] == "pubsub_64B" and r.get("normalized_ratio") is not None]
    if parts:
        out.append("pubsub_64B ÷ publish_64B with each divided by the raw bandwidth around it "
                   "(removes the disk's change of speed between the two runs): " + "; ".join(parts))
    for r in rows:
        if r["scenario"] == "stream_replay_disk" and r["value"] is not None:
            out.append(
                f"stream_replay_disk: the log held {r['log_MiB']:,.0f} MiB; the replay made the "
                f"process read {r['device_read_MiB']:,.0f} MiB from the storage layer "
                f"(/proc/self/io); log bytes ÷ the read baseline "
                f"{rc.fmt_ratio(r['log_bandwidth_ratio'], '.3g')}; resident memory grew by at most "
                f"{r['rss_growth_MiB']:,.0f} MiB during it (the cache bound: {r['cache_MiB']:,.0f} "
                f"MiB); the reopen before it took {r['reopen_s']:.2f} s; page cache dropped "
                f"{'with /proc/sys/vm/drop_caches' if r['cache_dropped_globally'] else 'per file (POSIX_FADV_DONTNEED)'}")
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


def spread_headline(name):
    """The counter whose spread over the rounds is shown for a benchmark: (counter, unit, scale)."""
    if name.startswith("recovery"):
        return "reopen_s", "ms reopen", 1e-3
    if name.startswith("stream_replay"):
        return "MB_per_s", "MB/s", 1
    if "bandwidth" in name or name.startswith("publish"):
        return "MB_per_s", "MB/s", 1
    if name.startswith("pubsub"):
        return "msgs_per_s", "k msgs/s", 1e3
    return "p50_us", "µs p50", 1


def missed_targets(rows):
    out = []
    for r in rows:
        if r["met"] is False:
            shown = (rc.fmt_ratio(r["ratio"], ".3g") if r["base"] is not None
                     else fmt_value(r["value"], r["unit"]))
            out.append(f"{r['scenario']} {r['backend']}: {shown} (target {r['target']})")
    return out


def plot(rows, values, png_path, title):
    plt = rc.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 3, 2]})
    series = [("raw 4 KiB write+fdatasync", "raw_4k/latency", COLORS["raw"]),
              ("corq psync", "latency_64B/psync", COLORS["psync"]),
              ("corq io_uring", "latency_64B/io_uring", COLORS["io_uring"])]
    rc.plot_latency_vs_raw(axes[0], values, series, 0.27, "raw 4 KiB, in the same moments",
                           "Synchronous durable publish of 64 B vs one 4 KiB pwrite+fdatasync\n"
                           "(lower is better)")

    ax = axes[1]
    groups = [("publish_64B", "publish 64 B", 0.12), ("publish_1KiB", "publish 1 KiB", 0.5),
              ("pubsub_64B", "pub+consume+ack 64 B", None),
              ("stream_append_64B", "stream append 64 B", 0.15)]
    bars_by = [("raw 1 MiB write+fdatasync", "raw", COLORS["raw"])] + \
        [(f"corq {b}", b, COLORS[b]) for b in BACKENDS]
    for i, (label, which, color) in enumerate(bars_by):
        ys = []
        for key, _, _ in groups:
            vs = [values.get(f"{key}/{b}", {}) for b in BACKENDS]
            if which == "raw":
                raws = [v["raw_MB_per_s"] for v in vs if v.get("raw_MB_per_s")]
                ys.append(statistics.mean(raws) if raws else 0)
            else:
                ys.append(values.get(f"{key}/{which}", {}).get("MB_per_s") or 0)
        rc.grouped_bars(ax, i, len(bars_by), 0.27, ys, label, color, lambda y: f"{y:,.0f}")
        if which == "raw":
            rc.target_lines(ax, [y * bound if y and bound else None
                                 for y, (_, _, bound) in zip(ys, groups)])
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[1] for g in groups])
    ax.set_ylabel("MB/s (corq: payload bytes)")
    ax.set_title("Durable throughput, 2 producers, vs the raw bandwidth around the runs\n"
                 "(higher is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[2]
    kinds = [("recovery_unsettled", "unsettled", 1.5), ("recovery_settled", "published+acked", 0.2)]
    for i, backend in enumerate(BACKENDS):
        ys = [values.get(f"{k}/{backend}", {}).get("reopen_s") or 0 for k, _, _ in kinds]
        rc.grouped_bars(ax, i, len(BACKENDS), 0.35, ys, f"corq {backend}", COLORS[backend],
                        lambda y: f"{y:.3f}")
    rc.target_lines(ax, [bound for _, _, bound in kinds])
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels([f"{lbl}" for _, lbl, _ in kinds])
    ax.set_yscale("log")
    ax.set_ylabel("s (log scale)")
    ax.set_title("Reopen (corq_open) time\n(lower is better; dashed: target)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    rc.save_figure(plt, fig, png_path, title)


def readme_section(suite, rows, details, spread, png_rel, results_file, missed):
    context, hardware, disk, rounds = suite.context, suite.hardware, suite.disk, suite.rounds
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
        "`corq_close`, the `*.wal` files counted, timed `corq_open`. Stream append: 2 threads, each a "
        "`corq_stream_producer` on its own partition of a durable stream, batches of 64 records of "
        "64 B with `CORQ_PUBLISH_NOWAIT`, `corq_sync` every 4096. Stream replay: a durable stream of "
        "one partition holding 4× the engine's `stream_cache_bytes` of 1 KiB records, the engine "
        "closed and reopened, the page cache dropped, one reader from `earliest` checking every "
        "record, against the same-sized file read in 1 MiB `pread`s after dropping its cache "
        "(buffered and `O_DIRECT`, the faster counts) right before and after. Publish, latency and "
        "pubsub share one engine directory per back end across rounds (each declares a fresh "
        f"queue and deletes it at the end). Medians of {rounds} rounds; a ratio is the median "
        "over rounds of the ratios paired within a round" +
        (". **Quick run: smaller counts, one round — numbers not meaningful.**" if quick else "."),
        "",
        markdown_table(rows),
        "",
    ]
    lines += rc.bullet_lines(details, spread, suite.skips)
    lines += ["", rc.figure_and_raw_numbers("durable queue benchmarks", png_rel, results_file), ""]
    lines.append(rc.missed_sentence(missed, "Durable targets missed in this run: ",
                                    "Every durable target was met in this run."))
    return "\n".join(lines)


def main():
    return rc.disk_suite_main(__doc__, "durable", "corq_durable_bench",
                              "corq durable queues vs the raw device", build_rows, missed_targets,
                              detail_lines, spread_headline, markdown_table, plot, readme_section,
                              ANCHORS)


if __name__ == "__main__":
    sys.exit(main())
