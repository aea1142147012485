"""`healer watch`: one play, live. Passes every `interval_s` against the configured Loki, Kubernetes, GitHub,
Discord and LLM until the play is over (all its CodeRuns terminal) or `passes` have run; incidents run
as they come due. The server (issue 5) runs many plays this way under one scheduler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings
from graph.runner import IncidentView, PlayRunner
from graph.services import live_context
from graph.session import SessionStart
from graph.state import Json


async def watch(
    session: SessionStart,
    settings: HealerSettings,
    *,
    passes: int | None = None,
    interval_s: float = 5.0,
    on_pass: Callable[[Json], None] | None = None,
) -> tuple[Json, list[IncidentView]]:
    async with open_checkpointer(settings.database_url) as saver, live_context(settings, session) as context:
        runner = PlayRunner(session, context, saver, clock=time.time_ns)
        done = 0
        while True:
            values = await runner.run_pass()
            await runner.run_due_incidents(concurrency=4)
            done += 1
            if on_pass is not None:
                on_pass(values)
            if values.get("play_over") or (passes is not None and done >= passes):
                return values, await runner.all_incidents()
            await asyncio.sleep(interval_s)
