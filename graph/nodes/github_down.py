"""What a step does when GitHub does not answer: nothing is lost, the incident waits and runs the step
again later (the scheduler wakes it at `wake_at_ns`); every write looks for itself first, so the retry
cannot write twice."""

from __future__ import annotations

from typing import Any

from graph.config import HealerSettings
from graph.state import event


def wake_later(
    now: int, error: Exception, settings: HealerSettings, *, after_ns: int | None = None, doing: str = ""
) -> dict[str, Any]:
    """Run the step again `after_ns` from now (default `HEALER_GITHUB_RETRY_S`)."""
    after_ns = after_ns if after_ns is not None else int(settings.github_retry_s * 1e9)
    detail = f"{doing}, will retry: {error}" if doing else str(error)
    return {"wake_at_ns": now + after_ns, "timeline": [event(now, "github unavailable", detail)]}
