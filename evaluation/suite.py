"""`healer eval`: run a suite offline from recorded model answers (the default, as CI does), live against
the configured model, or live while recording; report per case and per tag, as a table or JSON.

Recordings: `<suite>/recordings/<mode>/<case>.yaml` (vcrpy, secrets filtered, the model's address rewritten
to a stable one) and `<suite>/recordings/<mode>/model.json` (the model they were made with: it is part of
every request body). Mode `with` lets the evaluation investigate (HEALER_INVESTIGATION_TOOL_CALLS 3);
`without` shows it the finding's window alone (0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from vcr.errors import CannotOverwriteExistingCassetteException

from evaluation.cases import Case, load_suite
from evaluation.run import Outcome, run_case
from evaluation.score import Score, score
from graph.config import HealerSettings, settings_from
from graph.llm import chat_model
from tools.recording import no_network, recorder

Mode = Literal["with", "without"]
STABLE_LLM = "http://llm:18080"
INVESTIGATION_CALLS = {"with": 3, "without": 0}


def recordings(suite: Path, mode: Mode) -> Path:
    return suite / "recordings" / mode


def _settings(base: HealerSettings, mode: Mode, base_url: str, model: str) -> HealerSettings:
    values = {
        "openai_base_url": base_url,
        "evaluation_model": model,
        "investigation_tool_calls": INVESTIGATION_CALLS[mode],
        "llm_timeout_s": max(base.llm_timeout_s, 900.0),
        "llm_context_tokens": base.llm_context_tokens,
        "llm_max_tokens": base.llm_max_tokens,
    }
    return settings_from(values)


@contextlib.contextmanager
def _traffic(path: Path, *, record: bool, live_url: str | None) -> Iterator[None]:
    rewrites = {_origin(live_url): STABLE_LLM} if live_url else {}
    with recorder(record=record, rewrites=rewrites).use_cassette(str(path), serializer="yaml"):
        if record:
            yield
        else:
            with no_network():
                yield


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def run_suite(
    suite: Path,
    mode: Mode,
    base: HealerSettings,
    *,
    live: bool = False,
    record: bool = False,
    only: list[str] | None = None,
    price_per_1k_tokens: float = 0.0,
) -> list[Score]:
    cases = load_suite(suite, only)
    folder = recordings(suite, mode)
    model_file = folder / "model.json"
    if live or record:
        if not base.openai_base_url and not base.openai_api_key:
            raise ValueError("a live evaluation needs a model: set OPENAI_BASE_URL or OPENAI_API_KEY")
        model, url = base.evaluation_model, base.openai_base_url or "https://api.openai.com/v1"
    else:
        if not model_file.is_file():
            model, url = None, None
        else:
            model, url = json.loads(model_file.read_text())["model"], STABLE_LLM + "/v1"
    if record:
        folder.mkdir(parents=True, exist_ok=True)
        model_file.write_text(json.dumps({"model": model, "mode": mode}) + "\n")
    scores = []
    for case in cases:
        scores.append(await _one(case, mode, base, folder, model, url, live, record, price_per_1k_tokens))
    return scores


async def _one(
    case: Case,
    mode: Mode,
    base: HealerSettings,
    folder: Path,
    model: str | None,
    url: str | None,
    live: bool,
    record: bool,
    price: float,
) -> Score:
    cassette = folder / f"{case.name}.yaml"
    offline = not (live or record)
    if case.healthy:  # triage alone decides: no model call
        return score(case, await run_case(case, _settings(base, mode, url or STABLE_LLM, model or "-"), None))
    if offline and (model is None or not cassette.is_file()):
        return Score(case.name, case.tags, False, "not recorded", "-", expected_total=len(case.expected))
    settings = _settings(base, mode, url, model)
    async with httpx.AsyncClient(timeout=settings.llm_timeout_s) as http:
        llm = chat_model(settings, model, http, max_retries=0)
        if live and not record:
            outcome = await run_case(case, settings, llm)
        else:
            try:
                with _traffic(cassette, record=record, live_url=url if record else None):
                    outcome = await run_case(case, settings, llm)
            except CannotOverwriteExistingCassetteException:
                outcome = Outcome("found", [], note="the recording does not match this run: record it again")
    if offline and outcome.note and "Can't play back" in outcome.note:
        outcome.note = "the recording does not match this run's prompt: record it again"
    return score(case, outcome, price_per_1k_tokens=price)


def by_tag(scores: list[Score]) -> dict[str, dict[str, Any]]:
    tags: dict[str, dict[str, Any]] = {}
    for item in scores:
        for tag in item.tags or ["untagged"]:
            entry = tags.setdefault(tag, {"cases": 0, "passed": 0})
            entry["cases"] += 1
            entry["passed"] += int(item.passed)
    for entry in tags.values():
        entry["pass_rate"] = round(entry["passed"] / entry["cases"], 3)
    return dict(sorted(tags.items()))


def as_json(mode: Mode, scores: list[Score]) -> dict[str, Any]:
    return {
        "mode": mode,
        "pass_rate": round(sum(s.passed for s in scores) / len(scores), 3) if scores else 0.0,
        "cases": [asdict(s) for s in scores],
        "tags": by_tag(scores),
    }


def table(mode: Mode, scores: list[Score]) -> str:
    rows = [
        f"mode: {mode} (investigation tool calls: {INVESTIGATION_CALLS[mode]})",
        f"{'CASE':38} {'RESULT':13} {'TRIAGE':7} {'EXPECTED':8} {'FORBID':6} {'TOOLS':5} {'TOKENS':6} "
        f"{'SECONDS':7} COST",
    ]
    for s in scores:
        expected = f"{s.expected_present}/{s.expected_total}" if s.expected_total else "-"
        rows.append(
            f"{s.name[:38]:38} {s.status:13} {s.triage:7} {expected:8} {len(s.forbidden_hits):<6} "
            f"{s.tool_calls:<5} {s.tokens:<6} {s.latency_s:<7.1f} {s.cost:.4f}"
        )
    passed = sum(s.passed for s in scores)
    rows.append(f"\npassed {passed}/{len(scores)} ({passed / len(scores):.0%})" if scores else "no cases")
    rows.append("by tag: " + ", ".join(f"{t} {v['passed']}/{v['cases']}" for t, v in by_tag(scores).items()))
    return "\n".join(rows)


def comparison(with_scores: list[Score], without_scores: list[Score]) -> str:
    """Per tag, side by side, over the cases recorded (or run) in both modes: what the investigation adds."""
    absent = {s.name for s in [*with_scores, *without_scores] if s.status == "not recorded"}
    pairs = [(a, b) for a, b in zip(with_scores, without_scores, strict=True) if a.name not in absent]
    tags: dict[str, list[int]] = {}
    for a, b in pairs:
        for tag in a.tags or ["untagged"]:
            entry = tags.setdefault(tag, [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + a.passed, entry[2] + b.passed
    rows = [
        f"with vs without the investigation, over the {len(pairs)} cases scored in both"
        + (f" ({len(absent)} not recorded left out)" if absent else ""),
        f"{'TAG':20} {'CASES':5} {'WITH':11} WITHOUT",
    ]
    for tag, (cases, passed_with, passed_without) in sorted(tags.items()):
        rows.append(
            f"{tag[:20]:20} {cases:<5} {passed_with}/{cases} {passed_with / cases:>4.0%}  "
            f"{passed_without}/{cases} {passed_without / cases:>4.0%}"
        )
    return "\n".join(rows)


def run(suite: Path, mode: Mode, base: HealerSettings, **options: Any) -> list[Score]:
    return asyncio.run(run_suite(suite, mode, base, **options))
