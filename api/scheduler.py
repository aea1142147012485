"""Runs every active session in the background (DESIGN §3): a pass every `interval_s`, the incidents that
are due, with at most `max_concurrent` graph invocations at once across all sessions.

A session ends by itself when its play is over (every CodeRun terminal) or when no new log line came for
`idle_timeout_s`; incidents still waiting on CI go on being looked at after that, and a human's decision
can resume an escalated one at any time. An unexpected error in a session's loop is logged and retried
with backoff: it never takes the server or the other sessions down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from api.models import Detection, Session, SessionStatus, rfc3339
from api.store import SessionStore
from graph.config import HealerSettings
from graph.context import HealerContext
from graph.queries import play_query
from graph.runner import IncidentView, PlayRunner, compiled
from graph.services import live_context
from graph.session import SessionStart
from tools.loki import LokiClient, LokiError

log = logging.getLogger("healer.scheduler")
ContextFactory = Callable[
    [HealerSettings, SessionStart], contextlib.AbstractAsyncContextManager[HealerContext]
]
MAX_BACKOFF_S = 300.0
_USAGE_KEYS = ("llm_calls", "prompt_tokens", "completion_tokens", "issues", "outside_errors")
_FAILURE_EVENTS = ("github unavailable", "notification failed", "no analysis")


class Scheduler:
    def __init__(
        self,
        settings: HealerSettings,
        store: SessionStore,
        checkpointer: BaseCheckpointSaver,
        *,
        interval_s: float = 5.0,
        idle_timeout_s: float = 3600.0,
        max_concurrent: int = 8,
        clock: Callable[[], int] = time.time_ns,
        contexts: ContextFactory = live_context,
    ) -> None:
        self.settings, self.store, self.checkpointer = settings, store, checkpointer
        self.interval_s, self.idle_timeout_s, self.clock, self.contexts = (
            interval_s,
            idle_timeout_s,
            clock,
            contexts,
        )
        self._limit = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._usage: dict[str, dict[str, int]] = {}  # per session, refreshed as it runs
        self._graphs = compiled(checkpointer)
        self.passes_run = 0

    # --- lifecycle --------------------------------------------------------------------------------------

    async def resume_active(self) -> int:
        """On startup: every active session runs again, from its checkpoints."""
        sessions = await self.store.list("active")
        for session in sessions:
            self.schedule(session)
        return len(sessions)

    def schedule(self, session: Session) -> None:
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
        """LLM, GitHub and failure counts of the incidents of the sessions run here (as last published:
        a scrape reads no checkpoint)."""
        totals = dict.fromkeys(_USAGE_KEYS, 0)
        for counts in list(self._usage.values()):
            for key, value in counts.items():
                totals[key] += value
        return totals

    def running(self) -> list[str]:
        return [play_id for play_id, task in self._tasks.items() if not task.done()]

    async def stop(self, play_id: str) -> None:
        task = self._tasks.pop(play_id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def shutdown(self) -> None:
        """Graceful: each run stops between invocations (its checkpoints are whole), then returns."""
        await asyncio.gather(*(self.stop(play_id) for play_id in list(self._tasks)))

    async def incidents(self, session: SessionStart) -> list[IncidentView]:
        """The session's incidents as the checkpoints hold them: a read, so no outside client is built."""
        context = HealerContext(settings=self.settings)
        runner = PlayRunner(session, context, self.checkpointer, clock=self.clock, graphs=self._graphs)
        return await runner.all_incidents()

    # --- decisions and endings --------------------------------------------------------------------------

    async def decide(self, session: Session, fingerprint: str, decision: dict[str, Any]) -> IncidentView:
        async with self._runner(session) as runner, self._limit:
            view = await runner.decide(fingerprint, decision)
        await self._publish(session.play_id, runner)
        return view

    async def end(self, play_id: str, status: SessionStatus, reason: str) -> Session | None:
        if status != "active":
            await self.stop(play_id)
        session = await self.store.get(play_id)
        if session is None:
            return None
        session = session.model_copy(
            update={"status": status, "ended_reason": reason, "last_updated": rfc3339()}
        )
        await self.store.save(session)
        log.info("session ended", extra={"play_id": play_id, "status": status, "reason": reason})
        return session

    # --- the loop ---------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _runner(self, session: SessionStart) -> AsyncIterator[PlayRunner]:
        async with self.contexts(self.settings, session) as context:
            yield PlayRunner(session, context, self.checkpointer, clock=self.clock, graphs=self._graphs)

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
                delay = min(self.interval_s * 2**failures, MAX_BACKOFF_S)
                log.exception(
                    "session run failed; retrying", extra={"play_id": session.play_id, "in_s": delay}
                )
                await asyncio.sleep(delay)

    async def _watch(self, session: Session) -> None:
        play_id = session.play_id
        tail = _Tail(self, play_id)
        async with self._runner(session) as runner, tail:
            last_lines, last_change = -1, self.clock()
            over = False
            while True:
                async with self._limit:
                    if not over:
                        values = await runner.run_pass()
                        self.passes_run += 1
                    await runner.run_due_incidents()
                views = await self._publish(play_id, runner, None if over else values.get("last_line_ns"))
                if not over and runner.context.loki is not None:
                    tail.follow(runner.context.loki, play_query(session, values.get("pod_agents", {})))
                if not over:
                    if values.get("lines_seen", 0) != last_lines:
                        last_lines, last_change = values.get("lines_seen", 0), self.clock()
                    if values.get("play_over"):
                        over = True
                        await self.end(play_id, "completed", "the play is over: every CodeRun is terminal")
                    elif (self.clock() - last_change) / 1e9 > self.idle_timeout_s:
                        over = True
                        await self.end(
                            play_id, "completed", f"no new log line for {self.idle_timeout_s:.0f} s"
                        )
                if over and all(view.wake_at_ns is None for view in views):
                    return  # nothing left to look at; a decision resumes an escalation on demand
                await self._pause(play_id)

    async def _pause(self, play_id: str) -> None:
        event = self._wake.setdefault(play_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.interval_s)
        event.clear()

    async def _publish(
        self, play_id: str, runner: PlayRunner, last_line_ns: int | None = None
    ) -> list[IncidentView]:
        """What the graphs found, into the session's `issues` (the API's detections), with the PRs Healer
        opened and the time of the last log line seen, for the pages."""
        views = await runner.all_incidents()
        self._usage[play_id] = _usage_of(views)
        session = await self.store.get(play_id)
        if session is not None:
            changes: dict[str, Any] = {
                "issues": [detection(view) for view in views if view.values],
                "pull_requests": [
                    a["pull_url"]
                    for view in views
                    for a in view.values.get("attempts", [])
                    if a.get("pull_url")
                ],
            }
            if last_line_ns:
                changes["last_line_at"] = rfc3339(last_line_ns)
            if any(getattr(session, key) != value for key, value in changes.items()):
                await self.store.save(session.model_copy(update=changes | {"last_updated": rfc3339()}))
        return views


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


