"""What a run of a play's graphs did, for people (a timeline) and for programs (a JSON summary)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from graph.state import Json

Status = Literal["healthy", "open", "resolved", "escalated"]


def status_of(incidents: Sequence[Json]) -> Status:
    if not incidents:
        return "healthy"
    statuses = [incident.get("status") for incident in incidents]
    if any(status == "escalated" for status in statuses):
        return "escalated"
    if all(status in ("resolved", "closed") for status in statuses):
        return "resolved"
    return "open"


def summary(name: str, session: Json, incidents: Sequence[Json]) -> dict[str, Any]:
    findings = [
        {
            "code": i["finding"]["code"],
            "severity": i["finding"]["severity"],
            "fingerprint": i["fingerprint"],
            "agent": i["finding"].get("agent"),
            "missing_tools": i["finding"].get("missing_tools", []),
        }
        for i in incidents
    ]
    issues = [
        {
            "number": i["issue"]["number"],
            "title": i["issue"]["title"],
            "labels": i["issue"]["labels"],
            "state": i["issue"]["state"],
            "url": i["issue"]["url"],
        }
        for i in incidents
        if i.get("issue")
    ]
    pulls = [
        {
            "number": a["pull_number"],
            "title": a.get("summary", ""),
            "draft": True,
            "url": a["pull_url"],
            "ci": a["ci"],
        }
        for i in incidents
        for a in i.get("attempts", [])
        if a.get("pull_number")
    ]
    notifications = sum(1 for i in incidents for e in i.get("timeline", []) if e["event"] == "notified")
    return {
        "scenario": name,
        "play_id": session.get("play_id"),
        "passes": session.get("passes", 0),
        "lines_seen": session.get("lines_seen", 0),
        "agent_records": session.get("agent_records", {}),  # agent events read, by kind: what was set aside
        "findings": findings,
        "issues": issues,
        "pull_requests": pulls,
        "notifications": notifications,
        "analyses": [
            {
                "fingerprint": i["fingerprint"],
                **{k: i["analysis"][k] for k in ("summary", "root_cause", "automatable")},
            }
            for i in incidents
            if i.get("analysis")
        ],
        "llm": {
            "calls": sum(i.get("llm_calls", 0) for i in incidents),
            "prompt_tokens": sum(i.get("prompt_tokens", 0) for i in incidents),
            "completion_tokens": sum(i.get("completion_tokens", 0) for i in incidents),
        },
        "incidents": [
            {"fingerprint": i["fingerprint"], "status": i.get("status"), "stage": i.get("stage")}
            for i in incidents
        ],
        "status": status_of(incidents),
    }


def timeline(session: Json, incidents: Sequence[Json]) -> str:
    rows: list[tuple[int, str, str, str]] = [
        (e["at_ns"], "session", e["event"], e["detail"]) for e in session.get("timeline", [])
    ]
    for incident in incidents:
        tag = f"{incident['finding']['code']} {incident['fingerprint'][:8]}"
        rows += [(e["at_ns"], tag, e["event"], e["detail"]) for e in incident.get("timeline", [])]
    rows.sort(key=lambda row: row[0])
    lines = [f"{_clock(at)}  {who:<14} {what:<20} {detail}".rstrip() for at, who, what, detail in rows]
    return "\n".join(lines) if lines else "(nothing happened)"


def _clock(at_ns: int) -> str:
    return datetime.fromtimestamp(at_ns / 1e9, tz=UTC).strftime("%H:%M:%S")
