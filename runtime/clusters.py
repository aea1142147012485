"""One Kubernetes watch per namespace (issue 12): its CodeRuns, pods and pod events are listed once, then followed by
watches from the list's resourceVersion, and listed again when the API server answers 410 Gone (the
version is too old) or a watch fails. Every session of the namespace reads its play from this view
instead of listing, and a change wakes the sessions of the play it concerns, as the Loki tails do for
lines (runtime/tails.py).

The pods' Warning events are watched too (FailedScheduling, BackOff, Evicted, …): a pod that is not
running as it should carries its newest ones, the why of what the state rules see.

The kubernetes client is synchronous: each watch runs in a thread of its own (three a namespace) and hands
what changed to the event loop. A view whose watch is down answers from what it last saw for
`stale_after_s`, then raises `KubeUnavailable`: the session shows Kubernetes as degraded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable

from runtime.tails import wake_safely
from tools.kubernetes import (
    WARNINGS_KEPT,
    CodeRunState,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubernetesTools,
    KubeUnavailable,
    PodEvent,
    PodState,
    Watched,
)

log = logging.getLogger("healer.clusters")
_EPOCH = float("-inf")
# (namespace, pods that changed, plays whose CodeRuns or pods changed; None: every session there)
OnChange = Callable[[str, set[str] | None, set[str]], Awaitable[None]]


def play_of_pod(pod: PodState, runs: Iterable[CodeRunState], play_label: str) -> str | None:
    """The play a pod belongs to: that of the CodeRun whose Job (or named pod) it is."""
    for run in runs:
        if run.pod_name == pod.name or (pod.job_name and pod.job_name == (run.job_name or run.name)):
            return run.labels.get(play_label)
    return None


def pods_of_run(run: CodeRunState, pods: Iterable[PodState]) -> list[PodState]:
    """A CodeRun's pods, newest first, as `KubernetesTools.pods_of` answers."""
    if run.pod_name:
        return [pod for pod in pods if pod.name == run.pod_name]
    job = run.job_name or run.name
    mine = [pod for pod in pods if pod.job_name == job]
    return sorted(mine, key=lambda p: p.started_at.timestamp() if p.started_at else _EPOCH, reverse=True)


def _seen_at(event: PodEvent) -> float:
    moment = event.last_seen or event.first_seen
    return moment.timestamp() if moment else _EPOCH


