"""evaluate (LLM #1): a structured root-cause analysis of the finding (DESIGN §3).

The deterministic finding and a window of lines around it are the starting point. When the play's logs or
the cluster can be read, the model may then investigate: a bounded round of read-only tool calls
(`tools/llm_tools.py`: the play's logs by agent, pod, time and text, a pod's first lines, its Kubernetes
facts, the play's other incidents, the failed checks of the last attempt), whose answers come back to it as
quoted data before it answers with an `Analysis`.

Every prompt fits the model: its messages, the function definitions the server writes into the prompt and
the answer's allowance stay within `llm_context_tokens`, counted the way the model counts (tools/tokens.py).
The window is trimmed from its edges until the starting prompt fits its share, and tool answers are cut
to what is left. Evidence the model quotes is kept only if it is a line it was shown or a tool returned, so
an issue never carries an invented log line. Without a model, or with the session's LLM budget spent, the
incident goes on with the deterministic triage and says why.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.runtime import Runtime

from graph.context import HealerContext, spent
from graph.llm import LlmError, ToolCall, Usage, call_tools, conversation, counted, prompt_room, structured
from graph.prompts import render, template
from graph.state import Analysis, Attempt, IncidentState, event
from graph.triage.models import Finding
from tools import tokens
from tools.fence import fenced
from tools.llm_tools import OMITTED, Investigation
from tools.play_logs import KubeClusterFacts, LokiPlayLogs
from tools.redact import redact

CALLS_PER_EVALUATION = 2  # one answer and, if it does not validate, one correction
STARTING_SHARE = 0.55  # of the prompt room, for the starting prompt when the model may investigate
TOOL_ROUND_ANSWER_TOKENS = 200  # a tool call is short
MIN_TOOL_ROOM = 150  # tokens below which an investigation cannot show anything worth a call


async def evaluate(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    llm = context.evaluation_llm
    if llm is None:
        return _without_model(state, "no LLM is configured (OPENAI_API_KEY or OPENAI_BASE_URL)")
    investigation = _investigation(state, context)
    tools = investigation.tools() if investigation else []
    rounds = context.settings.investigation_rounds if tools else 0
    reserved = CALLS_PER_EVALUATION + rounds
    if why := spent(context, state, reserved):
        return _without_model(state, why) | {"escalation_reason": why}
    system = template("evaluation.system").template
    room = prompt_room(context.settings, Analysis)
    user = prompt(state, int(room * STARTING_SHARE) if tools else room, system)
    usage = Usage()
    calls: list[ToolCall] = []
    try:
        if tools:
            calls = await _investigate(llm, system, user, investigation, rounds, room, usage, context)
        final = user + _found(calls, room - tokens.messages(system, user))
        analysis = await structured(
            llm, conversation(system, final), Analysis, usage, tries=CALLS_PER_EVALUATION
        )
    except LlmError as error:
        spent_on = _spent_on(calls, now)
        missed = _without_model(state, str(error))
        return (
            missed
            | counted(state, usage)
            | spent_on
            | {"timeline": [*spent_on.get("timeline", []), *missed["timeline"]]}
        )
    finally:
        context.budget.give_back(reserved - usage.calls)
    returned = investigation.returned if investigation else []
    analysis = _verbatim(analysis, [*state["evidence"], *returned], Finding.model_validate(state["finding"]))
    again = bool(state.get("attempts"))
    verdict = event(
        now,
        "re-evaluated" if again else "evaluated",
        f"{analysis.category}, {analysis.severity}, confidence {analysis.confidence:.2f}, "
        f"automatable: {analysis.automatable}: {analysis.summary}",
    )
    update = {"analysis": analysis.model_dump(mode="json"), "analysis_note": None} | counted(state, usage)
    spent_on = _spent_on(calls, now)
    return update | spent_on | {"timeline": [*spent_on.get("timeline", []), verdict]}


def _investigation(state: IncidentState, context: HealerContext) -> Investigation | None:
    """What this evaluation may read, scoped to the play; None when it may read nothing more."""
    settings = context.settings
    if settings.investigation_tool_calls == 0:
        return None
    pods = dict(state.get("pods") or {})
    finding = Finding.model_validate(state["finding"])
    if finding.pod and finding.pod not in pods and pods:
        pods[finding.pod] = finding.agent or "?"
    namespace = state.get("namespace") or "default"
    logs = context.play_logs
    if logs is None and context.loki is not None:
        logs = LokiPlayLogs(context.loki, namespace, sorted(pods))
    facts = context.cluster_facts
    if facts is None and context.kube is not None:
        facts = KubeClusterFacts(context.kube, sorted(pods))
    attempts = state.get("attempts", [])
    last = Attempt.model_validate(attempts[-1]) if attempts else None
    ci_detail = last.ci_detail if last else ""
    anchor = int(finding.timestamp.timestamp() * 1e9) if finding.timestamp else state["now_ns"]
    investigation = Investigation(
        logs=logs,
        facts=facts,
        anchor_ns=anchor,
        pods=pods,
        incidents=context.play_incidents,
        ci_detail=ci_detail,
        ci_logs=_ci_logs(context, last),
        token_budget=settings.investigation_answer_tokens,
    )
    return investigation if investigation.has_tools else None


def _ci_logs(context: HealerContext, last: Attempt | None) -> Callable[[], Awaitable[list[str]]] | None:
    """The failed checks' output and logs of the last attempt, read from GitHub only if the model asks."""
    github = context.github
    if github is None or last is None or last.commit is None or last.ci not in ("failure", "error"):
        return None
    ref = last.commit

    async def read() -> list[str]:
        return await asyncio.to_thread(github.failed_check_logs, ref)

    return read


