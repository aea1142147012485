"""A failing outside system degrades a pass, it does not kill it (DESIGN §3, brief: "loses nothing")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from runtime.runner import PlayRunner
from tests.http_harness import Reply, ScriptedServer
from tools.github import GitHubConfig, GitHubTools
from tools.loki import LokiClient, LokiConfig

SESSION = SessionStart.model_validate(
    {"play_id": "play-down", "repository": "5dlabs/cto", "namespace": "cto", "tasks": [{"id": "1"}]}
)


def test_loki_and_github_down_are_noted_and_the_pass_completes(tmp_path: Path) -> None:
    async def one_pass(loki_url: str, github_url: str) -> dict:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            config = LokiConfig(url=loki_url, max_retries=1, backoff_s=0, timeout_s=2)
            async with LokiClient(config) as loki:
                github = GitHubTools(
                    GitHubConfig(
                        token="t", base_url=github_url, max_retries=1, backoff_s=0, write_spacing_s=None
                    ),
                    "5dlabs/cto",
                    sleep=lambda _s: None,
                )
                context = HealerContext(settings=settings_from({}), loki=loki, github=github)
                runner = PlayRunner(SESSION, context, saver, clock=lambda: 1_795_500_000_000_000_000)
                first = await runner.run_pass()
                second = await runner.run_pass()  # the next pass runs as well
                return first | {"passes": second["passes"], "cursor": second.get("cursor_ns")}

    with ScriptedServer([Reply(503, {"message": "down"})]) as down:
        values = asyncio.run(one_pass(down.url, down.url))
    assert any(problem.startswith("loki:") for problem in values["degraded"])
    assert any(problem.startswith("github:") for problem in values["degraded"])
    assert values["passes"] == 2 and values["cursor"] is None  # nothing read, so the cursor did not move
    assert [e["event"] for e in values["timeline"]].count("degraded") >= 2
