"""The pre-flight check (DESIGN §4.1): does each agent have the tools its session says it must have?

The session declares, per agent, remote tools and local MCP servers with their tools. What the agent really
has comes, first, from its CLI's init event (Claude Code's `system/init`: every tool it has, remote ones as
`mcp__<server>__<tool>`, and each MCP server's status); then from the cto controller's tool inventory check
(`Some declared tools could not be resolved … unresolved_tools=[…]`, `Tool declared but not found in
catalog agent=rex tool=…`, `missing_tools=[…]`, logged at WARN), and from inventory lines in the style of
DESIGN §4.1 (`CLI has available: […]`, `missing from CLI: […]`, `MCP tools initialized: 15 remote tools
available`). The check diffs declared against available and names the missing tools (A10, naming the MCP
servers that failed too). An agent whose init was
seen has an inventory; one that shows none within 60 s of its first line is a finding of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from graph.session import CtoConfig
from graph.triage.agent_events import tool_key
from graph.triage.catalogue import A10
from graph.triage.engine import InventoryLine
from graph.triage.fingerprint import fingerprint
from graph.triage.models import Finding, timestamp_of
from tools.redact import redact

INVENTORY_DEADLINE_NS = 60 * 1_000_000_000

_I = re.IGNORECASE | re.ASCII
_LIST = r"\[([^\]]*)\]"
_DECLARED = re.compile(r"declares?\s*:\s*" + _LIST, _I)
_AVAILABLE = re.compile(r"(?:has available|available tools?|tools? (?:available|loaded))\s*:\s*" + _LIST, _I)
_CONFIGURED = re.compile(r"tools configured\s*:\s*remote=" + _LIST + r"(?:\s*,\s*local=" + _LIST + ")?", _I)
_MISSING_LIST = re.compile(
    r"(?:(?:missing(?: from (?:the )?cli)?|unresolved tools?)\s*:|(?:unresolved|missing)_tools\s*=)\s*"
    + _LIST,
    _I,
)
_CATALOG_MISS = re.compile(r"tool declared but not found in catalog\b.*?\btool=[\"']?([\w.:/-]+)", _I)
_MISSING_BARE = re.compile(r"missing from (?:the )?cli\s*:\s*([^\[\]]+)$", _I)
_MISSING_ONE = re.compile(
    r"(?:tools? (?:not found|not available|unavailable)|unknown tool|no such tool(?: available)?)\s*:\s*"
    r"[`'\"]?([\w.:/-]+)",
    _I,
)
_REMOTE_COUNT = re.compile(
    # the second form is the container's tools-config step (`    └─ Remote tools: 21`): what a Codex agent,
    # whose stream lists no tools, shows of its inventory
    r"mcp tools initiali[sz]ed\s*:\s*(\d+) remote tools?|\bremote tools:\s*(\d+)\s*$",
    _I,
)
_SERVER_READY = re.compile(r"([\w-]+) mcp server (?:ready|started|initiali[sz]ed)", _I)


class Verdict(StrEnum):
    OK = "ok"
    MISSING_TOOLS = "missing-tools"
    NO_INVENTORY = "no-inventory"
    PENDING = "pending"  # the agent is younger than the deadline and has not reported yet


@dataclass(frozen=True, slots=True)
class AgentSpan:
    """The first and last timestamps of an agent's lines (None when its lines carry no time)."""

    first_ns: int | None
    last_ns: int | None


@dataclass(slots=True)
class PreflightReport:
    agent: str
    declared: set[str] = field(default_factory=set)
    available: set[str] = field(default_factory=set)
    servers_ready: set[str] = field(default_factory=set)
    logged_missing: set[str] = field(default_factory=set)
    remote_count: int | None = None
    init_seen: bool = False  # the agent CLI's own init event listed its tools
    failed_servers: dict[str, str] = field(default_factory=dict)  # MCP server -> status (not `connected`)
    inventory_at_ns: int | None = None
    evidence: list[InventoryLine] = field(default_factory=list)
    verdict: Verdict = Verdict.PENDING
    missing: tuple[str, ...] = ()
    detail: str = ""


def _names(listing: str) -> set[str]:
    return {tool_key(item) for item in listing.split(",") if tool_key(item)}


def declared_tools(config: CtoConfig) -> dict[str, tuple[set[str], dict[str, set[str]]]]:
    """Per agent: its remote tools, and its enabled local servers with their tools."""
    return {
        name.lower(): (
            {tool_key(t) for t in agent.tools.remote},
            {
                srv.lower(): {tool_key(t) for t in s.tools}
                for srv, s in agent.tools.enabled_local_servers().items()
            },
        )
        for name, agent in config.agents.items()
    }


def check(
    config: CtoConfig | None,
    inventory: Iterable[InventoryLine],
    spans: Mapping[str, AgentSpan],
    *,
    now_ns: int | None = None,
    complete: bool = False,
) -> list[PreflightReport]:
    """One report per agent that has lines or inventory. `complete`: the log has ended (a finished file)."""
    declared = declared_tools(config) if config else {}
    reports: dict[str, PreflightReport] = {}
    for line in inventory:  # an agent gets a report from a line only if the line says what it has
        if line.agent:
            report = reports.get(line.agent) or PreflightReport(line.agent)
            if _read_inventory(report, line):
                reports[line.agent] = report
    for agent in spans.keys() & declared.keys():
        reports.setdefault(agent, PreflightReport(agent))
    for agent, report in reports.items():
        remote, local = declared.get(agent, (set(), {}))
        report.declared |= remote | set().union(*local.values())
        _judge(report, local, spans.get(agent, AgentSpan(None, None)), now_ns, complete)
    return sorted(reports.values(), key=lambda r: r.agent)


