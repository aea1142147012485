"""The pre-flight checklist of an A10/A11/A12 issue (DESIGN §4.1), filled from what the agent's pod really
printed. Pure, no I/O.

Each item is checked, failed or unknown — never assumed. The signals are the agent CLI's init event (its
tools and MCP servers), the container scripts' MCP diagnostics block (`✅ Health check: OK (HTTP 200)`,
`❌ Server unreachable (connection failed/timeout)`, `⚠️ No MCP config found`, `└─ Remote tools: 21`), the
controller's tool inventory check, and the finding itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from graph.triage.agent_events import tool_key

Status = Literal["checked", "failed", "unknown"]
PREFLIGHT_CODES = frozenset({"A10", "A11", "A12"})


@dataclass(frozen=True, slots=True)
class Item:
    section: str
    name: str
    status: Status
    note: str

    def to_json(self) -> dict[str, str]:
        return {"section": self.section, "name": self.name, "status": self.status, "note": self.note}


_I = re.IGNORECASE
# (item, status, pattern): what a diagnostics line says about one item. A failure wins over a success.
_SIGNALS: tuple[tuple[str, Status, re.Pattern[str]], ...] = tuple(
    (item, status, re.compile(pattern, _I))
    for item, status, pattern in (
        ("template loaded", "failed", r"template not found|no prompt content available"),
        ("config loaded", "checked", r"config found:|client-config\.json \u2192"),
        (
            "config loaded",
            "failed",
            r"no mcp config found|mcp config parsing will fail|client-config\.json not found",
        ),
        ("remote tools accessible", "failed", r"available tools:\s*0\b"),
        ("remote tools accessible", "checked", r"remote tools:\s*[1-9]"),
        ("local servers initialised", "checked", r"local servers:\s*\d"),
        ("tools-server reachable", "checked", r"health check: ok|tools binary found"),
        (
            "tools-server reachable",
            "failed",
            r"server unreachable|health returned http|mcp endpoint: http (?:000|[45])|binary not found"
            r"|not found: \S*/bin/(?:cto-)?tools\b",
        ),
    )
)
_ITEMS = (
    ("Prompts", "agent type"),
    ("Prompts", "role vs task"),
    ("Prompts", "template loaded"),
    ("Prompts", "language context"),
    ("MCP tools", "config loaded"),
    ("MCP tools", "remote tools accessible"),
    ("MCP tools", "local servers initialised"),
    ("MCP tools", "tools-server reachable"),
)


def preflight_checklist(
    finding: Mapping[str, Any], lines: Iterable[Mapping[str, Any]], declared: Sequence[str]
) -> list[Item]:
    """The checklist for `finding`'s agent from its inventory and diagnostics `lines` (as the session pass
    keeps them: `text`, and `tools`/`mcp_servers` for an init event)."""
    seen: dict[str, tuple[Status, str]] = {}

    def note(item: str, status: Status, why: str) -> None:
        if seen.get(item, ("unknown", ""))[0] != "failed":
            seen[item] = (status, why)

    for line in lines:
        text = str(line.get("text", ""))
        if line.get("tools") is not None:
            _read_init(line, declared, note)
        for item, status, pattern in _SIGNALS:
            if pattern.search(text):
                note(item, status, _quote(text))
    if finding.get("code") == "A11":
        note("config loaded", "failed", finding.get("detail") or finding.get("text", ""))
    if missing := finding.get("missing_tools"):
        note("remote tools accessible", "failed", "missing: " + ", ".join(missing))
    return [
        Item(section, name, *seen.get(name, ("unknown", "no signal in the log"))) for section, name in _ITEMS
    ]


def _read_init(line: Mapping[str, Any], declared: Sequence[str], note: Any) -> None:
    tools = {tool_key(t) for t in line["tools"]}
    note("agent type", "checked", "the agent CLI's init event: " + _quote(str(line.get("text", "")), 80))
    missing = sorted(t for t in declared if tool_key(t) not in tools)
    if missing:
        note("remote tools accessible", "failed", "not in the init event's tools: " + ", ".join(missing))
    elif declared:
        note("remote tools accessible", "checked", f"all {len(declared)} declared tools in the init event")
    servers = [tuple(s) for s in line.get("mcp_servers") or ()]
    failed = [f"{name} ({status})" for name, status in servers if status != "connected"]
    if failed:
        note("local servers initialised", "failed", "MCP servers not connected: " + ", ".join(failed))
    elif servers:
        note("local servers initialised", "checked", "connected: " + ", ".join(n for n, _ in servers))


def _quote(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


_MARK = {"checked": "[x]", "failed": "[ ] **failed:**", "unknown": "[ ] unknown:"}


def render(items: Sequence[Mapping[str, str]], verdict: str) -> str:
    """Markdown for the issue body: a task list, grouped by section."""
    lines = ["", "## Pre-flight checklist"]
    section = None
    for item in items:
        if item["section"] != section:
            section = item["section"]
            lines.append(f"**{section}**")
        note = item["note"].replace("`", "'")
        lines.append(f"- {_MARK[item['status']]} {item['name']} \u2014 `{note}`")
    lines.append(f"- verdict: {verdict}")
    return "\n".join(lines) + "\n"
