"""Two `healer serve` replicas on one Postgres (runtime/queue.py): sessions started through both are
shared, each read by one replica at a time, and when one is killed with `kill -9` the other reads all of
its sessions within 30 s, the steps it was in the middle of included.

The replicas read a Loki that takes `LOKI_DELAY_S` to answer (a stub in this process: the local Loki
answers in milliseconds), so that at the kill the victim is in the middle of several steps: those are the
jobs only the stalled-job takeover hands back. The schedule table says who read each session and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, live_url, scratch_postgres
from tests.emulators.github import GitHubEmulator
from tests.http_harness import send_body
from tests.scenarios.definitions import REPOSITORY
from tests.test_mcp import TOKEN, panic_play
from tests.test_mcp import escalated as mcp_escalated
from tests.test_mcp import start as start_with_token
from tests.test_page_browser import free_port, wait_for_health

pytestmark = pytest.mark.live
HEALER = REPO / ".venv" / "bin" / "healer"
LOKI_DELAY_S = 2.0
SESSIONS_PER_REPLICA = 8
TAKEOVER_WITHIN_S = 30.0


class _SlowLoki(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(LOKI_DELAY_S)
        send_body(
            self,
            200,
            json.dumps({"status": "success", "data": {"resultType": "streams", "result": []}}).encode(),
        )

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def slow_loki() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowLoki)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def replica(
    name: str, database_url: str, loki_url: str, tmp_path: Path, **env_extra: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "GITHUB_TOKEN")}
    env |= {
        "HEALER_DATABASE_URL": database_url,
        "HEALER_KUBERNETES": "false",
        "HEALER_REPLICA_NAME": name,
        "LOKI_URL": loki_url,
        **env_extra,
    }
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(HEALER), "serve", "--port", str(port), "--interval", "1", "--log-level", "warning"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process, log)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def start(base: str, play_id: str, session: dict | None = None) -> None:
    body = session or {"play_id": play_id, "repository": "5dlabs/cto-parallel-test", "namespace": "cto"}
    answer = httpx.post(f"{base}/api/v1/session/start", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def schedule(database_url: str) -> dict[str, dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        rows = connection.execute(
            "SELECT play_id, reader, last_reader, last_read_at, steps, overlapped FROM healer_schedule"
        ).fetchall()
    return {row["play_id"]: row for row in rows}


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_the_survivor_of_a_kill_reads_every_session_within_30_s(slow_loki: str, tmp_path: Path) -> None:
    with (
        scratch_postgres() as database_url,
        replica("replica-a", database_url, slow_loki, tmp_path) as (a, victim),
        replica("replica-b", database_url, slow_loki, tmp_path) as (b, _survivor),
    ):
        plays = [f"play-a{n}" for n in range(SESSIONS_PER_REPLICA)]
        plays += [f"play-b{n}" for n in range(SESSIONS_PER_REPLICA)]
        for play_id in plays:
            start(a if play_id.startswith("play-a") else b, play_id)

        # shared: every session read, and both replicas reading
        assert wait_until(lambda: all(r["steps"] >= 2 for r in schedule(database_url).values()), 60)
        assert wait_until(
            lambda: {r["last_reader"] for r in schedule(database_url).values()} == {"replica-a", "replica-b"},
            30,
        ), schedule(database_url)
        assert set(schedule(database_url)) == set(plays)

        # kill -9 while the victim is in the middle of steps (each takes LOKI_DELAY_S)
        assert wait_until(
            lambda: any(r["reader"] == "replica-a" for r in schedule(database_url).values()), 30
        )
        in_flight = {p for p, r in schedule(database_url).items() if r["reader"] == "replica-a"}
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=5)
        killed_at = datetime.now(UTC)

        def read_by_the_survivor_since_the_kill() -> bool:
            rows = schedule(database_url)
            return all(
                rows[p]["last_reader"] == "replica-b" and rows[p]["last_read_at"] > killed_at for p in plays
            )

        taken_over = wait_until(read_by_the_survivor_since_the_kill, TAKEOVER_WITHIN_S)
        rows = schedule(database_url)
        late = {
            p: (r["last_reader"], r["last_read_at"])
            for p, r in rows.items()
            if r["last_read_at"] <= killed_at
        }
        assert taken_over, f"not read by the survivor {TAKEOVER_WITHIN_S:.0f} s after the kill: {late}"
        assert in_flight, "the victim was in the middle of no step: the takeover was not exercised"
        assert all(r["overlapped"] == 0 for r in rows.values()), rows
        listed = httpx.get(f"{b}/api/v1/sessions/active", timeout=10).json()
        assert {s["play_id"] for s in listed["sessions"]} == set(plays)


def _is_issue_creation(method: str, path: str) -> bool:
    return method == "POST" and path.split("?")[0].endswith("/issues")


@pytest.mark.parametrize("held", ["the issue", "the write after the issue"])
def test_a_replica_killed_in_the_middle_of_an_incident_writes_nothing_twice(
    held: str, tmp_path: Path
) -> None:
    """blaze panics (R1, escalated to a human). A GitHub write is held until the replica that sent it is
    killed, then lands: its answer is lost. Holding the issue's creation kills the replica inside the
    node that files it (the retry must find the issue, not file another); holding the next write kills
    it after that node's checkpoint. The survivor finishes the incident, and GitHub holds one issue and no
    comment twice."""
    loki = live_url("LOKI_URL")
    session = panic_play(loki)
    play_id = session["play_id"]
    filed, holding, killed = threading.Event(), threading.Event(), threading.Event()

    def before_write(method: str, path: str) -> None:
        if method == "GET":
            return
        due = _is_issue_creation(method, path) if held == "the issue" else filed.is_set()
        if due and not holding.is_set():
            holding.set()
            killed.wait(60)
        if _is_issue_creation(method, path):
            filed.set()

    github_env = {"GITHUB_TOKEN": "emulated", "HEALER_API_TOKEN": TOKEN}
    with (
        scratch_postgres() as database_url,
        GitHubEmulator(REPOSITORY, {}, intercept=before_write) as github,
        replica("replica-a", database_url, loki, tmp_path, GITHUB_API_URL=github.url, **github_env) as a,
        replica("replica-b", database_url, loki, tmp_path, GITHUB_API_URL=github.url, **github_env) as b,
    ):
        start_with_token(a[0], session)
        assert holding.wait(90), f"{held} was never written: {github.writes()}"
        reader = schedule(database_url)[play_id]["reader"]
        assert reader in ("replica-a", "replica-b"), schedule(database_url)
        (_, victim), (survivor_url, _) = (a, b) if reader == "replica-a" else (b, a)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=5)
        killed.set()

        def escalated() -> bool:
            issues = [i for i in github.issues.values() if "pull_request" not in i]
            return bool(issues) and all(
                "needs-human" in {label["name"] for label in issue["labels"]} for issue in issues
            )

        assert wait_until(escalated, TAKEOVER_WITHIN_S + 30), github.writes()
        created = [p for m, p in github.writes() if _is_issue_creation(m, p)]
        assert len(created) == 1, github.writes()
        for number, comments in github.comments.items():
            bodies = [comment["body"] for comment in comments]
            assert len(bodies) == len(set(bodies)), (number, bodies)
        survivor = "replica-b" if reader == "replica-a" else "replica-a"
        assert wait_until(lambda: schedule(database_url)[play_id]["last_reader"] == survivor, 30)

        # the human's decision, through the survivor, is a job under the session's lock
        waiting = asyncio.run(mcp_escalated(survivor_url, play_id))
        decided = httpx.post(
            f"{survivor_url}/api/v1/session/{play_id}/incidents/{waiting['fingerprint']}/decision",
            json={"action": "resolve", "note": "fixed by hand"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=90,
        )
        assert decided.status_code == 200 and decided.json()["incident"]["status"] == "resolved", decided.text
        [issue] = [i for i in github.issues.values() if "pull_request" not in i]
        assert issue["state"] == "closed"
