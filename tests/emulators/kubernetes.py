"""A Kubernetes API server emulator, to record cassettes of play scenarios: CodeRuns, pods, events, logs.

Serves, on 127.0.0.1, the reads of `tools.kubernetes.KubernetesTools` over the objects of
../shared/reference/kubernetes, copied with the fields a scenario drives set. Each `EmulatedRun` is one
CodeRun and the one pod of its Job, and what they show follows `phases` at the virtual time `clock()`:

- before its first phase a run does not exist; its CodeRun is created at the first phase's time;
- its Job and pod appear with the first phase that is not `Pending` (`status.jobName` is set from then);
- the pod's phase is `pod_phase` if given, else the CodeRun's mapped onto pod phases; its one container is
  waiting (`waiting_reason`), running, or terminated (`exit_code`, else 0 on success and 1 on failure);
- its log is `log`, each line prefixed with an RFC 3339 timestamp when asked (unless it carries one).

Bodies depend only on the constructor's arguments and `clock()`, never on the port or the wall clock.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client as k8s

from tests.http_harness import Loopback

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "kubernetes"
TERMINAL = frozenset({"Succeeded", "Failed", "Completed", "Cancelled"})
_POD_PHASE = {"Pending": "Pending", "Succeeded": "Succeeded", "Completed": "Succeeded"}
_POD_PHASE.update(Failed="Failed", Cancelled="Failed")
_MESSAGE = {
    "Pending": "Waiting for the job to be created",
    "Running": "Code implementation in progress",
    "Succeeded": "Code implementation completed successfully",
    "Failed": "Code implementation failed",
}
_ROUTE = re.compile(
    r"/(?P<api>api/v1|apis/agents\.platform/v1)/namespaces/(?P<namespace>[^/]+)"
    r"/(?P<resource>pods|events|coderuns)(?:/(?P<name>[^/]+)(?P<log>/log)?)?"
)
_REQUIREMENT = re.compile(
    r"(?P<key>!?[A-Za-z0-9][A-Za-z0-9./_-]*)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*))?"
)
_FIELDS = {  # field selectors the API server supports for each resource (those a test may want)
    "coderuns": {"metadata.name", "metadata.namespace"},
    "pods": {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"},
    "events": {"metadata.name", "metadata.namespace", "reason", "type", "involvedObject.uid"}
    | {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace"},
}
_TIMESTAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")


@dataclass
class EmulatedRun:
    """One CodeRun and its one pod."""

    name: str
    agent: str
    task_id: int
    phases: list[tuple[int, str]]
    pod_phase: str | None = None
    restarts: int = 0
    waiting_reason: str | None = None
    exit_code: int | None = None
    log: str = ""
    play_id: str | None = None  # another play than the emulator's (many plays in one cluster)
    namespace: str | None = None  # another namespace than the emulator's


class Failure(Exception):
    """An API error, answered as the `Status` object the API server sends."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        head = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        self.status = {**head, "message": message, "reason": reason}
        self.status.update({"details": details} if details is not None else {}, code=code)


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()


def _uid(*parts: object) -> str:
    return str(uuid.UUID(_digest(*parts)[:32], version=4))


def _stamp(ns: int, nano: bool = False) -> str:
    second = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{second}.{ns % 10**9:09d}Z" if nano else f"{second}Z"


