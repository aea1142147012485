"""The session API's contract (DESIGN §2), against a live `healer serve` process, on SQLite and on Postgres:
the five endpoints of the original byte for byte, Healer's own additions, and the error cases.

`GET /api/v1/session/{id}` is held to the original's answer (shared/reference/cto): its field order, the
`githubApp`/`localServers` spelling, `localServers: null` read as `{}`, `namespace` defaulting to `cto`,
chrono's RFC 3339 times, and detections whose `issue_type` is one of the original's values, followed by
Healer's `code`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.issue_types import ISSUE_TYPE_OF_CODE, ISSUE_TYPES, issue_type_of
from api.models import PUBLIC_FIELDS, Detection, Session, rfc3339
from api.store import open_store
from graph.triage import pull_rules, state_rules
from graph.triage.catalogue import CATALOGUE
from runtime.engine import detection
from runtime.replay import replay
from tests.conftest import REPO, SHARED, scratch_postgres

REFERENCE = SHARED / "reference" / "cto"
FROM_MCP = json.loads((REFERENCE / "session-start-from-mcp.json").read_text())
AS_THE_ORIGINAL = json.loads((REFERENCE / "get-session-as-the-original.json").read_text())
# chrono's serde form of a `DateTime<Utc>`: UTC, `Z`, and 0, 3, 6 or 9 digits of a second
CHRONO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6}|\.\d{9})?Z")
ISSUE_FIELDS = [*AS_THE_ORIGINAL["session"]["issues"][0], "code"]  # the original's, then Healer's code

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
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database of the module's live server, one per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api')}/healer.db"
    else:
        with scratch_postgres() as url:
            yield url


@pytest.fixture(scope="module")
def api(database: str) -> Iterator[httpx.Client]:
    """One live server per backend for the module; each test uses play ids of its own."""
    with serving(database) as (base, _), httpx.Client(base_url=base, timeout=10) as client:
        yield client


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
    assert list(body) == ["status", "session", "message"]
    assert body["status"] == "ok" and body["message"] is None
    session = body["session"]
    assert list(session) == list(PUBLIC_FIELDS) == list(AS_THE_ORIGINAL["session"])
    assert session["status"] == "active" and session["issues"] == []
    assert CHRONO_TIME.fullmatch(session["started_at"]) and CHRONO_TIME.fullmatch(session["last_updated"])
    rex, cleo = session["cto_config"]["agents"]["rex"], session["cto_config"]["agents"]["cleo"]
    assert rex == {  # the caller's camelCase kept; unset fields as the original's serde writes them
        "githubApp": "5DLabs-Rex",
        "cli": None,
        "model": None,
        "tools": {"remote": ["brave_search"], "localServers": {}},
    }
    # snake_case is accepted (the original dropped it) and answered in the original's camelCase
    assert cleo["githubApp"] == "5DLabs-Cleo" and "github_app" not in cleo
    assert cleo["tools"]["localServers"] == {"fs": {"enabled": True, "tools": ["read_file"]}}
    assert session["tasks"] == [
        {"id": "1", "title": "Implement auth", "agent_hint": "rex", "dependencies": [], "priority": 0}
    ]
    assert "unknown_field" not in session


def test_a_start_from_the_mcp_server_answers_as_the_original(api: httpx.Client) -> None:
    """The MCP server's exact body (`localServers: null` for tess) is accepted, and the session comes back
    as the original answered it, byte for byte but for the times (and the detections: none yet)."""
    start = FROM_MCP | {"play_id": f"{FROM_MCP['play_id']}-{uuid.uuid4().hex[:6]}"}
    assert start["cto_config"]["agents"]["tess"]["tools"]["localServers"] is None
    started = api.post("/api/v1/session/start", json=start)
    assert started.status_code == 200, started.text
    answer = api.get(f"/api/v1/session/{start['play_id']}")
    assert answer.status_code == 200
    session = answer.json()["session"]
    expected = AS_THE_ORIGINAL | {
        "session": AS_THE_ORIGINAL["session"]
        | {
            "play_id": start["play_id"],
            "started_at": session["started_at"],
            "last_updated": session["last_updated"],
            "issues": [],
        }
    }
    assert answer.text == json.dumps(expected, separators=(",", ":"))  # keys in the original's order
    assert session["cto_config"]["agents"]["tess"]["tools"]["localServers"] == {}
    assert CHRONO_TIME.fullmatch(session["started_at"])


def test_the_namespace_defaults_to_cto_and_unknown_agent_fields_are_dropped(api: httpx.Client) -> None:
    start = {k: v for k, v in fresh("play-ns").items() if k != "namespace"}
    start["cto_config"] = {
        "agents": {"rex": {"githubApp": "5DLabs-Rex", "maxRetries": 3, "tools": None, "features": {}}}
    }
    assert api.post("/api/v1/session/start", json=start).status_code == 200
    session = api.get(f"/api/v1/session/{start['play_id']}").json()["session"]
    assert session["namespace"] == "cto"
    assert session["cto_config"]["agents"]["rex"] == {
        "githubApp": "5DLabs-Rex",
        "cli": None,
        "model": None,
        "tools": {"remote": [], "localServers": {}},
    }


def test_a_detection_answers_as_the_originals(api: httpx.Client, database: str) -> None:
    """An A10 incident, made a detection as the scheduler makes it and stored beside the live server's
    sessions, answers as the reference's example detection: the original's fields in their order,
    `issue_type: tool_mismatch`, and then `code: A10`."""
    [example] = AS_THE_ORIGINAL["session"]["issues"]
    finding = {
        "code": "A10",
        "name": "Tool inventory mismatch",
        "severity": "critical",
        "matched": "Tool inventory check",
        "detail": "Tool firecrawl_scrape missing",
        "timestamp": example["detected_at"],
        "agent": "rex",
    }
    values = {"finding": finding, "task_id": "1", "issue": {"url": example["github_issue"]}, "timeline": []}
    found = detection(values)
    play_id = f"play-detection-{uuid.uuid4().hex[:6]}"

    async def store_session() -> None:
        async with open_store(database) as store:
            now = rfc3339()
            session = Session(play_id=play_id, started_at=now, last_updated=now, issues=[found])
            await store.start(session)

    asyncio.run(store_session())
    answer = api.get(f"/api/v1/session/{play_id}")
    [issue] = answer.json()["session"]["issues"]
    assert list(issue) == ISSUE_FIELDS
    assert issue == example | {
        "description": "Tool inventory mismatch: Tool firecrawl_scrape missing",
        "code": "A10",
    }
    assert CHRONO_TIME.fullmatch(issue["detected_at"]) and issue["detected_at"] == example["detected_at"]
    assert 'healer_findings{code="A10",severity="critical"} 1.0' in api.get("/metrics").text  # by the code


def test_a_resumed_sessions_incidents_reach_the_api_with_the_originals_issue_type(tmp_path: Path) -> None:
    """The runtime-panic scenario, replayed into the server's database, and its session stored active: the
    server resumes it and publishes its incidents as detections, each with the original's `issue_type`
    and Healer's code (R1, a panic: `agent_error`)."""
    database = f"sqlite:///{tmp_path}/healer.db"
    result = asyncio.run(replay(REPO / "cassettes" / "runtime-panic", database_url=database))
    codes = {view.values["finding"]["code"] for view in result.incidents}
    assert "R1" in codes

    async def store_session() -> None:
        async with open_store(database) as store:
            now = rfc3339()
            body = result.loaded.session.model_dump() | {"started_at": now, "last_updated": now}
            await store.start(Session.model_validate(body))

    asyncio.run(store_session())
    play_id = result.loaded.session.play_id
    with serving(database) as (url, _), httpx.Client(base_url=url, timeout=10) as api:
        deadline = time.monotonic() + 30
        while not (session := api.get(f"/api/v1/session/{play_id}").json()["session"])["issues"]:
            assert time.monotonic() < deadline, session
            time.sleep(0.2)
    assert {issue["code"] for issue in session["issues"]} == codes
    for issue in session["issues"]:
        assert list(issue) == ISSUE_FIELDS
        assert issue["issue_type"] == issue_type_of(issue["code"]) and issue["issue_type"] in ISSUE_TYPES
        assert CHRONO_TIME.fullmatch(issue["detected_at"])
    [panic] = [issue for issue in session["issues"] if issue["code"] == "R1"]
    assert panic["issue_type"] == "agent_error"


