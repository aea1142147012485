"""When each agent's log starts and ends: the clock the pre-flight deadline runs on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from graph.triage.engine import TriageEngine
from graph.triage.models import LogLine
from graph.triage.preflight import AgentSpan
from tools.timestamps import parse_rfc3339_ns

_LINE_HEAD = re.compile(rb"^(?:\[pod/([^/\]\s]+)/[^\]\s]+\] )?(\d{4}-\d\d-\d\d[T ]\S+)?", re.MULTILINE)


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


def spans_of_text(data: bytes, engine: TriageEngine, spans: Mapping[str, AgentSpan]) -> dict[str, AgentSpan]:
    """`spans` widened by the lines of `data` (plain or `kubectl logs --prefix --timestamps` text)."""
    widened = dict(spans)
    pods: dict[bytes, str] = {}
    for head in _LINE_HEAD.finditer(data):
        pod, stamp = head.groups()
        if pod is not None:
            agent = pods.get(pod) or pods.setdefault(
                pod, engine.agents.from_pod(pod.decode(errors="replace"))
            )
        else:
            agent = engine.default_agent
        if agent and (stamp is not None or agent not in widened):
            _widen(widened, agent, parse_rfc3339_ns(stamp.decode()) if stamp else None)
    return widened
