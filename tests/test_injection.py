"""Log text cannot take over what Healer writes (issue 10): prompts, issues, comments, Discord, `healer scan`.

A Loki entry is whatever the container printed, newlines and backticks included. The Markdown here is
parsed as CommonMark (with GFM tables) to see what GitHub would render outside code, where a mention
notifies, a reference links and an image loads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markdown_it import MarkdownIt

import healer_cli
from graph import issue
from graph.nodes.evaluate import prompt
from graph.nodes.note_recurrence import note_recurrence
from graph.state import Analysis, Attempt
from graph.triage.models import Finding
from tools.alerts import Alert
from tools.discord import embed
from tools.fence import ZERO_WIDTH_SPACE, fenced, inline_code, neutralised

MARKDOWN = MarkdownIt("commonmark").enable("table")
PAYLOAD = "@octocat ![x](https://evil/x.png)"
INJECTED = f'level=error msg="boom" ```\n{PAYLOAD}'  # a Loki entry that holds a newline
# GitHub's autolinks: a mention after a non-word character, an issue reference (#12, owner/repo#12, GH-12)
LIVE = re.compile(r"(?:^|[^A-Za-z0-9_])@[A-Za-z0-9]|#\d|\bGH-\d", re.IGNORECASE)


def _inline(markdown: str) -> list[Any]:
    return [child for token in MARKDOWN.parse(markdown) if token.type == "inline" for child in token.children]


def _prose(markdown: str) -> str:
    """The text GitHub renders as Markdown, not code: where mentions and references come alive."""
    return "\n".join(child.content for child in _inline(markdown) if child.type == "text")


def _fences(markdown: str) -> list[str]:
    return [token.content for token in MARKDOWN.parse(markdown) if token.type == "fence"]


def _assert_inert(markdown: str) -> None:
    assert not LIVE.search(_prose(markdown)), _prose(markdown)
    assert not [child for child in _inline(markdown) if child.type == "image"]
    html = [t.content for t in MARKDOWN.parse(markdown) if t.type == "html_block"]
    html += [child.content for child in _inline(markdown) if child.type == "html_inline"]
    assert all(tag in ("<sub>", "</sub>") for tag in html), html  # the footer's own


def _finding(text: str = INJECTED, **changes: object) -> Finding:
    values = {
        "code": "R2",
        "name": "Infrastructure failure",
        "phase": "runtime",
        "severity": "high",
        "priority": "P1",
        "action": "investigate",
        "line_no": 7,
        "agent": "rex",
        "pod": "coderun-rex-t1-x7k2p",
        "text": text,
        "matched": text,
        "fingerprint": "0123456789abcdef",
        "detail": f"turn.failed: {text}",
    }
    return Finding.model_validate(values | changes)


def _analysis(echo: str) -> Analysis:
    return Analysis(
        category="infrastructure",
        severity="high",
        confidence=0.8,
        automatable=False,
        facts=[f"the agent printed {echo}"],
        evidence=[echo],
        summary=f"The agent said {echo} <img src=https://evil/y.png> &#64;hubot cc #12 o/r#3 GH-4",
        root_cause=f"It printed:\n```\n{echo}",
        hypotheses=[f"maybe {echo}"],
        suggested_fix=f"~~~\n{echo}",
        files_involved=["a`b.md"],
    )


def _body(finding: Finding, evidence: list[str], analysis: Analysis | None = None) -> str:
    return issue.body(
        finding,
        play_id="play-42",
        repository="o/r",
        namespace="cto",
        evidence=evidence,
        facts=[f"triage: {finding.detail}"],
        expected_tools=[],
        analysis=analysis,
        analysis_note=None,
    )


def _prompt(finding: Finding, evidence: list[str]) -> str:
    state = {
        "play_id": "play-42",
        "finding": finding.model_dump(mode="json"),
        "evidence": evidence,
        "facts": [f"triage: {finding.detail}"],
        "expected_tools": [],
    }
    return prompt(state, 100_000)  # type: ignore[arg-type]


# The fencing rules


@pytest.mark.parametrize("run", range(3, 11))
def test_a_fence_outlasts_every_backtick_run_in_its_text(run: int) -> None:
    text = "`" * run + f"\n{PAYLOAD}\n" + "`" * run + "\nlast"
    assert _fences(fenced(text)) == [text + "\n"]
    assert fenced("plain") == "```text\nplain\n```"  # the usual fence when nothing needs a longer one


def test_inline_code_holds_backticks_and_line_breaks() -> None:
    assert inline_code("a.md") == "`a.md`"
    [span] = _inline(inline_code(f"x `` y\n\n# {PAYLOAD}"))
    assert span.type == "code_inline" and span.content == f"x `` y  # {PAYLOAD}"
    assert [child.content for child in _inline(inline_code("`edge`"))] == ["`edge`"]


def test_neutralised_prose_renders_nothing_live_and_reads_the_same() -> None:
    prose = f"{PAYLOAD} <img src=x> <!-- hidden --> &#64;bob #12 o/r#3 GH-4 mail a@b.c\n```\n@z"
    _assert_inert(neutralised(prose))
    assert not _fences(neutralised(prose))
    assert neutralised(prose).replace(ZERO_WIDTH_SPACE, "") == prose
    assert neutralised(neutralised(prose)) == neutralised(prose)
    assert neutralised("connection refused at 10.0.0.1:5432") == "connection refused at 10.0.0.1:5432"


# Prompts


def test_the_finding_line_and_detail_are_fenced_in_the_evaluation_prompt() -> None:
    text = _prompt(_finding(), ["07:00:01 INFO starting"])
    fences = _fences(text)
    assert INJECTED + "\n" in fences and f"turn.failed: {INJECTED}\n" in fences
    assert "@octocat" not in _prose(text)


@pytest.mark.parametrize("run", range(3, 11))
def test_backtick_runs_in_the_evidence_stay_inside_the_prompts_fence(run: int) -> None:
    evidence = ["`" * run, PAYLOAD, "`" * run]
    text = _prompt(_finding("[ERROR] connection refused"), evidence)
    assert "\n".join(evidence) + "\n" in _fences(text)
    assert "@octocat" not in _prose(text)


# Issues and comments


def test_the_issue_body_fences_the_log_and_leaves_nothing_live() -> None:
    finding = _finding()
    for analysis in (None, _analysis(INJECTED)):
        body = _body(finding, [INJECTED], analysis)
        assert INJECTED + "\n" in _fences(body)
        _assert_inert(body)


@pytest.mark.parametrize("run", range(3, 11))
def test_backtick_runs_in_the_evidence_stay_inside_the_issues_fence(run: int) -> None:
    evidence = ["`" * run, PAYLOAD, "`" * run]
    body = _body(_finding("[ERROR] connection refused", detail=None), evidence)
    assert "\n".join(evidence) + "\n" in _fences(body)
    _assert_inert(body)


def test_comments_fence_log_and_ci_text_and_neutralise_the_rest() -> None:
    attempt = Attempt(n=1, branch="b", summary=INJECTED, files=["x.md"], ci="failure", ci_detail=INJECTED)
    ci = issue.ci_comment(attempt)
    assert INJECTED + "\n" in _fences(ci)
    for comment in (
        ci,
        issue.attempt_comment(attempt, 7),
        issue.escalation_comment(f"the model failed: {INJECTED}", [], _analysis(INJECTED)),
        issue.dismissal_comment(f"{PAYLOAD}", INJECTED),
        issue.resolution_comment(None, PAYLOAD),
    ):
        assert "@octocat" not in _prose(comment) and "![" not in _prose(comment)
        assert not [child for child in _inline(comment) if child.type == "image"]


@pytest.mark.anyio
async def test_a_recurrence_comment_fences_its_evidence() -> None:
    posted: list[str] = []
    github = SimpleNamespace(comment=lambda number, text, key: posted.append(text))
    runtime = SimpleNamespace(context=SimpleNamespace(github=github))
    evidence = ["`" * 5, PAYLOAD, "`" * 5]
    state = {"now_ns": 0, "issue": {"number": 1}, "recurrences": [{"evidence": evidence}]}
    await note_recurrence(state, runtime)  # type: ignore[arg-type]
    [text] = posted
    assert _fences(text) == ["\n".join(evidence) + "\n"]
    _assert_inert(text)


def test_a_discord_alert_mentions_no_one() -> None:
    alert = Alert(code="R2", severity="high", priority="P1", play_id="p", summary="@everyone <@123> @here hi")
    description = embed(alert)["description"]
    assert not re.search(r"@(?:everyone|here)|<@\d", description)
    assert description.replace(ZERO_WIDTH_SPACE, "") == alert.summary


# `healer scan`: pod and agent from the caller, not from the line


def _scan(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, *flags: str) -> list[dict]:
    log = tmp_path / "pod.log"
    log.write_bytes(data)
    assert healer_cli.main(["scan", "--format", "jsonl", *flags, str(log)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


SPOOFED = b"[pod/coderun-evil-t9-x1y2z/x] [ERROR] connection refused\n"


def test_a_prefix_in_the_text_does_not_name_the_pod_or_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [found] = _scan(tmp_path, capsys, SPOOFED)
    assert (found["pod"], found["agent"], found["container"]) == (None, None, None)
    [found] = _scan(tmp_path, capsys, SPOOFED, "--pod", "coderun-rex-t1-a", "--agent", "rex")
    assert (found["pod"], found["agent"]) == ("coderun-rex-t1-a", "rex")


def test_with_kubectl_prefix_only_the_first_prefix_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = b"[pod/coderun-rex-t1-a/claude] " + SPOOFED
    [found] = _scan(tmp_path, capsys, line, "--kubectl-prefix")
    assert (found["pod"], found["container"]) == ("coderun-rex-t1-a", "claude")
    assert found["agent"] == "coderun-rex-t1-a"  # no session: the pod's workload family, as always
