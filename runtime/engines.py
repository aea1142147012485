"""Which engine runs the sessions (runtime/engine.py): `HEALER_ENGINE` says, and by default (`auto`) the
database does: procrastinate's job queue, shared by every replica, on Postgres; the in-process scheduler
on SQLite, which one process owns."""

from __future__ import annotations

import contextlib
import functools
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
from runtime.pod_logs import PodLogFollowers
from runtime.services import live_context, shared_clients
from runtime.tails import NamespaceTails
from tools.kubernetes import KubeError, api_client_from_environment

log = logging.getLogger("healer.engines")


def engine_kind(settings: HealerSettings) -> str:
    backend = settings.database_backend()
    if settings.engine == "auto":
        return "queue" if backend == "postgres" else "local"
    if settings.engine == "queue" and backend != "postgres":
        raise DatabaseUrlError("HEALER_ENGINE=queue needs a Postgres HEALER_DATABASE_URL (postgresql://…)")
    return settings.engine


# the followed pod logs' connections kept open (each followed log holds one of its own while it runs)
FOLLOWED_PODS = 1024
FEED_REFRESH_S = 1.0  # at most one Loki read per namespace per second, whatever the number of sessions


@contextlib.asynccontextmanager
async def open_engine(
    settings: HealerSettings, store: SessionStore, saver: BaseCheckpointSaver, **options: Any
) -> AsyncIterator[Engine]:
    """The engine the settings choose, with what its sessions share: one set of outside clients (their
    contexts borrow them, unless `contexts` says otherwise), one Loki feed and tail per namespace, and one
    Kubernetes watch per namespace (on a client of its own: its watches hold their connections); without
    a Loki, the followed logs of the pods (on the watches' client) in place of the tails."""
    async with contextlib.AsyncExitStack() as stack:
        clients = await stack.enter_async_context(shared_clients(settings))
        if options.get("contexts") is None:
            options["contexts"] = functools.partial(live_context, clients=clients)
        if clients.loki is not None and "feeds" not in options:
            options["feeds"] = NamespaceFeeds(clients.loki, refresh_s=_refresh_s(options))
            if "tails" not in options:
                options["tails"] = NamespaceTails(clients.loki)
                stack.push_async_callback(options["tails"].close)
        if clients.kube_api is not None and "clusters" not in options:
            try:
                watching = api_client_from_environment(settings.kubeconfig)
                stack.callback(watching.close)
                options["clusters"] = ClusterWatches(watching)
                stack.callback(options["clusters"].close)
            except (ConfigException, OSError, KubeError) as error:
                log.warning("kubernetes: no shared view: %s", error)
            else:
                if clients.loki is None and "tails" not in options:  # no Loki: the pods' logs, followed
                    following = api_client_from_environment(settings.kubeconfig, connections=FOLLOWED_PODS)
                    stack.callback(following.close)
                    options["tails"] = PodLogFollowers(following, options["clusters"])
                    stack.push_async_callback(options["tails"].close)
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
