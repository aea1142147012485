"""The pre-flight checklist of an A10/A11/A12 issue, filled from what the pod printed (checked/failed/unknown)."""

from __future__ import annotations

import json

from graph import issue
from graph.seed import checklist_for
from graph.session import SessionStart
from graph.triage.checklist import preflight_checklist
from graph.triage.engine import AgentNames, TriageEngine
from graph.triage.models import Finding, LogLine

SESSION = SessionStart.model_validate(
    {"play_id": "play-1", "cto_config": {"agents": {"rex": {"githubApp": "5DLabs-Rex", "cli": "claude",
     "tools": {"remote": ["brave_search", "firecrawl_scrape"], "localServers": None}}}}}
)  # fmt: skip
DIAGNOSTICS = [
    "\U0001f527 MCP Tools Diagnostics:",
    "  \u2705 tools binary found: /usr/local/bin/tools",
    "  \u2192 Server URL: http://cto-tools.cto.svc.cluster.local:8080",
    "  \u274c Server unreachable (connection failed/timeout)",
    "  \u2705 Config found: /mcp-config/mcp.json",
    "    \u2514\u2500 Remote tools: 21",
]
INIT = json.dumps({"type": "system", "subtype": "init", "session_id": "s", "tools": ["Bash", "mcp__tools__brave_search"],
                   "mcp_servers": [{"name": "tools", "status": "failed"}]})  # fmt: skip


def _pass(lines: list[str]) -> tuple[list[Finding], list[dict]]:
    engine = TriageEngine(
        "play-1", agents=AgentNames(SESSION.cto_config.agents, SESSION.cto_config.agent_aliases())
    )
    result = engine.scan_lines(
        [LogLine(text, i, {"agent": "rex", "pod": "p"}) for i, text in enumerate(lines, 1)]
    )
    inventory = [
        {"agent": line.agent, "text": line.text, "tools": line.tools, "mcp_servers": line.mcp_servers}
        for line in result.inventory
    ]
    return result.findings, inventory


def test_each_item_is_checked_failed_or_unknown_from_real_signals() -> None:
    findings, inventory = _pass([*DIAGNOSTICS, INIT])
    [unreachable] = [f for f in findings if "Server unreachable" in f.text]
    items = {
        item.name: item
        for item in preflight_checklist(
            unreachable.model_dump(), inventory, ["brave_search", "firecrawl_scrape"]
        )
    }
    assert items["agent type"].status == "checked"
    assert (
        items["config loaded"].status == "checked" and "/mcp-config/mcp.json" in items["config loaded"].note
    )
    assert items["tools-server reachable"].status == "failed"  # the success line came first; the failure wins
    assert items["remote tools accessible"].status == "failed"
    assert "firecrawl_scrape" in items["remote tools accessible"].note
    assert (
        items["local servers initialised"].status == "failed"
        and "tools (failed)" in items["local servers initialised"].note
    )
    assert items["language context"].status == "unknown" and items["role vs task"].status == "unknown"


def test_without_signals_every_item_is_unknown() -> None:
    finding = {"code": "A10", "agent": "rex", "missing_tools": []}
    assert {item.status for item in preflight_checklist(finding, [], [])} == {"unknown"}


def test_the_issue_body_shows_the_checklist_of_a_preflight_finding_only() -> None:
    findings, inventory = _pass([*DIAGNOSTICS, INIT])
    [unreachable] = [f for f in findings if "Server unreachable" in f.text]
    values = {"inventory": inventory}
    items = checklist_for(SESSION, unreachable.model_dump(mode="json"), values)
    body = issue.body(unreachable, play_id="play-1", repository="o/r", namespace="cto", evidence=["x"], facts=[],
                      expected_tools=["brave_search", "firecrawl_scrape"], analysis=None, analysis_note=None,
                      checklist=items)  # fmt: skip
    assert "## Pre-flight checklist" in body
    assert (
        "- [ ] **failed:** tools-server reachable \u2014 `\u274c Server unreachable (connection failed/timeout)`"
        in body
    )
    assert "- [x] config loaded" in body and "- [ ] unknown: language context" in body
    runtime = Finding.model_validate({**unreachable.model_dump(), "code": "R2"})
    assert checklist_for(SESSION, runtime.model_dump(mode="json"), values) == []
