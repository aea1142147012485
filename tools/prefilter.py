"""Which of many patterns can occur in a text, in one pass: the gate in front of redaction's rules.

Python's `re` tries an alternation branch by branch at every position, so running ninety token shapes
over every evidence line costs more than the rest of redaction together. A hyperscan database of the same
patterns, loosened (look-arounds dropped, a look-behind prefix kept as plain text), answers in one scan
which of them may match; only those run in `re`, which decides. A loosened pattern matches wherever the
exact one does, so the gate never hides a secret. Without hyperscan (or for a pattern it refuses) every
pattern counts as present: slower, same result.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["Prefilter", "loosen"]

_LOOKAROUND = re.compile(r"\(\?<?[=!](?:[^()\\\[]|\\.|\[(?:[^\]\\]|\\.)*\])*\)")


def loosen(pattern: str) -> str:
    """`pattern` without its look-arounds: a superset of what it matches, in a syntax hyperscan takes.
    A positive look-behind that opens the pattern (after any negative one) is what must precede the
    match, so it stays as plain text; every other look-around is dropped."""
    out, position = "", 0
    while (lead := _LOOKAROUND.match(pattern, position)) is not None:
        if lead.group().startswith("(?<="):
            out += "(?:" + lead.group()[4:]
        position = lead.end()
    return out + _LOOKAROUND.sub("", pattern[position:])


class Prefilter:
    def __init__(self, patterns: Sequence[str]) -> None:
        self._count = len(patterns)
        self._always = set(range(self._count))
        self._database: Any = None
        # hyperscan's scratch space is one scan's at a time: each thread that scans (the event loop, the
        # Kubernetes watch threads, `to_thread` reads) has its own, or a scan beside another fails
        self._scratch = threading.local()
        try:
            import hyperscan
        except ImportError:
            return
        self._hyperscan = hyperscan
        accepted: list[tuple[int, bytes]] = []
        for index, pattern in enumerate(patterns):
            try:
                hyperscan.Database().compile(expressions=[loosen(pattern).encode()], flags=[0])
            except hyperscan.HyperscanError:
                continue
            accepted.append((index, loosen(pattern).encode()))
        if not accepted:
            return
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=[expression for _, expression in accepted],
            ids=[index for index, _ in accepted],
            elements=len(accepted),
            flags=[hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY] * len(accepted),
        )
        self._database = database
        self._always -= {index for index, _ in accepted}

    @property
    def gated(self) -> int:
        """How many patterns the database answers for (the others always run)."""
        return self._count - len(self._always)

    def present(self, text: str) -> set[int]:
        if self._database is None:
            return set(self._always)
        found = set(self._always)

        def on_match(pattern_id: int, _from: int, _to: int, _flags: int, _context: object) -> None:
            found.add(pattern_id)

        scratch = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = self._hyperscan.Scratch(self._database)
        self._database.scan(
            text.encode("utf-8", "surrogatepass"), match_event_handler=on_match, scratch=scratch
        )
        return found
