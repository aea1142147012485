"""What the evaluation model may read about a play beyond the finding's window (DESIGN §3, "investigate"):
its log lines, and the cluster's facts about its pods. Each source is read-only and scoped by whoever built
it to one play (one namespace, the play's pods); the model chooses filters, never selectors.

`LokiPlayLogs` and `KubeClusterFacts` read the live systems; `MemoryPlayLogs` and `TextClusterFacts` hold
what an evaluation case or a recorded scenario carries, so `healer eval` investigates the same way offline.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Mapping, Sequence
from typing import Protocol

from tools.kubernetes import KubeError, KubernetesTools
from tools.loki import LokiClient, escape_label_value, selector, selector_any_of
from tools.loki_streams import LokiEntry


class PlayLogs(Protocol):
    async def read(
        self,
        *,
        pods: Sequence[str] = (),
        contains: str | None = None,
        start_ns: int,
        end_ns: int,
        limit: int,
        oldest_first: bool = False,
    ) -> list[LokiEntry]:
        """At most `limit` lines in [start, end) of the given pods (all the play's when empty) containing
        `contains` (case-insensitive), oldest first either way; `oldest_first` picks which end is kept."""
        ...


class ClusterFacts(Protocol):
    async def pod(self, name: str) -> list[str]:
        """What the cluster says about a pod of the play, one fact per line."""
        ...


def _loose(text: str) -> str:
    """`text` as an RE2 pattern matching itself case-insensitively (letters, digits and blanks stay as
    they are; anything else is escaped)."""
    return "(?i)" + "".join(c if c.isalnum() or c == " " else "\\" + c for c in text)


class LokiPlayLogs:
    def __init__(self, loki: LokiClient, namespace: str, play_pods: Sequence[str] = ()) -> None:
        self._loki, self._labels, self._play_pods = loki, {"namespace": namespace}, tuple(play_pods)

    async def read(
        self,
        *,
        pods: Sequence[str] = (),
        contains: str | None = None,
        start_ns: int,
        end_ns: int,
        limit: int,
        oldest_first: bool = False,
    ) -> list[LokiEntry]:
        wanted = [pod for pod in pods if not self._play_pods or pod in self._play_pods]
        if pods and not wanted:
            return []  # a pod outside the play reads nothing
        chosen = wanted or self._play_pods
        query = selector_any_of(self._labels, "pod", chosen) if chosen else selector(self._labels)
        if contains:
            query += f' |~ "{escape_label_value(_loose(contains))}"'
        direction = "forward" if oldest_first else "backward"
        entries = await self._loki.query_range(query, start_ns, end_ns, direction=direction, limit=limit)
        return sorted(entries, key=lambda e: e.timestamp_ns)


class MemoryPlayLogs:
    def __init__(self, entries: Sequence[LokiEntry]) -> None:
        self._entries = sorted(entries, key=lambda e: e.timestamp_ns)
        self._times = [entry.timestamp_ns for entry in self._entries]

    async def read(
        self,
        *,
        pods: Sequence[str] = (),
        contains: str | None = None,
        start_ns: int,
        end_ns: int,
        limit: int,
        oldest_first: bool = False,
    ) -> list[LokiEntry]:
        window = self._entries[
            bisect.bisect_left(self._times, start_ns) : bisect.bisect_left(self._times, end_ns)
        ]
        needle = contains.lower() if contains else None
        chosen = set(pods)
        found = [
            entry
            for entry in window
            if (not chosen or entry.labels.get("pod") in chosen)
            and (needle is None or needle in entry.line.lower())
        ]
        return found[:limit] if oldest_first else found[-limit:]


class KubeClusterFacts:
    def __init__(self, kube: KubernetesTools, play_pods: Sequence[str] = ()) -> None:
        self._kube, self._play_pods = kube, tuple(play_pods)

    async def pod(self, name: str) -> list[str]:
        if self._play_pods and name not in self._play_pods:
            return [f"pod {name} is not one of this play's pods ({', '.join(self._play_pods)})"]
        try:
            state = await asyncio.to_thread(self._kube.pod, name)
            events = await asyncio.to_thread(self._kube.pod_events, name)
        except KubeError as error:
            return [f"Kubernetes lookup failed: {error}"]
        facts = [f"pod {state.name}: phase {state.phase}, node {state.node or '?'}"]
        for c in state.containers:
            last = f", last ended {c.last_reason} (exit {c.last_exit_code})" if c.last_reason else ""
            facts.append(
                f"container {c.name}: {c.state} {c.reason or ''} ready={c.ready} restarts={c.restart_count}{last}"
            )
        facts += [f"event {e.type} {e.reason} x{e.count}: {e.message}" for e in events]
        return facts


class TextClusterFacts:
    """Facts written down once (an evaluation case's `k8s.txt`): the same for every pod asked about."""

    def __init__(self, text: str, pods: Mapping[str, str] | None = None) -> None:
        self._lines = [line for line in text.splitlines() if line.strip()]
        self._pods = dict(pods or {})

    async def pod(self, name: str) -> list[str]:
        return list(self._lines) or [f"no Kubernetes facts were recorded for pod {name}"]
