"""The decision for one line: which alert code it raises, if any. Pure, no I/O.

Order of the decision (DESIGN §4.2–4.5):
1. pre-flight codes (A10–A12), and the platform's own verdicts (a code's `decisive` phrasings), count at any
   level and are never noise;
2. a line logged at info/debug/trace/warn is chatter;
3. a known benign phrase (`noise.py`) is chatter at any level;
4. the most specific named code (lifecycle, then runtime) whose phrasing the line contains;
5. a line at error level or with the shape of an error (compiler error, traceback, exception header) is
   `ERR`, or the code whose keyword it contains (`level=error msg="timeout"` is R2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from graph.triage.catalogue import CATALOGUE, ERR, AlertCode
from graph.triage.guarded import GuardedPatterns
from graph.triage.levels import Level, level_of, message_of
from graph.triage.noise import is_noise

_FLAGS = re.IGNORECASE | re.ASCII
_LEVEL_MATCH_CHARS = 200  # what a level-only ERR quotes as its match: the marker and the start of the message


@dataclass(frozen=True, slots=True)
class _CompiledCode:
    alert: AlertCode
    patterns: GuardedPatterns


def _compile(alert: AlertCode) -> _CompiledCode:
    return _CompiledCode(alert, GuardedPatterns(alert.patterns, _FLAGS))


_PREFLIGHT = tuple(_compile(a) for a in CATALOGUE if a.counts_at_any_level)
_DECISIVE = tuple(_CompiledCode(a, GuardedPatterns(a.decisive, _FLAGS)) for a in CATALOGUE if a.decisive)
_NAMED = tuple(_compile(a) for a in CATALOGUE if not a.counts_at_any_level and a is not ERR)
_ERR_SHAPES = _compile(ERR)
_KEYWORDS = tuple(
    _CompiledCode(a, GuardedPatterns(a.keywords, _FLAGS)) for a in CATALOGUE if a.keywords and a is not ERR
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a line is a finding: its code, the level it was logged at, and the text that matched."""

    alert: AlertCode
    level: Level | None
    matched: str


@dataclass(frozen=True, slots=True)
class _Plan:
    """The checks worth running on a line, given which codes' patterns the matcher saw in it."""

    preflight: tuple[_CompiledCode, ...]
    decisive: tuple[_CompiledCode, ...]
    named: tuple[_CompiledCode, ...]
    error_shapes: bool
    keywords: tuple[_CompiledCode, ...]


@cache
def _plan(candidates: frozenset[str] | None) -> _Plan:
    def wanted(codes: tuple[_CompiledCode, ...]) -> tuple[_CompiledCode, ...]:
        return codes if candidates is None else tuple(c for c in codes if c.alert.code in candidates)

    return _Plan(
        wanted(_PREFLIGHT),
        wanted(_DECISIVE),
        wanted(_NAMED),
        candidates is None or ERR.code in candidates,
        wanted(_KEYWORDS),
    )


def classify(line: str, candidates: frozenset[str] | None = None) -> Verdict | None:
    """The verdict for `line`, or None when it is not a failure.

    `candidates` narrows the codes to check, when a matcher backend already knows which codes'
    patterns occur in the line; None checks them all. The answer is the same either way.
    """
    plan = _plan(candidates)
    message = message_of(line)
    lowered = message.lower()
    for compiled in (*plan.preflight, *plan.decisive):
        if hit := compiled.patterns.search(message, lowered):
            return Verdict(compiled.alert, level_of(message, lowered), hit.group(0))
    level = level_of(message, lowered)
    if level is not None and level.is_quiet:
        return None
    verdict = _named_or_error(plan, message, lowered, level)
    if verdict is None or is_noise(message, lowered):  # noise is checked last: it is the costlier test
        return None
    return verdict


def _named_or_error(plan: _Plan, message: str, lowered: str, level: Level | None) -> Verdict | None:
    for compiled in plan.named:
        if hit := compiled.patterns.search(message, lowered):
            return Verdict(compiled.alert, level, hit.group(0))
    if plan.error_shapes and (hit := _ERR_SHAPES.patterns.search(message, lowered)):
        error = Verdict(ERR, level, hit.group(0))
    elif level is not None:  # error or fatal: quiet levels never get here
        error = Verdict(ERR, level, message[:_LEVEL_MATCH_CHARS].strip())
    else:
        return None
    for compiled in plan.keywords:  # an error line that names a known failure gets that failure's code
        if hit := compiled.patterns.search(message, lowered):
            return Verdict(compiled.alert, level, hit.group(0))
    return error
