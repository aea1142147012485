"""Without a Loki the pods' logs are followed through the Kubernetes API (runtime/pod_logs.py), against the
Kubernetes emulator: a line a running pod writes wakes its session at once (its timed pass is a minute
away), the woken pass reads it from the pod's log, and the finding shows; a pod that stops running is
no longer followed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from api.models import Session, rfc3339
from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from runtime.engines import open_engine
from runtime.pod_logs import PodLogFollowers
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator

MINUTE = 60 * 1_000_000_000
PANIC = "thread 'main' panicked at src/main.rs:42:5: called `Option::unwrap()` on a `None` value"


def stamped(text: str) -> str:
    now = time.time_ns()
    second = datetime.fromtimestamp(now // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{second}.{now % 10**9:09d}Z {text}\n"


async def until(check, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


def test_a_line_of_a_followed_pod_wakes_its_session_without_a_loki(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    run = EmulatedRun(
        "play-follow-rex-t1",
        "5DLabs-Rex",
        1,
        [(time.time_ns() - MINUTE, "Running")],
        log=stamped("INFO cargo check: ok"),
    )

    async def scenario() -> None:
        with KubernetesEmulator("cto", "play-follow", [run], clock=time.time_ns) as kube:
            settings = settings_from(
                {
                    "database_url": url,
                    "KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
                    "HEALER_CATCHUP_S": "300",
                }
            )
            now = rfc3339()
            session = Session.model_validate(
                {"play_id": "play-follow", "namespace": "cto", "started_at": now, "last_updated": now}
            )
            async with (
                open_checkpointer(url) as saver,
                open_store(url, saver) as store,
                open_engine(settings, store, saver, interval_s=60) as engine,
            ):
                followers = engine.tails
                assert isinstance(followers, PodLogFollowers)  # no LOKI_URL: the pods' logs instead
                await store.start(session)
                await engine.schedule(session)

                async def followed() -> bool:
                    return engine.passes_run >= 1 and followers.live("cto")

                assert await until(followed), "the pod's log was never followed"
                await asyncio.sleep(1.0)  # the wakes of the first list, watch and connection are over
                passes = engine.passes_run
                run.log += stamped(PANIC)

                async def found() -> bool:
                    stored = await store.get("play-follow")
                    return stored is not None and any(d.code == "R1" for d in stored.issues)

                assert await until(found), "the panic was not found within 15 s: no wake"
                assert engine.passes_run > passes
                assert followers.connections == 1

                await asyncio.sleep(0.5)
                passes = engine.passes_run
                run.log += stamped("INFO cargo test: 12 passed")  # a later line wakes it again

                async def stepped() -> bool:
                    return engine.passes_run > passes

                assert await until(stepped), "a second line did not wake the session"

                run.phases.append((time.time_ns(), "Succeeded"))
                assert await until(lambda: _unfollowed(followers)), "a finished pod is still followed"

    asyncio.run(scenario())


async def _unfollowed(followers: PodLogFollowers) -> bool:
    return not followers._followers.get("cto")
