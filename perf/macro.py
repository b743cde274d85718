#!/usr/bin/env python3
"""Macro scenarios: corq-perf runs of the workloads people deploy, with their baselines in the run.

    perf/macro.py --perf build/release/bench/cli/corq-perf --work DIR --results-dir perf/results
                  [--quick] [--readme bench/README.md]

Scenarios (all over the C API through corq-perf; every message acked one by one):
  work queue        2 producers sending batches of 64 (a durable send returns once its batch is
                    flushed: publisher confirms per batch), 1 consumer, prefetch 256, ack each;
                    transient (in-memory engine) and durable (sync=always, on --work), at 64 B,
                    1 KiB and 64 KiB
  fan-out           1 producer, each batch published to 4 queues, 4 consumers (copies/s)
  many producers    8 producers, 2 consumers, transient and durable
  latency vs load   the 64 B work queue in open loop at 10 %, 50 % and 90 % of the rate the same
                    scenario reached closed-loop in this run: p50 / p99 / p99.9 publish→delivery,
                    corrected for coordinated omission

The baselines are measured in the same run: each durable scenario is shown against its transient
twin, fan-out and many producers against the plain transient work queue, so the ratios say what
durability, fan-out or contention cost on this machine. Writes <host>-<date>-macro.json (every
corq-perf JSON object plus the table's rows), macro.png, a Markdown table on stdout, and with
--readme the `results:macro` region of that README (tools/bench.sh: bench/README.md).
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

import report_common as rc  # same directory

WORK_QUEUE = ["--producers", "2", "--consumers", "1", "--batch", "64", "--prefetch", "256"]
SIZES = [64, 1024, 65536]


def scenarios():
    """(key, label, corq-perf args, durable, baseline key or None)."""
    out = []
    for size in SIZES:
        s = ["--size", str(size)]
        name = {64: "64 B", 1024: "1 KiB", 65536: "64 KiB"}[size]
        out.append((f"wq_transient_{size}", f"work queue, transient, {name}", WORK_QUEUE + s,
                    False, None))
        out.append((f"wq_durable_{size}", f"work queue, durable sync=always, {name}",
                    WORK_QUEUE + s, True, f"wq_transient_{size}"))
    out.append(("fanout4", "fan-out to 4 queues, transient, 64 B (copies)",
                ["--producers", "1", "--consumers", "4", "--fanout", "4", "--batch", "64",
                 "--prefetch", "256", "--size", "64"], False, "wq_transient_64"))
    many = ["--producers", "8", "--consumers", "2", "--batch", "64", "--prefetch", "256",
            "--size", "64"]
    out.append(("many_transient", "8 producers, 2 consumers, transient, 64 B", many, False,
                "wq_transient_64"))
    out.append(("many_durable", "8 producers, 2 consumers, durable, 64 B", many, True,
                "wq_durable_64"))
    return out


def run_perf(perf, args, durable, work, duration, warmup):
    command = [perf, "--json", "--quiet", "--duration", str(duration), "--warmup", str(warmup)]
    command += args
    if durable:
        data = os.path.join(work, "data")
        shutil.rmtree(data, ignore_errors=True)
        command += ["--durable", "--dir", data, "--sync", "always"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {run.returncode}: {run.stderr.strip()}")
    report = json.loads(run.stdout)
    report["command"] = command[1:]
    return report


def fmt_rate(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else (f"{v / 1e3:.1f} k" if v >= 1e3 else f"{v:.0f}")


def fmt_us(v):
    return "—" if v is None else (f"{v / 1000:.1f} ms" if v >= 1000 else f"{v:.0f} µs")


def latency(report, key):
    lat = report.get("latency_us")
    return None if not isinstance(lat, dict) else lat.get(key)


def markdown_table(rows):
    lines = ["| scenario | msgs/s | MB/s | p50 | p99 | p99.9 | vs baseline in this run |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = "—" if r.get("ratio") is None else f"{r['ratio']:.2f}× {r['baseline_label']}"
        lines.append(f"| {r['label']} | {fmt_rate(r['value'])} | {r['mb_per_s']:.1f} | "
                     f"{fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {fmt_us(r['p999_us'])} | "
                     f"{base} |")
    return "\n".join(lines)


def plot(rows, png, title):
    plt = rc.pyplot()
    thr = [r for r in rows if r["scenario"] != "latency"]
    lat = [r for r in rows if r["scenario"] == "latency"]
    fig, ax = plt.subplots(1, 2, figsize=(13, 5))
    ax[0].barh([r["label"] for r in thr], [r["value"] for r in thr], color="#4c72b0")
    ax[0].set_xscale("log")
    ax[0].set_xlabel("messages/s (log)")
    ax[0].invert_yaxis()
    ax[0].tick_params(axis="y", labelsize=7)
    for kind, style in (("transient", "-"), ("durable", "--")):
        pts = [r for r in lat if r["kind"] == kind]
        if not pts:
            continue
        x = [r["load"] * 100 for r in pts]
        for key, color in (("p50_us", "#55a868"), ("p99_us", "#c44e52"), ("p999_us", "#8172b2")):
            ax[1].plot(x, [r[key] for r in pts], style, marker="o", color=color,
                       label=f"{kind} {key[:-3].replace('p999', 'p99.9')}")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("load (% of this run's closed-loop rate)")
    ax[1].set_ylabel("publish → delivery latency (µs, log)")
    ax[1].legend(fontsize=7)
    ax[1].grid(alpha=.3)
    rc.save_figure(plt, fig, png, title, title_size=9, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--perf", required=True, help="the corq-perf binary")
    parser.add_argument("--work", required=True, help="scratch directory for durable runs")
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--quick", action="store_true", help="0.5 s runs (numbers not meaningful)")
    parser.add_argument("--readme", metavar="README_MD",
                        help="the README.md holding the macro results region, rewritten between "
                             "its markers (tools/bench.sh --update-readme: bench/README.md)")
    parser.add_argument("--commit", default="unknown")
    args = parser.parse_args()
    duration, warmup = (0.5, 0.2) if args.quick else (5, 1)
    os.makedirs(args.work, exist_ok=True)

    runs, rows = {}, []
    for key, label, perf_args, durable, baseline in scenarios():
        print(f"macro: {label} ...", flush=True)
        runs[key] = r = run_perf(args.perf, perf_args, durable, args.work, duration, warmup)
        row = {"scenario": key, "label": label, "unit": "msgs/s", "value": r["consumed_per_s"],
               "mb_per_s": r["mb_per_s"], "p50_us": latency(r, "p50"),
               "p99_us": latency(r, "p99"), "p999_us": latency(r, "p999"),
               "ratio": None, "baseline_label": None, "higher_is_better": True}
        if baseline is not None and runs[baseline]["consumed_per_s"] > 0:
            row["ratio"] = r["consumed_per_s"] / runs[baseline]["consumed_per_s"]
            row["baseline_label"] = "of " + next(s[1] for s in scenarios() if s[0] == baseline)
        rows.append(row)
        print(f"macro:   {fmt_rate(row['value'])} msgs/s, p99 {fmt_us(row['p99_us'])}", flush=True)

    for kind, durable in (("transient", False), ("durable", True)):
        top = runs[f"wq_{kind}_64"]["published_per_s"]
        for load in (0.1, 0.5, 0.9):
            rate = max(1.0, top * load)
            key = f"latency_{kind}_{int(load * 100)}"
            label = f"work queue, {kind}, 64 B, open loop at {int(load * 100)} % ({fmt_rate(rate)}/s)"
            print(f"macro: {label} ...", flush=True)
            perf_args = WORK_QUEUE + ["--size", "64", "--rate", f"{rate:.0f}"]
            runs[key] = r = run_perf(args.perf, perf_args, durable, args.work, duration, warmup)
            rows.append({"scenario": "latency", "kind": kind, "load": load, "label": label,
                         "unit": "msgs/s", "value": r["consumed_per_s"], "mb_per_s": r["mb_per_s"],
                         "p50_us": latency(r, "p50"), "p99_us": latency(r, "p99"),
                         "p999_us": latency(r, "p999"), "ratio": None, "baseline_label": None})
            print(f"macro:   p50 {fmt_us(rows[-1]['p50_us'])} p99 {fmt_us(rows[-1]['p99_us'])} "
                  f"p99.9 {fmt_us(rows[-1]['p999_us'])}", flush=True)
    shutil.rmtree(os.path.join(args.work, "data"), ignore_errors=True)

    hardware = rc.hardware_line({})  # measured now, on this machine
    results_file = rc.results_file_name(datetime.date.today().isoformat(), "macro")
    rc.write_results(args.results_dir, results_file,
                     {"context": {"corq_commit": args.commit, "quick": args.quick,
                                  "duration_s": duration, "warmup_s": warmup},
                      "runs": runs,
                      "corq_report": {"hardware": hardware, "rows": rows}})
    png = os.path.join(args.results_dir, "macro.png")
    png = rc.draw_or_skip("macro", lambda: plot(rows, png, f"corq macro scenarios — {hardware}"),
                          png)
    table = markdown_table(rows)
    print(f"\n{hardware}\n\n{table}\n\nresults: {os.path.join(args.results_dir, results_file)}"
          + (f", plot: {png}" if png else ""))
    if args.readme:
        png_rel = rc.relative_to_readme(args.readme, png)
        text = (f"Measured by `tools/bench.sh --suite macro` (commit `{args.commit}`), {hardware}; "
                f"{duration:g} s per run after {warmup:g} s warm-up. Rates count deliveries "
                "(acked one by one); latencies are publish → delivery.\n\n" + table
                + (f"\n\n![macro scenarios]({png_rel})" if png_rel else ""))
        rc.replace_region(args.readme, "macro", text,
                       ["<!-- results:peers:end -->", "<!-- results:durable:end -->",
                        "<!-- results:end -->"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
