"""`healer watch --record`: a live session against the local Loki and the emulators, kept as a scenario folder
that replays offline sending what the live run sent, with no secret in it, and drafts an evaluation case."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from evaluation.cases import CaseError, load_case
from evaluation.suite import run_suite
from graph.config import settings_from
from runtime.capture import CaptureError, record_watch
from runtime.replay import replay
from tests.conftest import live_url
from tests.emulators.discord import WEBHOOK_TOKEN, DiscordEmulator
from tests.emulators.github import GitHubEmulator
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tests.scenarios.definitions import NAMESPACE, REPOSITORY, RUNTIME_PANIC
from tests.test_cli import healer
from tools.recording import WRITES

pytestmark = pytest.mark.live

SECOND = 10**9
LEAKED_TOKEN = "ghp_" + "R3cordedT0kenThatMustNeverLeak0123456"  # split: no scanner flags this file


def kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "healer", "user": {"token": "kube-token-not-recorded"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "healer"}}],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def push(loki_url: str, pod: str, lines: list[tuple[float, str]], start_ns: int) -> None:
    values = [[str(start_ns + int((offset + 20) * 1e6) * 1000), text] for offset, text in lines]
    stream = {"namespace": NAMESPACE, "pod": pod, "container": "agent"}
    body = {"streams": [{"stream": stream, "values": values}]}
    httpx.post(f"{loki_url}/loki/api/v1/push", json=body, timeout=30).raise_for_status()


def test_a_recorded_live_session_replays_offline_and_drafts_a_case(tmp_path: Path) -> None:
    loki = live_url("LOKI_URL")
    [agent] = RUNTIME_PANIC.agents
    play_id = f"play-rec-{uuid.uuid4().hex[:6]}"
    now = time.time_ns()
    run = EmulatedRun(
        name=f"{play_id}-blaze-t2",
        agent=agent.app,
        task_id=agent.task_id,
        phases=[(now - 60 * SECOND, "Running"), (now + 12 * SECOND, "Failed")],
        exit_code=101,
    )
    lines = [*agent.lines, (4.0, f"INFO pushing with GITHUB_TOKEN={LEAKED_TOKEN}")]
    session = RUNTIME_PANIC.session() | {"play_id": play_id}
    with (
        KubernetesEmulator(NAMESPACE, play_id, [run], clock=time.time_ns) as kube,
        GitHubEmulator(REPOSITORY, {}, clock=lambda: datetime.now(UTC)) as github,
        DiscordEmulator() as discord,
    ):
        push(loki, kube.pod_name(run), lines, now - 40 * SECOND)
        time.sleep(2)  # qryn batches its inserts
        settings = settings_from(
            {
                "loki_url": loki,
                "kubeconfig": str(kubeconfig(tmp_path / "kubeconfig", kube.url)),
                "github_token": "ghs_liveTokenNotInTheRecording0000000000",
                "github_api_url": github.url,
                "discord_webhook_url": discord.url,
                "evidence_lines": 6,  # not the default: the replay must run with it
            }
        )
        folder = tmp_path / "recorded-panic"
        captured = asyncio.run(record_watch(folder, json.dumps(session), settings, passes=30, interval_s=1.0))
        live_writes = [(method, path) for method, path in github.writes()]
        alerts = len(discord.messages)

    assert captured.passes >= 2
    assert live_writes and alerts
    scenario = json.loads((folder / "scenario.json").read_text())
    assert scenario["settings"] == {"evidence_lines": 6}
    assert len(scenario["clock"]["readings_ns"]) == captured.passes

    recorded = "\n".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    for secret in (LEAKED_TOKEN, WEBHOOK_TOKEN, "ghs_liveTokenNotInTheRecording", "kube-token-not-recorded"):
        assert secret not in recorded
    assert "127.0.0.1" not in recorded  # every live address rewritten to the scenario's stable one

    result = asyncio.run(replay(folder))
    replayed = [(r["method"], r["uri"]) for r in result.sent if r["method"] in WRITES]
    github_writes = [
        (m, u.removeprefix("https://api.github.com")) for m, u in replayed if "api.github.com" in u
    ]
    assert sorted(github_writes) == sorted(live_writes)
    assert sum("discord" in uri for _, uri in replayed) == alerts

    def outcome(views: list) -> list[tuple]:
        return sorted(
            (v.values["finding"]["code"], v.values["issue"]["number"], v.values["status"]) for v in views
        )

    assert "R1" in {code for code, _, _ in outcome(captured.incidents)}  # blaze's panic
    assert outcome(result.incidents) == outcome(captured.incidents)

    with pytest.raises(CaseError, match="needs expected statements"):
        load_case(folder)
    draft = yaml.safe_load((folder / "case.yaml").read_text())
    draft["expected"] = [{"statement": "the migration panicked", "patterns": ["panic"]}]
    (folder / "case.yaml").write_text(yaml.safe_dump(draft))
    case = load_case(folder)
    [log] = case.logs
    assert log.agent == "blaze"
    kept = (folder / log.path).read_text()
    assert "called `Option::unwrap()` on a `None` value" in kept and LEAKED_TOKEN not in kept
    # `healer eval` takes the folder as a suite of one; offline, its model answers are still to be recorded
    [scored] = asyncio.run(run_suite(folder, "with", settings_from({})))
    assert (scored.name, scored.status, scored.expected_total) == ("recorded-panic", "not recorded", 1)


def test_recording_into_a_folder_that_holds_something_is_refused(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("an earlier recording")
    settings = settings_from({"loki_url": "http://127.0.0.1:9"})
    with pytest.raises(CaptureError, match="not empty"):
        asyncio.run(record_watch(tmp_path, json.dumps(RUNTIME_PANIC.session()), settings))
    assert (tmp_path / "old.txt").read_text() == "an earlier recording"


def test_the_cli_records_a_session_that_healer_replay_runs(tmp_path: Path) -> None:
    loki = live_url("LOKI_URL")
    [agent] = RUNTIME_PANIC.agents
    play_id = f"play-cli-{uuid.uuid4().hex[:6]}"
    push(loki, f"{play_id}-blaze", agent.lines, time.time_ns() - 40 * SECOND)
    time.sleep(2)
    session = tmp_path / "session.json"
    session.write_text(json.dumps(RUNTIME_PANIC.session() | {"play_id": play_id}))
    folder = tmp_path / "recorded"
    env = {"LOKI_URL": loki, "HEALER_KUBERNETES": "false", "GITHUB_TOKEN": "", "DISCORD_WEBHOOK_URL": ""}
    env |= {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}  # empty: not set
    recorded = healer(
        "watch",
        "--session",
        str(session),
        "--record",
        str(folder),
        "--passes",
        "2",
        "--interval",
        "0.2",
        env=env,
    )
    assert recorded.returncode == 0, recorded.stderr.decode()
    assert "recorded 2 passes" in recorded.stderr.decode()
    replayed = healer("replay", str(folder), "--format", "json", env={"LOKI_URL": ""})
    assert replayed.returncode == 0, replayed.stderr.decode()
    report = json.loads(replayed.stdout)
    assert "R1" in {finding["code"] for finding in report["findings"]}


def test_the_cli_refuses_a_record_folder_in_use_and_a_database_beside_it(tmp_path: Path) -> None:
    session = tmp_path / "session.json"
    session.write_text(json.dumps(RUNTIME_PANIC.session()))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("kept")
    env = {"LOKI_URL": "http://127.0.0.1:9"}
    taken = healer("watch", "--session", str(session), "--record", str(tmp_path / "taken"), env=env)
    both = healer(
        "watch",
        "--session",
        str(session),
        "--record",
        str(tmp_path / "new"),
        "--database-url",
        "sqlite:///x.db",
        env=env,
    )
    for result, words in ((taken, "not empty"), (both, "--database-url")):
        err = result.stderr.decode()
        assert result.returncode == 2 and err.startswith("healer watch: error: ") and words in err, err
        assert "Traceback" not in err
    assert (tmp_path / "taken" / "keep.txt").read_text() == "kept"