def _version(ns: int) -> str:
    return str(ns // 10**6)


def _json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"


def _container_name(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["name"])


def _terminated(exit_code: int, started: int, finished: int, container_id: str) -> dict[str, Any]:
    reason = "Completed" if exit_code == 0 else "OOMKilled" if exit_code == 137 else "Error"
    times = {"finishedAt": _stamp(finished), "reason": reason, "startedAt": _stamp(started)}
    return {"containerID": container_id, "exitCode": exit_code, **times}


def label_matcher(selector: str) -> Callable[[dict[str, str]], bool]:
    """Equality (`k=v`, `k==v`, `k!=v`) and existence (`k`, `!k`) requirements, ANDed."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for requirement in filter(None, (part.strip() for part in selector.split(","))):
        found = _REQUIREMENT.fullmatch(requirement)
        if not found or (found["key"].startswith("!") and found["op"]):
            raise Failure(400, "BadRequest", f"unable to parse requirement: {requirement!r}")
        key, value, equal = found["key"].lstrip("!"), found["value"], found["op"] != "!="
        if found["op"]:
            tests.append(lambda labels, k=key, v=value, eq=equal: (labels.get(k) == v) == eq)
        else:
            tests.append(lambda labels, k=key, has=found["key"] == key: (k in labels) == has)
    return lambda labels: all(test(labels) for test in tests)


def field_matcher(resource: str, selector: str) -> Callable[[dict[str, Any]], bool]:
    tests: list[tuple[list[str], str, bool]] = []
    for requirement in filter(None, (part.strip() for part in selector.split(","))):
        found = re.fullmatch(r"([A-Za-z.]+)(!=|==|=)(.*)", requirement)
        if not found or found[1] not in _FIELDS[resource]:
            raise Failure(
                400, "BadRequest", f"field label not supported: {found[1] if found else requirement}"
            )
        tests.append((found[1].split("."), found[3], found[2] != "!="))

    def value(item: Any, path: list[str]) -> str:
        for key in path:
            item = item.get(key) if isinstance(item, dict) else None
        return "" if item is None else str(item)

    return lambda item: all((value(item, path) == wanted) == equal for path, wanted, equal in tests)


class KubernetesEmulator(Loopback):
    def __init__(
        self, namespace: str, play_id: str, runs: list[EmulatedRun], *, clock: Callable[[], int]
    ) -> None:
        self.namespace, self.play_id, self.runs, self.clock = namespace, play_id, list(runs), clock
        self.requests: list[tuple[str, str]] = []
        self._coderun = json.loads((REFERENCE / "coderun-example.json").read_text())
        self._pod = json.loads((REFERENCE / "pod-crashloop.json").read_text())
        events = json.loads((REFERENCE / "eventlist.json").read_text())["items"]
        self._events = {event["reason"]: event for event in events}
        # the CodeRun and pod items of each run, made again only when what they show changes (a bench
        # asks for thousands of them a second)
        self._made: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        self.compacted_before = 0  # a watch from an older resourceVersion is answered 410 Gone
        # how often a watch looks again at what its clock says (each look lists its namespace): a bench
        # with thousands of runs looks less often, so that the emulator does not take the replicas' CPU
        self.watch_every_s = 0.05
        self.watches = 0  # watches served (each also one of `requests`)
        self._closing = threading.Event()
        self.url = self._bind(_handler(self))

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # the watches under way end
        super().__exit__(*exc)

    def configuration(self) -> k8s.Configuration:
        """For `tools.kubernetes.api_client`: this emulator, no credentials."""
        return k8s.Configuration(host=self.url)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig that points at this emulator (its namespace the current context's), for what
        builds its client from the environment (`healer serve`, `KUBECONFIG`)."""
        cluster = {"name": "emulator", "cluster": {"server": self.url}}
        user = {"name": "emulated", "user": {"token": "emulated"}}
        context = {
            "name": "emulator",
            "context": {"cluster": "emulator", "user": "emulated", "namespace": self.namespace},
        }
        document = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user]}
        path.write_text(json.dumps(document | {"contexts": [context], "current-context": "emulator"}))
        return path

    def namespace_of(self, run: EmulatedRun) -> str:
        return run.namespace or self.namespace

    def play_of(self, run: EmulatedRun) -> str:
        return run.play_id or self.play_id

    def pod_name(self, run: EmulatedRun) -> str:
        """`<job>-<5 characters>` from the Job controller's alphabet, drawn from the run's name."""
        alphabet, number = "bcdfghjklmnpqrstvwxz2456789", int(_digest("pod", run.name), 16)
        return f"{run.name}-" + "".join(alphabet[number // 27**i % 27] for i in range(5))

    def _life(self, run: EmulatedRun, now: int) -> tuple[list[tuple[int, str]], int | None, int]:
        """The phases reached by `now`, when the pod started (None: no pod yet) and when the run ended."""
        seen = [(t, phase) for t, phase in sorted(run.phases) if t <= now]
        started = next((t for t, phase in seen if phase != "Pending"), None)
        return seen, started, next((t for t, phase in seen if phase in TERMINAL), started or 0)

    def _memoized(
        self, kind: str, make: Callable[[EmulatedRun, int], dict[str, Any] | None], run: EmulatedRun, now: int
    ) -> dict[str, Any] | None:
        shown = (run.pod_phase, run.restarts, run.waiting_reason, run.exit_code, run.play_id, run.namespace)
        key = (kind, run.name, tuple(self._life(run, now)[0]), *shown)
        if key not in self._made:
            self._made[key] = make(run, now)
        return self._made[key]

    def coderun(self, run: EmulatedRun, now: int) -> dict[str, Any] | None:
        return self._memoized("coderun", self._make_coderun, run, now)

    def pod(self, run: EmulatedRun, now: int) -> dict[str, Any] | None:
        return self._memoized("pod", self._make_pod, run, now)

    def _make_coderun(self, run: EmulatedRun, now: int) -> dict[str, Any] | None:
        seen, started, _ = self._life(run, now)
        if not seen:
            return None
        namespace, play_id = self.namespace_of(run), self.play_of(run)
        (created, _), (changed, phase) = seen[0], seen[-1]
        item = copy.deepcopy(self._coderun)
        metadata, status = item["metadata"], item["status"]
        metadata.update(creationTimestamp=_stamp(created), name=run.name, namespace=namespace)
        metadata.update(resourceVersion=_version(changed), uid=_uid("coderun", run.name))
        labels = {"workflow-name": play_id, "task-id": str(run.task_id), "github-app": run.agent}
        metadata["labels"] = labels
        item["spec"].update(taskId=run.task_id, githubApp=run.agent, env={"PLAY_ID": play_id})
        status.update(phase=phase, message=_MESSAGE.get(phase, phase), lastUpdate=_stamp(changed))
        status.update(jobName=run.name, configmapName=f"{run.name}-files", workCompleted=phase == "Succeeded")
        if started is None:
            del status["jobName"]
        if phase in TERMINAL:
            status["finishedAt"] = _stamp(changed)
        return item

    def _make_pod(self, run: EmulatedRun, now: int) -> dict[str, Any] | None:
        seen, started, finished = self._life(run, now)
        if started is None:
            return None
        phase = run.pod_phase or _POD_PHASE.get(seen[-1][1], "Running")
        name, uid, job_uid = self.pod_name(run), _uid("pod", run.name), _uid("job", run.name)
        pod = copy.deepcopy(self._pod)
        metadata, spec, status = pod["metadata"], pod["spec"], pod["status"]
        metadata.update(creationTimestamp=_stamp(started), generateName=f"{run.name}-", name=name)
        metadata.update(namespace=self.namespace_of(run), resourceVersion=_version(seen[-1][0]), uid=uid)
        labels = {"batch.kubernetes.io/controller-uid": job_uid, "batch.kubernetes.io/job-name": run.name}
        labels.update({"controller-uid": job_uid, "job-name": run.name, "agent": run.agent})
        metadata["labels"].update({"github-user": run.agent.lower(), **labels})
        metadata["ownerReferences"][0].update(name=run.name, uid=job_uid)
        spec["containers"][0]["env"][0]["value"] = run.name
        spec["volumes"][0]["configMap"]["name"] = f"{run.name}-files"
        claim = spec["volumes"][1]["persistentVolumeClaim"]
        claim["claimName"] = f"workspace-cto-parallel-test-{run.agent.lower()}"
        container = self._container(run, phase, started, finished, name, uid)
        ended, ready = phase in ("Succeeded", "Failed"), container["ready"]
        unready = {
            "reason": {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase, "ContainersNotReady"),
            "message": f"containers with unready status: [{container['name']}]",
        }
        conditions = {"PodReadyToStartContainers": phase != "Pending", "Initialized": True, "Ready": ready}
        conditions.update(ContainersReady=ready, PodScheduled=True)
        at = {
            False: _stamp(started),
            True: _stamp(finished if ended else started),
        }  # readiness ends with the run
        status["conditions"] = [
            {"lastProbeTime": None, "lastTransitionTime": at[kind.endswith("Ready")], "status": str(value)}
            | {"type": kind}
            | (unready if kind.endswith("Ready") and not value else {})
            for kind, value in conditions.items()
        ]
        address = int(_digest("ip", run.name)[:4], 16)
        pod_ip = f"10.244.{address % 4}.{address // 4 % 250 + 2}"
        status.update(containerStatuses=[container], phase=phase, podIP=pod_ip, startTime=_stamp(started))
        status["podIPs"] = [{"ip": pod_ip}]
        return pod

    def _container(
        self, run: EmulatedRun, phase: str, started: int, finished: int, pod: str, uid: str
    ) -> dict[str, Any]:
        status: dict[str, Any] = copy.deepcopy(self._pod["status"]["containerStatuses"][0])
        container_id = f"containerd://{_digest(pod, run.restarts)}"
        status.update(containerID=container_id, lastState={}, ready=False, started=False)
        status["restartCount"] = run.restarts
        if run.restarts:
            previous = f"containerd://{_digest(pod, run.restarts - 1)}"
            status["lastState"] = {"terminated": _terminated(run.exit_code or 1, started, started, previous)}
        if phase == "Pending":
            del status["containerID"]
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif phase in ("Succeeded", "Failed"):
            code = run.exit_code if run.exit_code is not None else int(phase == "Failed")
            status["state"] = {"terminated": _terminated(code, started, finished, container_id)}
        elif run.waiting_reason == "CrashLoopBackOff":
            delay = min(10 * 2 ** max(run.restarts - 1, 0), 300)  # the kubelet's back-off, as Go prints it
            wait = f"{delay // 60}m{delay % 60}s" if delay >= 60 else f"{delay}s"
            target = f"container={status['name']} pod={pod}_{self.namespace_of(run)}({uid})"
            message = f"back-off {wait} restarting failed {target}"
            status["state"] = {"waiting": {"message": message, "reason": run.waiting_reason}}
        elif run.waiting_reason:
            status["state"] = {"waiting": {"reason": run.waiting_reason}}
        else:
            status.update(ready=True, started=True, state={"running": {"startedAt": _stamp(started)}})
        return status

    def events(self, run: EmulatedRun, now: int) -> list[dict[str, Any]]:
        """`Scheduled`, `Started` (counting restarts) and, while crash-looping, `BackOff`; made again only
        when they change (a watch of thousands of pods looks at them every tick)."""
        if run.restarts or run.waiting_reason == "CrashLoopBackOff":
            return self._make_events(run, now)  # their last sighting is now: made each time
        shown = (run.pod_phase, run.restarts, run.waiting_reason, run.exit_code, run.play_id, run.namespace)
        key = ("events", run.name, tuple(self._life(run, now)[0]), *shown)
        if key not in self._made:
            self._made[key] = self._make_events(run, now)  # type: ignore[assignment]
        return self._made[key]  # type: ignore[return-value]

    def _make_events(self, run: EmulatedRun, now: int) -> list[dict[str, Any]]:
        _, started, finished = self._life(run, now)
        pod = self.pod(run, now)
        if pod is None or started is None:
            return []
        metadata, node, container = pod["metadata"], pod["spec"]["nodeName"], _container_name(pod)
        name, namespace = metadata["name"], self.namespace_of(run)
        last = finished if pod["status"]["phase"] in ("Succeeded", "Failed") else max(started, now)
        wanted = [
            ("Scheduled", 1, started, f"Successfully assigned {namespace}/{name} to {node}"),
            # seen again at each restart: a container that never restarted was last started when it began
            (
                "Started",
                run.restarts + 1,
                last if run.restarts else started,
                f"Started container {container}",
            ),
        ]  # first seen 0, 1 and 2 s after the pod started, as far as `now` allows
        if run.waiting_reason == "CrashLoopBackOff":
            target = f"{container} in pod {name}_{namespace}({metadata['uid']})"
            wanted.append(
                ("BackOff", max(run.restarts, 1), last, f"Back-off restarting failed container {target}")
            )
        events = []
        for offset, (reason, count, seen_last, message) in enumerate(wanted):
            first = min(started + offset * 10**9, seen_last)
            event, key = copy.deepcopy(self._events[reason]), f"{name}.{_digest(name, reason)[:16]}"
            event.update(count=count, firstTimestamp=_stamp(first), lastTimestamp=_stamp(seen_last))
            event["message"], involved = message, event["involvedObject"]
            involved.update(name=name, uid=metadata["uid"], namespace=namespace)
            involved["resourceVersion"] = metadata["resourceVersion"]
            event["metadata"].update(creationTimestamp=_stamp(first), name=key, namespace=namespace)
            event["metadata"].update(resourceVersion=_version(seen_last), uid=_uid("event", key))
            events.append(event)
        return events

    def log(self, run: EmulatedRun, pod: dict[str, Any], query: dict[str, str], now: int) -> str:
        name, container = pod["metadata"]["name"], _container_name(pod)
        if query.get("container", container) != container:
            raise Failure(400, "BadRequest", f"container {query['container']} is not valid for pod {name}")
        if pod["status"]["phase"] == "Pending":
            waiting = f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            raise Failure(400, "BadRequest", waiting)
        if query.get("previous") == "true" and not run.restarts:
            missing = f'previous terminated container "{container}" in pod "{name}" not found'
            raise Failure(400, "BadRequest", missing)
        started = self._life(run, now)[1] or 0
        lines: list[tuple[int, str]] = []
        for index, line in enumerate(run.log.splitlines(keepends=True)):
            at, found = started + (index + 1) * 10**6, _TIMESTAMPED.match(line)
            if found:
                second = int(datetime.fromisoformat(f"{found[1]}+00:00").timestamp())
                at = second * 10**9 + int((found[2] or "0").ljust(9, "0"))
            elif query.get("timestamps") == "true":
                line = f"{_stamp(at, nano=True)} {line}"
            lines.append((at, line))
        if "sinceSeconds" in query:
            lines = [(at, line) for at, line in lines if at >= now - int(query["sinceSeconds"]) * 10**9]
        if "tailLines" in query:
            lines = lines[len(lines) - min(int(query["tailLines"]), len(lines)) :]
        return "".join(line for _, line in lines)

    def _route(self, path: str) -> re.Match[str]:
        route = _ROUTE.fullmatch(path)
        core = route and (route["api"] == "api/v1") != (route["resource"] == "coderuns")
        if not route or not core or (route["log"] and route["resource"] != "pods"):
            raise Failure(404, "NotFound", "the server could not find the requested resource", {})
        return route

    def _found(self, resource: str, namespace: str, now: int) -> list[tuple[EmulatedRun, dict[str, Any]]]:
        found: list[tuple[EmulatedRun, dict[str, Any]]] = []
        for run in (run for run in self.runs if self.namespace_of(run) == namespace):
            made = {"coderuns": self.coderun, "pods": self.pod, "events": self.events}[resource](run, now)
            found += [(run, item) for item in (made if isinstance(made, list) else [made] if made else [])]
        return found

    def _listed(self, resource: str, namespace: str, query: dict[str, str], now: int) -> list[dict[str, Any]]:
        labels = label_matcher(query.get("labelSelector", ""))
        fields = field_matcher(resource, query.get("fieldSelector", ""))
        found = self._found(resource, namespace, now)
        return [i for _, i in found if labels(i["metadata"].get("labels") or {}) and fields(i)]

    def watch(self, path: str, query: dict[str, str]) -> Iterator[str]:
        """The lines of a watch (`?watch=true`) from `resourceVersion`: every item changed since as ADDED
        (new to this watch) or MODIFIED, then each change as the clock moves, DELETED for an item gone;
        until `timeoutSeconds` pass (real seconds) or the emulator closes. A version older than
        `compacted_before` is answered as the API server does, with a 410 ERROR event."""
        route = self._route(path)
        if route["name"] is not None or route["log"]:
            raise Failure(405, "MethodNotAllowed", "watch is only served on lists here", {})
        self.watches += 1
        return self._changes(route["resource"], route["namespace"], query)

    def _changes(self, resource: str, namespace: str, query: dict[str, str]) -> Iterator[str]:
        since = int(query.get("resourceVersion") or 0)
        if since < self.compacted_before:
            gone = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 410}
            message = f"too old resource version: {since} ({self.compacted_before})"
            yield _json({"type": "ERROR", "object": gone | {"reason": "Expired", "message": message}})
            return
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 300)
        sent: dict[str, dict[str, Any]] = {}
        first = True
        while time.monotonic() < deadline and not self._closing.is_set():
            current = {
                item["metadata"]["name"]: item
                for item in self._listed(resource, namespace, query, self.clock())
            }
            for name, item in current.items():
                if sent.get(name) == item:
                    continue
                if first and int(item["metadata"]["resourceVersion"]) <= since:
                    sent[name] = item  # the watcher's list had it already
                    continue
                yield _json({"type": "MODIFIED" if name in sent else "ADDED", "object": item})
                sent[name] = item
            for name in [name for name in sent if name not in current]:
                yield _json({"type": "DELETED", "object": sent.pop(name)})
            first = False
            self._closing.wait(self.watch_every_s)

    def follow_log(self, path: str, query: dict[str, str]) -> Iterator[str]:
        """A pod's log with `?follow=true`: what `log` answers now, then each line added to the run's log
        as the clock moves, until the pod is no longer running or the emulator closes (the kubelet ends
        the stream when the container ends)."""
        now, route = self.clock(), self._route(path)
        if route["resource"] != "pods" or not route["log"]:
            raise Failure(400, "BadRequest", "follow is only served on a pod's log", {})
        named = [
            found
            for found in self._found("pods", route["namespace"], now)
            if found[1]["metadata"]["name"] == route["name"]
        ]
        if not named:
            raise Failure(404, "NotFound", f'pods "{route["name"]}" not found', {"name": route["name"]})
        run, pod = named[0]
        first = self.log(run, pod, query, now)
        whole = {key: value for key, value in query.items() if key not in ("sinceSeconds", "tailLines")}
        return self._followed(run, whole, first, len(self.log(run, pod, whole, now).splitlines()))

    def _followed(self, run: EmulatedRun, whole: dict[str, str], first: str, sent: int) -> Iterator[str]:
        if first:
            yield first
        while not self._closing.wait(self.watch_every_s):
            now = self.clock()
            pod = self.pod(run, now)
            if pod is None or pod["status"]["phase"] != "Running":
                return
            lines = self.log(run, pod, whole, now).splitlines(keepends=True)
            if len(lines) > sent:
                yield "".join(lines[sent:])
                sent = len(lines)

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, str, str]:
        """Status, content type and body of a GET of `path`."""
        now, route = self.clock(), self._route(path)
        resource, name = route["resource"], route["name"]
        found = self._found(resource, route["namespace"], now)
        if name is None:
            items = self._listed(resource, route["namespace"], query, now)
            api_version = "agents.platform/v1" if resource == "coderuns" else "v1"
            kind = {"coderuns": "CodeRunList", "pods": "PodList", "events": "EventList"}[resource]
            metadata = {"resourceVersion": _version(now)}
            return (
                200,
                "application/json",
                _json({"apiVersion": api_version, "items": items, "kind": kind, "metadata": metadata}),
            )
        named = [(run, item) for run, item in found if item["metadata"]["name"] == name]
        if not named:
            kind = f"{resource}.agents.platform" if resource == "coderuns" else resource
            raise Failure(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": resource})
        if route["log"]:
            return 200, "text/plain", self.log(*named[0], query, now)
        return 200, "application/json", _json(named[0][1])


def _handler(emulator: KubernetesEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            emulator.requests.append((self.command, self.path))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
            try:
                if self.command != "GET":  # Healer only reads
                    message = "the server does not allow this method on the requested resource"
                    raise Failure(405, "MethodNotAllowed", message, {})
                if query.get("watch") in ("true", "1"):
                    self._stream(emulator.watch(url.path, query))
                    return
                if query.get("follow") == "true":
                    self._stream(emulator.follow_log(url.path, query), "text/plain")
                    return
                status, content_type, text = emulator.answer(url.path, query)
            except Failure as failure:
                status, content_type, text = failure.code, "application/json", _json(failure.status)
            body, now = text.encode(), datetime.fromtimestamp(emulator.clock() // 10**9, UTC)
            self.send_response_only(status)
            self.send_header("Audit-Id", _uid("audit", len(emulator.requests)))
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Content-Type", content_type)
            self.send_header("Date", now.strftime("%a, %d %b %Y %H:%M:%S GMT"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, lines: Iterator[str], content_type: str = "application/json") -> None:
            """A watch (one JSON event a line) or a followed log, chunked, as the API server sends it."""
            self.send_response_only(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for line in lines:
                    data = line.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *_args: object) -> None:
            pass

    return Handler
