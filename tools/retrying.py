"""The retry loop the HTTP clients share: send, retry what the service says is transient, give up cleanly.

Each client keeps its own policy (which statuses, how long to wait) and turns `GaveUp` into its own
"unavailable" error; the loop itself, and its bound, live here once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class GaveUp(Exception):
    """Every attempt failed: `response` is the last answer, or `error` why there was none."""

    def __init__(self, attempts: int, response: httpx.Response | None, error: httpx.HTTPError | None) -> None:
        self.attempts, self.response, self.error = attempts, response, error
        super().__init__(f"gave up after {attempts} attempts")


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
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await send()
        except httpx.HTTPError as error:
            if attempt > max_retries:
                raise GaveUp(attempt, None, error) from None
            await sleep(delay_s(attempt, None))
            continue
        if not retryable(response.status_code):
            return response
        if attempt > max_retries:
            raise GaveUp(attempt, response, None)
        await sleep(delay_s(attempt, response))


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
