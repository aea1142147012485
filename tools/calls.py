"""Every call to an outside system, counted by outcome and timed, for Healer's `/metrics`.

prometheus_client's own Counter and Histogram in one process-wide registry: the clients wrap each logical
call (retries included) in `timed(system)`; the server exposes `REGISTRY` with its scrape-time figures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
CALLS = Counter(
    "healer_outside_calls", "Calls to outside systems by outcome", ["system", "outcome"], registry=REGISTRY
)
SECONDS = Histogram(
    "healer_outside_call_seconds",
    "Time a call to an outside system took, retries included",
    ["system"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600),  # the LLM's minutes at the top
    registry=REGISTRY,
)


def record(system: str, ok: bool, seconds: float) -> None:
    CALLS.labels(system, "ok" if ok else "error").inc()
    SECONDS.labels(system).observe(seconds)


@contextlib.contextmanager
def timed(system: str) -> Iterator[None]:
    """Count and time the block as one call to `system`; an exception counts it as an error."""
    began = time.perf_counter()
    try:
        yield
    except BaseException:
        record(system, False, time.perf_counter() - began)
        raise
    record(system, True, time.perf_counter() - began)
