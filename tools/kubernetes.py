"""A play's CodeRuns, pods, events and pod logs, read through the official `kubernetes` client.

Healer only reads the cluster. Responses are read as JSON into the small typed models below (what the state
rules of DESIGN §4.4 need), so a field the generated models do not know, or a CodeRun field added by a newer
controller, never breaks a read. `ApiException`s become errors a caller can act on: `KubeNotFound`,
`KubeForbidden`, `KubeUnavailable` (after retries of 429/5xx and connection failures).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, Field
from urllib3.exceptions import HTTPError as Urllib3Error

from tools.calls import timed
from tools.redact import redact
from tools.retrying import GaveUp, call_with_retries, retry_after_s

CODERUN_GROUP, CODERUN_VERSION, CODERUN_PLURAL = "agents.platform", "v1", "coderuns"
EXCLUDE_LABEL = "healer.platform/exclude"
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
_RETRY_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
_EPOCH = datetime.fromtimestamp(0, tz=UTC)
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Completed", "Cancelled"})


class KubeError(Exception):
    """Base of the errors this module raises."""


class KubeNotFound(KubeError):
    pass


class KubeForbidden(KubeError):
    pass


class KubeUnavailable(KubeError):
    pass


class KubeGone(KubeError):
    """A watch asked for a resourceVersion the API server no longer has (410 Gone): list again."""


Watched = Literal["coderuns", "pods", "events"]
WARNINGS_KEPT = 5  # per pod


class ContainerState(BaseModel):
    name: str
    ready: bool = False
    restart_count: int = 0
    state: Literal["running", "waiting", "terminated", "unknown"] = "unknown"
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    last_reason: str | None = None  # why the previous instance ended (OOMKilled, Error, …)
    last_exit_code: int | None = None


class PodEvent(BaseModel):
    name: str = ""  # the Event object's own name
    type: str
    reason: str
    message: str
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    object_kind: str
    object_name: str
    component: str | None = None


class PodState(BaseModel):
    name: str
    namespace: str
    phase: str
    labels: dict[str, str] = Field(default_factory=dict)
    job_name: str | None = None
    node: str | None = None
    started_at: datetime | None = None
    conditions: dict[str, bool] = Field(default_factory=dict)
    containers: list[ContainerState] = Field(default_factory=list)
    # the newest Warning events about the pod (FailedScheduling, BackOff, Evicted, …), oldest first
    warnings: list[PodEvent] = Field(default_factory=list)

    @property
    def excluded(self) -> bool:
        return self.labels.get(EXCLUDE_LABEL) == "true"

    @property
    def healthy(self) -> bool:
        """Running with every container running (its events then tell nothing a rule needs), or done."""
        running = self.phase == "Running" and all(c.state == "running" for c in self.containers)
        return running or self.phase == "Succeeded"


class CodeRunState(BaseModel):
    name: str
    namespace: str
    labels: dict[str, str] = Field(default_factory=dict)
    run_type: str | None = None
    task_id: int | None = None
    github_app: str | None = None
    service: str | None = None
    phase: str | None = None
    message: str | None = None
    job_name: str | None = None
    pod_name: str | None = None
    work_completed: bool | None = None
    created_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def excluded(self) -> bool:
        return self.labels.get(EXCLUDE_LABEL) == "true" or self.run_type == "remediate"


def label_selector(labels: dict[str, str]) -> str:
    """An equality label selector; values are checked against Kubernetes' label syntax, never interpolated
    into anything looser."""
    for value in labels.values():
        if not _LABEL_VALUE.match(value):
            raise ValueError(f"not a valid Kubernetes label value: {value!r}")
    return ",".join(f"{name}={value}" for name, value in labels.items())


def api_client_from_environment(
    kubeconfig: str | None = None, context: str | None = None, *, connections: int | None = None
) -> k8s.ApiClient:
    """In a pod, the service account; elsewhere the kubeconfig (`KUBECONFIG` or `~/.kube/config`).
    `connections`: how many it keeps open (urllib3's pool; more are opened when asked, and closed after)."""
    configuration = k8s.Configuration()
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    if os.environ.get("KUBERNETES_SERVICE_HOST") and kubeconfig is None:
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    return api_client(configuration)


def api_client(configuration: k8s.Configuration) -> k8s.ApiClient:
    """An ApiClient whose transport does not retry on its own: `KubernetesTools` retries, with backoff and
    `Retry-After`, so that one policy (and one clock, for tests) governs every call."""
    configuration.retries = False
    return k8s.ApiClient(configuration)


class KubernetesTools:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        *,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.namespace, self.api_client = namespace, api_client
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)
        self._max_retries, self._backoff_s, self._timeout_s, self._sleep = (
            max_retries,
            backoff_s,
            timeout_s,
            sleep,
        )

    def play_coderuns(self, play_id: str, *, play_label: str = "workflow-name") -> list[CodeRunState]:
        """The play's CodeRuns (label `workflow-name=<play>` unless configured), Healer's own left out."""
        return self._coderuns(label_selector=label_selector({play_label: play_id}))

    def pods_of(self, coderun: CodeRunState) -> list[PodState]:
        """The pods of a CodeRun's Job (newest first), Healer-excluded pods left out."""
        if coderun.pod_name:
            return [self.pod(coderun.pod_name)]
        job = coderun.job_name or coderun.name
        body = self._json(
            "list pods",
            self._core.list_namespaced_pod,
            self.namespace,
            label_selector=label_selector({"job-name": job}),
        )
        pods = [_pod(item) for item in body.get("items", [])]
        pods.sort(key=lambda p: p.started_at or _EPOCH, reverse=True)
        return [pod for pod in pods if not pod.excluded]

    def namespace_coderuns(self) -> list[CodeRunState]:
        """Every CodeRun of the namespace (one list for all its plays), Healer's own left out."""
        return self._coderuns()

    def _coderuns(self, **selectors: str) -> list[CodeRunState]:
        body = self._json(
            "list coderuns",
            self._custom.list_namespaced_custom_object,
            CODERUN_GROUP,
            CODERUN_VERSION,
            self.namespace,
            CODERUN_PLURAL,
            **selectors,
        )
        return [run for run in map(_coderun, body.get("items", [])) if not run.excluded]

    def namespace_pods(self) -> list[PodState]:
        """Every pod of the namespace (one list for all its plays), newest first, Healer's left out."""
        body = self._json("list pods", self._core.list_namespaced_pod, self.namespace)
        pods = [pod for pod in map(_pod, body.get("items", [])) if not pod.excluded]
        pods.sort(key=lambda p: p.started_at or _EPOCH, reverse=True)
        return pods

    def listed(self, what: Watched) -> tuple[list[CodeRunState] | list[PodState] | list[PodEvent], str]:
        """Every CodeRun, pod or pod event of the namespace (Healer's own too: a watch sees them all) and
        the list's resourceVersion, where a watch of the changes begins."""
        call, args, options, parse = self._lister(what)
        body = self._json(f"list {what}", call, *args, **options)
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        return [parse(item) for item in body.get("items", [])], version

    def watch(
        self, what: Watched, resource_version: str, timeout_s: float
    ) -> Iterator[tuple[str, CodeRunState | PodState | PodEvent | None, str]]:
        """The changes since `resource_version`, as `(ADDED | MODIFIED | DELETED, object, its
        resourceVersion)` (a BOOKMARK has no object), until the API server ends the watch after
        `timeout_s`. Raises `KubeGone` when the version is too old, and the errors of a list otherwise."""
        call, args, options, parse = self._lister(what)
        watch = k8s_watch.Watch(return_type="object")  # the objects as JSON, as the lists are read
        stream = watch.stream(
            call,
            *args,
            **options,
            resource_version=resource_version,
            timeout_seconds=max(1, int(timeout_s)),
            allow_watch_bookmarks=True,
            _request_timeout=(self._timeout_s, timeout_s + self._timeout_s),
        )
        try:
            for event in stream:
                item = event["raw_object"]
                version = str((item.get("metadata") or {}).get("resourceVersion") or resource_version)
                yield event["type"], None if event["type"] == "BOOKMARK" else parse(item), version
        except ApiException as error:
            if error.status == 410:
                raise KubeGone(f"watch {what}: {_status_message(error)}") from None
            raise _mapped(f"watch {what}", error) from None
        except Urllib3Error as error:
            raise KubeUnavailable(
                f"watch {what}: the API server is unreachable: {redact(str(error))}"
            ) from None
        finally:
            watch.stop()

    def _lister(
        self, what: Watched
    ) -> tuple[Callable[..., Any], tuple[str, ...], dict[str, str], Callable[..., Any]]:
        if what == "pods":
            return self._core.list_namespaced_pod, (self.namespace,), {}, _pod
        if what == "events":
            about_pods = {"field_selector": "involvedObject.kind=Pod"}
            return self._core.list_namespaced_event, (self.namespace,), about_pods, _event
        arguments = (CODERUN_GROUP, CODERUN_VERSION, self.namespace, CODERUN_PLURAL)
        return self._custom.list_namespaced_custom_object, arguments, {}, _coderun

    def play_pods(self, play_id: str, *, play_label: str = "workflow-name") -> dict[str, list[PodState]]:
        """Every CodeRun of the play with its pods."""
        return {run.name: self.pods_of(run) for run in self.play_coderuns(play_id, play_label=play_label)}

    def pod(self, name: str) -> PodState:
        return _pod(self._json(f"read pod {name}", self._core.read_namespaced_pod, name, self.namespace))

    def pod_events(self, name: str) -> list[PodEvent]:
        """Events about the pod, oldest first."""
        body = self._json(
            f"list events of pod {name}",
            self._core.list_namespaced_event,
            self.namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}",
        )
        events = [_event(item) for item in body.get("items", [])]
        return sorted(events, key=lambda e: (e.first_seen or e.last_seen or _EPOCH, e.reason))

    def pod_logs(
        self,
        name: str,
        *,
        container: str | None = None,
        since_seconds: int | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
    ) -> str:
        """The pod's log with RFC 3339 timestamps, the fallback when Loki has nothing for it."""
        response = self._call(
            f"read log of pod {name}",
            self._core.read_namespaced_pod_log,
            name,
            self.namespace,
            container=container,
            since_seconds=since_seconds,
            tail_lines=tail_lines,
            previous=previous or None,  # only sent when asked for, as kubectl does
            timestamps=True,
        )
        return response.data.decode("utf-8", "replace")

    def follow_pod_log(
        self, name: str, *, since_seconds: int = 1, read_timeout_s: float = 300.0
    ) -> Iterator[str]:
        """`kubectl logs -f --timestamps`: the pod's lines (RFC 3339 timestamp first) from `since_seconds`
        ago and then as they come, until its container ends, the connection drops or nothing came for
        `read_timeout_s`. Raises the errors of `pod_logs`, and `KubeUnavailable` when the stream breaks."""
        what = f"follow log of pod {name}"
        watch = k8s_watch.Watch()
        try:
            yield from watch.stream(
                self._core.read_namespaced_pod_log,
                name,
                self.namespace,
                since_seconds=max(1, since_seconds),
                timestamps=True,
                _request_timeout=(self._timeout_s, read_timeout_s),
            )
        except ApiException as error:
            raise _mapped(what, error) from None
        except Urllib3Error as error:
            raise KubeUnavailable(f"{what}: the stream broke: {redact(str(error))}") from None
        finally:
            watch.stop()

    def _json(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        with timed("kubernetes"):
            response = self._call(what, call, *args, **kwargs)
        try:
            body = json.loads(response.data)
        except ValueError:
            raise KubeError(f"{what}: the API server answered with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise KubeError(f"{what}: the API server answered with JSON that is not an object")
        return body

    def _call(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def transient(outcome: Any) -> bool:
            return isinstance(outcome, Urllib3Error) or (
                isinstance(outcome, ApiException) and outcome.status in _RETRY_STATUSES
            )

        def delay_s(attempt: int, outcome: Any) -> float:
            hint = _retry_after(outcome) if isinstance(outcome, ApiException) else None
            return hint or self._backoff_s * 2 ** (attempt - 1)

        try:
            # raw urllib3 response: read as JSON here rather than through the generated models
            return call_with_retries(
                lambda: call(*args, _preload_content=False, _request_timeout=self._timeout_s, **kwargs),
                max_retries=self._max_retries,
                transient=transient,
                delay_s=delay_s,
                sleep=self._sleep,
            )
        except GaveUp as gave_up:
            if isinstance(gave_up.error, ApiException):
                raise _mapped(what, gave_up.error) from None
            raise KubeUnavailable(
                f"{what}: the API server is unreachable: {redact(str(gave_up.error))}"
            ) from None
        except ApiException as error:
            raise _mapped(what, error) from None


def _mapped(what: str, error: ApiException) -> KubeError:
    message = _status_message(error)
    if error.status == 404:
        return KubeNotFound(f"{what}: {message}")
    if error.status in (401, 403):
        return KubeForbidden(
            f"{what}: {message} (check Healer's RBAC: it needs get/list on pods, events, coderuns)"
        )
    if error.status in _RETRY_STATUSES:
        return KubeUnavailable(f"{what}: the API server answered {error.status}: {message}")
    return KubeError(f"{what}: the API server answered {error.status}: {message}")


def _status_message(error: ApiException) -> str:
    """Kubernetes errors are `Status` objects; their `message` is what a person needs."""
    try:
        body = json.loads(error.body or "")
        if isinstance(body, dict) and body.get("message"):
            return redact(str(body["message"]))
    except (ValueError, TypeError):
        pass
    return redact(str(error.reason or error.status))


def _retry_after(error: ApiException) -> float | None:
    return retry_after_s(dict(error.headers or {}), cap=60.0)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _coderun(item: dict[str, Any]) -> CodeRunState:
    metadata, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status") or {}
    return CodeRunState(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        labels=metadata.get("labels") or {},
        run_type=spec.get("runType"),
        task_id=spec.get("taskId"),
        github_app=spec.get("githubApp"),
        service=spec.get("service"),
        phase=status.get("phase"),
        message=status.get("message"),
        job_name=status.get("jobName"),
        pod_name=status.get("podName"),
        work_completed=status.get("workCompleted"),
        created_at=_time(metadata.get("creationTimestamp")),
    )


def _container(status: dict[str, Any]) -> ContainerState:
    state_name, state = next(iter((status.get("state") or {"unknown": {}}).items()))
    last = next(iter((status.get("lastState") or {}).values()), {}) or {}
    return ContainerState(
        name=status.get("name", ""),
        ready=bool(status.get("ready")),
        restart_count=int(status.get("restartCount") or 0),
        state=state_name if state_name in ("running", "waiting", "terminated") else "unknown",
        reason=(state or {}).get("reason"),
        message=redact((state or {}).get("message") or "") or None,
        exit_code=(state or {}).get("exitCode"),
        last_reason=last.get("reason"),
        last_exit_code=last.get("exitCode"),
    )


def _pod(item: dict[str, Any]) -> PodState:
    metadata, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status") or {}
    labels = metadata.get("labels") or {}
    return PodState(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        phase=status.get("phase", "Unknown"),
        labels=labels,
        job_name=labels.get("job-name") or labels.get("batch.kubernetes.io/job-name"),
        node=spec.get("nodeName"),
        started_at=_time(status.get("startTime")),
        conditions={
            c["type"]: c.get("status") == "True" for c in status.get("conditions") or [] if "type" in c
        },
        containers=[_container(c) for c in status.get("containerStatuses") or []],
    )


def _event(item: dict[str, Any]) -> PodEvent:
    involved = item.get("involvedObject") or {}
    source = item.get("source") or {}
    return PodEvent(
        name=(item.get("metadata") or {}).get("name", ""),
        type=item.get("type", ""),
        reason=item.get("reason", ""),
        message=redact(item.get("message") or ""),
        count=int(item.get("count") or 1),
        first_seen=_time(item.get("firstTimestamp") or item.get("eventTime")),
        last_seen=_time(item.get("lastTimestamp") or item.get("eventTime")),
        object_kind=involved.get("kind", ""),
        object_name=involved.get("name", ""),
        component=item.get("reportingComponent") or source.get("component"),
    )
