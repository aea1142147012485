"""Which engine runs the sessions (runtime/engine.py): `HEALER_ENGINE` says, and by default (`auto`) the
database does: procrastinate's job queue, shared by every replica, on Postgres; the in-process scheduler
on SQLite, which one process owns."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from kubernetes.config import ConfigException
from langgraph.checkpoint.base import BaseCheckpointSaver

from api.store import SessionStore
from graph.checkpoint import DatabaseUrlError
from graph.config import HealerSettings
from runtime.clusters import ClusterWatches
from runtime.engine import Engine
from runtime.feeds import NamespaceFeeds
from runtime.local import Scheduler
from runtime.services import loki_config
from runtime.tails import NamespaceTails
from tools.kubernetes import KubeError, api_client_from_environment
from tools.loki import LokiClient

log = logging.getLogger("healer.engines")


def engine_kind(settings: HealerSettings) -> str:
    backend = settings.database_backend()
    if settings.engine == "auto":
        return "queue" if backend == "postgres" else "local"
    if settings.engine == "queue" and backend != "postgres":
        raise DatabaseUrlError("HEALER_ENGINE=queue needs a Postgres HEALER_DATABASE_URL (postgresql://…)")
    return settings.engine


FEED_REFRESH_S = 1.0  # at most one Loki read per namespace per second, whatever the number of sessions


@contextlib.asynccontextmanager
async def open_engine(
    settings: HealerSettings, store: SessionStore, saver: BaseCheckpointSaver, **options: Any
) -> AsyncIterator[Engine]:
    async with contextlib.AsyncExitStack() as stack:
        if settings.loki_url and "feeds" not in options:
            loki = await stack.enter_async_context(LokiClient(loki_config(settings)))
            options["feeds"] = NamespaceFeeds(loki, refresh_s=_refresh_s(options))
            if "tails" not in options:
                options["tails"] = NamespaceTails(loki)
                stack.push_async_callback(options["tails"].close)
        if settings.kubernetes_enabled and "clusters" not in options:
            try:
                client = api_client_from_environment(settings.kubeconfig)
                options["clusters"] = ClusterWatches(client)
                stack.callback(options["clusters"].close)
            except (ConfigException, OSError, KubeError) as error:
                log.warning("kubernetes: no shared view: %s", error)
        engine = await stack.enter_async_context(_engine(settings, store, saver, **options))
        yield engine


def _refresh_s(options: dict[str, Any]) -> float:
    return min(FEED_REFRESH_S, options.get("interval_s", 5.0) / 2)


@contextlib.asynccontextmanager
async def _engine(
    settings: HealerSettings, store: SessionStore, saver: BaseCheckpointSaver, **options: Any
) -> AsyncIterator[Engine]:
    if engine_kind(settings) == "local":
        scheduler = Scheduler(settings, store, saver, **options)
        try:
            yield scheduler
        finally:
            await scheduler.shutdown()
        return
    from runtime.queue import QueueEngine  # procrastinate is only needed to scale out

    async with QueueEngine(
        settings,
        store,
        saver,
        database_url=settings.database_url,
        replica=settings.replica_name,
        **options,
    ) as engine:
        yield engine
