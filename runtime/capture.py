"""`healer watch --record DIR`: a live session kept as a scenario folder, so that a production incident (a
bad diagnosis, a missed failure) becomes a regression case.

The folder holds what `healer replay` needs — `scenario.json` (the clock as each pass read it, the addresses,
models and settings), `session.json`, `http/` (every request to Loki, Kubernetes, GitHub, Discord and the LLM,
addresses rewritten to stable ones, secrets redacted) — and the draft of an evaluation case for `healer eval`:
`logs/<pod>.log` (the lines the run read, redacted) and `case.yaml`, which is scored once someone writes the
statements a right analysis contains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes.config import ConfigException

from graph.config import HealerSettings, settings_from
from graph.session import SessionStart
from graph.state import Json
from runtime.replay import STABLE_ADDRESSES, Scenario
from runtime.runner import IncidentView
from runtime.watch import PassClock, watch
from tools.kubernetes import KubeError, api_client_from_environment
from tools.recording import interactions_of, replaying
from tools.redact import redact
from tools.timestamps import parse_rfc3339_ns

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
_POD_LOG = re.compile(r"/api/v1/namespaces/[^/]+/pods/(?P<pod>[^/?]+)/log")
# Settings a scenario does not carry: where the systems are (its `services`), who Healer is to them, its
# models (fields of their own) and where it keeps its checkpoints (a replay picks its own).
NOT_REPLAYED = frozenset(
    {
        "loki_url",
        "loki_tenant",
        "github_token",
        "github_app_id",
        "github_app_private_key",
        "github_installation_id",
        "github_api_url",
        "kubeconfig",
        "kubernetes_enabled",
        "discord_webhook_url",
        "slack_webhook_url",
        "openai_api_key",
        "openai_base_url",
        "evaluation_model",
        "remediation_model",
        "database_url",
        "api_token",
        "cto_config",
    }
)


class CaptureError(Exception):
    """The recording cannot start: its folder is taken, or nothing is configured to record."""


@dataclass
class Captured:
    folder: Path
    session: Json
    incidents: list[IncidentView]
    passes: int
    requests: int
    case_pods: int  # pods whose lines went into the evaluation case (0: no case written)


def live_addresses(settings: HealerSettings) -> dict[str, str]:
    """The address of every system the live run will talk to, as the settings configure them."""
    found: dict[str, str] = {}
    if settings.loki_url:
        found["loki"] = settings.loki_url.rstrip("/")
    if settings.kubernetes_enabled:
        # unconfigured, the live run leaves Kubernetes out too (runtime/services.py)
        with contextlib.suppress(ConfigException, OSError, KubeError):
            found["kubernetes"] = api_client_from_environment(settings.kubeconfig).configuration.host
    if settings.github_configured():
        found["github"] = settings.github_api_url.rstrip("/")
    if settings.discord_webhook_url:
        found["discord"] = settings.discord_webhook_url.get_secret_value()
    if settings.slack_webhook_url:
        found["slack"] = settings.slack_webhook_url.get_secret_value()
    if settings.openai_api_key or settings.openai_base_url:
        found["llm"] = (settings.openai_base_url or OPENAI_DEFAULT_URL).rstrip("/")
    return found


def replayed_settings(settings: HealerSettings) -> dict[str, Any]:
    """The settings that differ from the defaults and shape the run: a replay must run with them."""
    live, defaults = settings.model_dump(mode="json"), settings_from({}).model_dump(mode="json")
    return {
        name: value for name, value in live.items() if name not in NOT_REPLAYED and value != defaults[name]
    }


async def record_watch(
    folder: Path,
    session_text: str,
    settings: HealerSettings,
    *,
    passes: int | None = None,
    interval_s: float = 5.0,
    on_pass: Callable[[Json], None] | None = None,
) -> Captured:
    """Watch the session live, as `healer watch` does, and keep it in `folder` (new or empty)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CaptureError(f"{folder} already exists and is not empty: record into a new folder")
    session = SessionStart.from_json_bytes(session_text)
    live = live_addresses(settings)
    if "loki" not in live and "kubernetes" not in live:
        raise CaptureError("neither LOKI_URL nor a Kubernetes configuration: there is no log to watch")
    services = {name: STABLE_ADDRESSES[name] for name in live}
    rewrites = {address: services[name] for name, address in live.items()}
    clock = PassClock()
    stop = asyncio.Event()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # a fresh database: the replay starts from nothing, so must the run it replays
        fresh = settings.model_copy(update={"database_url": f"sqlite:///{scratch}/healer.db"})
        with (
            replaying(folder / "http", services, record=True, rewrites=rewrites) as cassette,
            _StopAfterPass(stop),
        ):
            values, incidents = await watch(
                session,
                fresh,
                passes=passes,
                interval_s=interval_s,
                on_pass=on_pass,
                clock=clock,
                concurrency=1,  # as the replay runs them: identical requests answered in the same order
                stop=stop,
            )
            requests = len(cassette.requests)
    scenario = _scenario(folder.name, session.play_id, clock, interval_s, services, settings)
    (folder / "scenario.json").write_text(scenario.model_dump_json(indent=2) + "\n")
    (folder / "session.json").write_text(redact(session_text).rstrip("\n") + "\n")
    pods = _write_case(folder, session.play_id, values)
    (folder / "README.md").write_text(_readme(folder.name, scenario, pods))
    return Captured(folder, values, incidents, len(clock.readings_ns), requests, pods)


