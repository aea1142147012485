"""triage: the deterministic part (DESIGN §3–§5). The catalogue over this pass's lines, the pre-flight
check over every agent's tool inventory so far, the state rules over the cluster; each finding with a
window of the lines around it (redacted) as its evidence, at most one per fingerprint per pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.session import SessionStart
from graph.state import Json, SessionState
from graph.triage import preflight
from graph.triage.deadlines import next_rule_change_ns
from graph.triage.engine import AgentNames, InventoryLine, TriageEngine, mark_repeated_errors
from graph.triage.models import Finding, LogLine, timestamp_of
from graph.triage.preflight import AgentSpan
from graph.triage.pull_rules import pull_findings
from graph.triage.state_rules import state_findings
from tools.redact import redact

INVENTORY_KEPT = 200  # inventory lines kept across passes (agents report their tools a few times at start)
EVIDENCE_LINE_CHARS = 400


async def triage(state: SessionState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    session = SessionStart.model_validate(state["session"])
    config = session.cto_config
    engine = TriageEngine(
        session.play_id,
        matcher=context.matcher,
        agents=AgentNames(config.agents, config.agent_aliases()),
        pending_events=state.get("event_pending", {}),  # an event that straddles two passes
    )
    batch = state.get("batch", [])
    lines = [LogLine(item["text"], item["ts"], item["labels"]) for item in batch]
    result = engine.scan_lines(lines)
    spans = _widened(state.get("spans", {}), lines, engine)
    inventory = [*state.get("inventory", []), *(_inventory_json(line, batch) for line in result.inventory)]
    inventory = inventory[-INVENTORY_KEPT:]

    done = set(state.get("preflight_done", []))
    agent_spans = {agent: AgentSpan(*span) for agent, span in spans.items()}
    reports = preflight.check(
        config,
        [InventoryLine.from_json(line) for line in inventory],
        agent_spans,
        now_ns=now,
        complete=state.get("play_over", False),
    )
    pending = [r for r in reports if r.agent not in done]
    done |= {r.agent for r in pending if r.verdict is not preflight.Verdict.PENDING}

    window = [*state.get("recent", []), *(_evidence_line(item) for item in batch)]
    offset = len(state.get("recent", []))
    found: list[Json] = []
    for finding in preflight.findings(session.play_id, pending):
        found.append(_with_evidence(finding, _agent_evidence(inventory, finding.agent), 1))
    for finding in mark_repeated_errors(result.findings):
        around = _around(window, offset + (finding.line_no or 1) - 1, context.settings.evidence_lines)
        found.append(_with_evidence(finding, around, 1))
    rules = state_findings(session.play_id, state.get("coderuns", []), now)
    rules += pull_findings(
        session.play_id, state.get("pulls", {}).values(), state.get("coderuns", []), _login_agent(engine), now
    )
    for finding in rules:
        found.append(_with_evidence(finding, [finding.detail or finding.text], 1))

    return {
        "spans": spans,
        "inventory": inventory,
        "preflight_done": sorted(done),
        "findings": _one_per_fingerprint(found),
        "recent": window[-context.settings.evidence_lines :] if context.settings.evidence_lines else [],
        "lines_seen": state.get("lines_seen", 0) + len(batch),
        "event_pending": engine.pending_events(),
        "agent_records": _counted(state.get("agent_records", {}), result.events, result.unreadable_lines),
        "last_line_ns": batch[-1]["ts"] if batch else state.get("last_line_ns"),
        "rules_change_at_ns": next_rule_change_ns(
            state.get("coderuns", []), state.get("pulls", {}).values(), agent_spans, done, now
        ),
    }


def _login_agent(engine: TriageEngine) -> Callable[[str], str]:
    """GitHub logins as agents: `5dlabs-tess[bot]` is tess."""
    return lambda login: engine.agents.canonical(login.removesuffix("[bot]"))


def _widened(
    spans: dict[str, list[int | None]], lines: list[LogLine], engine: TriageEngine
) -> dict[str, Any]:
    widened = {agent: list(span) for agent, span in spans.items()}
    for line in lines:
        agent = engine.agents.from_labels(line.labels)
        if agent is None or line.timestamp_ns is None:
            continue
        first, last = widened.get(agent, [None, None])
        widened[agent] = [
            line.timestamp_ns if first is None else min(first, line.timestamp_ns),
            line.timestamp_ns if last is None else max(last, line.timestamp_ns),
        ]
    return widened


def _inventory_json(line: InventoryLine, batch: list[Json]) -> Json:
    kept: Json = {
        "line_no": line.line_no,
        "timestamp_ns": line.timestamp_ns,
        "agent": line.agent,
        "text": redact(line.text[: EVIDENCE_LINE_CHARS * 5]),
    }
    if line.tools is not None:
        kept["tools"] = list(line.tools)
        kept["mcp_servers"] = [list(server) for server in line.mcp_servers]
    return kept


def _counted(seen: dict[str, int], events: dict[str, int], unreadable: int) -> dict[str, int]:
    """How many agent records the session has read, by kind: the timeline shows what was set aside."""
    counts = dict(seen)
    for kind, n in [*events.items(), ("unreadable-lines", unreadable)]:
        if n:
            counts[str(kind)] = counts.get(str(kind), 0) + n
    return counts


def _evidence_line(item: Json) -> str:
    moment = timestamp_of(item["ts"])
    when = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else "-"
    pod = item["labels"].get("pod", "")
    text = redact(item["text"])
    if len(text) > EVIDENCE_LINE_CHARS:
        text = text[: EVIDENCE_LINE_CHARS - 1] + "\u2026"
    return f"{when} [{pod}] {text}" if pod else f"{when} {text}"


def _around(window: list[str], index: int, radius: int) -> list[str]:
    return window[max(0, index - radius) : index + radius + 1]


def _agent_evidence(inventory: list[Json], agent: str | None) -> list[str]:
    lines = [line for line in inventory if line["agent"] == agent]
    # an init event says most; the diagnostics block before it fills what room is left, in log order
    chosen = sorted(range(len(lines)), key=lambda i: ("tools" not in lines[i], i))[:8]
    lines = [lines[i] for i in sorted(chosen)]
    return [
        _evidence_line({"ts": line["timestamp_ns"], "text": line["text"], "labels": {}}) for line in lines
    ]


def _with_evidence(finding: Finding, evidence: list[str], count: int) -> Json:
    return {"finding": finding.model_dump(mode="json"), "evidence": evidence, "count": count}


def _one_per_fingerprint(found: list[Json]) -> list[Json]:
    """The first finding of each fingerprint, counting the others. Pre-flight findings come first, so an
    agent's tool-inventory incident carries the names of the missing tools."""
    kept: dict[str, Json] = {}
    for item in found:
        key = item["finding"]["fingerprint"]
        if key in kept:
            kept[key]["count"] += 1
        else:
            kept[key] = item
    return list(kept.values())
