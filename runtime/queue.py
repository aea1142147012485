"""The engine of N replicas on one Postgres (runtime/engine.py), on procrastinate's job queue.

A session's step is a job, `healer.session_step`, that any replica's worker may run. Its lock
(`play:<id>`) keeps a session to one step at a time across the replicas, and its queueing lock
(`step:<id>`) to one waiting step. What a step carries to the next (`Progress`) and when the next is due
live in `healer_schedule`, a row per running session, so the next step can run anywhere.

One periodic job, `healer.dispatch`, every second (procrastinate defers it once per second whatever the
number of replicas), defers the steps that are due and hands the jobs of dead replicas to the living:
a worker heartbeats every `heartbeat_s`, and a job whose worker has been silent for `stalled_after_s`
goes back to the queue. Known pitfalls kept out: no step is deferred with `schedule_in` while holding its
lock (procrastinate#1599: it would block its session's other jobs), one dispatcher rather than one
periodic task per session (#1464), and finished jobs are deleted (#1242: fetching slows with rows).

A dead replica's step may have written outside before it died; its retry runs the step again, and every
outside write looks for itself first (graph/nodes), so nothing is written twice. A row also records who
read the session last, and counts the steps that began while another replica's step of the same session
still ran (`overlapped`, which the locks keep at 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import weakref
from collections import OrderedDict
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Status

from api.models import Session
from graph.checkpoint import advisory_lock, postgres_conninfo, setup_lock
from runtime.engine import USAGE_KEYS, Engine, Progress
from runtime.runner import IncidentView, PlayRunner

log = logging.getLogger("healer.queue")
QUEUE = "healer"
STEP, DECIDE, DISPATCH = "healer.session_step", "healer.decide", "healer.dispatch"

_SCHEDULE = """CREATE TABLE IF NOT EXISTS healer_schedule (
    play_id TEXT PRIMARY KEY,
    due_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lines_seen BIGINT NOT NULL DEFAULT -1,
    changed_ns BIGINT NOT NULL,
    over BOOLEAN NOT NULL DEFAULT false,
    failures INTEGER NOT NULL DEFAULT 0,
    usage JSONB NOT NULL DEFAULT '{}',
    reader TEXT,
    read_since TIMESTAMPTZ,
    last_reader TEXT,
    last_read_at TIMESTAMPTZ,
    steps BIGINT NOT NULL DEFAULT 0,
    overlapped BIGINT NOT NULL DEFAULT 0
)"""
# Where a session reads, for the namespace tails to wake it (runtime/tails.py); added to a table an
# earlier version made.
_WHERE = """ALTER TABLE healer_schedule ADD COLUMN IF NOT EXISTS namespace TEXT NOT NULL DEFAULT 'default',
    ADD COLUMN IF NOT EXISTS pods TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS woken_at TIMESTAMPTZ"""
# A session whose first step is deferred at once is leased, so the dispatcher does not defer a second.
_ENROL = """INSERT INTO healer_schedule (play_id, changed_ns, namespace, due_at)
VALUES (%(play_id)s, %(now_ns)s, %(namespace)s, now() + make_interval(secs => %(in_s)s))
ON CONFLICT (play_id) DO NOTHING"""
# A step that starts while `reader` is set began while another step of the session ran (or died
# without the dispatcher noticing yet): counted, never expected.
_CLAIM = """UPDATE healer_schedule SET reader = %(me)s, read_since = now(), steps = steps + 1,
    overlapped = overlapped + (reader IS NOT NULL)::int
WHERE play_id = %(play_id)s RETURNING lines_seen, changed_ns, over, failures, last_reader, read_since, pods,
    COALESCE(woken_at > last_read_at, false) AS woken_since_last"""
# Woken while its step ran (lines came that the step may not have read): the next step is due now. A
# step that only opened incidents (`in_s` NULL) leaves the time of the next as the step before set it.
_RELEASE = """UPDATE healer_schedule SET reader = NULL, read_since = NULL, last_reader = %(me)s,
    last_read_at = now(), lines_seen = %(lines_seen)s, changed_ns = %(changed_ns)s, over = %(over)s,
    failures = %(failures)s, pods = %(pods)s,
    due_at = CASE WHEN woken_at >= read_since THEN now() + make_interval(secs => %(lease_s)s)
        ELSE COALESCE(now() + make_interval(secs => %(in_s)s::float8), due_at) END
