"""Running one case: the deterministic triage over its logs, then the real evaluate node over the incident
it would open, with the case's logs and facts as what the investigation may read.

Lines carry synthetic times (a fixed start, 1 ms apart, in file order), so a run is the same every time and
its prompts match their recording byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models import BaseChatModel

from evaluation.cases import Case, CaseError
from graph.config import HealerSettings
from graph.context import HealerContext
from graph.nodes.evaluate import evaluate
from graph.seed import incident_input
from graph.session import SessionStart
from graph.triage import preflight
from graph.triage.catalogue import Action, Phase, Priority, Severity
from graph.triage.engine import AgentNames, TriageEngine, mark_repeated_errors
from graph.triage.matcher import best_matcher
from graph.triage.models import Finding, LogLine
from graph.triage.spans import spans_of_lines
from tools.loki_streams import LokiEntry
from tools.play_logs import MemoryPlayLogs, TextClusterFacts
from tools.redact import redact

START_NS = int(datetime(2026, 11, 24, 6, 0, tzinfo=UTC).timestamp()) * 10**9
STEP_NS = 10**6
WINDOW = 8  # lines each side of the finding, as HEALER_EVIDENCE_LINES
LINE_CHARS = 400
PRIORITY = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


@dataclass
class Outcome:
    """What Healer made of a case before scoring."""

    triage: str  # "found", "asked" (nothing found, the question asked) or "nothing"
    findings: list[Finding]
    analysis: dict[str, Any] | None = None
    note: str | None = None
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    shown: list[str] = field(default_factory=list)  # what evidence may quote: the case's lines, the finding


@dataclass(frozen=True)
class Lines:
    entries: list[LokiEntry]

    def formatted(self, index: int) -> str:
        entry = self.entries[index]
        when = datetime.fromtimestamp(entry.timestamp_ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")
        text = redact(entry.line)
        text = text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "\u2026"
        return f"{when.replace('+00:00', 'Z')} [{entry.labels['pod']}] {text}"


def lines_of(case: Case) -> Lines:
    entries: list[LokiEntry] = []
    for log in case.logs:
        path = (case.folder / log.path).resolve()
        if not path.is_file():
            raise CaseError(f"{case.name}: its log {log.path} is missing ({path})")
        labels = {"pod": log.pod, "namespace": "eval"} | ({"agent": log.agent} if log.agent else {})
        for text in path.read_text(errors="replace").splitlines():
            entries.append(LokiEntry(START_NS + len(entries) * STEP_NS, text, labels))
    return Lines(entries)


def session_of(case: Case) -> SessionStart:
    if case.session:
        return SessionStart.from_json_bytes((case.folder / case.session).read_bytes())
    return SessionStart.model_validate({"play_id": f"eval-{case.name}", "namespace": "eval"})


def triage(case: Case, lines: Lines, session: SessionStart) -> list[Finding]:
    config = session.cto_config
    agents = AgentNames(config.agents if config else (), config.agent_aliases() if config else None)
    found: list[Finding] = []
    inventory, spans = [], {}
    for log in case.logs:
        mine = [e for e in lines.entries if e.labels["pod"] == log.pod]
        engine = TriageEngine(
            session.play_id,
            matcher=best_matcher(),
            agents=agents,
            default_agent=log.agent,
            default_pod=log.pod,
        )
        log_lines = [LogLine(e.line, e.timestamp_ns, e.labels) for e in mine]
        result = engine.scan_lines(log_lines)
        result.extend(engine.close_streams())
        found += result.findings
        inventory += (
            result.inventory if case.session else [i for i in result.inventory if i.tools is not None]
        )
        spans |= spans_of_lines(log_lines, engine)
    found = mark_repeated_errors(found)
    found += preflight.findings(session.play_id, preflight.check(config, inventory, spans, complete=True))
    return found


def chosen(findings: list[Finding]) -> Finding:
    """The incident a case is scored on: the highest priority, then the earliest."""
    return min(
        findings, key=lambda f: (PRIORITY[f.priority], f.timestamp or datetime.max.replace(tzinfo=UTC))
    )


def _asked(case: Case) -> Finding:
    question = case.question or ""
    return Finding(
        code="ASK",
        name="Operator question",
        phase=Phase.RUNTIME,
        severity=Severity.MEDIUM,
        priority=Priority.P2,
        action=Action.INVESTIGATE,
        line_no=None,
        text=question,
        matched=question,
        fingerprint=f"ask-{case.name}",
    )


def _evidence(lines: Lines, finding: Finding) -> list[str]:
    if finding.timestamp is None:
        center = len(lines.entries) - 1 - WINDOW  # the last lines, as a tail would show
    else:
        at = int(finding.timestamp.timestamp() * 1e9)
        center = next(
            (i for i, e in enumerate(lines.entries) if e.timestamp_ns >= at), len(lines.entries) - 1
        )
    indexes = range(max(0, center - WINDOW), min(len(lines.entries), center + WINDOW + 1))
    return [lines.formatted(i) for i in indexes]


class _Runtime:
    def __init__(self, context: HealerContext) -> None:
        self.context = context


async def run_case(case: Case, settings: HealerSettings, llm: BaseChatModel | None) -> Outcome:
    lines, session = lines_of(case), session_of(case)
    findings = triage(case, lines, session)
    if case.healthy or (not findings and not case.question):
        return Outcome("found" if findings else "nothing", findings)
    finding = chosen(findings) if findings else _asked(case)
    pods = {log.pod: log.agent or log.pod for log in case.logs}
    seed = {"finding": finding.model_dump(mode="json"), "evidence": _evidence(lines, finding)}
    now = lines.entries[-1].timestamp_ns + STEP_NS
    state = incident_input(session, seed, {"pod_agents": pods}, now, settings)
    facts = (case.folder / case.k8s).read_text() if case.k8s else ""
    context = HealerContext(
        settings=settings,
        evaluation_llm=llm,
        play_logs=MemoryPlayLogs(lines.entries),
        cluster_facts=TextClusterFacts(facts) if facts else None,
    )
    started = time.perf_counter()
    update = await evaluate(state, _Runtime(context))
    return Outcome(
        "found" if findings else "asked",
        findings,
        analysis=update.get("analysis"),
        note=update.get("analysis_note"),
        tool_calls=len(update.get("investigation", [])),
        prompt_tokens=update.get("prompt_tokens", 0),
        completion_tokens=update.get("completion_tokens", 0),
        latency_s=time.perf_counter() - started,
        # what evaluate keeps as evidence: lines shown or returned, else the finding's own text
        shown=[*state["evidence"], *(lines.formatted(i) for i in range(len(lines.entries))), finding.text],
    )