def test_every_code_has_one_of_the_originals_issue_types() -> None:
    codes = {alert.code for alert in CATALOGUE} | set(pull_rules._RULES) | set(state_rules._RULES)
    assert codes <= set(ISSUE_TYPE_OF_CODE), codes - set(ISSUE_TYPE_OF_CODE)
    assert {"R6", "R7", "R8"} <= set(ISSUE_TYPE_OF_CODE)
    assert set(ISSUE_TYPE_OF_CODE.values()) <= set(ISSUE_TYPES)
    assert issue_type_of("A10") == "tool_mismatch" and issue_type_of("Z99") == "other"


def test_a_detection_stored_before_codes_reads_in_the_originals_shape() -> None:
    """Sessions stored before `code` existed kept Healer's code in `issue_type`."""
    old = Detection.model_validate_json(
        '{"detected_at": "2025-06-01T10:05:00.000000Z", "issue_type": "A7", "severity": "high",'
        ' "description": "pod failed"}'
    )
    assert (old.issue_type, old.code, old.detected_at) == ("agent_failure", "A7", "2025-06-01T10:05:00Z")
    assert (
        Detection(detected_at="x", code="R8", severity="high", description="d").issue_type == "agent_failure"
    )


def test_times_are_written_as_chrono_writes_them() -> None:
    second = 1_768_384_931 * 1_000_000_000  # 2026-01-14T10:02:11Z
    assert rfc3339(second) == "2026-01-14T10:02:11Z"
    assert rfc3339(second + 482_000_000) == "2026-01-14T10:02:11.482Z"
    assert rfc3339(second + 482_913_000) == "2026-01-14T10:02:11.482913Z"
    assert rfc3339(second + 482_913_511) == "2026-01-14T10:02:11.482913511Z"
    assert CHRONO_TIME.fullmatch(rfc3339())


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
        (json.dumps({"play_id": "p", "tasks": None}).encode(), 422, "tasks"),
        (
            json.dumps(
                {"play_id": "p", "cto_config": {"agents": {"rex": {"tools": {"localServers": "x"}}}}}
            ).encode(),
            422,
            "cto_config.agents.rex.tools.localServers",
        ),
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


def test_the_api_needs_the_token_when_one_is_set(tmp_path: Path) -> None:  # a server of its own
    with (
        serving(f"sqlite:///{tmp_path}/healer.db", token=TOKEN) as (url, _),
        httpx.Client(base_url=url) as api,
    ):
        assert api.post("/api/v1/session/start", json=START).status_code == 401
        wrong = api.post("/api/v1/session/start", json=START, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["message"]
        right = api.post("/api/v1/session/start", json=START, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert api.get("/api/v1/sessions").status_code == 401  # reading needs it too
        assert api.get("/api/v1/sessions", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


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
                next(
                    line.split()[1]
                    for line in metrics.splitlines()
                    if line.startswith("healer_passes_total ")
                )
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
        async with open_store(database) as store:
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
