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
