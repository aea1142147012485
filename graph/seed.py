"""What an incident starts from: the finding and its evidence from the pass that saw it, the facts the
pass knows about the agent's CodeRun and pods, and the tools the session declared for the agent."""

from __future__ import annotations

from graph.config import HealerSettings
from graph.session import SessionStart
from graph.state import Json
from graph.triage.checklist import PREFLIGHT_CODES, preflight_checklist
from graph.triage.preflight import declared_tools


def incident_input(
    session: SessionStart, seed: Json, pass_values: Json, now_ns: int, settings: HealerSettings
) -> Json:
    finding = seed["finding"]
    agent = finding.get("agent")
    return {
        "play_id": session.play_id,
        "fingerprint": finding["fingerprint"],
        "repository": session.repository,
        "namespace": session.namespace,
        "now_ns": now_ns,
        "finding": finding,
        "evidence": seed["evidence"],
        "facts": facts_about(agent, finding, pass_values),
        "expected_tools": expected_tools(session, agent),
        "pods": dict(pass_values.get("pod_agents", {})),
        "members": list(seed.get("members", [])),
        "members_noted": len(seed.get("members", [])),
        "checklist": checklist_for(session, finding, pass_values),
        "task_id": coderun_task(agent, pass_values),
        **_bounds(settings),
        "stage": "new",
        "status": "open",
        "timeline": [],
    }


def _bounds(settings: HealerSettings) -> Json:
    """cto-config.json's remediation bounds, read once for the incident's whole life."""
    bounds = settings.remediation()
    return {"max_iterations": bounds.max_iterations, "sync_timeout_secs": bounds.sync_timeout_secs}


def coderun_task(agent: str | None, pass_values: Json) -> str | None:
    """The task the agent's CodeRun works on (its `task-id` label), if the pass saw it."""
    for run in pass_values.get("coderuns", []):
        if agent and run.get("agent") == agent and run.get("task_id") is not None:
            return str(run["task_id"])
    return None


def expected_tools(session: SessionStart, agent: str | None) -> list[str]:
    if agent is None:
        return []
    remote, local = declared_tools(session.cto_config).get(agent.lower(), (set(), {}))
    return sorted(remote | set().union(*local.values()))


def checklist_for(session: SessionStart, finding: Json, pass_values: Json) -> list[Json]:
    """The pre-flight checklist of a pre-flight finding, from the agent's inventory and diagnostics lines."""
    if finding.get("code") not in PREFLIGHT_CODES:
        return []
    agent = finding.get("agent")
    lines = [line for line in pass_values.get("inventory", []) if line.get("agent") == agent]
    items = preflight_checklist(finding, lines, expected_tools(session, agent))
    return [item.to_json() for item in items]


def facts_about(agent: str | None, finding: Json, pass_values: Json) -> list[str]:
    facts: list[str] = []
    if finding.get("detail"):
        facts.append(f"triage: {finding['detail']}")
    if finding.get("missing_tools"):
        facts.append(f"tools declared but not available to {agent}: {', '.join(finding['missing_tools'])}")
    for run in pass_values.get("coderuns", []):
        if agent and run.get("agent") != agent:
            continue
        facts.append(
            f"CodeRun {run['name']} (task {run.get('task_id')}): phase {run.get('phase') or 'unknown'}"
        )
        for pod in run.get("pods", []):
            states = ", ".join(
                f"{c['name']} {c['state']}"
                + (f" ({c['reason']})" if c.get("reason") else "")
                + (f", {c['restart_count']} restarts" if c.get("restart_count") else "")
                for c in pod.get("containers", [])
            )
            facts.append(f"pod {pod['name']}: {pod['phase']}" + (f"; containers: {states}" if states else ""))
            facts += [
                f"pod {pod['name']} event {event['reason']}"
                + (f" (×{event['count']})" if event.get("count", 1) > 1 else "")
                + f": {event['message'][:300]}"
                for event in (pod.get("warnings") or [])[-2:]
            ]
    return facts[:12]
