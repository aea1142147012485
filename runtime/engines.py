"""Which engine runs the sessions (runtime/engine.py): `HEALER_ENGINE` says, and by default (`auto`) the
database does: procrastinate's job queue, shared by every replica, on Postgres; the in-process scheduler
on SQLite, which one process owns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from api.store import SessionStore
from graph.checkpoint import DatabaseUrlError
from graph.config import HealerSettings
from runtime.engine import Engine
from runtime.local import Scheduler


def engine_kind(settings: HealerSettings) -> str:
    backend = settings.database_backend()
    if settings.engine == "auto":
        return "queue" if backend == "postgres" else "local"
    if settings.engine == "queue" and backend != "postgres":
        raise DatabaseUrlError("HEALER_ENGINE=queue needs a Postgres HEALER_DATABASE_URL (postgresql://…)")
    return settings.engine


@contextlib.asynccontextmanager
async def open_engine(
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
