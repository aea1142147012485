"""Builds cassettes/kubernetes/ from the Kubernetes objects of ../shared/reference/kubernetes/.

No Kubernetes API server installs here, so these cassettes are assembled: every response body is one of the
reference objects (or a list of them, or a standard `Status` error), served at the path and query the
official client really sends. Rebuild with `.venv/bin/python -m tests.kube_cassettes`; a test checks that
the committed files are exactly what this produces, so they cannot drift from the references.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.http_harness import interaction, render_cassettes, write_cassettes

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "kubernetes"
OUT = REPO / "cassettes" / "kubernetes"
HOST = "https://kube.test"
NAMESPACE = "cto"


def _load(name: str) -> Any:
    return json.loads((REFERENCE / name).read_text())


def _coderuns() -> dict[str, Any]:
    """The reference CodeRun (Rex), and its play's other runs made from it: Blaze running, Cleo failed, and
    a Healer remediation run that must be left out. Only names, labels, task and status change."""
    rex = _load("coderun-example.json")

    def variant(agent: str, task: int, phase: str, run_type: str = "implementation") -> dict[str, Any]:
        run = copy.deepcopy(rex)
        name = f"coderun-{agent}-t{task}-play-42"
        run["metadata"].update(name=name, uid=f"c0d1e2f3-a4b5-4c6d-8e7f-{task:04d}{len(agent):08d}")
        run["metadata"]["labels"].update({"task-id": str(task), "github-app": f"5DLabs-{agent.title()}"})
        run["spec"].update(taskId=task, githubApp=f"5DLabs-{agent.title()}", runType=run_type)
        run["status"].update(phase=phase, jobName=name, configmapName=f"{name}-files")
        return run

    items = [
        rex,
        variant("blaze", 2, "Running"),
        variant("cleo", 1, "Failed"),
        variant("healer", 9, "Running", "remediate"),
    ]
    return {
        "apiVersion": "agents.platform/v1",
        "kind": "CodeRunList",
        "items": items,
        "metadata": {"resourceVersion": "48216010"},
    }


def _pods_of(job: str) -> dict[str, Any]:
    pods = _load("podlist.json")
    return {**pods, "items": [p for p in pods["items"] if p["metadata"]["labels"].get("job-name") == job]}


def _events_of(pod: str) -> dict[str, Any]:
    events = _load("eventlist.json")
    items = [
        e
        for e in events["items"]
        if e["involvedObject"]["kind"] == "Pod" and e["involvedObject"]["name"] == pod
    ]
    return {**events, "items": items}


def _status(code: int, reason: str, message: str, details: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details, "code": code}  # fmt: skip


REX_POD = "coderun-rex-t1-play-42-x7k2p"
LOG = (
    "2026-11-20T14:02:10.118237412Z Tool inventory check - CTO config declares: [brave_search, github_create_pull_request]\n"
    "2026-11-20T14:02:10.118901355Z Tool inventory check - CLI has available: [github_create_pull_request]\n"
    "2026-11-20T14:02:10.119340021Z \u26a0\ufe0f tool inventory mismatch - declared tools: [brave_search] - missing: [brave_search]\n"
    "2026-11-20T14:02:11.402117300Z thread 'main' panicked at src/main.rs:12:5:\n"
)


def _json_reply(status: int, body: Any) -> dict[str, Any]:
    return {"status": status, "content_type": "application/json", "body": json.dumps(body, indent=1)}


def _interaction(
    path: str, query: dict[str, str], reply: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    uri = f"{HOST}{path}" + (f"?{urlencode(query)}" if query else "")
    return interaction(
        "GET", uri, reply["status"], reply["body"], content_type=reply["content_type"], headers=headers
    )


def cassettes() -> dict[str, list[dict[str, Any]]]:
    coderuns = f"/apis/agents.platform/v1/namespaces/{NAMESPACE}/coderuns"
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
    play = {"labelSelector": "workflow-name=play-42"}
    forbidden = _status(
        403, "Forbidden",
        'coderuns.agents.platform is forbidden: User "system:serviceaccount:cto:healer" cannot list resource '
        '"coderuns" in API group "agents.platform" in the namespace "cto"',
        {"group": "agents.platform", "kind": "coderuns"},
    )  # fmt: skip
    gone = _status(
        404,
        "NotFound",
        'pods "coderun-rex-t1-play-42-gone1" not found',
        {"name": "coderun-rex-t1-play-42-gone1", "kind": "pods"},
    )
    busy = _status(
        429,
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
        {},
    )
    return {
        "play": [
            _interaction(coderuns, play, _json_reply(200, _coderuns())),
            *(
                _interaction(pods, {"labelSelector": f"job-name={job}"}, _json_reply(200, _pods_of(job)))
                for job in ("coderun-rex-t1-play-42", "coderun-blaze-t2-play-42", "coderun-cleo-t1-play-42")
            ),
        ],
        "pod_events_and_logs": [
            _interaction(f"{pods}/{REX_POD}", {}, _json_reply(200, _load("pod-crashloop.json"))),
            _interaction(
                f"/api/v1/namespaces/{NAMESPACE}/events",
                {"fieldSelector": f"involvedObject.kind=Pod,involvedObject.name={REX_POD}"},
                _json_reply(200, _events_of(REX_POD)),
            ),
            _interaction(
                f"{pods}/{REX_POD}/log",
                {"tailLines": "100", "timestamps": "true"},
                {"status": 200, "content_type": "text/plain", "body": LOG},
            ),
        ],
        "errors": [
            _interaction(coderuns, play, _json_reply(403, forbidden)),
            _interaction(f"{pods}/coderun-rex-t1-play-42-gone1", {}, _json_reply(404, gone)),
        ],
        "retries": [
            _interaction(f"{pods}/{REX_POD}", {}, _json_reply(429, busy), {"Retry-After": "2"}),
            _interaction(
                f"{pods}/{REX_POD}",
                {},
                _json_reply(503, _status(503, "ServiceUnavailable", "etcdserver: leader changed", {})),
            ),
            _interaction(f"{pods}/{REX_POD}", {}, _json_reply(200, _load("pod-crashloop.json"))),
        ],
    }


def rendered() -> dict[str, str]:
    return render_cassettes(cassettes())


if __name__ == "__main__":
    write_cassettes(OUT, rendered())
