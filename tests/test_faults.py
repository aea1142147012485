"""Outside systems failing under a live `healer serve`: Loki answering 5xx or not in time, GitHub refusing
with a rate limit or 5xx, the LLM answering 500 or not in time, Postgres restarted. Each degrades what it
touches, visibly (the session page's "Outside systems", `/metrics`' `healer_degraded_sessions` and
outside-call errors), loses nothing, and recovers by itself once the system answers again.

The play is blaze's panic (R1) pushed into the local Loki; GitHub is the emulator; a fault is a switch the
test flips (`Switch`), in front of the real service where there is one (`LokiProxy`).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, live_url
from tests.emulators.github import GitHubEmulator
from tests.http_harness import Loopback, send_body
from tests.scenarios.definitions import REPOSITORY
from tests.test_mcp import panic_play
from tests.test_page_browser import free_port, serving
from tests.test_replicas import replica

pytestmark = pytest.mark.live
RECOVERY_S = 60.0


class Switch:
    """What a faulty service does now: `ok`, or the fault's name."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.refused = 0  # requests the fault answered


class LokiProxy(Loopback):
    """Forwards to the real Loki while the switch is `ok`; `5xx` answers 503, `timeout` answers nothing
    for longer than Healer waits (HEALER_LOKI_TIMEOUT_S=1)."""

    def __init__(self, target: str, switch: Switch) -> None:
        proxy = self
        self.queries = 0  # query_range requests passed on

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if switch.mode != "ok":
                    switch.refused += 1
                    if switch.mode == "timeout":
                        time.sleep(3)
                    send_body(self, 503, b'{"message": "loki is down"}')
                    return
                proxy.queries += "/query_range" in self.path
                answer = httpx.get(f"{target}{self.path}", timeout=30)
                send_body(
                    self, answer.status_code, answer.content, answer.headers.get("content-type", "text/plain")
                )

            def log_message(self, *_args: object) -> None:
                pass

        self.url = proxy._bind(Handler)


def wait_until(condition: Callable[[], object], timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.5)
    return condition()


def degraded(base: str, play_id: str) -> list[str]:
    """The session page's "Outside systems": what is failing now."""
    page = httpx.get(f"{base}/sessions/{play_id}", timeout=10).text
    block = re.search(r"<dd id='degraded'>(.*?)</dd>", page, re.S)
    assert block, page[-2000:]
    return re.findall(r"<li>(.*?)</li>", block.group(1), re.S)


