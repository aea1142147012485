"""The graph's pure parts: settings, routers, the remediation scope, state rules, issue text, prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from graph import graph as wiring
from graph import issue, scope
from graph.config import ConfigFileError, HealerSettings, remediation_defaults, settings_from
from graph.context import HealerContext, SessionBudget, spent
from graph.llm import CompatibleChatOpenAI, estimate_tokens
from graph.nodes.evaluate import prompt
from graph.nodes.note_recurrence import worth_a_comment
from graph.seed import facts_about
from graph.state import Analysis, FileChange, ProposedChange
from graph.triage.models import Finding
from graph.triage.pull_rules import pull_findings, task_of
from graph.triage.state_rules import state_findings

NOW = 1_795_500_000_000_000_000
MINUTE = 60 * 1_000_000_000


def settings(**values: object) -> HealerSettings:
    return settings_from(values)


def test_the_skills_two_key_remediation_block_loads(tmp_path: Path) -> None:
    path = tmp_path / "cto-config.json"
    path.write_text(json.dumps({"defaults": {"remediation": {"maxIterations": 5, "syncTimeoutSecs": 120}}}))
    assert remediation_defaults(path).max_iterations == 5
    assert settings(cto_config=path, max_iterations=2).remediation().max_iterations == 2
    assert settings(cto_config=path).remediation().sync_timeout_secs == 120


def test_a_broken_cto_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cto-config.json"
    path.write_text('{"defaults": {"remediation": {"maxIterations": "many"}}}')
    with pytest.raises(ConfigFileError, match="maxIterations"):
        remediation_defaults(path)


def test_replays_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALER_MAX_ITERATIONS", "7")
    assert HealerSettings().max_iterations == 7
    assert settings().max_iterations is None


def _finding(**changes: object) -> Finding:
    values = {
        "code": "A10",
        "name": "Tool inventory mismatch",
        "phase": "preflight",
        "severity": "critical",
        "priority": "P0",
        "action": "remediate",
        "line_no": 3,
        "agent": "rex",
        "text": "WARN tool inventory mismatch - missing: [brave_search]",
        "matched": "tool inventory mismatch",
        "fingerprint": "0123456789abcdef",
        "missing_tools": ("brave_search",),
        "detail": "declared tools missing from the agent: brave_search",
    }
    return Finding.model_validate(values | changes)


def test_issue_title_labels_and_a_body_without_a_model() -> None:
    finding = _finding()
    assert issue.title(finding, "play-42") == "[HEAL-A10] Tool inventory mismatch: rex (play-42)"
    assert issue.labels(finding, "play-42") == ["heal", "a10", "severity:critical", "play:play-42"]
    body = issue.body(
        finding,
        play_id="play-42",
        repository="5dlabs/cto",
        namespace="cto",
        evidence=["07:00:02 WARN tool inventory mismatch"],
        facts=["pod rex-1: Running"],
        expected_tools=["brave_search", "read_file"],
        analysis=None,
        analysis_note="no LLM is configured",
    )
    assert "model analysis is unavailable: no LLM is configured" in body
    assert "**missing `brave_search`**" in body
    assert '{namespace="cto"}' in body


def _state(**values: object) -> dict:
    base = {"finding": _finding().model_dump(mode="json"), "max_iterations": 2, "stage": "new"}
    return base | values


def test_an_incident_starts_at_the_first_step_it_has_not_finished() -> None:
    assert wiring.next_step(_state()) == "evaluate"
    assert wiring.next_step(_state(analysis=None)) == "file_issue"
    assert wiring.next_step(_state(analysis=None, issue={"number": 1})) == "notify"
    filed = _state(analysis=None, issue={"number": 1}, notified=True)
    assert wiring.next_step(filed | {"stage": "verifying"}) == "verify"
    assert wiring.next_step(filed | {"stage": "awaiting_human", "status": "escalated"}) == "await_human"
    assert wiring.next_step(filed | {"stage": "done"}) == "__end__"


def test_failed_attempts_are_retried_until_max_iterations_then_escalated() -> None:
    failed = {"n": 1, "branch": "b", "ci": "failure"}
    assert wiring.after_verify(_state(attempts=[failed])) == "evaluate"
    assert wiring.after_verify(_state(attempts=[failed, failed | {"n": 2}])) == "escalate"
    green = {"n": 1, "branch": "b", "ci": "success"}
    assert wiring.after_verify(_state(attempts=[green])) == "resolve"
    # a human's `retry` opens a new round of attempts
    assert (
        wiring.after_decision(_state(attempts=[failed, failed], retry_from=2, decision={"action": "retry"}))
        == "remediate"
    )


def test_pending_ci_ends_the_invocation_instead_of_waiting() -> None:
    assert wiring.after_verify(_state(attempts=[{"n": 1, "branch": "b"}], wake_at_ns=NOW)) == "__end__"


def test_scope_refuses_what_was_not_read_workflows_traversal_and_big_changes() -> None:
    limits = settings(max_changed_lines=3)
    originals = {"cto-config.json": "{\n}\n", ".github/workflows/ci.yml": "on: push\n"}

    def change(path: str, content: str) -> ProposedChange:
        return ProposedChange(summary="s", files=[FileChange(path=path, content=content)])

    assert scope.problems(change("./cto-config.json", "{}\n"), originals, limits) == []
    assert "was not read" in scope.problems(change("src/main.rs", "x"), originals, limits)[0]
    assert "workflow" in scope.problems(change(".github/workflows/ci.yml", "x"), originals, limits)[0]
    assert "not a relative" in scope.problems(change("../etc/passwd", "x"), originals, limits)[0]
    assert "lines changed" in scope.problems(change("cto-config.json", "a\nb\nc\nd\n"), originals, limits)[0]
    assert "identical" in scope.problems(change("cto-config.json", "{\n}\n"), originals, limits)[0]


def test_state_rules_from_the_cluster() -> None:
    started = "2026-11-24T06:00:00+00:00"
    runs = [
        {
            "name": "play-rex-t1",
            "agent": "rex",
            "phase": "Running",
            "terminal": False,
            "created_at": started,
            "pods": [],
        },
        {
            "name": "play-cleo-t2",
            "agent": "cleo",
            "phase": "Running",
            "terminal": False,
            "created_at": started,
            "pods": [
                {
                    "name": "play-cleo-t2-bcd2f",
                    "phase": "Running",
                    "containers": [{"name": "agent", "reason": "CrashLoopBackOff", "state": "waiting"}],
                }
            ],
        },
        {
            "name": "play-tess-t3",
            "agent": "tess",
            "phase": "Pending",
            "terminal": False,
            "created_at": started,
            "pods": [],
        },
    ]
    start_ns = 1_795_500_000 * 1_000_000_000
    codes = {(f.code, f.agent) for f in state_findings("play", runs, start_ns + 50 * MINUTE)}
    assert codes == {("A8", "rex"), ("A7", "cleo"), ("A9", "tess"), ("A8", "cleo")}
    assert {f.code for f in state_findings("play", runs, start_ns + 5 * MINUTE)} == {"A7"}


def test_the_evaluation_prompt_is_bounded_whatever_the_evidence() -> None:
    state = {
        "play_id": "play-42",
        "finding": _finding().model_dump(mode="json"),
        "evidence": [f"07:00:{i:02} INFO line {i} " + "x" * 300 for i in range(200)],
        "facts": [],
        "expected_tools": ["brave_search"],
    }
    text = prompt(state, 1500)
    assert estimate_tokens(text) < 1500
    assert "line 100" in text or "line 99" in text  # the lines nearest the finding stay
    assert "Never follow" not in text  # that is the system prompt's, not repeated here


def test_requests_suit_openai_compatible_servers() -> None:
    llm = CompatibleChatOpenAI(model="m", api_key="k", base_url="http://llm:1/v1", max_tokens=50)
    payload = llm._get_request_payload(
        [HumanMessage("hi"), AIMessage(content="", tool_calls=[{"name": "f", "args": {}, "id": "1"}])]
    )
    assert payload["max_tokens"] == 50 and "max_completion_tokens" not in payload
    assert all(message["content"] is not None for message in payload["messages"])


def test_analysis_keeps_facts_apart_from_hypotheses() -> None:
    fields = list(Analysis.model_fields)
    assert fields.index("facts") < fields.index("hypotheses")
    assert Analysis.model_json_schema()["properties"]["evidence"]["description"].startswith(
        "at most five log lines"
    )


def test_later_evidence_is_noted_on_the_issue_with_backoff() -> None:
    filed = _state(analysis=None, issue={"number": 1}, notified=True)
    assert wiring.next_step(filed | {"recurrences": [{"at_ns": 1, "evidence": []}]}) == "note_recurrence"
    assert wiring.next_step(filed | {"recurrences": [{}], "recurrences_noted": 1}) == "__end__"
    assert [n for n in range(1, 20) if worth_a_comment(n)] == [1, 2, 4, 8, 16]


def test_llm_budgets_per_session_and_per_incident() -> None:
    context = HealerContext(settings=settings(incident_llm_tokens=1000), budget=SessionBudget(3))
    assert spent(context, {}, 2) is None
    assert "session's LLM budget of 3 calls" in (spent(context, {}, 2) or "")
    assert spent(context, {}, 1) is None  # a smaller request still fits
    context.budget.give_back(3)
    assert "incident's LLM budget of 1000 tokens" in (
        spent(context, {"prompt_tokens": 900, "completion_tokens": 100}, 1) or ""
    )


def test_a_pull_request_is_the_plays_when_it_names_one_of_its_tasks() -> None:
    tasks = {"3", "12"}
    assert task_of("feature/task-3-auth", [], tasks) == "3"
    assert task_of("main", ["task-12"], tasks) == "12"
    assert task_of("feature/task-31", [], tasks) is None  # task 31 is another play's
    assert task_of("healer/04059ff2-1", [], tasks) is None


def test_pull_request_rules() -> None:
    start = "2026-11-24T06:00:00+00:00"
    start_ns = 1_795_500_000 * 1_000_000_000

    def agent_of(login: str) -> str:
        return login.removesuffix("[bot]").removeprefix("5dlabs-")

    pull = {
        "number": 7,
        "head": "feature/task-3",
        "task_id": "3",
        "author": "5dlabs-rex[bot]",
        "last_commit_at": start,
        "reviews": [["5dlabs-tess[bot]", "APPROVED", start]] * 3,
        "commenters": [],
        "ci": "failure",
    }
    runs = [
        {
            "name": "r",
            "agent": "rex",
            "task_id": 3,
            "phase": "Running",
            "terminal": False,
            "created_at": start,
        },
        {
            "name": "c",
            "agent": "cleo",
            "task_id": 3,
            "phase": "Running",
            "terminal": False,
            "created_at": start,
        },
    ]
    found = {(f.code, f.agent) for f in pull_findings("play", [pull], runs, agent_of, start_ns + 20 * MINUTE)}
    assert found == {("A4", "tess"), ("A5", "rex"), ("A1", "cleo"), ("A3", "rex")}
    commented = pull | {
        "commenters": [["5dlabs-rex[bot]", start]],
        "reviews": [],
        "last_commit_at": "2026-11-24T06:10:00+00:00",
    }
    assert pull_findings("play", [commented], runs, agent_of, start_ns + 20 * MINUTE) == []


def test_the_ci_logs_are_offered_after_a_red_ci_only() -> None:
    import asyncio

    from graph.nodes.evaluate import _ci_logs
    from graph.state import Attempt

    class Checks:
        def failed_check_logs(self, ref: str) -> list[str]:
            return [f"log of {ref}"]

    context = HealerContext(settings=settings_from({}), github=Checks())  # type: ignore[arg-type]
    red = Attempt(n=1, branch="healer/fix-1", commit="abc123", ci="failure")
    assert asyncio.run(_ci_logs(context, red)()) == ["log of abc123"]
    for attempt in (red.model_copy(update={"ci": "success"}), red.model_copy(update={"commit": None}), None):
        assert _ci_logs(context, attempt) is None
    assert _ci_logs(HealerContext(settings=settings_from({})), red) is None  # no GitHub configured


def test_a_quoted_gap_of_a_bounded_tool_answer_is_not_kept_as_evidence() -> None:
    """The model quoted `… [17 lines omitted] …` from a search answer (ask_20): it is no log line."""
    from graph.nodes.evaluate import _verbatim
    from tools.llm_tools import bounded

    answer = bounded([f"06:01:39.{i:03d} [net] Log entry {i}" for i in range(400)], 200).splitlines()
    gap = next(line for line in answer if "lines omitted" in line)
    analysis = Analysis.model_validate(
        {
            "summary": "s", "root_cause": "r", "category": "infrastructure", "severity": "low",
            "confidence": 0.5, "automatable": False, "suggested_fix": "f", "facts": [],
            "evidence": [answer[0], gap],
        }
    )  # fmt: skip
    finding = Finding.model_validate(
        {
            "code": "ASK", "name": "q", "phase": "runtime", "severity": "medium", "priority": "P2",
            "action": "investigate", "line_no": None, "text": "q", "matched": "q", "fingerprint": "0" * 16,
        }
    )  # fmt: skip
    assert _verbatim(analysis, answer, finding).evidence == [answer[0]]


def test_the_llm_is_told_a_pods_newest_kubernetes_warnings() -> None:
    pod = {
        "name": "play-k-rex-t1-x1",
        "phase": "Pending",
        "containers": [],
        "warnings": [
            {"reason": "FailedMount", "message": "secret not found", "count": 1},
            {
                "reason": "FailedScheduling",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
                "count": 6,
            },
        ],
    }
    pass_values = {"coderuns": [{"name": "play-k-rex-t1", "agent": "rex", "phase": "Pending", "pods": [pod]}]}
    facts = facts_about(
        "rex", {"detail": "CodeRun play-k-rex-t1 is Pending 12 min after creation"}, pass_values
    )
    assert "pod play-k-rex-t1-x1 event FailedMount: secret not found" in facts
    assert (
        "pod play-k-rex-t1-x1 event FailedScheduling (×6): 0/3 nodes are available: 3 Insufficient memory."
        in facts
    )


def test_a_stuck_coderun_says_why_when_its_pod_has_a_warning() -> None:
    now = 1_795_500_000 * 1_000_000_000
    warning = {"reason": "FailedScheduling", "message": "0/3 nodes are available.", "count": 3}
    run = {
        "name": "play-k-rex-t1",
        "agent": "rex",
        "phase": "Pending",
        "created_at": "2026-11-24T05:00:00+00:00",
        "pods": [{"name": "play-k-rex-t1-x1", "phase": "Pending", "containers": [], "warnings": [warning]}],
    }
    [finding] = state_findings("play-k", [run], now)
    assert finding.code == "A9"
    assert finding.detail.endswith("; Kubernetes: FailedScheduling (×3): 0/3 nodes are available.")
    [quiet] = state_findings("play-k", [run | {"pods": [run["pods"][0] | {"warnings": []}]}], now)
    assert quiet.fingerprint == finding.fingerprint  # the why does not make it another incident
