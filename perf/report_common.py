"""perf/report_common.py — what the report scripts (report_*.py, macro.py, compare.py) share.

Every suite's report goes the same way: read a benchmark's output, take medians over its rounds,
build the rows of a table, write <host>-<date>[-suite].json (the input plus a `corq_report` section)
into the results directory, draw a PNG, print the Markdown table, and with --readme rewrite the
suite's marked region of the README.md that holds its table. The steps that are the same for every
suite live here; what a suite measures and how its table reads stay in its own script.

Python 3 and matplotlib from Debian (python3-matplotlib) only; no pip.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import types

# ---- reading benchmark output --------------------------------------------------------------------


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def run_name(benchmark):
    """Google Benchmark's name of a run without the repetition suffix."""
    return benchmark.get("run_name", benchmark["name"])


def first_two_parts(name):
    """'latency_64B/psync/iterations:1/repeats:1/manual_time' -> 'latency_64B/psync'."""
    return "/".join(name.split("/")[:2])



def rounds_by_name(bench_json):
    """{'scenario/path': [run or None per round]}: a benchmark registered once per round, in round
    order; a run that reported an error is None, so the rounds stay aligned."""
    rounds = {}
    for b in bench_json.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        run = None if b.get("error_occurred") else b
        rounds.setdefault(first_two_parts(run_name(b)), []).append(run)
    return rounds


def paired_ratios(rounds, a, b, counter):
    """a's counter / b's counter within each round where both ran."""
    return [x[counter] / y[counter] for x, y in zip(rounds.get(a, []), rounds.get(b, []))
            if x and y and x.get(counter) and y.get(counter)]

def measured_runs(bench_json):
    """The per-repetition runs of a Google Benchmark JSON, in run order: aggregates (which Google
    Benchmark adds when there are several repetitions; the reports recompute them) and runs that
    reported an error are left out."""
    return [b for b in bench_json.get("benchmarks", [])
            if b.get("run_type") != "aggregate" and not b.get("error_occurred")]


def runs_by_name(bench_json):
    """{'scenario/peer': [repetition, ...]} in run order, errors left out."""
    runs = {}
    for b in measured_runs(bench_json):
        runs.setdefault(first_two_parts(run_name(b)), []).append(b)
    return runs


def medians(runs):
    """{benchmark: {counter: median over its repetitions, 'repetitions': how many}}."""
    result = {}
    for name, reps in runs.items():
        counters = {k for r in reps for k, v in r.items() if isinstance(v, (int, float))}
        result[name] = {k: statistics.median(r[k] for r in reps if k in r) for k in counters}
        result[name]["repetitions"] = len(reps)
    return result


def skipped(bench_json):
    """{benchmark: error message} of the benchmarks that did not run (e.g. io_uring unavailable)."""
    return {first_two_parts(run_name(b)): b.get("error_message", "?")
            for b in bench_json.get("benchmarks", []) if b.get("error_occurred")}


def spread_line(runs, headline):
    """Per benchmark, the min–max over its rounds of its headline counter: `headline(name)` gives
    (counter, unit, divisor) or None to leave the benchmark out."""
    parts = []
    for name, reps in runs.items():
        picked = headline(name)
        if picked is None:
            continue
        counter, unit, scale = picked
        xs = [r[counter] for r in reps if counter in r]
        if xs:
            parts.append(f"{name} {min(xs) / scale:,.0f}–{max(xs) / scale:,.0f} {unit}")
    return "; ".join(parts)


# ---- the machine ---------------------------------------------------------------------------------


