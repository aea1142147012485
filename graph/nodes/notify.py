"""notify: an alert for P0 and P1 findings (DESIGN §7), with a link to the issue, on every channel the
deployment configured (Discord, Slack).

A chat is not GitHub: a resumed run that was killed between the post and the checkpoint alerts again,
which is the better failure for a page. An unreachable channel is noted and the incident goes on."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.state import Analysis, IncidentState, event
from graph.triage.models import Finding
from tools.alerts import Alert, deserves_alert
from tools.webhooks import WebhookRefused, WebhookUnavailable


def alert_of(state: IncidentState, summary: str | None = None) -> Alert:
    finding = Finding.model_validate(state["finding"])
    analysis = Analysis.model_validate(state["analysis"]) if state.get("analysis") else None
    filed = state.get("issue") or {}
    return Alert(
        code=finding.code,
        severity=finding.severity,
        priority=finding.priority,
        play_id=state["play_id"],
        agent=finding.agent,
        summary=summary or (analysis.summary if analysis else f"{finding.name}: {finding.matched}"),
        issue_url=filed.get("url"),
    )


async def send_alert(context: HealerContext, alert: Alert, now: int, what: str) -> dict[str, Any]:
    channels = [
        (name, notifier)
        for name, notifier in (("Discord", context.discord), ("Slack", context.slack))
        if notifier is not None and notifier.enabled
    ]
    if not channels:
        return {"timeline": [event(now, "not notified", "neither Discord nor Slack is configured")]}
    timeline = []
    for name, notifier in channels:
        try:
            await notifier.send(alert)
        except (WebhookRefused, WebhookUnavailable) as error:
            timeline.append(event(now, "notification failed", str(error)))
        else:
            timeline.append(event(now, "notified", f"{name}: {what}"))
    return {"timeline": timeline}


async def notify(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    now = state["now_ns"]
    finding = Finding.model_validate(state["finding"])
    if not deserves_alert(finding.priority):
        return {"notified": False}
    sent = await send_alert(
        runtime.context, alert_of(state), now, f"HEAL Alert: {finding.code} ({finding.priority})"
    )
    return {"notified": True} | sent
