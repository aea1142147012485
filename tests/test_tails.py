"""Demultiplexing a namespace's tail to its sessions (runtime/tails.py): which sessions a message wakes."""

from __future__ import annotations

from runtime.tails import plays_to_wake, pods_of
from tools.loki import DroppedEntry, LokiEntry, TailBatch

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