def _read_inventory(report: PreflightReport, line: InventoryLine) -> bool:
    if line.tools is not None:
        _read_init(report, line)
        return True
    text = line.text
    found = False
    for match in _DECLARED.finditer(text):
        report.declared |= _names(match.group(1))
        found = True
    for match in _AVAILABLE.finditer(text):
        report.available |= _names(match.group(1))
        found = True
    if configured := _CONFIGURED.search(text):
        report.available |= _names(configured.group(1))
        report.servers_ready |= _names(configured.group(2) or "")
        found = True
    for pattern in (_MISSING_LIST, _MISSING_BARE, _MISSING_ONE, _CATALOG_MISS):
        for match in pattern.finditer(text):
            report.logged_missing |= _names(match.group(1))
            found = True
    if count := _REMOTE_COUNT.search(text.strip()):
        report.remote_count = int(count.group(1) or count.group(2))
        found = True
    for server in _SERVER_READY.finditer(text):
        report.servers_ready.add(server.group(1).lower())
        found = True
    if found:
        report.evidence.append(line)
        if report.inventory_at_ns is None or (line.timestamp_ns or 0) < report.inventory_at_ns:
            report.inventory_at_ns = line.timestamp_ns
    return found


def _read_init(report: PreflightReport, line: InventoryLine) -> None:
    report.init_seen = True
    report.available |= {tool_key(t) for t in line.tools or ()}
    for name, status in line.mcp_servers:
        if status == "connected":
            report.servers_ready.add(name.lower())
        else:  # once is enough: a later pod of the agent that connected does not undo this one's start
            report.failed_servers[name] = status
    report.evidence.append(line)
    if report.inventory_at_ns is None or (line.timestamp_ns or 0) < report.inventory_at_ns:
        report.inventory_at_ns = line.timestamp_ns


def _judge(
    report: PreflightReport, local: dict[str, set[str]], span: AgentSpan, now_ns: int | None, complete: bool
) -> None:
    served = set().union(*(tools for server, tools in local.items() if server in report.servers_ready))
    missing = set(report.logged_missing)
    if report.available:
        missing |= report.declared - report.available - served
    failed = ", ".join(f"{name} ({status})" for name, status in sorted(report.failed_servers.items()))
    if missing:
        report.verdict, report.missing = Verdict.MISSING_TOOLS, tuple(sorted(missing))
        report.detail = f"declared tools missing from the agent: {', '.join(report.missing)}"
        if failed:
            report.detail += f"; MCP servers not connected: {failed}"
        return
    remote_declared = len(report.declared - served)
    if report.remote_count is not None and report.remote_count < remote_declared:
        report.verdict = Verdict.MISSING_TOOLS
        report.detail = (
            f"{report.remote_count} remote tools available of {remote_declared} declared; "
            "the log does not name the missing ones"
        )
        return
    if report.init_seen or (report.evidence and _in_time(report.inventory_at_ns, span.first_ns)):
        report.verdict = Verdict.OK
        return
    if _deadline_passed(span, now_ns, complete):
        report.verdict = Verdict.NO_INVENTORY
        report.detail = _no_inventory_detail(report, span)


def inventory_deadlines(spans: dict[str, AgentSpan], done: Iterable[str]) -> list[int]:
    """When an agent whose verdict is not final would be judged by time alone: 60 s after its first line
    with no inventory yet (A10)."""
    final = set(done)
    return [
        span.first_ns + INVENTORY_DEADLINE_NS
        for agent, span in spans.items()
        if agent not in final and span.first_ns is not None
    ]


def _in_time(inventory_at: int | None, first: int | None) -> bool:
    return inventory_at is None or first is None or inventory_at - first <= INVENTORY_DEADLINE_NS


def _deadline_passed(span: AgentSpan, now_ns: int | None, complete: bool) -> bool:
    if complete:
        return True
    latest = now_ns if now_ns is not None else span.last_ns
    return span.first_ns is not None and latest is not None and latest - span.first_ns > INVENTORY_DEADLINE_NS


def _no_inventory_detail(report: PreflightReport, span: AgentSpan) -> str:
    if report.evidence:
        return "the agent reported its tools more than 60 s after its first line"
    if span.first_ns is None:
        return "the agent logged no tool inventory (its lines carry no time, so the 60 s window is unknown)"
    return "the agent logged no tool inventory within 60 s of its first line"


def findings(play_id: str, reports: Iterable[PreflightReport]) -> list[Finding]:
    """The A10 findings of the reports that found a problem."""
    return [
        _finding(play_id, r) for r in reports if r.verdict in (Verdict.MISSING_TOOLS, Verdict.NO_INVENTORY)
    ]


def _finding(play_id: str, report: PreflightReport) -> Finding:
    evidence = report.evidence[0] if report.evidence else None
    alert = A10
    key, name = (
        ("tool-inventory", A10.name)
        if report.verdict is Verdict.MISSING_TOOLS
        else ("no-inventory", "No tool inventory")
    )
    summary = f"{report.agent}: {report.detail}"
    return Finding(
        code=alert.code,
        name=name,
        phase=alert.phase,
        severity=alert.severity,
        priority=alert.priority,
        action=alert.action,
        line_no=evidence.line_no if evidence else None,
        timestamp=timestamp_of(evidence.timestamp_ns if evidence else None),
        agent=report.agent,
        text=redact(evidence.text if evidence else summary),
        matched=redact(summary),
        fingerprint=fingerprint(play_id, report.agent, alert.code, key),
        missing_tools=report.missing,
        detail=report.detail,
    )
