"""When each agent's log starts and ends: the clock the pre-flight deadline runs on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from graph.triage.engine import TriageEngine
from graph.triage.models import LogLine
from graph.triage.preflight import AgentSpan
from tools.timestamps import parse_rfc3339_ns

_STAMP = re.compile(rb"\d{4}-\d\d-\d\d[T ]\S+")


def _widen(spans: dict[str, AgentSpan], agent: str, timestamp_ns: int | None) -> None:
    span = spans.get(agent)
    if span is None:
        spans[agent] = AgentSpan(timestamp_ns, timestamp_ns)
    elif timestamp_ns is not None:
        first = timestamp_ns if span.first_ns is None else min(span.first_ns, timestamp_ns)
        last = timestamp_ns if span.last_ns is None else max(span.last_ns, timestamp_ns)
        spans[agent] = AgentSpan(first, last)


def spans_of_lines(lines: Iterable[LogLine], engine: TriageEngine) -> dict[str, AgentSpan]:
    spans: dict[str, AgentSpan] = {}
    for line in lines:
        if agent := engine.agents.from_labels(line.labels) or engine.default_agent:
            _widen(spans, agent, line.timestamp_ns)
    return spans


def _head_of(line: bytes, read_prefix: bool) -> tuple[bytes | None, bytes | None]:
    """A `kubectl logs --prefix --timestamps` line's pod and timestamp, each None when absent. The pod is
    read only when kubectl wrote the prefix (`read_prefix`): otherwise the container did, and could name any."""
    pod = None
    rest = line
    if line.startswith(b"[pod/"):
        end = line.find(b"] ", 5)
        if end > 0:
            pod, rest = line[5:end].split(b"/", 1)[0] if read_prefix else None, line[end + 2 :]
    if rest[:4].isdigit() and (stamp := _STAMP.match(rest)):
        return pod, stamp.group(0)
    return pod, None


def spans_of_text(data: bytes, engine: TriageEngine, spans: Mapping[str, AgentSpan]) -> dict[str, AgentSpan]:
    """`spans` widened by the lines of `data` (plain or `kubectl logs --prefix --timestamps` text).

    A stream's lines come in time order, so only each stream's first and last stamps are parsed."""
    widened = dict(spans)
    pods: dict[bytes | None, None] = {}  # every stream, in order of first appearance
    first: dict[bytes | None, bytes] = {}
    last: dict[bytes | None, bytes] = {}
    for line in data.split(b"\n"):  # a loop over lines is faster than a multiline regex over the buffer
        pod, stamp = _head_of(line, engine.kubectl_prefix)
        pods.setdefault(pod)
        if stamp is not None:
            first.setdefault(pod, stamp)
            last[pod] = stamp
    for pod in pods:
        agent = (
            engine.agents.from_pod(pod.decode(errors="replace")) if pod is not None else engine.default_agent
        )
        if not agent:
            continue
        if pod not in first:
            if agent not in widened:
                _widen(widened, agent, None)
            continue
        for stamp in (first[pod], last[pod]):
            _widen(widened, agent, parse_rfc3339_ns(stamp.decode()))
    return widened
