"""One retry policy and one reading of `Retry-After` for every client (tools/retrying.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tools.retrying import GaveUp, call_with_retries, retry_after_s


class Flaky(Exception):
    pass


def flaky(failures: int, calls: list[int]):
    def call() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise Flaky(f"attempt {len(calls)}")
        return "answer"

    return call


def at_once(call: Any, max_retries: int, transient: Any) -> Any:
    """`call_with_retries` with no waits."""
    return call_with_retries(
        call, max_retries=max_retries, transient=transient, delay_s=lambda *_: 0.0, sleep=lambda _s: None
    )


def test_a_transient_failure_is_retried_with_the_waits_asked_for() -> None:
    calls: list[int] = []
    slept: list[float] = []
    answer = call_with_retries(
        flaky(2, calls),
        max_retries=3,
        transient=lambda outcome: isinstance(outcome, Flaky),
        delay_s=lambda attempt, _outcome: 10.0 * attempt,
        sleep=slept.append,
    )
    assert (answer, len(calls), slept) == ("answer", 3, [10.0, 20.0])


def test_giving_up_keeps_the_last_failure_and_counts_every_attempt() -> None:
    calls: list[int] = []
    with pytest.raises(GaveUp) as gave_up:
        at_once(flaky(9, calls), 2, lambda _o: True)
    assert gave_up.value.attempts == 3 and len(calls) == 3
    assert str(gave_up.value.error) == "attempt 3" and gave_up.value.response is None


def test_a_failure_that_is_not_transient_is_raised_at_once() -> None:
    calls: list[int] = []
    with pytest.raises(Flaky, match="attempt 1"):
        at_once(flaky(9, calls), 5, lambda _o: False)
    assert len(calls) == 1


def test_a_transient_answer_is_retried_and_the_last_one_kept() -> None:
    answers = iter([503, 503, 503])
    with pytest.raises(GaveUp) as gave_up:
        at_once(lambda: next(answers), 2, lambda status: status == 503)
    assert (gave_up.value.attempts, gave_up.value.response, gave_up.value.error) == (3, 503, None)


NOW = 1_795_497_600.0  # 2026-11-24T05:20:00Z


def test_seconds_and_http_dates_are_read_whatever_the_header_case() -> None:
    assert retry_after_s({"Retry-After": "7"}) == 7.0
    assert retry_after_s({"retry-after": "1.5"}) == 1.5
    assert retry_after_s({"RETRY-AFTER": "Tue, 24 Nov 2026 05:20:30 GMT"}, now=lambda: NOW) == 30.0


def test_waits_are_capped_and_never_negative() -> None:
    assert retry_after_s({"Retry-After": "9000"}, cap=300.0) == 300.0
    assert retry_after_s({"Retry-After": "Tue, 24 Nov 2026 05:00:00 GMT"}, now=lambda: NOW) == 0.0
    assert retry_after_s({"Retry-After": "-3"}) == 0.0
    assert retry_after_s({"Retry-After": "120"}) == 120.0


def test_no_or_unreadable_header_means_no_hint() -> None:
    assert retry_after_s(None) is None
    assert retry_after_s({}) is None
    assert retry_after_s({"Retry-After": " "}) is None
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({"Retry-After": "nan"}) is None
