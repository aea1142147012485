"""When a session's next timed step comes (runtime/engine.timed_step_in_s): every interval while what it
reads is not followed, else at the next moment a time rule could fire, the idle timeout, or the catch-up;
an incident's wait ending comes first in every case."""

from __future__ import annotations

from runtime.engine import DEADLINE_SLACK_S, Progress, timed_step_in_s

SECOND = 1_000_000_000
NOW = 1_800_000_000 * SECOND


def next_in(
    *, followed: bool = True, values: dict | None = None, wakes: list[int] | None = None, **progress
) -> float:
    return timed_step_in_s(
        interval_s=5.0,
        catchup_s=300.0,
        idle_timeout_s=3600.0,
        followed=followed,
        values=values or {},
        progress=Progress(**({"changed_ns": NOW} | progress)),
        wakes=wakes or [],
        now_ns=NOW,
    )


def test_a_followed_quiet_session_waits_for_the_catchup() -> None:
    assert next_in() == 300.0


def test_what_is_not_followed_is_polled_every_interval() -> None:
    assert next_in(followed=False) == 5.0
    assert next_in(values={"degraded": ["loki: 503"]}) == 5.0
    assert next_in(values={"more_lines": True}) == 5.0
    assert next_in(over=True) == 5.0


def test_a_rules_moment_brings_the_step_just_after_it() -> None:
    assert next_in(values={"rules_change_at_ns": NOW + 42 * SECOND}) == 42 + DEADLINE_SLACK_S
    assert next_in(values={"rules_change_at_ns": NOW + 1 * SECOND}) == 5.0  # never sooner than the interval
    assert next_in(values={"rules_change_at_ns": NOW + 900 * SECOND}) == 300.0


def test_the_idle_timeout_ends_a_session_on_time() -> None:
    assert next_in(changed_ns=NOW - 3500 * SECOND) == 100 + DEADLINE_SLACK_S


def test_an_incidents_wait_comes_first() -> None:
    assert next_in(wakes=[NOW + 60 * SECOND]) == 60.0
    assert next_in(followed=False, wakes=[NOW + 60 * SECOND]) == 5.0
