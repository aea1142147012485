"""The moments the time-based rules could next fire (graph/triage/deadlines.py), checked against the
rules themselves: just before each moment the rule is quiet, just after it it fires, so the timed pass
the engine schedules for that moment is the one that finds it."""

from __future__ import annotations

from datetime import UTC, datetime

from graph.session import CtoConfig
from graph.triage import preflight
from graph.triage.deadlines import next_rule_change_ns
from graph.triage.preflight import AgentSpan
from graph.triage.pull_rules import pull_findings
from graph.triage.state_rules import state_findings

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
START = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * SECOND
AT = START.isoformat()


def run(name: str, agent: str, phase: str, *, pods: list[dict] | None = None, task: int = 1) -> dict:
    return {
        "name": name,
        "agent": agent,
        "task_id": task,
        "phase": phase,
        "terminal": False,
        "created_at": AT,
        "pods": pods or [],
    }


def codes_at(runs: list[dict], pulls: list[dict], now_ns: int) -> set[str]:
    found = state_findings("play", runs, now_ns)
    found += pull_findings("play", pulls, runs, lambda login: login, now_ns)
    return {finding.code for finding in found}


def test_each_state_rule_fires_just_after_its_moment_and_not_before() -> None:
    # Cleo runs (A8 after 15 min), Tess is stuck in Pending (A9 after 10 min); A3 does not concern them
    cases = [
        ([run("play-cleo-t2", "cleo", "Running")], "A8", 15 * MINUTE),
        ([run("play-tess-t3", "tess", "Pending")], "A9", 10 * MINUTE),
    ]
    for runs, code, after in cases:
        moment = next_rule_change_ns(runs, [], {}, [], START_NS)
        assert moment == START_NS + after, code
        assert code not in codes_at(runs, [], moment - SECOND)
        assert code in codes_at(runs, [], moment + SECOND)
        assert next_rule_change_ns(runs, [], {}, [], moment + SECOND) is None  # it has fired


def test_a_container_not_ready_is_judged_when_its_grace_ends() -> None:
    pod = {
        "name": "play-cleo-t2-x",
        "phase": "Running",
        "started_at": AT,
        "containers": [{"name": "agent", "ready": False, "state": "running"}],
    }
    runs = [run("play-cleo-t2", "cleo", "Running", pods=[pod])]
    moment = next_rule_change_ns(runs, [], {}, [], START_NS)
    assert moment == START_NS + 30 * SECOND
    assert "A2" not in codes_at(runs, [], moment - SECOND)
    assert "A2" in codes_at(runs, [], moment + SECOND)
    ready = [
        run("play-cleo-t2", "cleo", "Running", pods=[pod | {"containers": [{"name": "a", "ready": True}]}])
    ]
    assert next_rule_change_ns(ready, [], {}, [], START_NS) == START_NS + 15 * MINUTE  # only A8 is left


def test_no_commit_counts_from_the_last_commit_of_the_tasks_pull() -> None:
    runs = [run("play-rex-t1", "rex", "Running")]
    pull = {"task_id": 1, "number": 7, "last_commit_at": START.replace(minute=20).isoformat()}
    moment = next_rule_change_ns(runs, [pull], {}, [], START_NS + 21 * MINUTE)
    assert moment == START_NS + 35 * MINUTE  # 15 min after the commit; Rex's 45-min limit comes later
    assert "A3" not in codes_at(runs, [pull], moment - SECOND)
    assert "A3" in codes_at(runs, [pull], moment + SECOND)


def test_an_agent_without_inventory_is_judged_60_s_after_its_first_line() -> None:
    config = CtoConfig.model_validate(
        {"agents": {"rex": {"githubApp": "5DLabs-Rex", "tools": {"remote": ["a"]}}}}
    )
    spans = {"rex": AgentSpan(START_NS, START_NS + 5 * SECOND)}
    moment = next_rule_change_ns([], [], spans, [], START_NS + 5 * SECOND)
    assert moment == START_NS + 60 * SECOND

    def verdict(now_ns: int) -> preflight.Verdict:
        return preflight.check(config, [], spans, now_ns=now_ns)[0].verdict

    assert verdict(moment - SECOND) is preflight.Verdict.PENDING
    assert verdict(moment + SECOND) is preflight.Verdict.NO_INVENTORY
    assert next_rule_change_ns([], [], spans, ["rex"], START_NS) is None  # its verdict is final


def test_terminal_runs_and_finished_pods_have_no_moment() -> None:
    done = run("play-rex-t1", "rex", "Succeeded") | {"terminal": True}
    assert next_rule_change_ns([done], [], {}, [], START_NS) is None
