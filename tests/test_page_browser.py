"""The pages for people (api/page.py) as a person sees them: a real `healer serve` over a seeded SQLite
database, looked at by Debian's Chromium in headless mode (`--dump-dom` for what is on the page,
`--screenshot` for a picture of it, saved under tests/artifacts/).

Nothing is installed from Python: the test needs /usr/bin/chromium (`apt-get install -y chromium`) and is
skipped without it, unless HEALER_REQUIRE_BROWSER=1 says a missing browser is a failure.

The sessions are written after the server is up: the scheduler only runs the sessions it finds
active at startup (and the ones started through the API), and a run would replace the seeded detections
with what its graphs found (nothing). The server also gets no Loki, GitHub, Discord, LLM or Kubernetes
settings, so whatever it did run would read and write nothing outside the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.models import Detection, Session
from api.store import open_store
from graph.session import AgentConfig, CtoConfig, Task

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
HEALER = ROOT / ".venv" / "bin" / "healer"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Settings that would make the server talk to something outside the test.
OUTSIDE = (
    "LOKI_URL", "LOKI_TENANT", "GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_INSTALLATION_ID", "GITHUB_API_URL", "KUBECONFIG", "DISCORD_WEBHOOK_URL", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "HEALER_API_TOKEN", "HEALER_CTO_CONFIG",
)  # fmt: skip
ACTIVE, DONE = "play-browser-active", "play-browser-done"
REPOSITORY = "5dlabs/cto-parallel-test"
ISSUES = {n: f"https://github.com/{REPOSITORY}/issues/{n}" for n in (101, 102, 103)}


# --- the seeded sessions ------------------------------------------------------------------------------


def _agents() -> CtoConfig:
    return CtoConfig(
        agents={
            "rex": AgentConfig(github_app="5DLabs-Rex", cli="claude", model="claude-sonnet"),
            "blaze": AgentConfig(github_app="5DLabs-Blaze", cli="codex", model="gpt-5"),
        }
    )


def active_session() -> Session:
    # listed out of time order: the timeline must sort them
    detections = [
        Detection(
            detected_at="2025-06-01T10:20:00.000000Z",
            code="A7",
            severity="medium",
            description="retry storm: 40 retries in 60 s",
            agent="blaze",
            github_issue=ISSUES[103],
        ),
        Detection(
            detected_at="2025-06-01T10:05:00.000000Z",
            code="A2",
            severity="critical",
            description="runtime panic: index out of range",
            agent="rex",
            remediation_spawned=True,
            github_issue=ISSUES[101],
        ),
        Detection(
            detected_at="2025-06-01T10:12:30.000000Z",
            code="A4",
            severity="high",
            description="tool missing: github_create_pull_request",
            agent="rex",
            github_issue=ISSUES[102],
        ),
    ]
    return Session(
        play_id=ACTIVE,
        repository=REPOSITORY,
        namespace="cto-browser-test",
        cto_config=_agents(),
        tasks=[
            Task(id="1", title="Implement auth", agent_hint="rex"),
            Task(id="2", title="Frontend login form", agent_hint="blaze", dependencies=["1"]),
        ],
        started_at="2025-06-01T10:00:00.000000Z",
        last_updated="2025-06-01T10:20:05.000000Z",
        last_line_at="2025-06-01T10:21:00.000000Z",
        issues=detections,
        pull_requests=[f"https://github.com/{REPOSITORY}/pull/104"],
    )


def completed_session() -> Session:
    return Session(
        play_id=DONE,
        repository="5dlabs/other-repo",
        namespace="cto-browser-test",
        cto_config=CtoConfig(agents={"cipher": AgentConfig(github_app="5DLabs-Cipher")}),
        started_at="2025-05-30T08:00:00.000000Z",
        last_updated="2025-05-30T09:00:00.000000Z",
        status="completed",
        ended_reason="the play is over: every CodeRun is terminal",
    )


def seed(database_url: str, *sessions: Session) -> None:
    async def write() -> None:
        async with open_store(database_url) as store:
            for session in sessions:
                assert await store.start(session), session.play_id

    asyncio.run(write())


# --- the browser and the server -----------------------------------------------------------------------


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("HEALER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"HEALER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(base: str, server: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"healer serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"healer serve did not answer /health in {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def serving(tmp_path: Path, **env_extra: str) -> Iterator[tuple[str, str]]:
    """A real `healer serve` over a SQLite file in tmp_path; yields its base URL and database URL."""
    database_url = f"sqlite:///{tmp_path}/healer.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE}
    env |= {"HEALER_DATABASE_URL": database_url, "HEALER_KUBERNETES": "false", **env_extra}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(HEALER), "serve", "--port", str(port), "--log-level", "warning"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, process, log)
        yield base, database_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with serving(tmp_path) as served:
        yield served


def run_chromium(browser: Path, tmp_path: Path, *args: str, timeout_s: float = 60) -> str:
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    command = [str(browser), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its helper processes are in its group, ended with it on a timeout
        env=os.environ | {"HOME": profile},
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish in {timeout_s} s: {' '.join(args)}")
    assert process.returncode == 0, f"chromium failed ({process.returncode}): {err.decode()[-2000:]}"
    return out.decode()


def screenshot(browser: Path, tmp_path: Path, url: str, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    run_chromium(browser, tmp_path, f"--screenshot={path}", "--window-size=1280,900", url)
    assert path.exists(), f"chromium wrote no screenshot of {url}"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), f"{path} is not a PNG"
    assert len(data) > 20_000, f"{path} is {len(data)} bytes: a blank page?"
    return path


# --- reading the rendered DOM -------------------------------------------------------------------------


class Page(HTMLParser):
    """What a person sees: the page's text, its links, and its tables' rows as cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._href: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("style", "script", "title"):
            self._skip += 1
        elif tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self._href = attributes.get("href")
            self.links.setdefault(self._href or "", "")
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._skip -= 1
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            lines = "".join(self._cell).split("\n")  # a <br> stays a line break
            self._row.append("\n".join(" ".join(line.split()) for line in lines).strip())
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._href is not None:
            self.links[self._href] += data

    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def rows(self, table: str) -> list[dict[str, str]]:
        head, *body = self.tables[table]
        return [dict(zip(head, row, strict=True)) for row in body]


