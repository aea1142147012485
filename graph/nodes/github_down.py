"""What a step does when GitHub does not answer: nothing is lost, the incident waits and runs the step
again later (the scheduler wakes it at `wake_at_ns`); every write looks for itself first, so the retry
cannot write twice."""

from __future__ import annotations

from typing import Any

from graph.state import event

RETRY_AFTER_NS = 60 * 1_000_000_000


def wake_later(
    now: int, error: Exception, *, after_ns: int = RETRY_AFTER_NS, doing: str = ""
) -> dict[str, Any]:
    detail = f"{doing}, will retry: {error}" if doing else str(error)
    return {"wake_at_ns": now + after_ns, "timeline": [event(now, "github unavailable", detail)]}
