"""tools/loki.py replayed from cassettes recorded against qryn (cassettes/loki/, see its README).

Replays run with the network blocked. `HEALER_RECORD=1` with LOKI_URL set re-records them: the data
is pushed first (outside the cassette), then the same calls are made against the live server.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from tests.http_harness import RECORDING, cassette
from tools.loki import LokiClient, LokiConfig, LokiQueryError, selector

pytestmark = pytest.mark.anyio

LOKI_URL = os.environ.get("LOKI_URL", "http://127.0.0.1:3100") if RECORDING else "http://127.0.0.1:3100"
T0 = 1_795_497_600_000_000_000  # 2026-11-24T05:20:00Z
STREAM = {
    "namespace": "cto",
    "workflow_name": "play-42",
    "agent": "rex",
    "pod": "coderun-rex-t1-play-42-x7k2p",
}
LINES = [
    "Tool inventory check - CTO config declares: [brave_search, github_create_pull_request]",
    "Tool inventory check - CLI has available: [github_create_pull_request]",
    "\u26a0\ufe0f tool inventory mismatch - declared tools: [brave_search] - missing: [brave_search]",
    'level=info msg="registered error handler"',
    "thread 'main' panicked at src/main.rs:12:5:",
    "called `Option::unwrap()` on a `None` value",
    "[ERROR] connection refused",
    "test auth::rejects_unauthorized ... ok",
    "errors: 0",
    'level=error msg="failed to push branch"',
]
VALUES = [(T0 + i * 250_000, line) for i, line in enumerate(LINES)]  # four lines per millisecond
QUERY = selector({"namespace": "cto", "workflow_name": "play-42"})
WINDOW = (T0, T0 + 60 * 10**9)


@pytest.fixture(scope="module")
async def recorded_data() -> None:
    if not RECORDING:
        return
    body = {"streams": [{"stream": STREAM, "values": [[str(ts), line] for ts, line in VALUES]}]}
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{LOKI_URL}/loki/api/v1/push", json=body)).status_code == 204
    await asyncio.sleep(1.5)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def test_one_page(recorded_data: None) -> None:
    with cassette("loki/query_range_page"):
        async with LokiClient(LokiConfig(LOKI_URL)) as loki:
            page = await loki.query_range(QUERY, *WINDOW, limit=5)
    assert [e.line for e in page] == LINES[:5]
    assert page[0].labels["agent"] == "rex" and page[0].timestamp_ns == T0


async def test_pages_walk_the_window_without_gaps_or_duplicates(recorded_data: None) -> None:
    with cassette("loki/query_range_paginated"):
        async with LokiClient(LokiConfig(LOKI_URL)) as loki:
            forward = [e.line async for e in loki.query_range_all(QUERY, *WINDOW, page_size=3)]
            backward = [
                e.line async for e in loki.query_range_all(QUERY, *WINDOW, page_size=3, direction="backward")
            ]
    assert forward == LINES
    assert backward == LINES[::-1]


async def test_labels_values_and_series(recorded_data: None) -> None:
    with cassette("loki/labels_and_series"):
        async with LokiClient(LokiConfig(LOKI_URL)) as loki:
            labels = await loki.labels(*WINDOW)
            agents = await loki.label_values("agent", *WINDOW)
            series = await loki.series([QUERY], *WINDOW)
    assert set(STREAM) <= set(labels)
    assert "rex" in agents
    assert STREAM in series


async def test_a_bad_query(recorded_data: None) -> None:
    with cassette("loki/bad_query"):
        async with LokiClient(LokiConfig(LOKI_URL)) as loki:
            with pytest.raises(LokiQueryError) as raised:
                await loki.query_range('{namespace="cto"', *WINDOW)
    assert raised.value.status == 400


async def test_replay_cannot_reach_the_network() -> None:
    if RECORDING:
        pytest.skip("recording talks to the live server")
    with cassette("loki/bad_query"):
        async with LokiClient(LokiConfig(LOKI_URL, max_retries=0)) as loki:
            with pytest.raises(
                CannotOverwriteExistingCassetteException, match=r"Can't play back this request"
            ):
                await loki.labels()


def test_sockets_are_blocked_during_replay() -> None:
    if RECORDING:
        pytest.skip("recording talks to the live server")
    import socket

    from tests.http_harness import no_network

    with (
        no_network(),
        socket.socket() as sock,
        pytest.raises(ConnectionRefusedError, match="network blocked"),
    ):
        sock.connect(("127.0.0.1", 9))
