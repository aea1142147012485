"""Every call to an outside system, counted by outcome and timed, for Healer's `/metrics`.

One process-wide record (as a metrics registry is): the clients wrap each logical call (retries
included) in `timed(system)`; the server reads `snapshot()` at scrape time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class _Record:
    calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, ok|error) -> count
    seconds: dict[str, float] = field(default_factory=dict)  # system -> total seconds


_RECORD = _Record()
_LOCK = threading.Lock()


def record(system: str, ok: bool, seconds: float) -> None:
    with _LOCK:
        key = (system, "ok" if ok else "error")
        _RECORD.calls[key] = _RECORD.calls.get(key, 0) + 1
        _RECORD.seconds[system] = _RECORD.seconds.get(system, 0.0) + seconds


@contextlib.contextmanager
def timed(system: str) -> Iterator[None]:
    """Count and time the block as one call to `system`; an exception counts it as an error."""
    began = time.perf_counter()
    try:
        yield
    except BaseException:
        record(system, False, time.perf_counter() - began)
        raise
    record(system, True, time.perf_counter() - began)


def snapshot() -> tuple[dict[tuple[str, str], int], dict[str, float]]:
    with _LOCK:
        return dict(_RECORD.calls), dict(_RECORD.seconds)
