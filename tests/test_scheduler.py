"""The scheduler: sessions end by themselves (play over, or idle), detections reach the store, and a run
that fails unexpectedly is retried instead of taking the server down."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.models import Session, rfc3339
from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings, settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from runtime.engine import Progress
from runtime.local import Scheduler
from runtime.runner import PlayRunner
from runtime.tails import NamespaceTails
from tests.conftest import live_url
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tools.kubernetes import KubernetesTools, api_client
from tools.loki import LokiClient, LokiConfig

START_NS = 1_795_500_000 * 1_000_000_000
MINUTE = 60 * 1_000_000_000


def session(play_id: str) -> Session:
    now = rfc3339()
    return Session.model_validate(
        {
            "play_id": play_id,
            "namespace": "cto",
            "started_at": now,
            "last_updated": now,
            "tasks": [{"id": "1"}],
        }
    )


async def wait_for(check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def test_a_session_ends_when_its_play_is_over_and_its_findings_are_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    clock = [START_NS]
    runs = [
        EmulatedRun(
            "play-x-rex-t1",
            "5DLabs-Rex",
            1,
            [(START_NS - MINUTE, "Running"), (START_NS + MINUTE, "Failed")],
            exit_code=2,
        )
    ]

    async def scenario() -> Session | None:
        with KubernetesEmulator("cto", "play-x", runs, clock=lambda: clock[0]) as kube:

            @contextlib.asynccontextmanager
            async def contexts(
                settings: HealerSettings, _session: SessionStart
            ) -> AsyncIterator[HealerContext]:
                yield HealerContext(
                    settings=settings, kube=KubernetesTools(api_client(kube.configuration()), "cto")
                )

            async with open_checkpointer(url) as saver, open_store(url, saver) as store:
                scheduler = Scheduler(
                    settings_from({}),
                    store,
                    saver,
                    interval_s=0.05,
                    contexts=contexts,
                    clock=lambda: clock[0],
                )
                await store.start(session("play-x"))
                await scheduler.schedule(session("play-x"))
                await asyncio.sleep(0.3)
                assert (await store.get("play-x")).status == "active"  # type: ignore[union-attr]
                clock[0] += 2 * MINUTE  # the CodeRun fails: the play is over
                await wait_for(lambda: _status_is(store, "play-x", "completed"))
                await scheduler.shutdown()
                return await store.get("play-x")

    stored = asyncio.run(scenario())
    assert stored is not None and stored.status == "completed"
    assert stored.ended_reason == "the play is over: every CodeRun is terminal"
    assert [(d.code, d.issue_type, d.agent) for d in stored.issues] == [
        ("A7", "agent_failure", "rex")
    ]  # the failed pod, found and kept


async def _status_is(store, play_id: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    found = await store.get(play_id)
    return found is not None and found.status == status


def test_an_idle_session_ends_and_a_failing_run_is_retried(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    attempts = []

    @contextlib.asynccontextmanager
    async def flaky(settings: HealerSettings, _session: SessionStart) -> AsyncIterator[HealerContext]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("a bug on the first try")
        yield HealerContext(settings=settings)

    async def scenario() -> Session | None:
        async with open_checkpointer(url) as saver, open_store(url, saver) as store:
            scheduler = Scheduler(
                settings_from({}), store, saver, interval_s=0.01, idle_timeout_s=0.2, contexts=flaky
            )
            await store.start(session("play-idle"))
            await scheduler.schedule(session("play-idle"))
            await wait_for(lambda: _status_is(store, "play-idle", "completed"))
            await scheduler.shutdown()
            return await store.get("play-idle")

    stored = asyncio.run(scenario())
    assert len(attempts) >= 2
    assert stored is not None and stored.ended_reason == "no new log line for 0 s"


@pytest.mark.live
def test_new_lines_on_the_tail_wake_the_session_at_once(tmp_path: Path) -> None:
    """A 60 s interval, yet a line pushed to Loki is read within seconds: the tail woke the session."""
    loki_url = live_url("LOKI_URL")
    url = f"sqlite:///{tmp_path}/healer.db"
    namespace = f"tail-{uuid.uuid4().hex[:8]}"
    start = session("play-tail").model_copy(update={"namespace": namespace})

    @contextlib.asynccontextmanager
    async def contexts(settings: HealerSettings, _session: SessionStart) -> AsyncIterator[HealerContext]:
        async with LokiClient(LokiConfig(url=loki_url)) as loki:
            yield HealerContext(settings=settings, loki=loki)

    async def scenario() -> Session | None:
        async with (
            open_checkpointer(url) as saver,
            open_store(url, saver) as store,
            LokiClient(LokiConfig(url=loki_url)) as shared,
        ):
            tails = NamespaceTails(shared)
            scheduler = Scheduler(
                settings_from({}), store, saver, interval_s=60, contexts=contexts, tails=tails
            )
            await store.start(start)
            await scheduler.schedule(start)
            await wait_for(lambda: _passes_at_least(scheduler, 1))
            await asyncio.sleep(1.5)  # the tail's websocket is open
            line = {
                "stream": {"namespace": namespace, "pod": "rex-1"},
                "values": [[str(time.time_ns() // 1000 * 1000), "INFO hello"]],
            }
            async with httpx.AsyncClient() as client:
                (
                    await client.post(f"{loki_url}/loki/api/v1/push", json={"streams": [line]})
                ).raise_for_status()
            await wait_for(lambda: _passes_at_least(scheduler, 2), seconds=20)
            await wait_for(lambda: _last_line_seen(store, "play-tail"), seconds=20)
            await scheduler.shutdown()
            await tails.close()
            return await store.get("play-tail")

    stored = asyncio.run(scenario())
    assert stored is not None and stored.last_line_at is not None


async def _passes_at_least(scheduler: Scheduler, count: int) -> bool:
    return scheduler.passes_run >= count


async def _last_line_seen(store, play_id: str) -> bool:  # type: ignore[no-untyped-def]
    found = await store.get(play_id)
    return found is not None and found.last_line_at is not None


@pytest.mark.live
def test_timed_passes_slow_down_while_the_tail_follows_and_speed_up_when_it_stops(tmp_path: Path) -> None:
    """Every interval until the namespace's tail is connected, then the catch-up's 300 s (nothing it
    reads is left unfollowed: no cluster, no GitHub); the interval again once the tail is gone."""
    loki_url = live_url("LOKI_URL")
    url = f"sqlite:///{tmp_path}/healer.db"
    start = session("play-slow").model_copy(update={"namespace": f"slow-{uuid.uuid4().hex[:8]}"})
    pauses: list[float] = []

    @contextlib.asynccontextmanager
    async def contexts(settings: HealerSettings, _session: SessionStart) -> AsyncIterator[HealerContext]:
        async with LokiClient(LokiConfig(url=loki_url)) as loki:
            yield HealerContext(settings=settings, loki=loki)

    async def paused(at_least: float | None = None, at_most: float | None = None) -> bool:
        last = pauses[-1] if pauses else None
        return (
            last is not None
            and (at_least is None or last >= at_least)
            and (at_most is None or last <= at_most)
        )

    async def scenario() -> None:
        async with (
            open_checkpointer(url) as saver,
            open_store(url, saver) as store,
            LokiClient(LokiConfig(url=loki_url)) as shared,
        ):
            tails = NamespaceTails(shared)
            settings = settings_from({"HEALER_CATCHUP_S": "300"})
            scheduler = Scheduler(settings, store, saver, interval_s=0.5, contexts=contexts, tails=tails)
            pause = scheduler._pause

            async def recorded(play_id: str, seconds: float) -> None:
                pauses.append(seconds)
                await pause(play_id, seconds)

            scheduler._pause = recorded  # type: ignore[method-assign]
            await store.start(start)
            await scheduler.schedule(start)
            await wait_for(lambda: paused(at_least=299), seconds=20)
            assert pauses[0] == 0.5  # the first pass ran before the tail was up
            await tails.close()
            scheduler.wake(start.play_id)
            await wait_for(lambda: paused(at_most=0.5), seconds=10)
            await scheduler.shutdown()

    asyncio.run(scenario())


def _on_the_cluster(kube: KubernetesEmulator) -> HealerContext:
    return HealerContext(
        settings=settings_from({}), kube=KubernetesTools(api_client(kube.configuration()), "cto")
    )


def test_an_incident_opened_but_not_begun_is_left_out_of_what_readers_see(tmp_path: Path) -> None:
    """Between a pass that opens an incident and the first checkpoint of its thread (or after a crash
    there), the API and MCP readers see the session without it, not an incident with nothing in it."""
    url = f"sqlite:///{tmp_path}/healer.db"
    runs = [EmulatedRun("play-y-rex-t1", "5DLabs-Rex", 1, [(START_NS - MINUTE, "Failed")], exit_code=2)]

    async def scenario() -> tuple[list[str], int, list[str]]:
        with KubernetesEmulator("cto", "play-y", runs, clock=lambda: START_NS) as kube:
            async with open_checkpointer(url) as saver, open_store(url, saver) as store:
                scheduler = Scheduler(settings_from({}), store, saver, clock=lambda: START_NS)
                context = _on_the_cluster(kube)
                start = session("play-y")
                runner = PlayRunner(start, context, saver, clock=lambda: START_NS)
                begun = runner.open_incident

                async def not_begun(fingerprint: str, initial: dict) -> None:
                    return None

                runner.open_incident = not_begun  # type: ignore[method-assign]
                values = await runner.run_pass()
                before = await scheduler.incidents(start)
                runner.open_incident = begun  # type: ignore[method-assign]
                await PlayRunner(start, context, saver, clock=lambda: START_NS).recover()
                after = await scheduler.incidents(start)
                return list(values["incidents"]), len(before), [v.values["finding"]["code"] for v in after]

    opened, before, after = asyncio.run(scenario())
    assert len(opened) == 1 and before == 0
    assert after == ["A7"]  # the recovery began it, and now it is there


def test_a_finding_is_published_before_its_incident_runs_which_its_next_turn_opens(tmp_path: Path) -> None:
    """A step's pass publishes what it found at once; the incident (an evaluation, an issue: seconds with
    a real model) is opened in the session's next turn, behind the steps already waiting."""
    url = f"sqlite:///{tmp_path}/healer.db"
    runs = [
        EmulatedRun("play-z-rex-t1", "5DLabs-Rex", 1, [(START_NS - MINUTE, "Failed")], exit_code=2),
        EmulatedRun("play-z-blaze-t2", "5DLabs-Blaze", 2, [(START_NS - MINUTE, "Running")]),
    ]  # one still running: the play is not over (its last pass would open what it found at once)

    async def scenario() -> tuple[list[tuple[str, str | None]], int, list[str], list[str]]:
        with KubernetesEmulator("cto", "play-z", runs, clock=lambda: START_NS) as kube:
            async with open_checkpointer(url) as saver, open_store(url, saver) as store:
                scheduler = Scheduler(settings_from({}), store, saver, clock=lambda: START_NS)
                context = _on_the_cluster(kube)
                start = session("play-z")
                await store.start(start)
                runner = PlayRunner(start, context, saver, clock=lambda: START_NS)
                await scheduler._step(start, runner, Progress(), open_later=True)
                stored = await store.get("play-z")
                found = [(d.code, d.github_issue) for d in stored.issues]  # type: ignore[union-attr]
                before = len(await scheduler.incidents(start))
                await scheduler._open_step(start, runner)
                after = [view.values["finding"]["code"] for view in await scheduler.incidents(start)]
                stored = await store.get("play-z")
                return found, before, after, [d.code for d in stored.issues]  # type: ignore[union-attr]

    found, before, after, published = asyncio.run(scenario())
    assert found == [("A7", None)] and before == 0  # out before its incident is
    assert after == ["A7"] and published == ["A7"]  # opened in the next turn, published once


def test_the_steps_run_at_once_are_a_setting(tmp_path: Path) -> None:
    async def limit() -> int:
        url = f"sqlite:///{tmp_path}/healer.db"
        async with open_checkpointer(url) as saver, open_store(url, saver) as store:
            scheduler = Scheduler(settings_from({"HEALER_CONCURRENT_STEPS": "3"}), store, saver)
            return scheduler._limit._value

    assert asyncio.run(limit()) == 3
    assert settings_from({}).concurrent_steps == 32
    with pytest.raises(ValueError, match=r"concurrent_steps|HEALER_CONCURRENT_STEPS"):
        settings_from({"HEALER_CONCURRENT_STEPS": "0"})
