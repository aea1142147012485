"""An answer cut short by max_tokens keeps what was written before the cut (graph/llm.py `salvage`)."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage

from graph.llm import salvage
from graph.state import Analysis

WHOLE = {
    "summary": "rex lacks brave_search",
    "root_cause": "brave_search is not served to rex",
    "category": "tooling",
    "severity": "critical",
    "confidence": 0.9,
    "automatable": False,
    "suggested_fix": "serve brave_search",
    "facts": ["rex declares brave_search", "the CLI does not list it"],
    "evidence": [
        "WARN tool inventory mismatch - missing: [brave_search]",
        "ERROR tool not found: brave_search",
    ],
}


def _cut(text: str) -> AIMessage:
    call = {"name": "Analysis", "args": text, "id": "c1", "error": "cut", "type": "invalid_tool_call"}
    return AIMessage("", invalid_tool_calls=[call])


def test_a_cut_in_the_evidence_keeps_the_whole_lines_before_it() -> None:
    text = json.dumps(WHOLE)
    cut = text[: text.index("ERROR tool not") + 8]  # mid-way through the last evidence line
    analysis = salvage(_cut(cut), Analysis)
    assert analysis is not None and analysis.summary == "rex lacks brave_search"
    assert analysis.evidence == ["WARN tool inventory mismatch - missing: [brave_search]"]


def test_a_cut_before_the_required_fields_are_written_is_no_analysis() -> None:
    text = json.dumps(WHOLE)
    assert salvage(_cut(text[: text.index('"severity"') + 5]), Analysis) is None
    other = {"name": "Other", "args": text[:-10], "id": "c", "error": "x", "type": "invalid_tool_call"}
    assert salvage(AIMessage("", invalid_tool_calls=[other]), Analysis) is None
