#!/usr/bin/env python3
"""Compares two benchmark result files (or two results directories) and flags regressions.

    perf/compare.py OLD NEW [--threshold 0.10]

OLD and NEW are result files written by tools/bench.sh (perf/results/<host>-<date>[-suite].json),
or two directories of them (files are paired by suite: the part of the name after the date).

What is compared is each row's *ratio against its baseline measured in the same run* (corq vs the
raw device, vs moodycamel, vs a peer...), not absolute times: on a shared or virtual machine an
absolute number moves several-fold between runs while a same-run ratio moves much less. Absolute
values are printed for context only.

A row regressed when its ratio moved the wrong way by more than the threshold (default 10 %): down
for "higher is better" rows (throughput ratios, targets written "≥"), up for "lower is better"
rows (latency and memory ratios, targets written "≤"). Exit status: 0 no regression, 1 at least
one regression, 2 bad usage or unreadable input. Rows present in only one file are listed, not
judged.
"""
import argparse
import os
import sys

import report_common as rc  # same directory

LOWER_UNITS = ("µs", "us", "ms", "ns", "s", "B/msg")


def lower_is_better(row):
    """The direction of a row's ratio, from its target when it has one, else from its unit."""
    if "higher_is_better" in row:
        return not row["higher_is_better"]
    target = str(row.get("target", ""))
    if "≤" in target or "<=" in target:
        return True
    if "≥" in target or ">=" in target:
        return False
    if row.get("minimum") is not None:
        return False
    unit = str(row.get("unit", ""))
    return any(unit.startswith(u) for u in LOWER_UNITS)


def metrics(path):
    """{key: (ratio, lower_is_better, label, value)} for every row of one result file."""
    data = rc.load_json(path)
    report = data.get("corq_report", data)
    out = {}
    for row in report.get("rows", []):
        scenario = row.get("scenario", row.get("label", "?"))
        lower = lower_is_better(row)
        label = row.get("label", scenario)
        if isinstance(row.get("ratios"), dict):  # one row, several references (the rings suite)
            values = row.get("values", {})
            for ref, ratio in row["ratios"].items():
                if ratio is None:
                    continue
                key = f"{scenario} vs {ref}"
                out[key] = (float(ratio), lower, f"{label} (vs {ref})", values.get("corq"))
        elif row.get("ratio") is not None:
            parts = [scenario] + [str(row[k]) for k in ("backend", "peer", "size") if k in row]
            value = next((row[k] for k in ("value", "corq", "log") if k in row), None)
            out[" / ".join(parts)] = (float(row["ratio"]), lower, label, value)
    return out


def pairs(old, new):
    if os.path.isfile(old) and os.path.isfile(new):
        return [(os.path.basename(new), old, new)]
    if os.path.isdir(old) and os.path.isdir(new):
        def by_suite(d):
            return {rc.suite_of(n): os.path.join(d, n) for n in sorted(os.listdir(d))
                    if rc.suite_of(n)}
        a, b = by_suite(old), by_suite(new)
        return [(s, a[s], b[s]) for s in sorted(set(a) & set(b))]
    raise SystemExit(f"compare: {old} and {new} must both be files or both directories")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--threshold", type=float, default=0.10,
                        help="relative change of a ratio that counts as a regression (default 0.10)")
    args = parser.parse_args()
    if not 0 < args.threshold < 10:
        parser.error("--threshold must be in (0, 10)")
    try:
        paired = pairs(args.old, args.new)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    if not paired:
        print("compare: no result files to pair", file=sys.stderr)
        return 2
    regressions = 0
    for suite, old_path, new_path in paired:
        try:
            a, b = metrics(old_path), metrics(new_path)
        except (OSError, ValueError) as e:
            print(f"compare: {e}", file=sys.stderr)
            return 2
        print(f"## {suite}: {old_path} -> {new_path}\n")
        print("| row | old ratio | new ratio | change | verdict |")
        print("|---|---|---|---|---|")
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                where = "new only" if key not in a else "old only"
                print(f"| {key} | {a[key][0] if key in a else '—'} | "
                      f"{b[key][0] if key in b else '—'} | — | {where} |")
                continue
            old_ratio, lower, _, _ = a[key]
            new_ratio = b[key][0]
            change = (new_ratio - old_ratio) / old_ratio if old_ratio else 0.0
            worse = change > args.threshold if lower else change < -args.threshold
            better = change < -args.threshold if lower else change > args.threshold
            verdict = "REGRESSION" if worse else ("better" if better else "same")
            regressions += worse
            arrow = "lower is better" if lower else "higher is better"
            print(f"| {key} ({arrow}) | {old_ratio:.3g} | {new_ratio:.3g} | {change:+.1%} | "
                  f"{verdict} |")
        print()
    print(f"compare: {regressions} regression(s) beyond {args.threshold:.0%}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
