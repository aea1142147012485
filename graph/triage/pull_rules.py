"""State rules over a play's pull requests (DESIGN §4.4). Pure, no I/O.

- A1: an agent runs without its predecessor's comment on the task's PR (Rex/Blaze → Cleo → Tess → Cipher
  → Atlas): e.g. Tess reviewing a PR Cleo never commented on.
- A3: no commit for 15 min on the task's PR while its implementing agent (Rex, Blaze) runs.
- A4: one author posting more than two approvals on a PR (an approval loop).
- A5: CI failing on a PR after Tess approved it.

A pull request is a play's when its head branch or a label names one of the session's tasks (`task-3`,
`feature/task-3-auth`, label `task-3`); logins map to agents as CodeRun apps do (`5dlabs-tess[bot]`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from graph.triage.catalogue import Action, Severity
from graph.triage.models import Finding
from graph.triage.state_rules import rule_finding

MINUTE_NS = 60 * 1_000_000_000
NO_COMMIT_NS = 15 * MINUTE_NS
APPROVALS_LIMIT = 2
PREDECESSORS = {"cleo": ("rex", "blaze"), "tess": ("cleo",), "cipher": ("tess",), "atlas": ("cipher",)}
IMPLEMENTERS = ("rex", "blaze")
_TASK = re.compile(r"(?:^|[^0-9a-z])task[-_/]?(\d+)(?![0-9])", re.IGNORECASE)
_RULES: dict[str, tuple[str, Severity, Action]] = {
    "A1": ("Predecessor's PR comment missing", Severity.MEDIUM, Action.INVESTIGATE),
    "A3": ("No commits while the agent runs", Severity.MEDIUM, Action.INVESTIGATE),
    "A4": ("Approval loop", Severity.HIGH, Action.ESCALATE),
    "A5": ("CI failing after approval", Severity.HIGH, Action.INVESTIGATE),
}


def task_of(head: str, labels: Iterable[str], task_ids: set[str]) -> str | None:
    """The session task a pull request works on, from its branch or labels; None if not the play's."""
    for text in (head, *labels):
        for match in _TASK.finditer(text):
            if match.group(1) in task_ids:
                return match.group(1)
    return None


def pull_findings(
    play_id: str,
    pulls: Iterable[dict[str, Any]],
    coderuns: Iterable[dict[str, Any]],
    agent_of: Callable[[str], str],
    now_ns: int,
) -> list[Finding]:
    by_task = {str(pull["task_id"]): pull for pull in pulls}
    found: list[Finding] = []
    for pull in by_task.values():
        found += _approval_loop(play_id, pull, agent_of, now_ns)
        found += _red_after_approval(play_id, pull, agent_of, now_ns)
    for run in coderuns:
        agent, task = run.get("agent"), str(run.get("task_id"))
        if run.get("terminal") or run.get("phase") != "Running" or agent is None:
            continue
        pull = by_task.get(task)
        if agent in PREDECESSORS and pull is not None:
            voices = {agent_of(login) for login, _ in pull.get("commenters", [])}
            voices |= {agent_of(review[0]) for review in pull.get("reviews", [])}
            if not voices & set(PREDECESSORS[agent]):
                before = "/".join(PREDECESSORS[agent])
                detail = f"{agent} runs on task {task} but {before} never commented on PR #{pull['number']}"
                found.append(_finding(play_id, "A1", agent, f"task:{task}", detail, now_ns))
        if (
            agent in IMPLEMENTERS
            and (idle := _idle_ns(run, pull, now_ns)) is not None
            and idle > NO_COMMIT_NS
        ):
            where = f"PR #{pull['number']}" if pull else "no PR yet"
            detail = f"{agent} has run {idle // MINUTE_NS} min on task {task} without a commit ({where})"
            found.append(_finding(play_id, "A3", agent, f"task:{task}", detail, now_ns))
    return found


def pull_deadlines(pulls: Iterable[dict[str, Any]], coderuns: Iterable[dict[str, Any]]) -> list[int]:
    """When A3 would fire by time alone: an implementer's run without a commit for `NO_COMMIT_NS`."""
    by_task = {str(pull["task_id"]): pull for pull in pulls}
    moments = []
    for run in coderuns:
        if run.get("terminal") or run.get("phase") != "Running" or run.get("agent") not in IMPLEMENTERS:
            continue
        last = (by_task.get(str(run.get("task_id"))) or {}).get("last_commit_at") or run.get("created_at")
        if last:
            moments.append(_ns(last) + NO_COMMIT_NS)
    return moments


def _approval_loop(
    play_id: str, pull: dict[str, Any], agent_of: Callable[[str], str], now: int
) -> list[Finding]:
    approvals = Counter(review[0] for review in pull.get("reviews", []) if review[1] == "APPROVED")
    return [
        _finding(
            play_id,
            "A4",
            agent_of(login),
            f"pull:{pull['number']}:{login}",
            f"{login} approved PR #{pull['number']} {count} times",
            now,
        )
        for login, count in approvals.items()
        if count > APPROVALS_LIMIT
    ]


def _red_after_approval(
    play_id: str, pull: dict[str, Any], agent_of: Callable[[str], str], now: int
) -> list[Finding]:
    approved = any(agent_of(r[0]) == "tess" and r[1] == "APPROVED" for r in pull.get("reviews", []))
    if not approved or pull.get("ci") != "failure":
        return []
    detail = f"CI fails on PR #{pull['number']} ({pull['head']}) after Tess approved it"
    return [_finding(play_id, "A5", agent_of(pull["author"]), f"pull:{pull['number']}", detail, now)]


def _idle_ns(run: dict[str, Any], pull: dict[str, Any] | None, now: int) -> int | None:
    last = (pull or {}).get("last_commit_at") or run.get("created_at")
    return now - _ns(last) if last else None


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000_000


def _finding(play_id: str, code: str, agent: str, key: str, detail: str, now_ns: int) -> Finding:
    return rule_finding(play_id, code, _RULES[code], agent, key, detail, now_ns)