def _usage_of(views: list[IncidentView]) -> dict[str, int]:
    counts = dict.fromkeys(_USAGE_KEYS, 0)
    for view in views:
        for key in ("llm_calls", "prompt_tokens", "completion_tokens"):
            counts[key] += view.values.get(key, 0)
        counts["issues"] += 1 if view.values.get("issue") else 0
        counts["outside_errors"] += sum(
            1 for e in view.values.get("timeline", []) if e["event"] in _FAILURE_EVENTS
        )
    return counts


def detection(view: IncidentView) -> Detection:
    """An incident as the session API's detection: the original's fields, `issue_type` from its code
    (api/issue_types.py), and the code itself."""
    values = view.values
    finding = values["finding"]
    opened = values.get("timeline", [{}])[0].get("at_ns") if values.get("timeline") else None
    # the line's time, else when the incident opened, else now
    moment = finding.get("timestamp") or rfc3339(opened or None)
    return Detection(
        detected_at=moment,
        code=finding["code"],
        severity=finding["severity"],
        description=f"{finding['name']}: {finding.get('detail') or finding['matched']}",
        agent=finding.get("agent"),
        task_id=values.get("task_id"),
        remediation_spawned=bool(values.get("attempts")),
        github_issue=(values.get("issue") or {}).get("url"),
    )
