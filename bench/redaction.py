"""Redaction over `../shared/corpus/secrets/`: recall per placement, what it changes that it should not,
and its cost per line, for this version and a previous one side by side, in one run.

    python bench/redaction.py [--against REV] [--format table|markdown]

The previous version is `tools/redact.py` (with the modules it imports) as committed at REV (default: the
commit before redaction learned shapes, 80de944), loaded from git into a scratch package. Recall counts a
secret as removed only when no 8-character piece of it survives (`tests/secrets_corpus.py`). Timings are
the best of five passes, over the ordinary lines and over the lines holding a secret; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.secrets_corpus import (  # noqa: E402
    PLACEMENTS,
    UNMARKED_BARE,
    Figures,
    examples,
    measure,
    ordinary_lines,
)
from tools.redact import redact  # noqa: E402

PREVIOUS = "80de944"


def previous_redact(rev: str) -> Callable[[str], str]:
    """`redact` as it was at `rev`, imported from a scratch copy of its `tools/` modules."""
    scratch = Path(tempfile.mkdtemp(prefix="redact-")) / "old_tools"
    scratch.mkdir()
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "tools/"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for path in listing:
        if path.endswith(".py"):
            source = subprocess.run(
                ["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True
            )
            text = source.stdout.decode().replace("from tools.", "from old_tools.")
            (scratch / Path(path).name).write_text(text)
    sys.path.insert(0, str(scratch.parent))
    spec = importlib.util.spec_from_file_location("old_tools.redact", scratch / "redact.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.redact


def microseconds_per_line(redactor: Callable[[str], str]) -> tuple[float, float]:
    """Cost on an ordinary line (most evidence lines) and on a line holding a secret."""
    with_secret = [
        build(example) for example in examples() for builders in PLACEMENTS.values() for build in builders
    ]
    return _best(redactor, list(ordinary_lines())), _best(redactor, with_secret)


def _best(redactor: Callable[[str], str], lines: list[str]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for line in lines:
            redactor(line)
        best = min(best, time.perf_counter() - start)
    return best / len(lines) * 1e6


def rows(figures: Figures, cost: tuple[float, float]) -> list[str]:
    cells = [f"{slot.removed}/{slot.total} ({slot.recall:.1%})" for slot in figures.placements.values()]
    cells.append(f"{len(figures.ordinary_changed)}/{figures.ordinary_total}")
    cells.append(f"{len(figures.fp_changed)}/{figures.fp_total}")
    cells.append(f"{figures.ds_flagged_caught}/{figures.ds_flagged_total}")
    cells.append(f"{figures.ds_unflagged_changed}/{figures.ds_unflagged_total}")
    cells += [f"{cost[0]:.1f} µs", f"{cost[1]:.1f} µs"]
    return cells


def figures_placements() -> list[str]:
    return [*PLACEMENTS, UNMARKED_BARE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=PREVIOUS, help="git revision of the previous version")
    parser.add_argument("--format", choices=("table", "markdown"), default="table")
    args = parser.parse_args()
    versions = {"this version": redact, f"at {args.against}": previous_redact(args.against)}
    header = [
        "version",
        *figures_placements(),
        "ordinary changed",
        "gitleaks fp changed",
        "detect-secrets flagged caught",
        "detect-secrets unflagged changed",
        "per ordinary line",
        "per line with a secret",
    ]
    table = [
        [name, *rows(measure(redactor), microseconds_per_line(redactor))]
        for name, redactor in versions.items()
    ]
    figures = measure()
    print(f"{figures.formats_total} gitleaks formats, {figures.formats_bare} of them marked (counted bare)")
    if args.format == "markdown":
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in table:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *table, strict=True)]
    for line in [header, *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
