"""When the time-based rules could next conclude otherwise with nothing else changed (issue 12): the
sessions' timed passes are due then, not every few seconds, while their tails and watches say at once
what changes. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graph.triage.preflight import AgentSpan, inventory_deadlines
from graph.triage.pull_rules import pull_deadlines
from graph.triage.state_rules import state_deadlines


def next_rule_change_ns(
    coderuns: list[dict[str, Any]],
    pulls: Iterable[dict[str, Any]],
    spans: dict[str, AgentSpan],
    preflight_done: Iterable[str],
    now_ns: int,
) -> int | None:
    """The earliest moment after `now_ns` at which A2 (readiness), A3, A8, A9 or A10 (no inventory) could
    fire on the state as it is; None when none can."""
    moments = [
        *state_deadlines(coderuns),
        *pull_deadlines(pulls, coderuns),
        *inventory_deadlines(spans, preflight_done),
    ]
    return min((moment for moment in moments if moment > now_ns), default=None)
