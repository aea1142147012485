"""The emulators cassettes are recorded against, driven through Healer's own clients: the Kubernetes API
(CodeRuns, pods, events, logs of a play following a virtual clock) and a Discord webhook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import vcr

from tests.emulators.discord import DiscordEmulator
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tools.alerts import Alert, Delivery
from tools.discord import DiscordConfig, DiscordError, DiscordNotifier, embed
from tools.kubernetes import KubeError, KubeNotFound, KubernetesTools, api_client

S = 10**9
T0 = int(datetime(2026, 11, 20, 14, 2, 5, tzinfo=UTC).timestamp()) * S
REX_LOG = "cloning 5dlabs/cto-parallel-test\nrunning cargo test\n2026-11-20T14:02:30.5Z all 12 tests passed\n"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def runs() -> list[EmulatedRun]:
    return [
        EmulatedRun(
            "play-42-rex-t1",
            "5DLabs-Rex",
            1,
            [(T0, "Pending"), (T0 + 5 * S, "Running"), (T0 + 600 * S, "Succeeded")],
            log=REX_LOG,
        ),
        EmulatedRun(
            "play-42-blaze-t2",
            "5DLabs-Blaze",
            2,
            [(T0, "Running"), (T0 + 900 * S, "Failed")],
            restarts=5,
            waiting_reason="CrashLoopBackOff",
            exit_code=1,
            log="panicked at src/main.rs\n",
        ),
        # A2, a silent failure: the pod failed, its CodeRun still says Running
        EmulatedRun(
            "play-42-cleo-t3", "5DLabs-Cleo", 3, [(T0 + 120 * S, "Running")], pod_phase="Failed", exit_code=2
        ),
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def emulator(clock: Clock) -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator("cto", "play-42", runs(), clock=clock) as emulated:
        yield emulated


def tools(emulator: KubernetesEmulator) -> KubernetesTools:
    return KubernetesTools(api_client(emulator.configuration()), "cto", sleep=lambda _seconds: None)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_coderuns_and_pods_follow_the_virtual_clock(emulator: KubernetesEmulator, clock: Clock) -> None:
    kube = tools(emulator)
    rex, blaze = kube.play_coderuns("play-42")  # Cleo's CodeRun is not created yet
    assert (rex.name, rex.phase, rex.job_name, rex.github_app, rex.task_id) == (
        "play-42-rex-t1",
        "Pending",
        None,
        "5DLabs-Rex",
        1,
    )
    assert rex.labels == {"workflow-name": "play-42", "task-id": "1", "github-app": "5DLabs-Rex"}
    assert kube.pods_of(rex) == [] and not blaze.terminal and blaze.job_name == "play-42-blaze-t2"

    clock.now = T0 + 60 * S
    by_run = kube.play_pods("play-42")
    assert list(by_run) == ["play-42-rex-t1", "play-42-blaze-t2"]
    [pod] = by_run["play-42-rex-t1"]
    assert (pod.phase, pod.job_name, pod.labels["agent"], pod.conditions["Ready"]) == (
        "Running",
        "play-42-rex-t1",
        "5DLabs-Rex",
        True,
    )
    assert pod.name.startswith("play-42-rex-t1-") and pod.containers[0].state == "running"
    assert pod.started_at == datetime(2026, 11, 20, 14, 2, 10, tzinfo=UTC)

    clock.now = T0 + 601 * S
    states = {run.name: run for run in kube.play_coderuns("play-42")}
    assert (states["play-42-rex-t1"].phase, states["play-42-rex-t1"].terminal) == ("Succeeded", True)
    assert states["play-42-rex-t1"].work_completed and not states["play-42-blaze-t2"].terminal
    [done] = kube.pods_of(states["play-42-rex-t1"])
    assert (
        done.phase,
        done.containers[0].state,
        done.containers[0].exit_code,
        done.containers[0].reason,
    ) == ("Succeeded", "terminated", 0, "Completed")
    [cleo] = kube.pods_of(states["play-42-cleo-t3"])
    assert states["play-42-cleo-t3"].phase == "Running" and not states["play-42-cleo-t3"].terminal
    assert (cleo.phase, cleo.containers[0].exit_code, cleo.conditions["Ready"]) == ("Failed", 2, False)

    clock.now = T0 + 901 * S
    blaze = next(run for run in kube.play_coderuns("play-42") if run.name == "play-42-blaze-t2")
    assert (blaze.phase, blaze.terminal) == ("Failed", True)
    [failed] = kube.pods_of(blaze)
    assert (failed.phase, failed.containers[0].state, failed.containers[0].exit_code) == (
        "Failed",
        "terminated",
        1,
    )
    assert kube.play_coderuns("play-7") == []


def test_crashloopbackoff_shows_in_the_pod_and_its_events(emulator: KubernetesEmulator, clock: Clock) -> None:
    kube, clock.now = tools(emulator), T0 + 60 * S
    name = emulator.pod_name(emulator.runs[1])
    pod = kube.pod(name)
    [container] = pod.containers
    assert (container.state, container.reason, container.restart_count) == ("waiting", "CrashLoopBackOff", 5)
    assert (container.last_reason, container.last_exit_code, container.ready) == ("Error", 1, False)
    assert container.message and container.message.startswith("back-off 2m40s restarting failed container=")
    events = kube.pod_events(name)
    assert [(e.type, e.reason, e.count) for e in events] == [
        ("Normal", "Scheduled", 1),
        ("Normal", "Started", 6),
        ("Warning", "BackOff", 5),
    ]
    assert all(e.object_kind == "Pod" and e.object_name == name for e in events)
    assert events[2].component == "kubelet" and events[2].last_seen == datetime(
        2026, 11, 20, 14, 3, 5, tzinfo=UTC
    )
    rex = emulator.pod_name(emulator.runs[0])
    assert [e.reason for e in kube.pod_events(rex)] == ["Scheduled", "Started"]
    assert kube.pod_events("play-42-gone-x1") == []


def test_pod_logs(emulator: KubernetesEmulator, clock: Clock) -> None:
    kube, clock.now = tools(emulator), T0 + 60 * S
    rex = emulator.pod_name(emulator.runs[0])
    assert kube.pod_logs(rex).splitlines() == [
        "2026-11-20T14:02:10.001000000Z cloning 5dlabs/cto-parallel-test",
        "2026-11-20T14:02:10.002000000Z running cargo test",
        "2026-11-20T14:02:30.5Z all 12 tests passed",
    ]
    assert kube.pod_logs(rex, tail_lines=1) == "2026-11-20T14:02:30.5Z all 12 tests passed\n"
    assert kube.pod_logs(rex, since_seconds=40).splitlines() == ["2026-11-20T14:02:30.5Z all 12 tests passed"]
    with pytest.raises(
        KubeError, match=r'previous terminated container ".*" in pod "play-42-rex-t1-.*" not found'
    ):
        kube.pod_logs(rex, previous=True)
    blaze = emulator.pod_name(emulator.runs[1])
    assert kube.pod_logs(blaze, previous=True).endswith("Z panicked at src/main.rs\n")


def test_a_missing_pod_is_a_404_status(emulator: KubernetesEmulator) -> None:
    with pytest.raises(KubeNotFound, match='pods "play-42-gone-x1" not found'):
        tools(emulator).pod("play-42-gone-x1")
    status, content_type, body = get(f"{emulator.url}/api/v1/namespaces/cto/pods/play-42-gone-x1")
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "play-42-gone-x1" not found',
        "reason": "NotFound",
        "details": {"name": "play-42-gone-x1", "kind": "pods"},
        "code": 404,
    }
    assert get(f"{emulator.url}/api/v1/namespaces/cto/configmaps")[0] == 404


def test_routes_and_selectors(emulator: KubernetesEmulator, clock: Clock) -> None:
    clock.now = T0 + 601 * S
    kube = tools(emulator)
    kube.play_pods("play-42")
    pod = emulator.pod_name(emulator.runs[0])
    kube.pod_events(pod)
    kube.pod_logs(pod, tail_lines=5)
    assert [path.split("?")[0].rsplit("/", 2)[-2:] for _, path in emulator.requests] == [
        ["cto", "coderuns"],
        ["cto", "pods"],
        ["cto", "pods"],
        ["cto", "pods"],
        ["cto", "events"],
        [pod, "log"],
    ]
    assert emulator.requests[-1] == (
        "GET",
        f"/api/v1/namespaces/cto/pods/{pod}/log?tailLines=5&timestamps=true",
    )

    def names(path: str) -> list[str]:
        status, _, body = get(f"{emulator.url}{path}")
        assert status == 200, body
        return [item["metadata"]["name"] for item in json.loads(body)["items"]]

    coderuns, pods = "/apis/agents.platform/v1/namespaces/cto/coderuns", "/api/v1/namespaces/cto/pods"
    assert names(f"{coderuns}?labelSelector=github-app%3D5DLabs-Cleo,task-id%3D3") == ["play-42-cleo-t3"]
    assert names(f"{coderuns}?labelSelector=github-app!%3D5DLabs-Cleo") == [
        "play-42-rex-t1",
        "play-42-blaze-t2",
    ]
    assert len(names(f"{pods}?labelSelector=agent")) == 3 and names(f"{pods}?labelSelector=!agent") == []
    assert len(names(f"{pods}?fieldSelector=status.phase%3DFailed")) == 1
    assert (
        names("/api/v1/namespaces/other/pods") == []
        and names(f"{coderuns}?labelSelector=workflow-name%3Dplay-7") == []
    )
    assert get(f"{emulator.url}{pods}?fieldSelector=spec.image%3Dx")[0] == 400
    assert get(f"{emulator.url}{pods}?labelSelector=a%3D%3D%3D")[0] == 400


def test_same_inputs_give_byte_identical_bodies(clock: Clock) -> None:
    clock.now = T0 + 601 * S
    paths = [
        "/apis/agents.platform/v1/namespaces/cto/coderuns?labelSelector=workflow-name%3Dplay-42",
        "/api/v1/namespaces/cto/pods",
        "/api/v1/namespaces/cto/events",
        "/api/v1/namespaces/cto/pods/nope",
    ]
    bodies = []
    for _ in range(2):
        with KubernetesEmulator("cto", "play-42", runs(), clock=clock) as emulator:
            pod = emulator.pod_name(emulator.runs[1])
            bodies.append(
                [
                    get(emulator.url + path)[2]
                    for path in [*paths, f"/api/v1/namespaces/cto/pods/{pod}/log?timestamps=true"]
                ]
            )
    assert bodies[0] == bodies[1] and all(bodies[0])


def test_a_cassette_recorded_against_the_emulator_replays_without_it(tmp_path: Path, clock: Clock) -> None:
    clock.now = T0 + 60 * S
    recorder = vcr.VCR(
        cassette_library_dir=str(tmp_path), match_on=("method", "host", "port", "path", "query")
    )
    with KubernetesEmulator("cto", "play-42", runs(), clock=clock) as emulator:
        configuration = emulator.configuration()
        with recorder.use_cassette("play.yaml", record_mode="all"):
            recorded = tools(emulator).play_pods("play-42")
    with recorder.use_cassette("play.yaml", record_mode="none"):
        replayed = KubernetesTools(api_client(configuration), "cto").play_pods("play-42")
    assert replayed == recorded and (tmp_path / "play.yaml").exists()


ALERT = Alert(
    code="A7",
    severity="critical",
    priority="P0",
    play_id="play-42",
    agent="blaze",
    summary="pod play-42-blaze-t2 in CrashLoopBackOff",
    issue_url="https://github.com/5dlabs/cto/issues/7",
)


@pytest.mark.anyio
async def test_discord_receives_the_embed() -> None:
    with DiscordEmulator() as discord:
        async with DiscordNotifier(DiscordConfig(webhook_url=discord.url)) as notifier:
            assert await notifier.send(ALERT) is Delivery.SENT
        [message] = discord.messages
    assert message["embeds"] == [embed(ALERT)] and message["username"] == "Healer"
    assert discord.requests == [("POST", "/api/webhooks/123456789012345678/emulated-token?wait=true")]


@pytest.mark.anyio
async def test_discord_answers_as_discord_does() -> None:
    payload = {"username": "Healer", "embeds": [embed(ALERT)]}
    answers = []
    for _ in range(2):
        with DiscordEmulator() as discord:
            async with httpx.AsyncClient() as http:
                answers.append((await http.post(discord.url, params={"wait": "true"}, json=payload)).content)
                quiet = await http.post(discord.url, json=payload)
                assert (quiet.status_code, quiet.content) == (204, b"")
                empty = await http.post(discord.url, json={"content": ""})
                assert (empty.status_code, empty.json()["code"]) == (400, 50006)
                long = await http.post(discord.url, json={"embeds": [{"title": "x" * 257}]})
                assert (
                    long.json()["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"]
                    == "BASE_TYPE_MAX_LENGTH"
                )
            wrong = DiscordConfig(webhook_url=discord.url.replace("emulated-token", "other"), max_retries=0)
            async with DiscordNotifier(wrong) as notifier:
                with pytest.raises(DiscordError, match="Invalid Webhook Token") as raised:
                    await notifier.send(ALERT)
            assert raised.value.status == 401 and len(discord.messages) == 2
    assert answers[0] == answers[1]
    message = json.loads(answers[0])
    assert (
        message["webhook_id"] == message["author"]["id"] == "123456789012345678" and message["author"]["bot"]
    )
    assert message["embeds"][0]["type"] == "rich" and message["embeds"][0]["title"] == "HEAL Alert: A7"
    assert message["timestamp"] == "2026-11-20T14:30:00.000000+00:00" and int(message["id"]) >> 22 > 0
