"""Healer on a cluster without Loki: the session passes read each pod's log from the Kubernetes API (the
emulator's `pods/<name>/log`, with timestamps), each pod from its own cursor, and triage opens the incident
a panic calls for. Each line is read once, however many passes there are."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext, SessionBudget
from graph.session import SessionStart
from runtime.runner import PlayRunner
from runtime.services import shared_matcher
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tests.scenarios.definitions import RUNTIME_PANIC
from tools.kubernetes import KubernetesTools, api_client

S = 10**9
T0 = int(datetime(2026, 11, 24, 6, 0, tzinfo=UTC).timestamp()) * S


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def stamped(at_s: float, text: str) -> str:
    moment = datetime.fromtimestamp(T0 / S + at_s, tz=UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{int(moment.microsecond * 1000):09d}Z {text}\n"


def test_without_loki_the_passes_read_the_pods_logs_from_kubernetes_once_each(tmp_path: Path) -> None:
    clock = Clock(T0 + 30 * S)
    blaze = EmulatedRun(
        "play-panic-blaze-t2", "5DLabs-Blaze", 2, [(T0, "Running"), (T0 + 600 * S, "Failed")], exit_code=101
    )
    blaze.log = stamped(1, "INFO Starting agent blaze (claude) for task 2") + stamped(
        2, "INFO blaze: building"
    )
    session = SessionStart.model_validate(RUNTIME_PANIC.session())
    settings = settings_from({"database_url": f"sqlite:///{tmp_path}/healer.db"})

    async def passes() -> tuple[list[int], list, list[str]]:
        with KubernetesEmulator("cto", session.play_id, [blaze], clock=clock) as emulator:
            kube = KubernetesTools(api_client(emulator.configuration()), "cto", sleep=lambda _s: None)
            context = HealerContext(
                settings=settings, matcher=shared_matcher(), budget=SessionBudget(40), kube=kube
            )
            assert context.loki is None
            seen = []
            async with open_checkpointer(settings.database_url) as saver:
                runner = PlayRunner(session, context, saver, clock=clock)
                seen.append((await runner.run_pass())["lines_seen"])
                clock.now += 15 * S
                seen.append((await runner.run_pass())["lines_seen"])  # nothing new
                blaze.log += stamped(40, "thread 'main' panicked at src/db/migrate.rs:88:14:")
                blaze.log += stamped(40.001, "called `Option::unwrap()` on a `None` value")
                clock.now += 15 * S
                values = await runner.run_pass()
                seen.append(values["lines_seen"])
                await runner.run_due_incidents()
                return seen, await runner.all_incidents(), values.get("degraded", [])

    seen, incidents, degraded = asyncio.run(passes())
    assert seen == [2, 2, 4] and degraded == []
    [incident] = [view for view in incidents if view.values["finding"]["code"] == "R1"]
    finding = incident.values["finding"]
    assert finding["agent"] == "blaze" and finding["pod"].startswith("play-panic-blaze-t2-")
    assert "panicked at src/db/migrate.rs:88:14" in finding["text"]
