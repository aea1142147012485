"""Reads shared per namespace (issue 12): the sessions a replica runs in one namespace read their lines
from one Loki feed (and their CodeRuns and pods from one watch, runtime/clusters.py), so the replica's
Loki and Kubernetes requests follow namespaces, not sessions.

A feed reads `{namespace="…"}` from its own cursor when a session asks for lines and the last read is
older than `refresh_s` (one read, under a lock, for every session that asks meanwhile), keeps the lines of
the last `window_s` seconds (at most `max_lines`), and answers each session with its pods' lines from the
session's cursor on. A session whose cursor is older than what the feed holds (its first pass, or one
taken over from a dead replica) is answered None and reads Loki itself once: that catch-up moves its
cursor into the feed's window, and its next passes are served from the feed.

The feed's cursor semantics are the sessions': it moves to the newest line read, lines at that
timestamp are remembered so the next read does not give them twice, and a failed read moves nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

from tools.loki import LokiClient, selector
from tools.loki_streams import LokiEntry

Key = tuple[int, str, str]


def entry_key(entry: LokiEntry) -> Key:
    return entry.timestamp_ns, entry.labels.get("pod", ""), entry.line


def fresh_enough(asked: int, read_at: int, read_done_at: int, refresh_ns: int) -> bool:
    """A read serves whoever asked within `refresh_ns` after it began, or while it ran: those waiting
    for a slow read do not each make one more."""
    return asked - read_at < refresh_ns or read_done_at >= asked


class NamespaceFeed:
    def __init__(
        self,
        loki: LokiClient,
        namespace: str,
        *,
        refresh_s: float,
        window_s: float = 600.0,
        max_lines: int = 200_000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.loki, self.namespace, self.clock = loki, namespace, clock
        self.refresh_ns, self.window_ns, self.max_lines = int(refresh_s * 1e9), int(window_s * 1e9), max_lines
        self._lock = asyncio.Lock()
        self._entries: list[LokiEntry] = []  # oldest first
        self._stamps: list[int] = []  # their timestamps, for bisect
        self._covered_from: int | None = None  # every line of the namespace from here on is held
        self._cursor: int | None = None
        self._at_cursor: set[Key] = set()
        self._read_at = self._read_done_at = 0
        self.reads = 0  # Loki queries this feed made

    async def lines(
        self, pods: set[str] | None, start_ns: int, first_start_ns: int
    ) -> list[LokiEntry] | None:
        """The namespace's lines (of `pods`, when given) with a timestamp ≥ `start_ns`, oldest first; None
        when the feed does not hold everything from `start_ns` on (the caller reads Loki itself).
        `first_start_ns` is where the feed's first read begins. A failed read raises LokiError."""
        await self._refresh(first_start_ns)
        if self._covered_from is None or start_ns < self._covered_from:
            return None
        first = bisect.bisect_left(self._stamps, start_ns)
        return [e for e in self._entries[first:] if pods is None or e.labels.get("pod") in pods]

    async def _refresh(self, first_start_ns: int) -> None:
        asked = self.clock()
        async with self._lock:
            if self._cursor is not None and fresh_enough(
                asked, self._read_at, self._read_done_at, self.refresh_ns
            ):
                return
            now = self.clock()
            start = self._cursor if self._cursor is not None else first_start_ns
            fresh: list[LokiEntry] = []
            async for entry in self.loki.query_range_all(
                selector({"namespace": self.namespace}), start, now + 1, max_entries=self.max_lines
            ):
                if self._cursor is not None and (
                    entry.timestamp_ns < self._cursor  # some Loki-API servers round `start` down to a ms
                    or (entry.timestamp_ns == self._cursor and entry_key(entry) in self._at_cursor)
                ):
                    continue
                fresh.append(entry)
            self.reads += 1
            self._read_at, self._read_done_at = now, self.clock()
            if self._covered_from is None:
                self._covered_from = start
            self._append(fresh)
            if self._cursor is None:
                self._cursor = start

    def _append(self, fresh: list[LokiEntry]) -> None:
        if fresh:
            fresh.sort(key=lambda e: e.timestamp_ns)
            newest = fresh[-1].timestamp_ns
            keys = {entry_key(e) for e in fresh if e.timestamp_ns == newest}
            self._at_cursor = keys | (self._at_cursor if newest == self._cursor else set())
            self._cursor = newest
            self._entries += fresh
            self._stamps += [e.timestamp_ns for e in fresh]
        horizon = self.clock() - self.window_ns
        cut = max(bisect.bisect_left(self._stamps, horizon), len(self._entries) - self.max_lines)
        if cut > 0:
            # everything after the newest line let go is still held
            self._covered_from = max(self._covered_from or 0, self._stamps[cut - 1] + 1)
            del self._entries[:cut], self._stamps[:cut]


class NamespaceFeeds:
    """One feed per namespace, over one Loki client for the whole process."""

    def __init__(
        self, loki: LokiClient, *, refresh_s: float, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.loki, self.refresh_s, self.clock = loki, refresh_s, clock
        self._feeds: dict[str, NamespaceFeed] = {}

    def feed(self, namespace: str) -> NamespaceFeed:
        if namespace not in self._feeds:
            self._feeds[namespace] = NamespaceFeed(
                self.loki, namespace, refresh_s=self.refresh_s, clock=self.clock
            )
        return self._feeds[namespace]

    async def lines(
        self, namespace: str, pods: set[str] | None, start_ns: int, first_start_ns: int
    ) -> list[LokiEntry] | None:
        return await self.feed(namespace).lines(pods, start_ns, first_start_ns)

    @property
    def reads(self) -> int:
        return sum(feed.reads for feed in self._feeds.values())
