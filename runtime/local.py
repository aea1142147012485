"""The engine of one server on SQLite (runtime/engine.py): each active session is a task of this process
that runs a step every `interval_s` (and at once when Loki's tail sees new lines), with at most
`max_concurrent` steps at once across all sessions. An unexpected error in a session's loop is logged and
retried with backoff: it never takes the server or the other sessions down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from api.models import Session
from graph.queries import play_query
from runtime.engine import USAGE_KEYS, Engine, Progress
from runtime.runner import IncidentView
from tools.loki import LokiClient, LokiError

log = logging.getLogger("healer.scheduler")


class Scheduler(Engine):
    def __init__(self, *args: Any, max_concurrent: int = 8, **options: Any) -> None:
        super().__init__(*args, **options)
        self._limit = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._usage: dict[str, dict[str, int]] = {}  # per session, refreshed as it runs

    # --- lifecycle --------------------------------------------------------------------------------------

    async def resume_active(self) -> int:
        sessions = await self.store.list("active")
        for session in sessions:
            await self.schedule(session)
        return len(sessions)

    async def schedule(self, session: Session) -> None:
        running = self._tasks.get(session.play_id)
        if running is not None and not running.done():
            return
        self._wake[session.play_id] = asyncio.Event()
        self._tasks[session.play_id] = asyncio.create_task(
            self._run(session), name=f"session {session.play_id}"
        )

    def wake(self, play_id: str) -> None:
        if event := self._wake.get(play_id):
            event.set()

    async def usage(self) -> dict[str, int]:
        totals = dict.fromkeys(USAGE_KEYS, 0)
        for counts in list(self._usage.values()):
            for key, value in counts.items():
                totals[key] += value
        return totals

    async def running(self) -> list[str]:
        return [play_id for play_id, task in self._tasks.items() if not task.done()]

    async def stop(self, play_id: str) -> None:
        task = self._tasks.pop(play_id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.stop(play_id) for play_id in list(self._tasks)))

    async def decide(self, session: Session, fingerprint: str, decision: dict[str, Any]) -> IncidentView:
        async with self._runner(session) as runner, self._limit:
            view = await runner.decide(fingerprint, decision)
        await self._publish(session.play_id, runner)
        return view

    # --- the loop ---------------------------------------------------------------------------------------

    async def _note_usage(self, play_id: str, counts: dict[str, int]) -> None:
        self._usage[play_id] = counts

    async def _run(self, session: Session) -> None:
        failures = 0
        while True:
            try:
                await self._watch(session)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = self.backoff_s(failures)
                log.exception(
                    "session run failed; retrying", extra={"play_id": session.play_id, "in_s": delay}
                )
                await asyncio.sleep(delay)

    async def _watch(self, session: Session) -> None:
        play_id = session.play_id
        tail = _Tail(self, play_id)
        async with self._runner(session) as runner, tail:
            progress = Progress(changed_ns=self.clock())
            while True:
                async with self._limit:
                    views, values = await self._step(session, runner, progress)
                if not progress.over and runner.context.loki is not None:
                    tail.follow(runner.context.loki, play_query(session, values.get("pod_agents", {})))
                if self.finished(progress, views):
                    return
                await self._pause(play_id)

    async def _pause(self, play_id: str) -> None:
        event = self._wake.setdefault(play_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.interval_s)
        event.clear()


class _Tail:
    """Follows the play's lines on Loki's tail websocket and wakes its session at once when new ones
    arrive (DESIGN §3), so a failure is triaged within seconds, not at the next timed pass. If the
    websocket fails, the timed passes go on alone."""

    def __init__(self, scheduler: Scheduler, play_id: str) -> None:
        self.scheduler, self.play_id = scheduler, play_id
        self.query: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Tail:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._stop()

    def follow(self, loki: LokiClient, query: str) -> None:
        """Follow `query` (restarted when the play's pods change)."""
        if query == self.query and self.task is not None and not self.task.done():
            return
        if self.task is not None:
            self.task.cancel()
        self.query = query
        self.task = asyncio.create_task(self._run(loki, query), name=f"tail {self.play_id}")

    async def _run(self, loki: LokiClient, query: str) -> None:
        try:
            async for _batch in loki.tail(query, delay_for_s=0):
                self.scheduler.wake(self.play_id)
        except LokiError as error:
            log.warning(
                "loki tail stopped; timed passes go on", extra={"play_id": self.play_id, "error": str(error)}
            )

    async def _stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
