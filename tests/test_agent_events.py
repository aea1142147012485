"""Agent event streams (../shared/reference/agents): lifecycle facts are findings, transcript content never is."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from graph.session import CtoConfig
from graph.triage import preflight
from graph.triage.agent_events import RecordKind, api_error_code, read_event
from graph.triage.engine import AgentNames, TriageEngine
from graph.triage.event_lines import EventFramer, Framing
from graph.triage.matcher import Matcher
from graph.triage.models import Finding, LogLine
from tests.conftest import SHARED

AGENTS = SHARED / "reference" / "agents"
SAMPLES = AGENTS / "samples"
TRANSCRIPTS = AGENTS / "transcripts"


def _scan(
    data: bytes, matcher: Matcher | None = None, agent: str = "rex"
) -> tuple[list[Finding], TriageEngine]:
    engine = TriageEngine("play-1", matcher=matcher, default_agent=agent)
    result = engine.scan_text(data)
    result.extend(engine.close_streams())
    init_only = [line for line in result.inventory if line.tools is not None]
    reports = preflight.check(None, init_only, {}, complete=True)
    return result.findings + preflight.findings("play-1", reports), engine


def _codes(findings: list[Finding]) -> Counter[str]:
    return Counter(f.code for f in findings)


@pytest.mark.parametrize("path", sorted(TRANSCRIPTS.glob("*.jsonl")), ids=lambda p: p.name[:40])
def test_real_transcripts_give_no_finding(path: Path, matcher: Matcher) -> None:
    findings, _ = _scan(path.read_bytes(), matcher)
    assert findings == []


def test_the_transcripts_are_read_as_agent_records_not_as_text() -> None:
    engine = TriageEngine()
    result = engine.scan_text(
        (TRANSCRIPTS / "claude_spotter_ae4a77f8-aedd-4bc1-888f-c94edc91af04.jsonl").read_bytes()
    )
    assert sum(result.events.values()) == result.lines_scanned == 2385
    assert result.events[RecordKind.TRANSCRIPT] > 2300


# What each real sample's own error events show (../shared/reference/agents/samples/SOURCES.md), and nothing
# from its content. The hive-mind wrapper also logs its own `[ERROR] ❌ …` lines: those are ERR, as any
# error-level line of a script is.
SAMPLE_FINDINGS = {
    "claude__charlieyou_claude-agent-sdk-gleam__basic-query.jsonl": {},
    "claude__link-assistant_hive-mind__issue-789-model-404-result.log": {"R8": 1, "ERR": 1},
    "claude__link-assistant_hive-mind__pr-52-tool-errors-then-success.log": {},
    "codex__atomize-hq_agent-wrappers__streaming-live.jsonl": {},
    "codex__jnarowski_agentcmd__stream-output-2.jsonl": {},
    "codex__jnarowski_agentcmd__stream-output-3.jsonl": {},
    "codex__jnarowski_agentcmd__stream-output-5.jsonl": {},
    "codex__jnarowski_agentcmd__stream-output-multi-1.jsonl": {},
    "codex__link-assistant_hive-mind__issue-715-401-reconnect.log": {"R5": 27, "ERR": 1},
    "codex__link-assistant_hive-mind__issue-729-usage-limit.log": {"R6": 2, "ERR": 1},
}


@pytest.mark.parametrize("name", sorted(SAMPLE_FINDINGS))
def test_real_samples_give_the_findings_their_error_events_show(name: str, matcher: Matcher) -> None:
    findings, _ = _scan((SAMPLES / name).read_bytes(), matcher)
    assert _codes(findings) == Counter(SAMPLE_FINDINGS[name])
    for finding in findings:
        if finding.code != "ERR":
            assert finding.agent == "rex" and finding.detail and finding.level == "error"


def test_an_event_finding_carries_the_structured_reason() -> None:
    findings, _ = _scan(
        (SAMPLES / "claude__link-assistant_hive-mind__issue-789-model-404-result.log").read_bytes()
    )
    [failed] = [f for f in findings if f.code == "R8"]
    assert failed.line_no == 436  # the `{` of the pretty-printed result event
    assert failed.detail.startswith("result (success, is_error): API Error: 404")
    assert "not_found_error" in failed.matched and "model: oups" in failed.matched
    assert failed.text.startswith("[claude result] API Error: 404")


def test_every_codex_401_is_one_incident() -> None:
    findings, _ = _scan(
        (SAMPLES / "codex__link-assistant_hive-mind__issue-715-401-reconnect.log").read_bytes()
    )
    auth = [f for f in findings if f.code == "R5"]
    assert len({f.fingerprint for f in auth}) == 1
    assert "401 Unauthorized" in auth[0].detail


TRANSCRIPT_LOOKALIKES = [
    {"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
     "is_error": True, "content": "thread 'main' panicked at src/lib.rs:3:5:\nError: connection refused\n"
     "FAILED tests/test_auth.py::test_login - Unauthorized\nrole is undefined; prompt missing"}]},
     "session_id": "s"},
    {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text",
     "text": "The MCP server is unreachable in this test; fatal error: retries exhausted"}]}, "session_id": "s"},
    {"type": "item.completed", "item": {"id": "item_3", "type": "command_execution", "command": "cargo test",
     "aggregated_output": "error[E0382]: borrow of moved value\npanic: runtime error", "exit_code": 101,
     "status": "failed"}},
    {"type": "item.completed", "item": {"id": "item_4", "type": "mcp_tool_call", "server": "tools",
     "tool": "github_get_file", "status": "failed", "error": {"message": "404 Not Found: permission denied"}}},
    {"type": "error", "message": "Reconnecting... 2/5"},
    {"type": "item.completed", "item": {"id": "item_5", "type": "error", "message": "model rerouted: a -> b"}},
    {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}, "session_id": "s"},
    {"type": "system", "subtype": "task_notification", "status": "failed", "session_id": "s"},
    {"type": "tool_result", "tool_id": "t", "status": "error", "error": {"type": "x", "message": "exit 1"},
     "timestamp": "2026-01-01T00:00:00Z"},
    {"type": "result", "subtype": "success", "is_error": False, "result": "Fixed the panic; all tests pass",
     "session_id": "s"},
]  # fmt: skip


def test_transcript_content_full_of_failure_words_is_never_a_finding(matcher: Matcher) -> None:
    data = "\n".join(json.dumps(event) for event in TRANSCRIPT_LOOKALIKES).encode() + b"\n"
    findings, _ = _scan(data, matcher)
    assert findings == []
    prefixed = b"".join(b"[2026-01-01T00:00:00.000Z] [INFO] " + line + b"\n" for line in data.splitlines())
    assert _scan(prefixed, matcher)[0] == []


@pytest.mark.parametrize(
    ("event", "code", "detail_has"),
    [
        ({"type": "result", "subtype": "error_max_turns", "is_error": True, "errors": ["Reached maximum number of turns (40)"], "session_id": "s"}, "R8", "maximum number of turns"),
        ({"type": "result", "subtype": "error_during_execution", "is_error": True, "errors": ["No conversation found with session ID: e8c7"], "session_id": "s"}, "R8", "No conversation found"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: Rate limit reached", "session_id": "s"}, "R2", "Rate limit"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "Failed to authenticate. API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"OAuth token has expired.\"}}", "session_id": "s"}, "R5", "OAuth token has expired"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "Credit balance too low · Add funds", "session_id": "s"}, "R6", "Credit balance"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 400 prompt is too long: 208310 tokens > 200000 maximum", "session_id": "s"}, "R7", "prompt is too long"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: Repeated 529 Overloaded errors", "session_id": "s"}, "R3", "529"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "x", "api_error_status": 529, "session_id": "s"}, "R2", "x"),
        ({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "rateLimitType": "five_hour"}, "session_id": "s"}, "R6", "five_hour"),
        ({"type": "turn.failed", "error": {"message": "stream disconnected before completion: stream closed before response.completed"}}, "R2", "stream disconnected"),
        ({"type": "turn.failed", "error": {"message": "exceeded retry limit, last status: 429 Too Many Requests, request id: 9bd5"}}, "R3", "429"),
        ({"type": "turn.failed", "error": {"message": "Codex ran out of room in the model's context window."}}, "R7", "context window"),
        ({"type": "turn.failed", "error": {}}, "R8", "turn failed"),
        ({"type": "item.completed", "item": {"id": "i", "type": "error", "message": "MCP client for `tools` failed to start: handshaking with MCP server failed"}}, "A12", "tools"),
        ({"type": "item.completed", "item": {"id": "i", "type": "mcp_tool_call", "server": "tools", "tool": "brave_search", "status": "failed", "error": {"message": "unknown tool: brave_search"}}}, "A10", "brave_search"),
        ({"type": "result", "status": "error", "error": {"type": "FatalAuthenticationError", "message": "Cached credentials are not valid"}, "timestamp": "t"}, "R5", "credentials"),
        ({"type": "error", "timestamp": 1, "sessionID": "ses_1", "error": {"name": "UnknownError", "data": {"message": "Unexpected server error. Check server logs for details."}}}, "R2", "Unexpected server error"),
        ({"type": "error", "timestamp": 1, "sessionID": "ses_1", "error": {"name": "ProviderModelNotFoundError", "data": {"message": "Model not found: invalid/some-model"}}}, "R8", "Model not found"),
    ],
)  # fmt: skip
def test_lifecycle_events_get_the_code_their_reason_means(event: dict, code: str, detail_has: str) -> None:
    [failure] = read_event(event).failures
    assert failure.code == code
    assert detail_has in failure.detail


def test_a_call_to_a_tool_the_agent_lacks_names_the_tool(matcher: Matcher) -> None:
    event = {"type": "user", "session_id": "s", "message": {"role": "user", "content": [{"type": "tool_result",
             "tool_use_id": "t", "is_error": True,
             "content": "<tool_use_error>Error: No such tool available: mcp__tools__brave_search</tool_use_error>"}]}}  # fmt: skip
    [finding], _ = _scan(json.dumps(event).encode(), matcher)
    assert (finding.code, finding.missing_tools) == ("A10", ("brave_search",))
    # compact, as the CLI prints it: the record's head says transcript, the phrase says read it whole
    [compact], _ = _scan(json.dumps(event, separators=(",", ":")).encode(), matcher)
    assert compact.missing_tools == ("brave_search",)
    # the same words in a file the agent read are content, not a missing tool
    event["message"]["content"][0]["content"] = "docs say: Error: No such tool available: mcp__x__y"
    assert _scan(json.dumps(event).encode(), matcher)[0] == []


def test_api_error_code_falls_back_on_the_status() -> None:
    assert api_error_code("something", 401) == ("R5", "authentication")
    assert api_error_code("something", 503) == ("R2", "api-unavailable")
    assert api_error_code("something") == ("R8", "run-failed")


# --- the init event is the agent's inventory ------------------------------------------------------------

CONFIG = CtoConfig.model_validate(
    {
        "agents": {
            "rex": {"githubApp": "5DLabs-Rex", "tools": {"remote": ["brave_search", "firecrawl_scrape"]}}
        }
    }
)


def _init(tools: list[str], servers: list[dict[str, str]]) -> str:
    return json.dumps(
        {"type": "system", "subtype": "init", "session_id": "s", "tools": tools, "mcp_servers": servers}
    )


def _preflight(lines: list[str]) -> list[Finding]:
    engine = TriageEngine("play-1", agents=AgentNames(CONFIG.agents, CONFIG.agent_aliases()))
    logged = [
        LogLine(text, 1_000_000_000 * (i + 1), {"agent": "rex", "pod": "p"}) for i, text in enumerate(lines)
    ]
    result = engine.scan_lines(logged)
    spans = {"rex": preflight.AgentSpan(1_000_000_000, 1_000_000_000 * (len(lines) + 100))}
    return result.findings + preflight.findings("play-1", preflight.check(CONFIG, result.inventory, spans))


def test_init_without_a_declared_tool_and_with_a_failed_server_is_one_incident_naming_both() -> None:
    init = _init(["Bash", "Read", "mcp__tools__brave_search"], [{"name": "tools", "status": "connected"},
                 {"name": "firecrawl", "status": "failed"}])  # fmt: skip
    findings = _preflight([init])
    assert sorted(f.code for f in findings) == ["A10", "A12"]
    assert len({f.fingerprint for f in findings}) == 1  # one incident, one issue
    [missing] = [f for f in findings if f.code == "A10"]
    assert missing.missing_tools == ("firecrawl_scrape",) and missing.line_no == 1
    assert "firecrawl (failed)" in missing.detail


def test_init_with_every_tool_but_a_server_not_connected_is_a12() -> None:
    init = _init(["mcp__tools__brave_search", "mcp__tools__firecrawl_scrape"],
                 [{"name": "tools", "status": "connected"}, {"name": "memory", "status": "needs-auth"}])  # fmt: skip
    [finding] = _preflight([init])
    assert finding.code == "A12" and "memory (needs-auth)" in finding.detail
    assert finding.event == "claude init" and finding.reason == "mcp-servers"


def test_a_complete_init_is_an_inventory_even_late() -> None:
    init = _init(
        ["mcp__tools__brave_search", "mcp__tools__firecrawl_scrape"],
        [{"name": "tools", "status": "connected"}],
    )
    assert _preflight(["starting"] * 90 + [init]) == []  # 90 s after the first line, still no no-inventory


def test_the_controllers_unresolved_tools_are_named_even_at_warn() -> None:
    line = (
        "2026-01-14T10:02:11.482913Z  WARN controller::tasks::tool_inventory: \u26a0\ufe0f Some declared tools "
        'could not be resolved agent=rex declared=21 resolved=19 unresolved=2 unresolved_tools=["firecrawl_scrape"]'
    )
    engine = TriageEngine("play-1", agents=AgentNames(CONFIG.agents, CONFIG.agent_aliases()))
    result = engine.scan_lines([LogLine(line, 1, {"pod": "cto-controller-7d9f8b6c5d-x7k2p"})])
    assert [f.code for f in result.findings] == ["A10"] and result.findings[0].agent == "rex"
    reports = preflight.check(CONFIG, result.inventory, {}, complete=True)
    [finding] = preflight.findings("play-1", reports)
    assert finding.missing_tools == ("firecrawl_scrape",) and finding.agent == "rex"


# --- bad input in the stream ------------------------------------------------------------------------------


def _frame(lines: list[str]) -> tuple[list[int], list[int], list[int], list[dict]]:
    """Frames `lines`; checks that every line is accounted for exactly once."""
    framer = EventFramer()
    plain: list[int] = []
    unreadable: list[int] = []
    in_events: list[int] = []
    events: list[dict] = []
    fed = [(n, framed) for n, text in enumerate(lines, 1) for framed in framer.feed(n, text)]
    fed += [(len(lines), framed) for framed in framer.close()]
    for n, framed in fed:
        if framed.framing is Framing.PLAIN:
            plain.append(framed.line_no)
        elif framed.framing is Framing.UNREADABLE:
            unreadable.extend(framed.lines)
        elif framed.framing is Framing.EVENT:
            events.append(framed.event)
            in_events.extend(range(framed.line_no, n + 1))  # from its first line to the one that closed it
    accounted = sorted(plain + unreadable + in_events)
    assert accounted == list(range(1, len(lines) + 1)), (plain, unreadable, in_events)
    return plain, unreadable, in_events, events


def test_a_pretty_printed_event_is_one_event() -> None:
    body = json.dumps({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 500 x",
                       "session_id": "s"}, indent=2).splitlines()  # fmt: skip
    lines = ["[2025-12-03T16:01:37.785Z] [INFO] " + body[0], *body[1:], "after"]
    plain, unreadable, in_events, events = _frame(lines)
    assert in_events == list(range(1, len(lines)))
    assert plain == [len(lines)] and unreadable == [] and events[0]["result"] == "API Error: 500 x"


def test_an_event_split_in_two_by_a_wrapper_is_read_whole() -> None:
    whole = json.dumps(
        {"type": "turn.failed", "error": {"message": "exceeded retry limit, last status: 401"}}
    )
    lines = [
        "[2025-11-11T12:19:39.412Z] [INFO] " + whole[:30],
        "[2025-11-11T12:19:39.413Z] [INFO] " + whole[30:],
    ]
    _, unreadable, _, events = _frame(lines)
    assert unreadable == [] and events[0]["type"] == "turn.failed"
    lines = ["[2025-11-11T12:19:39.412Z] [INFO] " + whole[:30], whole[30:]]  # the rest at column 0
    assert _frame(lines)[3][0]["error"]["message"].endswith("401")


def test_a_truncated_event_is_unreadable_and_the_next_plain_line_is_still_read() -> None:
    cut = json.dumps({"type": "user", "session_id": "s", "message": {"content": "panic: boom " * 50}})[:200]
    plain, unreadable, _, events = _frame([cut, "\u274c CLI execution failed with exit code: 1", "ok"])
    assert unreadable == [1] and plain == [2, 3] and events == []
    findings, _ = _scan(f"{cut}\n\u274c CLI execution failed with exit code: 1\n".encode())
    assert [(f.line_no, f.code) for f in findings] == [(2, "R8")]


def test_a_pretty_printed_event_that_never_closes_is_unreadable_never_matched() -> None:
    lines = ["[ts] [INFO] {", '  "type": "user",', '  "content": "thread \'main\' panicked at src/a.rs:1:1",']
    plain, unreadable, _, _ = _frame(lines)
    assert plain == [] and unreadable == [1, 2, 3]
    assert _scan("\n".join(lines).encode())[0] == []


def test_lines_that_start_with_a_brace_but_are_not_agent_events_are_plain_text(matcher: Matcher) -> None:
    lines = [
        "{foo} [ERROR] connection refused",
        '{"level":"error","msg":"Failed to sync application: connection refused"}',
        '{"level":"error","msg":"cut sho',
        '{"type":"error","level":"error","msg":"an application log with a type field"}',
    ]
    plain, unreadable, _, events = _frame(lines)
    assert plain == [1, 2, 3, 4] and events == [] and unreadable == []
    findings, _ = _scan(("\n".join(lines) + "\n").encode(), matcher)
    assert [f.line_no for f in findings] == [1, 2, 3, 4]


def test_a_record_of_a_type_nobody_documents_is_counted_not_matched(matcher: Matcher) -> None:
    line = json.dumps(
        {"type": "background_tasks_changed", "session_id": "s", "note": "fatal error: panicked at"}
    )
    engine = TriageEngine(matcher=matcher)
    result = engine.scan_text(line.encode() + b"\n")
    assert result.findings == [] and result.events[RecordKind.UNKNOWN] == 1


def test_an_event_split_across_two_chunks_or_passes_is_read_once() -> None:
    event = json.dumps(
        {"type": "turn.failed", "error": {"message": "You've hit your usage limit."}}, indent=2
    )
    lines = [LogLine(text, i, {"pod": "p", "container": "c"}) for i, text in enumerate(event.splitlines(), 1)]
    first = TriageEngine("play-1")
    assert first.scan_lines(lines[:2]).findings == []
    second = TriageEngine("play-1", pending_events=first.pending_events())
    [finding] = second.scan_lines(lines[2:], first_line_no=3).findings
    assert finding.code == "R6"


def test_other_streams_interleaved_with_a_pretty_printed_event_are_read() -> None:
    body = json.dumps({"type": "result", "subtype": "error_max_turns", "is_error": True, "session_id": "s"},
                      indent=2).splitlines()  # fmt: skip
    lines = [LogLine(text, i, {"pod": "rex-pod"}) for i, text in enumerate(body)]
    lines.insert(2, LogLine("[ERROR] connection refused", 99, {"pod": "blaze-pod"}))
    findings = TriageEngine("play-1").scan_lines(lines).findings
    assert sorted((f.pod, f.code) for f in findings) == [("blaze-pod", "R2"), ("rex-pod", "R8")]


def test_an_agent_naming_another_agent_in_its_own_log_is_not_believed() -> None:
    line = (
        "2026-01-14T10:02:11.482913Z  WARN controller::tasks::tool_inventory: Some declared tools "
        'could not be resolved agent=blaze declared=21 resolved=19 unresolved=2 unresolved_tools=["firecrawl_scrape"]'
    )
    agents = AgentNames(["rex", "blaze"])
    result = TriageEngine("play-1", agents=agents).scan_lines(
        [LogLine(line, 1, {"pod": "coderun-rex-t1-x7k2p"})]
    )
    assert [(f.code, f.agent) for f in result.findings] == [("A10", "rex")]
    assert {line.agent for line in result.inventory} == {"rex"}
