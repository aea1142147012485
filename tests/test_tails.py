"""Demultiplexing a namespace's tail to its sessions (runtime/tails.py): which sessions a message wakes, and
a burst of lines against the local Loki."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from runtime.tails import NamespaceTails, plays_to_wake, pods_of
from tests.conftest import live_url
from tools.loki import DroppedEntry, LokiClient, LokiConfig, LokiEntry, TailBatch

SESSIONS = {
    "play-a": ("cto", frozenset({"rex-a-1", "cleo-a-1"})),
    "play-b": ("cto", frozenset({"rex-b-1"})),
    "play-new": ("cto", frozenset()),  # no CodeRun seen yet: reads its whole namespace
    "play-elsewhere": ("staging", frozenset({"rex-a-1"})),  # the same pod name, another namespace
}


def test_a_line_wakes_the_sessions_of_its_pod_and_those_that_know_no_pods_yet() -> None:
    assert sorted(plays_to_wake(SESSIONS, "cto", {"rex-a-1"})) == ["play-a", "play-new"]
    assert sorted(plays_to_wake(SESSIONS, "cto", {"rex-b-1", "cleo-a-1"})) == ["play-a", "play-b", "play-new"]


def test_a_pod_no_session_has_wakes_only_those_that_know_no_pods() -> None:
    assert plays_to_wake(SESSIONS, "cto", {"someone-else"}) == ["play-new"]


def test_a_pod_new_to_a_session_wakes_it_when_the_watch_says_it_is_its_plays() -> None:
    assert sorted(plays_to_wake(SESSIONS, "cto", {"rex-b-2"}, {"play-b"})) == ["play-b", "play-new"]
    assert plays_to_wake(SESSIONS, "staging", {"rex-b-2"}, {"play-b"}) == []  # not where play-b reads


def test_another_namespace_wakes_nothing_here() -> None:
    assert plays_to_wake(SESSIONS, "staging", {"rex-b-1"}) == []
    assert plays_to_wake(SESSIONS, "nowhere", None) == []


def test_a_reconnect_wakes_every_session_of_the_namespace() -> None:
    assert sorted(plays_to_wake(SESSIONS, "cto", None)) == ["play-a", "play-b", "play-new"]


def test_a_message_names_the_pods_of_its_lines_and_of_those_loki_dropped() -> None:
    batch = TailBatch(
        entries=[
            LokiEntry(1, "one", {"namespace": "cto", "pod": "rex-a-1"}),
            LokiEntry(2, "two", {"namespace": "cto", "pod": "rex-a-1"}),
            LokiEntry(3, "three", {"namespace": "cto", "pod": "cleo-a-1"}),
        ],
        dropped=[DroppedEntry(4, {"namespace": "cto", "pod": "rex-b-1"})],
    )
    assert pods_of(batch) == {"rex-a-1", "cleo-a-1", "rex-b-1"}


async def _told_of_a_burst(loki_url: str, limit: int | None) -> list[set[str] | None]:
    """What a namespace's tail tells of 100 pods logging three lines each at once."""
    namespace, told = f"burst-{uuid.uuid4().hex[:8]}", []

    async def on_lines(_namespace: str, pods: set[str] | None) -> None:
        told.append(pods)

    async with LokiClient(LokiConfig(url=loki_url)) as loki:
        tails = NamespaceTails(loki, **({} if limit is None else {"limit": limit}))
        tails.bind(on_lines)
        tails.follow([namespace])
        for _ in range(100):
            if tails.live(namespace):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # qryn's tail polls once a second
        told.clear()  # the wake of the connection
        now = time.time_ns() // 1000 * 1000
        streams = [
            {
                "stream": {"namespace": namespace, "pod": f"pod-{p}"},
                "values": [[str(now + p * 1000 + i), f"line {i}"] for i in range(3)],
            }
            for p in range(100)
        ]
        async with httpx.AsyncClient() as http:
            (await http.post(f"{loki_url}/loki/api/v1/push", json={"streams": streams})).raise_for_status()
        await asyncio.sleep(5)
        await tails.close()
    return told


@pytest.mark.live
def test_a_burst_of_lines_wakes_every_pod_that_logged() -> None:
    """Loki's default tail limit (100) is what qryn sends at most per poll, the rest dropped silently:
    the tails ask for Loki's largest page, and a message as long as the limit wakes the whole namespace."""
    loki_url = live_url("LOKI_URL")
    told = asyncio.run(_told_of_a_burst(loki_url, None))
    assert None not in told and set().union(*told) == {f"pod-{p}" for p in range(100)}
    assert None in asyncio.run(_told_of_a_burst(loki_url, 50))  # cut short: every session is woken
