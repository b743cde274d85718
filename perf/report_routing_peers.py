#!/usr/bin/env python3
"""perf/report_routing_peers.py — turns bench/routing/peers.sh's JSON lines into the routing peers
table (corq vs RabbitMQ's topic exchange with the same 10,000 bindings and keys), the plot and the
recorded results file.

    report_routing_peers.py PEERS_JSONL --results-dir DIR --commit C [--png FILE]
                            [--readme bench/README.md] [--strict]

* per system and durability, the median publishes/s over rounds; corq ÷ RabbitMQ is the median of
  the ratios paired within a round (transient with transient, durable with durable); issue #16's
  target: corq ≥ 20× RabbitMQ's topic exchange, durable and transient;
* writes DIR/<hostname>-<YYYY-MM-DD>-routing-peers.json (the runs plus a `corq_report` section) and
  FILE (default DIR/routing-peers.png);
* with --readme, replaces the text between `<!-- results:routing-peers:begin -->` and
  `<!-- results:routing-peers:end -->` (inserted after the routing region if missing).

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import argparse
import datetime
import json
import os
import statistics
import sys

import report_common as rc  # same directory

TARGET = 20.0
ANCHORS = ["<!-- results:routing:end -->"]
SYSTEMS = [("corq", False, "corq transient (in-memory engine)"),
           ("corq", True, "corq durable (sync=always, durable queues)"),
           ("rabbitmq", False, "RabbitMQ topic exchange, transient queues, delivery_mode 1"),
           ("rabbitmq", True, "RabbitMQ topic exchange, durable queues, delivery_mode 2")]


def load_runs(path):
    runs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def by_round(runs, system, durable):
    return {r["round"]: r for r in runs
            if r.get("system") == system and r.get("durable") == durable and "publishes_per_s" in r}


def build(runs):
    rows, targets = [], []
    for system, durable, label in SYSTEMS:
        rs = by_round(runs, system, durable)
        rates = [r["publishes_per_s"] for r in rs.values()]
        setups = [r["setup_s"] for r in rs.values()]
        rows.append({"system": system, "durable": durable, "label": label,
                     "publishes_per_s": statistics.median(rates) if rates else None,
                     "setup_s": statistics.median(setups) if setups else None,
                     "rounds": len(rates),
                     "min": min(rates) if rates else None, "max": max(rates) if rates else None})
    for durable in (False, True):
        corq, rabbit = by_round(runs, "corq", durable), by_round(runs, "rabbitmq", durable)
        ratios = [corq[k]["publishes_per_s"] / rabbit[k]["publishes_per_s"]
                  for k in sorted(corq) if k in rabbit]
        ratio = statistics.median(ratios) if ratios else None
        targets.append({"durable": durable, "ratio": ratio, "paired_rounds": len(ratios),
                        "target": f"≥ {TARGET:g}×",
                        "met": None if ratio is None else ratio >= TARGET})
    return rows, targets


def table(rows, targets):
    lines = ["| system | publishes/s (median) | min–max over rounds | set-up s (10,000 binds) | "
             "corq ÷ RabbitMQ | target | result |",
             "|---|--:|--:|--:|--:|---|---|"]
    ratio_of = {t["durable"]: t for t in targets}
    for r in rows:
        rate = "—" if r["publishes_per_s"] is None else f"{r['publishes_per_s']:,.0f}"
        spread = "—" if r["min"] is None else f"{r['min']:,.0f}–{r['max']:,.0f}"
        setup = "—" if r["setup_s"] is None else f"{r['setup_s']:.1f}"
        if r["system"] == "rabbitmq":
            t = ratio_of[r["durable"]]
            cells = (f"{rc.fmt_ratio(t['ratio'], '.1f')} | {t['target']} | "
                     f"{rc.result_cell(True, t['met'])}")
        else:
            cells = "— | — | —"
        lines.append(f"| {r['label']} | {rate} | {spread} | {setup} | {cells} |")
    return "\n".join(lines)


def plot(rows, png, title):
    plt = rc.pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = ["corq\ntransient", "corq\ndurable", "RabbitMQ\ntransient", "RabbitMQ\ndurable"]
    ys = [r["publishes_per_s"] or 0 for r in rows]
    colors = ["#d1495b", "#d1495b", "#8d99ae", "#8d99ae"]
    bars = ax.bar(range(len(ys)), ys, color=colors)
    rc.label_bars(ax, bars, ys, lambda y: f"{y:,.0f}")
    ax.set_xticks(range(len(ys)))
    ax.set_xticklabels(labels)
    ax.set_yscale("log")
    ax.set_ylabel("confirmed publishes/s (log scale)")
    ax.set_title("Topic exchange, 10,000 bindings, batches of 100 confirmed (higher is better)",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    rc.save_figure(plt, fig, png, title)


def missed(targets):
    return [f"corq {'durable' if t['durable'] else 'transient'} ÷ RabbitMQ "
            f"{rc.fmt_ratio(t['ratio'], '.1f')} (target {t['target']})"
            for t in targets if t["met"] is False]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("peers_jsonl")
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--png")
    parser.add_argument("--readme")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    runs = load_runs(args.peers_jsonl)
    rows, targets = build(runs)
    date = datetime.date.today().isoformat()
    hardware = rc.hardware_line({"date": date})
    with open("/proc/loadavg", encoding="utf-8") as f:
        load = " / ".join(f.read().split()[:3])
    skips = [r for r in runs if "skipped" in r]
    publishes = next((r["publishes"] for r in runs if "publishes" in r), 0)
    rounds = max((r["rounds"] for r in rows), default=0)
    results_file = rc.results_file_name(date, "routing-peers")
    rc.write_results(args.results_dir, results_file,
                     {"runs": runs, "corq_report": {"hardware": hardware, "commit": args.commit,
                                                    "rows": rows, "targets": targets,
                                                    "missed": missed(targets)}})
    png = args.png or os.path.join(args.results_dir, "routing-peers.png")
    png = rc.draw_or_skip("report_routing_peers",
                          lambda: plot(rows, png, f"corq vs RabbitMQ topic routing — {hardware}"),
                          png)
    text = table(rows, targets)
    print(f"\n{hardware}; load average at the end {load}\n")
    print(text)
    for s in skips:
        print(f"skipped: {s}")
    rc.print_outcome(args.results_dir, results_file, png, missed(targets))
    if args.readme:
        section = "\n".join([
            f"Routing peers (`tools/bench.sh --suite routing_peers`, `bench/routing/peers.sh`), "
            f"commit `{args.commit}`, {hardware}; load average at the end {load} (a shared 2-core "
            f"VM). The topic scenario of the table above — the same 10,000 bindings (4 target and 8 "
            f"filler queues) and the same keys, 64-byte messages — on corq and on RabbitMQ's topic "
            f"exchange: one publishing thread, {publishes:,} publishes per run in batches of 100 "
            f"whose confirms are awaited (RabbitMQ: publisher confirms; corq durable: "
            f"`CORQ_PUBLISH_NOWAIT` + `corq_wait_durable` of the batch's last id; corq transient: "
            f"the publish returns once the message is queued), no consumer; every run checks that "
            f"all messages are in the target queues and none in the filler ones. {rounds} rounds, "
            f"each corq transient, corq durable, then RabbitMQ 3.10 started for its two runs and "
            f"stopped; medians over rounds, ratios paired within a round.",
            "",
            text,
            "",
            rc.figure_and_raw_numbers("corq vs RabbitMQ topic routing",
                                      rc.relative_to_readme(args.readme, png), results_file),
            "",
            rc.missed_sentence(missed(targets), "Routing peers targets **missed** in this run: ",
                               "Both routing peers targets were met in this run."),
        ])
        rc.replace_region(args.readme, "routing-peers", section, ANCHORS)
        print(f"updated {args.readme}")
    return 1 if args.strict and missed(targets) else 0


if __name__ == "__main__":
    sys.exit(main())
