"""Triage speed: Healer's engine against GNU grep over the same realistic 100 MB play log.

    python bench/triage.py [--size-mb 100] [--runs 3] [--no-grep-utf8]

Prints, in MB/s (1 MB = 10^6 bytes): each matcher backend alone (the prefilter), the whole engine per
backend in-process, `healer scan` as a user runs it (a new process: start-up, pattern compilation, reading,
JSON output), and `grep -E -i -c` with the union of the catalogue's patterns, in the machine's locale and in
the C locale (grep is much faster without multibyte case folding). Every external command is pinned to one
core with `taskset`. Figures are the best of `--runs`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.logs import generate  # noqa: E402
from graph.triage.catalogue import CATALOGUE  # noqa: E402
from graph.triage.engine import TriageEngine  # noqa: E402
from graph.triage.matcher import BACKENDS, tagged_patterns  # noqa: E402

STRAWMAN_SAMPLE_BYTES = 2_000_000  # `re-combined` runs at well under 1 MB/s: measured on a sample


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def posix_ere(pattern: str) -> str:
    """A catalogue pattern (Python/PCRE syntax) as GNU grep's extended regex."""
    # grep -i folds case everywhere: a capitals-only group becomes a plain one (a superset)
    pattern = pattern.replace("(?-i:", "(").replace("(?:", "(").replace('\\"', '"')
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            inside = {"w": "[:alnum:]_", "s": "[:space:]", "d": "0-9"}
            outside = {"d": "[0-9]"}
            table = inside if in_class else outside
            out.append(table.get(escape, char + escape))
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def grep_union_files(directory: Path) -> dict[str, Path]:
    """The catalogue codes' own patterns, and every pattern Healer's prefilter looks for (the codes' plus
    the level markers and inventory lines it needs to decide a line)."""
    unions = {
        "codes": [pattern for alert in CATALOGUE for pattern in alert.patterns + alert.keywords],
        "prefilter": [pattern for _tag, pattern in tagged_patterns()],
    }
    files = {}
    for name, patterns in unions.items():
        files[name] = directory / f"{name}.ere"
        files[name].write_text("\n".join(posix_ere(p.removeprefix("^")) for p in patterns) + "\n")
    return files


def pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *command] if shutil.which("taskset") else command


def run_grep(union: Path, log: Path, runs: int, locale: str | None) -> tuple[float, int]:
    env = dict(os.environ)
    if locale:
        env["LC_ALL"] = locale
    command = pinned(["grep", "-E", "-i", "-c", "-f", str(union), str(log)])

    def once() -> int:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        return int(done.stdout.strip() or 0)

    seconds, count = best_of(runs, once)
    return seconds, int(count)  # type: ignore[arg-type]


def healer_scan(log: Path, runs: int, *options: str) -> tuple[float, bytes]:
    """The best time of `healer scan --format jsonl [options] LOG` as a new process on one core, and its output."""
    healer = shutil.which("healer") or str(Path(sys.executable).with_name("healer"))
    command = pinned([healer, "scan", "--format", "jsonl", *options, str(log)])
    seconds, output = best_of(runs, lambda: subprocess.run(command, capture_output=True, check=True).stdout)
    return seconds, output  # type: ignore[return-value]


def run_healer_scan(log: Path, runs: int) -> tuple[float, int]:
    seconds, output = healer_scan(log, runs)
    return seconds, output.count(b"\n")


def row(label: str, megabytes: float, seconds: float, note: str = "") -> None:
    print(f"  {label:<52} {seconds:8.2f} s  {megabytes / seconds:9.1f} MB/s  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO / "bench" / "data" / "mixed.log")
    parser.add_argument("--no-grep-utf8", action="store_true", help="skip grep in a UTF-8 locale (slow)")
    args = parser.parse_args(argv)

    args.data.parent.mkdir(parents=True, exist_ok=True)
    log = generate(args.data, size_mb=args.size_mb)
    data = log.path.read_bytes()
    megabytes = len(data) / 1e6
    print(
        f"log: {log.path} — {megabytes:.1f} MB, {log.line_count:,} lines, {log.planted_findings:,} planted findings"
    )
    print(
        f"one core for external commands ({'taskset -c 0' if shutil.which('taskset') else 'taskset missing'})\n"
    )

    print("matcher backends alone (candidate lines, in-process):")
    candidates = {}
    for name in ("hyperscan", "re2", "re"):
        matcher = BACKENDS[name]()
        seconds, found = best_of(args.runs, lambda m=matcher: m.candidates(data))
        candidates[name] = len(found)  # type: ignore[arg-type]
        row(name, megabytes, seconds, f"{candidates[name]:,} candidate lines")
    sample = data[: data.index(b"\n", STRAWMAN_SAMPLE_BYTES) + 1]
    seconds, _ = best_of(1, lambda: BACKENDS["re-combined"]().candidates(sample))
    row("re-combined (one alternation, 2 MB sample)", len(sample) / 1e6, seconds)

    print("\nwhole engine (in-process, findings built):")
    for name in ("hyperscan", "re2", "re"):
        engine = TriageEngine(matcher=BACKENDS[name]())
        seconds, result = best_of(args.runs, lambda e=engine: e.scan_text(data))
        row(name, megabytes, seconds, f"{len(result.findings):,} findings")  # type: ignore[attr-defined]

    print("\nas a user runs it (new process, one core):")
    healer_seconds, healer_findings = run_healer_scan(log.path, args.runs)
    row("healer scan --format jsonl", megabytes, healer_seconds, f"{healer_findings:,} findings")
    compare_with_grep(log.path, megabytes, healer_seconds, args.runs, utf8=not args.no_grep_utf8)
    return 0


def compare_with_grep(
    path: Path, megabytes: float, healer_seconds: float, runs: int, *, utf8: bool, only: str | None = None
) -> None:
    """`grep -E -i -c` with the catalogue's patterns over `path`, in the C and the UTF-8 locale, beside
    Healer's time (`only`: one of the pattern sets, `codes` or `prefilter`)."""
    locale = os.environ.get("LC_ALL") or os.environ.get("LANG") or "C.UTF-8"
    locale = locale if "UTF" in locale.upper() else "C.UTF-8"
    ratios = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, union in grep_union_files(Path(scratch)).items():
            if only is not None and name != only:
                continue
            for grep_locale in ("C", locale):
                if grep_locale != "C" and not utf8:
                    continue
                times = runs if grep_locale == "C" else 1  # a UTF-8 run takes a minute or more
                seconds, count = run_grep(union, path, times, grep_locale)
                label = f"grep -E -i -c, {name} patterns, LC_ALL={grep_locale}"
                row(label, megabytes, seconds, f"{count:,} matching lines")
                ratios.append((label, seconds / healer_seconds))
    print()
    for label, ratio in ratios:
        print(f"healer scan vs {label}: {ratio:.2f}x as fast")


if __name__ == "__main__":
    sys.exit(main())