class NamespaceWatch:
    def __init__(
        self,
        kube: KubernetesTools,
        tell: Callable[[set[str] | None, set[str]], None],
        *,
        play_label: str = "workflow-name",
        retry_s: float = 5.0,
        timeout_s: float = 300.0,
    ) -> None:
        self.kube, self.tell, self.play_label = kube, tell, play_label
        self.retry_s, self.timeout_s = retry_s, timeout_s
        self.runs: dict[str, CodeRunState] = {}
        self.pods: dict[str, PodState] = {}
        self.warnings: dict[str, PodEvent] = {}  # the Warning events about pods, by the event's name
        self.listed: set[Watched] = set()  # the kinds listed at least once
        self.failing: dict[Watched, tuple[float, str]] = {}  # since (monotonic), the error
        self.lists = self.watches = 0
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._follow, args=(what,), name=f"watch {what} {kube.namespace}", daemon=True
            )
            for what in ("coderuns", "pods", "events")
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """The threads end at their watch's next event or timeout; nothing waits for them."""
        self._stopped.set()

    @property
    def ready(self) -> bool:
        """The CodeRuns and pods are listed (the events only explain: a view can do without them)."""
        return {"coderuns", "pods"} <= self.listed

    def down_for_s(self) -> float:
        """How long a watch of this namespace has been failing (0 while both are up)."""
        if not self.failing:
            return 0.0
        return time.monotonic() - min(since for since, _ in self.failing.values())

    def play(self, play_id: str) -> list[tuple[CodeRunState, list[PodState]]]:
        runs = [r for r in list(self.runs.values()) if r.labels.get(self.play_label) == play_id]
        pods = [pod for pod in list(self.pods.values()) if not pod.excluded]
        return [
            (run, [self._warned(pod) for pod in pods_of_run(run, pods)]) for run in runs if not run.excluded
        ]

    def _warned(self, pod: PodState) -> PodState:
        """The pod with its newest Warning events, when it is not `healthy`."""
        if pod.healthy:
            return pod
        about = sorted((e for e in list(self.warnings.values()) if e.object_name == pod.name), key=_seen_at)
        return pod.model_copy(update={"warnings": about[-WARNINGS_KEPT:]}) if about else pod

    def _follow(self, what: Watched) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    items, version = self.kube.listed(what)
                    self.lists += 1
                    self._replace(what, items)
                    self.listed.add(what)
                    self.failing.pop(what, None)
                    if what != "events":  # what changed while nobody watched: every session looks
                        self.tell(None, set())
                self.watches += 1
                for kind, item, seen in self.kube.watch(what, version, self.timeout_s):
                    if self._stopped.is_set():
                        return
                    version = seen  # the next watch goes on from here
                    if item is not None:
                        self._apply(what, kind, item)
                self.failing.pop(what, None)
            except KubeGone:
                version = None
            except KubeError as error:
                if self._stopped.is_set():
                    return  # its client closed under it
                if what == "events" and isinstance(error, KubeForbidden):
                    # the events only explain: without the right to read them (RBAC) the view does without
                    log.warning(
                        "pod events cannot be read here; findings go without their why",
                        extra={"namespace": self.kube.namespace, "error": str(error)},
                    )
                    return
                if what != "events":  # a view without its events is still whole
                    self.failing.setdefault(what, (time.monotonic(), str(error)))
                log.warning(
                    "kubernetes watch failed; listing again",
                    extra={"namespace": self.kube.namespace, "kind": what, "error": str(error)},
                )
                version = None
                self._stopped.wait(self.retry_s)
            except Exception:  # a thread that dies silently would freeze the view
                log.exception(
                    "kubernetes watch broke; listing again", extra={"namespace": self.kube.namespace}
                )
                version = None
                self._stopped.wait(self.retry_s)

    def _replace(self, what: Watched, items: list[CodeRunState] | list[PodState] | list[PodEvent]) -> None:
        fresh = {
            item.name: item for item in items if not isinstance(item, PodEvent) or item.type == "Warning"
        }
        if what == "coderuns":
            self.runs = fresh  # type: ignore[assignment]
        elif what == "pods":
            self.pods = fresh  # type: ignore[assignment]
        else:
            self.warnings = fresh  # type: ignore[assignment]

    def _apply(self, what: Watched, kind: str, item: CodeRunState | PodState | PodEvent) -> None:
        if isinstance(item, PodEvent) and item.type != "Warning":
            return
        held: dict = {"coderuns": self.runs, "pods": self.pods, "events": self.warnings}[what]
        before = held.pop(item.name, None) if kind == "DELETED" else held.get(item.name)
        if kind != "DELETED":
            held[item.name] = item
        if isinstance(item, PodEvent):
            if kind == "DELETED" or (before is not None and before.count == item.count):
                return  # an event that expired, or seen again with nothing new to say, wakes no one
            pod = self.pods.get(item.object_name)
            play = play_of_pod(pod, list(self.runs.values()), self.play_label) if pod else None
            self.tell({item.object_name}, {play} if play else set())
        elif isinstance(item, PodState):
            play = play_of_pod(item, list(self.runs.values()), self.play_label)
            self.tell({item.name}, {play} if play else set())
        else:
            play = item.labels.get(self.play_label)
            pods = {pod.name for pod in pods_of_run(item, list(self.pods.values()))}
            self.tell(pods, {play} if play else set())


