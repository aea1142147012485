"""verify: what CI says about the attempt's pull request (DESIGN §3), looked at once per invocation.

A pending CI does not hold the run: the incident ends this invocation with `wake_at_ns` and the scheduler
runs it again later, so a wait of minutes blocks no pass and no other incident. Past `syncTimeoutSecs`
the attempt counts as failed."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from graph import issue
from graph.config import RemediationDefaults
from graph.context import HealerContext
from graph.nodes.github_down import wake_later
from graph.state import Attempt, IncidentState, event
from tools.github import CiState, GitHubError

POLL_NS = 15 * 1_000_000_000
DEFAULT_SYNC_TIMEOUT_S = RemediationDefaults().sync_timeout_secs
CI_DETAIL_CHARS = 1500


async def verify(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    attempts = [Attempt.model_validate(a) for a in state["attempts"]]
    attempt = attempts[-1]
    github = context.github
    assert github is not None and attempt.commit is not None, (
        "verify runs only after a pull request was opened"
    )
    try:
        ci = await asyncio.to_thread(github.ci_state, attempt.commit)
    except GitHubError as error:
        return wake_later(now, error, runtime.context.settings, after_ns=POLL_NS)
    timeout_ns = state.get("sync_timeout_secs", DEFAULT_SYNC_TIMEOUT_S) * 1_000_000_000
    waited = now - (state.get("ci_wait_started_ns") or now)
    if ci.state == "pending" and waited < timeout_ns:
        return {"wake_at_ns": now + POLL_NS, "stage": "verifying"}
    verdict = "timeout" if ci.state == "pending" else ci.state
    attempt = attempt.model_copy(update={"ci": verdict, "ci_detail": _detail(ci)})
    try:
        await asyncio.to_thread(
            lambda: github.comment(
                state["issue"]["number"], issue.ci_comment(attempt), key=f"attempt-{attempt.n}-ci"
            )
        )
    except GitHubError as error:
        return wake_later(now, error, runtime.context.settings, after_ns=POLL_NS)
    return {
        "attempts": [a.model_dump(mode="json") for a in [*attempts[:-1], attempt]],
        "wake_at_ns": None,
        "timeline": [event(now, f"ci {verdict}", f"attempt #{attempt.n}: {attempt.pull_url}")],
    }


def _detail(ci: CiState) -> str:
    failed = [
        f"{context}: {state}" for context, state in ci.statuses.items() if state in ("failure", "error")
    ]
    failed += [
        f"{check.name}: {check.conclusion} {check.url or ''}".strip()
        for check in ci.checks
        if check.conclusion not in (None, "success", "neutral", "skipped")
    ]
    return "\n".join(failed)[:CI_DETAIL_CHARS]
