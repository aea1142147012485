"""The queue engine's wake and kept runners (runtime/queue.py), in one process on the live Postgres and
the Kubernetes emulator: lines of a namespace step only the sessions of their pods (and those that know
no pods yet); a session woken while its step runs steps again as soon as that step ends; a session's
runner is kept from step to step, and built afresh once another replica stepped the session or a step
failed.

The timed passes are a minute apart, so every step after the first is one a wake caused."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from api.models import Session, rfc3339
from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings, settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from runtime.engine import Progress
from runtime.queue import QueueEngine, RecentlyUsedCheck
from tests.conftest import scratch_postgres
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tools.kubernetes import KubernetesTools, api_client

pytestmark = pytest.mark.live
MINUTE = 60 * 1_000_000_000
PLAYS = {"play-a": "cto", "play-b": "cto", "play-new": "cto", "play-elsewhere": "staging"}
RUNS = [
    EmulatedRun(f"{play}-rex-t1", "5DLabs-Rex", 1, [(time.time_ns() - MINUTE, "Running")], play_id=play)
    for play in ("play-a", "play-b")
] + [
    EmulatedRun(
        "play-elsewhere-rex-t1",
        "5DLabs-Rex",
        1,
        [(time.time_ns() - MINUTE, "Running")],
        play_id="play-elsewhere",
        namespace="staging",
    )
]  # play-new has no CodeRun yet: it knows no pods


def session(play_id: str, plays: dict[str, str] = PLAYS) -> Session:
    now = rfc3339()
    return Session.model_validate(
        {"play_id": play_id, "namespace": plays[play_id], "started_at": now, "last_updated": now}
    )


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


class Harness:
    def __init__(self, engine: QueueEngine, kube: KubernetesEmulator, runs: list[EmulatedRun]) -> None:
        self.engine, self.kube, self.runs = engine, kube, runs

    def pod(self, play_id: str) -> str:
        return next(self.kube.pod_name(run) for run in self.runs if run.play_id == play_id)

    async def rows(self) -> dict[str, dict[str, Any]]:
        rows = await self.engine._fetch("SELECT play_id, steps, pods, reader FROM healer_schedule")
        return {row["play_id"]: row for row in rows}

    async def steps(self) -> dict[str, int]:
        """The steps begun of each session (a step counts when it starts)."""
        return {play_id: row["steps"] for play_id, row in (await self.rows()).items()}

    async def stepped(self, play_id: str, times: int) -> bool:
        """The session's `times`th step has ended."""
        row = (await self.rows()).get(play_id) or {}
        return row.get("steps") == times and row.get("reader") is None

    async def wake(self, namespace: str, *plays: str) -> None:
        await self.engine._lines_arrived(namespace, {self.pod(play_id) for play_id in plays})


@contextlib.asynccontextmanager
async def harness(
    built: Counter[str], plays: dict[str, str] = PLAYS, runs: list[EmulatedRun] = RUNS
) -> AsyncIterator[Harness]:
    with (
        scratch_postgres() as url,
        KubernetesEmulator("cto", "play-a", runs, clock=time.time_ns) as kube,
    ):

        @contextlib.asynccontextmanager
        async def contexts(settings: HealerSettings, start: SessionStart) -> AsyncIterator[HealerContext]:
            built[start.play_id] += 1
            tools = KubernetesTools(api_client(kube.configuration()), start.namespace or "default")
            yield HealerContext(settings=settings, kube=tools)

        async with (
            open_checkpointer(url) as saver,
            open_store(url, saver) as store,
            QueueEngine(
                settings_from({}),
                store,
                saver,
                database_url=url,
                replica="replica-here",
                interval_s=60,
                contexts=contexts,
            ) as engine,
        ):
            for play_id in plays:
                await store.start(session(play_id, plays))
                await engine.schedule(session(play_id, plays))
            steps = Harness(engine, kube, runs)
            if plays is PLAYS:
                await until(lambda: _all_stepped_once(steps))
            yield steps


async def _all_stepped_once(steps: Harness) -> bool:
    return all([await steps.stepped(play_id, 1) for play_id in PLAYS])


def test_lines_step_only_the_sessions_of_their_pods_and_those_that_know_none() -> None:
    async def scenario() -> None:
        async with harness(Counter()) as steps:
            rows = await steps.rows()
            assert rows["play-a"]["pods"] == [steps.pod("play-a")]  # what its pass found, for the wake
            assert rows["play-new"]["pods"] == []
            await steps.wake("cto", "play-a")
            await until(lambda: steps.stepped("play-a", 2))
            await until(lambda: steps.stepped("play-new", 2))
            await asyncio.sleep(2)  # a dispatch or two: nothing else is due
            assert await steps.steps() == {"play-a": 2, "play-new": 2, "play-b": 1, "play-elsewhere": 1}
            # a pod play-b has not seen yet, which the cluster's watch says is play-b's
            await steps.engine._changed("cto", {"play-b-cleo-t2-new"}, {"play-b"})
            await until(lambda: steps.stepped("play-b", 2))

    asyncio.run(scenario())


def test_a_session_woken_while_its_step_runs_steps_again_when_it_ends() -> None:
    async def scenario() -> None:
        async with harness(Counter()) as steps:
            engine, inside, go_on = steps.engine, asyncio.Event(), asyncio.Event()
            step = engine._step

            async def held(session: Session, runner: Any, progress: Progress, **options: Any) -> Any:
                if session.play_id == "play-b" and not go_on.is_set():
                    inside.set()
                    await go_on.wait()
                return await step(session, runner, progress, **options)

            engine._step = held  # type: ignore[method-assign]
            await steps.wake("cto", "play-b")
            await asyncio.wait_for(inside.wait(), 15)
            await steps.wake("cto", "play-b")  # lines the held step may not have read
            go_on.set()
            await until(lambda: steps.stepped("play-b", 3))

    asyncio.run(scenario())


