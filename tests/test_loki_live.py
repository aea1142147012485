"""tools/loki.py against a live Loki-API server (qryn on ClickHouse, started by .ci/run)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.conftest import live_url
from tools.loki import LokiClient, LokiConfig, LokiEntry, LokiQueryError, selector

pytestmark = [pytest.mark.anyio, pytest.mark.live]

INGEST_DELAY_S = 1.5  # qryn batches inserts: a pushed line is queryable ~1 s later


@pytest.fixture
def loki_url() -> str:
    return live_url("LOKI_URL")


async def push(url: str, labels: dict[str, str], values: list[tuple[int, str]]) -> None:
    # Whole microseconds survive qryn's float64 timestamps exactly (see ../shared/services/README.md).
    body = {"streams": [{"stream": labels, "values": [[str(ts), line] for ts, line in values]}]}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/loki/api/v1/push", json=body)
    assert response.status_code == 204, response.text


async def test_paginated_range_walks_every_line_once_both_ways(loki_url: str) -> None:
    run = uuid.uuid4().hex[:12]
    start = time.time_ns() // 1000 * 1000 - 60 * 10**9
    # 40 lines, 0.3 ms apart in two streams: several share a millisecond, so pages meet inside one
    values = [(start + i * 300_000, f"line {i:02d}") for i in range(40)]
    await push(loki_url, {"test_run": run, "pod": "a"}, values[::2])
    await push(loki_url, {"test_run": run, "pod": "b"}, values[1::2])
    await asyncio.sleep(INGEST_DELAY_S)
    query = selector({"test_run": run})
    async with LokiClient(LokiConfig(loki_url)) as loki:
        for page_size in (3, 7, 40, 1000):
            forward = [
                e async for e in loki.query_range_all(query, start, start + 10**9, page_size=page_size)
            ]
            assert [e.line for e in forward] == [line for _, line in values], page_size
            backward = [
                e
                async for e in loki.query_range_all(
                    query, start, start + 10**9, page_size=page_size, direction="backward"
                )
            ]
            assert [e.line for e in backward] == [line for _, line in reversed(values)], page_size
        assert {e.labels["pod"] for e in forward} == {"a", "b"}
        assert [e.timestamp_ns for e in forward] == [ts for ts, _ in values]
        limited = [
            e async for e in loki.query_range_all(query, start, start + 10**9, page_size=5, max_entries=12)
        ]
        assert len(limited) == 12
        assert run in await loki.label_values("test_run", start, start + 10**9)
        assert {"test_run", "pod"} <= set(await loki.labels(start, start + 10**9))
        series = await loki.series([query], start, start + 10**9)
        assert sorted(s["pod"] for s in series) == ["a", "b"]


async def test_tail_receives_a_line_pushed_after_connecting(loki_url: str) -> None:
    run = uuid.uuid4().hex[:12]
    received: list[LokiEntry] = []
    async with LokiClient(LokiConfig(loki_url)) as loki:

        async def listen() -> None:
            async for batch in loki.tail(selector({"test_run": run})):
                received.extend(batch.entries)
                return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(1.0)  # the websocket is open and polling
        pushed_at = time.time_ns() // 1000 * 1000
        await push(loki_url, {"test_run": run}, [(pushed_at, "hello from the play")])
        await asyncio.wait_for(listener, timeout=20)
    assert [(e.line, e.timestamp_ns) for e in received] == [("hello from the play", pushed_at)]


async def test_a_bad_query_is_a_clear_error(loki_url: str) -> None:
    async with LokiClient(LokiConfig(loki_url)) as loki:
        with pytest.raises(LokiQueryError) as raised:
            await loki.query_range("{namespace=", 1, 2)
    assert raised.value.status == 400 and raised.value.message
