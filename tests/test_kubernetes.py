"""tools/kubernetes.py through the official client, replaying cassettes built from the reference objects."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from tests import kube_cassettes
from tests.http_harness import CASSETTES, cassette
from tools.kubernetes import (
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubernetesTools,
    KubeUnavailable,
    api_client,
    label_selector,
)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def tools(sleeps: Sleeps | None = None) -> KubernetesTools:
    configuration = k8s.Configuration(
        host=kube_cassettes.HOST,
        api_key={"BearerToken": "test-token"},
        api_key_prefix={"BearerToken": "Bearer"},
    )
    return KubernetesTools(
        api_client(configuration), "cto", backoff_s=0.01, sleep=sleeps if sleeps is not None else Sleeps()
    )


def test_cassettes_are_exactly_what_the_references_give() -> None:
    for name, text in kube_cassettes.rendered().items():
        assert (CASSETTES / "kubernetes" / f"{name}.yaml").read_text() == text, name


def test_a_play_is_its_coderuns_and_their_pods() -> None:
    with cassette("kubernetes/play"):
        by_run = tools().play_pods("play-42")
    assert list(by_run) == ["coderun-rex-t1-play-42", "coderun-blaze-t2-play-42", "coderun-cleo-t1-play-42"]
    [rex] = by_run["coderun-rex-t1-play-42"]
    assert rex.phase == "Running" and rex.job_name == "coderun-rex-t1-play-42"
    [container] = rex.containers
    assert (container.state, container.reason, container.restart_count) == ("waiting", "CrashLoopBackOff", 5)
    assert (container.last_reason, container.last_exit_code, container.ready) == ("Error", 1, False)
    [blaze] = by_run["coderun-blaze-t2-play-42"]
    assert blaze.containers[0].last_reason == "OOMKilled" and blaze.containers[0].state == "running"
    [cleo] = by_run["coderun-cleo-t1-play-42"]
    assert cleo.phase == "Failed" and cleo.containers[0].exit_code == 2
    assert "tool inventory mismatch" in (cleo.containers[0].message or "")


def test_coderuns_carry_what_the_state_rules_need_and_healers_own_are_left_out() -> None:
    with cassette("kubernetes/play"):
        runs = tools().play_coderuns("play-42")
    assert [(r.github_app, r.task_id, r.phase, r.terminal) for r in runs] == [
        ("5DLabs-Rex", 1, "Running", False),
        ("5DLabs-Blaze", 2, "Running", False),
        ("5DLabs-Cleo", 1, "Failed", True),
    ]
    assert runs[0].labels["workflow-name"] == "play-42" and runs[0].created_at is not None


def test_pod_events_and_logs() -> None:
    kube = tools()
    with cassette("kubernetes/pod_events_and_logs"):
        pod = kube.pod("coderun-rex-t1-play-42-x7k2p")
        events = kube.pod_events("coderun-rex-t1-play-42-x7k2p")
        log = kube.pod_logs("coderun-rex-t1-play-42-x7k2p", tail_lines=100)
    assert pod.conditions["Ready"] is False and pod.containers[0].reason == "CrashLoopBackOff"
    assert [e.reason for e in events] == ["Scheduled", "Pulled", "Created", "Started", "BackOff"]
    backoff = events[-1]
    assert backoff.type == "Warning" and backoff.count == 23 and backoff.component == "kubelet"
    assert log.splitlines()[2].startswith(
        "2026-11-20T14:02:10.119340021Z \u26a0\ufe0f tool inventory mismatch"
    )


def test_forbidden_and_not_found_are_clear() -> None:
    kube = tools()
    with cassette("kubernetes/errors"):
        with pytest.raises(KubeForbidden, match=r'cannot list resource "coderuns".*RBAC'):
            kube.play_coderuns("play-42")
        with pytest.raises(KubeNotFound, match='pods "coderun-rex-t1-play-42-gone1" not found'):
            kube.pod("coderun-rex-t1-play-42-gone1")


def test_429_and_5xx_are_retried_honouring_retry_after() -> None:
    sleeps = Sleeps()
    with cassette("kubernetes/retries"):
        pod = tools(sleeps).pod("coderun-rex-t1-play-42-x7k2p")
    assert pod.name == "coderun-rex-t1-play-42-x7k2p"
    assert sleeps == [2.0, 0.02]


def test_an_unreachable_api_server() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = k8s.Configuration(host=f"http://127.0.0.1:{port}")
    kube = KubernetesTools(api_client(configuration), "cto", max_retries=1, sleep=Sleeps())
    with pytest.raises(KubeUnavailable, match="unreachable"):
        kube.pod("x")


def test_label_selector_refuses_what_is_not_a_label_value() -> None:
    assert label_selector({"workflow-name": "play-42"}) == "workflow-name=play-42"
    with pytest.raises(ValueError, match="not a valid Kubernetes label value"):
        label_selector({"workflow-name": "play-42,app!=x"})


def test_kubeconfig_is_loaded_with_transport_retries_off(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tools.kubernetes import api_client_from_environment

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: play\n"
        "clusters: [{name: c, cluster: {server: 'https://kube.test:6443'}}]\n"
        "users: [{name: u, user: {token: test-token}}]\n"
        "contexts: [{name: play, context: {cluster: c, user: u, namespace: cto}}]\n"
    )
    client = api_client_from_environment(str(kubeconfig))
    assert client.configuration.host == "https://kube.test:6443"
    assert client.configuration.retries is False
    assert client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer test-token"


def test_a_slow_api_server_times_out_and_a_garbled_answer_is_an_error() -> None:
    from tests.http_harness import Reply, ScriptedServer

    with ScriptedServer([Reply(200, {"kind": "Pod"}, delay_s=1.0)]) as server:
        kube = KubernetesTools(
            api_client(k8s.Configuration(host=server.url)),
            "cto",
            max_retries=1,
            timeout_s=0.2,
            sleep=Sleeps(),
        )
        with pytest.raises(KubeUnavailable, match="unreachable"):
            kube.pod("x")
    assert len(server.seen) == 2
    with ScriptedServer([Reply(200, "<html>proxy login</html>", {"Content-Type": "text/html"})]) as server:
        kube = KubernetesTools(api_client(k8s.Configuration(host=server.url)), "cto", sleep=Sleeps())
        with pytest.raises(KubeError, match="not JSON"):
            kube.pod("x")
