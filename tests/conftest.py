"""Shared test fixtures: the shared folder beside the repository, and every matcher backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.triage.matcher import BACKENDS, Matcher

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# `re-combined` is the benchmark's strawman: correct but far too slow to scan generated logs with
FAST_BACKENDS = ("hyperscan", "re2", "re")


@pytest.fixture(scope="session", params=FAST_BACKENDS)
def matcher(request: pytest.FixtureRequest) -> Matcher:
    return BACKENDS[request.param]()
