"""file_issue: one GitHub issue per fingerprint (DESIGN §6), idempotent.

Before creating, the play's issues are listed by label and searched for the fingerprint's marker (the
issue list, unlike search, is consistent at once), so a run killed between GitHub's answer and its
checkpoint finds its issue instead of filing a second. Without GitHub the body is still rendered and kept,
so the incident and its analysis can be read from Healer."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph import issue
from graph.context import HealerContext
from graph.nodes.github_down import wake_later
from graph.state import Analysis, IncidentState, event
from graph.triage.models import Finding
from tools.github import GitHubError


async def file_issue(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    finding = Finding.model_validate(state["finding"])
    analysis = Analysis.model_validate(state["analysis"]) if state.get("analysis") else None
    play_id = state["play_id"]
    text = issue.body(
        finding,
        play_id=play_id,
        repository=state.get("repository"),
        namespace=state.get("namespace"),
        evidence=state["evidence"],
        facts=state.get("facts", []),
        expected_tools=state.get("expected_tools", []),
        checklist=state.get("checklist", []),
        analysis=analysis,
        analysis_note=state.get("analysis_note"),
        members=state.get("members", []),
    )
    github = context.github
    if github is None:
        return {
            "issue": None,
            "issue_body": text,
            "timeline": [event(now, "issue not filed", "GitHub is not configured")],
        }
    title, labels = issue.title(finding, play_id, state.get("members", [])), issue.labels(finding, play_id)
    key = issue.marker_key(finding.fingerprint, state.get("generation", 1))
    try:
        found = await asyncio.to_thread(github.find_labelled_issue, key, issue.finding_labels(play_id))
        filed = found or await asyncio.to_thread(github.create_issue, title, text, labels, key)
    except GitHubError as error:
        return wake_later(now, error, runtime.context.settings, doing="issue not filed yet")
    what = "issue found" if found else "issue filed"
    return {
        "issue": filed.model_dump(mode="json"),
        "issue_body": text,
        "status": "open",
        "wake_at_ns": None,
        "timeline": [event(now, what, f"#{filed.number} {filed.title} [{', '.join(filed.labels)}]")],
    }