class ClusterWatches:
    """The `NamespaceWatch` of each namespace a session reads, over one API client for the process; a
    change is told to the engine (`bind`), in the event loop."""

    def __init__(
        self,
        api_client: object,
        *,
        stale_after_s: float = 60.0,
        ready_within_s: float = 15.0,
        retry_s: float = 5.0,
        timeout_s: float = 300.0,
    ) -> None:
        self.api_client, self.stale_after_s, self.ready_within_s = api_client, stale_after_s, ready_within_s
        self.retry_s, self.timeout_s = retry_s, timeout_s
        self._watches: dict[str, NamespaceWatch] = {}
        self._on_change: OnChange | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._telling: set[asyncio.Task[None]] = set()

    def bind(self, on_change: OnChange) -> None:
        self._on_change = on_change

    async def play(self, namespace: str, play_id: str) -> list[tuple[CodeRunState, list[PodState]]]:
        watch = self._watch(namespace)
        waited = 0.0
        while not watch.ready and waited < self.ready_within_s:
            await asyncio.sleep(0.05)
            waited += 0.05
        if not watch.ready:
            raise KubeUnavailable(f"namespace {namespace}: not listed yet: {self._errors(watch)}")
        if watch.down_for_s() > self.stale_after_s:
            raise KubeUnavailable(
                f"namespace {namespace}: its watch has been down for {watch.down_for_s():.0f} s: "
                f"{self._errors(watch)}"
            )
        return watch.play(play_id)

    def live(self, namespace: str) -> bool:
        """The namespace is listed and its watches are up: its changes are told as they come."""
        watch = self._watches.get(namespace)
        return watch is not None and watch.ready and not watch.failing

    def running_pods(self, namespace: str) -> list[str]:
        """The pods of the plays' CodeRuns in the namespace running now (those of Healer's own runs and
        the excluded left out), as far as its watch knows them."""
        watch = self._watches.get(namespace)
        if watch is None:
            return []
        # `play_of_pod` for every pod would be pods × runs on each step's `live()`: the runs' pods and
        # Jobs are gathered once instead
        runs = [r for r in list(watch.runs.values()) if not r.excluded and r.labels.get(watch.play_label)]
        named = {run.pod_name for run in runs if run.pod_name}
        jobs = {run.job_name or run.name for run in runs}
        return [
            pod.name
            for pod in list(watch.pods.values())
            if pod.phase == "Running"
            and not pod.excluded
            and (pod.name in named or (pod.job_name is not None and pod.job_name in jobs))
        ]

    def plays_of(self, namespace: str, pods: Iterable[str]) -> set[str]:
        """The plays the pods belong to, as far as the namespace's watch knows them."""
        watch = self._watches.get(namespace)
        if watch is None:
            return set()
        found = (watch.pods.get(name) for name in pods)
        runs = list(watch.runs.values())
        return {play for pod in found if pod and (play := play_of_pod(pod, runs, watch.play_label))}

    @property
    def reads(self) -> int:
        """Lists and watches opened, over every namespace."""
        return sum(watch.lists + watch.watches for watch in self._watches.values())

    def close(self) -> None:
        for watch in self._watches.values():
            watch.stop()
        self._watches.clear()

    def _watch(self, namespace: str) -> NamespaceWatch:
        if namespace not in self._watches:
            self._loop = asyncio.get_running_loop()
            kube = KubernetesTools(self.api_client, namespace)  # type: ignore[arg-type]
            watch = NamespaceWatch(
                kube,
                lambda pods, plays: self._tell(namespace, pods, plays),
                retry_s=self.retry_s,
                timeout_s=self.timeout_s,
            )
            self._watches[namespace] = watch
            watch.start()
        return self._watches[namespace]

    def _tell(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        """From a watch's thread: the engine hears of it in the event loop."""
        loop = self._loop
        if self._on_change is None or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._start_telling, namespace, pods, plays)

    def _start_telling(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        task = asyncio.create_task(self._told(namespace, pods, plays))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _told(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        if self._on_change is not None:
            await wake_safely(self._on_change(namespace, pods, plays), namespace)

    @staticmethod
    def _errors(watch: NamespaceWatch) -> str:
        return "; ".join(error for _since, error in watch.failing.values()) or "no answer yet"
