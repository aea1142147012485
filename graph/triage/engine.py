"""The triage engine: log lines in, findings out (DESIGN §4–§5). Pure, no I/O.

A scan runs the matcher over a whole buffer once to find candidate lines, then `classify` decides each
candidate. Only candidates are decoded, parsed for their prefixes and turned into `Finding`s, so the cost of
a scan is the matcher's speed plus a small constant per suspicious line.

Two entry points share that path:
- `scan_text(data)`: raw bytes as a file or `kubectl logs` gives them (optionally with `--prefix` and
  `--timestamps`); the fast path for large inputs. A line's pod comes from its `--prefix` only when the
  caller says the text is kubectl's (`kubectl_prefix`); otherwise from the caller (`default_pod`).
- `scan_lines(lines)`: `LogLine`s with timestamps and labels, as Loki delivers them.

Before the matcher runs, each stream's lines go through its `EventFramer`: an agent CLI's JSON events are
read by `agent_events.read_event` (lifecycle facts become findings, transcript content is set aside), and
only the other lines — the scripts', the controller's, a process's own stderr — reach the phrase catalogue.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import accumulate
from typing import Any

from graph.triage.agent_events import AgentFailure, EventReading, RecordKind, read_event
from graph.triage.catalogue import (
    CODES,
    ERR,
    ERR_REPEAT_THRESHOLD,
    INVENTORY_TRIGGERS,
    PRIORITY_OF_SEVERITY,
    AlertCode,
    Severity,
)
from graph.triage.classify import Verdict, classify
from graph.triage.event_lines import EventFramer, Framed, Framing, is_transcript_line, is_transcript_text
from graph.triage.fingerprint import fingerprint, normalise, workload_family
from graph.triage.levels import Level, message_of
from graph.triage.matcher import INVENTORY_TAG, Matcher, best_matcher
from graph.triage.models import Finding, LogLine, timestamp_of
from tools.redact import redact
from tools.timestamps import parse_rfc3339_ns

MAX_TEXT_CHARS = 2000
_TRACEBACK_MAX_LINES = 200  # frames between a traceback's header and its exception line
_AGENT_FIELD = re.compile(r"\bagent=[\"']?([\w-]+)")
_EVENT_HEAD = 256  # an agent event's `{` sits within the first bytes of its line, after the prefixes
_KUBECTL_PREFIX = re.compile(r"\[pod/([^/\]\s]+)/([^\]\s]+)\] ")
_INVENTORY = re.compile("|".join(INVENTORY_TRIGGERS), re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """A line in which an agent reports its tools; the pre-flight check reads these. An agent CLI's init
    event carries its inventory as data: `tools` (names as the agent has them) and `mcp_servers`."""

    line_no: int
    timestamp_ns: int | None
    agent: str | None
    text: str
    tools: tuple[str, ...] | None = None
    mcp_servers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> InventoryLine:
        tools = data.get("tools")
        return cls(
            int(data["line_no"]),  # type: ignore[call-overload]
            data.get("timestamp_ns"),  # type: ignore[arg-type]
            data.get("agent"),  # type: ignore[arg-type]
            str(data["text"]),
            tuple(tools) if isinstance(tools, list | tuple) else None,
            tuple((str(n), str(s)) for n, s in data.get("mcp_servers") or ()),  # type: ignore[union-attr]
        )


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    inventory: list[InventoryLine] = field(default_factory=list)
    lines_scanned: int = 0
    events: Counter[str] = field(default_factory=Counter)  # agent records read, by RecordKind
    unreadable_lines: int = 0  # lines of agent events that never completed (truncated, cut short)

    def extend(self, other: ScanResult) -> None:
        self.findings.extend(other.findings)
        self.inventory.extend(other.inventory)
        self.lines_scanned += other.lines_scanned
        self.events.update(other.events)
        self.unreadable_lines += other.unreadable_lines


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

    def known(self, name: str) -> str | None:
        """The agent `name` stands for, if it is one of the session's agents (or their GitHub Apps)."""
        return self._aliases.get(name.lower())

    def from_pod(self, pod: str) -> str:
        """A known agent named by a whole dash-separated token of the pod name, else the workload."""
        for token in pod.lower().split("-"):
            if token in self._aliases:
                return self._aliases[token]
        return workload_family(pod)


