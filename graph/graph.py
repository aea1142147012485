"""Healer's two graphs (DESIGN §3): wiring and routers only; each node lives in `graph/nodes/`.

- The session pass: collect → triage → open_incidents. One short invocation per pass on thread `play_id`.
- The incident: evaluate → file_issue → notify → remediate → verify → resolve, or escalate → await_human,
  on thread `<play_id>/<fingerprint>`. Each invocation starts at the step the incident has reached and runs
  until it is done, waits (CI pending, GitHub down: `wake_at_ns`) or needs a human (an interrupt).
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graph.context import HealerContext
from graph.nodes.await_human import await_human
from graph.nodes.collect import collect
from graph.nodes.escalate import escalate
from graph.nodes.evaluate import evaluate
from graph.nodes.file_issue import file_issue
from graph.nodes.note_recurrence import note_recurrence
from graph.nodes.notify import notify
from graph.nodes.open_incidents import open_incidents
from graph.nodes.remediate import remediate
from graph.nodes.resolve import resolve
from graph.nodes.triage import triage
from graph.nodes.verify import verify
from graph.state import Attempt, IncidentState, SessionState
from graph.triage.catalogue import Action

_FAILED = ("failure", "timeout", "rejected", "error")


def session_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph:
    builder = StateGraph(SessionState, context_schema=HealerContext)
    builder.add_node("collect", collect)
    builder.add_node("triage", triage)
    builder.add_node("open_incidents", open_incidents)
    builder.add_edge(START, "collect")
    builder.add_edge("collect", "triage")
    builder.add_edge("triage", "open_incidents")
    builder.add_edge("open_incidents", END)
    return builder.compile(checkpointer=checkpointer, name="healer-session")


def incident_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph:
    builder = StateGraph(IncidentState, context_schema=HealerContext)
    for name, node in (
        ("evaluate", evaluate),
        ("file_issue", file_issue),
        ("notify", notify),
        ("remediate", remediate),
        ("verify", verify),
        ("resolve", resolve),
        ("escalate", escalate),
        ("await_human", await_human),
        ("note_recurrence", note_recurrence),
    ):
        builder.add_node(name, node)
    builder.add_conditional_edges(START, next_step)
    builder.add_conditional_edges("evaluate", after_evaluate)
    builder.add_conditional_edges("file_issue", after_file_issue)
    builder.add_conditional_edges("notify", after_notify)
    builder.add_conditional_edges("remediate", after_remediate)
    builder.add_conditional_edges("verify", after_verify)
    builder.add_edge("resolve", END)
    builder.add_conditional_edges("escalate", after_escalate)
    builder.add_conditional_edges("await_human", after_decision)
    builder.add_conditional_edges("note_recurrence", _continue)
    return builder.compile(checkpointer=checkpointer, name="healer-incident")


# --- routers ------------------------------------------------------------------------------------------
# Each router's return type names every node it may route to: LangGraph draws the compiled graph's edges
# from it (`get_graph()`, Studio). `"__end__"` is END.

End = Literal["__end__"]
Resume = Literal[
    "evaluate", "file_issue", "notify", "escalate", "await_human", "verify", "remediate", "__end__"
]


def next_step(state: IncidentState) -> Literal[Resume, "note_recurrence"]:
    """Where an invocation starts: new evidence first, then the first step the incident has not finished."""
    if state.get("issue") and len(state.get("recurrences", [])) > state.get("recurrences_noted", 0):
        return "note_recurrence"
    if state.get("issue") and len(state.get("members", [])) > state.get("members_noted", 0):
        return "note_recurrence"
    return _continue(state)


def _continue(state: IncidentState) -> Resume:
    stage = state.get("stage", "new")
    if stage == "done":
        return END
    if "analysis" not in state:
        return "evaluate"
    if "issue" not in state:
        return "file_issue"
    if "notified" not in state:
        return "notify"
    if stage == "awaiting_human":
        return "escalate" if state.get("status") != "escalated" else "await_human"
    if stage == "verifying":
        return "verify"
    if stage == "remediating":
        return _remediate_or_escalate(state)
    return END


def after_evaluate(state: IncidentState) -> Literal["escalate", "file_issue", "remediate"]:
    if state.get("escalation_reason"):
        return "escalate" if state.get("issue") else "file_issue"
    if "issue" not in state:
        return "file_issue"
    return _remediate_or_escalate(state)  # a re-evaluation after a failed attempt


def after_file_issue(state: IncidentState) -> Literal["notify", "__end__"]:
    return "notify" if "issue" in state else END  # not filed: GitHub is down, try again later


def after_notify(
    state: IncidentState, runtime: Runtime[HealerContext]
) -> Literal["escalate", "remediate", "__end__"]:
    finding, analysis = state["finding"], state.get("analysis")
    if state.get("escalation_reason") and state.get("issue"):
        return "escalate"
    if finding["action"] == Action.ESCALATE:
        return "escalate"
    # A catalogue code whose action is `remediate` is a configuration or template failure a PR can fix; for
    # the others the evaluation decides. Without an analysis nothing is tried (there is no fix to brief).
    fixable = finding["action"] == Action.REMEDIATE or bool(analysis and analysis.get("automatable"))
    if not (fixable and analysis) or state.get("issue") is None or runtime.context.remediation_llm is None:
        return "escalate" if finding["priority"] == "P0" and state.get("issue") else END
    return "remediate"


def after_remediate(state: IncidentState) -> Literal["verify", "evaluate", "escalate", "__end__"]:
    if state.get("wake_at_ns"):
        return END
    if state.get("escalation_reason"):
        return "escalate"
    last = Attempt.model_validate(state["attempts"][-1])
    return "verify" if last.ci == "pending" else _retry_or_escalate(state)


def after_verify(state: IncidentState) -> Literal["resolve", "evaluate", "escalate", "__end__"]:
    if state.get("wake_at_ns"):
        return END
    last = Attempt.model_validate(state["attempts"][-1])
    return "resolve" if last.ci == "success" else _retry_or_escalate(state)


def after_escalate(state: IncidentState) -> Literal["await_human", "__end__"]:
    return END if state.get("wake_at_ns") else "await_human"  # GitHub down: escalate again later


def after_decision(state: IncidentState) -> Literal["remediate", "escalate", "resolve", "await_human"]:
    decision = (state.get("decision") or {}).get("action")
    if decision == "retry":
        return _remediate_or_escalate(state)
    if decision in ("resolve", "dismiss"):
        return "resolve"
    return "await_human"


def _attempts_left(state: IncidentState, max_iterations: int) -> int:
    counted = len(state.get("attempts", [])) - state.get("retry_from", 0)
    return max_iterations - counted


def _retry_or_escalate(state: IncidentState) -> Literal["evaluate", "escalate"]:
    """After a failed attempt: re-evaluate with what CI said, or hand over when the attempts are spent."""
    return "evaluate" if _attempts_left(state, state.get("max_iterations", 3)) > 0 else "escalate"


def _remediate_or_escalate(state: IncidentState) -> Literal["remediate", "escalate"]:
    return "remediate" if _attempts_left(state, state.get("max_iterations", 3)) > 0 else "escalate"
