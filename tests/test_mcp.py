"""Healer as an MCP server (api/mcp.py), through the MCP SDK's own client against a real `healer serve`:
the tools it lists, a session and an incident read, an escalated incident decided with the API token.

The play is the runtime-panic scenario's blaze, its lines pushed into the local Loki in a namespace of
its own; GitHub is the emulator, so the issue Healer files and closes is seen from GitHub's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import live_url
from tests.emulators.github import GitHubEmulator
from tests.scenarios.definitions import REPOSITORY, RUNTIME_PANIC
from tests.test_page_browser import serving

pytestmark = pytest.mark.live

TOKEN = "mcp-test-token-" + "0" * 24
READERS = {"list_sessions", "get_session", "list_incidents", "get_incident", "explain_play"}


def client(base: str) -> Client:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return Client(streamable_http_client(f"{base}/mcp", http_client=httpx2.AsyncClient(headers=headers)))


async def call(base: str, tool: str, **arguments: Any) -> Any:
    async with client(base) as mcp:
        result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def start(base: str, session: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{base}/api/v1/session/start",
        data=json.dumps(session).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


async def escalated(base: str, play_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        incidents = (await call(base, "list_incidents", play_id=play_id))["incidents"]
        if waiting := [i for i in incidents if i["waiting_for_human"]]:
            return waiting[0]
        await asyncio.sleep(1)
    pytest.fail(f"no incident of {play_id} waited for a human within {timeout_s} s: {incidents}")


def panic_play(loki: str) -> dict[str, Any]:
    """The session start of a play whose blaze panicked (its lines pushed into Loki, a namespace of its own)."""
    namespace, play_id = f"mcp-{uuid.uuid4().hex[:8]}", f"play-mcp-{uuid.uuid4().hex[:6]}"
    [agent] = RUNTIME_PANIC.agents
    now = time.time_ns()
    values = [[str(now - 30 * 10**9 + int((offset + 20) * 1e9)), text] for offset, text in agent.lines]
    stream = {"namespace": namespace, "pod": f"{play_id}-blaze-t2-x7k2p", "agent": agent.app}
    body = {"streams": [{"stream": stream, "values": values}]}
    httpx.post(f"{loki}/loki/api/v1/push", json=body).raise_for_status()
    time.sleep(2)  # qryn batches its inserts
    return RUNTIME_PANIC.session() | {"play_id": play_id, "namespace": namespace}


@contextlib.contextmanager
def panic_server(tmp_path: Path) -> Iterator[tuple[str, str, GitHubEmulator]]:
    """A live `healer serve` (the local Loki, the GitHub emulator, the API token) watching a play whose
    blaze panicked: its base URL, the play's id and the emulator."""
    loki = live_url("LOKI_URL")
    session = panic_play(loki)
    with (
        GitHubEmulator(REPOSITORY, {}) as github,
        serving(
            tmp_path,
            LOKI_URL=loki,
            GITHUB_TOKEN="emulated",
            GITHUB_API_URL=github.url,
            HEALER_API_TOKEN=TOKEN,
        ) as (base, _database),
    ):
        start(base, session)
        yield base, session["play_id"], github


def test_an_agent_reads_a_play_and_decides_its_escalated_incident_over_mcp(tmp_path: Path) -> None:
    with panic_server(tmp_path) as (base, play_id, github):
        asyncio.run(_converse(base, play_id, github))


async def _converse(base: str, play_id: str, github: GitHubEmulator) -> None:
    async with client(base) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        missing = await mcp.call_tool("get_incident", {"play_id": play_id, "fingerprint": "0" * 16})
        unknown = await mcp.call_tool("get_session", {"play_id": "no-such-play"})
    assert set(tools) == READERS | {"decide_incident"}
    assert all(tools[name].annotations.read_only_hint for name in READERS)
    assert not tools["decide_incident"].annotations.read_only_hint
    assert tools["get_incident"].output_schema["properties"]["analysis"]
    assert missing.is_error and f"play {play_id} has no incident {'0' * 16}" in missing.content[0].text
    assert unknown.is_error and "no session for play no-such-play" in unknown.content[0].text

    waiting = await escalated(base, play_id)
    assert (waiting["code"], waiting["agent"], waiting["priority"]) == ("R1", "blaze", "P0")
    sessions = await call(base, "list_sessions", active_only=True)
    assert play_id in [s["play_id"] for s in sessions["sessions"]]
    detail = await call(base, "get_session", play_id=play_id)
    assert detail["agents"] == ["blaze"] and detail["detections"][0]["code"] == "R1"

    incident = await call(base, "get_incident", play_id=play_id, fingerprint=waiting["fingerprint"])
    assert "panicked" in incident["line"] and incident["issue_url"]
    assert any("called `Option::unwrap()` on a `None` value" in line for line in incident["evidence"])
    assert {"issue filed", "escalated"} <= {entry["event"] for entry in incident["timeline"]}
    assert incident["question"]
    story = await call(base, "explain_play", play_id=play_id)
    assert "R1" in story["text"] and story["waiting_for_human"] and story["done"]

    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for token in (None, "wrong"):  # the whole endpoint wants the token, as the session API does
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        refused = httpx.post(f"{base}/mcp", json=ping, headers=headers | {"Accept": "application/json"})
        assert refused.status_code == 401 and "API token" in refused.json()["message"]
    decided = await call(
        base,
        "decide_incident",
        play_id=play_id,
        fingerprint=waiting["fingerprint"],
        action="resolve",
        note="fixed",
    )
    assert decided["status"] == "resolved"
    [issue] = [i for i in github.issues.values() if "pull_request" not in i]
    assert issue["state"] == "closed"
    again = await call(base, "get_incident", play_id=play_id, fingerprint=waiting["fingerprint"])
    assert (again["status"], again["waiting_for_human"]) == ("resolved", False)
