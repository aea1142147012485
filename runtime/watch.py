"""`healer watch`: one play, live. Passes every `interval_s` against the configured Loki, Kubernetes, GitHub,
Discord and LLM until the play is over (all its CodeRuns terminal) or `passes` have run; incidents run
as they come due. The server (issue 5) runs many plays this way under one scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings
from graph.session import SessionStart
from graph.state import Json
from runtime.runner import IncidentView, PlayRunner
from runtime.services import live_context


class PassClock:
    """The wall clock read once per pass and held through it, every reading kept: a run on this clock
    replays on the same times (`healer watch --record`)."""

    def __init__(self, read: Callable[[], int] = time.time_ns) -> None:
        self._read = read
        self.readings_ns = [read()]

    def __call__(self) -> int:
        return self.readings_ns[-1]

    def tick(self) -> None:
        self.readings_ns.append(max(self._read(), self.readings_ns[-1]))


async def watch(
    session: SessionStart,
    settings: HealerSettings,
    *,
    passes: int | None = None,
    interval_s: float = 5.0,
    on_pass: Callable[[Json], None] | None = None,
    clock: PassClock | None = None,
    concurrency: int = 4,
    stop: asyncio.Event | None = None,
) -> tuple[Json, list[IncidentView]]:
    """Passes until the play is over, `passes` have run or `stop` is set (then after the pass under way)."""
    async with open_checkpointer(settings.database_url) as saver, live_context(settings, session) as context:
        runner = PlayRunner(session, context, saver, clock=clock or time.time_ns)
        done = 0
        while True:
            values = await runner.run_pass()
            await runner.run_due_incidents(concurrency=concurrency)
            done += 1
            if on_pass is not None:
                on_pass(values)
            if values.get("play_over") or (passes is not None and done >= passes) or _stopped(stop):
                return values, await runner.all_incidents()
            if stop is None:
                await asyncio.sleep(interval_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
                if stop.is_set():
                    return values, await runner.all_incidents()
            if clock is not None:
                clock.tick()


def _stopped(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()
