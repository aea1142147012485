"""`healer replay`: run the real graphs offline over a recorded scenario (cassettes/<scenario>/).

A scenario folder holds `scenario.json` (its clock, the addresses and models it was recorded with, its
settings, and any fault it injects), `session.json` (the session start payload) and `http/` (the recorded
traffic, one file per outside system). The replay runs session passes on a virtual clock until the play is
over, every incident they open until it ends or waits for a human, with every socket blocked.
The same code records a scenario (`record=True`) against live services.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kubernetes.client as k8s
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings, settings_from
from graph.context import HealerContext, SessionBudget
from graph.llm import chat_model
from graph.session import SessionStart
from graph.state import Json
from runtime.runner import PlayRunner
from runtime.services import shared_matcher
from tools.discord import DiscordConfig, DiscordNotifier
from tools.github import GitHubConfig, GitHubTools
from tools.kubernetes import KubernetesTools, api_client
from tools.loki import LokiClient, LokiConfig
from tools.recording import replaying, sent, unplayed_writes
from tools.slack import SlackConfig, SlackNotifier

STRICT = ConfigDict(extra="forbid")
T = TypeVar("T")
# Where a scenario says each system is: live addresses are rewritten to these while recording.
STABLE_ADDRESSES = {
    "loki": "http://loki:3100",
    "kubernetes": "https://kubernetes.default.svc",
    "github": "https://api.github.com",
    "discord": "https://discord.example/webhooks/healer-replay",  # not a real webhook: nothing to redact
    "slack": "https://slack.example/services/healer-replay",
    "llm": "http://llm:18080/v1",
}


class ScenarioError(Exception):
    """The scenario folder is missing, incomplete or malformed."""


class Clock(BaseModel):
    model_config = STRICT

    start: datetime
    step_s: float = Field(default=15, gt=0)
    max_passes: int = Field(default=40, ge=1, le=1_000_000)
    settle_ticks: int = Field(default=40, ge=0, le=10_000)  # after the play: ticks for waiting incidents
    # A live recording's clock: the wall clock as each pass read it (nanoseconds), replayed in order;
    # past the last reading the clock steps by `step_s`.
    readings_ns: list[int] = Field(default_factory=list)


class Services(BaseModel):
    """The stable address of each outside system the scenario used (absent: not used)."""

    model_config = STRICT

    loki: str | None = None
    kubernetes: str | None = None
    github: str | None = None
    discord: str | None = None
    slack: str | None = None
    llm: str | None = None


class Fault(BaseModel):
    """Kill the run right after a call returns, as a crash between a write and its checkpoint would."""

    model_config = STRICT

    crash_after: str  # a GitHubTools method, e.g. "create_issue"
    times: int = 1


class Scenario(BaseModel):
    model_config = STRICT

    name: str
    description: str
    clock: Clock
    services: Services
    evaluation_model: str = "qwen2.5-coder-1.5b"
    remediation_model: str = "qwen2.5-coder-1.5b"
    settings: dict[str, Any] = Field(default_factory=dict)
    faults: list[Fault] = Field(default_factory=list)
    decisions: list[Json] = Field(default_factory=list)  # human decisions given, in order, to escalations


@dataclass
class LoadedScenario:
    folder: Path
    scenario: Scenario
    session: SessionStart

    @property
    def traffic(self) -> Path:
        return self.folder / "http"


def load(folder: Path, *, recorded: bool = True) -> LoadedScenario:
    """The scenario in `folder`; `recorded=False` when its traffic is about to be recorded."""
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such scenario folder")
    texts = {}
    for name in ("scenario.json", "session.json"):
        try:
            texts[name] = (folder / name).read_text()
        except OSError as error:
            raise ScenarioError(f"{folder}: cannot read {name}: {error.strerror or error}") from None
    scenario = _parsed(folder, "scenario.json", lambda: Scenario.model_validate_json(texts["scenario.json"]))
    session = _parsed(folder, "session.json", lambda: SessionStart.from_json_bytes(texts["session.json"]))
    if recorded and not any((folder / "http").glob("*.yaml")):
        raise ScenarioError(f"{folder}: no recorded traffic in {folder / 'http'}")
    return LoadedScenario(folder, scenario, session)


def _parsed(folder: Path, name: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(top level)"
        raise ScenarioError(f"{folder / name}: {where}: {first['msg']}") from None


class SimulatedCrash(BaseException):
    """What a fault raises: a BaseException, so no handler in the graph mistakes it for an error."""


class VirtualClock:
    def __init__(self, start_ns: int, step_ns: int, readings_ns: list[int] | None = None) -> None:
        self.now_ns, self.step_ns = start_ns, step_ns
        self._next = list(readings_ns or [])[1:]

    def __call__(self) -> int:
        return self.now_ns

    def advance(self) -> None:
        self.now_ns = self._next.pop(0) if self._next else self.now_ns + self.step_ns


def settings_for(scenario: Scenario, database_url: str) -> HealerSettings:
    """The scenario's settings alone: the environment of whoever replays must not change the run."""
    values = {
        "loki_url": scenario.services.loki,
        "openai_base_url": scenario.services.llm,
        "evaluation_model": scenario.evaluation_model,
        "remediation_model": scenario.remediation_model,
        "database_url": database_url,
        **scenario.settings,
    }
    return settings_from(values)


