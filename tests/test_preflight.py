"""The pre-flight check: declared tools against what each agent says it has (DESIGN §4.1)."""

from __future__ import annotations

from graph.session import CtoConfig, SessionStart
from graph.triage import preflight
from graph.triage.engine import AgentNames, InventoryLine, TriageEngine
from graph.triage.models import LogLine
from graph.triage.preflight import AgentSpan, Verdict
from graph.triage.spans import spans_of_lines, spans_of_text

S = 1_000_000_000
T0 = 1_795_497_600 * S

CONFIG = CtoConfig.model_validate(
    {
        "agents": {
            "rex": {
                "githubApp": "5DLabs-Rex",
                "tools": {
                    "remote": ["brave_search", "github_create_pull_request"],
                    "localServers": {
                        "filesystem": {"enabled": True, "tools": ["read_file", "write_file"]},
                        "memory": {"enabled": False, "tools": ["memory_create_entities"]},
                    },
                },
            },
            "blaze": {
                "github_app": "5DLabs-Blaze",
                "tools": {
                    "remote": ["brave_search"],
                    "local_servers": {"git": {"enabled": True, "tools": ["git_log"]}},
                },
            },
        }
    }
)


def _line(text: str, seconds: float, agent: str = "rex", line_no: int = 1) -> InventoryLine:
    return InventoryLine(line_no, T0 + int(seconds * S), agent, text)


def _check(
    lines: list[InventoryLine], spans: dict[str, AgentSpan], **kwargs: object
) -> dict[str, preflight.PreflightReport]:
    return {r.agent: r for r in preflight.check(CONFIG, lines, spans, **kwargs)}


def test_declared_tools_include_enabled_local_servers_only_and_both_spellings() -> None:
    declared = preflight.declared_tools(CONFIG)
    assert declared["rex"][0] == {"brave_search", "github_create_pull_request"}
    assert declared["rex"][1] == {"filesystem": {"read_file", "write_file"}}
    assert declared["blaze"][1] == {"git": {"git_log"}}


def test_missing_tool_is_named() -> None:
    lines = [
        _line(
            "Tool inventory check - CLI has available: [github_create_pull_request, read_file, write_file]", 2
        )
    ]
    report = _check(lines, {"rex": AgentSpan(T0, T0 + 90 * S)})["rex"]
    assert report.verdict is Verdict.MISSING_TOOLS
    assert report.missing == ("brave_search",)
    [finding] = preflight.findings("play-42", [report])
    assert finding.code == "A10" and finding.missing_tools == ("brave_search",)
    assert "brave_search" in finding.detail and finding.agent == "rex"


def test_mcp_prefixed_names_and_ready_local_servers_count_as_available() -> None:
    lines = [
        _line(
            "Agent 'rex' tools configured: remote=[mcp__tools__brave_search, Github_Create_Pull_Request], local=[]",
            1,
        ),
        _line("Filesystem MCP server ready", 3),
    ]
    report = _check(lines, {"rex": AgentSpan(T0, T0 + 90 * S)})["rex"]
    assert report.verdict is Verdict.OK, report.detail


def test_local_server_not_ready_means_its_tools_are_missing() -> None:
    lines = [
        _line("Agent 'rex' tools configured: remote=[brave_search, github_create_pull_request], local=[]", 1)
    ]
    report = _check(lines, {"rex": AgentSpan(T0, T0 + 90 * S)})["rex"]
    assert report.missing == ("read_file", "write_file")


def test_logged_mismatch_at_warn_level_names_the_missing_tools() -> None:
    text = "\u26a0\ufe0f tool inventory mismatch - declared tools: [brave_search, read_file] - missing: [brave_search]"
    report = _check([_line(text, 1)], {"rex": AgentSpan(T0, T0 + 5 * S)})["rex"]
    assert report.missing == ("brave_search",)


def test_a_count_below_the_declared_tools_is_a_finding_without_names() -> None:
    report = _check(
        [_line("MCP tools initialized: 1 remote tools available", 1)], {"rex": AgentSpan(T0, T0 + 90 * S)}
    )["rex"]
    assert report.verdict is Verdict.MISSING_TOOLS and report.missing == ()
    assert "1 remote tools available of 4 declared" in report.detail


def test_no_inventory_within_60_seconds_is_a_finding() -> None:
    report = _check([], {"rex": AgentSpan(T0, T0 + 61 * S)})["rex"]
    assert report.verdict is Verdict.NO_INVENTORY
    [finding] = preflight.findings("play-42", [report])
    assert finding.code == "A10" and "within 60 s" in finding.detail and finding.line_no is None


