"""The session API probed as an attacker would (issue 10, "API"), and what it must answer instead:

1. a lone surrogate (`"\\ud800"`) in any text of a body: a 422 naming the field, nothing stored (it was a 500);
2. with `HEALER_API_TOKEN` set, no session data without the token: the API wants the bearer token, the pages
   the token or the cookie of their login form; `/health` and `/metrics` stay open, and `/metrics` names no
   repository, play or agent;
3. texts, lists and maps bounded (api/limits.py), and the sessions counted: over a limit, a 4xx naming it;
4. a streamed (chunked) body over the limit: 413 (it was a 400);
5. with a token set, 401 before the body is read: a malformed body without the token is a 401 (it was 400).

Most tests call the app in-process (`TestClient`, with its lifespan: a real SQLite store and scheduler);
the last runs a live `healer serve` with a token set, as the issue's "Done when" says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from api import limits
from api.auth import COOKIE_LIFETIME_S, COOKIE_NAME, Access
from api.http import error_response
from api.limits import SessionLimits
from api.models import Session, rfc3339
from api.store import open_store
from graph.config import settings_from
from server import create_app
from tests.conftest import scratch_postgres
from tests.test_api_contract import FROM_MCP, serving

TOKEN = "hardening-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
MIB = 1 << 20
SURROGATE = "\\ud800"  # the JSON escape of a lone surrogate, as an attacker writes it into the body
MARK = "@@here@@"  # where a test puts the surrogate in a payload, as a value or as a key
REPOSITORY = "secret-org/secret-repository"
SECRETS = (REPOSITORY, "secret-agent", "5DLabs-Secret", "secret task title", "secret_tool")
SESSION_DATA = (
    "/api/v1/sessions",
    "/api/v1/sessions/active",
    "/api/v1/session/play-secret",
)
WRITES = (
    ("/api/v1/session/start", {"play_id": "play-other"}),
    ("/api/v1/session/play-secret/end", {"status": "cancelled"}),
    ("/api/v1/session/play-secret/incidents/0123456789abcdef/decision", {"action": "resolve"}),
)
WRITE_PATHS = [path for path, _ in WRITES]
PAGES = ("/", "/sessions/play-secret")


def secret_start(play_id: str = "play-secret") -> dict[str, Any]:
    return {
        "play_id": play_id,
        "repository": REPOSITORY,
        "cto_config": {
            "agents": {"secret-agent": {"githubApp": "5DLabs-Secret", "tools": {"remote": ["secret_tool"]}}}
        },
        "tasks": [{"id": "1", "title": "secret task title"}],
    }


@contextlib.contextmanager
def app_client(tmp_path: Path, *, token: str | None, **session_limits: int) -> Iterator[TestClient]:
    settings: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/healer.db",
        "kubernetes_enabled": False,
    }
    if token:
        settings["api_token"] = token
    app = create_app(settings_from(settings), limits=SessionLimits(**session_limits))
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    """The app with a token set, and one session started with it."""
    with app_client(tmp_path, token=TOKEN) as client:
        assert client.post("/api/v1/session/start", json=secret_start(), headers=BEARER).status_code == 200
        yield client


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[TestClient]:
    """The app without a token: open, as it always was."""
    with app_client(tmp_path, token=None) as client:
        yield client


def with_mark(payload: dict[str, Any], raw_value: str) -> str:
    """The payload as JSON text, with `raw_value` (JSON text) where MARK was, as a value or as a key."""
    return json.dumps(payload).replace(json.dumps(MARK), raw_value)


def stored_count(client: TestClient, headers: dict[str, str] | None = None) -> int:
    return client.get("/api/v1/sessions", headers=headers).json()["count"]


def assert_json_error(answer: httpx.Response, status: int, *words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "error" and isinstance(body["message"], str)
    for word in words:
        assert word in body["message"], body["message"]


# --- 1. lone surrogates ------------------------------------------------------------------------------

TEXTS_OF_A_START = {
    "play_id": {"play_id": MARK},
    "repository": {"play_id": "p", "repository": MARK},
    "service": {"play_id": "p", "service": MARK},
    "namespace": {"play_id": "p", "namespace": MARK},
    "cto_config.agents": {"play_id": "p", "cto_config": {"agents": {MARK: {}}}},
    "githubApp": {"play_id": "p", "cto_config": {"agents": {"rex": {"githubApp": MARK}}}},
    "github_app": {"play_id": "p", "cto_config": {"agents": {"rex": {"github_app": MARK}}}},
    "cli": {"play_id": "p", "cto_config": {"agents": {"rex": {"cli": MARK}}}},
    "model": {"play_id": "p", "cto_config": {"agents": {"rex": {"model": MARK}}}},
    "remote": {"play_id": "p", "cto_config": {"agents": {"rex": {"tools": {"remote": [MARK]}}}}},
    "localServers": {
        "play_id": "p",
        "cto_config": {"agents": {"rex": {"tools": {"localServers": {MARK: {}}}}}},
    },
    "tools": {
        "play_id": "p",
        "cto_config": {"agents": {"rex": {"tools": {"localServers": {"fs": {"tools": [MARK]}}}}}},
    },
    "tasks.0.id": {"play_id": "p", "tasks": [{"id": MARK}]},
    "tasks.0.title": {"play_id": "p", "tasks": [{"id": "1", "title": MARK}]},
    "tasks.0.agent_hint": {"play_id": "p", "tasks": [{"id": "1", "agent_hint": MARK}]},
    "tasks.0.dependencies": {"play_id": "p", "tasks": [{"id": "1", "dependencies": [MARK]}]},
}


@pytest.mark.parametrize("field", list(TEXTS_OF_A_START))
def test_a_lone_surrogate_in_any_text_of_a_start_is_a_422_and_stores_nothing(
    open_app: TestClient, field: str
) -> None:
    body = with_mark(TEXTS_OF_A_START[field], f'"{SURROGATE}"')
    answer = open_app.post("/api/v1/session/start", content=body, headers=JSON)
    assert_json_error(answer, 422, field.split(".")[0], "Unicode")
    assert stored_count(open_app) == 0


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/v1/session/play-secret/end", {"status": "cancelled", "reason": MARK}),
        ("/api/v1/session/play-secret/incidents/0123456789abcdef/decision", {"action": "retry", "by": MARK}),
        (
            "/api/v1/session/play-secret/incidents/0123456789abcdef/decision",
            {"action": "retry", "note": MARK},
        ),
    ],
)
def test_a_lone_surrogate_in_an_end_or_a_decision_is_a_422(
    guarded: TestClient, path: str, payload: dict[str, Any]
) -> None:
    answer = guarded.post(path, content=with_mark(payload, f'"{SURROGATE}"'), headers=BEARER | JSON)
    assert_json_error(answer, 422, "Unicode")
    session = guarded.get("/api/v1/session/play-secret", headers=BEARER).json()["session"]
    assert session["status"] == "active"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/session/%ED%A0%80",  # the UTF-8 bytes a surrogate would have, percent-encoded
        "/api/v1/session/%F0%28",
        "/api/v1/session/%ED%A0%80/end",
        "/api/v1/session/play-secret/incidents/%ED%A0%80/decision",
        "/sessions/%ED%A0%80",
    ],
)
def test_undecodable_ids_in_paths_are_4xx(guarded: TestClient, path: str) -> None:
    method = "POST" if path.endswith(("/end", "/decision")) else "GET"
    answer = guarded.request(method, path, headers=BEARER, json={"status": "cancelled", "action": "retry"})
    assert_json_error(answer, 422, "must be")


def test_an_error_message_quoting_a_lone_surrogate_is_still_json() -> None:
    answer = error_response(422, "tasks.\ud800: invalid")
    assert json.loads(answer.body) == {"status": "error", "message": "tasks.\\ud800: invalid"}


# --- 2. no session data without the token ------------------------------------------------------------


@pytest.mark.parametrize("path", SESSION_DATA)
@pytest.mark.parametrize("given", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_with_a_token_the_session_api_shows_nothing_without_it(
    guarded: TestClient, path: str, given: dict[str, str]
) -> None:
    answer = guarded.get(path, headers=given)
    assert_json_error(answer, 401, "bearer token")
    assert not any(secret in answer.text for secret in SECRETS)
    assert guarded.get(path, headers=BEARER).status_code == 200


@pytest.mark.parametrize(("path", "payload"), WRITES)
def test_with_a_token_writes_need_it(guarded: TestClient, path: str, payload: dict[str, Any]) -> None:
    assert_json_error(guarded.post(path, json=payload), 401, "bearer token")
    assert guarded.get("/api/v1/session/play-secret", headers=BEARER).json()["session"]["status"] == "active"


@pytest.mark.parametrize("path", PAGES)
def test_with_a_token_the_pages_send_a_browser_to_the_login_form(guarded: TestClient, path: str) -> None:
    answer = guarded.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={path.replace('/', '%2F')}"
    assert not any(secret in answer.text for secret in SECRETS)
    form = guarded.get(answer.headers["location"])
    assert form.status_code == 200 and "name='token'" in form.text and "type='password'" in form.text
    assert not any(secret in form.text for secret in SECRETS)
    with_bearer = guarded.get(path, headers=BEARER)  # a script may use the bearer token for the pages too
    assert with_bearer.status_code == 200 and REPOSITORY in with_bearer.text


def test_the_login_form_sets_a_strict_httponly_cookie_derived_from_the_token(guarded: TestClient) -> None:
    refused = guarded.post("/login", data={"token": "wrong", "next": "/"})
    assert refused.status_code == 401 and "not the token" in refused.text
    assert COOKIE_NAME not in refused.cookies
    answer = guarded.post("/login", data={"token": TOKEN, "next": "/sessions/play-secret"})
    assert answer.status_code == 303 and answer.headers["location"] == "/sessions/play-secret"
    cookie = answer.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={COOKIE_LIFETIME_S}"):
        assert attribute.lower() in cookie.lower(), cookie
    assert TOKEN not in cookie
    page = guarded.get("/sessions/play-secret")  # the client keeps the cookie
    assert page.status_code == 200 and REPOSITORY in page.text
    assert guarded.get("/api/v1/sessions").status_code == 401  # the cookie is for the pages only


def test_a_forged_or_expired_page_cookie_is_refused(guarded: TestClient) -> None:
    now = time.time()
    access = Access(TOKEN, clock=lambda: now)
    expires, _, signature = access.page_cookie().partition(".")
    forged = f"{int(expires) + 3600}.{signature}"  # a later expiry under the old signature
    other_token = Access("another-token", clock=lambda: now).page_cookie()
    expired = Access(TOKEN, clock=lambda: now - 2 * COOKIE_LIFETIME_S).page_cookie()
    for value in (forged, other_token, expired, "", "1." + "0" * 64, "9" * 5000):
        guarded.cookies.set(COOKIE_NAME, value)
        assert guarded.get("/").status_code == 303, value
    guarded.cookies.set(COOKIE_NAME, Access(TOKEN).page_cookie())
    assert guarded.get("/").status_code == 200


@pytest.mark.parametrize("then", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_login_form_goes_back_to_this_server_only(guarded: TestClient, then: str) -> None:
    answer = guarded.post("/login", data={"token": TOKEN, "next": then})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_health_and_metrics_stay_open_and_metrics_name_no_session(guarded: TestClient) -> None:
    assert guarded.get("/health").json()["status"] == "healthy"
    metrics = guarded.get("/metrics")
    assert metrics.status_code == 200 and 'healer_sessions{status="active"} 1.0' in metrics.text
    assert not any(secret in metrics.text for secret in (*SECRETS, "play-secret"))


def test_without_a_token_everything_stays_open(open_app: TestClient) -> None:
    assert open_app.post("/api/v1/session/start", json=secret_start()).status_code == 200
    for path in SESSION_DATA:
        assert open_app.get(path).status_code == 200, path
    for path in PAGES:
        page = open_app.get(path)
        assert page.status_code == 200 and REPOSITORY in page.text, path
    assert open_app.get("/login").headers["location"] == "/"  # nothing to log in to


# --- 3. limits ---------------------------------------------------------------------------------------

OVER_THE_LIMITS = {
    "play_id": ({"play_id": "p" * (limits.PLAY_ID_CHARACTERS + 1)}, limits.PLAY_ID_CHARACTERS),
    "repository": ({"play_id": "p", "repository": "r" * 100_000}, limits.NAME_CHARACTERS),
    "service": ({"play_id": "p", "service": "s" * (limits.NAME_CHARACTERS + 1)}, limits.NAME_CHARACTERS),
    "cto_config.agents": (
        {"play_id": "p", "cto_config": {"agents": {f"a{n}": {} for n in range(limits.AGENTS + 1)}}},
        limits.AGENTS,
    ),
    "model": (
        {"play_id": "p", "cto_config": {"agents": {"rex": {"model": "m" * 100_000}}}},
        limits.NAME_CHARACTERS,
    ),
    "remote": (
        {
            "play_id": "p",
            "cto_config": {"agents": {"rex": {"tools": {"remote": ["t"] * (limits.TOOLS + 1)}}}},
        },
        limits.TOOLS,
    ),
    "localServers": (
        {
            "play_id": "p",
            "cto_config": {
                "agents": {
                    "rex": {"tools": {"localServers": {str(n): {} for n in range(limits.LOCAL_SERVERS + 1)}}}
                }
            },
        },
        limits.LOCAL_SERVERS,
    ),
    "tasks": ({"play_id": "p", "tasks": [{"id": str(n)} for n in range(limits.TASKS + 1)]}, limits.TASKS),
    "tasks.0.title": (
        {"play_id": "p", "tasks": [{"id": "1", "title": "t" * 100_000}]},
        limits.TITLE_CHARACTERS,
    ),
    "tasks.0.dependencies": (
        {"play_id": "p", "tasks": [{"id": "1", "dependencies": ["1"] * (limits.DEPENDENCIES + 1)}]},
        limits.DEPENDENCIES,
    ),
    "tasks.0.priority": ({"play_id": "p", "tasks": [{"id": "1", "priority": 2**63}]}, limits.PRIORITY),
}


@pytest.mark.parametrize("field", list(OVER_THE_LIMITS))
def test_a_start_over_a_limit_is_a_422_naming_it(open_app: TestClient, field: str) -> None:
    payload, limit = OVER_THE_LIMITS[field]
    answer = open_app.post("/api/v1/session/start", json=payload)
    assert_json_error(answer, 422, field, str(limit))
    assert stored_count(open_app) == 0


def test_a_start_at_the_limits_is_accepted(open_app: TestClient) -> None:
    name = "n" * limits.NAME_CHARACTERS
    payload = {
        "play_id": "p" * limits.PLAY_ID_CHARACTERS,
        "repository": name,
        "cto_config": {
            "agents": {f"{n}".rjust(limits.NAME_CHARACTERS, "a"): {} for n in range(limits.AGENTS)}
        },
        "tasks": [{"id": name, "title": "t" * limits.TITLE_CHARACTERS}],
    }
    assert open_app.post("/api/v1/session/start", json=payload).status_code == 200


def everything_in(value: Any) -> Iterator[Any]:
    """A JSON value, and every key and value inside it."""
    yield value
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from everything_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from everything_in(item)


def test_the_platforms_own_start_is_far_within_the_limits() -> None:
    """shared/reference/cto's body, as the MCP server sends it: its texts a quarter of the length limits at
    most, its lists and maps a tenth of the count limits."""
    parts = list(everything_in(FROM_MCP))
    longest_text = max(len(part) for part in parts if isinstance(part, str))
    largest_collection = max(
        len(part) for part in parts if isinstance(part, dict | list) and part is not FROM_MCP
    )
    assert longest_text * 4 <= limits.NAME_CHARACTERS
    assert len(FROM_MCP["play_id"]) * 4 <= limits.PLAY_ID_CHARACTERS
    assert largest_collection * 10 <= min(limits.AGENTS, limits.LOCAL_SERVERS, limits.TOOLS, limits.TASKS)


def test_active_sessions_are_bounded_and_a_duplicate_is_still_a_409(tmp_path: Path) -> None:
    with app_client(tmp_path, token=None, max_active_sessions=2, max_sessions=10) as client:
        for play_id in ("play-1", "play-2"):
            assert client.post("/api/v1/session/start", json={"play_id": play_id}).status_code == 200
        assert client.post("/api/v1/session/start", json={"play_id": "play-2"}).status_code == 409
        refused = client.post("/api/v1/session/start", json={"play_id": "play-3"})
        assert_json_error(refused, 429, "at most 2", "HEALER_MAX_ACTIVE_SESSIONS")
        assert stored_count(client) == 2
        client.post("/api/v1/session/play-1/end", json={"status": "completed"})
        assert client.post("/api/v1/session/start", json={"play_id": "play-3"}).status_code == 200


def test_stored_sessions_are_bounded_by_dropping_the_oldest_ended(tmp_path: Path) -> None:
    with app_client(tmp_path, token=None, max_active_sessions=1, max_sessions=3) as client:
        for n in range(5):
            assert client.post("/api/v1/session/start", json={"play_id": f"play-{n}"}).status_code == 200
            assert (
                client.post(f"/api/v1/session/play-{n}/end", json={"status": "completed"}).status_code == 200
            )
        kept = [s["play_id"] for s in client.get("/api/v1/sessions").json()["sessions"]]
        assert sorted(kept) == ["play-2", "play-3", "play-4"]
        assert client.get("/api/v1/session/play-0").status_code == 404


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.live)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/healer.db"
    else:
        with scratch_postgres() as url:
            yield url


def test_the_store_counts_sessions_and_drops_the_oldest_ended_only(database: str) -> None:
    async def count_and_prune() -> tuple[int, int, int, list[str]]:
        async with open_store(database) as store:
            for n, status in enumerate(["completed", "active", "failed", "completed", "active"]):
                moment = rfc3339(n * 1_000_000_000)
                session = Session(play_id=f"play-{n}", started_at=moment, last_updated=moment, status=status)
                await store.start(session)
            counts = (await store.count(), await store.count("active"))
            dropped = await store.prune(3)
            assert await store.prune(3) == 0
            return *counts, dropped, sorted(s.play_id for s in await store.list())

    total, active, dropped, kept = asyncio.run(count_and_prune())
    assert (total, active, dropped) == (5, 2, 2)
    assert kept == ["play-1", "play-3", "play-4"]  # play-0 and play-2 ended longest ago


def test_the_session_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SessionLimits() == SessionLimits(max_active_sessions=100, max_sessions=10_000)
    monkeypatch.setenv("HEALER_MAX_ACTIVE_SESSIONS", "7")
    monkeypatch.setenv("HEALER_MAX_SESSIONS", "70")
    assert SessionLimits() == SessionLimits(max_active_sessions=7, max_sessions=70)
    monkeypatch.setenv("HEALER_MAX_SESSIONS", "6")
    with pytest.raises(ValidationError, match="HEALER_MAX_SESSIONS must be at least"):
        SessionLimits()


# --- 4. oversize bodies ------------------------------------------------------------------------------


def chunks_of(total: int) -> Iterator[bytes]:
    """A JSON body of `total` bytes, streamed without a Content-Length."""
    yield b'{"play_id": "p", "repository": "'
    for _ in range(total // 65536):
        yield b"r" * 65536
    yield b'"}'


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_a_streamed_body_over_the_limit_is_a_413(guarded: TestClient, path: str) -> None:
    answer = guarded.post(path, content=chunks_of(2 * MIB), headers=BEARER | JSON)
    assert "content-length" not in answer.request.headers
    assert_json_error(answer, 413, "bytes")


@pytest.mark.parametrize("declared", [str(2 * MIB), "9" * 5000, "12abc"])
def test_a_declared_length_over_the_limit_is_a_413(guarded: TestClient, declared: str) -> None:
    answer = guarded.post(
        "/api/v1/session/start", content=b"{}", headers=BEARER | JSON | {"content-length": declared}
    )
    assert_json_error(answer, 413, "bytes")


# --- 5. the token before the body --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"play_id": 1, "tasks": "many"}',
        with_mark({"play_id": MARK}, f'"{SURROGATE}"').encode(),
        json.dumps({"play_id": "p", "repository": "r" * 100_000}).encode(),
    ],
)
@pytest.mark.parametrize("path", WRITE_PATHS)
def test_without_the_token_a_malformed_body_is_a_401(guarded: TestClient, path: str, body: bytes) -> None:
    assert_json_error(guarded.post(path, content=body, headers=JSON), 401, "bearer token")
    with_token = guarded.post(path, content=body, headers=BEARER | JSON)
    assert with_token.status_code in (400, 404, 422), with_token.text


def test_without_the_token_a_streamed_body_is_a_401(guarded: TestClient) -> None:
    answer = guarded.post("/api/v1/session/start", content=chunks_of(2 * MIB), headers=JSON)
    assert_json_error(answer, 401, "bearer token")
    assert stored_count(guarded, BEARER) == 1


# --- a live `healer serve` with a token set ----------------------------------------------------------


def test_a_live_server_with_a_token_refuses_the_abuses_and_shows_nothing_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALER_MAX_ACTIVE_SESSIONS", "2")
    play_id = f"{FROM_MCP['play_id']}-{uuid.uuid4().hex[:6]}"
    mcp_start = FROM_MCP | {"play_id": play_id}
    with (
        serving(f"sqlite:///{tmp_path}/healer.db", token=TOKEN) as (url, _),
        httpx.Client(base_url=url) as api,
    ):
        assert api.post("/api/v1/session/start", json=mcp_start, headers=BEARER).status_code == 200
        abuses = {
            "a lone surrogate": with_mark({"play_id": "p", "repository": MARK}, f'"{SURROGATE}"'),
            "a 100,000-character field": json.dumps(
                {"play_id": "p", "tasks": [{"id": "1", "title": "t" * 100_000}]}
            ),
            "a body that is not JSON": "{not json",
        }
        for abuse, body in abuses.items():
            answer = api.post("/api/v1/session/start", content=body, headers=BEARER | JSON)
            assert answer.status_code in (400, 422) and answer.json()["message"], abuse
            assert_json_error(
                api.post("/api/v1/session/start", content=body, headers=JSON), 401, "bearer token"
            )
        streamed = api.post("/api/v1/session/start", content=chunks_of(2 * MIB), headers=BEARER | JSON)
        assert_json_error(streamed, 413, "bytes")
        assert (
            api.post("/api/v1/session/start", json={"play_id": "play-second"}, headers=BEARER).status_code
            == 200
        )
        third = api.post("/api/v1/session/start", json={"play_id": "play-third"}, headers=BEARER)
        assert_json_error(third, 429, "HEALER_MAX_ACTIVE_SESSIONS")

        seen_without_token = [
            api.get(path) for path in (*SESSION_DATA[:2], f"/api/v1/session/{play_id}", *PAGES)
        ]
        seen_without_token.append(api.get(f"/sessions/{play_id}"))
        seen_without_token.append(api.get("/metrics"))
        for answer in seen_without_token:
            assert answer.status_code in (200, 303, 401), answer.request.url
            assert "5dlabs/cto" not in answer.text and play_id not in answer.text, answer.request.url
            assert "5DLabs-Rex" not in answer.text and "claude-opus" not in answer.text
        assert api.get("/health").status_code == 200 and api.get("/metrics").status_code == 200
        listed = api.get("/api/v1/sessions", headers=BEARER).json()
        assert sorted(s["play_id"] for s in listed["sessions"]) == sorted([play_id, "play-second"])