def test_a_runner_is_kept_until_another_replica_steps_the_session_or_a_step_fails() -> None:
    built: Counter[str] = Counter()

    async def scenario() -> None:
        async with harness(built) as steps:
            engine = steps.engine
            await steps.wake("cto", "play-a")
            await until(lambda: steps.stepped("play-a", 2))
            assert built["play-a"] == 1  # two steps, one runner

            await engine._execute(
                "UPDATE healer_schedule SET last_reader = 'replica-elsewhere' WHERE play_id = 'play-a'"
            )
            await steps.wake("cto", "play-a")
            await until(lambda: steps.stepped("play-a", 3))
            assert built["play-a"] == 2  # what the other replica checkpointed is read afresh

            step, failed = engine._step, []

            async def failing(session: Session, runner: Any, progress: Progress, **options: Any) -> Any:
                if session.play_id == "play-a" and not failed:
                    failed.append(session.play_id)
                    raise RuntimeError("the step broke")
                return await step(session, runner, progress, **options)

            engine._step = failing  # type: ignore[method-assign]
            await steps.wake("cto", "play-a")
            await until(lambda: steps.stepped("play-a", 4))
            await steps.wake("cto", "play-a")
            await until(lambda: steps.stepped("play-a", 5))
            assert built["play-a"] == 3  # the failed step's runner was dropped

    asyncio.run(scenario())


async def _left_by_a_dead_replica(engine: QueueEngine, play_id: str) -> int:
    """A step job as a replica killed in the middle of it leaves it: doing, and no living worker."""
    job_id = await engine._step_task.configure(
        lock=f"play:{play_id}", queueing_lock=f"step:{play_id}", schedule_in={"hours": 1}
    ).defer_async(play_id=play_id)
    await engine._execute(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL WHERE id = %(id)s", id=job_id
    )
    return job_id


def test_a_dead_replicas_step_is_run_again_on_a_runner_built_afresh() -> None:
    """This replica stepped play-a last and kept its runner; then another replica's step of it died. The
    step run again here reads the checkpoints afresh (the dead step may have left an incident's run
    halfway, which only a new runner's recovery resumes), not the kept runner."""
    built: Counter[str] = Counter()

    async def scenario() -> None:
        async with harness(built) as steps:
            engine = steps.engine
            assert built["play-a"] == 1
            await _left_by_a_dead_replica(engine, "play-a")
            await engine._execute(
                "UPDATE healer_schedule SET reader = 'replica-dead' WHERE play_id = 'play-a'"
            )
            await engine._take_over_stalled()
            await until(lambda: steps.stepped("play-a", 2))
            assert built["play-a"] == 2

    asyncio.run(scenario())


def test_a_stalled_job_is_handed_back_once_by_dispatches_side_by_side() -> None:
    """Two dispatches that both see a job stalled: had both handed it back, the second would have
    queued it again while a living worker already ran it (two steps of one session at once)."""

    async def scenario() -> None:
        async with harness(Counter()) as steps:
            engine, handed_back = steps.engine, []
            retry = engine.app.job_manager.retry_job

            async def counted(job: Any, *args: Any, **kwargs: Any) -> None:
                handed_back.append(job.id)
                await retry(job, *args, **kwargs)

            engine.app.job_manager.retry_job = counted  # type: ignore[method-assign]
            job_id = await _left_by_a_dead_replica(engine, "play-gone")
            await asyncio.gather(engine._take_over_stalled(), engine._take_over_stalled())
            assert handed_back == [job_id]

    asyncio.run(scenario())


def test_the_queue_pool_checks_only_connections_not_used_lately() -> None:
    """A connection lent moments ago is lent again unchecked (no round trip); one not lent lately is
    checked, so one whose server went away is not lent."""

    async def scenario() -> None:
        with scratch_postgres() as url:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                backend = connection.info.backend_pid
                recently, lately = RecentlyUsedCheck(fresh_s=60), RecentlyUsedCheck(fresh_s=0)
                await recently.check(connection)
                await lately.check(connection)
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
                    await admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
                await recently.check(connection)  # not asked: it would have failed
                with pytest.raises(psycopg.OperationalError):
                    await RecentlyUsedCheck(fresh_s=60).check(connection)  # never lent by this one
                with pytest.raises(psycopg.OperationalError):
                    await lately.check(connection)

    asyncio.run(scenario())


def test_a_finding_is_published_by_its_step_and_its_incident_opened_by_the_next_without_a_pass() -> None:
    """rex failed (A7): the first step publishes the finding and defers the next, which opens the incident
    and, nothing having come since, runs no pass of its own."""
    failing = [
        EmulatedRun(
            "play-f-rex-t1",
            "5DLabs-Rex",
            1,
            [(time.time_ns() - MINUTE, "Failed")],
            play_id="play-f",
            exit_code=2,
        ),
        EmulatedRun(
            "play-f-blaze-t2", "5DLabs-Blaze", 2, [(time.time_ns() - MINUTE, "Running")], play_id="play-f"
        ),
    ]  # blaze still runs: the play is not over

    async def scenario() -> tuple[int, list[str]]:
        async with harness(Counter(), {"play-f": "cto"}, failing) as steps:
            await until(lambda: steps.stepped("play-f", 2))
            opened = [
                view.values["finding"]["code"]
                for view in await steps.engine.incidents(session("play-f", {"play-f": "cto"}))
            ]
            return steps.engine.passes_run, opened

    passes, opened = asyncio.run(scenario())
    assert opened == ["A7"] and passes == 1
