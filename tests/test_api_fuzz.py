"""Fuzzes the session API (DESIGN §2) from its own OpenAPI description with Schemathesis.

Every operation of `/openapi.json` gets valid and invalid requests (paths, bodies, content types); none may
answer 5xx, and every 4xx must be a JSON object with a "message" (DESIGN §9: every error a JSON body with a
message). It runs twice: on a server without a token, and on one with `HEALER_API_TOKEN` set, where each
request carries the token and Schemathesis's `ignored_auth` check also sends it without the token and with a
wrong one, which must be refused.

The app is reached in-process (ASGI) rather than as a `healer serve` process: no port to find, no process to
reap, and an exception inside a handler fails the test with its own traceback instead of a bare 500. The app
is the one `healer serve` runs — `server.create_app(settings)` with its lifespan, so a real SQLite store and
scheduler — over a temporary database, with no outside system configured: the sessions the fuzzer starts run
their passes without touching the network.

What the server checks by hand is not in the description FastAPI publishes, so the fuzzer is told: the
patterns of `play_id` and `fingerprint` (api/http.py), without which nearly every generated request would stop
at the id check with a 422 and never reach the store or the scheduler; and, should the description leave it
out, the body of `POST /api/v1/session/start` (`SessionStart`). Invalid ids and bodies are still generated
(Schemathesis's negative mode).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth
from starlette.testclient import TestClient

from api.http import FINGERPRINT, PLAY_ID
from graph.config import settings_from
from graph.session import SessionStart
from server import create_app

START = "/api/v1/session/start"
TOKEN = "fuzz-token"


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The description, told what the server checks by hand: the ids' patterns (and the start body, while
    the description leaves it out)."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    start = document["paths"][START]["post"]
    if "requestBody" not in start:
        payload = SessionStart.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in payload.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["SessionStart"] = payload
        start["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionStart"}}},
        }
    body = start["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    components[body]["properties"]["play_id"].setdefault("pattern", PLAY_ID.pattern)
    patterns = {"play_id": PLAY_ID.pattern, "fingerprint": FINGERPRINT.pattern}
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in patterns:
                    parameter["schema"].setdefault("pattern", patterns[parameter["name"]])
    return document


# Built at import rather than in a fixture: `schemathesis.pytest.from_fixture` (4.32.5) sets `Item._nodeid`,
# which pytest 9 no longer has. Nothing runs until the first request: the databases' folder is made by the
# apps' lifespans then, and `cleanup` removes it.
DATABASES = Path(tempfile.gettempdir()) / f"healer-api-fuzz-{uuid.uuid4().hex}"


def served_description(app: FastAPI) -> dict[str, Any]:
    """GET /openapi.json, without running the app's lifespan (no database, no scheduler at collection)."""
    response = TestClient(app).get("/openapi.json")  # not entered: the lifespan does not run
    response.raise_for_status()
    return response.json()


def fuzzed_app(name: str, **settings: Any) -> schemathesis.BaseSchema:
    """The app over a database of its own, and its description told what the server checks by hand."""
    database = DATABASES / name / "healer.db"
    app = create_app(
        settings_from({"database_url": f"sqlite:///{database}", "kubernetes_enabled": False, **settings})
    )
    schema = schemathesis.openapi.from_dict(fuzzable(served_description(app)))
    schema.app = app  # requests go to the app in-process, over ASGI, with its lifespan running
    return schema


schema = fuzzed_app("open")
schema_with_token = fuzzed_app("token", api_token=TOKEN)

# Schemathesis's own strategies draw from `random`, which this Hypothesis deprecates: not this test's doing.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # the schedulers stop before their databases go
    shutil.rmtree(DATABASES, ignore_errors=True)


def error_has_message(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 4xx is a JSON object with a "message" string."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:200]!r}"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise AssertionError(f'{response.status_code} answer has no "message": {body!r:.300}')


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_fuzz(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, error_has_message])


@schema_with_token.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_fuzz_with_a_token(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error, error_has_message, ignored_auth],
    )