def test_a_young_agent_is_pending_not_a_finding() -> None:
    report = _check([], {"rex": AgentSpan(T0, T0 + 30 * S)})["rex"]
    assert report.verdict is Verdict.PENDING
    assert preflight.findings("play-42", [report]) == []
    assert (
        _check([], {"rex": AgentSpan(T0, T0 + 30 * S)}, now_ns=T0 + 61 * S)["rex"].verdict
        is Verdict.NO_INVENTORY
    )


def test_inventory_after_the_deadline_is_reported_late() -> None:
    lines = [
        _line(
            "Agent 'rex' tools configured: remote=[brave_search, github_create_pull_request], local=[filesystem]",
            75,
        )
    ]
    report = _check(lines, {"rex": AgentSpan(T0, T0 + 90 * S)})["rex"]
    assert report.verdict is Verdict.NO_INVENTORY and "more than 60 s" in report.detail


def test_a_finished_log_without_timestamps_still_judges_the_agent() -> None:
    report = _check([], {"rex": AgentSpan(None, None)}, complete=True)["rex"]
    assert report.verdict is Verdict.NO_INVENTORY and "no time" in report.detail


def test_agents_without_lines_are_not_judged() -> None:
    assert _check([], {}) == {}


def test_engine_collects_inventory_and_a10_lines_with_their_agent() -> None:
    agents = AgentNames(CONFIG.agents, CONFIG.agent_aliases())
    lines = [
        LogLine(
            "Tool inventory check - CTO config declares: [brave_search]", T0, {"github_app": "5DLabs-Rex"}
        ),
        LogLine('level=error msg="Tool not found: github_create_pull_request"', T0 + S, {"agent": "rex"}),
        LogLine("ordinary line", T0 + 2 * S, {"agent": "blaze"}),
    ]
    engine = TriageEngine("play-42", agents=agents)
    result = engine.scan_lines(lines)
    assert [(i.line_no, i.agent) for i in result.inventory] == [(1, "rex"), (2, "rex")]
    spans = spans_of_lines(lines, engine)
    reports = {r.agent: r for r in preflight.check(CONFIG, result.inventory, spans, complete=True)}
    assert reports["rex"].missing == ("github_create_pull_request",)
    assert reports["blaze"].verdict is Verdict.NO_INVENTORY
    # the pre-flight finding and the line's A10 finding are one incident
    line_a10 = [f for f in result.findings if f.code == "A10"]
    assert (
        line_a10 and line_a10[0].fingerprint == preflight.findings("play-42", [reports["rex"]])[0].fingerprint
    )


def test_spans_of_kubectl_text_follow_the_pods() -> None:
    agents = AgentNames(CONFIG.agents, CONFIG.agent_aliases())
    engine = TriageEngine(agents=agents, kubectl_prefix=True)
    text = (
        b"[pod/coderun-rex-t1-play-42-x7k2p/claude] 2026-11-24T05:20:00.000000000Z starting\n"
        b"[pod/coderun-blaze-t2-play-42-m4q8z/claude] 2026-11-24T05:20:05Z starting\n"
        b"[pod/coderun-rex-t1-play-42-x7k2p/claude] 2026-11-24T05:21:30.5Z still going\n"
    )
    spans = spans_of_text(text, engine, {})
    assert spans["rex"] == AgentSpan(T0, T0 + 90 * S + S // 2)
    assert spans["blaze"] == AgentSpan(T0 + 5 * S, T0 + 5 * S)


def test_spans_of_plain_text_ignore_a_prefix_the_container_printed() -> None:
    agents = AgentNames(CONFIG.agents, CONFIG.agent_aliases())
    engine = TriageEngine(agents=agents, default_agent="rex")
    text = b"[pod/coderun-blaze-t2-play-42-m4q8z/claude] 2026-11-24T05:20:05Z spoofed\n"
    assert set(spans_of_text(text, engine, {})) == {"rex"}


def test_session_payload_accepts_both_spellings_and_ignores_unknown_fields() -> None:
    session = SessionStart.from_json_bytes(
        b'{"play_id": "p", "surprise": 1, "cto_config": {"agents": {"rex": {"github_app": "5DLabs-Rex",'
        b' "tools": {"local_servers": {"fs": {"enabled": true, "tools": ["a"]}}}}}}, "tasks": [{"id": 7}]}'
    )
    assert session.cto_config.agents["rex"].github_app == "5DLabs-Rex"
    assert session.cto_config.agents["rex"].tools.enabled_local_servers()["fs"].tools == ["a"]
    assert session.tasks[0].id == "7"
    assert session.cto_config.agent_aliases()["rex"] == "rex"
