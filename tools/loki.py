"""Grafana Loki's HTTP API, read-only: range queries with pagination, labels, series, and the tail websocket.

Written to real Loki's shapes (`../shared/reference/loki/`) and tolerant of the Loki-compatible servers
Healer meets (qryn): timestamps as strings or numbers, errors as plain text or JSON, millisecond-truncated
range bounds (pages are deduplicated at their edges, which is harmless against nanosecond-exact Loki).

Errors a caller can act on: `LokiQueryError` (4xx: the query or the request is wrong; Loki's message is
kept), `LokiUnavailable` (the server could not answer after the retries: 429, 5xx, timeouts, refused
connections). Retries back off exponentially and honour `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from tools.calls import timed
from tools.loki_streams import LokiEntry, LokiError, LokiProtocolError, entries_of
from tools.redact import redact
from tools.retrying import GaveUp, retry_after_s, send_with_retries
from tools.timestamps import parse_timestamp_ns
from tools.tls import client_tls

__all__ = [
    "DroppedEntry",
    "LokiClient",
    "LokiConfig",
    "LokiEntry",
    "LokiError",
    "LokiProtocolError",
    "LokiQueryError",
    "LokiUnavailable",
    "TailBatch",
    "entries_of",
    "escape_label_value",
    "selector",
]

log = logging.getLogger(__name__)

Direction = Literal["forward", "backward"]
_MS = 1_000_000
_OVERLAP = 3 * _MS  # how far around a page's edge entries are remembered, to skip them on the next page
MAX_PAGE = 5000  # Loki's default max_entries_limit_per_query


class LokiQueryError(LokiError):
    """Loki refused the request (4xx): a bad query, a missing tenant, a limit exceeded."""

    def __init__(self, status: int, message: str, query: str | None = None) -> None:
        self.status, self.message, self.query = status, message, query
        where = f" for query {query!r}" if query else ""
        super().__init__(f"Loki answered {status}{where}: {message}")


class LokiUnavailable(LokiError):
    """Loki could not be reached or kept failing after every retry."""


@dataclass(frozen=True, slots=True)
class LokiConfig:
    url: str
    tenant: str | None = None  # sent as X-Scope-OrgID (multi-tenant Loki)
    username: str | None = None  # basic auth (e.g. Grafana Cloud)
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    timeout_s: float = 15.0
    max_retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0


@dataclass(frozen=True, slots=True)
class DroppedEntry:
    """An entry the tail endpoint could not deliver (the client was too slow); it must be re-queried."""

    timestamp_ns: int
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TailBatch:
    entries: list[LokiEntry]
    dropped: list[DroppedEntry]


def escape_label_value(value: str) -> str:
    """A label value inside a LogQL double-quoted string (`"` and `\\` escaped, newlines spelled out)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(labels: Mapping[str, str]) -> str:
    """An exact-match stream selector: `{namespace="cto", workflow_name="play-42"}`. Values are escaped and
    matched with `=`, never spliced into a regex, so a play id can hold any character safely."""
    if not labels:
        raise ValueError("a Loki stream selector needs at least one label")
    for name in labels:
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"not a Loki label name: {name!r}")
    return "{" + ", ".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items()) + "}"


def selector_any_of(labels: Mapping[str, str], name: str, values: Iterable[str]) -> str:
    """`selector(labels)` narrowed to streams whose `name` is one of `values`: `{namespace="cto",
    pod=~"a|b"}`. Each value is regex-escaped and then string-escaped, so it matches only itself."""
    choices = sorted(set(values))
    if not choices:
        return selector(labels)
    pattern = "|".join(re.escape(value) for value in choices)  # Loki anchors regex matchers itself
    return selector(labels)[:-1] + f', {name}=~"{escape_label_value(pattern)}"' + "}"


