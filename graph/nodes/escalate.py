"""escalate: a human takes over (DESIGN §3, §7): label `needs-human`, a comment with the whole history,
a Discord alert. The run then waits in `await_human` for a decision through the API."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph import issue
from graph.context import HealerContext
from graph.nodes.github_down import wake_later
from graph.nodes.notify import alert_of, send_alert
from graph.state import Analysis, Attempt, IncidentState, event
from tools.github import GitHubError

_OUTCOME = {
    "failure": "CI failed",
    "timeout": "CI did not finish in time",
    "rejected": "refused by the remediation scope",
    "error": "the model failed",
}


def reason_of(state: IncidentState, max_iterations: int) -> str:
    if state.get("escalation_reason"):
        return str(state["escalation_reason"])
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    if attempts:
        outcomes = ", ".join(f"#{a.n} {_OUTCOME.get(a.ci, a.ci)}" for a in attempts)
        return f"{len(attempts)} remediation attempts of {max_iterations} did not fix it ({outcomes})"
    return "the finding is critical and not automatable"


async def escalate(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    reason = reason_of(state, state.get("max_iterations", 3))
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    analysis = Analysis.model_validate(state["analysis"]) if state.get("analysis") else None
    filed, github = state.get("issue"), context.github
    rounds = len(state.get("decisions", []))
    if github is not None and filed:
        try:
            await asyncio.to_thread(github.add_labels, filed["number"], ["needs-human"])
            text = issue.escalation_comment(reason, attempts, analysis)
            await asyncio.to_thread(lambda: github.comment(filed["number"], text, key=f"escalation-{rounds}"))
        except GitHubError as error:
            return wake_later(now, error, runtime.context.settings)
    sent = await send_alert(context, alert_of(state, f"Needs a human: {reason}"), now, "escalation")
    labelled = {"issue": {**filed, "labels": sorted({*filed["labels"], "needs-human"})}} if filed else {}
    return labelled | {
        "status": "escalated",
        "stage": "awaiting_human",
        "escalation_reason": reason,
        "wake_at_ns": None,
        "timeline": [event(now, "escalated", reason), *sent["timeline"]],
    }
