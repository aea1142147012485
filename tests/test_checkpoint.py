"""Checkpoints: SQLite by default, Postgres to scale out; pruned; a replay gives the same outcome on both."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from graph.checkpoint import DatabaseUrlError, backend_of, checkpoint_count, open_checkpointer, setup_lock
from graph.config import settings_from
from graph.context import HealerContext
from graph.session import SessionStart
from graph.summary import summary
from runtime.replay import replay
from runtime.runner import PlayRunner
from tests.conftest import scratch_postgres

SCENARIO = Path(__file__).resolve().parents[1] / "cassettes" / "restart-midway"


def outcome(database_url: str) -> dict:
    result = asyncio.run(replay(SCENARIO, database_url=database_url))
    return summary("restart-midway", result.session, [view.values for view in result.incidents])


def test_database_urls() -> None:
    assert backend_of("sqlite:///.healer/healer.db") == "sqlite"
    assert backend_of("postgresql://postgres@127.0.0.1:55432/postgres") == "postgres"
    with pytest.raises(DatabaseUrlError, match="sqlite"):
        backend_of("mysql://x")


def test_sqlite_checkpoints_are_pruned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/healer.db"
    report = outcome(url)
    assert report["status"] == "open"

    async def counts() -> list[int]:
        async with open_checkpointer(url) as saver:
            threads = ["play-restart", f"play-restart/{report['findings'][0]['fingerprint']}"]
            return [await checkpoint_count(saver, thread) for thread in threads]

    session_checkpoints, incident_checkpoints = asyncio.run(counts())
    assert 0 < session_checkpoints <= 10  # HEALER_CHECKPOINTS_KEPT; a pass writes four
    assert 0 < incident_checkpoints <= 10


def newest_checkpoints_kept(url: str) -> tuple[int, int]:
    result = asyncio.run(replay(SCENARIO.with_name("healthy-transcript"), database_url=url))

    async def count() -> int:
        async with open_checkpointer(url) as saver:
            return await checkpoint_count(saver, "play-transcript")

    return result.session["passes"], asyncio.run(count())


def test_pruning_keeps_exactly_the_newest_checkpoints_of_a_long_session(tmp_path: Path) -> None:
    """A session of more passes than HEALER_CHECKPOINTS_KEPT (10): one checkpoint a pass, pruned to the
    newest (the saver's `keep_latest`) every nine passes, so never more than ten."""
    passes, kept = newest_checkpoints_kept(f"sqlite:///{tmp_path}/healer.db")
    assert passes > 10 and passes % 9 != 0  # passes since the last pruning are there as well
    assert kept == 1 + passes % 9


@pytest.mark.live
def test_postgres_prunes_as_sqlite_does() -> None:
    with scratch_postgres() as url:
        passes, kept = newest_checkpoints_kept(url)
    assert passes > 10 and kept == 1 + passes % 9


@pytest.mark.live
def test_postgres_gives_the_same_outcome_as_sqlite(tmp_path: Path) -> None:
    with scratch_postgres() as url:
        on_postgres = outcome(url)
    assert on_postgres == outcome(f"sqlite:///{tmp_path}/healer.db")


def test_a_session_stepped_by_a_new_runner_each_pass_is_pruned_all_the_same(tmp_path: Path) -> None:
    """A replica builds most steps' runner afresh (another replica stepped the session, or it was not kept):
    pruning follows the passes the checkpoints count, not the runner's own."""
    session = SessionStart.model_validate({"play_id": "play-churn", "namespace": "cto"})

    async def passes(count: int) -> int:
        async with open_checkpointer(f"sqlite:///{tmp_path}/healer.db") as saver:
            for _ in range(count):
                context = HealerContext(settings=settings_from({}))
                await PlayRunner(session, context, saver, clock=time.time_ns).run_pass()
            return await checkpoint_count(saver, "play-churn")

    assert asyncio.run(passes(12)) == 1 + 12 % 9


@pytest.mark.live
def test_a_replica_waiting_for_the_setup_lock_lets_the_holders_concurrent_index_finish() -> None:
    """LangGraph's Postgres saver builds its indexes CONCURRENTLY, which waits for every transaction of the
    database to end. A replica waiting in `pg_advisory_lock` is such a transaction, waiting in turn for
    the replica that builds the index: both replicas of a fresh database hung for good (bench/scale.py,
    one start in five). The waiter must only ever try the lock."""
    import psycopg

    with scratch_postgres() as url:

        async def run() -> list[str]:
            order: list[str] = []

            async def second_replica() -> None:
                async with setup_lock(url):
                    order.append("second replica set up")

            async with setup_lock(url):
                waiting = asyncio.create_task(second_replica())
                await asyncio.sleep(0.5)  # the second replica is waiting for the lock
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                    await connection.execute("CREATE TABLE built (id int)")
                    await asyncio.wait_for(connection.execute("CREATE INDEX CONCURRENTLY ON built (id)"), 10)
                order.append("first replica set up")
            await asyncio.wait_for(waiting, 10)
            return order

        assert asyncio.run(run()) == ["first replica set up", "second replica set up"]