def dump(browser: Path, tmp_path: Path, url: str) -> Page:
    dom = run_chromium(browser, tmp_path, "--dump-dom", url)
    assert "<html" in dom, f"chromium gave no DOM for {url}: {dom[:500]!r}"
    page = Page()
    page.feed(dom)
    page.close()
    return page


def flat(cell: str) -> str:
    return " ".join(cell.split())


# --- the test -----------------------------------------------------------------------------------------


def test_pages_in_a_real_browser(chromium: Path, server: tuple[str, str], tmp_path: Path) -> None:
    base, database_url = server
    empty = dump(chromium, tmp_path, f"{base}/")
    assert "No sessions yet — POST /api/v1/session/start" in empty.visible()
    assert not empty.tables

    seed(database_url, active_session(), completed_session())  # after startup: see the module's doc

    overview = dump(chromium, tmp_path, f"{base}/")
    text = overview.visible()
    assert "No sessions yet" not in text
    assert (
        text.index("Active sessions") < text.index(ACTIVE) < text.index("Recent sessions") < text.index(DONE)
    )

    (active,) = overview.rows("active")
    assert flat(active["Play"]) == ACTIVE
    assert flat(active["Repository"]) == REPOSITORY
    assert flat(active["Status"]) == "active"
    assert flat(active["Findings"]) == "1 critical 1 high 1 medium 0 low"
    assert flat(active["GitHub issues and PRs"]) == "#101 #102 #103 PR #104"  # issues in time order
    assert active["Agents"].split("\n") == ["rex (5DLabs-Rex)", "blaze (5DLabs-Blaze)"]
    assert flat(active["Started"]) == "2025-06-01 10:00:00 UTC"
    assert flat(active["Last updated"]) == "2025-06-01 10:20:05 UTC"
    assert flat(active["Last log line seen"]) == "2025-06-01 10:21:00 UTC"

    (done,) = overview.rows("recent")
    assert flat(done["Play"]) == DONE
    assert flat(done["Status"]) == "completed"
    assert flat(done["Findings"]) == "0 critical 0 high 0 medium 0 low"
    assert flat(done["GitHub issues and PRs"]) == "—"
    assert flat(done["Agents"]) == "cipher (5DLabs-Cipher)"
    assert flat(done["Last log line seen"]) == "—"

    assert overview.links[f"/sessions/{ACTIVE}"] == ACTIVE
    assert overview.links[f"/sessions/{DONE}"] == DONE
    for number, url in ISSUES.items():
        assert overview.links[url] == f"#{number}"

    detail = dump(chromium, tmp_path, f"{base}/sessions/{ACTIVE}")
    assert ACTIVE in detail.visible()
    assert "Last log line seen 2025-06-01 10:21:00 UTC" in detail.visible()
    agents = {row["Agent"]: row["GitHub app"] for row in detail.rows("agents")}
    assert agents == {"rex": "5DLabs-Rex", "blaze": "5DLabs-Blaze"}
    assert [row["Title"] for row in detail.rows("tasks")] == ["Implement auth", "Frontend login form"]
    timeline = detail.rows("timeline")
    assert [(row["Code"], row["Type"], row["Severity"], row["Agent"]) for row in timeline] == [
        ("A2", "agent_failure", "critical", "rex"),
        ("A4", "stuck", "high", "rex"),
        ("A7", "agent_failure", "medium", "blaze"),
    ]
    assert [row["Detected"] for row in timeline] == [
        "2025-06-01 10:05:00 UTC",
        "2025-06-01 10:12:30 UTC",
        "2025-06-01 10:20:00 UTC",
    ]
    assert [row["Remediation"] for row in timeline] == ["yes", "no", "no"]
    assert [row["GitHub issue"] for row in timeline] == ["#101", "#102", "#103"]
    assert timeline[0]["Description"] == "runtime panic: index out of range"
    assert detail.links["/"] == "← all sessions"

    screenshot(chromium, tmp_path, f"{base}/", "page-overview.png")
    screenshot(chromium, tmp_path, f"{base}/sessions/{ACTIVE}", "page-session.png")


def test_with_a_token_a_browser_gets_the_login_form_and_no_session(chromium: Path, tmp_path: Path) -> None:
    with serving(tmp_path, HEALER_API_TOKEN="browser-token") as (base, database_url):
        seed(database_url, active_session(), completed_session())
        for path in ("/", f"/sessions/{ACTIVE}"):
            page = dump(chromium, tmp_path, f"{base}{path}")  # redirected to /login?next=…
            text = page.visible()
            assert "wants its token" in text and "Log in" in text, text
            assert ACTIVE not in text and REPOSITORY not in text and "5DLabs-Rex" not in text
