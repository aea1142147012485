"""resolve: the incident is over (DESIGN §3, §6): a comment saying why, the issue closed. Healer never
merges; on green CI the pull request waits for a human's review."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph import issue
from graph.context import HealerContext
from graph.nodes.github_down import wake_later
from graph.state import Attempt, IncidentState, event
from tools.github import GitHubError


async def resolve(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    now, github = state["now_ns"], runtime.context.github
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    decision = state.get("decision") or {}
    dismissed = decision.get("action") == "dismiss"
    by = decision.get("by") if decision else None
    text = (
        issue.dismissal_comment(by, decision.get("note"))
        if dismissed
        else issue.resolution_comment(attempts[-1] if attempts else None, by)
    )
    filed = state.get("issue")
    if github is not None and filed:
        try:
            await asyncio.to_thread(lambda: github.comment(filed["number"], text, key="resolution"))
            await asyncio.to_thread(
                github.close_issue, filed["number"], None, "not_planned" if dismissed else "completed"
            )
        except GitHubError as error:
            return wake_later(now, error, runtime.context.settings)
    status = "closed" if dismissed else "resolved"
    closed = {"issue": {**filed, "state": "closed"}} if filed else {}
    return closed | {
        "status": status,
        "stage": "done",
        "wake_at_ns": None,
        "timeline": [event(now, status, text)],
    }