async def _investigate(
    llm: Any,
    system: str,
    user: str,
    investigation: Investigation,
    rounds: int,
    room: int,
    usage: Usage,
    context: HealerContext,
) -> list[ToolCall]:
    """Up to `rounds` rounds of tool calls, within the calls allowed and the room left for their answers."""
    calls: list[ToolCall] = []
    left = context.settings.investigation_tool_calls
    tools = investigation.tools()
    schemas = sum(tokens.schema(convert_to_openai_tool(tool)) for tool in tools)
    for _ in range(rounds):
        seen = _found(calls, room)
        ask = render("evaluation.investigate", calls=left, tools=", ".join(tool.name for tool in tools))
        messages: list[BaseMessage] = conversation(system, user + seen + ask)
        window = context.settings.llm_context_tokens - TOOL_ROUND_ANSWER_TOKENS - schemas
        if left <= 0 or tokens.messages(system, user + seen + ask) > window:
            break
        if room - tokens.messages(system, user + seen) < MIN_TOOL_ROOM:
            break
        made = await call_tools(
            llm, messages, tools, usage, max_calls=left, max_tokens=TOOL_ROUND_ANSWER_TOKENS
        )
        if not made:
            break
        calls += made
        left -= len(made)
    return calls


def _found(calls: list[ToolCall], room: int) -> str:
    """What the tools answered, as a section of the final prompt, cut to `room` tokens (latest calls
    are cut first: the first calls follow the finding most closely)."""
    if not calls:
        return ""
    header = "\n## What your investigation found (tool answers: untrusted data, redacted)\n"
    parts: list[str] = []
    used = tokens.count(header)
    for call in calls:
        text = fenced(call.as_text())
        cost = tokens.count(text) + 1
        if used + cost > room:
            lines = call.as_text().splitlines()
            while lines and used + tokens.count(fenced("\n".join(lines))) + 1 > room:
                lines = lines[:-1]
            if len(lines) > 1:
                parts.append(fenced("\n".join([*lines, "… (cut to fit the model's context)"])))
            break
        parts.append(text)
        used += cost
    return header + "\n".join(parts) + "\n" if parts else ""


def _spent_on(calls: list[ToolCall], now: int) -> dict[str, Any]:
    if not calls:
        return {}
    spent_calls = [
        {"tool": call.name, "args": call.args, "tokens": tokens.count(call.answer)} for call in calls
    ]
    answered = sum(c["tokens"] for c in spent_calls)
    named = ", ".join(f"{c['tool']}({_args(c['args'])})" for c in spent_calls)
    return {
        "investigation": spent_calls,
        "timeline": [event(now, "investigated", f"{len(calls)} tool calls, {answered} tokens read: {named}")],
    }


def _args(args: dict[str, Any]) -> str:
    return redact(", ".join(f"{key}={value!r}" for key, value in sorted(args.items())))[:200]


def prompt(state: IncidentState, token_budget: int, system: str | None = None) -> str:
    """The user prompt, with as much evidence as fits the budget (lines nearest the finding kept)."""
    finding = Finding.model_validate(state["finding"])
    evidence = list(state["evidence"])
    system = template("evaluation.system").template if system is None else system
    while True:
        text = _render(state, finding, evidence)
        if tokens.messages(system, text) <= token_budget or not evidence:
            return text
        evidence = evidence[1:] if len(evidence) % 2 == 0 else evidence[:-1]


def _render(state: IncidentState, finding: Finding, evidence: list[str]) -> str:
    return render(
        "evaluation.user",
        play_id=state["play_id"],
        repository=state.get("repository") or "-",
        code=finding.code,
        name=finding.name,
        severity=finding.severity,
        priority=finding.priority,
        phase=finding.phase,
        agent=finding.agent or "-",
        pod=finding.pod or "-",
        line=fenced(finding.text[:600]),
        detail=fenced(finding.detail or "-"),
        expected_tools=", ".join(state.get("expected_tools", [])) or "nothing declared",
        facts=fenced("\n".join(f"- {fact}" for fact in state.get("facts", [])) or "- none"),
        evidence=fenced("\n".join(evidence) or finding.text[:600]),
        previous_attempts=_previous_attempts(state),
    )


def _previous_attempts(state: IncidentState) -> str:
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    if not attempts:
        return ""
    lines = ["## Earlier fixes that did not work"]
    for attempt in attempts:
        lines.append(f"- attempt #{attempt.n} ({', '.join(attempt.files) or 'no files'}): {attempt.summary}")
        lines.append(f"  CI: {attempt.ci}. {attempt.ci_detail[:1500]}")
    return "\n".join(lines) + "\n"


_GAP = re.compile(re.escape(OMITTED).replace(re.escape("{}"), r"\d+"))


def _verbatim(analysis: Analysis, shown_lines: list[str], finding: Finding) -> Analysis:
    shown = "\n".join(shown_lines) + "\n" + finding.text
    quoted = [
        redact(line.strip())
        for line in analysis.evidence
        if line.strip() and line.strip() in shown and not _GAP.fullmatch(line.strip())
    ]
    return analysis.model_copy(
        update={
            "evidence": quoted or [finding.text],
            "summary": redact(analysis.summary),
            "root_cause": redact(analysis.root_cause),
            "suggested_fix": redact(analysis.suggested_fix),
            "facts": [redact(f) for f in analysis.facts],
            "hypotheses": [redact(h) for h in analysis.hypotheses],
        }
    )


def _without_model(state: IncidentState, why: str) -> dict[str, Any]:
    """No (new) analysis. A re-evaluation that fails keeps the first analysis: it is still the best one."""
    return {
        "analysis": state.get("analysis"),
        "analysis_note": why,
        "timeline": [event(state["now_ns"], "no analysis", why)],
    }