def lscpu_fields():
    """lscpu's `Key: value` lines as (key, value) pairs, in order; [] where lscpu is missing."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [(k.strip(), v.strip()) for k, v in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)]


def cpu_model(fields):
    """The first `Model name` lscpu reports (a big.LITTLE CPU has several)."""
    model = next((v for k, v in fields if k == "Model name"), None)
    return model or platform.processor() or "unknown CPU"


def run_date(context):
    """YYYY-MM-DD of a Google Benchmark run (its context), today if it does not say."""
    return context.get("date", "")[:10] or datetime.date.today().isoformat()


def hardware_line(context):
    """'<CPU model>, N CPUs, Linux <kernel>, <arch>, measured <date>' of a Google Benchmark run."""
    cpus = context.get("num_cpus") or os.cpu_count()
    return (f"{cpu_model(lscpu_fields())}, {cpus} CPUs, Linux {platform.release()}, "
            f"{platform.machine()}, measured {run_date(context)}")


# ---- the disk suites (log, durable): the raw device next to what corq wrote ----------------------

BACKENDS = ["psync", "io_uring"]
BACKEND_COLORS = {"psync": "#30638e", "io_uring": "#d1495b", "raw": "#8d99ae",
                  "raw_fresh": "#c9ced6"}


def read_disk_suite(bench_json):
    """What the log and durable reports take from their Google Benchmark JSON alike: context, runs
    by name, medians (with each benchmark's label, its back end), the hardware and disk lines, the
    benchmarks that did not run (skips; errors are those not marked "skipped:"), the rounds."""
    context = bench_json.get("context", {})
    runs = runs_by_name(bench_json)
    values = medians(runs)
    for name, reps in runs.items():
        values[name]["label"] = reps[0].get("label", "")
    skips = skipped(bench_json)
    return types.SimpleNamespace(
        context=context, runs=runs, values=values, hardware=hardware_line(context),
        disk=disk_line(context), skips=skips,
        errors={k: v for k, v in skips.items() if not v.startswith("skipped:")},
        rounds=max((v.get("repetitions", 1) for v in values.values()), default=1))


def disk_line(context):
    direct = "O_DIRECT" if context.get("corq_raw_direct_io") == "true" else "buffered (no O_DIRECT)"
    uring = context.get("corq_io_uring", "?")
    return (f"{context.get('corq_filesystem', '?')} filesystem, {direct}, io_uring "
            f"{'available' if uring == 'available' else 'unavailable (' + uring + ')'}")


def device_line(values):
    """The raw device's own benchmarks (medians over the rounds)."""
    raw4k = values.get("raw_4k/latency", {})
    fresh = values.get("raw_4k/latency_fresh", {})
    raw1m = values.get("raw_1m/bandwidth", {})

    def pct(v):
        return (f"p50 {fmt_number(v.get('p50_us'))} / p99 {fmt_number(v.get('p99_us'))} / "
                f"p99.9 {fmt_number(v.get('p999_us'))} µs")
    parts = []
    if raw4k:
        parts.append(f"4 KiB pwrite+fdatasync {pct(raw4k)}")
    if fresh:
        paired = ""
        if fresh.get("p50_ratio"):
            paired = (f" ({fmt_ratio(fresh['p50_ratio'], '.3g')} / "
                      f"{fmt_ratio(fresh.get('p99_ratio'), '.3g')} the "
                      "p50 / p99 of overwrites interleaved with them)")
        parts.append(f"the same into freshly fallocated, never written blocks (a new log segment's "
                     f"case) {pct(fresh)}{paired}")
    if raw1m:
        parts.append(f"1 MiB pwrite+fdatasync {fmt_number(raw1m.get('MB_per_s'))} MB/s")
    return "raw device: " + "; ".join(parts) if parts else "raw device: not measured"


def within(ratio, bound, higher_is_better):
    """Whether a ratio meets its bound: None where there is no bound or no ratio."""
    if bound is None or ratio is None:
        return None
    return ratio >= bound if higher_is_better else ratio <= bound


# ---- table cells ---------------------------------------------------------------------------------


def fmt_number(v):
    """1 decimal below 1000, none above, thousands separated; '—' for nothing."""
    if v is None:
        return "—"
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def fmt_ratio(r, spec):
    """'1.37×' with the given format spec ('.2f', '.3g'); '—' for nothing."""
    return "—" if r is None else f"{r:{spec}}×"


def result_cell(has_target, met):
    """The last column of a table: '—' (no target), 'not run', 'met' or '**MISSED**'."""
    if not has_target:
        return "—"
    if met is None:
        return "not run"
    return "met" if met else "**MISSED**"


def figure_and_raw_numbers(alt, png_rel, results_file):
    """The line under a table: its plot (when there is one) and where its raw numbers are."""
    return ((f"![{alt}]({png_rel}) — " if png_rel else "") +
            f"raw numbers: `perf/results/{results_file}`.")


def missed_sentence(missed, missed_intro, all_met):
    """The last line of a results section: which targets this run missed, or that it met all."""
    return missed_intro + "; ".join(missed) + "." if missed else all_met


def bullet_lines(details, spread, skips):
    """The bullets under a disk suite's table: details, the spread, what did not run."""
    lines = [f"- {d}" for d in details]
    lines += [f"- spread over the rounds (min–max): {spread}"]
    lines += [f"- {name}: {message}" for name, message in skips.items()]
    return lines


# ---- writing results -----------------------------------------------------------------------------


def results_file_name(date, suite=None):
    """<host>-<YYYY-MM-DD>[-suite].json (the rings suite, the first, has no suffix)."""
    return f"{socket.gethostname()}-{date}{'-' + suite if suite else ''}.json"


def suite_of(name):
    """The inverse: 'vm-2026-11-22-durable.json' -> 'durable'; 'vm-2026-11-22.json' -> 'rings'."""
    m = re.match(r".*-\d{4}-\d{2}-\d{2}(?:-(.+))?\.json$", name)
    if not m:
        return None
    return m.group(1) or "rings"


def write_results(results_dir, results_file, data):
    """Writes the self-describing results file (the input plus `corq_report`) into results_dir."""
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, results_file), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def print_outcome(results_dir, results_file, png, missed):
    """The last lines a Google Benchmark suite's report prints."""
    print("targets missed: " + ("; ".join(missed) if missed else "none"))
    print(f"results: {os.path.join(results_dir, results_file)}" +
          (f", plot: {png}" if png else ""))


