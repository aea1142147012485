"""Where the graphs' checkpoints live (DESIGN §3): SQLite by default, Postgres to scale out.

`HEALER_DATABASE_URL` chooses: `sqlite:///path/to/healer.db` (the default, `.healer/healer.db`; the
folder is created) or `postgresql://…`. Old checkpoints are pruned after each invocation, so a session
that runs thousands of passes keeps a bounded history.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

POSTGRES_POOL_SIZE = 16  # the checkpointer's connections per process (a step holds one only per query)


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
    holds it."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_conninfo(url), autocommit=True) as connection:
        if wait:
            await connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
            yield True
            return
        cursor = await connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,))
        row = await cursor.fetchone()
        yield bool(row and row[0])


@contextlib.asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver]:
    if backend_of(url) == "sqlite":
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(path) as saver:
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


async def prune(saver: BaseCheckpointSaver, thread_ids: Sequence[str], keep: int) -> None:
    """Drop all but the newest `keep` checkpoints of each thread (Postgres keeps the newest only: its
    saver's own `keep_latest`, which also collects the blobs no checkpoint refers to any more)."""
    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        async with saver.lock:
            for thread_id in thread_ids:
                for table in ("checkpoints", "writes"):
                    await saver.conn.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id NOT IN ("
                        " SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?"
                        " ORDER BY checkpoint_id DESC LIMIT ?)",
                        (thread_id, thread_id, keep),
                    )
            await saver.conn.commit()
        return
    await saver.aprune(list(thread_ids), strategy="keep_latest")


async def checkpoint_count(saver: BaseCheckpointSaver, thread_id: str) -> int:
    return len([c async for c in saver.alist({"configurable": {"thread_id": thread_id}})])
