"""`healer eval`: the suite loads, scoring can fail, the CLI prints a table and JSON (no model: replay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evaluation.cases import CaseError, Statement, load_suite
from evaluation.run import Outcome
from evaluation.score import score
from healer_cli import main

SUITE = Path(__file__).resolve().parents[1] / "evals"
HOLMES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "holmesgpt-logs"


def test_the_suite_has_every_holmesgpt_case_and_the_platform_scenarios() -> None:
    cases = load_suite(SUITE)
    names = {case.name for case in cases}
    assert len(cases) >= 30
    assert {p.name for p in HOLMES.iterdir() if (p / "expected.json").is_file()} <= names
    assert sum("platform" in case.tags for case in cases) >= 10
    healthy = {case.name for case in cases if case.healthy}
    assert {
        "ask_26_page_render_times",
        "ask_44_slack_statefulset_logs",
        "ask_63_fetch_error_logs_no_errors",
    } <= healthy
    assert all(case.expected for case in cases if not case.healthy)


def _case(tmp_path: Path, **fields: object):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "pod.log").write_text("ERROR Connection refused to prod-db:3333\n")
    base = {
        "name": "c",
        "description": "d",
        "source": "s",
        "tags": ["t"],
        "logs": [{"path": "pod.log", "pod": "p"}],
        "expected": [{"statement": "db at prod-db:3333", "patterns": ["prod-db", "3333"]}],
        "forbidden": [{"statement": "blames credentials", "patterns": ["credential"]}],
    } | fields
    (tmp_path / "c" / "case.yaml").write_text(yaml.safe_dump(base))
    return load_suite(tmp_path)[0]


def _analysis(**fields: object) -> dict:
    return {"summary": "", "root_cause": "", "suggested_fix": "", "facts": [], "evidence": []} | fields


def test_a_statement_needs_all_its_patterns() -> None:
    statement = Statement(statement="x", patterns=["prod-db", "3333"])
    assert statement.present_in("cannot reach PROD-DB on 3333") and not statement.present_in(
        "prod-db is down"
    )


def test_scoring_passes_only_with_every_statement_and_no_forbidden_or_invented_line(tmp_path: Path) -> None:
    case = _case(tmp_path)
    shown = ["ERROR Connection refused to prod-db:3333"]
    good = Outcome(
        "found", [], analysis=_analysis(root_cause="prod-db:3333 refuses connections"), shown=shown
    )
    assert score(case, good).passed
    missing = Outcome("found", [], analysis=_analysis(root_cause="the database refuses"), shown=shown)
    assert not score(case, missing).passed and score(case, missing).missing == ["db at prod-db:3333"]
    blamed = _analysis(root_cause="prod-db:3333 refuses", facts=["a credential expired"])
    assert score(case, Outcome("found", [], analysis=blamed, shown=shown)).forbidden_hits == [
        "blames credentials"
    ]
    invented = _analysis(root_cause="prod-db:3333", evidence=["ERROR a line nobody logged"])
    assert score(case, Outcome("found", [], analysis=invented, shown=shown)).invented_evidence == 1
    assert score(case, Outcome("found", [], note="timeout", shown=shown)).status == "no analysis"


def test_a_healthy_case_with_a_finding_fails(tmp_path: Path) -> None:
    case = _case(tmp_path, healthy=True, expected=[])
    assert score(case, Outcome("found", ["finding"], shown=[])).status == "filed"  # type: ignore[list-item]
    assert score(case, Outcome("nothing", [], shown=[])).passed


def test_a_bad_case_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "case.yaml").write_text("name: x\nlogs: []\n")
    with pytest.raises(CaseError, match="not a valid case"):
        load_suite(tmp_path)
    assert main(["eval", str(tmp_path)]) == 2


def test_the_cli_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(SUITE), "--mode", "without"]) == 0
    out = capsys.readouterr().out
    assert "platform-healthy-play" in out and "passed" in out and "by tag:" in out
    assert (
        main(
            [
                "eval",
                str(SUITE),
                "--mode",
                "without",
                "--format",
                "json",
                "--case",
                "ask_26_page_render_times",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"pass_rate", "cases", "tags"}
    assert {"name", "tags", "passed"} <= set(report["cases"][0])
    assert report["cases"][0]["passed"] is True


@pytest.mark.parametrize("mode", ["with", "without"])
def test_a_recorded_case_replays_offline_and_its_fallback_evidence_is_not_counted_as_invented(
    mode: str,
) -> None:
    """platform-codex-auth's model quoted its JSON lines HTML-escaped, so evaluate kept the finding's own
    text as evidence; the recorded answers replay offline (no socket) and score as the diagnosis deserves."""
    [scored] = run_suite_offline(mode, "platform-codex-auth")
    assert (scored.status, scored.expected_present, scored.invented_evidence) == ("passed", 1, 0)
    assert scored.tokens > 0 and scored.tool_calls == (1 if mode == "with" else 0)


def run_suite_offline(mode: str, case: str) -> list:
    import asyncio

    from evaluation.suite import run_suite
    from graph.config import settings_from

    return asyncio.run(run_suite(SUITE, mode, settings_from({}), only=[case]))  # type: ignore[arg-type]


def test_the_comparison_pairs_the_modes_per_tag_and_leaves_unrecorded_cases_out() -> None:
    from evaluation.score import Score
    from evaluation.suite import comparison

    def scored(name: str, passed: bool, status: str | None = None) -> Score:
        return Score(name, ["logs"], passed, status or ("passed" if passed else "failed"), "found")

    with_scores = [scored("a", True), scored("b", False), scored("c", False, "not recorded")]
    without_scores = [scored("a", True), scored("b", True), scored("c", True)]
    text = comparison(with_scores, without_scores)
    assert "over the 2 cases scored in both (1 not recorded left out)" in text
    assert text.splitlines()[-1].split() == ["logs", "2", "1/2", "50%", "2/2", "100%"]


def test_a_line_quoted_as_a_tool_showed_it_exists_and_a_made_up_one_does_not(tmp_path: Path) -> None:
    case = _case(tmp_path)
    shown = ["2026-11-24T06:00:00.004Z [play-a10-rex-t1] ERROR Connection refused to prod-db:3333"]
    as_the_tool = _analysis(
        root_cause="prod-db:3333 refuses connections",
        evidence=["06:00:00.004 [rex] ERROR Connection refused to prod-db:3333"],
    )
    made_up = _analysis(
        root_cause="prod-db:3333", evidence=["06:00:00.004 [rex] ERROR disk full", "06:00:01 [rex] "]
    )
    assert score(case, Outcome("found", [], analysis=as_the_tool, shown=shown)).invented_evidence == 0
    assert score(case, Outcome("found", [], analysis=made_up, shown=shown)).invented_evidence == 2
