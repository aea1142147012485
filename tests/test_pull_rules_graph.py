"""The GitHub-side state rules through the real session graph: the play's pull requests read from the
GitHub emulator, its CodeRuns from the Kubernetes emulator, incidents opened and filed (no LLM)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from runtime.runner import PlayRunner
from tests.emulators.github import GitHubEmulator
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tools.github import GitHubConfig, GitHubTools
from tools.kubernetes import KubernetesTools, api_client

START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000
REPOSITORY = "5dlabs/cto-parallel-test"
SESSION = SessionStart.model_validate(
    {
        "play_id": "play-prs",
        "repository": REPOSITORY,
        "namespace": "cto",
        "cto_config": {"agents": {"rex": {"githubApp": "5DLabs-Rex"}, "tess": {"githubApp": "5DLabs-Tess"}}},
        "tasks": [{"id": "3", "title": "auth"}],
    }
)


def emulated(github: GitHubEmulator, kube: KubernetesEmulator) -> HealerContext:
    """No LLM, no Loki: GitHub and Kubernetes from their emulators."""
    return HealerContext(
        settings=settings_from({}),
        github=GitHubTools(GitHubConfig(token="t", base_url=github.url, write_spacing_s=None), REPOSITORY),
        kube=KubernetesTools(api_client(kube.configuration()), "cto"),
    )


def approved_three_times(
    github: GitHubEmulator,
    *,
    commit_minute: int,
    approval_minutes: tuple[int, ...],
    ci: list[str] | None = None,
) -> None:
    """Rex's PR for task 3, which Tess approved at each of `approval_minutes`."""
    github.seed_pull(
        head="feature/task-3-auth",
        title="Task 3: auth",
        author="5dlabs-rex[bot]",
        created_at=START,
        commits=[START + timedelta(minutes=commit_minute)],
        reviews=[("5dlabs-tess[bot]", "APPROVED", START + timedelta(minutes=m)) for m in approval_minutes],
        ci=ci,
    )


def test_an_approval_loop_and_red_ci_after_approval_become_incidents(tmp_path: Path) -> None:
    now = START_NS + 20 * 60 * 1_000_000_000
    runs = [EmulatedRun("play-prs-rex-t3", "5DLabs-Rex", 3, [(START_NS, "Running")])]
    github = GitHubEmulator(REPOSITORY, {"README.md": "x\n"}, clock=lambda: START + timedelta(minutes=20))
    approved_three_times(github, commit_minute=1, approval_minutes=(2, 3, 4), ci=["failure"])
    github.seed_pull(head="feature/task-31", title="another play", author="someone", created_at=START)

    async def one_pass() -> list[dict]:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            context = emulated(github, kube)
            runner = PlayRunner(SESSION, context, saver, clock=lambda: now)
            await runner.run_pass()
            return [view.values for view in await runner.all_incidents()]

    with github, KubernetesEmulator("cto", "play-prs", runs, clock=lambda: now) as kube:
        incidents = asyncio.run(one_pass())
    found = {(i["finding"]["code"], i["finding"]["agent"]) for i in incidents}
    # tess approved three times (A4), CI is red after her approval (A5), rex's last commit is 19 min old (A3)
    assert found == {("A4", "tess"), ("A5", "rex"), ("A3", "rex")}
    titles = sorted(issue["title"] for issue in github.issues.values() if "pull_request" not in issue)
    assert titles == [
        "[HEAL-A3] No commits while the agent runs: rex (play-prs)",
        "[HEAL-A4] Approval loop: tess (play-prs)",
        "[HEAL-A5] CI failing after approval: rex (play-prs)",
    ]


def test_a_fingerprint_seen_again_after_it_was_resolved_is_reported_again(tmp_path: Path) -> None:
    now = START_NS + 5 * 60 * 1_000_000_000
    runs = [EmulatedRun("play-prs-rex-t3", "5DLabs-Rex", 3, [(START_NS, "Running")])]
    github = GitHubEmulator(REPOSITORY, {"README.md": "x\n"}, clock=lambda: START + timedelta(minutes=5))
    approved_three_times(github, commit_minute=4, approval_minutes=(1, 2, 3))

    async def scenario() -> list[dict]:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            context = emulated(github, kube)
            runner = PlayRunner(SESSION, context, saver, clock=lambda: now)
            await runner.run_pass()
            [loop] = await runner.all_incidents()  # A4 escalates at once: a human is asked
            assert loop.waiting_for_human
            await runner.decide(loop.fingerprint, {"action": "resolve", "by": "ops"})
            await runner.run_pass()  # tess's three approvals are still there
            await runner.run_pass()  # and again: the second incident waits for a human; no third one
            return [view.values | {"thread": view.thread_id} for view in await runner.all_incidents()]

    with github, KubernetesEmulator("cto", "play-prs", runs, clock=lambda: now) as kube:
        first, second = asyncio.run(scenario())
    assert (
        first["status"] == "resolved"
        and first["issue"]["number"] == 2
        and first["issue"]["state"] == "closed"
    )
    assert second["thread"] == f"play-prs/{first['fingerprint']}~2" and second["generation"] == 2
    assert second["issue"]["number"] == 3  # a new issue, not the closed one found by its marker
    assert "<!-- healer:fingerprint=" + first["fingerprint"] + "~2 -->" in github.issues[3]["body"]
