"""Loki's `streams` result shape, readable without the HTTP client (so `healer scan` stays light)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.timestamps import parse_timestamp_ns


class LokiError(Exception):
    """Base of the errors of the Loki tools."""


class LokiProtocolError(LokiError):
    """Loki answered with a body this client cannot read."""


@dataclass(frozen=True, slots=True)
class LokiEntry:
    timestamp_ns: int
    line: str
    labels: Mapping[str, str]

    def key(self) -> tuple[int, str, tuple[tuple[str, str], ...]]:
        return self.timestamp_ns, self.line, tuple(sorted(self.labels.items()))


def entries_of(result: Any) -> list[LokiEntry]:
    """The entries of a `streams` result (query_range `data.result`, a tail message's or a push body's
    `streams`); timestamps may be strings or numbers."""
    if not isinstance(result, list):
        raise LokiProtocolError("a streams result is not a list")
    entries = []
    for stream in result:
        labels = (stream.get("stream") or stream.get("labels") or {}) if isinstance(stream, dict) else None
        values = stream.get("values") or [] if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise LokiProtocolError("a stream has no `stream` labels or no `values`")
        labels = {str(name): str(value) for name, value in labels.items()}
        for value in values:
            if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], str):
                raise LokiProtocolError(f"a stream value is not [timestamp, line]: {str(value)[:80]}")
            try:
                timestamp = parse_timestamp_ns(value[0])
            except (ValueError, TypeError):
                raise LokiProtocolError(f"unreadable timestamp {str(value[0])[:40]!r}") from None
            entries.append(LokiEntry(timestamp, value[1], labels))
    return entries
