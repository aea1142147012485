"""Timestamps as log systems write them, to integer nanoseconds since the epoch (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*(Z|[+-]\d\d:?\d\d)?", re.ASCII
)
_NS_PER_S = 1_000_000_000


def parse_rfc3339_ns(text: str) -> int | None:
    """Nanoseconds for an RFC 3339 timestamp at the start of `text` (no zone means UTC), else None.

    Done by hand because `datetime` keeps only microseconds and Kubernetes and Loki write nanoseconds.
    """
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    nanos = int(moment.timestamp()) * _NS_PER_S + int((fraction or "0").ljust(9, "0"))
    return nanos - _zone_offset_s(zone) * _NS_PER_S


def _epoch_to_ns(value: int) -> int:
    """An integer epoch in s, ms, µs or ns, told apart by magnitude (valid for years 1973–5138)."""
    for limit, scale in ((10**11, _NS_PER_S), (10**14, 1_000_000), (10**17, 1_000)):
        if abs(value) < limit:
            return value * scale
    return value


def _zone_offset_s(zone: str | None) -> int:
    if not zone or zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)


def parse_timestamp_ns(value: str | int | float) -> int:
    """Nanoseconds from what Loki and its clients send: ns epoch (string or int), float seconds, RFC 3339.

    Raises ValueError with the offending value when it is none of those.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int):
        return _epoch_to_ns(value)
    if isinstance(value, float):
        return round(value * _NS_PER_S)
    text = value.strip()
    if text.isdigit():
        return parse_timestamp_ns(int(text))
    try:
        return parse_timestamp_ns(float(text))
    except ValueError:
        pass
    if (nanos := parse_rfc3339_ns(text)) is not None:
        return nanos
    raise ValueError(f"not a timestamp: {value!r}")
