"""One Loki tail per namespace per replica (issue 12), demultiplexed to the sessions by pod: a line on the
tail wakes the sessions whose pods it came from, so their next pass runs now instead of at the next timed
one. The tail only wakes: the lines themselves are read from the namespace's feed (runtime/feeds.py)
from each session's cursor, so a line the tail missed (a reconnect, a dropped entry) is read all the same
by the next pass, woken or timed.

While a namespace's tail is connected its sessions' timed passes can be slow (`HEALER_CATCHUP_S`): they
only catch up and run the rules that need time to pass. Each time a tail (re)connects, every session of
its namespace is woken once, for the lines of the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Protocol

from tools.loki import MAX_PAGE, LokiClient, LokiError, TailBatch, selector

log = logging.getLogger("healer.tails")
# (namespace, pods whose lines arrived, or None: every session of the namespace)
OnLines = Callable[[str, set[str] | None], Awaitable[None]]


async def wake_safely(wake: Awaitable[None], namespace: str) -> None:
    """Awaits the engine's wake; one that fails is logged and only delays the pass to its timed run."""
    try:
        await wake
    except Exception:
        log.exception("waking the sessions of a namespace failed", extra={"namespace": namespace})


class LineFollowers(Protocol):
    """What tells the engine that lines came: a Loki tail per namespace (`NamespaceTails`), or without a
    Loki the followed logs of the pods (runtime/pod_logs.py)."""

    def bind(self, on_lines: OnLines) -> None: ...

    def follow(self, namespaces: Iterable[str]) -> None:
        """Follow exactly `namespaces`."""

    def live(self, namespace: str) -> bool:
        """The namespace's new lines are told as they come, now."""

    async def close(self) -> None: ...


def pods_of(batch: TailBatch) -> set[str]:
    """The pods a tail message has lines of (those Loki dropped count: they are there to be read)."""
    labels = [entry.labels for entry in batch.entries] + [dropped.labels for dropped in batch.dropped]
    return {found.get("pod", "") for found in labels}


def plays_to_wake(
    sessions: Mapping[str, tuple[str, frozenset[str]]],
    namespace: str,
    pods: set[str] | None,
    plays: Collection[str] = (),
) -> list[str]:
    """The sessions (`play_id → (namespace, its pods)`) that a change of `pods` in `namespace` concerns:
    those with one of the pods, those that know no pods yet (they read their whole namespace), and
    `plays` (a pod they do not know yet is theirs: the cluster's watch says so)."""
    return [
        play_id
        for play_id, (where, theirs) in sessions.items()
        if where == namespace
        and (pods is None or not theirs or not theirs.isdisjoint(pods) or play_id in plays)
    ]


class NamespaceTails:
    def __init__(
        self, loki: LokiClient, *, retry_s: float = 5.0, gather_s: float = 0.2, limit: int = MAX_PAGE
    ) -> None:
        # the pods of the messages that arrive within `gather_s` wake their sessions together
        self.loki, self.retry_s, self.gather_s = loki, retry_s, gather_s
        # The tail's `limit`. Loki's default, 100, is what qryn sends at most per one-second poll of a
        # tail, the rest dropped without a word (measured: 300 of 900 lines in 3 s): a namespace of 500
        # pods then woke a fifth of the sessions whose pods logged. A message as long as the limit may
        # have had more behind it, so it wakes every session of the namespace.
        self.limit = limit
        self._on_lines: OnLines | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._connected: set[str] = set()
        self.connections = 0  # websockets opened, over every namespace

    def bind(self, on_lines: OnLines) -> None:
        """Who is told of new lines (the engine)."""
        self._on_lines = on_lines

    def follow(self, namespaces: Iterable[str]) -> None:
        """Tail exactly `namespaces`: those new are opened, those no longer wanted closed."""
        wanted = set(namespaces)
        for namespace in list(self._tasks):
            if namespace not in wanted:
                self._tasks.pop(namespace).cancel()
                self._connected.discard(namespace)
        for namespace in wanted:
            task = self._tasks.get(namespace)
            if task is None or task.done():
                self._tasks[namespace] = asyncio.create_task(self._tail(namespace), name=f"tail {namespace}")

    def live(self, namespace: str) -> bool:
        """The namespace's tail is connected now: its sessions hear of new lines as they come."""
        return namespace in self._connected

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._connected.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tail(self, namespace: str) -> None:
        reconnected = asyncio.Event()

        def connection(up: bool) -> None:
            if up:
                self.connections += 1
                self._connected.add(namespace)
                reconnected.set()
            else:
                self._connected.discard(namespace)

        pending: set[str] = set()
        cut_short = False  # a message of `limit` lines came since the last wake

        async def wake_pending() -> None:
            nonlocal cut_short
            while pending:
                await asyncio.sleep(self.gather_s)
                pods = None if cut_short else set(pending)
                pending.clear()
                cut_short = False
                await self._tell(namespace, pods)

        gathering: asyncio.Task[None] | None = None
        while True:
            waker = asyncio.create_task(self._wake_all_on(reconnected, namespace))
            try:
                async for batch in self.loki.tail(
                    selector({"namespace": namespace}),
                    delay_for_s=0,
                    limit=self.limit,
                    on_connection=connection,
                ):
                    pending.update(pods_of(batch))
                    cut_short = cut_short or len(batch.entries) >= self.limit
                    if gathering is None or gathering.done():
                        gathering = asyncio.create_task(wake_pending())
            except LokiError as error:
                log.warning(
                    "loki tail of a namespace stopped; timed passes go on",
                    extra={"namespace": namespace, "error": str(error), "retry_in_s": self.retry_s},
                )
            finally:
                waker.cancel()
                self._connected.discard(namespace)
            await asyncio.sleep(self.retry_s)

    async def _wake_all_on(self, reconnected: asyncio.Event, namespace: str) -> None:
        while True:
            await reconnected.wait()
            reconnected.clear()
            await self._tell(namespace, None)

    async def _tell(self, namespace: str, pods: set[str] | None) -> None:
        if self._on_lines is not None:
            await wake_safely(self._on_lines(namespace, pods), namespace)
