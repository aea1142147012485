"""tools/loki.py over real HTTP on loopback: Loki's documented answers, and every failure path."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import SHARED
from tests.http_harness import Reply, ScriptedServer, Sleeps
from tools.loki import (
    LokiClient,
    LokiConfig,
    LokiProtocolError,
    LokiQueryError,
    LokiUnavailable,
    entries_of,
    escape_label_value,
    selector,
)

REFERENCE = SHARED / "reference" / "loki"
T0 = 1_795_497_600_000_000_000
STREAMS = json.loads((REFERENCE / "query_range_streams.json").read_text())

pytestmark = pytest.mark.anyio


def client(server: ScriptedServer, sleeps: Sleeps | None = None, **config: object) -> LokiClient:
    settings = {"max_retries": 3, "backoff_s": 0.01, "timeout_s": 2.0, **config}
    return LokiClient(LokiConfig(server.url, **settings), sleep=sleeps if sleeps is not None else Sleeps())  # type: ignore[arg-type]


def test_selector_matches_exactly_and_escapes_values() -> None:
    assert (
        selector({"namespace": "cto", "workflow_name": "play-42"})
        == '{namespace="cto", workflow_name="play-42"}'
    )
    hostile = 'play".*"} |= "x\\'
    assert selector({"play": hostile}) == '{play="play\\".*\\"} |= \\"x\\\\"}'
    assert escape_label_value("a\nb") == "a\\nb"
    with pytest.raises(ValueError, match="at least one label"):
        selector({})
    with pytest.raises(ValueError, match="not a Loki label name"):
        selector({"github-app": "x"})


def test_entries_of_reads_strings_and_numbers() -> None:
    entries = entries_of(STREAMS["data"]["result"])
    assert entries and all(isinstance(e.timestamp_ns, int) and e.timestamp_ns > 10**18 for e in entries)
    numeric = entries_of(
        [{"stream": {"a": "b"}, "values": [[1795496659732821500, "x"], ["1795496659732821503", "y"]]}]
    )
    assert [(e.timestamp_ns, e.line) for e in numeric] == [
        (1795496659732821500, "x"),
        (1795496659732821503, "y"),
    ]
    with pytest.raises(LokiProtocolError, match="timestamp"):
        entries_of([{"stream": {}, "values": [["soon", "x"]]}])
    with pytest.raises(LokiProtocolError, match="not \\[timestamp, line\\]"):
        entries_of([{"stream": {}, "values": [["1"]]}])


async def test_query_range_reads_lokis_documented_response_and_sends_bounds() -> None:
    with ScriptedServer([Reply(200, STREAMS)]) as server:
        async with client(server) as loki:
            entries = await loki.query_range('{job="varlogs"}', T0, T0 + 10**9, direction="backward", limit=7)
    assert len(entries) == sum(len(s["values"]) for s in STREAMS["data"]["result"])
    assert entries == sorted(entries, key=lambda e: e.timestamp_ns, reverse=True)
    path = server.seen[0].path
    assert path.startswith("/loki/api/v1/query_range?") and f"start={T0}" in path and "limit=7" in path
    assert "direction=backward" in path


async def test_429_honours_retry_after_then_succeeds() -> None:
    sleeps = Sleeps()
    replies = [Reply(429, "too many outstanding requests", {"Retry-After": "3"}), Reply(200, STREAMS)]
    with ScriptedServer(replies) as server:
        async with client(server, sleeps) as loki:
            assert await loki.query_range('{a="b"}', T0, T0 + 1)
    assert sleeps == [3.0] and len(server.seen) == 2


async def test_5xx_then_success_backs_off() -> None:
    sleeps = Sleeps()
    replies = [Reply(503, "index not ready"), Reply(502, "bad gateway"), Reply(200, STREAMS)]
    with ScriptedServer(replies) as server:
        async with client(server, sleeps) as loki:
            assert await loki.query_range('{a="b"}', T0, T0 + 1)
    assert len(sleeps) == 2 and all(0 < s <= 0.02 for s in sleeps)


async def test_5xx_until_the_retries_run_out_is_unavailable() -> None:
    with ScriptedServer([Reply(500, "failed to load chunk 'x'")]) as server:
        async with client(server) as loki:
            with pytest.raises(LokiUnavailable, match="500 4 times: failed to load chunk"):
                await loki.query_range('{a="b"}', T0, T0 + 1)
    assert len(server.seen) == 4


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n",
            "parse error at line 1, col 1",
        ),
        (401, "no org id\n", "no org id"),
        (404, "404 page not found\n", "404 page not found"),
        (400, {"statusCode": 400, "error": "Bad Request", "message": "invalid request"}, "invalid request"),
    ],
)
async def test_4xx_is_a_query_error_with_lokis_message(status: int, body: object, message: str) -> None:
    with ScriptedServer([Reply(status, body)]) as server:  # type: ignore[arg-type]
        async with client(server) as loki:
            with pytest.raises(LokiQueryError) as raised:
                await loki.query_range('unk({foo="bar"}[5m])', T0, T0 + 1)
    assert raised.value.status == status and message in raised.value.message
    assert len(server.seen) == 1  # a client error is not retried


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>gateway</html>", "not JSON"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "got 'matrix'"),
        ({"status": "success", "data": {"resultType": "streams", "result": [{"values": 3}]}}, "no `values`"),
        ([1, 2], "not an object"),
    ],
)
async def test_malformed_bodies_are_protocol_errors(body: object, match: str) -> None:
    with ScriptedServer([Reply(200, body)]) as server:  # type: ignore[arg-type]
        async with client(server) as loki:
            with pytest.raises(LokiProtocolError, match=match):
                await loki.query_range('{a="b"}', T0, T0 + 1)


async def test_a_slow_server_times_out_and_is_retried() -> None:
    with ScriptedServer([Reply(200, STREAMS, delay_s=1.0)]) as server:
        async with client(server, timeout_s=0.2, max_retries=1) as loki:
            with pytest.raises(LokiUnavailable, match="unreachable"):
                await loki.query_range('{a="b"}', T0, T0 + 1)
    assert len(server.seen) == 2


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with LokiClient(
        LokiConfig(f"http://127.0.0.1:{port}", max_retries=1, backoff_s=0.01), sleep=Sleeps()
    ) as loki:
        with pytest.raises(LokiUnavailable, match="unreachable"):
            await loki.labels()


async def test_tenant_and_credentials_are_sent_and_never_shown() -> None:
    secret = "s3cr3t-" + "value"
    with ScriptedServer([Reply(200, {"status": "success", "data": ["app"]})]) as server:
        config = LokiConfig(server.url, tenant="team-a", username="healer", password=secret)
        async with LokiClient(config) as loki:
            assert await loki.labels() == ["app"]
        assert secret not in repr(config)
    headers = {k.lower(): v for k, v in server.seen[0].headers.items()}
    assert headers["x-scope-orgid"] == "team-a" and headers["authorization"].startswith("Basic ")
    with ScriptedServer([Reply(200, {"status": "success", "data": []})]) as server:
        async with LokiClient(LokiConfig(server.url, bearer_token=secret)) as loki:
            await loki.label_values("app")
    assert {k.lower(): v for k, v in server.seen[0].headers.items()}["authorization"] == f"Bearer {secret}"
    assert server.seen[0].path.startswith("/loki/api/v1/label/app/values")


async def test_series_and_an_error_status_in_a_200_body() -> None:
    series = json.loads((REFERENCE / "series.json").read_text())
    with ScriptedServer([Reply(200, series), Reply(200, {"status": "error", "error": "boom"})]) as server:
        async with client(server) as loki:
            assert await loki.series(['{container_name=~"prometheus.*"}']) == series["data"]
            with pytest.raises(LokiQueryError, match="boom"):
                await loki.labels()
    assert "match%5B%5D=" in server.seen[0].path


async def test_pagination_walks_a_window_without_gaps_or_duplicates() -> None:
    # Five entries in two pages of three; the server (like qryn) re-sends the edge millisecond.
    def page(numbers: list[int]) -> dict[str, object]:
        values = [[str(T0 + n * 400_000), f"line {n}"] for n in numbers]
        return {
            "status": "success",
            "data": {"resultType": "streams", "result": [{"stream": {"a": "b"}, "values": values}]},
        }

    with ScriptedServer(
        [Reply(200, page([0, 1, 2])), Reply(200, page([0, 1, 2])), Reply(200, page([3, 4]))]
    ) as server:
        async with client(server) as loki:
            lines = [e.line async for e in loki.query_range_all('{a="b"}', T0, T0 + 10**9, page_size=3)]
    assert lines == [f"line {n}" for n in range(5)]
    # page two starts at the edge's millisecond; as it brought nothing new, page three asks twice as many
    assert f"start={T0}&" in server.seen[1].path and "limit=3" in server.seen[1].path
    assert "limit=6" in server.seen[2].path


async def test_tail_reconnects_from_the_last_timestamp_and_reports_dropped_entries() -> None:
    from urllib.parse import parse_qs, urlparse

    from websockets.asyncio.server import serve

    requests: list[dict[str, list[str]]] = []

    def message(ts: int, line: str, dropped: list[int] | None = None) -> str:
        body: dict[str, object] = {"streams": [{"stream": {"pod": "p"}, "values": [[str(ts), line]]}]}
        if dropped:
            body["dropped_entries"] = [{"timestamp": str(d), "labels": {"pod": "p"}} for d in dropped]
        return json.dumps(body)

    async def handler(connection) -> None:  # type: ignore[no-untyped-def]
        requests.append(parse_qs(urlparse(connection.request.path).query))
        if len(requests) == 1:
            await connection.send(message(T0 + 5, "first"))
            await connection.close()  # the server goes away mid-tail
        else:
            await connection.send(message(T0 + 5, "first"))  # re-sent from the cursor: not delivered twice
            await connection.send(message(T0 + 9, "second", dropped=[T0 + 7]))
            await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        batches = []
        async with LokiClient(LokiConfig(f"http://127.0.0.1:{port}"), sleep=Sleeps()) as loki:
            async for batch in loki.tail('{pod="p"}', start_ns=T0):
                batches.append(batch)
                if len(batches) == 2:
                    break
    assert [[e.line for e in b.entries] for b in batches] == [["first"], ["second"]]
    assert [d.timestamp_ns for d in batches[1].dropped] == [T0 + 7]
    assert requests[0]["start"] == [str(T0)] and requests[1]["start"] == [str(T0 + 5)]
    assert requests[0]["query"] == ['{pod="p"}']


async def test_tail_gives_up_after_repeated_failures_and_reports_client_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    async with LokiClient(LokiConfig(f"http://127.0.0.1:{port}"), sleep=sleeps) as loki:
        with pytest.raises(LokiUnavailable, match="3 times in a row"):
            async for _ in loki.tail('{a="b"}', max_reconnects=2):
                pass
    assert len(sleeps) == 2
    with ScriptedServer([Reply(400, "parse error at line 1, col 2: syntax error")]) as server:
        async with client(server) as loki:
            with pytest.raises(LokiQueryError, match="parse error"):
                async for _ in loki.tail("{"):
                    pass
