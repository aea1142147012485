"""One Kubernetes watch per namespace (runtime/clusters.py), against the Kubernetes emulator: the view
answers as the direct reads did, follows changes without listing again, tells the engine which pods and
plays changed, lists again after a 410 Gone, and says so when it cannot list at all."""

from __future__ import annotations

import asyncio
import time

import pytest

from graph.triage.state_rules import state_findings
from runtime.clusters import ClusterWatches
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tests.test_queue_engine import until
from tools.kubernetes import KubernetesTools, KubeUnavailable, api_client
from tools.kubernetes import k8s as kubernetes_client

S = 10**9


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def runs(t0: int) -> list[EmulatedRun]:
    return [
        EmulatedRun(
            "play-k-rex-t1", "5DLabs-Rex", 1, [(t0, "Running"), (t0 + 60 * S, "Failed")], exit_code=1
        ),
        EmulatedRun("play-k-blaze-t2", "5DLabs-Blaze", 2, [(t0, "Running")]),
        EmulatedRun("play-other-rex-t1", "5DLabs-Rex", 1, [(t0, "Running")], play_id="play-other"),
    ]


def test_the_view_answers_as_the_direct_reads_and_follows_changes_without_listing_again() -> None:
    t0 = time.time_ns() - 30 * S
    clock = Clock(t0 + 30 * S)
    told: list[tuple[str, set[str] | None, set[str]]] = []

    async def scenario() -> None:
        with KubernetesEmulator("cto", "play-k", runs(t0), clock=clock) as emulator:
            client = api_client(emulator.configuration())
            kube = KubernetesTools(client, "cto", sleep=lambda _s: None)
            direct = [(run, kube.pods_of(run)) for run in kube.play_coderuns("play-k")]
            watches = ClusterWatches(client)

            async def heard(namespace: str, pods: set[str] | None, plays: set[str]) -> None:
                told.append((namespace, pods, plays))

            watches.bind(heard)
            try:
                before = len(emulator.requests)
                shared = await watches.play("cto", "play-k")
                assert shared == direct and len(shared) == 2 and all(pods for _run, pods in shared)
                assert [run.name for run, _ in await watches.play("cto", "play-other")] == [
                    "play-other-rex-t1"
                ]
                await until(lambda: _watching(emulator, 3))
                opened = len(emulator.requests) - before
                lists = [path for _method, path in emulator.requests[before:] if "watch=" not in path]
                assert len(lists) == 3, lists  # one list of CodeRuns, pods and events, for both sessions

                clock.now = t0 + 61 * S  # Rex's run fails
                rex_pod = emulator.pod_name(emulator.runs[0])
                await until(lambda: _phase_is(watches, "Failed"))
                assert len(emulator.requests) - before == opened  # seen on the watch, not listed
                assert ("cto", {rex_pod}, {"play-k"}) in told  # the engine hears whose it is
                assert watches.plays_of("cto", {rex_pod, "not-a-pod"}) == {"play-k"}
            finally:
                watches.close()

    asyncio.run(scenario())


async def _watching(emulator: KubernetesEmulator, count: int) -> bool:
    return emulator.watches >= count


async def _phase_is(watches: ClusterWatches, phase: str) -> bool:
    [(run, _pods), *_] = await watches.play("cto", "play-k")
    return run.phase == phase


def test_a_watch_answered_410_gone_lists_again() -> None:
    t0 = time.time_ns() - 30 * S
    clock = Clock(t0 + 30 * S)

    async def scenario() -> None:
        with KubernetesEmulator("cto", "play-k", runs(t0), clock=clock) as emulator:
            watches = ClusterWatches(api_client(emulator.configuration()), timeout_s=1)
            try:
                await watches.play("cto", "play-k")
                [watch] = watches._watches.values()
                await until(lambda: _lists_at_least(watches, 3))
                assert watch.lists == 3  # CodeRuns, pods, events
                emulator.compacted_before = 10**18  # every version the watch holds is too old now
                await until(lambda: _lists_at_least(watches, 6), seconds=10)
                emulator.compacted_before = 0
                clock.now = t0 + 61 * S
                await until(lambda: _phase_is(watches, "Failed"), seconds=10)  # and it watches again
            finally:
                watches.close()

    asyncio.run(scenario())


def test_a_pod_that_is_not_well_carries_its_newest_warnings_and_they_wake_its_session() -> None:
    """The events watch keeps the Warning events about pods (not the Normal ones); a crash-looping pod
    carries its BackOff in the view, its state rule says it, and a new warning is told to the engine."""
    t0 = time.time_ns() - 30 * S
    clock = Clock(t0 + 30 * S)
    told: list[tuple[str, set[str] | None, set[str]]] = []
    looping = EmulatedRun(
        "play-k-rex-t1", "5DLabs-Rex", 1, [(t0, "Running")], waiting_reason="CrashLoopBackOff", restarts=4
    )
    well = EmulatedRun("play-k-blaze-t2", "5DLabs-Blaze", 2, [(t0, "Running")])

    async def scenario() -> None:
        with KubernetesEmulator("cto", "play-k", [looping, well], clock=clock) as emulator:
            watches = ClusterWatches(api_client(emulator.configuration()))

            async def heard(namespace: str, pods: set[str] | None, plays: set[str]) -> None:
                told.append((namespace, pods, plays))

            watches.bind(heard)
            try:
                await watches.play("cto", "play-k")
                [watch] = watches._watches.values()
                await until(lambda: _lists_at_least(watches, 3))
                assert {event.type for event in watch.warnings.values()} == {"Warning"}
                view = {pod.name: pod for _run, pods in await watches.play("cto", "play-k") for pod in pods}
                sick, fine = emulator.pod_name(looping), emulator.pod_name(well)
                assert [(w.reason, w.count) for w in view[sick].warnings] == [("BackOff", 4)]
                assert view[fine].warnings == []

                coderuns = [
                    {"name": run.name, "pods": [pod.model_dump(mode="json") for pod in pods]}
                    for run, pods in await watches.play("cto", "play-k")
                ]
                [finding] = state_findings("play-k", coderuns, clock.now)
                assert finding.code == "A7"
                assert "; Kubernetes: BackOff (×4): Back-off restarting failed container" in finding.detail

                told.clear()
                looping.restarts, clock.now = 5, clock.now + 10 * S  # the kubelet backs off once more
                await until(lambda: _told_about(told, sick))
            finally:
                watches.close()

    asyncio.run(scenario())


async def _told_about(told: list[tuple[str, set[str] | None, set[str]]], pod: str) -> bool:
    return any(pods and pod in pods and "play-k" in plays for _ns, pods, plays in told)


async def _lists_at_least(watches: ClusterWatches, count: int) -> bool:
    return all(watch.lists >= count for watch in watches._watches.values())


def test_a_namespace_that_cannot_be_listed_is_reported_not_answered_empty() -> None:
    configuration = kubernetes_client.Configuration(host="http://127.0.0.1:9")  # nothing listens there
    watches = ClusterWatches(api_client(configuration), ready_within_s=1.0, retry_s=0.2)

    async def scenario() -> None:
        try:
            with pytest.raises(KubeUnavailable, match="namespace cto: not listed yet"):
                await watches.play("cto", "play-k")
        finally:
            watches.close()

    asyncio.run(scenario())
