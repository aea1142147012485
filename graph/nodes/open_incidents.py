"""open_incidents: the end of a pass. A fingerprint seen for the first time opens an incident (the
scheduler starts its thread from `opened` and `seeds`, which only this pass's checkpoint carries); one already open gets its new evidence passed on (`recurred`)
instead of a second incident (DESIGN §5). A new fingerprint whose cause an open incident shares (one
endpoint, one missing tool, one kind of credential: `graph/triage/correlate.py`) joins that incident
instead: it is listed on the issue when the issue is not filed yet, and a comment on it when it is. The
pass's lines are dropped here, so they are not carried in the session's checkpoints beyond this pass."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.state import Json, SessionState, event
from graph.triage.correlate import cause_keys, joins
from graph.triage.models import Finding


async def open_incidents(state: SessionState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    now = state["now_ns"]
    incidents = dict(state.get("incidents", {}))
    occurrences = dict(state.get("occurrences", {}))
    opened: list[str] = []
    seeds: dict[str, Json] = {}
    recurred: dict[str, Json] = {}
    joined: dict[str, list[Json]] = {}
    timeline = []
    window_ns = runtime.context.settings.correlation_window_s * 10**9
    for item in state.get("findings", []):
        finding, fingerprint = item["finding"], item["finding"]["fingerprint"]
        occurrences[fingerprint] = occurrences.get(fingerprint, 0) + item["count"]
        known = incidents.get(fingerprint)
        if known and known.get("status") == "joined" and known.get("joined") in incidents:
            head = known["joined"]
            if incidents[head].get("status") != "resolved":
                recurred[head] = {"finding": finding, "evidence": item["evidence"]}
                continue
        elif known and known.get("status") != "resolved":
            recurred[fingerprint] = {"finding": finding, "evidence": item["evidence"]}
            continue
        typed = Finding.model_validate(finding)
        keys = cause_keys(typed, item["evidence"])
        heads = {fp: i for fp, i in incidents.items() if i.get("status") not in ("resolved", "joined")}
        if window_ns and (shared := joins(typed, keys, now, heads, window_ns=window_ns)):
            head, key = shared
            member = _member(finding, key, now)
            incidents[fingerprint] = _recorded(finding, now) | {"status": "joined", "joined": head}
            if head in seeds:  # opened in this very pass: its issue will list the member
                seeds[head] = seeds[head] | {"members": [*seeds[head].get("members", []), member]}
            else:
                joined.setdefault(head, []).append(member)
            timeline.append(
                event(
                    now,
                    "correlated",
                    f"{finding['code']} ({finding.get('agent') or '-'}) joins "
                    f"{incidents[head]['code']} ({incidents[head].get('agent') or '-'}): same {key}",
                )
            )
            continue
        incidents[fingerprint] = _recorded(finding, now) | {"keys": sorted(keys)}
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
        "joined": joined,
        "batch": [],
        "findings": [],
        "passes": state.get("passes", 0) + 1,
        "timeline": timeline,
    }


def _recorded(finding: Json, now: int) -> Json:
    return {
        "code": finding["code"],
        "severity": finding["severity"],
        "agent": finding.get("agent"),
        "title": finding["name"],
        "opened_ns": now,
        "status": "open",
    }


def _member(finding: Json, key: str, now: int) -> Json:
    """A finding that joined an incident, as the incident and its issue show it."""
    return {
        "at_ns": now,
        "fingerprint": finding["fingerprint"],
        "code": finding["code"],
        "agent": finding.get("agent"),
        "pod": finding.get("pod"),
        "text": finding["text"][:300],
        "cause": key,
    }
