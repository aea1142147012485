"""Sessions, kept in the same database as the graphs' checkpoints (HEALER_DATABASE_URL): a SQLite file by
default, Postgres to scale out. One table, one row per play: its status and times as columns (to list and
filter), the whole session as JSON.

Starting a session is one atomic upsert: a new play, or a play whose session is no longer active, is
written; a play that is active is left alone and the caller told so (409), so two starts racing each
other cannot both schedule a run. The server keeps at most `HEALER_MAX_SESSIONS` (api/limits.py): after
a start, `prune` drops the sessions that ended longest ago beyond it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver

from api.models import Session, SessionStatus
from graph.checkpoint import SqliteFile, SqliteSaver, backend_of, open_sqlite, postgres_conninfo, setup_lock

_TABLE = """CREATE TABLE IF NOT EXISTS healer_sessions (
    play_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    body TEXT NOT NULL
)"""
_UPSERT = """INSERT INTO healer_sessions (play_id, status, started_at, last_updated, body)
VALUES ({p}, {p}, {p}, {p}, {p})
ON CONFLICT (play_id) DO UPDATE SET status = excluded.status, started_at = excluded.started_at,
    last_updated = excluded.last_updated, body = excluded.body
WHERE healer_sessions.status <> 'active'
RETURNING play_id"""
_SAVE = "UPDATE healer_sessions SET status = {p}, last_updated = {p}, body = {p} WHERE play_id = {p}"
_GET = "SELECT body FROM healer_sessions WHERE play_id = {p}"
_LIST = "SELECT body FROM healer_sessions ORDER BY started_at DESC, play_id"
_LIST_STATUS = "SELECT body FROM healer_sessions WHERE status = {p} ORDER BY started_at DESC, play_id"
_COUNT = "SELECT COUNT(*) FROM healer_sessions"
_COUNT_STATUS = "SELECT COUNT(*) FROM healer_sessions WHERE status = {p}"
# Drops as many sessions as its parameter says, those that ended longest ago; never an active one.
_PRUNE = """DELETE FROM healer_sessions WHERE play_id IN (
    SELECT play_id FROM healer_sessions WHERE status <> 'active' ORDER BY last_updated, play_id LIMIT {p}
)"""


class SessionStore(Protocol):
    async def start(self, session: Session) -> bool:
        """Write a new session; False (and nothing written) if the play has an active one."""
        ...

    async def save(self, session: Session) -> None: ...

    async def get(self, play_id: str) -> Session | None: ...

    async def list(self, status: SessionStatus | None = None) -> list[Session]: ...

    async def count(self, status: SessionStatus | None = None) -> int: ...

    async def prune(self, keep: int) -> int:
        """Drop the sessions that ended longest ago until at most `keep` are stored; how many went."""
        ...


@functools.lru_cache(maxsize=4096)
def _parsed(body: str) -> Session:
    """A stored session, parsed once while its row is unchanged: the listings (an MCP client's every few
    seconds, `/metrics`, the overview page) read every row, and parsing 1,000 sessions took a tenth of a
    second of a replica's core each time (bench/scale.py). Sessions are never changed in place (every
    change is a `model_copy`), so the readers of a row may share its parse."""
    return Session.model_validate_json(body)


def _counting(status: SessionStatus | None, p: str) -> tuple[str, tuple[str, ...]]:
    return (_COUNT, ()) if status is None else (_COUNT_STATUS.format(p=p), (status,))


def _row(session: Session) -> tuple[str, str, str, str, str]:
    return (
        session.play_id,
        session.status,
        session.started_at,
        session.last_updated,
        session.model_dump_json(),
    )


class SqliteStore:
    """On Healer's connection to the file, the checkpointer's too when the process has one: its users
    take turns on its lock instead of waiting in SQLite's busy loop, so no "database is locked"
    (tests/test_store.py). Each write commits before the lock is let go."""

    def __init__(self, file: SqliteFile) -> None:
        self._db, self._lock = file.connection, file.lock

    async def _write(self, query: str, args: tuple[object, ...]) -> tuple | None:
        async with self._lock:
            async with self._db.execute(query, args) as cursor:
                row = await cursor.fetchone()
            await self._db.commit()
        return row

    async def _read(self, query: str, args: tuple[object, ...]) -> list[tuple]:
        async with self._lock, self._db.execute(query, args) as cursor:
            return list(await cursor.fetchall())

    async def start(self, session: Session) -> bool:
        return await self._write(_UPSERT.format(p="?"), _row(session)) is not None

    async def save(self, session: Session) -> None:
        body = session.model_dump_json()
        await self._write(_SAVE.format(p="?"), (session.status, session.last_updated, body, session.play_id))

    async def get(self, play_id: str) -> Session | None:
        rows = await self._read(_GET.format(p="?"), (play_id,))
        return _parsed(rows[0][0]) if rows else None

    async def list(self, status: SessionStatus | None = None) -> list[Session]:
        query, args = (_LIST, ()) if status is None else (_LIST_STATUS.format(p="?"), (status,))
        return [_parsed(row[0]) for row in await self._read(query, args)]

    async def count(self, status: SessionStatus | None = None) -> int:
        [(total,)] = await self._read(*_counting(status, "?"))
        return total

    async def prune(self, keep: int) -> int:
        async with self._lock:
            async with self._db.execute(_COUNT) as cursor:
                (total,) = await cursor.fetchone() or (0,)
            if total <= keep:
                return 0
            cursor = await self._db.execute(_PRUNE.format(p="?"), (total - keep,))
            await self._db.commit()
        return cursor.rowcount


class PostgresStore:
    def __init__(self, pool: object) -> None:
        self._pool = pool

    async def _fetch(self, query: str, args: tuple[object, ...]) -> list[tuple]:
        async with self._pool.connection() as connection, connection.cursor() as cursor:  # type: ignore[attr-defined]
            await cursor.execute(query, args)
            return await cursor.fetchall() if cursor.description else []

    async def start(self, session: Session) -> bool:
        return bool(await self._fetch(_UPSERT.format(p="%s"), _row(session)))

    async def save(self, session: Session) -> None:
        await self._fetch(
            _SAVE.format(p="%s"),
            (session.status, session.last_updated, session.model_dump_json(), session.play_id),
        )

    async def get(self, play_id: str) -> Session | None:
        rows = await self._fetch(_GET.format(p="%s"), (play_id,))
        return _parsed(rows[0][0]) if rows else None

    async def list(self, status: SessionStatus | None = None) -> list[Session]:
        query, args = (_LIST, ()) if status is None else (_LIST_STATUS.format(p="%s"), (status,))
        return [_parsed(row[0]) for row in await self._fetch(query, args)]

    async def count(self, status: SessionStatus | None = None) -> int:
        [(total,)] = await self._fetch(*_counting(status, "%s"))
        return total

    async def prune(self, keep: int) -> int:
        excess = await self.count() - keep
        if excess <= 0:
            return 0
        async with self._pool.connection() as connection:  # type: ignore[attr-defined]
            cursor = await connection.execute(_PRUNE.format(p="%s"), (excess,))
            return cursor.rowcount


@contextlib.asynccontextmanager
async def open_store(
    url: str, checkpointer: BaseCheckpointSaver | None = None
) -> AsyncIterator[SessionStore]:
    """The session store in the database the checkpoints go to (HEALER_DATABASE_URL), on the SQLite
    checkpointer's file connection when given one."""
    if backend_of(url) == "sqlite":
        shared = checkpointer.file if isinstance(checkpointer, SqliteSaver) else None
        async with contextlib.AsyncExitStack() as stack:
            file = shared or await stack.enter_async_context(open_sqlite(url))
            async with file.lock:
                await file.connection.execute(_TABLE)
                await file.connection.commit()
            yield SqliteStore(file)
        return
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(
        postgres_conninfo(url), min_size=1, max_size=8, kwargs={"autocommit": True}, open=False
    ) as pool:
        async with setup_lock(url), pool.connection() as connection:
            await connection.execute(_TABLE)
        yield PostgresStore(pool)