class TriageEngine:
    """Scans a play's lines. An engine keeps each stream's event framing between calls, so a file read in
    chunks (or a session read pass by pass, through `pending_events`) frames events that straddle a cut."""

    def __init__(
        self,
        play_id: str = "",
        *,
        matcher: Matcher | None = None,
        agents: AgentNames | None = None,
        default_agent: str | None = None,
        default_pod: str | None = None,
        kubectl_prefix: bool = False,
        pending_events: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.play_id = play_id
        self.matcher = matcher or best_matcher()
        self.agents = agents or AgentNames()
        self.default_agent = self.agents.canonical(default_agent) if default_agent else None
        self.default_pod = default_pod
        # Whether a text line's leading `[pod/NAME/container] ` names its pod and agent. Only kubectl can
        # vouch for that: in any other text the container wrote it, and could name any pod.
        self.kubectl_prefix = kubectl_prefix
        self._framers = {key: EventFramer(value) for key, value in (pending_events or {}).items()}

    def pending_events(self) -> dict[str, dict[str, Any]]:
        """Events still open at the end of the last scan, per stream: hand them to the next engine."""
        return {key: p for key, framer in self._framers.items() if (p := framer.pending_json()) is not None}

    def close_streams(self) -> ScanResult:
        """The input has ended: events still open were truncated."""
        result = ScanResult()
        for framer in self._framers.values():
            for framed in framer.close():
                result.unreadable_lines += len(framed.lines)
        return result

    def scan_text(self, data: bytes, *, first_line_no: int = 1) -> ScanResult:
        """Scan newline-separated raw lines; line numbers count from `first_line_no`."""
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        result = ScanResult(lines_scanned=len(lines))
        plain_at = self._frame(
            len(lines),
            lambda i: _kubectl_stream(lines[i]),
            lambda i: lines[i].rstrip(b"\r").decode("utf-8", "replace"),
            lambda i: b"{" in lines[i][:_EVENT_HEAD],
            lambda i: is_transcript_line(lines[i]),
            lambda i, line_no: partial(self._origin_of_text, _decoded(lines[i]), line_no),
            first_line_no,
            result,
        )
        plain = lines if len(plain_at) == len(lines) else [lines[i] for i in plain_at]
        self._match(
            plain,
            plain_at,
            lambda i, tags: self._decide(
                _decoded(lines[i]),
                tags,
                partial(self._origin_of_text, _decoded(lines[i]), first_line_no + i),
                result,
            ),
        )
        result.findings = fold_traceback_headers(
            result.findings,
            lambda line_no: (
                _stream_and_body(_decoded(lines[line_no - first_line_no]))
                if 0 <= line_no - first_line_no < len(lines)
                else None
            ),
        )
        return result

    def scan_lines(self, lines: Sequence[LogLine], *, first_line_no: int = 1) -> ScanResult:
        """Scan lines that carry their own timestamps and labels (e.g. from Loki)."""
        result = ScanResult(lines_scanned=len(lines))
        if not lines:
            return result
        plain_at = self._frame(
            len(lines),
            lambda i: _labels_stream(lines[i].labels),
            lambda i: lines[i].text,
            lambda i: "{" in lines[i].text[:_EVENT_HEAD],
            lambda i: is_transcript_text(lines[i].text),
            lambda i, line_no: partial(self._origin_of_line, lines[i], line_no),
            first_line_no,
            result,
        )
        encoded = [lines[i].text.encode("utf-8", "replace") for i in plain_at]
        self._match(
            encoded,
            plain_at,
            lambda i, tags: self._decide(
                lines[i].text, tags, partial(self._origin_of_line, lines[i], first_line_no + i), result
            ),
        )
        result.findings = fold_traceback_headers(
            result.findings,
            lambda line_no: (
                (
                    _labels_stream(lines[line_no - first_line_no].labels),
                    _body(lines[line_no - first_line_no].text),
                )
                if 0 <= line_no - first_line_no < len(lines)
                else None
            ),
        )
        return result

    def _frame(
        self,
        count: int,
        stream_of: Callable[[int], str],
        text_of: Callable[[int], str],
        may_open_event: Callable[[int], bool],
        is_transcript: Callable[[int], bool],
        origin_at: Callable[[int, int], Callable[[], _Origin]],
        first_line_no: int,
        result: ScanResult,
    ) -> list[int]:
        """Hands each stream's event lines to its framer and reads the events; the indexes of the other
        lines (plain text, for the catalogue) come back. A line with no `{` near its start opens no event,
        so unless its stream has an event open it is plain without further work."""
        plain: list[int] = []
        open_streams = {key for key, framer in self._framers.items() if framer.is_open}
        for i in range(count):
            if not open_streams and not may_open_event(i):
                plain.append(i)
                continue
            if not open_streams and is_transcript(i):  # most of a pod's log: known by its head, not parsed
                result.events[RecordKind.TRANSCRIPT] += 1
                continue
            stream = stream_of(i)
            if stream not in open_streams and not may_open_event(i):
                plain.append(i)
                continue
            framer = self._framers.get(stream) or self._framers.setdefault(stream, EventFramer())
            for framed in framer.feed(first_line_no + i, text_of(i)):
                self._settle(framed, i, first_line_no, origin_at, plain, result)
            if framer.is_open:
                open_streams.add(stream)
            else:
                open_streams.discard(stream)
        return plain

    def _settle(
        self,
        framed: Framed,
        i: int,
        first_line_no: int,
        origin_at: Callable[[int, int], Callable[[], _Origin]],
        plain: list[int],
        result: ScanResult,
    ) -> None:
        if framed.framing is Framing.PLAIN:
            plain.append(framed.line_no - first_line_no)
        elif framed.framing is Framing.TRANSCRIPT:
            result.events[RecordKind.TRANSCRIPT] += 1
        elif framed.framing is Framing.UNREADABLE:
            result.unreadable_lines += len(framed.lines)
        elif framed.framing is Framing.EVENT and framed.event is not None:
            start = framed.line_no - first_line_no
            origin = origin_at(start if 0 <= start <= i else i, framed.line_no)
            self._read_event(framed.event, origin, result)

    def _match(
        self,
        plain: Sequence[bytes],
        plain_at: Sequence[int],
        decide: Callable[[int, frozenset[str] | None], None],
    ) -> None:
        """Runs the matcher over the plain lines at once and decides each candidate."""
        if not plain:
            return
        starts = list(accumulate((len(text) + 1 for text in plain[:-1]), initial=0))
        decided: set[int] = set()
        for candidate in self.matcher.candidates(b"\n".join(plain)):
            index = bisect_right(starts, candidate.start) - 1
            if index in decided:  # a line with an embedded newline yields several candidates
                continue
            decided.add(index)
            decide(plain_at[index], candidate.tags)

    def _read_event(
        self, event: dict[str, Any], origin_of: Callable[[], _Origin], result: ScanResult
    ) -> None:
        reading = read_event(event)
        result.events[reading.kind] += 1
        if reading.kind is not RecordKind.LIFECYCLE or not (reading.inventory or reading.failures):
            return
        origin = origin_of()
        if reading.inventory is not None:
            inventory = reading.inventory
            summary = _inventory_summary(reading, inventory.tools, inventory.mcp_servers)
            result.inventory.append(
                InventoryLine(
                    origin.line_no,
                    origin.timestamp_ns,
                    origin.agent,
                    summary,
                    inventory.tools,
                    inventory.mcp_servers,
                )
            )
        for failure in reading.failures:
            result.findings.append(self._event_finding(reading, failure, origin))

    def _event_finding(self, reading: EventReading, failure: AgentFailure, origin: _Origin) -> Finding:
        alert = CODES[failure.code]
        # A tool the agent lacks, and an MCP server that did not connect at its start (so its tools are
        # missing too), are one incident with the pre-flight diff: the agent's tool inventory (one issue
        # names the missing tools and the failed servers).
        incident_code, key = (
            ("A10", "tool-inventory")
            if alert.code == "A10" or failure.event == "init"
            else (alert.code, f"agent-event:{failure.kind}")
        )
        reason = redact(failure.reason)
        return _new_finding(
            alert,
            origin,
            level=Level.ERROR.name.lower(),
            text=f"[{reading.cli} {reading.record}] {reason}"[:MAX_TEXT_CHARS],
            matched=reason[:MAX_TEXT_CHARS],
            fingerprint=fingerprint(self.play_id, origin.agent or "", incident_code, key),
            missing_tools=failure.missing_tools,
            detail=redact(failure.detail)[:MAX_TEXT_CHARS],
            event=f"{reading.cli} {failure.event}",
            reason=failure.kind,
        )

    def _origin_of_line(self, line: LogLine, line_no: int) -> _Origin:
        agent = self.agents.from_labels(line.labels) or self.default_agent
        return _Origin(
            line_no, line.timestamp_ns, agent, line.labels.get("pod"), line.labels.get("container")
        )

    def _origin_of_text(self, raw: str, line_no: int) -> _Origin:
        # kubectl writes its prefix first, so a `[pod/…]` the container printed is never the line's first
        prefix = _KUBECTL_PREFIX.match(raw)
        rest = raw[prefix.end() :] if prefix else raw
        if prefix and self.kubectl_prefix:
            pod, container = prefix.groups()
            agent = self.agents.from_pod(pod)
        else:
            pod, container, agent = self.default_pod, None, self.default_agent
        # a wrapper script's `[2025-11-11T12:19:39.412Z] [INFO] …` also dates the line
        stamp = parse_rfc3339_ns(rest[1:] if rest.startswith("[") else rest)
        return _Origin(line_no, stamp, agent, pod, container)

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
            # the controller checks an agent's tools in its own pod and names the agent: `agent=rex`. Only a
            # line that is no agent's own says so: in an agent's log, `agent=blaze` is text it printed
            if (
                not (origin.agent and self.agents.known(origin.agent))
                and (named := _AGENT_FIELD.search(raw))
                and (agent := self.agents.known(named.group(1)))
            ):
                origin = replace(origin, agent=agent)
            result.inventory.append(InventoryLine(origin.line_no, origin.timestamp_ns, origin.agent, raw))
        if verdict is not None:
            result.findings.append(self._finding(raw, verdict, origin))

    def _finding(self, raw: str, verdict: Verdict, origin: _Origin) -> Finding:
        alert = verdict.alert
        text = redact(raw)
        key = "tool-inventory" if alert.code == "A10" else normalise(message_of(text))
        return _new_finding(
            alert,
            origin,
            level=verdict.level.name.lower() if verdict.level is not None else None,
            text=text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "\u2026",
            matched=redact(verdict.matched)[:MAX_TEXT_CHARS],
            fingerprint=fingerprint(self.play_id, origin.agent or "", alert.code, key),
        )


def _new_finding(alert: AlertCode, origin: _Origin, **fields: Any) -> Finding:
    """A finding of `alert` at `origin`; `fields` hold what the line or event said."""
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
        **fields,
    )


