"""open_incidents: the end of a pass. A fingerprint seen for the first time opens an incident (the
scheduler starts its thread from `opened` and `seeds`, which only this pass's checkpoint carries); one already open gets its new evidence passed on (`recurred`)
instead of a second incident (DESIGN §5). The pass's lines are dropped here, so they are not carried in
the session's checkpoints beyond this pass."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.state import Json, SessionState, event


async def open_incidents(state: SessionState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    now = state["now_ns"]
    incidents = dict(state.get("incidents", {}))
    occurrences = dict(state.get("occurrences", {}))
    opened: list[str] = []
    seeds: dict[str, Json] = {}
    recurred: dict[str, Json] = {}
    timeline = []
    for item in state.get("findings", []):
        finding, fingerprint = item["finding"], item["finding"]["fingerprint"]
        occurrences[fingerprint] = occurrences.get(fingerprint, 0) + item["count"]
        if fingerprint in incidents and incidents[fingerprint].get("status") != "resolved":
            recurred[fingerprint] = {"finding": finding, "evidence": item["evidence"]}
            continue
        incidents[fingerprint] = {
            "code": finding["code"],
            "severity": finding["severity"],
            "agent": finding.get("agent"),
            "title": finding["name"],
            "opened_ns": now,
            "status": "open",
        }
        seeds[fingerprint] = item
        opened.append(fingerprint)
        who = f" ({finding['agent']})" if finding.get("agent") else ""
        timeline.append(
            event(now, "finding", f"{finding['code']} {finding['severity']}{who}: {finding['matched']}")
        )
    for problem in state.get("degraded", []):
        timeline.append(event(now, "degraded", problem))
    return {
        "incidents": incidents,
        "occurrences": occurrences,
        "opened": opened,
        "seeds": seeds,
        "recurred": recurred,
        "batch": [],
        "findings": [],
        "passes": state.get("passes", 0) + 1,
        "timeline": timeline,
    }
