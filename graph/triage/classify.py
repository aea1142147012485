"""The decision for one line: which alert code it raises, if any. Pure, no I/O.

Order of the decision (DESIGN §4.2–4.5):
1. pre-flight codes (A10–A12) count at any level and are never noise;
2. a line logged at info/debug/trace/warn is chatter;
3. a known benign phrase (`noise.py`) is chatter at any level;
4. the most specific named code (lifecycle, then runtime) whose phrasing the line contains;
5. otherwise `ERR` if the line is at error level or has the shape of an error (compiler error, traceback,
   exception header).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from graph.triage.catalogue import CATALOGUE, ERR, AlertCode
from graph.triage.levels import Level, level_of, message_of
from graph.triage.noise import is_noise

_FLAGS = re.IGNORECASE | re.ASCII


@dataclass(frozen=True, slots=True)
class _CompiledCode:
    alert: AlertCode
    pattern: re.Pattern[str]


def _compile(alert: AlertCode) -> _CompiledCode:
    return _CompiledCode(alert, re.compile("|".join(f"(?:{p})" for p in alert.patterns), _FLAGS))


_PREFLIGHT = tuple(_compile(a) for a in CATALOGUE if a.counts_at_any_level)
_NAMED = tuple(_compile(a) for a in CATALOGUE if not a.counts_at_any_level and a is not ERR)
_ERR_SHAPES = _compile(ERR)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a line is a finding: its code, the level it was logged at, and the text that matched."""

    alert: AlertCode
    level: Level | None
    matched: str


def classify(line: str, candidates: Collection[str] | None = None) -> Verdict | None:
    """The verdict for `line`, or None when it is not a failure.

    `candidates` narrows the named codes to check, when a matcher backend already knows which codes'
    patterns occur in the line; None checks them all. The answer is the same either way.
    """
    message = message_of(line)
    for compiled in _PREFLIGHT:
        if _may_match(compiled, candidates) and (hit := compiled.pattern.search(message)):
            return Verdict(compiled.alert, level_of(message), hit.group(0))
    level = level_of(message)
    if (level is not None and level.is_quiet) or is_noise(message):
        return None
    for compiled in _NAMED:
        if _may_match(compiled, candidates) and (hit := compiled.pattern.search(message)):
            return Verdict(compiled.alert, level, hit.group(0))
    if hit := _ERR_SHAPES.pattern.search(message):
        return Verdict(ERR, level, hit.group(0))
    if level is not None:  # error or fatal, since quiet levels returned above
        return Verdict(ERR, level, message.strip())
    return None


def _may_match(compiled: _CompiledCode, candidates: Collection[str] | None) -> bool:
    return candidates is None or compiled.alert.code in candidates
