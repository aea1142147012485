"""Shared test fixtures: the shared folder beside the repository, and every matcher backend."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.triage.matcher import BACKENDS, Matcher

# compiled matcher databases go to a throwaway folder, not the user's ~/.cache
os.environ.setdefault("HEALER_CACHE_DIR", tempfile.mkdtemp(prefix="healer-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# `re-combined` is the benchmark's strawman: correct but far too slow to scan generated logs with
FAST_BACKENDS = ("hyperscan", "re2", "re")


@pytest.fixture(scope="session", params=FAST_BACKENDS)
def matcher(request: pytest.FixtureRequest) -> Matcher:
    return BACKENDS[request.param]()


def live_url(variable: str) -> str:
    """The URL of a live local service for a `live` test; skips without it, unless CI requires it."""
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("HEALER_REQUIRE_LIVE") == "1":
        pytest.fail(f"{variable} is not set but HEALER_REQUIRE_LIVE=1: start the service (see .ci/run)")
    pytest.skip(f"{variable} not set: start the local service to run live tests")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new, empty database on the live test Postgres (HEALER_TEST_POSTGRES_URL), dropped afterwards."""
    import psycopg  # only the Postgres tests need it

    server = live_url("HEALER_TEST_POSTGRES_URL")
    name = f"healer_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
