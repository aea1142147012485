"""`GET /metrics`: Prometheus text, gathered at scrape time from the sessions and their incidents.

Sessions by status and findings by code and severity come from the store; LLM calls and tokens, GitHub
issues and outside-system failures from the incidents' own counts (their checkpointed state); calls to
outside systems, by outcome, and how long they took (a histogram) from `tools/calls.py`'s registry; the
passes, how long steps take and how long after its line a finding's incident opened from
`runtime/metrics.py`'s.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.store import SessionStore
from runtime import metrics as engine_metrics
from runtime.engine import Engine
from tools import calls

CONTENT_TYPE = CONTENT_TYPE_LATEST


async def render(store: SessionStore, scheduler: Engine) -> bytes:
    registry = CollectorRegistry()
    sessions = await store.list()
    by_status = Gauge("healer_sessions", "Sessions by status", ["status"], registry=registry)
    for status in ("active", "completed", "failed", "cancelled"):
        by_status.labels(status).set(sum(1 for s in sessions if s.status == status))
    findings = Gauge(
        "healer_findings",
        "Findings (one per incident) by code and severity",
        ["code", "severity"],
        registry=registry,
    )
    for (code, severity), count in Tally(
        (d.code or d.issue_type, d.severity) for s in sessions for d in s.issues
    ).items():  # Healer's code (A10, R1, …), not the original's coarser `issue_type`
        findings.labels(code, severity).set(count)
    degraded = Gauge(
        "healer_degraded_sessions",
        "Active sessions for which an outside system is failing now, by system",
        ["system"],
        registry=registry,
    )
    for system, count in Tally(
        system
        for s in sessions
        if s.status == "active"
        for system in {problem.split(":", 1)[0] for problem in s.degraded}
    ).items():
        degraded.labels(system).set(count)
    usage = await scheduler.usage()
    llm_calls = Gauge(
        "healer_llm_calls", "LLM calls made by incidents of running sessions", registry=registry
    )
    llm_calls.set(usage["llm_calls"])
    tokens = Gauge(
        "healer_llm_tokens", "LLM tokens of incidents of running sessions", ["kind"], registry=registry
    )
    tokens.labels("prompt").set(usage["prompt_tokens"])
    tokens.labels("completion").set(usage["completion_tokens"])
    writes = Gauge(
        "healer_github_issues", "GitHub issues filed by incidents of running sessions", registry=registry
    )
    writes.set(usage["issues"])
    failures = Gauge(
        "healer_outside_errors",
        "Outside-system failures noted by incidents of running sessions",
        registry=registry,
    )
    failures.set(usage["outside_errors"])
    Gauge("healer_running_sessions", "Sessions with a run in this process", registry=registry).set(
        len(await scheduler.running())
    )
    return (
        generate_latest(registry) + generate_latest(calls.REGISTRY) + generate_latest(engine_metrics.REGISTRY)
    )
