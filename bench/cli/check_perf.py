#!/usr/bin/env python3
"""bench/cli/check_perf.py — runs corq-perf for a ctest test and checks what it printed.

  check_perf.py exit CODE -- CMD...        exit code is CODE; with 2, stderr holds the usage
  check_perf.py json [--rate R | --fanout N] -- CMD...
                                           exit 0, stdout is one JSON object with the keys, counts
                                           that add up, ordered percentiles; with --rate, the
                                           publish rate is R within 5 %; with --fanout, every
                                           message went to N queues (totals are multiples of N)
  check_perf.py no-latency -- CMD...       exit 0, JSON with latency_us null and the reason
  check_perf.py summary -- CMD...          exit 0, the human summary's lines
  check_perf.py durable -- CMD...          exit 0 with JSON, or exit 1 with corq_open's error
Exits 0 when every check holds, else prints what failed and exits 1.
"""
import json
import subprocess
import sys

TIMEOUT_S = 120


def fail(message, run=None):
    print("FAIL: " + message)
    if run is not None:
        print("--- exit code: %d\n--- stdout:\n%s--- stderr:\n%s" % (run.returncode, run.stdout, run.stderr))
    sys.exit(1)


def run_command(command):
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


def check_exit(code, run):
    if run.returncode != code:
        fail("exit code %d, expected %d" % (run.returncode, code), run)
    if code == 2:
        if "usage: corq-perf" not in run.stderr:
            fail("no usage message on stderr", run)
        if not run.stderr.startswith("corq-perf: "):
            fail("stderr does not start with the reason", run)
        if run.stdout:
            fail("a usage error printed to stdout", run)


def parse_json(run):
    check_exit(0, run)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        fail("stdout is not one line of JSON", run)
    try:
        return json.loads(lines[0])
    except ValueError as error:
        fail("stdout is not JSON: %s" % error, run)


def check_counts(report, run):
    for key in ("published_per_s", "consumed_per_s", "mb_per_s", "published", "consumed",
                "published_total", "consumed_total", "not_drained", "parameters", "latency_us"):
        if key not in report:
            fail("key %r missing" % key, run)
    if report["published"] <= 0 or report["consumed"] <= 0:
        fail("nothing published or consumed in the window", run)
    if report["published_per_s"] <= 0 or report["consumed_per_s"] <= 0 or report["mb_per_s"] <= 0:
        fail("a rate is not positive", run)
    if report["consumed_total"] != report["published_total"] or report["not_drained"] != 0:
        fail("consumed_total != published_total after the drain", run)
    # The window's deliveries trail its publishes by what is queued at its ends (a loaded machine
    # can queue a lot in closed loop): within 25 %. The totals above are exact.
    published, consumed = report["published"], report["consumed"]
    if abs(published - consumed) > 0.25 * published + 64 * report["parameters"]["batch"]:
        fail("published %d and consumed %d in the window differ too much" % (published, consumed), run)
    size = report["parameters"]["size_bytes"]
    expected_mb = report["consumed_per_s"] * size / 1e6
    if abs(report["mb_per_s"] - expected_mb) > 0.01 * expected_mb + 0.001:
        fail("mb_per_s %f is not consumed_per_s x size (%f)" % (report["mb_per_s"], expected_mb), run)
    if "p99" not in run.stderr or "corq-perf" not in run.stderr:
        fail("no progress line on stderr", run)


def check_latency(report, run):
    latency = report["latency_us"]
    if not isinstance(latency, dict):
        fail("latency_us is not an object", run)
    keys = ("p50", "p99", "p999", "max")
    for key in keys:
        if key not in latency:
            fail("latency_us.%s missing" % key, run)
    values = [latency[key] for key in keys]
    if values[0] <= 0 or values != sorted(values):
        fail("latency percentiles are not positive and ordered: %s" % values, run)
    if latency["count"] <= 0 or latency["count"] > report["published_total"]:
        fail("latency count %d out of range" % latency["count"], run)


def main(argv):
    if "--" not in argv:
        fail("usage: check_perf.py MODE [ARGS] -- CMD...")
    split = argv.index("--")
    mode, arguments, command = argv[1], argv[2:split], argv[split + 1:]
    run = run_command(command)
    if mode == "exit":
        check_exit(int(arguments[0]), run)
    elif mode == "json":
        report = parse_json(run)
        check_counts(report, run)
        check_latency(report, run)
        if arguments[:1] == ["--rate"]:
            rate = float(arguments[1])
            if abs(report["published_per_s"] - rate) > 0.05 * rate:
                fail("published_per_s %f is not the --rate %f" % (report["published_per_s"], rate), run)
            if report["coordinated_omission_corrected"] is not True:
                fail("open loop not marked coordinated_omission_corrected", run)
        if arguments[:1] == ["--fanout"]:
            fanout = int(arguments[1])
            if report["parameters"].get("fanout") != fanout:
                fail("parameters.fanout is not %d" % fanout, run)
            batch = report["parameters"]["batch"]
            if report["published_total"] % (fanout * batch) != 0:
                fail("published_total %d is not whole batches sent to %d queues"
                     % (report["published_total"], fanout), run)
    elif mode == "no-latency":
        report = parse_json(run)
        check_counts(report, run)
        if report["latency_us"] is not None or "latency_note" not in report:
            fail("latency_us should be null with a latency_note", run)
    elif mode == "summary":
        check_exit(0, run)
        for word in ("published", "consumed", "latency", "msg/s", "p99.9"):
            if word not in run.stdout:
                fail("summary lacks %r" % word, run)
    elif mode == "durable":
        if run.returncode == 1:
            if "corq-perf: corq_open(" not in run.stderr or "CORQ_E" not in run.stderr:
                fail("exit 1 without corq_open's error", run)
        else:
            report = parse_json(run)
            check_counts(report, run)
            if report["parameters"]["durable"] is not True:
                fail("parameters.durable is not true", run)
    else:
        fail("unknown mode %r" % mode)
    print("ok: " + mode)


if __name__ == "__main__":
    main(sys.argv)
