#!/usr/bin/env python3
"""perf/report_rings.py — turns corq_ring_bench's JSON into the results table, the plot and the
recorded results file.

    report_rings.py BENCH_JSON --results-dir DIR [--png FILE] [--readme bench/README.md] [--strict]

* reads Google Benchmark's JSON output of corq_ring_bench (one run, every peer in it);
* takes, per benchmark, the median over repetitions (or the single run of a --quick run);
* prints a Markdown table: scenario, corq, each peer, corq's ratio to them, the target, met/MISSED;
* writes DIR/<hostname>-<YYYY-MM-DD>.json: the benchmark's own JSON plus a `corq_report` section
  (hardware line, the table's rows) so a result file is self-describing;
* draws FILE (default DIR/rings.png): grouped bars, corq next to its peers, per scenario;
* with --readme, replaces the text between `<!-- results:begin -->` and `<!-- results:end -->`.

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import os
import platform
import statistics
import sys

import report_common as rc  # same directory

PEERS = ["corq", "boost", "moodycamel", "readerwriterqueue", "ck_ring"]
PEER_LABELS = {"corq": "corq", "boost": "Boost.Lockfree", "moodycamel": "moodycamel (tokens)",
               "readerwriterqueue": "moodycamel ReaderWriterQueue", "ck_ring": "ck_ring"}
# Short names for the table's columns.
PEER_COLUMNS = {"corq": "corq", "boost": "Boost.Lockfree", "moodycamel": "moodycamel",
                "readerwriterqueue": "ReaderWriterQueue", "ck_ring": "ck_ring"}
PEER_COLORS = {"corq": "#d1495b", "boost": "#30638e", "moodycamel": "#8d99ae",
               "readerwriterqueue": "#edae49", "ck_ring": "#66a182"}

# scenario key -> (label, counter, unit, higher_is_better)
SCENARIOS = [
    ("spsc_per_item", "SPSC per item", "items_per_s", "M items/s", True),
    ("spsc_bulk256", "SPSC bulk 256", "items_per_s", "M items/s", True),
    ("ping_pong:p50", "ping-pong RTT p50", "rtt_p50_ns", "ns", False),
    ("ping_pong:p99", "ping-pong RTT p99", "rtt_p99_ns", "ns", False),
    ("ping_pong:p999", "ping-pong RTT p99.9", "rtt_p999_ns", "ns", False),
    ("mpmc_1p1c", "MPMC 1P1C", "items_per_s", "M items/s", True),
    ("mpmc_2p2c", "MPMC 2P2C", "items_per_s", "M items/s", True),
    ("mpmc_4p4c", "MPMC 4P4C", "items_per_s", "M items/s", True),
]

# The targets the issues set (#15 for SPSC per item and MPMC 2P2C): (scenario, reference, minimum
# ratio of corq to the reference). A reference is a peer of the same scenario, a tuple of peers (the
# best of them in each round), or "scenario/peer" for another row.
TARGETS = [
    ("spsc_per_item", ("boost", "readerwriterqueue", "ck_ring"), 1.0),
    ("spsc_bulk256", "moodycamel", 1.2),
    ("mpmc_2p2c", "moodycamel", 1.0),
    ("mpmc_4p4c", "mpmc_2p2c/corq", 0.5),
]

def base_name(run_name):
    """'spsc_per_item/corq/iterations:1/repeats:5/manual_time' -> ('spsc_per_item', 'corq')."""
    parts = run_name.split("/")
    return parts[0], parts[1]


def repetitions_of(bench_json):
    """{(scenario, peer): {repetition_index: run}} from the per-repetition entries (aggregates,
    which Google Benchmark adds when there are several repetitions, are recomputed here)."""
    runs = {}
    for b in rc.measured_runs(bench_json):
        runs.setdefault(base_name(rc.run_name(b)), {})[b.get("repetition_index", 0)] = b
    return runs


def counter_and_unit(scenario_key):
    return next((s[2], s[3]) for s in SCENARIOS if s[0] == scenario_key)


def series(runs, scenario_key, peer):
    """{repetition_index: value in the scenario's unit} for one benchmark ({} if it did not run)."""
    counter, unit = counter_and_unit(scenario_key)
    scale = 1e-6 if unit.startswith("M ") else 1.0
    reps = runs.get((scenario_key.split(":")[0], peer), {})
    return {r: run[counter] * scale for r, run in reps.items() if counter in run}


def corq_ratio(corq, other, higher_is_better):
    if corq is None or other is None or corq == 0 or other == 0:
        return None
    return corq / other if higher_is_better else other / corq


def paired_ratio(corq_series, other_series, higher_is_better):
    """Median over repetition rounds of corq's ratio to the other benchmark in the same round.
    With random interleaving, round r of every benchmark runs within the same few seconds, so a
    change of machine conditions between rounds cancels out of each ratio."""
    ratios = [corq_ratio(corq_series[r], other_series[r], higher_is_better)
              for r in sorted(set(corq_series) & set(other_series))]
    ratios = [x for x in ratios if x is not None]
    return statistics.median(ratios) if ratios else None


def best_of_rounds(per_peer, peers, higher_is_better):
    """{round: the best value of `peers` in that round}, over the rounds where all of them ran."""
    rounds = set.intersection(*(set(per_peer[p]) for p in peers)) if peers else set()
    pick = max if higher_is_better else min
    return {r: pick(per_peer[p][r] for p in peers) for r in rounds}


def median_or_none(values):
    return statistics.median(values) if values else None


def build_rows(runs):
    rows = []
    for key, label, _counter, unit, higher in SCENARIOS:
        per_peer = {peer: series(runs, key, peer) for peer in PEERS}
        cells = {peer: median_or_none(list(v.values())) for peer, v in per_peer.items()}
        ratios = {p: paired_ratio(per_peer["corq"], per_peer[p], higher)
                  for p in PEERS if p != "corq"}
        checks = []
        for scenario, reference, minimum in TARGETS:
            if scenario != key:
                continue
            if isinstance(reference, tuple):
                ref_series = best_of_rounds(per_peer, reference, higher)
                ref_label = "best of " + ", ".join(reference)
            elif "/" in reference:
                ref_scenario, ref_peer = reference.split("/")
                ref_series = series(runs, ref_scenario, ref_peer)
                ref_label = "own " + ref_scenario.split("_")[-1].upper()
            else:
                ref_series, ref_label = per_peer[reference], reference
            ratio = paired_ratio(per_peer["corq"], ref_series, higher)
            checks.append({"reference": ref_label, "minimum": minimum, "ratio": ratio,
                           "met": ratio is not None and ratio >= minimum})
        rows.append({"scenario": key, "label": label, "unit": unit, "higher_is_better": higher,
                     "values": cells, "ratios": ratios, "targets": checks,
                     "repetitions": {p: [v[r] for r in sorted(v)] for p, v in per_peer.items()}})
    return rows


def core_rtt_range(runs):
    """(min, median, max) of the core-to-core round trip recorded before every repetition."""
    values = sorted(run["core_rtt_ns"] for reps in runs.values() for run in reps.values()
                    if "core_rtt_ns" in run)
    if not values:
        return None
    return values[0], statistics.median(values), values[-1]


def fmt_value(v, unit):
    if v is None:
        return "—"
    return f"{v:.1f}" if unit.startswith("M ") else f"{v:,.0f}"


def fmt_ratio(r):
    return rc.fmt_ratio(r, ".2f")


def verdict(target):
    return rc.result_cell(True, None if target["ratio"] is None else target["met"])


def markdown_table(rows):
    others = PEERS[1:]
    lines = [
        "| scenario | unit | " + " | ".join(PEER_COLUMNS[p] for p in PEERS) + " | "
        + " | ".join(f"corq vs {PEER_COLUMNS[p]}" for p in others) + " | target | result |",
        "|---|---|" + "--:|" * (len(PEERS) + len(others)) + "---|---|",
    ]
    for row in rows:
        v, r = row["values"], row["ratios"]
        targets = "; ".join(f"≥ {t['minimum']:g}× {t['reference']}" for t in row["targets"])
        results = "; ".join(f"{verdict(t)} ({fmt_ratio(t['ratio'])} {t['reference']})"
                            for t in row["targets"])
        values = " | ".join(fmt_value(v[p], row["unit"]) for p in PEERS)
        ratios = " | ".join(fmt_ratio(r[p]) for p in others)
        lines.append(f"| {row['label']} | {row['unit']} | {values} | {ratios}"
                     f" | {targets or '—'} | {results or '—'} |")
    return "\n".join(lines)


def hardware_line(context):
    """'<lscpu model name>, N cores (M CPUs), <VM>, Linux <kernel> <arch>, <date>'."""
    fields = dict(rc.lscpu_fields())
    model = fields.get("Model name") or platform.processor() or "unknown CPU"
    cpus = fields.get("CPU(s)") or str(context.get("num_cpus") or os.cpu_count())
    try:
        cores = int(fields["Core(s) per socket"]) * int(fields["Socket(s)"])
        cores_text = f"{cores} cores ({cpus} CPUs)"
    except (KeyError, ValueError):
        cores_text = f"{cpus} CPUs"
    virtual = "hypervisor" in fields.get("Flags", "").split()
    return (f"{model}, {cores_text}{', virtual machine' if virtual else ''}, "
            f"Linux {platform.release()} {platform.machine()}, {rc.run_date(context)}")


def plot(rows, png_path, title):
    plt = rc.pyplot()
    groups = [
        ("SPSC throughput (higher is better)", ["spsc_per_item", "spsc_bulk256"], "M items/s", False),
        ("MPMC throughput (higher is better)", ["mpmc_1p1c", "mpmc_2p2c", "mpmc_4p4c"],
         "M items/s", False),
        ("Ping-pong round trip (lower is better)",
         ["ping_pong:p50", "ping_pong:p99", "ping_pong:p999"], "ns (log scale)", True),
    ]
    by_key = {row["scenario"]: row for row in rows}
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    width = 0.8 / len(PEERS)
    for ax, (group_title, keys, ylabel, log) in zip(axes, groups):
        for i, peer in enumerate(PEERS):
            ys = [by_key[key]["values"][peer] or 0 for key in keys]
            rc.grouped_bars(ax, i, len(PEERS), width, ys, PEER_LABELS[peer], PEER_COLORS[peer],
                            lambda y: f"{y:.0f}" if y >= 100 else f"{y:.1f}")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([by_key[k]["label"].replace("ping-pong RTT ", "") for k in keys])
        ax.set_title(group_title, fontsize=10)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    rc.save_figure(plt, fig, png_path, title)


def conditions_line(core_rtt):
    if core_rtt is None:
        return "core-to-core round trip not recorded"
    low, mid, high = core_rtt
    return (f"one cache line's round trip between the two cores, probed before every repetition: "
            f"{low:.0f} / {mid:.0f} / {high:.0f} ns (min / median / max)")


def readme_section(rows, hardware, conditions, png_rel, results_rel, scale, missed, context):
    lines = [
        f"Ring benchmarks, `tools/bench.sh` (suite `rings`, `bench/rings/`), commit "
        f"`{context.get('corq_commit', '?')}`. Hardware: {hardware}; {conditions}.",
        "",
        f"Each number is the median of {scale['repetitions']} repetitions (interleaved at random "
        "with every other benchmark's, so a noisy minute hits all peers alike); every peer runs in "
        "the same binary and the same run, through the same loops and the same wait policy (bounded "
        "spin, then yield). Producer and consumer are pinned to different cores. Bounded peers hold "
        "4096 `uint64_t` (`boost::lockfree::spsc_queue` with compile-time capacity, "
        "`boost::lockfree::queue` fixed-size, moodycamel `ReaderWriterQueue` through `try_enqueue`, "
        "which never allocates, and Concurrency Kit's `ck_ring` in its SPSC mode, the item as a "
        "pointer's bits; the last two have no bulk API, so their bulk rows are loops of single "
        "operations and they run in the SPSC scenarios only); moodycamel `ConcurrentQueue` uses "
        "producer and consumer tokens and is unbounded (pre-sized to 4096, it allocates when it "
        "outgrows that). "
        "A ratio is the median over repetition rounds of corq ÷ peer (throughput) or peer ÷ corq "
        "(latency) within one round, so it compares runs taken seconds apart: above 1 means corq is "
        "better; against \"best of\" several peers, each round's divisor is the best of them in "
        "that round. On a VM the core-to-core latency changes while the suite runs (the host moves the "
        "virtual CPUs), and cross-core numbers change with it; the raw file has every repetition "
        "with the `core_rtt_ns` measured just before it.",
        "",
        markdown_table(rows),
        "",
        f"![ring benchmarks: corq vs Boost.Lockfree, moodycamel and ck_ring]({png_rel})",
        "",
        f"Raw numbers (every repetition, plus this table): [`{results_rel}`]({results_rel}).",
        "",
    ]
    lines.append(rc.missed_sentence(missed, "**Targets missed in this run:** ",
                                    "Every target was met in this run."))
    return "\n".join(lines)


def missed_targets(rows):
    missed = []
    for row in rows:
        for t in row["targets"]:
            if t["ratio"] is not None and not t["met"]:
                missed.append(f"{row['label']} {fmt_ratio(t['ratio'])} vs {t['reference']} "
                              f"(target ≥ {t['minimum']:g}×)")
    return missed


def main():
    args = rc.report_arguments(__doc__, "bench_json", "corq_ring_bench --benchmark_out JSON",
                               "rings", "<host>-<date>.json").parse_args()

    bench_json = rc.load_json(args.bench_json)
    context = bench_json.get("context", {})
    runs = repetitions_of(bench_json)
    rows = build_rows(runs)
    core_rtt = core_rtt_range(runs)
    hardware = hardware_line(context)
    missed = missed_targets(rows)

    results_file = rc.results_file_name(rc.run_date(context))
    conditions = conditions_line(core_rtt)
    bench_json["corq_report"] = {"hardware": hardware, "conditions": conditions,
                                 "core_rtt_ns": core_rtt, "rows": rows, "missed": missed}
    rc.write_results(args.results_dir, results_file, bench_json)

    png = args.png or os.path.join(args.results_dir, "rings.png")
    png = rc.draw_or_skip("report_rings",
                          lambda: plot(rows, png, f"corq rings vs peers — {hardware}"), png)

    scale = {"repetitions": max((b.get("repetitions", 1) for b in bench_json["benchmarks"]),
                                default=1),
             "results_file": results_file}
    print(f"\n{hardware}; {context.get('corq_scale', '?')} run, medians of "
          f"{scale['repetitions']} repetitions;\n{conditions}\n")
    print(markdown_table(rows))
    print()
    rc.print_outcome(args.results_dir, results_file, png, missed)

    if args.readme:
        png_rel = rc.relative_to_readme(args.readme, png)
        results_rel = rc.relative_to_readme(args.readme,
                                            os.path.join(args.results_dir, results_file))
        rc.replace_region(args.readme, None,
                          readme_section(rows, hardware, conditions, png_rel, results_rel, scale,
                                         missed, context), who="report_rings")
        print(f"updated {args.readme}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
