"""runtime/feeds.py against the live Loki: one read per namespace serves every session in it, each gets its
own pods' lines from its cursor on, nothing twice, nothing lost, and a cursor older than the feed reads
Loki itself."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from runtime.feeds import NamespaceFeeds
from tests.test_loki_live import INGEST_DELAY_S, loki_url, push  # noqa: F401 (a fixture)
from tools.loki import LokiClient, LokiConfig, selector

pytestmark = [pytest.mark.anyio, pytest.mark.live]


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def test_sessions_of_one_namespace_share_its_reads_and_get_their_own_pods(loki_url: str) -> None:  # noqa: F811
    namespace = f"feed-{uuid.uuid4().hex[:8]}"
    start = time.time_ns() // 1000 * 1000 - 120 * 10**9
    a_lines = [(start + i * 1_000_000, f"a {i}") for i in range(10)]
    b_lines = [(start + i * 1_000_000 + 500_000, f"b {i}") for i in range(10)]  # whole µs: qryn keeps them
    await push(loki_url, {"namespace": namespace, "pod": "play-a-rex"}, a_lines)
    await push(loki_url, {"namespace": namespace, "pod": "play-b-blaze"}, b_lines)
    await asyncio.sleep(INGEST_DELAY_S)
    clock = Clock(time.time_ns())
    async with LokiClient(LokiConfig(loki_url)) as loki:
        feeds = NamespaceFeeds(loki, refresh_s=5, clock=clock)
        first_start = clock.now - 300 * 10**9
        a = await feeds.lines(namespace, {"play-a-rex"}, first_start, first_start)
        b = await feeds.lines(namespace, {"play-b-blaze"}, first_start, first_start)
        everything = await feeds.lines(namespace, None, first_start, first_start)
        assert [e.line for e in a] == [line for _, line in a_lines]
        assert [e.line for e in b] == [line for _, line in b_lines]
        direct = [
            e.line async for e in loki.query_range_all(selector({"namespace": namespace}), start, clock.now)
        ]
        assert [e.line for e in everything] == direct and len(direct) == 20
        assert feeds.reads == 1  # three sessions, one read

        # from a cursor: the lines at and after it
        cursor = a[4].timestamp_ns
        later = await feeds.lines(namespace, {"play-a-rex"}, cursor, first_start)
        assert [e.line for e in later] == [f"a {i}" for i in range(4, 10)]

        # new lines come with the next read, once refresh_s has passed; none twice
        await push(loki_url, {"namespace": namespace, "pod": "play-a-rex"}, [(start + 50 * 10**9, "a new")])
        await asyncio.sleep(INGEST_DELAY_S)
        assert [e.line for e in await feeds.lines(namespace, {"play-a-rex"}, cursor, first_start)][
            -1
        ] == "a 9"
        clock.now += 6 * 10**9
        fresh = await feeds.lines(namespace, {"play-a-rex"}, cursor, first_start)
        assert [e.line for e in fresh] == [*(f"a {i}" for i in range(4, 10)), "a new"], [
            (e.timestamp_ns % 10**9, e.line) for e in fresh
        ][-4:]
        assert feeds.reads == 2

        # a cursor older than what the feed holds: the caller reads Loki itself
        assert await feeds.lines(namespace, {"play-a-rex"}, first_start - 10**9, first_start) is None


async def test_lines_older_than_the_window_are_let_go_and_asked_of_loki(loki_url: str) -> None:  # noqa: F811
    namespace = f"feed-{uuid.uuid4().hex[:8]}"
    start = time.time_ns() // 1000 * 1000 - 120 * 10**9
    await push(
        loki_url, {"namespace": namespace, "pod": "p"}, [(start, "old"), (start + 60 * 10**9, "newer")]
    )
    await asyncio.sleep(INGEST_DELAY_S)
    clock = Clock(time.time_ns())
    async with LokiClient(LokiConfig(loki_url)) as loki:
        feed = NamespaceFeeds(loki, refresh_s=1, clock=clock).feed(namespace)
        feed.window_ns = 90 * 10**9  # "old" is 120 s old, "newer" 60 s
        first_start = clock.now - 300 * 10**9
        held = await feed.lines(None, start + 1, first_start)
        assert [e.line for e in held] == ["newer"]
        assert await feed.lines(None, start, first_start) is None  # "old" was let go
