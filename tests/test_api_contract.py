"""The session API's contract (DESIGN §2), against a live `healer serve` process, on SQLite and on Postgres:
the five endpoints of the original byte for byte, Healer's own additions, and the error cases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.models import Session, rfc3339
from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.replay import replay
from tests.conftest import REPO, scratch_postgres

START = {
    "play_id": "play-42",
    "repository": "5dlabs/cto-parallel-test",
    "namespace": "cto",
    "cto_config": {
        "agents": {
            "rex": {"githubApp": "5DLabs-Rex", "tools": {"remote": ["brave_search"]}},
            "cleo": {
                "github_app": "5DLabs-Cleo",
                "tools": {"local_servers": {"fs": {"enabled": True, "tools": ["read_file"]}}},
            },
        }
    },
    "tasks": [{"id": "1", "title": "Implement auth", "agent_hint": "rex"}],
    "unknown_field": "ignored",
}
TOKEN = "test-token-for-writes"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(database_url: str, *, token: str | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LOKI_URL", "OPENAI_BASE_URL", "GITHUB_TOKEN")}
    env |= {"HEALER_DATABASE_URL": database_url, "HEALER_KUBERNETES": "false"}
    if token:
        env["HEALER_API_TOKEN"] = token
    command = [str(REPO / ".venv/bin/healer"), "serve", "--port", str(port), "--interval", "0.2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"healer serve did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.live)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One live server per backend for the module; each test uses play ids of its own."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('api')}/healer.db"
        else:
            url = stack.enter_context(scratch_postgres())
        base, _ = stack.enter_context(serving(url))
        yield stack.enter_context(httpx.Client(base_url=base, timeout=10))


def fresh(play_id: str) -> dict:
    """The start payload for a play id no other test uses."""
    return START | {"play_id": f"{play_id}-{uuid.uuid4().hex[:6]}"}


def test_health(api: httpx.Client) -> None:
    answer = api.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "healthy", "version": "0.1.0", "service": "healer-play-api"}


def test_start_then_a_duplicate_start_while_active(api: httpx.Client) -> None:
    start = fresh("play-42")
    first = api.post("/api/v1/session/start", json=start)
    assert first.status_code == 200
    assert first.json() == {
        "status": "ok",
        "session_id": start["play_id"],
        "message": "Session started with 1 tasks and 2 agent configurations",
    }
    again = api.post("/api/v1/session/start", json=start)
    assert again.status_code == 409
    assert again.json() == {
        "status": "error",
        "session_id": start["play_id"],
        "message": "Session already exists and is active",
    }


def test_a_session_as_stored(api: httpx.Client) -> None:
    start = fresh("play-42")
    api.post("/api/v1/session/start", json=start)
    answer = api.get(f"/api/v1/session/{start['play_id']}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["message"] is None
    session = body["session"]
    assert session["status"] == "active" and session["issues"] == []
    assert session["started_at"].endswith("Z") and session["last_updated"].endswith("Z")
    assert (
        session["cto_config"]["agents"]["cleo"]["github_app"] == "5DLabs-Cleo"
    )  # snake_case kept, not dropped
    assert session["cto_config"]["agents"]["cleo"]["tools"]["local_servers"]["fs"]["tools"] == ["read_file"]
    assert "unknown_field" not in session


def test_an_unknown_session(api: httpx.Client) -> None:
    answer = api.get("/api/v1/session/nope")
    assert answer.status_code == 404
    assert answer.json() == {"status": "error", "session": None, "message": "Session not found: nope"}


def test_listings_and_ending_a_session(api: httpx.Client) -> None:
    kept, ended_one = fresh("play-42"), fresh("play-43")
    api.post("/api/v1/session/start", json=kept)
    api.post("/api/v1/session/start", json=ended_one)
    listed = api.get("/api/v1/sessions").json()
    assert listed["status"] == "ok" and listed["count"] == len(listed["sessions"]) >= 2
    assert set(listed["sessions"][0]) == {
        "play_id",
        "repository",
        "status",
        "task_count",
        "issue_count",
        "started_at",
    }
    name = ended_one["play_id"]
    ended = api.post(
        f"/api/v1/session/{name}/end", json={"status": "cancelled", "reason": "operator stopped it"}
    )
    assert ended.status_code == 200 and ended.json()["session"]["status"] == "cancelled"
    assert api.post(f"/api/v1/session/{name}/end", json={"status": "completed"}).status_code == 409
    assert api.post(f"/api/v1/session/{kept['play_id']}/end", json={"status": "paused"}).status_code == 422
    active = api.get("/api/v1/sessions/active").json()
    assert kept["play_id"] in [s["play_id"] for s in active["sessions"]]
    assert name not in [s["play_id"] for s in active["sessions"]]
    assert all(s["status"] == "active" for s in active["sessions"]) and active["count"] == len(
        active["sessions"]
    )
    assert (
        api.post("/api/v1/session/start", json=ended_one).status_code == 200
    )  # not active any more: replaced


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 422, "JSON object"),
        (json.dumps({"repository": "x"}).encode(), 422, "play_id"),
        (json.dumps({"play_id": "a b"}).encode(), 422, "play_id"),
        (json.dumps({"play_id": "p", "tasks": "many"}).encode(), 422, "tasks"),
        (json.dumps({"play_id": "p", "tasks": [{"title": "no id"}]}).encode(), 422, "tasks.0.id"),
        (json.dumps({"play_id": "p" * 200}).encode(), 422, "play_id"),
        (json.dumps({"play_id": "play-1\n"}).encode(), 422, "play_id"),
    ],
)
def test_malformed_starts_are_4xx_with_a_message(
    api: httpx.Client, body: bytes, status: int, names: str
) -> None:
    answer = api.post("/api/v1/session/start", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["status"] == "error" and names in answer.json()["message"]


def test_a_huge_body_is_refused(api: httpx.Client) -> None:
    answer = api.post("/api/v1/session/start", content=b"{" + b" " * (2 << 20) + b"}")
    assert answer.status_code == 413 and "bytes" in answer.json()["message"]


def test_decisions_need_a_known_incident(api: httpx.Client) -> None:
    start = fresh("play-42")
    api.post("/api/v1/session/start", json=start)
    unknown = api.post("/api/v1/session/nope/incidents/0123456789abcdef/decision", json={"action": "resolve"})
    assert unknown.status_code == 404
    bad = api.post(f"/api/v1/session/{start['play_id']}/incidents/xyz/decision", json={"action": "resolve"})
    assert bad.status_code == 422
    idle = api.post(
        f"/api/v1/session/{start['play_id']}/incidents/0123456789abcdef/decision", json={"action": "resolve"}
    )
    assert idle.status_code == 409 and "not waiting" in idle.json()["message"]
    wrong = api.post(
        f"/api/v1/session/{start['play_id']}/incidents/0123456789abcdef/decision", json={"action": "merge"}
    )
    assert wrong.status_code == 422 and "action" in wrong.json()["message"]


def test_writes_need_the_token_when_one_is_set(tmp_path: Path) -> None:  # a server of its own
    with (
        serving(f"sqlite:///{tmp_path}/healer.db", token=TOKEN) as (url, _),
        httpx.Client(base_url=url) as api,
    ):
        assert api.post("/api/v1/session/start", json=START).status_code == 401
        wrong = api.post("/api/v1/session/start", json=START, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["message"]
        right = api.post("/api/v1/session/start", json=START, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert api.get("/api/v1/sessions").status_code == 200  # reading needs none


def test_sessions_survive_kill_9_and_their_runs_continue(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/healer.db"
    with serving(database) as (url, process):
        for n in range(3):
            assert (
                httpx.post(f"{url}/api/v1/session/start", json=START | {"play_id": f"play-{n}"}).status_code
                == 200
            )
        httpx.post(f"{url}/api/v1/session/play-2/end", json={"status": "failed"})
        process.kill()  # SIGKILL: no shutdown of any kind
        process.wait()
    with serving(database) as (url, _):
        listed = httpx.get(f"{url}/api/v1/sessions").json()
        assert sorted((s["play_id"], s["status"]) for s in listed["sessions"]) == [
            ("play-0", "active"),
            ("play-1", "active"),
            ("play-2", "failed"),
        ]
        deadline = time.monotonic() + 20
        while True:
            metrics = httpx.get(f"{url}/metrics").text
            passes = float(
                next(line.split()[1] for line in metrics.splitlines() if line.startswith("healer_passes "))
            )
            if passes >= 4:  # both active sessions run passes again, from their checkpoints
                break
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)
        assert "healer_running_sessions 2.0" in metrics


def test_a_decision_resumes_an_escalated_incident(tmp_path: Path) -> None:
    """The runtime-panic scenario, replayed into the server's database, leaves its R1 incident waiting
    for a human; the API's decision resumes and finishes it."""
    database = f"sqlite:///{tmp_path}/healer.db"
    result = asyncio.run(replay(REPO / "cassettes" / "runtime-panic", database_url=database))
    [panic] = [view for view in result.incidents if view.values["finding"]["code"] == "R1"]
    assert panic.waiting_for_human

    async def store_session() -> None:
        async with open_checkpointer(database) as saver, open_store(database, saver) as store:
            now = rfc3339()
            body = result.loaded.session.model_dump() | {
                "started_at": now,
                "last_updated": now,
                "status": "completed",
            }
            await store.start(Session.model_validate(body))

    asyncio.run(store_session())
    with serving(database) as (url, _), httpx.Client(base_url=url, timeout=30) as api:
        path = f"/api/v1/session/play-panic/incidents/{panic.fingerprint}/decision"
        answer = api.post(path, json={"action": "dismiss", "by": "ops", "note": "fixed by hand"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "status": "ok",
            "incident": {"fingerprint": panic.fingerprint, "status": "closed"},
        }
        again = api.post(path, json={"action": "resolve"})
        assert again.status_code == 409  # decided already: nothing waits any more


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path}/healer.db") as (url, process):
        httpx.post(f"{url}/api/v1/session/start", json=fresh("play-term"))
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts the app down (the scheduler stops its runs), then exits by the signal it caught
        assert process.wait(15) in (0, -signal.SIGTERM)
        log = process.stderr.read().decode()  # type: ignore[union-attr]
        assert "Application shutdown complete" in log and '"level": "error"' not in log
