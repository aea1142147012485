"""evaluate (LLM #1): a structured root-cause analysis of the finding (DESIGN §3).

The prompt is bounded whatever the log volume: the evidence is a window of lines around the finding,
trimmed from its edges until the whole prompt fits `evaluation_prompt_tokens`. Evidence the model quotes
is kept only if it is one of the lines it was shown, so an issue never carries an invented log line.
Without a model, or with the session's LLM budget spent, the incident goes on with the deterministic
triage and says why.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext, spent
from graph.llm import LlmError, Usage, conversation, counted, estimate_tokens, structured
from graph.prompts import render, template
from graph.state import Analysis, Attempt, IncidentState, event
from graph.triage.models import Finding
from tools.fence import fenced
from tools.redact import redact

CALLS_PER_EVALUATION = 2  # one answer and, if it does not validate, one correction


async def evaluate(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    llm = context.evaluation_llm
    if llm is None:
        return _without_model(state, "no LLM is configured (OPENAI_API_KEY or OPENAI_BASE_URL)")
    if why := spent(context, state, CALLS_PER_EVALUATION):
        return _without_model(state, why) | {"escalation_reason": why}
    messages = conversation(
        template("evaluation.system").template, prompt(state, context.settings.evaluation_prompt_tokens)
    )
    usage = Usage()
    try:
        analysis = await structured(llm, messages, Analysis, usage, tries=CALLS_PER_EVALUATION)
    except LlmError as error:
        return _without_model(state, str(error)) | counted(state, usage)
    finally:
        context.budget.give_back(CALLS_PER_EVALUATION - usage.calls)
    analysis = _verbatim(analysis, state["evidence"], Finding.model_validate(state["finding"]))
    again = bool(state.get("attempts"))
    return {
        "analysis": analysis.model_dump(mode="json"),
        "analysis_note": None,
        "timeline": [
            event(
                now,
                "re-evaluated" if again else "evaluated",
                f"{analysis.category}, {analysis.severity}, confidence {analysis.confidence:.2f}, "
                f"automatable: {analysis.automatable}: {analysis.summary}",
            )
        ],
    } | counted(state, usage)


def prompt(state: IncidentState, token_budget: int) -> str:
    """The user prompt, with as much evidence as fits the budget (lines nearest the finding kept)."""
    finding = Finding.model_validate(state["finding"])
    evidence = list(state["evidence"])
    system_tokens = estimate_tokens(template("evaluation.system").template)
    while True:
        text = _render(state, finding, evidence)
        if system_tokens + estimate_tokens(text) <= token_budget or not evidence:
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


def _verbatim(analysis: Analysis, evidence: list[str], finding: Finding) -> Analysis:
    shown = "\n".join(evidence) + "\n" + finding.text
    quoted = [redact(line.strip()) for line in analysis.evidence if line.strip() and line.strip() in shown]
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
