"""One retry policy for every outside system, on tenacity: attempt, retry what the service says is
transient, wait what it asks for (else back off), give up cleanly with the last answer.

Each client says what is transient and how long to wait, and turns `GaveUp` into its own "unavailable"
error; the loop, its bound and its bookkeeping are tenacity's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_after_attempt

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


class GaveUp(Exception):
    """Every attempt failed: `response` is the last answer, or `error` why there was none."""

    def __init__(self, attempts: int, response: Any, error: BaseException | None) -> None:
        self.attempts, self.response, self.error = attempts, response, error
        super().__init__(f"gave up after {attempts} attempts")


def _outcome(state: RetryCallState) -> Any:
    """What the attempt ended with: its exception, or its result."""
    assert state.outcome is not None
    return state.outcome.exception() if state.outcome.failed else state.outcome.result()


def _policy(
    max_retries: int, transient: Callable[[Any], bool], delay_s: Callable[[int, Any], float]
) -> dict[str, Any]:
    def gave_up(state: RetryCallState) -> NoReturn:
        outcome = _outcome(state)
        failed = isinstance(outcome, BaseException)
        raise GaveUp(state.attempt_number, None if failed else outcome, outcome if failed else None)

    return {
        "stop": stop_after_attempt(max_retries + 1),
        "retry": lambda state: transient(_outcome(state)),
        "wait": lambda state: delay_s(state.attempt_number, _outcome(state)),
        "retry_error_callback": gave_up,
    }


def call_with_retries(
    call: Callable[[], T],
    *,
    max_retries: int,
    transient: Callable[[Any], bool],
    delay_s: Callable[[int, Any], float],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried at most `max_retries` times while `transient(exception or result)` says so,
    waiting `delay_s(attempt, exception or result)`; an exception that is not transient is raised as it is."""
    return Retrying(sleep=sleep, **_policy(max_retries, transient, delay_s))(call)


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    max_retries: int,
    delay_s: Callable[[int, httpx.Response | None], float],
    sleep: Callable[[float], Awaitable[None]],
    retryable: Callable[[int], bool] = RETRY_STATUSES.__contains__,
) -> httpx.Response:
    """The first answer that is not worth retrying (a success or a client error), after at most
    `max_retries` retries; `delay_s(attempt, response)` says how long to wait (response None: no answer)."""

    def transient(outcome: Any) -> bool:
        if isinstance(outcome, httpx.Response):
            return retryable(outcome.status_code)
        return isinstance(outcome, httpx.HTTPError)

    def delay(attempt: int, outcome: Any) -> float:
        return delay_s(attempt, outcome if isinstance(outcome, httpx.Response) else None)

    async def attempt() -> httpx.Response:  # a coroutine function: tenacity awaits only those
        return await send()

    retrying = AsyncRetrying(sleep=sleep, **_policy(max_retries, transient, delay))
    return await retrying(attempt)


def retry_after_s(
    headers: Mapping[str, str] | None, *, cap: float = math.inf, now: Callable[[], float] = time.time
) -> float | None:
    """The wait a `Retry-After` header asks for (delay-seconds or an HTTP date), at most `cap`; None when
    there is none or it cannot be read. Every client reads it here, whatever its headers' type."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)
