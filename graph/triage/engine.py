"""The triage engine: log lines in, findings out (DESIGN §4–§5). Pure, no I/O.

A scan runs the matcher over a whole buffer once to find candidate lines, then `classify` decides each
candidate. Only candidates are decoded, parsed for their prefixes and turned into `Finding`s, so the cost of
a scan is the matcher's speed plus a small constant per suspicious line.

Two entry points share that path:
- `scan_text(data)`: raw bytes as a file or `kubectl logs` gives them (optionally with `--prefix` and
  `--timestamps`); the fast path for large inputs.
- `scan_lines(lines)`: `LogLine`s with timestamps and labels, as Loki delivers them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate

from graph.triage.catalogue import (
    ERR,
    ERR_REPEAT_THRESHOLD,
    INVENTORY_TRIGGERS,
    PRIORITY_OF_SEVERITY,
    Severity,
)
from graph.triage.classify import Verdict, classify
from graph.triage.fingerprint import fingerprint, normalise, workload_family
from graph.triage.levels import message_of
from graph.triage.matcher import INVENTORY_TAG, Matcher, best_matcher
from graph.triage.models import Finding, LogLine, timestamp_of
from tools.redact import redact
from tools.timestamps import parse_rfc3339_ns

MAX_TEXT_CHARS = 2000
_TRACEBACK_MAX_LINES = 200  # frames between a traceback's header and its exception line
_KUBECTL_PREFIX = re.compile(r"\[pod/([^/\]\s]+)/([^\]\s]+)\] ")
_INVENTORY = re.compile("|".join(INVENTORY_TRIGGERS), re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """A line in which an agent reports its tools; the pre-flight check reads these."""

    line_no: int
    timestamp_ns: int | None
    agent: str | None
    text: str


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    inventory: list[InventoryLine] = field(default_factory=list)
    lines_scanned: int = 0

    def extend(self, other: ScanResult) -> None:
        self.findings.extend(other.findings)
        self.inventory.extend(other.inventory)
        self.lines_scanned += other.lines_scanned


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a candidate line came from: its number, time and source labels."""

    line_no: int
    timestamp_ns: int | None
    agent: str | None
    pod: str | None
    container: str | None


class AgentNames:
    """Maps what log sources call an agent (label `agent`, CodeRun `github-app`, pod name) to its name."""

    def __init__(self, known: Iterable[str] = (), aliases: Mapping[str, str] | None = None) -> None:
        self._known = {name.lower() for name in known}
        self._aliases = {alias.lower(): name.lower() for alias, name in (aliases or {}).items()}
        for name in self._known:
            self._aliases.setdefault(name, name)

    def from_labels(self, labels: Mapping[str, str]) -> str | None:
        for key in ("agent", "github-app", "github_app", "githubApp"):
            if value := labels.get(key):
                return self.canonical(value)
        if pod := labels.get("pod"):
            return self.from_pod(pod)
        return None

    def canonical(self, name: str) -> str:
        lowered = name.lower()
        if lowered in self._aliases:
            return self._aliases[lowered]
        return lowered.removeprefix("5dlabs-")

    def from_pod(self, pod: str) -> str:
        """A known agent named by a whole dash-separated token of the pod name, else the workload."""
        for token in pod.lower().split("-"):
            if token in self._aliases:
                return self._aliases[token]
        return workload_family(pod)


