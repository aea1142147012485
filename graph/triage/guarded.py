"""Regexes guarded by the literals they need, so most lines are turned away by a substring test.

`re` has no multi-pattern search and tries every alternative at every position; a long line with a dozen
alternatives costs tens of microseconds. But nearly every pattern needs some literal text (`timed out`
needs "timed out"), and `str.__contains__` finds that in nanoseconds. So each pattern runs only on lines
that hold one of its required literals, worked out from the pattern by the standard library's own parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _constants, _parser  # the stdlib's regex parser: the source of truth for what a pattern needs


def required_literals(pattern: str) -> set[str] | None:
    """Lower-case literal strings one of which every match of `pattern` contains (None if none is known)."""
    return _required_in(_parser.parse(pattern))


def _required_in(sequence: _parser.SubPattern | list) -> set[str] | None:
    best: set[str] | None = None
    run: list[str] = []

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    for op, argument in sequence:
        if op is _constants.LITERAL:
            run.append(chr(argument).lower())
            continue
        consider({"".join(run)} if run else None)
        run = []
        if op is _constants.SUBPATTERN:
            consider(_required_in(argument[-1]))
        elif op is _constants.BRANCH:
            branches = [_required_in(branch) for branch in argument[1]]
            if all(branches):
                consider(set().union(*branches))  # type: ignore[arg-type]
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT) and argument[0] >= 1:
            consider(_required_in(argument[2]))
    consider({"".join(run)} if run else None)
    return best


def useful_needles(pattern: str, min_length: int = 1) -> frozenset[str] | None:
    """The pattern's required literals if they are long enough to turn lines away, else None."""
    literals = required_literals(pattern)
    if literals and min(map(len, literals)) >= min_length:
        return frozenset(literals)
    return None


class GuardedPatterns:
    """Alternative patterns searched in order; each runs only when one of its needles is in the line."""

    def __init__(self, patterns: Iterable[str], flags: int) -> None:
        self._parts = tuple((useful_needles(p), re.compile(p, flags)) for p in patterns)

    def search(self, text: str, lowered: str) -> re.Match[str] | None:
        """The first pattern's match in `text`; `lowered` is `text.lower()`, computed once by the caller."""
        for needles, compiled in self._parts:
            if needles is not None:
                for needle in needles:
                    if needle in lowered:
                        break
                else:
                    continue
            if hit := compiled.search(text):
                return hit
        return None
