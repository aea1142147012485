"""note_recurrence: the failure was seen again (DESIGN §3, §5). Its new evidence goes into the incident as a
comment on its issue, never a second incident. Comments back off: on the 1st, 2nd, 4th, 8th… recurrence,
so an error logged every few seconds does not flood the issue."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.state import IncidentState, event
from tools.fence import fenced
from tools.github import GitHubError

EVIDENCE_SHOWN = 20


def worth_a_comment(count: int) -> bool:
    return count > 0 and count & (count - 1) == 0  # a power of two


async def note_recurrence(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    now, github, filed = state["now_ns"], runtime.context.github, state.get("issue")
    seen = state.get("recurrences", [])
    count = len(seen)
    update: dict[str, Any] = {"recurrences_noted": count}
    if not worth_a_comment(count):
        return update
    latest = seen[-1]
    evidence = "\n".join(latest["evidence"][-EVIDENCE_SHOWN:])
    text = f"### Seen again ({count} times since this issue was filed)\n\n{fenced(evidence)}"
    if github is not None and filed:
        try:
            await asyncio.to_thread(lambda: github.comment(filed["number"], text, key=f"recurrence-{count}"))
        except GitHubError as error:
            return {
                "timeline": [event(now, "github unavailable", str(error))]
            }  # noted at the next recurrence
    return update | {"timeline": [event(now, "seen again", f"{count} recurrences")]}
