"""bench/podlog.py: the pod-shaped log of agent event streams, and what the triage engine finds in it."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import podlog
from graph.session import SessionStart
from graph.triage import preflight
from graph.triage.engine import AgentNames, TriageEngine
from graph.triage.spans import spans_of_text
from tests.conftest import SHARED

MAX_KB = 64
PLANT_EVERY = 150  # dense, so that a 2 MB log plants every kind
_LINE = re.compile(r"\[pod/([^/\]\s]+)/([^\]\s]+)\] (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)\Z")
_WRAPPER = re.compile(r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[INFO\] ")


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> tuple[podlog.PodLog, list[str]]:
    path = tmp_path_factory.mktemp("pod") / "pod.log"
    log = podlog.generate(path, size_mb=2, seed=7, max_result_kb=MAX_KB, plant_every=PLANT_EVERY)
    return log, log.path.read_text(encoding="utf-8").split("\n")[:-1]


def _text(line: str) -> str:
    """A line's own text: without the kubectl prefix and timestamp, and without a wrapper's `[ts] [INFO] `."""
    match = _LINE.match(line)
    assert match, line[:200]
    text = match.group(4)
    return text[wrapper.end() :] if (wrapper := _WRAPPER.match(text)) else text


def _one_line_event(line: str) -> dict[str, Any] | None:
    text = _text(line)
    if not (text.startswith("{") and text.endswith("}")):
        return None
    event = json.loads(text)
    return event if isinstance(event, dict) and "type" in event else None


def _event_at(lines: list[str], index: int) -> dict[str, Any] | None:
    """The JSON event that starts on `lines[index]`: one line, or pretty-printed up to its `}` at column 0."""
    if (event := _one_line_event(lines[index])) is not None or _text(lines[index]) != "{":
        return event
    pod = _LINE.match(lines[index]).group(1)
    body = ["{"]
    for line in lines[index + 1 :]:
        assert _LINE.match(line).group(1) == pod, "a pretty-printed event is not interleaved with other pods"
        body.append(_LINE.match(line).group(4))
        if body[-1] == "}":
            return json.loads("\n".join(body))
    raise AssertionError(f"the event on line {index + 1} never ends")


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [e for i in range(len(lines)) if (e := _event_at(lines, i)) is not None]


def _outputs(events: list[dict[str, Any]]) -> list[str]:
    """Every tool output: Claude tool results, Codex command output and MCP results."""
    out = []
    for e in events:
        if e["type"] == "user":
            out += [b["content"] for b in e["message"]["content"] if b.get("type") == "tool_result"]
        if e["type"] == "item.completed" and e["item"]["type"] == "command_execution":
            out.append(e["item"]["aggregated_output"])
        if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call":
            out += [c["text"] for c in e["item"]["result"]["content"]]
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(pod, tmp_path: Path) -> None:
    log, _ = pod
    again = podlog.generate(
        tmp_path / "again.log", size_mb=2, seed=7, max_result_kb=MAX_KB, plant_every=PLANT_EVERY
    )
    assert again.path.read_bytes() == log.path.read_bytes()
    assert (again.size_bytes, again.line_count, again.planted) == (
        log.size_bytes,
        log.line_count,
        log.planted,
    )
    assert again.session.read_bytes() == log.session.read_bytes()
    other = podlog.generate(
        tmp_path / "other.log", size_mb=2, seed=8, max_result_kb=MAX_KB, plant_every=PLANT_EVERY
    )
    assert other.path.read_bytes() != log.path.read_bytes()
    assert podlog.generate(log.path, size_mb=2, seed=7, max_result_kb=MAX_KB, plant_every=PLANT_EVERY).reused


def test_size_and_kubectl_prefixes(pod) -> None:
    log, lines = pod
    assert (
        log.path.stat().st_size == log.size_bytes and abs(log.size_bytes - 2 * podlog.MIB) < 0.05 * podlog.MIB
    )
    assert len(lines) == log.line_count
    stamps = [
        _LINE.match(line).group(3) for line in lines
    ]  # every line: `[pod/<pod>/<container>] <ts> <text>`
    assert stamps == sorted(stamps)


def test_pods_of_several_agents_are_interleaved_and_attributed(pod) -> None:
    log, lines = pod
    config = SessionStart.from_json_bytes(log.session.read_bytes()).cto_config
    names = AgentNames(config.agents, config.agent_aliases())
    pods = [_LINE.match(line).group(1) for line in lines]
    agents = [names.from_pod(p) for p in pods if p.startswith("coderun-")]
    assert set(agents) == set(config.agents) == set(podlog.AGENTS)
    assert sum(a != b for a, b in itertools.pairwise(agents)) > len(lines) / 10
    assert any(p.startswith("cto-controller-") for p in pods)
    assert {config.agents[a].cli for a in agents} == {"claude", "codex"}


def test_at_least_half_of_the_bytes_are_json_event_lines(pod) -> None:
    log, lines = pod
    event_bytes = sum(len(line.encode()) + 1 for line in lines if _one_line_event(line) is not None)
    assert event_bytes >= 0.5 * log.size_bytes
    types = Counter(e["type"] for e in _events(lines))
    claude = {"system", "assistant", "user", "result", "rate_limit_event"}
    codex = {"thread.started", "turn.started", "item.started", "item.completed", "turn.completed", "error"}
    assert claude | codex <= set(types)
    text = "\n".join(_text(line) for line in lines)
    for marker in (
        "🔧 MCP Tools Diagnostics:",
        "  ✅ tools binary found: /usr/local/bin/tools",
        "Reconnecting... 2/5",
    ):
        assert marker in text
    assert any(_text(line) == "{" for line in lines)  # pretty-printed events


def test_tool_outputs_reach_the_asked_size_and_are_full_of_error_words(pod) -> None:
    _, lines = pod
    outputs = _outputs(_events(lines))
    largest = max(len(o.encode()) for o in outputs)
    assert MAX_KB * 1024 / 2 <= largest <= MAX_KB * 1024
    blob = "\n".join(outputs)
    for word in ("error[E", "panic", "undefined", "FAILED", "thread 'main' panicked at", "Unauthorized"):
        assert word in blob


def test_script_lines_are_quiet_lines_of_the_platform_corpus() -> None:
    corpus = json.loads((SHARED / "corpus" / "cto-platform-lines.json").read_text())["cases"]
    quiet = {re.sub(r"\d+", "N", c["line"]) for c in corpus if c["expect"] == "quiet"}
    failure = {c["line"] for c in corpus if c["expect"] == "failure"}
    assert {
        re.sub(r"\d+", "N", line) for line in (*(d.format(n=21) for d in podlog.DIAGNOSTICS), *podlog.TRAILER)
    } <= quiet
    assert {podlog.UNREACHABLE, "❌ Max retries exhausted"} <= failure


def _holds(kind: str, event: dict[str, Any] | None, text: str) -> bool:
    if kind == "claude-auth-expired":
        return (
            event["type"] == "result"
            and event["subtype"] == "success"
            and event["is_error"] is True
            and (
                event["result"].startswith(
                    'API Error: 401 {"type":"error","error":{"type":"authentication_error"'
                )
            )
        )
    if kind == "claude-max-turns":
        return event["subtype"] == "error_max_turns" and event["errors"] == [
            "Reached maximum number of turns (40)"
        ]
    if kind == "claude-no-such-tool":
        [block] = event["message"]["content"]
        no_such = "<tool_use_error>Error: No such tool available: mcp__tools__brave_search_brave_web_search"
        return (
            block["type"] == "tool_result"
            and block["is_error"] is True
            and block["content"].startswith(no_such)
        )
    if kind == "claude-mcp-failed":
        return event["subtype"] == "init" and {"name": "tools", "status": "failed"} in event["mcp_servers"]
    if kind == "codex-retry-limit":
        message = event["error"]["message"]
        return event["type"] == "turn.failed" and message.startswith("exceeded retry limit, last status: 429")
    if kind == "codex-usage-limit":
        return event["type"] == "turn.failed" and "You've hit your usage limit." in event["error"]["message"]
    return (
        event is None
        and {
            "script-unreachable": podlog.UNREACHABLE,
            "script-max-retries": "❌ Max retries exhausted",
            "rust-panic": "thread 'main' panicked at src/main.rs:41:9:",
        }[kind]
        == text
    )


def test_every_planted_failure_is_on_the_line_the_manifest_names(pod) -> None:
    log, lines = pod
    assert {p["kind"] for p in log.planted} == set(podlog.PLANTS)
    assert 0.6 <= len(log.planted) * PLANT_EVERY / log.line_count <= 1.4
    assert len({p["agent"] for p in log.planted}) == len(podlog.AGENTS)
    for p in log.planted:
        index = p["line"] - 1
        assert p["code"] == podlog.PLANTS[p["kind"]][0]
        assert _LINE.match(lines[index]).group(1) == p["pod"] and podlog.AGENTS[p["agent"]]
        assert _holds(p["kind"], _event_at(lines, index), _text(lines[index])), (p, lines[index][:300])
    synthetic = [
        e for e in _events(lines) if e["type"] == "assistant" and e["message"]["model"] == "<synthetic>"
    ]
    assert len(synthetic) == Counter(p["kind"] for p in log.planted)["claude-auth-expired"]


def test_the_engine_reports_exactly_the_planted_failures(pod) -> None:
    """As `healer scan --session` does: the catalogue and event readers, then the pre-flight check."""
    log, _ = pod
    session = SessionStart.from_json_bytes(log.session.read_bytes())
    config = session.cto_config
    engine = TriageEngine(
        session.play_id, agents=AgentNames(config.agents, config.agent_aliases()), kubectl_prefix=True
    )
    data = log.path.read_bytes()
    result = engine.scan_text(data)
    reports = preflight.check(config, result.inventory, spans_of_text(data, engine, {}), complete=True)
    findings = result.findings + preflight.findings(engine.play_id, reports)
    found = {(f.line_no, f.code) for f in findings}
    planted = {(p["line"], p["code"]) for p in log.planted}
    missed = [
        (p["line"], p["code"], p["kind"], p["agent"])
        for p in log.planted
        if (p["line"], p["code"]) not in found
    ]
    extra = [
        (f.line_no, f.code, f.agent, f.text[:120]) for f in findings if (f.line_no, f.code) not in planted
    ]
    assert found == planted, f"missed: {missed}; extra: {extra}"
