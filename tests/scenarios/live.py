"""A scenario, live: its log lines pushed into the local Loki as if logged just now, then `healer watch`
over them with the local LLM (no Kubernetes here; GitHub and Discord only if configured).

    LOKI_URL=http://127.0.0.1:3100 OPENAI_BASE_URL=http://127.0.0.1:18080/v1 \\
        HEALER_EVALUATION_MODEL=qwen2.5-coder-1.5b HEALER_REMEDIATION_MODEL=qwen2.5-coder-1.5b \\
        .venv/bin/python -m tests.scenarios.live preflight-a10
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid

import httpx

from graph.config import HealerSettings
from graph.session import SessionStart
from graph.state import Json
from graph.summary import summary, timeline
from runtime.runner import IncidentView
from runtime.watch import watch
from tests.scenarios.definitions import BY_NAME, NAMESPACE, Definition


def push_now(loki_url: str, definition: Definition, run_id: str) -> int:
    """The scenario's lines, ending a few seconds ago; pods named for this run, so runs never mix."""
    latest = max(offset for agent in definition.agents for offset, _ in agent.lines)
    start_ns = time.time_ns() - int((latest + 5) * 1e9)
    streams = [
        {
            "stream": {
                "namespace": NAMESPACE,
                "pod": f"{definition.play_id}-{agent.key}-{run_id}",
                "container": "agent",
                "agent": agent.app,
            },
            "values": [
                [str(start_ns + int((offset + 20) * 1e6) * 1000), text] for offset, text in agent.lines
            ],
        }
        for agent in definition.agents
    ]
    httpx.post(f"{loki_url}/loki/api/v1/push", json={"streams": streams}, timeout=30).raise_for_status()
    return sum(len(stream["values"]) for stream in streams)


async def run_live(definition: Definition, settings: HealerSettings) -> tuple[Json, list[IncidentView]]:
    run_id = uuid.uuid4().hex[:5]
    assert settings.loki_url
    push_now(settings.loki_url, definition, run_id)
    await asyncio.sleep(2)  # qryn batches its inserts
    session = SessionStart.model_validate(
        definition.session() | {"play_id": f"{definition.play_id}-{run_id}"}
    )
    with tempfile.TemporaryDirectory() as folder:
        live = settings.model_copy(
            update={"database_url": f"sqlite:///{folder}/healer.db", "kubernetes_enabled": False}
        )
        return await watch(session, live, passes=1)


def main(names: list[str]) -> int:
    if not os.environ.get("LOKI_URL"):
        print("LOKI_URL must point at a Loki (../shared/services/start_loki.sh)", file=sys.stderr)
        return 2
    for name in names or ["preflight-a10"]:
        values, views = asyncio.run(run_live(BY_NAME[name], HealerSettings()))
        incidents = [view.values for view in views]
        print(timeline(values, incidents))
        print(json.dumps(summary(name, values, incidents)["analyses"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
