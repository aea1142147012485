"""Turning what a user hands `healer scan` into lines: a Loki response, or plain/`kubectl logs` text."""

from __future__ import annotations

import json
from typing import Any

from graph.triage.models import LogLine
from tools.loki_streams import LokiProtocolError, entries_of


class InputError(ValueError):
    """The input is not something Healer can read; the message says why in one line."""


def looks_like_loki(head: bytes) -> bool:
    """A Loki `query_range`/`query` response or a push/tail body, judged from the first bytes."""
    start = head.lstrip()[:1]
    return start == b"{" and (b'"resultType"' in head[:8192] or head.lstrip().startswith(b'{"streams"'))


def check_not_binary(head: bytes) -> None:
    if b"\x00" in head:
        raise InputError("the input is binary (it contains NUL bytes), not a log")
    sample = head[:65536]
    if sample and sample.decode("utf-8", "replace").count("\ufffd") > len(sample) // 10:
        raise InputError("the input is binary or not UTF-8 text, not a log")


def loki_lines(document: bytes) -> list[LogLine]:
    """The log lines of a Loki response, oldest first (ties keep the response's order)."""
    try:
        body = json.loads(document)
    except (ValueError, RecursionError) as error:
        raise InputError(f"the input looks like a Loki response but is not valid JSON: {error}") from None
    try:
        entries = entries_of(_streams_of(body))
    except LokiProtocolError as error:
        raise InputError(f"the Loki response is malformed: {error}") from None
    lines = [LogLine(entry.line, entry.timestamp_ns, entry.labels) for entry in entries]
    lines.sort(key=lambda line: line.timestamp_ns or 0)
    return lines


def _streams_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise InputError("the Loki response is not a JSON object")
    if isinstance(body.get("streams"), list):  # push body or tail message
        return body["streams"]
    if body.get("status") not in (None, "success"):
        raise InputError(f"the Loki response reports status {body.get('status')!r}: {body.get('error', '')}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise InputError("the Loki response has no `data` object")
    if data.get("resultType") != "streams":
        raise InputError(
            f"the Loki result is of type {data.get('resultType')!r}; only log streams have lines"
        )
    result = data.get("result")
    if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
        raise InputError("the Loki response's `data.result` is not a list of streams")
    return result
