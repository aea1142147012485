"""Without a Loki (`LOKI_URL` unset): the `kubectl logs -f --timestamps` of every running pod of the
namespaces the sessions read, through the Kubernetes API, in place of the namespace's Loki tail
(runtime/tails.py). A line wakes the sessions of its pod. Like the tail it only wakes: the woken pass
reads the pod's log from its own cursor (graph/nodes/collect.read_pod_logs), so a line a follower missed
(a reconnect, a pod that started between two looks) is read all the same.

The pods come from the namespace's watch (runtime/clusters.py): a follower starts when a pod runs and
ends with it. The kubernetes client is synchronous and a followed log is a connection held open, so each
follower is a thread; one that connects (again) wakes its pod's sessions once, for the lines of the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from runtime.clusters import ClusterWatches
from runtime.tails import OnLines, wake_safely
from tools.kubernetes import KubeError, KubeNotFound, KubernetesTools

log = logging.getLogger("healer.pod_logs")


class PodLogFollower:
    """One pod's followed log, in a thread, until `stop()` (it ends at the pod's next line or at the
    stream's read timeout, whichever comes first)."""

    def __init__(
        self,
        kube: KubernetesTools,
        pod: str,
        heard: Callable[[str], None],
        *,
        retry_s: float,
        read_timeout_s: float,
    ) -> None:
        self.kube, self.pod, self.heard = kube, pod, heard
        self.retry_s, self.read_timeout_s = retry_s, read_timeout_s
        self.connected = False
        self.connections = 0
        # told, and the wake not sent yet: the lines that come meanwhile are read by that wake's pass
        self.told = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"log {kube.namespace}/{pod}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _follow(self) -> None:
        last_line_at = time.time()
        while not self._stopped.is_set():
            since_s = int(time.time() - last_line_at) + 1  # whole seconds: a line twice only wakes twice
            try:
                stream = self.kube.follow_pod_log(
                    self.pod, since_seconds=since_s, read_timeout_s=self.read_timeout_s
                )
                self.connected = True
                self.connections += 1
                self.heard(self.pod)  # the lines of the gap are read by the woken pass
                for _line in stream:
                    if self._stopped.is_set():
                        return
                    last_line_at = time.time()
                    if not self.told:  # a chatty pod is one wake, not one a line
                        self.told = True
                        self.heard(self.pod)
            except KubeNotFound:
                return  # the pod is gone
            except KubeError as error:
                if self._stopped.is_set():
                    return
                log.warning(
                    "following a pod's log stopped; timed passes go on",
                    extra={"namespace": self.kube.namespace, "pod": self.pod, "error": str(error)},
                )
            except Exception:  # a thread that dies silently would leave the pod unfollowed
                log.exception("following a pod's log broke", extra={"pod": self.pod})
            finally:
                self.connected = False
            self._stopped.wait(self.retry_s)


class PodLogFollowers:
    """The followers of the running pods of each namespace followed (`follow`, as the engine tells the
    Loki tails), looked at again every `sync_s`; what they hear wakes the engine (`bind`), the pods of
    the lines that came within `gather_s` together."""

    def __init__(
        self,
        api_client: object,
        clusters: ClusterWatches,
        *,
        sync_s: float = 1.0,
        gather_s: float = 0.2,
        retry_s: float = 5.0,
        read_timeout_s: float = 300.0,
    ) -> None:
        self.api_client, self.clusters = api_client, clusters
        self.sync_s, self.gather_s = sync_s, gather_s
        self.retry_s, self.read_timeout_s = retry_s, read_timeout_s
        self._on_lines: OnLines | None = None
        self._wanted: set[str] = set()
        self._followers: dict[str, dict[str, PodLogFollower]] = {}
        self._pending: dict[str, set[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._syncing: asyncio.Task[None] | None = None
        self._telling: set[asyncio.Task[None]] = set()

    def bind(self, on_lines: OnLines) -> None:
        self._on_lines = on_lines

    def follow(self, namespaces: Iterable[str]) -> None:
        self._wanted = set(namespaces)
        self._loop = asyncio.get_running_loop()
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.create_task(self._sync_every(), name="pod log followers")
        self.sync()

    def live(self, namespace: str) -> bool:
        """The namespace's watch is up and each of its running pods' logs is followed now."""
        if namespace not in self._wanted or not self.clusters.live(namespace):
            return False
        followers = self._followers.get(namespace, {})
        return all(
            pod in followers and followers[pod].connected for pod in self.clusters.running_pods(namespace)
        )

    @property
    def connections(self) -> int:
        """Logs followed (connections opened), over every pod."""
        return sum(f.connections for pods in self._followers.values() for f in pods.values())

    def sync(self) -> None:
        """A follower for each running pod of the namespaces followed, and none for any other."""
        for namespace in list(self._followers):
            if namespace not in self._wanted:
                for follower in self._followers.pop(namespace).values():
                    follower.stop()
        for namespace in self._wanted:
            running = set(self.clusters.running_pods(namespace))
            followers = self._followers.setdefault(namespace, {})
            for pod in [pod for pod in followers if pod not in running]:
                followers.pop(pod).stop()
            for pod in running - set(followers):
                kube = KubernetesTools(self.api_client, namespace)  # type: ignore[arg-type]
                follower = PodLogFollower(
                    kube,
                    pod,
                    lambda pod, namespace=namespace: self._heard(namespace, pod),
                    retry_s=self.retry_s,
                    read_timeout_s=self.read_timeout_s,
                )
                followers[pod] = follower
                follower.start()

    async def close(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
        self._wanted = set()
        self.sync()

    async def _sync_every(self) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            try:
                self.sync()
            except Exception:  # the next look tries again
                log.exception("following the pods' logs could not be brought up to date")

    def _heard(self, namespace: str, pod: str) -> None:
        """From a follower's thread: the engine hears of it in the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._gather, namespace, pod)

    def _gather(self, namespace: str, pod: str) -> None:
        first = not self._pending
        self._pending.setdefault(namespace, set()).add(pod)
        if first:
            assert self._loop is not None
            self._loop.call_later(self.gather_s, self._wake_pending)

    def _wake_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for namespace, pods in pending.items():
            for pod in pods:
                if (follower := self._followers.get(namespace, {}).get(pod)) is not None:
                    follower.told = False
            task = asyncio.create_task(self._tell(namespace, pods))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _tell(self, namespace: str, pods: set[str]) -> None:
        if self._on_lines is not None:
            await wake_safely(self._on_lines(namespace, pods), namespace)
