"""`/metrics` content: sessions by status, findings by code and severity, outside calls and their time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api import metrics
from api.models import Detection, Session, rfc3339
from api.store import open_store
from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from runtime.engine import Progress, finding_delays_s
from runtime.local import Scheduler
from tools.calls import timed


def test_metrics_count_what_an_operator_watches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"
    with timed("github"):
        pass
    with pytest.raises(RuntimeError), timed("loki"):
        raise RuntimeError("Loki is down")

    async def scrape() -> str:
        async with open_checkpointer(url) as saver, open_store(url, saver) as store:
            now = rfc3339()
            found = Detection(detected_at=now, code="A10", severity="critical", description="missing tool")
            assert found.issue_type == "tool_mismatch"  # what the API answers; the metrics keep the code
            for play_id, status in (("p1", "active"), ("p2", "completed")):
                session = Session.model_validate(
                    {
                        "play_id": play_id,
                        "started_at": now,
                        "last_updated": now,
                        "status": status,
                        "issues": [found],
                    }
                )
                await store.start(session)
            body = await metrics.render(store, Scheduler(settings_from({}), store, saver))
            return body.decode()

    text = asyncio.run(scrape())
    assert (
        'healer_sessions{status="active"} 1.0' in text and 'healer_sessions{status="completed"} 1.0' in text
    )
    assert 'healer_findings{code="A10",severity="critical"} 2.0' in text
    assert 'healer_outside_calls_total{outcome="error",system="loki"}' in text
    assert 'healer_outside_calls_total{outcome="ok",system="github"}' in text
    assert 'healer_outside_call_seconds_count{system="loki"}' in text
    assert 'healer_outside_call_seconds_bucket{le="0.01",system="github"}' in text  # a real histogram


def test_a_findings_delay_counts_from_its_lines_timestamp_and_state_findings_have_none() -> None:
    second = 1_000_000_000
    values = {
        "opened": ["line", "state", "untimed"],
        "seeds": {
            "line": {"finding": {"line_no": 7, "timestamp": "2026-12-04T06:00:00+00:00"}},
            "state": {"finding": {"line_no": None, "timestamp": "2026-12-04T06:00:00+00:00"}},
            "untimed": {"finding": {"line_no": 3, "timestamp": None}},
        },
    }
    now = 1_796_364_000 * second + 12 * second  # 06:00:12
    assert finding_delays_s(values, now) == [12.0]


def _sample(body: str, name: str) -> float:
    return sum(float(line.split()[1]) for line in body.splitlines() if line.startswith(name + " "))


def test_a_step_counts_its_pass_and_its_time_in_the_engines_metrics(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/healer.db"

    async def scrape_around_a_step() -> tuple[str, str]:
        async with open_checkpointer(url) as saver, open_store(url, saver) as store:
            scheduler = Scheduler(settings_from({}), store, saver)
            start = Session.model_validate(
                {"play_id": "play-m", "started_at": rfc3339(), "last_updated": rfc3339()}
            )
            await store.start(start)
            before = (await metrics.render(store, scheduler)).decode()
            async with scheduler._runner(start) as runner:
                await scheduler._step(start, runner, Progress())
            return before, (await metrics.render(store, scheduler)).decode()

    before, after = asyncio.run(scrape_around_a_step())
    assert _sample(after, "healer_passes_total") == _sample(before, "healer_passes_total") + 1
    steps = "healer_session_step_seconds_count"
    assert _sample(after, steps) == _sample(before, steps) + 1
    assert "healer_finding_delay_seconds_bucket" in after
