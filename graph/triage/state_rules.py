"""State rules (DESIGN §4.4) over what Kubernetes says about a play's CodeRuns and pods. Pure, no I/O.

Implemented: A2 silent failure, A7 pod failed / CrashLoopBackOff, A8 step past its agent's timeout, A9 a
CodeRun that never got going (not running and not terminal 10 min after it was created: DESIGN's "not
terminal after 10 min" read literally would fire on every healthy Rex run, whose budget is 45 min).
Healer's own runs and excluded pods never reach here (tools/kubernetes.py leaves them out). A pod's
newest Warning event, when it has one, follows what a rule concluded: the why Kubernetes gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from graph.triage.catalogue import PRIORITY_OF_SEVERITY, Action, Phase, Severity
from graph.triage.fingerprint import fingerprint, workload_family
from graph.triage.models import Finding, timestamp_of

MINUTE_NS = 60 * 1_000_000_000
GRACE_NS = 30 * 1_000_000_000
RESTARTS_LIMIT = 3
STUCK_AFTER_NS = 10 * MINUTE_NS
AGENT_TIMEOUT_MIN = {"rex": 45, "blaze": 45, "cleo": 15, "tess": 30, "cipher": 15, "atlas": 20}
DEFAULT_TIMEOUT_MIN = 60
_RULES: dict[str, tuple[str, Severity, Action]] = {
    "A2": ("Silent failure", Severity.HIGH, Action.INVESTIGATE),
    "A7": ("Pod failed", Severity.HIGH, Action.INVESTIGATE),
    "A8": ("Step past its timeout", Severity.MEDIUM, Action.ESCALATE),
    "A9": ("CodeRun stuck", Severity.MEDIUM, Action.ESCALATE),
}


def state_findings(play_id: str, coderuns: Iterable[dict[str, Any]], now_ns: int) -> list[Finding]:
    """The findings the cluster's state shows at `now_ns` (one per rule and CodeRun or pod)."""
    found: list[Finding] = []
    for run in coderuns:
        agent = run.get("agent") or workload_family(run["name"])
        for pod in run.get("pods", []):
            if detail := _failed(pod):
                found.append(_finding(play_id, "A7", agent, pod["name"], detail + _why(pod), now_ns))
            elif detail := _silent_failure(pod, now_ns):
                found.append(_finding(play_id, "A2", agent, pod["name"], detail + _why(pod), now_ns))
        if run.get("terminal"):
            continue
        age_ns = _age_ns(run.get("created_at"), now_ns)
        if age_ns is None:
            continue
        limit_min = AGENT_TIMEOUT_MIN.get(agent, DEFAULT_TIMEOUT_MIN)
        if run.get("phase") == "Running" and age_ns > limit_min * MINUTE_NS:
            detail = (
                f"CodeRun {run['name']} has run {age_ns // MINUTE_NS} min; {agent}'s limit is {limit_min} min"
            )
            found.append(_finding(play_id, "A8", agent, run["name"], detail, now_ns))
        elif run.get("phase") != "Running" and age_ns > STUCK_AFTER_NS:
            detail = f"CodeRun {run['name']} is {run.get('phase') or 'without a phase'} {age_ns // MINUTE_NS} min after creation"
            why = next((_why(pod) for pod in run.get("pods", []) if pod.get("warnings")), "")
            found.append(_finding(play_id, "A9", agent, run["name"], detail + why, now_ns))
    return found


def state_deadlines(coderuns: Iterable[dict[str, Any]]) -> list[int]:
    """When the rules above would conclude otherwise by time alone, the cluster unchanged: a container
    not ready past its grace (A2), a run past its agent's limit (A8) or stuck (A9)."""
    moments: list[int] = []
    for run in coderuns:
        for pod in run.get("pods", []):
            started = _at_ns(pod.get("started_at"))
            unready = any(not container.get("ready") for container in pod.get("containers", []))
            if pod.get("phase") == "Running" and started is not None and unready:
                moments.append(started + GRACE_NS)
        created = _at_ns(run.get("created_at"))
        if run.get("terminal") or created is None:
            continue
        agent = run.get("agent") or workload_family(run["name"])
        if run.get("phase") == "Running":
            moments.append(created + AGENT_TIMEOUT_MIN.get(agent, DEFAULT_TIMEOUT_MIN) * MINUTE_NS)
        else:
            moments.append(created + STUCK_AFTER_NS)
    return moments


def _why(pod: dict[str, Any]) -> str:
    """What the pod's newest Warning event says (the scheduler, the kubelet, an eviction), to follow a
    rule's conclusion: `; Kubernetes: FailedScheduling (×3): 0/3 nodes are available: …`."""
    warnings = pod.get("warnings") or []
    if not warnings:
        return ""
    newest = warnings[-1]
    count = f" (×{newest['count']})" if newest.get("count", 1) > 1 else ""
    return f"; Kubernetes: {newest['reason']}{count}: {newest['message'][:300]}"


def _failed(pod: dict[str, Any]) -> str | None:
    if pod.get("phase") == "Failed":
        codes = [c.get("exit_code") for c in pod.get("containers", []) if c.get("exit_code")]
        return f"pod {pod['name']} failed" + (f" (exit code {codes[0]})" if codes else "")
    for container in pod.get("containers", []):
        if container.get("reason") == "CrashLoopBackOff":
            why = f", last exit: {container.get('last_reason')}" if container.get("last_reason") else ""
            return f"container {container['name']} of pod {pod['name']} is in CrashLoopBackOff{why}"
    return None


def _silent_failure(pod: dict[str, Any], now_ns: int) -> str | None:
    if pod.get("phase") != "Running":
        return None
    started = _age_ns(pod.get("started_at"), now_ns)
    for container in pod.get("containers", []):
        name = container["name"]
        if container.get("state") == "terminated" and (container.get("exit_code") or 0) != 0:
            return f"container {name} exited {container['exit_code']} while pod {pod['name']} says Running"
        if container.get("restart_count", 0) >= RESTARTS_LIMIT:
            return f"container {name} of pod {pod['name']} restarted {container['restart_count']} times"
        if not container.get("ready") and started is not None and started > GRACE_NS:
            return (
                f"container {name} of pod {pod['name']} is not ready {started // 1_000_000_000} s after start"
            )
    return None


def _age_ns(iso: str | None, now_ns: int) -> int | None:
    then = _at_ns(iso)
    return None if then is None else now_ns - then


def _at_ns(iso: str | None) -> int | None:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000_000) if iso else None


def _finding(play_id: str, code: str, agent: str, subject: str, detail: str, now_ns: int) -> Finding:
    name, severity, action = _RULES[code]
    pod = subject if code in ("A2", "A7") else None
    return rule_finding(
        play_id, code, (name, severity, action), agent, workload_family(subject), detail, now_ns, pod
    )


def rule_finding(
    play_id: str,
    code: str,
    rule: tuple[str, Severity, Action],
    agent: str,
    key: str,
    detail: str,
    now_ns: int,
    pod: str | None = None,
) -> Finding:
    """A finding of a state rule: what it concluded is its text; `key` names its subject for the fingerprint."""
    name, severity, action = rule
    return Finding(
        code=code,
        name=name,
        phase=Phase.RUNTIME,
        severity=severity,
        priority=PRIORITY_OF_SEVERITY[severity],
        action=action,
        line_no=None,
        timestamp=timestamp_of(now_ns),
        agent=agent,
        pod=pod,
        text=detail,
        matched=detail,
        fingerprint=fingerprint(play_id, agent, code, key),
        detail=detail,
    )
