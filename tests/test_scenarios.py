"""The scenarios of cassettes/, replayed offline with every socket blocked (DESIGN §10).

Each runs Healer's real graphs over what was recorded (tests/scenarios/record.py) and asserts the
outcome an operator would check: the findings, what was filed on GitHub, who was alerted, the status.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext, SessionBudget
from graph.summary import summary
from runtime.replay import ReplayResult, replay
from runtime.runner import IncidentView, PlayRunner
from tests.scenarios.definitions import ALL, Definition
from tools.recording import interactions_of

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"


def run(name: str, **options: Any) -> tuple[ReplayResult, dict[str, Any]]:
    result = asyncio.run(replay(CASSETTES / name, **options))
    incidents = [view.values for view in result.incidents]
    return result, summary(name, result.session, incidents)


def loki_lines(name: str) -> list[str]:
    """Every log line Loki gave Healer in the recording."""
    return [
        value[1]
        for item in interactions_of(CASSETTES / name / "http")
        if "/loki/api/v1/query_range" in item["request"]["uri"]
        for stream in json.loads(item["response"]["body"]["string"])["data"]["result"]
        for value in stream["values"]
    ]


@pytest.mark.parametrize("definition", ALL, ids=lambda d: d.name)
def test_each_recording_read_its_definitions_lines(definition: Definition) -> None:
    """A definition changed without re-recording its folder would test lines nobody replays."""
    assert set(loki_lines(definition.name)) == {
        text for agent in definition.agents for _, text in agent.lines
    }


def writes(result: ReplayResult, method: str, path_end: str) -> int:
    """How many requests the run sent with `method` to an address ending in `path_end`."""
    return len(_sent(result, method, path_end))


def test_healthy_play_files_nothing() -> None:
    result, report = run("healthy-play")
    assert report["status"] == "healthy"
    assert report["findings"] == [] and report["issues"] == [] and report["notifications"] == 0
    assert report["lines_seen"] == 18
    assert result.session["play_over"] is True
    assert sorted(result.session["preflight_done"]) == ["cleo", "rex"]


def test_noise_that_mentions_errors_files_nothing() -> None:
    result, report = run("noisy-but-fine")
    assert report["status"] == "healthy"
    assert report["findings"] == [] and report["issues"] == [] and report["notifications"] == 0
    assert report["lines_seen"] == 43
    # Atlas's stream-json events were read as events: its transcript is the agent at work, never matched
    assert report["agent_records"] == {"lifecycle": 2, "transcript": 19}
    read = loki_lines("noisy-but-fine")
    assert any("CONFLICT (content): Merge conflict" in line for line in read)
    assert any("##[error]Process completed with exit code 101." in line for line in read)
    assert result.session["preflight_done"] == ["atlas"]
    assert writes(result, "POST", "") == 0  # nothing sent anywhere


def test_a_run_killed_after_filing_resumes_without_filing_twice() -> None:
    result, report = run("restart-midway")
    assert result.crashes == 1
    assert writes(result, "POST", "/issues") == 1
    [filed] = report["issues"]
    assert filed["title"] == "[HEAL-R3] Retries exhausted: cipher (play-restart)"
    assert report["findings"][0]["code"] == "R3"
    [incident] = result.incidents
    assert [e["event"] for e in incident.values["timeline"]].count("issue found") == 1
    # no LLM in this scenario: the issue says so, and nothing is remediated
    assert "model analysis is unavailable" in incident.values["issue_body"]
    assert report["pull_requests"] == [] and report["llm"]["calls"] == 0
    assert report["status"] == "open"


@pytest.mark.parametrize("name", ["healthy-play", "restart-midway", "codex-auth", "healthy-transcript"])
def test_a_replay_is_deterministic(name: str) -> None:
    assert run(name)[1] == run(name)[1]


def test_a_human_decision_resumes_an_escalated_incident(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    result, _ = run("runtime-panic", database_url=url)
    [panic] = [view for view in result.incidents if view.values["finding"]["code"] == "R1"]
    assert panic.waiting_for_human and panic.question["choices"] == ["retry", "resolve", "dismiss"]

    async def decide(decision: dict[str, Any]) -> IncidentView:
        async with open_checkpointer(url) as saver:
            context = HealerContext(settings=settings_from({"database_url": url}))  # GitHub is gone by now
            runner = PlayRunner(
                result.loaded.session, context, saver, clock=lambda: 1_795_500_600_000_000_000
            )
            return await runner.decide(panic.fingerprint, decision)

    refused = asyncio.run(decide({"action": "merge it"}))
    assert refused.waiting_for_human  # not a decision Healer knows: it keeps waiting
    done = asyncio.run(decide({"action": "dismiss", "by": "ops", "note": "migration data was fixed by hand"}))
    assert not done.waiting_for_human
    assert done.values["status"] == "closed" and done.values["stage"] == "done"
    assert done.values["timeline"][-2]["event"] == "decided"


def bodies(result: ReplayResult, method: str, path_end: str) -> list[Any]:
    """The JSON bodies the run sent (replay checks each against the recording, and that no recorded
    write is left unmade)."""
    return [request["body"] for request in _sent(result, method, path_end)]


def _sent(result: ReplayResult, method: str, path_end: str) -> list[dict[str, Any]]:
    return [
        request
        for request in result.sent
        if request["method"] == method and request["uri"].split("?")[0].endswith(path_end)
    ]


def test_a_missing_tool_in_the_first_minute_files_an_a10_issue_naming_it() -> None:
    result, report = run("preflight-a10")
    [finding] = report["findings"]
    assert (finding["code"], finding["severity"], finding["missing_tools"]) == (
        "A10",
        "critical",
        ["brave_search"],
    )
    [filed] = report["issues"]
    assert filed["title"] == "[HEAL-A10] Tool inventory mismatch: rex (play-a10)"
    assert {"heal", "a10", "severity:critical", "play:play-a10"} <= set(filed["labels"])
    [body] = [b["body"] for b in bodies(result, "POST", "/issues")]
    assert "- [ ] **failed:** remote tools accessible \u2014 `missing: brave_search`" in body
    assert "<!-- healer:fingerprint=" in body
    [incident] = result.incidents
    analysis = incident.values["analysis"]
    assert "brave_search" in json.dumps(analysis)  # the model's own words name the tool
    assert all(line in body for line in analysis["evidence"])  # quoted verbatim from what it was shown
    assert report["notifications"] >= 1  # A10 is P0


def test_a_panic_alerts_discord_files_an_issue_and_asks_a_human() -> None:
    result, report = run("runtime-panic")
    [panic] = [view for view in result.incidents if view.values["finding"]["code"] == "R1"]
    assert panic.values["finding"]["severity"] == "critical" and panic.values["finding"]["priority"] == "P0"
    assert panic.values["issue"]["title"] == "[HEAL-R1] Panic or fatal error: blaze (play-panic)"
    assert "needs-human" in panic.values["issue"]["labels"]
    assert panic.waiting_for_human and panic.values["status"] == "escalated"
    events = [e["event"] for e in panic.values["timeline"]]
    assert events.index("issue filed") < events.index("notified") < events.index("escalated")
    alerts = [b["embeds"][0]["title"] for b in bodies(result, "POST", "/healer-replay")]
    assert "HEAL Alert: R1" in alerts
    assert report["status"] == "escalated"


def test_a_fix_is_proposed_in_a_draft_pr_ci_goes_green_and_the_issue_is_resolved() -> None:
    result, report = run("remediation-success")
    [pull] = report["pull_requests"]
    assert pull["draft"] is True and pull["ci"] == "success"
    [opened] = bodies(result, "POST", "/pulls")
    assert opened["body"].startswith("Fixes #1") and opened["head"].startswith("healer/") and opened["draft"]
    [blob] = bodies(result, "POST", "/git/blobs")
    fixed = json.loads(blob["content"])  # the model's cto-config.json parses: the trailing comma is gone
    assert fixed["agents"]["cleo"]["tools"]["remote"] == ["github_get_pull_request", "github_create_review"]
    [tree] = bodies(result, "POST", "/git/trees")
    assert [entry["path"] for entry in tree["tree"]] == ["cto-config.json"]
    assert bodies(result, "PATCH", "/issues/1") == [{"state": "closed", "state_reason": "completed"}]
    assert report["issues"][0]["state"] == "closed"
    assert report["status"] == "resolved"


def test_red_ci_max_iterations_times_hands_over_to_a_human() -> None:
    result, report = run("remediation-exhausted")
    [incident] = result.incidents
    attempts = incident.values["attempts"]
    assert [(a["n"], a["ci"]) for a in attempts] == [
        (1, "failure"),
        (2, "failure"),
    ]  # maxIterations is 2 here
    assert [p["number"] for p in report["pull_requests"]] == [2, 3]
    assert [b["head"] for b in bodies(result, "POST", "/pulls")] == [
        f"healer/{incident.fingerprint[:8]}-1",
        f"healer/{incident.fingerprint[:8]}-2",
    ]
    comments = [b["body"] for b in bodies(result, "POST", "/issues/1/comments")]
    assert [c.splitlines()[0] for c in comments] == [
        "### Remediation attempt #1",
        "### Remediation attempt #1: CI failed",
        "### Remediation attempt #2",
        "### Remediation attempt #2: CI failed",
        "### Needs a human",
    ]
    assert bodies(result, "POST", "/issues/1/labels") == [["needs-human"]]
    assert incident.waiting_for_human and incident.values["stage"] == "awaiting_human"
    assert "did not fix it (#1 CI failed, #2 CI failed)" in incident.values["escalation_reason"]
    assert report["status"] == "escalated"
    assert report["llm"]["calls"] == len(bodies(result, "POST", "/chat/completions"))


def test_an_init_event_without_a_declared_tool_files_one_a10_naming_it_and_the_failed_server() -> None:
    result, report = run("stream-preflight")
    [finding] = report["findings"]
    assert (finding["code"], finding["agent"], finding["missing_tools"]) == (
        "A10",
        "rex",
        ["firecrawl_scrape"],
    )
    # the init event (A10, and A12 for its failed server) and the later `No such tool available` tool_result
    # share one fingerprint: one incident, one issue
    assert result.session["occurrences"] == {finding["fingerprint"]: 3}
    assert writes(result, "POST", "/issues") == 1
    [filed] = report["issues"]
    assert filed["title"] == "[HEAL-A10] Tool inventory mismatch: rex (play-stream)"
    assert {"heal", "a10", "severity:critical", "play:play-stream"} <= set(filed["labels"])
    [sent] = bodies(result, "POST", "/issues")
    assert sent["title"] == filed["title"] and set(sent["labels"]) == set(filed["labels"])
    body = sent["body"]
    assert (
        "- [ ] **failed:** remote tools accessible \u2014 `not in the init event's tools: firecrawl_scrape`"
        in body
    )
    assert (
        "- [ ] **failed:** local servers initialised \u2014 `MCP servers not connected: firecrawl (failed)`"
        in body
    )
    assert "- [x] tools-server reachable \u2014 `\u2705 Health check: OK (HTTP 200)`" in body
    assert (
        "verdict: declared tools missing from the agent: firecrawl_scrape; MCP servers not connected: firecrawl (failed)"
        in body
    )
    evidence = body[body.index("## Evidence") :]
    assert "[claude system/init] tools: [Task, Bash," in evidence and "firecrawl=failed" in evidence
    assert f"<!-- healer:fingerprint={finding['fingerprint']} -->" in body
    alerts = [b["embeds"][0]["title"] for b in bodies(result, "POST", "/healer-replay")]
    assert alerts == ["HEAL Alert: A10"]
    # lifecycle: the init, the tool_result naming the missing tool, the final result
    assert report["agent_records"] == {"lifecycle": 3, "transcript": 14}


def test_a_codex_turn_failed_with_401_files_one_r5_issue() -> None:
    result, report = run("codex-auth")
    assert (
        json.loads((CASSETTES / "codex-auth" / "session.json").read_text())["cto_config"]["agents"]["blaze"][
            "cli"
        ]
        == "codex"
    )
    [finding] = report["findings"]
    assert (finding["code"], finding["severity"], finding["agent"]) == ("R5", "critical", "blaze")
    # `Reconnecting... n/5` and the `error` before `turn.failed` are not findings of their own
    assert result.session["occurrences"] == {finding["fingerprint"]: 1}
    assert report["agent_records"] == {"lifecycle": 9}  # Codex's thread/turn/error events
    assert writes(result, "POST", "/issues") == 1
    [sent] = bodies(result, "POST", "/issues")
    assert sent["title"] == "[HEAL-R5] Authentication failure: blaze (play-codex)"
    assert set(sent["labels"]) == {"heal", "r5", "severity:critical", "play:play-codex"}
    body = sent["body"]
    assert "- triage: turn.failed: exceeded retry limit, last status: 401 Unauthorized, request id: " in body
    assert '{"type":"error","message":"Reconnecting... 5/5"}' in body  # the evidence window, verbatim
    assert "## Pre-flight checklist" not in body  # R5 is not a pre-flight code
    alerts = [b["embeds"][0]["title"] for b in bodies(result, "POST", "/healer-replay")]
    assert alerts[0] == "HEAL Alert: R5"
    [incident] = result.incidents
    assert incident.waiting_for_human and report["pull_requests"] == []
    assert report["status"] == "escalated"


def test_a_long_healthy_transcript_full_of_errors_files_nothing() -> None:
    result, report = run("healthy-transcript")
    assert report["status"] == "healthy"
    assert report["findings"] == [] and report["issues"] == [] and report["notifications"] == 0
    assert report["lines_seen"] == 263 and report["passes"] >= 10
    assert report["agent_records"] == {"lifecycle": 2, "transcript": 251}  # none unreadable
    assert result.session["preflight_done"] == ["rex"]  # its init event listed every declared tool
    read = loki_lines("healthy-transcript")
    assert len(set(read)) == 263  # (qryn gives the lines at a page's last millisecond again; Healer dedupes)
    for text in (  # what the tool results and the agent's own words hold: none of it is a failure of the run
        "error[E0308]: mismatched types",
        "thread 'rate_limit::tests::refills_after_window' panicked at src/rate_limit.rs:56:9:",
        "test result: FAILED. 11 passed; 1 failed",
        "Error: connection refused",
        "ConnectionRefused",
        r"\"level\":\"ERROR\"",  # the server's JSON log, inside a tool result
        "Exit code 101",
    ):
        assert any(text in line for line in read), text
    assert any('"type":"result","subtype":"success","is_error":false' in line for line in read)
    assert writes(result, "POST", "") == 0 and writes(result, "PATCH", "") == 0


def test_one_tools_server_outage_that_hits_three_agents_is_one_issue_naming_them() -> None:
    result, report = run("tools-outage")
    [filed] = report["issues"]
    assert filed["title"] == "[HEAL-A12] MCP server init failure: rex, blaze (play-outage)"
    [body] = [b["body"] for b in bodies(result, "POST", "/issues")]
    assert (
        "| also affected | blaze (pod `" in body
        and "same endpoint cto-tools.cto.svc.cluster.local:8080" in body
    )
    comments = [b["body"] for b in bodies(result, "POST", "/comments")]
    assert any("### Also affected (same cause)" in c and "`cleo`" in c for c in comments)
    [incident] = [view for view in result.incidents if view.values["finding"]["agent"] == "rex"]
    assert [m["agent"] for m in incident.values["members"]] == ["blaze", "cleo"]
    assert incident.values["members_noted"] == 2
    events = [e["event"] for e in result.session["timeline"]]
    assert events.count("correlated") == 2


def test_a_restarted_runner_counts_the_llm_calls_spent_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    result = asyncio.run(replay(CASSETTES / "preflight-a10", database_url=url))
    spent = sum(view.values.get("llm_calls", 0) for view in result.incidents)
    assert spent >= 1

    async def restarted() -> int:
        async with open_checkpointer(url) as saver:
            budget = SessionBudget(limit=1)  # less than was spent: still counted in full
            context = HealerContext(settings=settings_from({"database_url": url}), budget=budget)
            runner = PlayRunner(result.loaded.session, context, saver, clock=lambda: 0)
            await runner.recover()
            return budget.used

    assert asyncio.run(restarted()) == spent