WHERE play_id = %(play_id)s RETURNING COALESCE(woken_at >= %(read_since)s, false) AS woken"""
# Lines of `pods` in `namespace` came, or they or the CodeRuns of `plays` changed: the sessions they
# concern (runtime/tails.plays_to_wake) are due
# now; those not stepping now are leased, their step deferred at once. One woken since its last step
# whose step has not begun yet is left alone: that step reads these lines too (and every replica tails
# the namespace, so each line wakes its sessions once per replica).
_WAKE = """UPDATE healer_schedule SET woken_at = clock_timestamp(),
    due_at = CASE WHEN reader IS NULL THEN now() + make_interval(secs => %(lease_s)s) ELSE due_at END
WHERE namespace = %(namespace)s AND NOT over
    AND (%(any_pod)s OR cardinality(pods) = 0 OR pods && %(pods)s::text[] OR play_id = ANY(%(plays)s::text[]))
    AND (reader IS NOT NULL OR woken_at IS NULL OR woken_at <= COALESCE(last_read_at, '-infinity'))
RETURNING play_id, reader IS NULL AS idle"""
# The due rows, leased for `lease_s` so the next dispatch does not defer them again; the step sets the
# real time of the next one when it ends.
_DUE = """UPDATE healer_schedule SET due_at = now() + make_interval(secs => %(lease_s)s)
WHERE play_id IN (SELECT play_id FROM healer_schedule WHERE due_at <= now()
    ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING play_id"""


class RecentlyUsedCheck:
    """The check procrastinate's pool runs on every connection it lends, `check_connection`, is a round
    trip each time: a step makes a dozen queries on that pool. A connection lent within `fresh_s` is lent
    again unchecked (a Postgres that went away since fails that one query, and the pool drops the
    connection); one idle for longer is checked as before. (Not the pool's `reset` callback to note when
    a connection comes back: with one, every return waits its turn on the pool's few worker tasks.)"""

    def __init__(self, fresh_s: float = 5.0) -> None:
        self.fresh_s = fresh_s
        self._lent: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def check(self, connection: psycopg.AsyncConnection[Any]) -> None:
        now = time.monotonic()
        if now - self._lent.get(connection, float("-inf")) > self.fresh_s:
            await psycopg_pool.AsyncConnectionPool.check_connection(connection)
        self._lent[connection] = now


def queue_pool(**options: Any) -> psycopg_pool.AsyncConnectionPool:
    """procrastinate's pool, with `RecentlyUsedCheck` in place of its check on every loan."""
    return psycopg_pool.AsyncConnectionPool(**options | {"check": RecentlyUsedCheck().check})


def replica_name(configured: str | None = None) -> str:
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class QueueEngine(Engine):
    def __init__(
        self,
        *args: Any,
        database_url: str,
        replica: str | None = None,
        concurrency: int | None = None,
        heartbeat_s: float = 2.0,
        stalled_after_s: float = 8.0,
        lease_s: float = 20.0,
        decision_wait_s: float = 60.0,
        runners_kept: int = 256,
        **options: Any,
    ) -> None:
        super().__init__(*args, **options)
        self.url = postgres_conninfo(database_url)
        self.replica = replica_name(replica)
        self.concurrency = concurrency or self.settings.concurrent_steps
        self.heartbeat_s, self.stalled_after_s = heartbeat_s, stalled_after_s
        self.lease_s, self.decision_wait_s = lease_s, decision_wait_s
        # The runners (and their clients) of the sessions this replica stepped last, most recent last: a
        # step of one of them skips building its clients and its recovery. One another replica stepped
        # since is built afresh (the checkpoints may hold what that replica left half done).
        self.runners_kept = runners_kept
        self._kept: OrderedDict[str, tuple[contextlib.AsyncExitStack, PlayRunner]] = OrderedDict()
        self._usage_noted: dict[str, dict[str, int]] = {}  # of the sessions kept: what was last written
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=self.url, pool_factory=queue_pool)
        )
        self._step_task = self.app.task(name=STEP, queue=QUEUE)(self._session_step)
        self._decide_task = self.app.task(name=DECIDE, queue=QUEUE)(self._decide_step)
        self.app.periodic(cron="* * * * * *")(self.app.task(name=DISPATCH, queue=QUEUE)(self._dispatch))
        self._worker: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    async def __aenter__(self) -> QueueEngine:
        await self.app.open_async()
        async with setup_lock(self.url):  # replicas starting together: one creates the tables
            if not await self.app.check_connection_async():
                await self.app.schema_manager.apply_schema_async()
            await self._execute(_SCHEDULE)
            await self._execute(_WHERE)
        self._worker = asyncio.create_task(self._work(), name=f"worker {self.replica}")
        if self.tails is not None:
            self._following = asyncio.create_task(self._follow_namespaces(), name="namespace tails")
        return self

    async def _work(self) -> None:
        """procrastinate's worker, run again (with backoff) if it stops: a worker whose database
        connection broke stops itself, and a replica without one would serve but never step."""
        failures = 0
        while True:
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE],
                    name=self.replica,
                    concurrency=self.concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self.heartbeat_s,
                    stalled_worker_timeout=self.stalled_after_s * 4,
                    delete_jobs="successful",
                    shutdown_graceful_timeout=30,
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("the job worker stopped; starting it again", extra={"replica": self.replica})
            await asyncio.sleep(self.backoff_s(failures))

    async def __aexit__(self, *_exc: object) -> None:
        await self.shutdown()
        await self.app.close_async()

    async def shutdown(self) -> None:
        for task in (self._worker, self._following):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._following = None
        for play_id in list(self._kept):
            await self._let_go(play_id)

    async def resume_active(self) -> int:
        """Every active session has a row (those of other replicas have theirs already)."""
        sessions = await self.store.list("active")
        for session in sessions:
            await self._enrol(session, first_step_in_s=0)
        return len(sessions)

    async def schedule(self, session: Session) -> None:
        # a play started again after its session ended begins afresh
        await self._execute(
            "DELETE FROM healer_schedule WHERE play_id = %(play_id)s", play_id=session.play_id
        )
        await self._enrol(session, first_step_in_s=self.lease_s)
        await self._defer_step(session.play_id)

    async def _enrol(self, session: Session, first_step_in_s: float) -> None:
        namespace = session.namespace or "default"
        await self._execute(
            _ENROL, play_id=session.play_id, now_ns=self.clock(), namespace=namespace, in_s=first_step_in_s
        )

    async def stop(self, play_id: str) -> None:
        await self._execute("DELETE FROM healer_schedule WHERE play_id = %(play_id)s", play_id=play_id)
        await self._let_go(play_id)

    async def usage(self) -> dict[str, int]:
        totals = dict.fromkeys(USAGE_KEYS, 0)
        for row in await self._fetch("SELECT usage FROM healer_schedule"):
            for key, value in (row["usage"] or {}).items():
                if key in totals:
                    totals[key] += int(value)
        return totals

    async def running(self) -> list[str]:
        return [row["play_id"] for row in await self._fetch("SELECT play_id FROM healer_schedule")]

    # --- decisions: a job under the session's lock, so never beside one of its steps ----------------------

    async def decide(self, session: Session, fingerprint: str, decision: dict[str, Any]) -> IncidentView:
        before = next((v for v in await self.incidents(session) if v.fingerprint == fingerprint), None)
        if before is None or not before.waiting_for_human:
            raise ValueError(f"incident {fingerprint} is not waiting for a decision")
        job_id = await self._decide_task.configure(lock=f"play:{session.play_id}").defer_async(
            play_id=session.play_id, fingerprint=fingerprint, decision=decision
        )
        waited = 0.0
        while waited < self.decision_wait_s:
            jobs = await self.app.job_manager.list_jobs_async(id=job_id)
            if not jobs or jobs[0].status == Status.SUCCEEDED.value:  # finished jobs are deleted
                break
            if jobs[0].status == Status.FAILED.value:
                raise ValueError(f"the decision on {fingerprint} could not be applied; see the server's log")
            await asyncio.sleep(0.2)
            waited += 0.2
        views = await self.incidents(session)
        return next((v for v in views if v.thread_id == before.thread_id), before)

    async def _decide_step(self, play_id: str, fingerprint: str, decision: dict[str, Any]) -> None:
        session = await self.store.get(play_id)
        if session is None:
            return
        await self._let_go(play_id)  # its LLM budget is spent here too
        async with self._runner(session) as runner:
            await runner.decide(fingerprint, decision)
            await self._publish(play_id, runner)

    # --- the runners kept ---------------------------------------------------------------------------------

    async def _kept_runner(self, session: Session, fresh: bool) -> PlayRunner:
        if fresh:
            await self._let_go(session.play_id)
        if session.play_id in self._kept:
            self._kept.move_to_end(session.play_id)
            return self._kept[session.play_id][1]
        stack = contextlib.AsyncExitStack()
        try:
            runner = await stack.enter_async_context(self._runner(session))
        except BaseException:
            await stack.aclose()
            raise
        self._kept[session.play_id] = (stack, runner)
        while len(self._kept) > self.runners_kept:
            await self._let_go(next(iter(self._kept)))
        return runner

    async def _let_go(self, play_id: str) -> None:
        self._usage_noted.pop(play_id, None)
        kept = self._kept.pop(play_id, None)
        if kept is not None:
            with contextlib.suppress(Exception):  # closing clients: nothing to save
                await kept[0].aclose()

    # --- steps ------------------------------------------------------------------------------------------

    async def _defer_step(self, play_id: str) -> None:
        with contextlib.suppress(queue_errors.AlreadyEnqueued):
            await self._step_task.configure(
                lock=f"play:{play_id}", queueing_lock=f"step:{play_id}"
            ).defer_async(play_id=play_id)

    async def _session_step(self, play_id: str) -> None:
        rows = await self._fetch(_CLAIM, me=self.replica, play_id=play_id)
        session = await self.store.get(play_id)
        if not rows:
            return  # stopped, or finished meanwhile
        if session is None:
            await self.stop(play_id)
            return
        row = rows[0]
        progress = Progress(row["lines_seen"], row["changed_ns"], row["over"])
        failures, pods = 0, list(row.get("pods") or [])
        next_in_s: float | None = self.interval_s
        left_to_open = False
        try:
            runner = await self._kept_runner(session, fresh=row["last_reader"] != self.replica)
            if runner.unopened and not row["woken_since_last"]:
                # deferred by the step before to open what it found, and nothing came since: no pass
                await self._open_step(session, runner)
                next_in_s = None
            else:
                views, values = await self._step(session, runner, progress, open_later=True)
                if self.finished(progress, views):
                    await self.stop(play_id)
                    return
                next_in_s = self.next_step_in_s(runner, views, values, progress)
                pods = sorted(values.get("pod_agents", {})) if values else pods
                # opened by the session's next step, deferred now: behind the steps already waiting
                left_to_open = bool(runner.unopened)
        except Exception:
            await self._let_go(play_id)
            failures = row["failures"] + 1
            next_in_s = self.backoff_s(failures)
            log.exception("session step failed; retrying", extra={"play_id": play_id, "in_s": next_in_s})
        released = await self._fetch(
            _RELEASE,
            me=self.replica,
            play_id=play_id,
            lines_seen=progress.lines_seen,
            changed_ns=progress.changed_ns,
            over=progress.over,
            failures=failures,
            pods=pods,
            in_s=next_in_s,
            lease_s=self.lease_s,
            read_since=row["read_since"],
        )
        if released and (released[0]["woken"] or left_to_open):
            await self._defer_step(play_id)

    async def _note_usage(self, play_id: str, counts: dict[str, int]) -> None:
        if self._usage_noted.get(play_id) == counts:  # most steps: as this replica last wrote it
            return
        self._usage_noted[play_id] = counts
        await self._execute(
            "UPDATE healer_schedule SET usage = %(usage)s WHERE play_id = %(play_id)s",
            usage=counts,  # the connector sends a dict as jsonb
            play_id=play_id,
        )

    # --- woken by the namespace tails and watches ---------------------------------------------------------------------

    async def _changed(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        woken = await self._fetch(
            _WAKE,
            namespace=namespace,
            any_pod=pods is None,
            pods=sorted(pods or ()),
            plays=sorted(plays),
            lease_s=self.lease_s,
        )
        for row in woken:
            if row["idle"]:
                await self._defer_step(row["play_id"])

    async def _follow_namespaces(self, every_s: float = 2.0) -> None:
        """This replica tails the namespaces of the running sessions, whichever replica steps them."""
        assert self.tails is not None
        while True:
            try:
                rows = await self._fetch("SELECT DISTINCT namespace FROM healer_schedule WHERE NOT over")
                self.tails.follow(row["namespace"] for row in rows)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Postgres away: the tails go on as they are
                log.warning("could not read the namespaces to follow", extra={"error": str(error)})
            await asyncio.sleep(every_s)

    # --- the dispatcher ---------------------------------------------------------------------------------

    async def _dispatch(self, timestamp: int) -> None:
        await self._take_over_stalled()
        for row in await self._fetch(_DUE, lease_s=self.lease_s, limit=1000):
            await self._defer_step(row["play_id"])

    async def _take_over_stalled(self) -> None:
        """The jobs of replicas whose heartbeat stopped go back to the queue (or, when a fresh step of
        the session is already waiting, are closed: that step does the work).

        Dispatches can run side by side (one per second, on any replica, each as long as it takes), and
        a job two of them saw stalled would be handed back twice, the second time while a living worker
        already ran it: one takes the jobs over at a time, and lists them again once it holds the lock."""
        if not await self._stalled_jobs():
            return
        async with advisory_lock(self.url, "healer takeover", wait=False) as held:
            if held:
                await self._hand_back(await self._stalled_jobs())

    async def _stalled_jobs(self) -> list[Any]:
        return list(
            await self.app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=self.stalled_after_s
            )
        )

    async def _hand_back(self, stalled: list[Any]) -> None:
        for job in stalled:
            if job.task_name == DISPATCH:
                await self.app.job_manager.finish_job(job, Status.FAILED, delete_job=True)
                continue
            play_id = job.task_kwargs.get("play_id")
            # no `last_reader`: a replica that kept this session's runner from an earlier step must not
            # take it for up to date (the dead step may have left an incident's run halfway)
            await self._execute(
                "UPDATE healer_schedule SET reader = NULL, last_reader = NULL WHERE play_id = %(play_id)s",
                play_id=play_id,
            )
            try:
                await self.app.job_manager.retry_job(job)
            except queue_errors.UniqueViolation:
                await self.app.job_manager.finish_job(job, Status.FAILED, delete_job=True)
            log.warning(
                "a dead replica's job runs again here",
                extra={"play_id": play_id, "task": job.task_name, "job_id": job.id},
            )

    # --- SQL on procrastinate's pool ----------------------------------------------------------------------

    async def _execute(self, query: str, **args: Any) -> None:
        await self.app.connector.execute_query_async(query, **args)

    async def _fetch(self, query: str, **args: Any) -> list[dict[str, Any]]:
        return list(await self.app.connector.execute_query_all_async(query, **args))
