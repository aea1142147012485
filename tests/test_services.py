"""The outside clients a process's sessions share (runtime/services.py, runtime/engines.py): every session's
context borrows the engine's one Loki client and one Kubernetes API client, a session ending closes
neither, and a context built without an engine has clients of its own, closed with it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.session import SessionStart
from runtime.engines import open_engine
from runtime.services import live_context
from tests.emulators.kubernetes import KubernetesEmulator


def test_sessions_borrow_the_engines_clients_and_a_lone_context_owns_its_own(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"

    async def scenario() -> None:
        with KubernetesEmulator("cto", "play-a", [], clock=time.time_ns) as kube:
            kubeconfig = tmp_path / "kubeconfig"
            kube.write_kubeconfig(kubeconfig)
            settings = settings_from(
                {"database_url": url, "LOKI_URL": "http://127.0.0.1:9", "KUBECONFIG": str(kubeconfig)}
            )
            first = SessionStart.model_validate({"play_id": "play-a", "namespace": "cto"})
            second = SessionStart.model_validate({"play_id": "play-b", "namespace": "staging"})
            async with (
                open_checkpointer(url) as saver,
                open_store(url, saver) as store,
                open_engine(settings, store, saver) as engine,
            ):
                async with engine.contexts(settings, first) as a, engine.contexts(settings, second) as b:
                    assert a.loki is not None and a.loki is b.loki
                    assert a.loki is engine.feeds.loki  # the namespace feeds read through it too
                    assert a.kube is not None and b.kube is not None
                    assert a.kube.api_client is b.kube.api_client
                    assert (a.kube.namespace, b.kube.namespace) == ("cto", "staging")
                    shared = a.loki
                assert not shared.closed  # a session ending leaves the process's clients open
                async with live_context(settings, first) as lone:
                    assert lone.loki is not None and lone.loki is not shared
                    own = lone.loki
                assert own.closed
            assert shared.closed

    asyncio.run(scenario())
