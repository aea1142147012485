"""The GitHub part of collect: the play's pull requests, read again only when GitHub says they changed
(their `updated_at` is the cursor), and CI on those Tess approved (CI does not touch `updated_at`)."""

from __future__ import annotations

from typing import Any

from graph.state import Json
from graph.triage.pull_rules import task_of
from tools.github import GitHubTools


def read_pulls(github: GitHubTools, task_ids: set[str], known: dict[str, Json]) -> dict[str, Json]:
    """The play's pull requests by number (as text, for JSON state). Raises GitHubError."""
    pulls: dict[str, Json] = {}
    for number, head, labels, updated_at in github.recent_pulls():
        task = task_of(head, labels, task_ids)
        if task is None:
            continue
        key, seen = str(number), known.get(str(number))
        if seen is not None and seen["updated_at"] == updated_at.isoformat():
            pulls[key] = dict(seen)
        else:
            facts = github.pull_facts(number)
            pulls[key] = facts.model_dump(mode="json") | {"task_id": task}
        if _approved_by_tess(pulls[key]):
            pulls[key]["ci"] = github.ci_state(pulls[key]["head_sha"]).state
    return pulls


def _approved_by_tess(pull: dict[str, Any]) -> bool:
    return any("tess" in review[0].lower() and review[1] == "APPROVED" for review in pull.get("reviews", []))
