"""The original Healer scanner's whole unit-test corpus (../shared/corpus), through every matcher backend."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.triage.classify import classify
from graph.triage.engine import TriageEngine
from graph.triage.matcher import Matcher
from graph.triage.models import LogLine
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "original-scanner-cases.json"


def _cases() -> list[dict[str, Any]]:
    return json.loads(CORPUS.read_text())["cases"]


def _reported(engine: TriageEngine, lines: list[str]) -> list[int]:
    result = engine.scan_lines([LogLine(text) for text in lines])
    return sorted({finding.line_no - 1 for finding in result.findings})


def test_corpus_is_the_full_original() -> None:
    cases = _cases()
    assert len(cases) == 142
    assert {case["expect"] for case in cases} == {"noise", "error", "batch"}


@pytest.mark.parametrize(
    "case", [c for c in _cases() if c["expect"] == "noise"], ids=lambda c: c["line"][:60]
)
def test_noise_line_is_not_a_finding(case: dict[str, Any], matcher: Matcher) -> None:
    assert classify(case["line"]) is None
    assert _reported(TriageEngine(matcher=matcher), [case["line"]]) == []


@pytest.mark.parametrize(
    "case", [c for c in _cases() if c["expect"] == "error"], ids=lambda c: c["line"][:60]
)
def test_error_line_is_a_finding_with_the_expected_code(case: dict[str, Any], matcher: Matcher) -> None:
    verdict = classify(case["line"])
    assert verdict is not None
    findings = TriageEngine(matcher=matcher).scan_lines([LogLine(case["line"])]).findings
    assert len(findings) == 1
    if "code" in case:
        assert verdict.alert.code == case["code"]
        assert findings[0].code == case["code"]


@pytest.mark.parametrize(
    "case", [c for c in _cases() if c["expect"] == "batch"], ids=lambda c: c["origin"].split(" ")[0]
)
def test_batch_reports_exactly_the_expected_lines(case: dict[str, Any], matcher: Matcher) -> None:
    engine = TriageEngine(matcher=matcher)
    assert _reported(engine, case["lines"]) == case["report"]
    text = "\n".join(case["lines"]).encode()
    assert sorted(f.line_no - 1 for f in engine.scan_text(text).findings) == case["report"]
