"""Triage of a pod-shaped log: `healer scan` against grep over agents' event streams, and what it finds.

    python bench/pod_triage.py [--size-mb 100] [--runs 3] [--seed 42] [--no-grep-utf8]

Generates (or reuses) `bench/data/pod.log` with `bench/podlog.py` — several agents' pods as `kubectl logs
--prefix --timestamps` prints them, mostly Claude stream-json and Codex `exec --json` events, with planted
failures listed in its manifest — then prints, in one run: `healer scan --format jsonl --session …` as a user
runs it (a new process pinned to one core: start-up, reading and JSON output included), in MB/s
(1 MB = 10^6 bytes) with its findings by code; `grep -E -i -c` with the catalogue's patterns (translated to
POSIX ERE as `bench/triage.py` does) over the same file in the C and the C.UTF-8 locale, also on one core;
and the findings against the manifest: planted, found, missed and extra, by code. Timings are the best of
`--runs` (grep in UTF-8: one run); they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.podlog import PodLog, generate  # noqa: E402
from bench.triage import compare_with_grep, healer_scan, row  # noqa: E402

Finding = dict[str, object]


def compare(findings: list[Finding], planted: list[dict[str, object]]) -> dict[str, Counter[str]]:
    """Per code: planted failures, those found at their line with their code, those missed, and the
    findings that are none of them (`extra`, counted per finding)."""
    expected = {(p["line"], p["code"]) for p in planted}
    got = {(f["line_no"], f["code"]) for f in findings}
    return {
        "planted": Counter(str(code) for _, code in expected),
        "found": Counter(str(code) for _, code in expected & got),
        "missed": Counter(str(code) for _, code in expected - got),
        "extra": Counter(str(f["code"]) for f in findings if (f["line_no"], f["code"]) not in expected),
    }


def _by_code(counts: Counter[str]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items())) or "none"


def print_comparison(log: PodLog, findings: list[Finding], examples: int = 8) -> None:
    table = compare(findings, log.planted)
    codes = sorted(set().union(*table.values()))
    print(f"  {'code':<6}" + "".join(f"{name:>9}" for name in table))
    for code in [*codes, "all"]:
        cells = (sum(c.values()) if code == "all" else c[code] for c in table.values())
        print(f"  {code:<6}" + "".join(f"{n:>9,}" for n in cells))
    at_line: dict[object, list[str]] = {}
    for f in findings:
        at_line.setdefault(f["line_no"], []).append(str(f["code"]))
    got = {(f["line_no"], f["code"]) for f in findings}
    missed = [p for p in log.planted if (p["line"], p["code"]) not in got]
    for p in missed[:examples]:
        there = ", ".join(at_line.get(p["line"], [])) or "nothing"
        print(f"  missed: line {p['line']} {p['code']} ({p['kind']}, {p['agent']}); reported there: {there}")
    expected = {(p["line"], p["code"]) for p in log.planted}
    extra = [f for f in findings if (f["line_no"], f["code"]) not in expected]
    for f in extra[:examples]:
        text = re.sub(r"^\[pod/\S+\] \S+ ", "", str(f["text"]))  # without the kubectl prefix
        print(f"  extra: line {f['line_no']} {f['code']} ({f['agent']}): {text[:100]!r}")
    if len(missed) > examples or len(extra) > examples:
        print(f"  ({len(missed):,} missed and {len(extra):,} extra in all)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO / "bench" / "data" / "pod.log")
    parser.add_argument("--no-grep-utf8", action="store_true", help="skip grep in the C.UTF-8 locale (slow)")
    args = parser.parse_args(argv)

    log = generate(args.data, size_mb=args.size_mb, seed=args.seed)
    megabytes = log.size_bytes / 1e6
    events = json.loads(log.manifest.read_text()).get("json_event_bytes", 0)
    print(
        f"log: {log.path} — {megabytes:.1f} MB, {log.line_count:,} lines, {events / log.size_bytes:.0%} of the "
        f"bytes in one-line JSON events, {len(log.planted):,} planted failures ({_by_code(Counter(str(p['code']) for p in log.planted))})"
    )
    print(
        f"one core for external commands ({'taskset -c 0' if shutil.which('taskset') else 'taskset missing'})\n"
    )

    print("as a user runs it (new process, one core):")
    seconds, output = healer_scan(log.path, args.runs, "--session", str(log.session), "--kubectl-prefix")
    findings = [json.loads(line) for line in output.splitlines()]
    row("healer scan --format jsonl --session", megabytes, seconds, f"{len(findings):,} findings")
    print(f"    findings by code: {_by_code(Counter(str(f['code']) for f in findings))}")
    compare_with_grep(log.path, megabytes, seconds, args.runs, utf8=not args.no_grep_utf8, only="codes")

    print(
        "\nfindings against the manifest (a finding counts when its line and code are a planted failure's):"
    )
    print_comparison(log, findings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
