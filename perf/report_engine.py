#!/usr/bin/env python3
"""perf/report_engine.py — turns corq_engine_bench's JSON into the engine results table, the plot
and the recorded results file.

    report_engine.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

* reads Google Benchmark's JSON output of corq_engine_bench (one run, corq and moodycamel in it);
* takes, per benchmark, the median over repetitions of each counter (or the single run of --quick);
* prints a Markdown table: scenario, corq, moodycamel, their ratio, the target, met/MISSED, then the
  memory and latency lines; then the latency target's table (issue #15): corq's publish→deliver
  p50/p99/p99.9 against the one-way latency of a bare SpscRing ping-pong (latency/ring, half its
  round trip) measured in the same rounds, each ratio the median over rounds of the ratios paired
  within a round (p50 ≤ 2×, p99 ≤ 5×);
* writes DIR/<hostname>-<YYYY-MM-DD>-engine.json: the benchmark's own JSON plus a `corq_report`
  section (hardware line, the rows, the missed targets) so a result file is self-describing;
* draws FILE (default DIR/engine.png): throughput, memory and latency, corq next to moodycamel;
* with --readme, replaces the text between `<!-- results:engine:begin -->` and
  `<!-- results:engine:end -->` (inserted right after `<!-- results:end -->` if missing, so the
  ring suite's region and this one never overwrite each other).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import os
import statistics
import sys

import report_common as rc  # same directory

BASELINE = "moodycamel"
COLORS = {"corq": "#d1495b", "moodycamel": "#8d99ae", "ring": "#30638e"}

# Throughput rows: (key, label, corq benchmark, baseline benchmark, minimum corq/baseline ratio).
THROUGHPUT = [
    ("single_send", "1a single message, `corq_producer_send(p, &m, 1)` + `corq_ack`",
     "single/corq_send", "single/moodycamel", 0.35),
    ("single_publish", "1a single message, `corq_publish` + `corq_ack`",
     "single/corq_publish", "single/moodycamel", 0.35),
    ("batch64", "1b batch 64, `corq_producer_send` + `corq_consume` + `corq_ack_upto`",
     "batch64/corq", "batch64/moodycamel", 0.5),
]
MEMORY = ("memory", "2 memory: 1M ready 64-byte messages", "memory_ready/corq",
          "memory_ready/moodycamel", 160.0)
LATENCY = [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")]
# The latency target (issue #15): corq's percentile ÷ the bare ring's one-way percentile (half the
# round trip of latency/ring), at most this much; None: shown, no target.
LATENCY_TARGET = {"p50_us": 2.0, "p99_us": 5.0, "p999_us": None}
LATENCY_CORQ, LATENCY_RING = "latency/corq", "latency/ring"

# The region of the README that holds the engine's table goes right after the rings' region.
ANCHORS = ["<!-- results:end -->"]


def spread_line(runs):
    """One line: per benchmark, the min–max of its headline counter over repetitions and the median
    of its `preemptions` (how often another process took a benchmark thread's core)."""
    headline = {"single": "msgs_per_s", "batch64": "msgs_per_s", "latency": "p99_us"}
    parts = []
    for name, reps in runs.items():
        counter = headline.get(name.split("/")[0])
        if counter is None:
            continue
        xs = [r[counter] for r in reps if counter in r]
        if not xs:
            continue
        scale, unit = (1e6, "M/s") if counter == "msgs_per_s" else (1, "µs p99")
        pre = statistics.median(r.get("preemptions", 0) for r in reps)
        parts.append(f"{name} {min(xs) / scale:,.2f}–{max(xs) / scale:,.2f} {unit} "
                     f"({pre:g} preemptions)")
    return "; ".join(parts)


def rounds_by_name(bench_json):
    """{'scenario/peer': [repetition or None, ...]}: the k-th entry is the benchmark's run in round
    k (main() registers every benchmark once per round, in round order); a run that reported an
    error is None, so it keeps its place and the rounds stay aligned."""
    rounds = {}
    for b in bench_json.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        run = None if b.get("error_occurred") else b
        rounds.setdefault(rc.first_two_parts(rc.run_name(b)), []).append(run)
    return rounds


def paired_ratio(rounds, numerator, denominator, counter):
    """The median over rounds of numerator ÷ denominator (their `counter`) within each round where
    both ran; None if no round has both. Also returns how many rounds were paired."""
    ratios = []
    for num, den in zip(rounds.get(numerator, []), rounds.get(denominator, [])):
        if num and den and num.get(counter) and den.get(counter):
            ratios.append(num[counter] / den[counter])
    return (statistics.median(ratios) if ratios else None), len(ratios)


def build_latency_target_rows(values, rounds):
    """The latency target's rows: corq's percentile, the ring's one-way percentile (medians over
    rounds) and the paired ratio."""
    rows = []
    for counter, name in LATENCY:
        c = values.get(LATENCY_CORQ, {}).get(counter)
        r = values.get(LATENCY_RING, {}).get(counter)
        ratio, paired = paired_ratio(rounds, LATENCY_CORQ, LATENCY_RING, counter)
        maximum = LATENCY_TARGET[counter]
        rows.append({"scenario": f"latency_target_{name}", "percentile": name, "unit": "µs",
                     "corq": c, "ring_one_way": r, "ratio": ratio, "paired_rounds": paired,
                     "target": f"≤ {maximum:g}×" if maximum else "—", "maximum": maximum,
                     "met": None if maximum is None or ratio is None else ratio <= maximum})
    return rows


def build_rows(values):
    rows = []
    for key, label, corq, base, minimum in THROUGHPUT:
        c = values.get(corq, {}).get("msgs_per_s")
        b = values.get(base, {}).get("msgs_per_s")
        ratio = c / b if c and b else None
        rows.append({"scenario": key, "label": label, "unit": "M msgs/s",
                     "corq": c / 1e6 if c else None, "moodycamel": b / 1e6 if b else None,
                     "ratio": ratio, "target": f"≥ {minimum:g}×", "minimum": minimum,
                     "met": None if ratio is None else ratio >= minimum})
    key, label, corq, base, maximum = MEMORY
    c = values.get(corq, {}).get("bytes_per_msg")
    b = values.get(base, {}).get("bytes_per_msg")
    rows.append({"scenario": key, "label": label, "unit": "B/msg (RSS growth)", "corq": c,
                 "moodycamel": b, "ratio": c / b if c and b else None,
                 "target": f"≤ {maximum:g} B/msg", "maximum": maximum,
                 "met": None if c is None else c <= maximum})
    rate = values.get("latency/corq", {}).get("rate_msgs_per_s")
    for counter, name in LATENCY:
        c = values.get("latency/corq", {}).get(counter)
        b = values.get("latency/moodycamel", {}).get(counter)
        rate_text = f" at {rate / 1e3:,.0f}k msgs/s" if rate else ""
        rows.append({"scenario": f"latency_{name}", "unit": "µs", "corq": c, "moodycamel": b,
                     "label": f"3 latency publish→deliver {name}{rate_text}",
                     "ratio": c / b if c and b else None, "target": "—", "met": None})
    return rows


def fmt_value(v, unit):
    if v is not None and unit.startswith("M "):
        return f"{v:.2f}"
    return rc.fmt_number(v)


def fmt_ratio(r):
    return rc.fmt_ratio(r, ".2f")


def verdict(row):
    return rc.result_cell(row["target"] != "—", row["met"])


def markdown_table(rows):
    lines = ["| scenario | unit | corq | moodycamel | corq ÷ moodycamel | target | result |",
             "|---|---|--:|--:|--:|---|---|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['unit']} | {fmt_value(row['corq'], row['unit'])}"
                     f" | {fmt_value(row['moodycamel'], row['unit'])} | {fmt_ratio(row['ratio'])}"
                     f" | {row['target']} | {verdict(row)} |")
    return "\n".join(lines)


def latency_target_table(rows):
    lines = ["| publish→deliver | corq µs | bare ring one-way µs (½ round trip) | "
             "corq ÷ ring one-way | target | result |",
             "|---|--:|--:|--:|---|---|"]
    for row in rows:
        lines.append(f"| {row['percentile']} | {fmt_us(row['corq'])} | "
                     f"{fmt_us(row['ring_one_way'])} | {rc.fmt_ratio(row['ratio'], '.1f')} | "
                     f"{row['target']} | {rc.result_cell(row['maximum'] is not None, row['met'])} |")
    return "\n".join(lines)


def fmt_us(v):
    """µs with 3 decimals below 1 µs (the ring's one-way latency is a fraction of one)."""
    return rc.fmt_number(v) if v is None or v >= 1 else f"{v:.3f}"


def missed_targets(rows):
    missed = []
    for row in rows:
        if row["met"] is False:
            if "ring_one_way" in row:
                missed.append(f"{row['scenario']}: corq {fmt_us(row['corq'])} µs vs bare "
                              f"ring one-way {fmt_us(row['ring_one_way'])} µs = "
                              f"{rc.fmt_ratio(row['ratio'], '.1f')} (target {row['target']})")
            elif "minimum" in row:
                missed.append(f"{row['scenario']}: corq {fmt_value(row['corq'], row['unit'])} vs "
                              f"moodycamel {fmt_value(row['moodycamel'], row['unit'])} M msgs/s = "
                              f"{fmt_ratio(row['ratio'])} (target {row['target']})")
            else:
                missed.append(f"{row['scenario']}: {row['corq']:.1f} B/msg (target {row['target']})")
    return missed


def plot(rows, target_rows, png_path, title):
    plt = rc.pyplot()
    by_key = {row["scenario"]: row for row in rows}
    for row in target_rows:  # the ring's one-way latency next to corq's and moodycamel's
        by_key[f"latency_{row['percentile']}"]["ring"] = row["ring_one_way"]
    groups = [
        ("Throughput, 1 producer → 1 consumer (higher is better)",
         ["single_send", "single_publish", "batch64"], ["single\nsend", "single\npublish", "batch 64"],
         "M msgs/s"),
        ("Memory per ready 64-byte message (lower is better)", ["memory"], ["1M ready"],
         "bytes/message"),
        ("Publish → deliver latency at 10% of max rate (lower is better)",
         ["latency_p50", "latency_p99", "latency_p99.9"], ["p50", "p99", "p99.9"], "µs (log scale)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 1.3, 3]})
    width = 0.38
    for ax, (group_title, keys, labels, ylabel) in zip(axes, groups):
        peers = ["corq", "moodycamel"]
        if keys[0].startswith("latency"):
            peers.append("ring")
        for i, peer in enumerate(peers):
            ys = [by_key[key].get(peer) or 0 for key in keys]
            legend = "bare ring one-way" if peer == "ring" else peer
            rc.grouped_bars(ax, i, len(peers), width * 2 / len(peers), ys, legend, COLORS[peer],
                            lambda y: f"{y:.2f}" if y < 10 else f"{y:,.0f}")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(labels)
        ax.set_title(group_title, fontsize=9)
        ax.set_ylabel(ylabel)
        if ylabel.endswith("(log scale)"):
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    mem = by_key["memory"]
    axes[1].set_ylim(top=1.15 * max(mem["maximum"], mem["corq"] or 0, mem["moodycamel"] or 0))
    axes[1].axhline(mem["maximum"], color="black", linestyle="--", linewidth=0.8)
    axes[1].set_title(f"Memory per ready 64-byte message\n(lower is better; dashed: target "
                      f"≤ {mem['maximum']:g})", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    rc.save_figure(plt, fig, png_path, title)


def readme_section(rows, target_rows, hardware, png_rel, context, repetitions, results_file, missed,
                   spread):
    lines = [
        "### Engine\n",
        f"Queue engine benchmarks (`tools/bench.sh --suite engine`, `bench/engine/`), commit "
        f"`{context.get('corq_commit', 'unknown')}`, {hardware}. Transient queue "
        "(`corq_open(NULL, ...)`, default options), one producer thread and one consumer thread "
        f"pinned to different cores, prefetch {context.get('corq_prefetch', '256')}, 8-byte "
        f"payloads; medians of {repetitions} repetitions (rounds in which corq and moodycamel take "
        "turns) of "
        f"{int(context.get('corq_single_messages', 0)):,} (single) / "
        f"{int(context.get('corq_batch_messages', 0)):,} (batch) messages; moodycamel "
        "ConcurrentQueue (with tokens, `uint64_t` items) measured in the same binary and run. "
        "Memory: resident-set growth per message in a fresh process holding 1M ready 64-byte "
        "messages (moodycamel: a queue of 1M `std::vector<char>(64)`). Latency: open-loop publisher "
        "at 10% of corq's best single-message rate, intended send time in the payload "
        "(coordinated omission corrected), blocking `corq_consume` vs a spinning moodycamel "
        f"consumer, {int(context.get('corq_latency_messages', 0)):,} recorded messages per "
        "repetition. Latency target (issue #15, second table): in every round, right after the "
        "latency runs, a bare ring ping-pong on the same two pinned cores — one `uint64_t` bounced "
        "through two corq `SpscRing`s (capacity 4096, both threads spin then yield), "
        f"{int(context.get('corq_ping_pong_round_trips', 0)):,} recorded round trips per "
        "repetition, TSC timestamps; its one-way latency is half the round trip's percentile. "
        "corq's p50 must be ≤ 2× and its p99 ≤ 5× the ring's one-way p50 / p99; a ratio there is "
        "the median over rounds of the ratios paired within a round (in the first table, a ratio "
        "is that of the two medians).",
        "",
        markdown_table(rows),
        "",
        latency_target_table(target_rows),
        "",
        "Spread over the repetitions (min–max) and median involuntary context switches of the two "
        f"benchmark threads per repetition: {spread}.",
        "",
        rc.figure_and_raw_numbers("engine benchmarks", png_rel, results_file),
        "",
    ]
    lines.append(rc.missed_sentence(missed, "Engine targets missed in this run: ",
                                    "Every engine target was met in this run."))
    return "\n".join(lines)


def main():
    args = rc.report_arguments(__doc__, "bench_json", "corq_engine_bench --benchmark_out JSON",
                               "engine", "<host>-<date>-engine.json").parse_args()

    bench_json = rc.load_json(args.bench_json)
    context = bench_json.get("context", {})
    runs = rc.runs_by_name(bench_json)
    values = rc.medians(runs)
    rows = build_rows(values)
    target_rows = build_latency_target_rows(values, rounds_by_name(bench_json))
    hardware = rc.hardware_line(context)
    missed = missed_targets(rows + target_rows)
    errors = [f"{b['name']}: {b.get('error_message', '?')}" for b in bench_json.get("benchmarks", [])
              if b.get("error_occurred")]
    repetitions = max((v.get("repetitions", 1) for v in values.values()), default=1)

    results_file = rc.results_file_name(rc.run_date(context), "engine")
    bench_json["corq_report"] = {"hardware": hardware, "rows": rows,
                                 "latency_target_rows": target_rows, "missed": missed,
                                 "errors": errors, "medians": values}
    rc.write_results(args.results_dir, results_file, bench_json)

    png = args.png or os.path.join(args.results_dir, "engine.png")
    png = rc.draw_or_skip("report_engine",
                          lambda: plot(rows, target_rows, png, f"corq engine vs moodycamel — {hardware}"), png)

    print(f"\n{hardware}; {context.get('corq_scale', '?')} run, medians of {repetitions} "
          "repetitions\n")
    print(markdown_table(rows))
    print()
    print(latency_target_table(target_rows))
    print()
    spread = spread_line(runs)
    print("spread: " + spread)
    for e in errors:
        print(f"benchmark error: {e}")
    rc.print_outcome(args.results_dir, results_file, png, missed)

    if args.readme:
        png_rel = rc.relative_to_readme(args.readme, png)
        rc.replace_region(args.readme, "engine",
                          readme_section(rows, target_rows, hardware, png_rel, context,
                                         repetitions, results_file, missed, spread), ANCHORS)
        print(f"updated {args.readme}")
    return 1 if (args.strict and missed) or errors else 0


if __name__ == "__main__":
    sys.exit(main())