class LokiClient:
    """An async client for one Loki. Use as `async with LokiClient(config) as loki: …`."""

    def __init__(
        self,
        config: LokiConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        auth = httpx.BasicAuth(config.username, config.password or "") if config.username else None
        self._http = httpx.AsyncClient(
            base_url=config.url.rstrip("/"),
            headers=self._headers(),
            auth=auth,
            timeout=config.timeout_s,
            transport=transport,
            verify=client_tls(),
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "healer"}
        if self.config.tenant:
            headers["X-Scope-OrgID"] = self.config.tenant
        if self.config.bearer_token:
            headers["Authorization"] = f"Bearer {self.config.bearer_token}"
        return headers

    async def __aenter__(self) -> LokiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def query_range(
        self,
        query: str,
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction = "forward",
        limit: int = 1000,
    ) -> list[LokiEntry]:
        """One page: at most `limit` entries in [start, end), oldest first for `forward`."""
        params = {"query": query, "start": start_ns, "end": end_ns, "direction": direction, "limit": limit}
        body = await self._get_json("/loki/api/v1/query_range", params, query=query)
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "streams":
            kind = data.get("resultType") if isinstance(data, dict) else None
            raise LokiProtocolError(f"expected a log query result (streams), got {kind!r}")
        entries = entries_of(data.get("result"))
        entries.sort(key=lambda e: e.timestamp_ns, reverse=direction == "backward")
        return entries

    async def query_range_all(
        self,
        query: str,
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction = "forward",
        page_size: int = 1000,
        max_entries: int | None = None,
    ) -> AsyncIterator[LokiEntry]:
        """Every entry in [start, end), page by page, without gaps or duplicates.

        A next page starts (or, going backward, ends) a little before the edge of the last one and skips
        the entries it returned already. The overlap absorbs servers that truncate or round bounds to
        milliseconds (qryn converts them through a float). A page that brings nothing new is asked again at
        twice the size, up to `MAX_PAGE`; only past that are the rest of that instant's entries skipped,
        with a warning.
        """
        returned, limit = 0, page_size
        seen: set[tuple[int, str, tuple[tuple[str, str], ...]]] = set()
        while start_ns < end_ns:
            page = await self.query_range(query, start_ns, end_ns, direction=direction, limit=limit)
            fresh = [e for e in page if e.key() not in seen]
            for entry in fresh:
                yield entry
                returned += 1
                if max_entries is not None and returned >= max_entries:
                    return
            if len(page) < limit:
                return
            edge = page[-1].timestamp_ns
            if not fresh and limit < MAX_PAGE:
                limit = min(limit * 2, MAX_PAGE)
                continue
            if not fresh:
                log.warning("loki: over %d entries at one instant; the rest of it is skipped", limit)
                start_ns, end_ns = (edge + _MS, end_ns) if direction == "forward" else (start_ns, edge - _MS)
                continue
            limit = page_size
            seen = {k for k in seen | {e.key() for e in page} if abs(k[0] - edge) <= _OVERLAP}
            edge_ms = edge - edge % _MS
            start_ns, end_ns = (edge_ms, end_ns) if direction == "forward" else (start_ns, edge_ms + 2 * _MS)

    async def labels(self, start_ns: int | None = None, end_ns: int | None = None) -> list[str]:
        return self._strings(await self._get_json("/loki/api/v1/labels", _bounds(start_ns, end_ns)))

    async def label_values(
        self, name: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[str]:
        path = f"/loki/api/v1/label/{httpx.URL(name).path}/values"
        return self._strings(await self._get_json(path, _bounds(start_ns, end_ns)))

    async def series(
        self, match: Sequence[str], start_ns: int | None = None, end_ns: int | None = None
    ) -> list[dict[str, str]]:
        params: list[tuple[str, Any]] = [("match[]", m) for m in match] + list(
            _bounds(start_ns, end_ns).items()
        )
        body = await self._get_json("/loki/api/v1/series", params)
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
            raise LokiProtocolError("series `data` is not a list of label sets")
        return data

    async def tail(
        self,
        query: str,
        *,
        start_ns: int | None = None,
        delay_for_s: int = 0,
        limit: int = 100,
        max_reconnects: int = 5,
        on_connection: Callable[[bool], None] | None = None,
    ) -> AsyncIterator[TailBatch]:
        """Live entries from the `/loki/api/v1/tail` websocket, for as long as the caller iterates.

        A dropped connection is reopened from the last timestamp received (entries already delivered at that
        instant are not delivered twice); after `max_reconnects` failures in a row, `LokiUnavailable`.
        Entries the server dropped are reported in `TailBatch.dropped`, to be fetched with `query_range`.
        `on_connection(True)` is called each time the websocket opens, `(False)` each time it is lost.
        """
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        cursor, failures = start_ns, 0
        seen_at_cursor: set[tuple[int, str, tuple[tuple[str, str], ...]]] = set()
        while True:
            try:
                async with connect(
                    self._tail_url(query, cursor, delay_for_s, limit),
                    additional_headers=self._ws_headers(),
                    open_timeout=self.config.timeout_s,
                ) as socket:
                    failures = 0
                    if on_connection is not None:
                        on_connection(True)
                    async for message in socket:
                        batch = _tail_batch(message)
                        fresh = [e for e in batch.entries if e.key() not in seen_at_cursor]
                        if fresh:
                            cursor = max(e.timestamp_ns for e in fresh)
                            seen_at_cursor = {e.key() for e in fresh if e.timestamp_ns == cursor} | {
                                k for k in seen_at_cursor if k[0] == cursor
                            }
                        if fresh or batch.dropped:
                            yield TailBatch(fresh, batch.dropped)
            except InvalidStatus as error:
                status = error.response.status_code
                if status < 500 and status != 429:
                    raise LokiQueryError(status, _message(error.response.body or b""), query) from None
                failures += 1
            except (ConnectionClosed, OSError, TimeoutError, WebSocketException) as error:
                failures += 1
                log.warning(
                    "loki tail: connection lost (%s); reconnecting from %s", type(error).__name__, cursor
                )
            if failures > max_reconnects:
                raise LokiUnavailable(f"Loki tail failed {failures} times in a row")
            if on_connection is not None:
                on_connection(False)
            await self._sleep(self._backoff(failures))

    def _tail_url(self, query: str, start_ns: int | None, delay_for_s: int, limit: int) -> str:
        params: dict[str, Any] = {"query": query, "limit": limit, "delay_for": delay_for_s}
        if start_ns is not None:
            params["start"] = start_ns
        base = (
            str(self._http.base_url)
            .rstrip("/")
            .replace("http://", "ws://", 1)
            .replace("https://", "wss://", 1)
        )
        return f"{base}/loki/api/v1/tail?{urlencode(params)}"

    def _ws_headers(self) -> dict[str, str]:
        headers = self._headers()
        if self.config.username:
            basic = httpx.BasicAuth(self.config.username, self.config.password or "")
            request = next(basic.auth_flow(httpx.Request("GET", "http://loki")))
            headers["Authorization"] = request.headers["Authorization"]
        return headers

    @staticmethod
    def _strings(body: dict[str, Any]) -> list[str]:
        data = body.get("data", [])
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise LokiProtocolError("`data` is not a list of strings")
        return data

    async def _get_json(self, path: str, params: Any, *, query: str | None = None) -> dict[str, Any]:
        with timed("loki"):
            response = await self._get(path, params, query)
        try:
            body = response.json()
        except ValueError:
            raise LokiProtocolError(
                f"{path} answered {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise LokiProtocolError(f"{path} answered with JSON that is not an object")
        if body.get("status") not in (None, "success"):
            raise LokiQueryError(response.status_code, str(body.get("error") or body.get("status")), query)
        return body

    async def _get(self, path: str, params: Any, query: str | None) -> httpx.Response:
        def delay_s(attempt: int, response: httpx.Response | None) -> float:
            return (_retry_after(response) if response is not None else None) or self._backoff(attempt)

        try:
            response = await send_with_retries(
                lambda: self._http.get(path, params=params),
                max_retries=self.config.max_retries,
                delay_s=delay_s,
                sleep=self._sleep,
            )
        except GaveUp as gave_up:
            if gave_up.response is None:
                raise LokiUnavailable(
                    f"Loki at {self.config.url} unreachable: {redact(str(gave_up.error))}"
                ) from None
            status, body = gave_up.response.status_code, gave_up.response.content
            raise LokiUnavailable(
                f"Loki answered {status} {gave_up.attempts} times: {_message(body)}"
            ) from None
        if response.status_code >= 400:
            raise LokiQueryError(response.status_code, _message(response.content), query)
        return response

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _bounds(start_ns: int | None, end_ns: int | None) -> dict[str, int]:
    return {k: v for k, v in (("start", start_ns), ("end", end_ns)) if v is not None}


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_s(response.headers, cap=300.0)


def _message(body: bytes) -> str:
    """Loki writes errors as plain text; qryn and gateways as JSON. Either way, one redacted line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("message") or parsed.get("error") or text)
    return redact(" ".join(text.split()))[:500] or "(no message)"


def _tail_batch(message: str | bytes) -> TailBatch:
    try:
        body = json.loads(message)
    except ValueError:
        raise LokiProtocolError("a tail message is not JSON") from None
    if not isinstance(body, dict):
        raise LokiProtocolError("a tail message is not a JSON object")
    dropped = []
    for item in body.get("dropped_entries") or []:
        try:
            dropped.append(DroppedEntry(parse_timestamp_ns(item["timestamp"]), item.get("labels") or {}))
        except (KeyError, TypeError, ValueError):
            raise LokiProtocolError(f"unreadable dropped entry: {str(item)[:80]}") from None
    return TailBatch(entries_of(body.get("streams") or []), dropped)