# ---- plots ---------------------------------------------------------------------------------------


def pyplot():
    """matplotlib's pyplot, drawing to files only (no display); ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw_or_skip(who, draw, png):
    """Runs draw() and returns png; without matplotlib says so on stderr and returns None (the
    report goes on without a plot)."""
    try:
        draw()
    except ImportError as e:
        print(f"{who}: no plot ({e}); apt-get install python3-matplotlib", file=sys.stderr)
        return None
    return png


def save_figure(plt, fig, png_path, title, title_size=10, dpi=100):
    fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    fig.savefig(png_path, dpi=dpi)
    plt.close(fig)


def label_bars(ax, bars, ys, fmt):
    """Writes each non-zero bar's value (fmt(y)) above it."""
    for bar, y in zip(bars, ys):
        if y:
            ax.annotate(fmt(y), (bar.get_x() + bar.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=7)


def grouped_bars(ax, i, count, width, ys, label, color, fmt):
    """Bar i of `count` side by side at each x position 0..len(ys)-1, labelled with fmt."""
    xs = [k + (i - (count - 1) / 2) * width for k in range(len(ys))]
    bars = ax.bar(xs, ys, width, label=label, color=color)
    label_bars(ax, bars, ys, fmt)
    return xs


def plot_latency_vs_raw(ax, values, series, width, paired_label, title):
    """p50/p99/p99.9 bars of each (label, benchmark, color) in series, on a log scale; for the
    latency_* benchmarks, a black tick at the raw 4 KiB write measured in the same moments."""
    counters = [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us")]
    marked = False
    for i, (label, name, color) in enumerate(series):
        ys = [values.get(name, {}).get(c) or 0 for _, c in counters]
        xs = grouped_bars(ax, i, len(series), width, ys, label, color, lambda y: f"{y:,.0f}")
        paired = [values.get(name, {}).get(f"raw_{c}") for _, c in counters]
        if name.startswith("latency_") and any(paired):
            ax.scatter([x for x, p in zip(xs, paired) if p], [p for p in paired if p], marker="_",
                       s=300, color="black", zorder=3, label=None if marked else paired_label)
            marked = True
    ax.set_xticks(range(len(counters)))
    ax.set_xticklabels([n for n, _ in counters])
    ax.set_yscale("log")
    ax.set_ylabel("µs (log scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def target_lines(ax, levels):
    """A dashed target line across bar group k at height levels[k] (none where it is 0 or None)."""
    for k, level in enumerate(levels):
        if level:
            ax.hlines(level, k - 0.45, k + 0.45, colors="black", linestyles="--", linewidth=0.9,
                      label="target" if k == 0 else None)


# ---- the README region ---------------------------------------------------------------------------


def region_marks(name):
    """The markers around a suite's results in a README (the rings suite's have no name)."""
    if name is None:
        return "<!-- results:begin -->", "<!-- results:end -->"
    return f"<!-- results:{name}:begin -->", f"<!-- results:{name}:end -->"


def replace_region(readme_path, name, text, anchors=None, who=None):
    """Replaces the text between the region's markers with `text`. If the markers are missing they
    are inserted after the first of `anchors` (a list) found in the file; with no anchors, the file
    must have the region. `who` prefixes the error message."""
    begin_mark, end_mark = region_marks(name)
    with open(readme_path, encoding="utf-8") as f:
        content = f.read()
    begin, end = content.find(begin_mark), content.find(end_mark)
    if begin < 0 or end < begin:
        anchor = next((a for a in anchors or [] if a in content), None)
        if anchor is None:
            prefix = f"{who}: " if who else ""
            if anchors:
                raise SystemExit(f"{prefix}{readme_path} has neither {begin_mark} ... {end_mark} "
                                 f"nor any of {anchors}")
            raise SystemExit(f"{prefix}{readme_path} has no {begin_mark} ... {end_mark} region")
        at = content.find(anchor) + len(anchor)
        content = content[:at] + f"\n\n{begin_mark}\n{end_mark}" + content[at:]
        begin, end = content.find(begin_mark), content.find(end_mark)
    content = content[:begin + len(begin_mark)] + "\n" + text + "\n" + content[end:]
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(content)


def relative_to_readme(readme_path, path):
    """path as a link from the README's folder ('' for no path)."""
    return os.path.relpath(path, os.path.dirname(os.path.abspath(readme_path))) if path else ""


# ---- command line --------------------------------------------------------------------------------


def report_arguments(doc, input_name, input_help, suite, results_file):
    """The arguments every report script takes: its input, --results-dir, --png, --readme,
    --strict."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument(input_name, help=input_help)
    parser.add_argument("--results-dir", required=True, help=f"where {results_file} goes")
    parser.add_argument("--png", help=f"plot path (default: RESULTS_DIR/{suite}.png)")
    parser.add_argument("--readme", metavar="README_MD",
                        help=f"the README.md holding the {suite} results region, rewritten between "
                             "its markers (tools/bench.sh --update-readme: bench/README.md)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return parser


# ---- the disk suites' whole run ------------------------------------------------------------------


def disk_suite_main(doc, name, bench, title, build_rows, missed_targets, detail_lines,
                    spread_headline, markdown_table, plot, readme_section, anchors):
    """The whole run of report_log.py and report_durable.py, which differ only in what they measure:
    `name` is the suite (log, durable), `bench` its binary; the functions make its rows
    (build_rows(values, context)), missed targets, detail lines, spread, table, plot
    (plot(rows, values, png, title)) and README section (readme_section(suite, rows, details,
    spread, png_rel, results_file, missed)). Returns the exit status."""
    args = report_arguments(doc, "bench_json", f"{bench} --benchmark_out JSON", name,
                            f"<host>-<date>-{name}.json").parse_args()
    bench_json = load_json(args.bench_json)
    suite = read_disk_suite(bench_json)
    rows = build_rows(suite.values, suite.context)
    missed = missed_targets(rows)
    details = detail_lines(rows, suite.values)
    spread = spread_line(suite.runs, spread_headline)

    results_file = results_file_name(run_date(suite.context), name)
    bench_json["corq_report"] = {"hardware": suite.hardware, "disk": suite.disk, "rows": rows,
                                 "missed": missed, "skipped": suite.skips, "medians": suite.values,
                                 "details": details, "spread": spread}
    write_results(args.results_dir, results_file, bench_json)

    png = args.png or os.path.join(args.results_dir, f"{name}.png")
    png = draw_or_skip(f"report_{name}", lambda: plot(
        rows, suite.values, png, f"{title} — {suite.hardware}; {suite.disk}"), png)

    print(f"\n{suite.hardware}; {suite.disk}; {suite.context.get('corq_scale', '?')} run, medians "
          f"of {suite.rounds} rounds\n")
    print(markdown_table(rows))
    print()
    for line in details:
        print(line)
    print("spread: " + spread)
    for skipped_name, message in suite.skips.items():
        print(f"{skipped_name}: {message}")
    print_outcome(args.results_dir, results_file, png, missed)

    if args.readme:
        replace_region(args.readme, name,
                       readme_section(suite, rows, details, spread,
                                      relative_to_readme(args.readme, png), results_file, missed),
                       anchors)
        print(f"updated {args.readme}")
    return 1 if (args.strict and missed) or suite.errors else 0
