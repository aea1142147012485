"""await_human: the run stops here (a LangGraph `interrupt`) until a human decides through the API.

Decisions: `retry` (another round of up to maxIterations attempts), `resolve` (close the issue as fixed),
`dismiss` (close it as not planned). Anything else is refused and the run keeps waiting."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from graph.context import HealerContext
from graph.state import Decision, IncidentState, event


async def await_human(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    question = {
        "fingerprint": state["fingerprint"],
        "issue": (state.get("issue") or {}).get("url"),
        "reason": state.get("escalation_reason"),
        "choices": ["retry", "resolve", "dismiss"],
    }
    answer = interrupt(question)
    try:
        decision = Decision.model_validate(answer)
    except ValidationError as error:
        return {"timeline": [event(state["now_ns"], "decision refused", str(error.errors()[0]["msg"]))]}
    update: dict[str, Any] = {
        "decision": decision.model_dump(),
        "decisions": [*state.get("decisions", []), decision.model_dump()],
        "timeline": [
            event(
                state["now_ns"], "decided", f"{decision.action} by {decision.by}: {decision.note}".strip(": ")
            )
        ],
    }
    if decision.action == "retry":
        update |= {
            "stage": "remediating",
            "escalation_reason": None,
            "retry_from": len(state.get("attempts", [])),
        }
    return update
