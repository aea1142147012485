"""Finding candidate lines in a large buffer, fast. Pure, no I/O.

A matcher scans a whole buffer of newline-separated lines once, with every catalogue pattern at the same
time, and returns the lines in which any of them occurs (with the tags of the patterns that occurred, when
the backend can tell). It is a prefilter: `classify.py` makes the decision for each candidate line, so every
backend gives the same findings and only the speed differs. Patterns are the catalogue's own strings with a
leading `^` relaxed (a line's message may sit behind a shipper's prefix), so a candidate set is always a
superset of the lines `classify` would flag.

Backends, chosen with figures from `bench/matchers.py` (see the README):
- `hyperscan`: Intel's multi-pattern automaton over the whole buffer; reports which patterns occurred.
- `re2`: Google RE2 with one combined pattern; linear time, no per-pattern tags (dev dependency only).
- `re`: the standard library; literal needles found with `bytes.find`, then regexes only where a pattern
  has no literal. The always-available fallback.
- `re-combined`: one `re` alternation of named groups; measured only, it cannot skip ahead and is very slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from graph.triage.catalogue import CATALOGUE, ERROR_LEVEL_TRIGGERS, INVENTORY_TRIGGERS
from graph.triage.guarded import useful_needles

LEVEL_TAG = "level"
INVENTORY_TAG = "inventory"


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int  # offset of the line's first byte in the buffer
    end: int  # offset of its newline (or of the buffer's end)
    tags: frozenset[str] | None  # codes/tags whose patterns occur in the line; None when unknown


class Matcher(Protocol):
    name: str

    def candidates(self, buffer: bytes) -> list[Candidate]: ...


def tagged_patterns() -> list[tuple[str, str]]:
    """Every (tag, pattern) the prefilter looks for, anchors relaxed."""
    pairs = [
        (alert.code, pattern)
        for alert in CATALOGUE
        for pattern in alert.patterns + alert.decisive + alert.keywords
    ]
    pairs += [(LEVEL_TAG, pattern) for pattern in ERROR_LEVEL_TRIGGERS]
    pairs += [(INVENTORY_TAG, pattern) for pattern in INVENTORY_TRIGGERS]
    return [(tag, _relax(pattern)) for tag, pattern in pairs]


def _relax(pattern: str) -> str:
    return pattern[1:] if pattern.startswith("^") else pattern


def _line_bounds(buffer: bytes, offset: int) -> tuple[int, int]:
    """Start and end of the line holding byte `offset` (a newline belongs to the line it ends)."""
    start = buffer.rfind(b"\n", 0, offset) + 1
    end = buffer.find(b"\n", offset)
    return start, len(buffer) if end < 0 else end


class HyperscanMatcher:
    name = "hyperscan"

    def __init__(self) -> None:

        pairs = tagged_patterns()
        self._tags = [tag for tag, _ in pairs]
        self._db = _load_compiled(pairs) or _compile_database(pairs)

    def candidates(self, buffer: bytes) -> list[Candidate]:
        lines: dict[int, tuple[int, set[str]]] = {}
        tags = self._tags
        current_end = -1  # end of the line the last match fell in
        current_tags: set[str] = set()

        def on_match(pattern_id: int, _from: int, to: int, _flags: int, _context: object) -> None:
            nonlocal current_end, current_tags
            if to <= current_end:
                current_tags.add(tags[pattern_id])
                return
            # the line holding the match's last byte (which may be that line's own newline, via `\s`)
            start, current_end = _line_bounds(buffer, to - 1)
            seen = lines.get(start)
            current_tags = seen[1] if seen else set()
            if not seen:
                lines[start] = (current_end, current_tags)
            current_tags.add(tags[pattern_id])

        if buffer:
            self._db.scan(buffer, match_event_handler=on_match)
        return [Candidate(start, end, frozenset(found)) for start, (end, found) in sorted(lines.items())]


_HS_FLAGS_NAME = "caseless|multiline"


def _compile_database(pairs: list[tuple[str, str]]) -> object:
    import hyperscan

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[pattern.encode() for _, pattern in pairs],
        ids=list(range(len(pairs))),
        elements=len(pairs),
        flags=[hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE] * len(pairs),
    )
    _store_compiled(pairs, database)
    return database


def _cache_file(pairs: list[tuple[str, str]]) -> Path:
    """Compiling takes ~0.1 s, loading ~0.1 ms: `healer scan` keeps the compiled database between runs."""
    import hyperscan

    key = json.dumps([pairs, _HS_FLAGS_NAME, hyperscan.__version__, platform.machine()]).encode()
    base = os.environ.get("HEALER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "healer"
    )
    return Path(base) / f"triage-{hashlib.sha256(key).hexdigest()[:24]}.hsdb"


def _load_compiled(pairs: list[tuple[str, str]]) -> object | None:
    import hyperscan

    try:
        database = hyperscan.loadb(_cache_file(pairs).read_bytes(), hyperscan.HS_MODE_BLOCK)
        database.scratch = hyperscan.Scratch(database)
        return database
    except (OSError, hyperscan.HyperscanError):
        return None  # absent or unusable: compile instead


def _store_compiled(pairs: list[tuple[str, str]], database: object) -> None:
    import hyperscan

    path = _cache_file(pairs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(hyperscan.dumpb(database))
        temporary.replace(path)
    except OSError:
        pass  # a read-only home only costs the next run a compile


class _CombinedPatternMatcher:
    """Searches one combined pattern from line to line: after a hit, the rest of that line is skipped."""

    name = "combined"

    def __init__(self, search: Callable[[bytes, int], object | None]) -> None:
        self._search = search

    def candidates(self, buffer: bytes) -> list[Candidate]:
        found: list[Candidate] = []
        pos = 0
        while (hit := self._search(buffer, pos)) is not None:
            start, end = _line_bounds(buffer, hit.end() - 1)  # type: ignore[attr-defined]
            found.append(Candidate(start, end, None))
            pos = end + 1
        return found


def combined_pattern() -> str:
    """All catalogue patterns as one alternation with a named group per pattern."""
    return "|".join(f"(?P<{tag.lower()}_{i}>{pattern})" for i, (tag, pattern) in enumerate(tagged_patterns()))


class CombinedReMatcher(_CombinedPatternMatcher):
    """The textbook approach, kept for the benchmark: `re` cannot skip ahead in a large alternation."""

    name = "re-combined"

    def __init__(self) -> None:
        compiled = re.compile(combined_pattern().encode(), re.IGNORECASE | re.MULTILINE)
        super().__init__(compiled.search)


class Re2Matcher(_CombinedPatternMatcher):
    name = "re2"

    def __init__(self) -> None:
        import re2

        options = re2.Options()
        options.case_sensitive = False
        options.max_mem = 256 << 20
        compiled = re2.compile(combined_pattern().encode(), options)
        super().__init__(compiled.search)


class ReMatcher:
    """Standard-library fallback: literal needles located with `bytes.find` on the lowered buffer.

    Every pattern contains at least one of its needles in any match (`required_literals`), so a line
    without any needle cannot match. The few patterns with no useful literal run as regexes.
    """

    name = "re"

    def __init__(self) -> None:
        needles: set[bytes] = set()
        weak: list[str] = []
        for _tag, pattern in tagged_patterns():
            if literals := useful_needles(pattern, min_length=3):  # a shorter one is on every line
                needles |= {literal.encode() for literal in literals}
            else:
                weak.append(pattern)
        # a needle that contains another needle finds nothing the shorter one does not
        self._needles = sorted(n for n in needles if not any(o != n and o in n for o in needles))
        self._weak = re.compile("|".join(weak).encode(), re.IGNORECASE | re.MULTILINE) if weak else None

    def candidates(self, buffer: bytes) -> list[Candidate]:
        lowered = buffer.lower()
        hits: set[int] = set()
        for needle in self._needles:
            pos = lowered.find(needle)
            while pos >= 0:
                hits.add(pos)
                pos = lowered.find(needle, pos + len(needle))
        if self._weak is not None:
            hits.update(hit.end() - 1 for hit in self._weak.finditer(buffer))
        lines: dict[int, int] = {}
        for offset in hits:
            start, end = _line_bounds(buffer, offset)
            lines[start] = end
        return [Candidate(start, end, None) for start, end in sorted(lines.items())]


BACKENDS: dict[str, type[Matcher]] = {
    "hyperscan": HyperscanMatcher,
    "re2": Re2Matcher,
    "re": ReMatcher,
    "re-combined": CombinedReMatcher,
}
PREFERENCE = ("hyperscan", "re")  # re2 measures slower than hyperscan and is not a runtime dependency


def best_matcher(preferred: str | None = None) -> Matcher:
    """The fastest backend that imports here (or `preferred`, which must then import)."""
    if preferred:
        return BACKENDS[preferred]()
    for name in PREFERENCE:
        try:
            return BACKENDS[name]()
        except ImportError:
            continue
    return ReMatcher()
