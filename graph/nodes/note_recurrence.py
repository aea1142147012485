"""note_recurrence: the failure was seen again (DESIGN §3, §5). Its new evidence goes into the incident as a
comment on its issue, never a second incident. Comments back off: on the 1st, 2nd, 4th, 8th… recurrence,
so an error logged every few seconds does not flood the issue. Findings of other agents that joined the
incident (same cause) are always a comment: each names someone else the failure hit."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.issue import members_comment
from graph.state import IncidentState, event
from tools.fence import fenced
from tools.github import GitHubError

EVIDENCE_SHOWN = 20


def worth_a_comment(count: int) -> bool:
    return count > 0 and count & (count - 1) == 0  # a power of two


async def note_recurrence(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    members, noted = state.get("members", []), state.get("members_noted", 0)
    if len(members) > noted:
        return await _note_members(state, runtime, members[noted:], len(members))
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


async def _note_members(
    state: IncidentState, runtime: Runtime[HealerContext], new: list[dict[str, Any]], total: int
) -> dict[str, Any]:
    now, github, filed = state["now_ns"], runtime.context.github, state.get("issue")
    if github is not None and filed:
        try:
            text = members_comment(new)
            await asyncio.to_thread(lambda: github.comment(filed["number"], text, key=f"members-{total}"))
        except GitHubError as error:
            return {"timeline": [event(now, "github unavailable", str(error))]}  # noted at the next pass
    who = ", ".join(str(m.get("agent") or m.get("pod") or "-") for m in new)
    return {"members_noted": total, "timeline": [event(now, "joined", f"same cause also hits {who}")]}