def _decoded(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", "replace")


def _kubectl_stream(raw: bytes) -> str:
    """A `kubectl logs --prefix` line's stream (pod/container); one stream for unprefixed text."""
    if raw.startswith(b"[pod/"):
        end = raw.find(b"] ", 5)
        if end > 0:
            return raw[5:end].decode("utf-8", "replace")
    return ""


def _labels_stream(labels: Mapping[str, str]) -> str:
    if "pod" in labels:
        return f"{labels['pod']}/{labels.get('container', '')}"
    return "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _inventory_summary(
    reading: EventReading, tools: Sequence[str], servers: Sequence[tuple[str, str]]
) -> str:
    shown = ", ".join(tools[:60]) + (f", … ({len(tools)} in all)" if len(tools) > 60 else "")
    mcp = ", ".join(f"{name}={status}" for name, status in servers) or "none"
    return f"[{reading.cli} {reading.record}] tools: [{shown}]; mcp servers: {mcp}"


_TRACEBACK_BODY = re.compile(r"^(?:[ \t]|$|During handling of the above exception|The above exception was)")
_LINE_PREFIX = re.compile(r"^(?:\[pod/[^\]\s]+\] )?(?:\d{4}-\d\d-\d\d[T ]\S+ )?(?:(?:stdout|stderr) [FP] )?")


