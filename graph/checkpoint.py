"""Where the graphs' checkpoints live (DESIGN §3): SQLite by default, Postgres to scale out.

`HEALER_DATABASE_URL` chooses: `sqlite:///path/to/healer.db` (the default, `.healer/healer.db`; the
folder is created) or `postgresql://…`. Old checkpoints are pruned through the savers' own `aprune`
(runtime/runner.py says when), so a session that runs thousands of passes keeps a bounded history.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from tenacity import AsyncRetrying, retry_if_result, wait_random

POSTGRES_POOL_SIZE = 16  # the checkpointer's connections per process (a step holds one only per query)
# How long a SQLite connection waits for another process's write before "database is locked": `healer
# watch`, a replay or a second server may share the file (Python's default is 5 s).
SQLITE_BUSY_TIMEOUT_S = 30.0
PRUNE_STRATEGIES = ("keep_latest", "delete")


class DatabaseUrlError(ValueError):
    pass


def sqlite_path(url: str) -> str:
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if not path:
        raise DatabaseUrlError(f"no file in {url!r}; use sqlite:///path/to/healer.db")
    return path


def backend_of(url: str) -> str:
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgres"
    raise DatabaseUrlError(
        f"HEALER_DATABASE_URL must be sqlite:///… or postgresql://…, not {url.split(':')[0]}:…"
    )


def postgres_conninfo(url: str) -> str:
    """libpq's form of a Postgres URL (SQLAlchemy's `postgresql+psycopg://` spelling accepted)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.asynccontextmanager
async def setup_lock(url: str) -> AsyncIterator[None]:
    """Held while creating tables: replicas that start together would otherwise race on `CREATE TABLE
    IF NOT EXISTS` (Postgres' catalog says "duplicate key" to the loser)."""
    async with advisory_lock(url, "healer setup"):
        yield


@contextlib.asynccontextmanager
async def advisory_lock(url: str, name: str, wait: bool = True) -> AsyncIterator[bool]:
    """A session-level advisory lock on a connection of its own, so a replica that dies holding it
    lets it go with its connection. Yields whether it is held: without `wait`, False when another
    holds it. Waiting tries again and again rather than sitting in `pg_advisory_lock`: a statement that
    waits is a transaction, and the holder's `CREATE INDEX CONCURRENTLY` (LangGraph's saver builds its
    indexes so) waits for every transaction of the database to end, so holder and waiter hung for good."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_conninfo(url), autocommit=True) as connection:

        async def try_lock() -> bool:
            cursor = await connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,))
            row = await cursor.fetchone()
            return bool(row and row[0])

        if not wait:
            yield await try_lock()
            return
        await AsyncRetrying(retry=retry_if_result(operator.not_), wait=wait_random(0.05, 0.25))(try_lock)
        yield True


@dataclass(frozen=True)
class SqliteFile:
    """Healer's one connection to its SQLite file and the lock its users take turns on: the checkpointer
    and the session store of a process are built on it, so they never wait for each other in SQLite's
    busy loop (a connection each: 80–107 starts/s in bench/api.py instead of 136, and "database is
    locked" at Python's default wait)."""

    connection: aiosqlite.Connection
    lock: asyncio.Lock


@contextlib.asynccontextmanager
async def open_sqlite(url: str) -> AsyncIterator[SqliteFile]:
    path = sqlite_path(url)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S) as connection:
        await connection.execute("PRAGMA journal_mode=WAL")  # readers of other processes go on meanwhile
        yield SqliteFile(connection, asyncio.Lock())


class SqliteSaver(AsyncSqliteSaver):
    """LangGraph's SQLite saver on Healer's `SqliteFile`, with the `aprune` its Postgres saver has and
    this one lacks (same contract: `keep_latest` keeps each namespace's newest checkpoint and its
    writes, `delete` drops the threads), written beside the saver's own `adelete_thread`: on its
    connection, under its lock, so pruning never races a checkpoint being written. No graph here uses a
    `DeltaChannel`, whose history `keep_latest` would cut."""

    def __init__(self, file: SqliteFile) -> None:
        super().__init__(file.connection)
        self.file = file
        self.lock = file.lock

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"unknown prune strategy {strategy!r}; one of {', '.join(PRUNE_STRATEGIES)}")
        if strategy == "delete":
            for thread_id in thread_ids:
                await self.adelete_thread(thread_id)
            return
        await self.setup()
        async with self.lock, self.conn.cursor() as cursor:
            for thread_id in map(str, thread_ids):
                for table in ("writes", "checkpoints"):
                    await cursor.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND (checkpoint_ns, checkpoint_id) NOT IN ("
                        " SELECT checkpoint_ns, MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ?"
                        " GROUP BY checkpoint_ns)",
                        (thread_id, thread_id),
                    )
            await self.conn.commit()


@contextlib.asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    if backend_of(url) == "sqlite":
        async with open_sqlite(url) as file:
            saver = SqliteSaver(file)
            await saver.setup()
            yield saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # only needed when scaling out
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    # A pool, not LangGraph's one-connection `from_conn_string`: the engine runs several steps at once,
    # and on one connection each checkpoint read and write of every step would wait its turn.
    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(
        postgres_conninfo(url), min_size=2, max_size=POSTGRES_POOL_SIZE, kwargs=kwargs, open=False
    ) as pool:
        saver = AsyncPostgresSaver(pool)
        async with setup_lock(url):
            await saver.setup()
        yield saver


async def checkpoint_count(saver: BaseCheckpointSaver, thread_id: str) -> int:
    return len([c async for c in saver.alist({"configurable": {"thread_id": thread_id}})])