def degraded_metric(base: str, system: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(rf'^healer_degraded_sessions{{system="{system}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def outside_errors(base: str, system: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(rf'^healer_outside_calls_total{{outcome="error",system="{system}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def start(base: str, session: dict) -> None:
    answer = httpx.post(f"{base}/api/v1/session/start", json=session, timeout=10)
    assert answer.status_code == 200, answer.text


def codes(base: str, play_id: str) -> list[str]:
    session = httpx.get(f"{base}/api/v1/session/{play_id}", timeout=10).json()["session"]
    return [d["code"] for d in session["issues"]]


def filed_issues(github: GitHubEmulator) -> list[dict]:
    return [i for i in github.issues.values() if "pull_request" not in i]


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_loki_failing_degrades_the_session_and_it_recovers_without_losing_a_line(
    fault: str, tmp_path: Path
) -> None:
    loki = live_url("LOKI_URL")
    session = panic_play(loki)
    play_id, switch = session["play_id"], Switch(fault)
    with (
        LokiProxy(loki, switch) as proxy,
        serving(tmp_path, LOKI_URL=proxy.url, HEALER_LOKI_TIMEOUT_S="1") as (
            base,
            _,
        ),
    ):
        start(base, session)
        problems = wait_until(lambda: degraded(base, play_id), RECOVERY_S)
        assert problems and all(p.startswith("loki:") for p in problems), problems
        assert degraded_metric(base, "loki") == 1 and outside_errors(base, "loki") >= 1
        assert codes(base, play_id) == [] and switch.refused

        switch.mode = "ok"
        assert wait_until(lambda: "R1" in codes(base, play_id), RECOVERY_S), "the panic was lost"
        assert wait_until(lambda: not degraded(base, play_id), RECOVERY_S), degraded(base, play_id)
        assert degraded_metric(base, "loki") == 0


RATE_LIMITED = (
    403,
    {
        "message": "API rate limit exceeded for installation.",
        "documentation_url": "https://docs.github.com/rest",
    },
    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0", "retry-after": "1"},
)
BAD_GATEWAY = (502, {"message": "Server Error"}, {})


@pytest.mark.parametrize("fault", ["rate limit", "5xx"])
def test_github_refusing_delays_the_issue_and_it_is_filed_once_it_answers(fault: str, tmp_path: Path) -> None:
    loki = live_url("LOKI_URL")
    session = panic_play(loki)
    play_id, switch = session["play_id"], Switch(fault)

    def refuse(_method: str, _path: str):
        if switch.mode == "ok":
            return None
        switch.refused += 1
        return RATE_LIMITED if switch.mode == "rate limit" else BAD_GATEWAY

    with (
        GitHubEmulator(REPOSITORY, {}, intercept=refuse) as github,
        serving(
            tmp_path,
            LOKI_URL=loki,
            GITHUB_TOKEN="emulated",
            GITHUB_API_URL=github.url,
            HEALER_GITHUB_RETRY_S="2",
        ) as (base, _),
    ):
        start(base, session)

        def incident_waits() -> list[str]:  # the pass's own problems come out first, before its incident runs
            return [p for p in degraded(base, play_id) if p.startswith("github: incident")]

        assert wait_until(incident_waits, RECOVERY_S), degraded(base, play_id)
        assert degraded_metric(base, "github") == 1 and outside_errors(base, "github") >= 1
        assert "R1" in codes(base, play_id) and not filed_issues(github)

        switch.mode = "ok"
        assert wait_until(lambda: filed_issues(github), RECOVERY_S), github.writes()
        assert wait_until(lambda: not degraded(base, play_id), RECOVERY_S), degraded(base, play_id)
        assert len(filed_issues(github)) == 1 and degraded_metric(base, "github") == 0


class FailingLlm(Loopback):
    """An OpenAI-compatible server that answers 500, or nothing for longer than Healer waits."""

    def __init__(self, fault: str) -> None:
        self.calls = 0
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                llm.calls += 1
                if fault == "timeout":
                    time.sleep(3)
                send_body(self, 500, b'{"error": {"message": "internal error", "type": "server_error"}}')

            def log_message(self, *_args: object) -> None:
                pass

        self.url = self._bind(Handler)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_the_llm_failing_leaves_the_issue_filed_from_the_finding(fault: str, tmp_path: Path) -> None:
    loki = live_url("LOKI_URL")
    session = panic_play(loki)
    play_id = session["play_id"]
    with (
        FailingLlm(fault) as llm,
        GitHubEmulator(REPOSITORY, {}) as github,
        serving(
            tmp_path,
            LOKI_URL=loki,
            GITHUB_TOKEN="emulated",
            GITHUB_API_URL=github.url,
            OPENAI_BASE_URL=f"{llm.url}/v1",
            OPENAI_API_KEY="sk-test-not-a-key",
            HEALER_LLM_TIMEOUT_S="1",
        ) as (base, _),
    ):
        start(base, session)
        assert wait_until(lambda: filed_issues(github), RECOVERY_S), "no issue without the model"
        page = httpx.get(f"{base}/sessions/{play_id}", timeout=10).text
        [fingerprint] = re.findall(r"data-fingerprint='([0-9a-f]{16})'", page)
        incident = httpx.get(f"{base}/sessions/{play_id}/incidents/{fingerprint}", timeout=10).text
        assert "no analysis" in incident and "the model call failed" in incident
        assert llm.calls >= 1 and outside_errors(base, "llm") >= 1
        [issue] = filed_issues(github)
        assert "panicked" in issue["body"]


def test_postgres_restarted_makes_the_server_unready_and_the_sessions_go_on(tmp_path: Path) -> None:
    """A Postgres of its own (the shared one serves the other tests), stopped and started under a
    replica: /ready says 503 while it is down, the server keeps answering, and the steps go on after."""
    port = free_port()
    services = REPO.parent / "shared" / "services"
    data = tmp_path / "pg"
    env = {"PORT": str(port), "FRESH": "1"}
    subprocess.run(["bash", services / "pg_start.sh", data], env=_with(env), check=True, capture_output=True)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with replica("replica-pg", url, "", tmp_path) as (base, _process):  # no Loki
            start(base, {"play_id": "play-pg", "repository": REPOSITORY, "namespace": "cto"})
            assert wait_until(lambda: _steps(url) >= 2, RECOVERY_S)
            subprocess.run(
                ["bash", services / "pg_stop.sh", data], env=_with(env), check=True, capture_output=True
            )
            assert wait_until(lambda: httpx.get(f"{base}/ready", timeout=10).status_code == 503, 30)
            assert httpx.get(f"{base}/health", timeout=10).status_code == 200

            env["FRESH"] = "0"
            subprocess.run(
                ["bash", services / "pg_start.sh", data], env=_with(env), check=True, capture_output=True
            )
            assert wait_until(lambda: httpx.get(f"{base}/ready", timeout=10).status_code == 200, RECOVERY_S)
            before = _steps(url)
            assert wait_until(lambda: _steps(url) > before + 1, RECOVERY_S), "no step after the restart"
            listed = httpx.get(f"{base}/api/v1/sessions/active", timeout=10).json()
            assert [s["play_id"] for s in listed["sessions"]] == ["play-pg"]
    finally:
        subprocess.run(["bash", services / "pg_stop.sh", data], env=_with(env), capture_output=True)


def _with(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def _steps(url: str) -> int:
    import psycopg

    with contextlib.suppress(psycopg.OperationalError), psycopg.connect(url, connect_timeout=2) as connection:
        row = connection.execute("SELECT steps FROM healer_schedule WHERE play_id = 'play-pg'").fetchone()
        return row[0] if row else 0
    return 0
