"""Deterministic scoring (HolmesGPT's rule: a case passes when every expected statement is present).

Statements are looked for in what an operator reads as the diagnosis: the analysis' summary, root cause,
facts and suggested fix (hypotheses are not claims, evidence is quoted log). A forbidden conclusion found
there fails the case, and so does quoted evidence that is not a line of the case (evaluate drops such lines
itself; this checks it did). A healthy case passes when triage found nothing to file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evaluation.cases import Case
from evaluation.run import Outcome


@dataclass
class Score:
    name: str
    tags: list[str]
    passed: bool
    status: str  # passed, failed, filed (a healthy case with findings), missed, no analysis, not recorded
    triage: str
    expected_present: int = 0
    expected_total: int = 0
    missing: list[str] = field(default_factory=list)
    forbidden_hits: list[str] = field(default_factory=list)
    invented_evidence: int = 0
    tool_calls: int = 0
    tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    note: str | None = None


def diagnosis(analysis: dict) -> str:
    parts = [analysis.get("summary", ""), analysis.get("root_cause", ""), analysis.get("suggested_fix", "")]
    return "\n".join([*parts, *analysis.get("facts", [])])


def score(case: Case, outcome: Outcome, *, price_per_1k_tokens: float = 0.0) -> Score:
    base = Score(case.name, case.tags, False, "failed", outcome.triage, expected_total=len(case.expected))
    if case.healthy:
        filed = len(outcome.findings)
        base.passed, base.status = filed == 0, "passed" if filed == 0 else "filed"
        base.note = f"{filed} findings would be filed" if filed else None
        return base
    tokens = outcome.prompt_tokens + outcome.completion_tokens
    base.tool_calls, base.tokens, base.latency_s = outcome.tool_calls, tokens, outcome.latency_s
    base.cost = tokens / 1000 * price_per_1k_tokens
    if outcome.triage == "nothing":
        base.status, base.note = "missed", "triage found nothing and the case asks no question"
        base.missing = [s.statement for s in case.expected]
        return base
    if not outcome.analysis:
        base.status, base.note = "no analysis", outcome.note
        base.missing = [s.statement for s in case.expected]
        return base
    text = diagnosis(outcome.analysis)
    present = [s for s in case.expected if s.present_in(text)]
    base.expected_present = len(present)
    base.missing = [s.statement for s in case.expected if s not in present]
    base.forbidden_hits = [s.statement for s in case.forbidden if s.present_in(text)]
    shown = "\n".join(outcome.shown)
    base.invented_evidence = sum(
        1 for line in outcome.analysis.get("evidence", []) if not _exists(line, shown)
    )
    base.passed = not base.missing and not base.forbidden_hits and not base.invented_evidence
    base.status = "passed" if base.passed else "failed"
    return base


# how a prompt or a tool shows a line before its text: a time (ISO or HH:MM:SS.mmm) and the pod or agent
_SHOWN_AS = re.compile(r"^(?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\d(?:\.\d+)?Z? \[[^\]]+\] ")


def _exists(line: str, shown: str) -> bool:
    """A quoted line is the case's if it is, or its text after the way a tool showed it is, in what was
    shown (the window in the prompt's format, a tool answer in its own)."""
    text = _SHOWN_AS.sub("", line, count=1).strip()
    return line in shown or (len(text) >= 8 and text in shown)