def _stream_and_body(raw: str) -> tuple[str, str]:
    stream = _kubectl_stream(raw.encode("utf-8", "replace")[:300])
    return stream, _body(raw)


def _body(text: str) -> str:
    """A line's text after a shipper's prefixes, indentation kept: it marks a traceback's frames."""
    return text[_LINE_PREFIX.match(text).end() :]


def fold_traceback_headers(
    findings: list[Finding], line_at: Callable[[int], tuple[str, str] | None] | None = None
) -> list[Finding]:
    """Drop a Python `Traceback (most recent call last):` finding when its exception line closes it.

    The exception line (`KeyError: 'model'`) says what failed; the header is the same for every
    traceback, so alone it would give every traceback of an agent one fingerprint. The two fold only when
    every line of the header's stream between them is part of the traceback (its indented frames), so an
    unrelated exception line after other output does not absorb a header. `line_at(line_no)` gives a
    line's stream and text (without shipper prefixes) when the caller has them.
    """
    kept: list[Finding] = []
    for finding in findings:
        if kept and _closes_traceback(kept[-1], finding, line_at):
            kept.pop()
        kept.append(finding)
    return kept


def _closes_traceback(
    header: Finding, finding: Finding, line_at: Callable[[int], tuple[str, str] | None] | None
) -> bool:
    if not (
        header.matched.lstrip().lower().startswith("traceback")
        and header.agent == finding.agent
        and header.line_no is not None
        and finding.line_no is not None
        and 0 < finding.line_no - header.line_no <= _TRACEBACK_MAX_LINES
    ):
        return False
    if line_at is None:
        return True
    first = line_at(header.line_no)
    if first is None:
        return False
    stream = first[0]
    for line_no in range(header.line_no + 1, finding.line_no):
        between = line_at(line_no)
        if between is None:
            return False
        if between[0] == stream and not _TRACEBACK_BODY.match(between[1]):
            return False
    last = line_at(finding.line_no)
    return last is not None and last[0] == stream


def mark_repeated_errors(findings: list[Finding]) -> list[Finding]:
    """`ERR` is high when its fingerprint repeats within the findings, medium otherwise (DESIGN §4.2)."""
    counts = Counter(f.fingerprint for f in findings if f.code == ERR.code)
    repeated = {fp for fp, n in counts.items() if n >= ERR_REPEAT_THRESHOLD}
    high = {"severity": Severity.HIGH, "priority": PRIORITY_OF_SEVERITY[Severity.HIGH]}
    return [f.model_copy(update=high) if f.fingerprint in repeated else f for f in findings]
