"""Turning what a user hands `healer scan` into lines: a Loki response, or plain/`kubectl logs` text."""

from __future__ import annotations

import json
from typing import Any

from graph.triage.models import LogLine
from tools.timestamps import parse_timestamp_ns


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
    streams = _streams_of(body)
    lines: list[LogLine] = []
    for stream in streams:
        labels = stream.get("stream") or stream.get("labels") or {}
        if not isinstance(labels, dict):
            raise InputError("a Loki stream's labels are not an object")
        labels = {str(k): str(v) for k, v in labels.items()}
        for entry in stream.get("values") or []:
            lines.append(_entry(entry, labels))
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


def _entry(entry: Any, labels: dict[str, str]) -> LogLine:
    if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[1], str):
        raise InputError(f"a Loki entry is not [timestamp, line]: {str(entry)[:80]}")
    try:
        timestamp = parse_timestamp_ns(entry[0])
    except (ValueError, TypeError):
        raise InputError(f"a Loki entry has an unreadable timestamp: {str(entry[0])[:40]}") from None
    return LogLine(entry[1], timestamp, labels)
