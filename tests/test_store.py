"""The SQLite file holds the checkpoints and the sessions: under load neither side sees "database is
locked", whether they share the process's connection (the server) or each has one (another process on
the file), and the checkpointer prunes through its own `aprune`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from api.models import Session, rfc3339
from api.store import open_store
from graph.checkpoint import checkpoint_count, open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from runtime.runner import PlayRunner


@pytest.mark.parametrize("shared", [True, False], ids=["one-connection", "a-connection-each"])
def test_sessions_and_checkpoints_written_at_once_never_find_the_database_locked(
    shared: bool, tmp_path: Path
) -> None:
    """Passes checkpoint while starts, saves, listings and pruning go on through the store; with a
    connection each, each on a thread of its own (aiosqlite), as two processes would be."""
    url = f"sqlite:///{tmp_path}/healer.db"

    async def run() -> tuple[int, int, int]:
        async with open_checkpointer(url) as saver, open_store(url, saver if shared else None) as store:

            async def passes(play: int) -> None:
                session = SessionStart.model_validate({"play_id": f"play-{play}", "namespace": "cto"})
                runner = PlayRunner(
                    session, HealerContext(settings=settings_from({})), saver, clock=time.time_ns
                )
                for _ in range(15):
                    await runner.run_pass()

            async def sessions(writer: int) -> None:
                for n in range(60):
                    now = rfc3339()
                    session = Session(play_id=f"s-{writer}-{n}", started_at=now, last_updated=now)
                    assert await store.start(session)
                    await store.save(session.model_copy(update={"status": "completed"}))
                    await store.list()
                    await store.prune(100)

            await asyncio.gather(*(passes(play) for play in range(4)), *(sessions(w) for w in range(4)))
            threads = [await checkpoint_count(saver, f"play-{play}") for play in range(4)]
            return await store.count(), await store.count("completed"), max(threads)

    stored, completed, most_checkpoints = asyncio.run(run())
    assert stored == completed == 100  # 240 written, the oldest ended ones pruned beyond 100
    assert most_checkpoints <= 10  # HEALER_CHECKPOINTS_KEPT


def _config(thread: str, namespace: str = "") -> dict:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": namespace}}


def test_the_sqlite_saver_prunes_to_each_namespaces_newest_checkpoint_and_its_writes(tmp_path: Path) -> None:
    async def run() -> tuple[list[str], list[str], int, int]:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            written: dict[tuple[str, str], list[str]] = {}
            for thread in ("pruned", "untouched"):
                for namespace in ("", "child"):
                    for _ in range(3):
                        checkpoint = empty_checkpoint()
                        config = await saver.aput(_config(thread, namespace), checkpoint, {}, {})
                        await saver.aput_writes(config, [("channel", checkpoint["id"])], "task")
                        written.setdefault((thread, namespace), []).append(checkpoint["id"])
            await saver.aprune(["pruned"], strategy="keep_latest")
            kept = [c for ns in ("", "child") async for c in saver.alist(_config("pruned", ns))]
            kept_ids = sorted(c.checkpoint["id"] for c in kept)
            newest = sorted(written[("pruned", "")][-1:] + written[("pruned", "child")][-1:])
            untouched = await checkpoint_count(saver, "untouched")
            await saver.aprune(["untouched"], strategy="delete")
            return kept_ids, newest, untouched, await checkpoint_count(saver, "untouched")

    kept_ids, newest, untouched_before, untouched_after = asyncio.run(run())
    assert kept_ids == newest
    assert untouched_before == 6  # both namespaces of the thread not pruned are left alone
    assert untouched_after == 0


def test_the_sqlite_saver_keeps_the_newest_checkpoints_writes(tmp_path: Path) -> None:
    async def run() -> list[object]:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            for n in range(3):
                config = await saver.aput(_config("t"), empty_checkpoint(), {}, {})
                await saver.aput_writes(config, [("channel", n)], "task")
            await saver.aprune(["t"])
            latest = await saver.aget_tuple(_config("t"))
            return [write[2] for write in latest.pending_writes or []] if latest else []

    assert asyncio.run(run()) == [2]


def test_the_sqlite_saver_refuses_what_postgres_refuses(tmp_path: Path) -> None:
    async def run(thread_ids: object, strategy: str) -> None:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            await saver.aprune(thread_ids, strategy=strategy)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="not a str"):
        asyncio.run(run("thread", "keep_latest"))
    with pytest.raises(ValueError, match="unknown prune strategy 'oldest'"):
        asyncio.run(run(["thread"], "oldest"))