class TriageEngine:
    def __init__(
        self,
        play_id: str = "",
        *,
        matcher: Matcher | None = None,
        agents: AgentNames | None = None,
        default_agent: str | None = None,
    ) -> None:
        self.play_id = play_id
        self.matcher = matcher or best_matcher()
        self.agents = agents or AgentNames()
        self.default_agent = self.agents.canonical(default_agent) if default_agent else None

    def scan_text(self, data: bytes, *, first_line_no: int = 1) -> ScanResult:
        """Scan newline-separated raw lines; line numbers count from `first_line_no`."""
        result = ScanResult(lines_scanned=data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0))
        line_no, counted_to = first_line_no, 0
        for candidate in self.matcher.candidates(data):
            line_no += data.count(b"\n", counted_to, candidate.start)
            counted_to = candidate.start
            raw = data[candidate.start : candidate.end].rstrip(b"\r").decode("utf-8", "replace")
            self._decide(raw, candidate.tags, partial(self._origin_of_text, raw, line_no), result)
        result.findings = fold_traceback_headers(result.findings)
        return result

    def scan_lines(self, lines: Sequence[LogLine], *, first_line_no: int = 1) -> ScanResult:
        """Scan lines that carry their own timestamps and labels (e.g. from Loki)."""
        result = ScanResult(lines_scanned=len(lines))
        if not lines:
            return result
        encoded = [line.text.encode("utf-8", "replace") for line in lines]
        starts = list(accumulate((len(text) + 1 for text in encoded[:-1]), initial=0))
        decided: set[int] = set()
        for candidate in self.matcher.candidates(b"\n".join(encoded)):
            index = bisect_right(starts, candidate.start) - 1
            if index in decided:  # a line with an embedded newline yields several candidates
                continue
            decided.add(index)
            self._decide(
                lines[index].text,
                candidate.tags,
                partial(self._origin_of_line, lines[index], first_line_no + index),
                result,
            )
        result.findings = fold_traceback_headers(result.findings)
        return result

    def _origin_of_line(self, line: LogLine, line_no: int) -> _Origin:
        agent = self.agents.from_labels(line.labels) or self.default_agent
        return _Origin(
            line_no, line.timestamp_ns, agent, line.labels.get("pod"), line.labels.get("container")
        )

    def _origin_of_text(self, raw: str, line_no: int) -> _Origin:
        pod = container = None
        rest = raw
        if prefix := _KUBECTL_PREFIX.match(raw):
            pod, container = prefix.groups()
            rest = raw[prefix.end() :]
        agent = self.agents.from_pod(pod) if pod else self.default_agent
        return _Origin(line_no, parse_rfc3339_ns(rest), agent, pod, container)

    def _decide(
        self, raw: str, tags: frozenset[str] | None, origin_of: Callable[[], _Origin], result: ScanResult
    ) -> None:
        """Classify one candidate; where it came from is worked out only for the few that matter."""
        verdict = classify(raw, tags)
        reports_tools = INVENTORY_TAG in tags if tags is not None else _INVENTORY.search(raw)
        if not reports_tools and verdict is None:
            return
        origin = origin_of()
        if reports_tools or verdict.alert.code == "A10":
            result.inventory.append(InventoryLine(origin.line_no, origin.timestamp_ns, origin.agent, raw))
        if verdict is not None:
            result.findings.append(self._finding(raw, verdict, origin))

    def _finding(self, raw: str, verdict: Verdict, origin: _Origin) -> Finding:
        alert = verdict.alert
        text = redact(raw)
        key = "tool-inventory" if alert.code == "A10" else normalise(message_of(text))
        return Finding(
            code=alert.code,
            name=alert.name,
            phase=alert.phase,
            severity=alert.severity,
            priority=alert.priority,
            action=alert.action,
            line_no=origin.line_no,
            timestamp=timestamp_of(origin.timestamp_ns),
            agent=origin.agent,
            pod=origin.pod,
            container=origin.container,
            level=verdict.level.name.lower() if verdict.level is not None else None,
            text=text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "\u2026",
            matched=redact(verdict.matched)[:MAX_TEXT_CHARS],
            fingerprint=fingerprint(self.play_id, origin.agent or "", alert.code, key),
        )


def fold_traceback_headers(findings: list[Finding]) -> list[Finding]:
    """Drop a Python `Traceback (most recent call last):` finding when its exception line follows it.

    The exception line (`KeyError: 'model'`) says what failed; the header is the same for every
    traceback, so alone it would give every traceback of an agent one fingerprint.
    """
    kept: list[Finding] = []
    for finding in findings:
        if kept and _closes_traceback(kept[-1], finding):
            kept.pop()
        kept.append(finding)
    return kept


def _closes_traceback(header: Finding, finding: Finding) -> bool:
    return (
        header.matched.lstrip().lower().startswith("traceback")
        and header.agent == finding.agent
        and header.line_no is not None
        and finding.line_no is not None
        and 0 < finding.line_no - header.line_no <= _TRACEBACK_MAX_LINES
    )


def mark_repeated_errors(findings: list[Finding]) -> list[Finding]:
    """`ERR` is high when its fingerprint repeats within the findings, medium otherwise (DESIGN §4.2)."""
    counts = Counter(f.fingerprint for f in findings if f.code == ERR.code)
    repeated = {fp for fp, n in counts.items() if n >= ERR_REPEAT_THRESHOLD}
    high = {"severity": Severity.HIGH, "priority": PRIORITY_OF_SEVERITY[Severity.HIGH]}
    return [f.model_copy(update=high) if f.fingerprint in repeated else f for f in findings]
