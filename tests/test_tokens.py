"""The token estimate bounds prompts: it must never count fewer tokens than the model will."""

from __future__ import annotations

import json
from pathlib import Path

from tools import tokens

SAMPLES = json.loads((Path(__file__).parent / "fixtures" / "token_counts.json").read_text())["samples"]


def test_the_estimate_is_an_upper_bound_on_every_recorded_sample() -> None:
    under = [
        (s["source"], s["tokens"], tokens.count(s["text"]))
        for s in SAMPLES
        if tokens.count(s["text"]) < s["tokens"]
    ]
    assert not under, under


def test_the_estimate_is_not_so_loose_that_prompts_lose_their_evidence() -> None:
    real = sum(s["tokens"] for s in SAMPLES)
    estimated = sum(tokens.count(s["text"]) for s in SAMPLES)
    assert real <= estimated <= 1.5 * real


def test_json_costs_what_the_escaping_template_makes_of_it() -> None:
    line = '{"type":"result","is_error":true}'
    assert tokens.count(line) > len(line) / 3 * 1.7  # the bytes/3 estimate it replaces fell short here
    assert tokens.count("2026-12-02T22:14:32.123Z") >= 17  # digits one by one


def test_schema_and_messages_add_their_overheads() -> None:
    assert tokens.messages("a", "b") == tokens.count("a") + tokens.count("b") + 2 * tokens.PER_MESSAGE
    assert tokens.schema({"name": "Analysis"}) > tokens.count('{"name": "Analysis"}', escape=False)


def test_the_analysis_function_is_counted_at_least_at_what_the_local_server_adds_for_it() -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from graph.state import Analysis

    assert 524 <= tokens.schema(convert_to_openai_tool(Analysis)) <= 800  # measured by the server: 524
