"""Correlation: findings with one cause become one incident (graph/triage/correlate.py, open_incidents)."""

from __future__ import annotations

import pytest

from graph.config import HealerSettings
from graph.context import HealerContext
from graph.nodes.open_incidents import open_incidents
from graph.triage.correlate import cause_keys, joins
from graph.triage.models import Finding

T0 = 1_795_497_600_000_000_000
URL_LINE = "06:00:00.200 [rex]   → Server URL: http://cto-tools.cto.svc.cluster.local:8080"


def finding(code: str, agent: str, text: str, **extra: object) -> Finding:
    return Finding(
        code=code,
        name="x",
        phase="preflight",
        severity="critical",
        priority="P0",
        action="remediate",
        line_no=1,
        agent=agent,
        pod=f"coderun-{agent}-x7k2p",
        text=text,
        matched=text,
        fingerprint=f"{code}-{agent}-{abs(hash(text)) % 10_000}",
        **extra,
    )


def test_an_unreachable_server_takes_its_endpoint_from_the_line_before() -> None:
    unreachable = finding("A12", "rex", "  ❌ Server unreachable (connection failed/timeout)")
    assert cause_keys(unreachable, [URL_LINE]) == {"endpoint cto-tools.cto.svc.cluster.local:8080"}
    assert cause_keys(unreachable) == frozenset()


def test_keys_name_tools_and_credential_kinds_but_not_every_error() -> None:
    missing = finding("A10", "rex", "missing: [brave_search]", missing_tools=("brave_search",))
    assert cause_keys(missing) == {"tool brave_search"}
    refused = finding("R5", "blaze", "exceeded retry limit, last status: 401 Unauthorized (openai)")
    assert cause_keys(refused) == {"credential openai"}
    panic = finding("R1", "rex", "panicked at src/main.rs:12:5 connecting to db:5432")
    assert cause_keys(panic) == frozenset()  # a panic naming a host is not a connectivity finding


def test_the_oldest_open_incident_with_a_shared_key_within_the_window_wins() -> None:
    blaze = finding("A12", "blaze", "tools-server unreachable at cto-tools:8080")
    heads = {
        "new": {"keys": ["endpoint cto-tools:8080"], "opened_ns": T0 + 5},
        "old": {"keys": ["endpoint cto-tools:8080", "tool x"], "opened_ns": T0},
        "other": {"keys": ["endpoint db:5432"], "opened_ns": T0 - 1},
    }
    keys = cause_keys(blaze)
    assert joins(blaze, keys, T0 + 10, heads) == ("old", "endpoint cto-tools:8080")
    assert joins(blaze, keys, T0 + 11 * 60 * 10**9, heads, window_ns=10 * 60 * 10**9) is None


class _Runtime:
    def __init__(self, window_s: int = 600) -> None:
        self.context = HealerContext(settings=HealerSettings(_env_file=None, correlation_window_s=window_s))


def _item(f: Finding, evidence: list[str]) -> dict:
    return {"finding": f.model_dump(mode="json"), "evidence": evidence, "count": 1}


@pytest.mark.anyio
@pytest.mark.parametrize("window_s", [600, 0])
async def test_two_agents_hit_by_one_outage_open_one_incident_that_lists_both(window_s: int) -> None:
    line = "  ❌ Server unreachable (connection failed/timeout)"
    rex, blaze = finding("A12", "rex", line), finding("A12", "blaze", line + " ")
    state = {
        "play_id": "p",
        "session": {},
        "now_ns": T0,
        "findings": [_item(rex, [URL_LINE, line]), _item(blaze, [URL_LINE.replace("rex", "blaze"), line])],
    }
    update = await open_incidents(state, _Runtime(window_s))
    if not window_s:  # correlation off: two incidents
        assert sorted(update["opened"]) == sorted([rex.fingerprint, blaze.fingerprint])
        return
    assert update["opened"] == [rex.fingerprint]
    members = update["seeds"][rex.fingerprint]["members"]
    assert [(m["agent"], m["cause"]) for m in members] == [
        ("blaze", "endpoint cto-tools.cto.svc.cluster.local:8080")
    ]
    assert update["incidents"][blaze.fingerprint]["joined"] == rex.fingerprint
    assert any(e["event"] == "correlated" for e in update["timeline"])

    later = {**state, "incidents": update["incidents"], "now_ns": T0 + 10**9, "findings": []}
    cleo = finding("A12", "cleo", line + "  ")
    later["findings"] = [_item(cleo, [URL_LINE.replace("rex", "cleo"), line])]
    again = await open_incidents(later, _Runtime(window_s))
    assert again["opened"] == [] and [m["agent"] for m in again["joined"][rex.fingerprint]] == ["cleo"]
    seen_again = {**later, "incidents": again["incidents"], "findings": [_item(blaze, [line])]}
    assert list((await open_incidents(seen_again, _Runtime(window_s)))["recurred"]) == [rex.fingerprint]
