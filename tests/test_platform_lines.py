"""Real lines of the CTO platform (../shared/corpus/cto-platform-lines.json): its container scripts' MCP
diagnostics, the controller's tool-inventory and CodeRun checks, the MCP server's Healer notification.

`failure` lines must give a finding with a fitting code, `quiet` lines none. `either` lines are a judgement
call; the README says how each is treated, and EITHER_REPORTED pins it so a change is a decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.triage.engine import TriageEngine
from graph.triage.matcher import Matcher
from graph.triage.models import LogLine
from tests.conftest import SHARED

CASES: list[dict[str, Any]] = json.loads((SHARED / "corpus" / "cto-platform-lines.json").read_text())["cases"]

# The code each failure line must get where one is more fitting than a generic error.
EXPECTED_CODE = {
    "❌ tools/tools-client binary NOT FOUND in PATH": "A12",
    "→ MCP server connection will fail!": "A12",
    "❌ Not found: /usr/local/bin/tools": "A12",
    "❌ Server unreachable (connection failed/timeout)": "A12",
    "⚠️ Health returned HTTP 503": "A12",
    "→ MCP endpoint: HTTP 000": "A12",
    "❌ Invalid JSON - MCP config parsing will fail": "A12",
    "⚠️ No MCP config found": "A12",
    "⚠️ claude mcp list failed": "A12",
    "⚠️ client-config.json not found in /task-files/": "A11",
    "❌ CLI execution failed with exit code: 1": "R8",
    "❌ Max retries exhausted": "R3",
    "Some declared tools could not be resolved": "A10",
    "Tool declared but not found in catalog": "A10",
    "Expected tools not found in actual tools list": "A10",
    "DID NOT create PR": "R8",
    "Retry limit reached for CodeRun": "R3",
    "Retry limit reached for failed CodeRun": "R3",
    "requested manual intervention": "R8",
    "Invalid Healer endpoint": "A11",
    "Could not connect to Healer": "R2",
    "success=false": "R8",
    "Please configure linear.teamId in cto-config.json": "A11",
    "Credentials file missing": "R5",
    "AI returned invalid content": "R8",
}
EITHER_REPORTED = {"error: clippy found 3 errors"}


def _findings(line: str, matcher: Matcher) -> list[str]:
    return [f.code for f in TriageEngine(matcher=matcher).scan_lines([LogLine(line)]).findings]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] == "failure"], ids=lambda c: c["line"][:70])
def test_failure_line_gets_a_finding_with_a_fitting_code(case: dict[str, Any], matcher: Matcher) -> None:
    codes = _findings(case["line"], matcher)
    assert len(codes) == 1, case["line"]
    for phrase, code in EXPECTED_CODE.items():
        if phrase in case["line"]:
            assert codes == [code], case["line"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] == "quiet"], ids=lambda c: c["line"][:70])
def test_quiet_line_gets_no_finding(case: dict[str, Any], matcher: Matcher) -> None:
    assert _findings(case["line"], matcher) == []


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] == "either"], ids=lambda c: c["line"][:70])
def test_either_line_is_treated_as_the_readme_says(case: dict[str, Any], matcher: Matcher) -> None:
    reported = bool(_findings(case["line"], matcher))
    assert reported == (case["line"] in EITHER_REPORTED), case["line"]


def test_every_expected_code_is_used_by_some_case() -> None:
    lines = " ".join(c["line"] for c in CASES if c["expect"] == "failure")
    assert all(phrase in lines for phrase in EXPECTED_CODE)