@contextlib.asynccontextmanager
async def services_for(
    loaded: LoadedScenario, settings: HealerSettings, live: dict[str, str]
) -> AsyncIterator[HealerContext]:
    """Clients for the scenario's systems; `live` replaces an address while recording."""
    services, session = loaded.scenario.services, loaded.session
    address = {name: live.get(name, getattr(services, name)) for name in Services.model_fields}
    async with contextlib.AsyncExitStack() as stack:
        context = HealerContext(
            settings=settings, matcher=shared_matcher(), budget=SessionBudget(settings.session_llm_calls)
        )
        if address["loki"]:
            context.loki = await stack.enter_async_context(LokiClient(LokiConfig(url=address["loki"])))
        if address["kubernetes"]:
            configuration = k8s.Configuration(host=address["kubernetes"])
            context.kube = KubernetesTools(
                api_client(configuration), session.namespace or "default", sleep=lambda _s: None
            )
        if address["github"] and session.repository:
            config = GitHubConfig(
                token="replay", base_url=address["github"], write_spacing_s=None, max_retries=1
            )
            context.github = GitHubTools(config, session.repository, sleep=lambda _s: None)
            stack.callback(context.github.close)
        if address["discord"]:
            context.discord = await stack.enter_async_context(
                DiscordNotifier(DiscordConfig(webhook_url=address["discord"]))
            )
        if address["slack"]:
            context.slack = await stack.enter_async_context(
                SlackNotifier(SlackConfig(webhook_url=address["slack"]))
            )
        if address["llm"]:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.llm_timeout_s))
            for role, model in (
                ("evaluation_llm", settings.evaluation_model),
                ("remediation_llm", settings.remediation_model),
            ):
                setattr(
                    context, role, chat_model(settings, model, http, base_url=address["llm"], max_retries=0)
                )
        yield context


def _inject(context: HealerContext, faults: list[Fault], fired: dict[str, int]) -> None:
    github = context.github
    for fault in faults:
        if github is None or fired.get(fault.crash_after, 0) >= fault.times:
            continue
        real = getattr(github, fault.crash_after)

        def crashing(*args: Any, _real: Any = real, _name: str = fault.crash_after, **kwargs: Any) -> Any:
            result = _real(*args, **kwargs)
            if fired.get(_name, 0) < next(f.times for f in faults if f.crash_after == _name):
                fired[_name] = fired.get(_name, 0) + 1
                raise SimulatedCrash(f"killed right after {_name}")
            return result

        setattr(github, fault.crash_after, crashing)


@dataclass
class ReplayResult:
    loaded: LoadedScenario
    session: Json
    incidents: list[Any]
    crashes: int
    sent: list[Json] = field(default_factory=list)  # the requests the run made (recorded ones it played)


async def replay(
    folder: Path,
    *,
    database_url: str | None = None,
    record: bool = False,
    live: dict[str, str] | None = None,
    rewrites: dict[str, str] | None = None,
    clock: VirtualClock | None = None,
    whole: bool = True,
) -> ReplayResult:
    loaded = load(folder, recorded=not record)
    scenario = loaded.scenario
    services = {name: url for name, url in scenario.services.model_dump().items() if url}
    with contextlib.ExitStack() as stack:
        if database_url is None:
            database_url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/replay.db"
        cassette = stack.enter_context(replaying(loaded.traffic, services, record=record, rewrites=rewrites))
        result = await _run(loaded, settings_for(scenario, database_url), live or {}, clock)
        if record:
            return result
        if whole and (missing := unplayed_writes(cassette)):
            raise ScenarioError(
                f"the run did not make {len(missing)} recorded writes (or made them differently): "
                + "; ".join(missing[:5])
            )
        return dataclasses.replace(result, sent=sent(cassette))


def clock_of(scenario: Scenario) -> VirtualClock:
    clock = scenario.clock
    start_ns = clock.readings_ns[0] if clock.readings_ns else int(clock.start.timestamp()) * 1_000_000_000
    return VirtualClock(start_ns, int(clock.step_s * 1e9), clock.readings_ns)


async def _run(
    loaded: LoadedScenario, settings: HealerSettings, live: dict[str, str], clock: VirtualClock | None
) -> ReplayResult:
    scenario = loaded.scenario
    clock = clock or clock_of(scenario)
    fired: dict[str, int] = {}
    crashes = 0
    decisions = list(scenario.decisions)
    async with open_checkpointer(settings.database_url) as saver:
        while True:
            try:
                async with services_for(loaded, settings, live) as context:
                    _inject(context, scenario.faults, fired)
                    runner = PlayRunner(loaded.session, context, saver, clock=clock)
                    await _drive(runner, clock, scenario.clock, decisions)
                    incidents = await runner.all_incidents()
                    return ReplayResult(loaded, await runner.session_values(), incidents, crashes)
            except SimulatedCrash:
                crashes += 1  # a new runner, as a restarted process would build, over the same database


async def _drive(runner: PlayRunner, clock: VirtualClock, bounds: Clock, decisions: list[Json]) -> None:
    passes = (await runner.session_values()).get("passes", 0)
    play_over = (await runner.session_values()).get("play_over", False)
    while not play_over and passes < bounds.max_passes:
        values = await runner.run_pass()
        passes, play_over = values.get("passes", passes), values.get("play_over", False)
        await runner.run_due_incidents()
        await _decide(runner, decisions)
        clock.advance()
    for _ in range(bounds.settle_ticks):
        views = await runner.all_incidents()
        if all(view.wake_at_ns is None for view in views):
            await _decide(runner, decisions)
            if all(view.wake_at_ns is None for view in await runner.all_incidents()):
                return
        await runner.run_due_incidents()
        clock.advance()


async def _decide(runner: PlayRunner, decisions: list[Json]) -> None:
    for view in await runner.all_incidents():
        if view.waiting_for_human and decisions:
            await runner.decide(view.fingerprint, decisions.pop(0))
