"""The graph live against the local Loki and the local LLM (DESIGN §10): the pre-flight scenario's lines,
logged just now, evaluated by the real model, whose analysis must name the missing tool.

CI does not start the LLM (its traffic is replayed from cassettes), so this runs only where
OPENAI_BASE_URL is set: `PORT=18080 bash ../shared/services/start_llm.sh .cache/llm`.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from graph.config import settings_from
from tests.conftest import live_url
from tests.scenarios.definitions import PREFLIGHT_A10
from tests.scenarios.live import run_live

pytestmark = pytest.mark.live


def test_the_live_evaluation_of_a_missing_tool_names_it() -> None:
    loki = live_url("LOKI_URL")
    llm = os.environ.get("OPENAI_BASE_URL")
    if not llm:
        pytest.skip("OPENAI_BASE_URL not set: the local LLM is for live runs by hand, not for CI")
    settings = settings_from(
        {
            "loki_url": loki,
            "openai_base_url": llm,
            "evaluation_model": "qwen2.5-coder-1.5b",
            "remediation_model": "qwen2.5-coder-1.5b",
        }
    )
    _, views = asyncio.run(run_live(PREFLIGHT_A10, settings))
    [incident] = views
    assert incident.values["finding"]["code"] == "A10"
    assert incident.values["finding"]["missing_tools"] == ["brave_search"]
    analysis = incident.values["analysis"]
    assert analysis is not None, incident.values.get("analysis_note")
    assert "brave_search" in " ".join([analysis["summary"], analysis["root_cause"], *analysis["facts"]])
    assert "brave_search" in incident.values["issue_body"]  # rendered, though no GitHub is configured here