class _StopAfterPass:
    """Ctrl-C ends the watch after the pass under way, so the recording holds whole passes only; a second
    Ctrl-C interrupts at once."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals
            loop.add_signal_handler(signal.SIGINT, self._first)

    def _first(self) -> None:
        self.stop.set()
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)


def _scenario(
    name: str,
    play_id: str,
    clock: PassClock,
    interval_s: float,
    services: dict[str, str],
    settings: HealerSettings,
) -> Scenario:
    start = datetime.fromtimestamp(clock.readings_ns[0] / 1e9, tz=UTC)
    return Scenario.model_validate(
        {
            "name": name,
            "description": (
                f"Play {play_id}, recorded live by `healer watch --record` from "
                f"{start.isoformat(timespec='seconds')} ({len(clock.readings_ns)} passes)"
            ),
            "clock": {
                "start": start,
                "step_s": interval_s,
                "max_passes": len(clock.readings_ns),
                "settle_ticks": 0,  # the live watch ended with its last pass
                "readings_ns": clock.readings_ns,
            },
            "services": services,
            "evaluation_model": settings.evaluation_model,
            "remediation_model": settings.remediation_model,
            "settings": replayed_settings(settings),
        }
    )


def recorded_lines(traffic: Path) -> dict[str, list[tuple[int, str, dict[str, str]]]]:
    """Every log line the run read from Loki (redacted as recorded), by pod, in time order, once each."""
    seen: dict[str, dict[tuple[int, str], dict[str, str]]] = {}
    for interaction in interactions_of(traffic):
        uri = interaction["request"]["uri"]
        if pod_log := _POD_LOG.search(uri):  # no Loki: the pods' logs from the Kubernetes API
            for raw in str(interaction["response"]["body"].get("string", "")).splitlines():
                stamp, _, line = raw.partition(" ")
                if (at := parse_rfc3339_ns(stamp)) is not None:
                    seen.setdefault(pod_log["pod"], {})[(at, line)] = {"pod": pod_log["pod"]}
            continue
        if "/loki/api/v1/query_range" not in uri:
            continue
        try:
            body = json.loads(interaction["response"]["body"]["string"])
        except (ValueError, TypeError, KeyError):
            continue
        for stream in (body.get("data") or {}).get("result") or []:
            labels = stream.get("stream") or {}
            pod = labels.get("pod") or "unknown-pod"
            for timestamp, line in stream.get("values") or []:
                seen.setdefault(pod, {})[(int(timestamp), line)] = labels
    return {
        pod: [(ts, line, labels) for (ts, line), labels in sorted(lines.items(), key=lambda item: item[0][0])]
        for pod, lines in seen.items()
    }


def _write_case(folder: Path, play_id: str, values: Json) -> int:
    by_pod = recorded_lines(folder / "http")
    if not by_pod:
        return 0
    pod_agents = values.get("pod_agents") or {}
    (folder / "logs").mkdir(exist_ok=True)
    logs = []
    for pod, lines in sorted(by_pod.items()):
        path = f"logs/{pod}.log"
        (folder / path).write_text("".join(f"{line}\n" for _, line, _ in lines))
        agent = pod_agents.get(pod) or lines[0][2].get("agent")
        logs.append({"path": path, "pod": pod} | ({"agent": agent} if agent else {}))
    case = {
        "name": folder.name,
        "description": f"Play {play_id}, recorded live by healer watch --record",
        "source": "healer watch --record: the lines Healer read from Loki, redacted, one file per pod",
        "tags": ["recorded"],
        "logs": logs,
        "session": "session.json",
        "healthy": False,
        "expected": [],
        "forbidden": [],
    }
    (folder / "case.yaml").write_text(CASE_HEADER + yaml.safe_dump(case, sort_keys=False, allow_unicode=True))
    return len(logs)


CASE_HEADER = """\
# An evaluation case drafted by `healer watch --record`. Before `healer eval` scores it, say what a right
# analysis contains: under `expected`, each statement with the patterns (regular expressions, any case)
# that must all match its root cause, summary or facts; under `forbidden`, the conclusions it must not
# draw; or set `healthy: true` if nothing should have been filed. Then copy the folder into a suite
# (`evals/`) or score it alone: `healer eval --record <this folder>` with a model configured, then
# `healer eval <this folder>` offline. Kubernetes facts can be added as a text file named in `k8s`.
"""


def _readme(name: str, scenario: Scenario, case_pods: int) -> str:
    systems = ", ".join(
        f"{system} (`http/{system}.yaml`)" for system in scenario.services.model_dump(exclude_none=True)
    )
    case = (
        f"`case.yaml` and `logs/` ({case_pods} pods): the draft of an evaluation case; add its expected "
        "statements (see the comment at its top), then `healer eval` scores it."
        if case_pods
        else "No evaluation case: the run read no log line."
    )
    return f"""# {name}

{scenario.description}.

## How it was made

`healer watch --record {name}` against live services: {systems}. Every request was kept with vcrpy as it
was made, the live addresses rewritten to the stable ones of `scenario.json` and secrets filtered from
headers, query strings and bodies before anything was written. Each pass read the wall clock once; the
readings are `clock.readings_ns`, so the replay's requests carry the same times. Incidents ran one at a
time, as the replay runs them. Settings that differ from the defaults are in `scenario.json`.

- Replay: `healer replay {name}` (offline; it fails if a recorded write is not made).
- {case}
"""
