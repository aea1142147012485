"""The engine of one server on SQLite (runtime/engine.py): each active session is a task of this process
that runs a step when its namespace's Loki tail sees lines of its pods (runtime/tails.py), and a timed one
every `interval_s` (every `catchup_s` while the tail is connected), with at most `max_concurrent`
(`HEALER_CONCURRENT_STEPS`) steps at once across all sessions. An unexpected error in a session's loop is
logged and retried with backoff: it never takes the server or the other sessions down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from api.models import Session
from runtime.engine import USAGE_KEYS, Engine, Progress
from runtime.runner import IncidentView
from runtime.tails import plays_to_wake

log = logging.getLogger("healer.scheduler")


class Scheduler(Engine):
    def __init__(self, *args: Any, max_concurrent: int | None = None, **options: Any) -> None:
        super().__init__(*args, **options)
        self._limit = asyncio.Semaphore(max_concurrent or self.settings.concurrent_steps)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._usage: dict[str, dict[str, int]] = {}  # per session, refreshed as it runs
        self._where: dict[str, tuple[str, frozenset[str]]] = {}  # play_id → its namespace and pods

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

    async def _changed(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        for play_id in plays_to_wake(self._where, namespace, pods, plays):
            self.wake(play_id)

    def _follow(self, play_id: str, namespace: str | None, pods: frozenset[str] | None) -> None:
        """Where the session reads (None: nowhere any more), and the tails that follows from."""
        if namespace is None:
            self._where.pop(play_id, None)
        else:
            self._where[play_id] = (namespace, pods if pods is not None else frozenset())
        if self.tails is not None:
            self.tails.follow({where for where, _pods in self._where.values()})

    async def stop(self, play_id: str) -> None:
        self._follow(play_id, None, None)
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
        play_id, namespace = session.play_id, session.namespace or "default"
        try:
            async with self._runner(session) as runner:
                progress = Progress(changed_ns=self.clock())
                while True:
                    async with self._limit:
                        views, values = await self._step(session, runner, progress, open_later=True)
                    if runner.unopened:  # their turn comes after the steps that waited meanwhile
                        async with self._limit:
                            views = await self._open_step(session, runner)
                    if progress.over:
                        self._follow(play_id, None, None)
                    elif values:
                        self._follow(play_id, namespace, frozenset(values.get("pod_agents", {})))
                    if self.finished(progress, views):
                        return
                    await self._pause(play_id, self.next_step_in_s(runner, views, values, progress))
        finally:
            self._follow(play_id, None, None)

    async def _pause(self, play_id: str, seconds: float) -> None:
        event = self._wake.setdefault(play_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()
