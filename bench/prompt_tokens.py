"""Prompt tokens per evaluation, for 1 MB and for 100 MB of play logs: the prompt must stay bounded.

The generated mixed log (bench/logs.py) is served by an in-process Loki API (the real `LokiClient` over an
httpx transport), and the real session graph reads it pass by pass; every incident a pass opens gets the
evaluation prompt its evaluate node would send. Printed per size: lines, passes, incidents, and the prompt
size (estimated tokens: UTF-8 bytes / 3, graph/llm.py) as min / median / max. No LLM is called; the
tokens the local model really counted for recorded evaluations are printed from the cassettes.

    .venv/bin/python -m bench.prompt_tokens [--sizes 1 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path

import httpx

from bench.logs import generate
from graph.checkpoint import open_checkpointer
from graph.config import settings_from
from graph.context import HealerContext
from graph.graph import session_graph
from graph.llm import estimate_tokens
from graph.nodes.evaluate import prompt
from graph.prompts import template
from graph.seed import incident_input
from graph.session import SessionStart
from graph.triage.matcher import best_matcher
from tools.loki import LokiClient, LokiConfig
from tools.recording import interactions_of

DATA = Path(__file__).resolve().parent / "data"
CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
START_NS = 1_795_500_000 * 1_000_000_000
SYSTEM_TOKENS = estimate_tokens(template("evaluation.system").template)
AGENTS = ("rex", "blaze", "cleo", "tess", "cipher", "atlas")


class InProcessLoki:
    """query_range over a log held in memory: one line per 100 µs, pods in turn, one per agent."""

    def __init__(self, path: Path) -> None:
        self.lines = path.read_bytes().decode("utf-8", "replace").splitlines()
        self.times = [START_NS + i * 100_000 for i in range(len(self.lines))]

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start, end, limit = int(params["start"]), int(params["end"]), int(params["limit"])
        first, last = bisect_left(self.times, start), bisect_left(self.times, end)
        streams: dict[str, list[list[str]]] = {}
        for i in range(first, min(last, first + limit)):
            pod = f"play-bench-{AGENTS[i % len(AGENTS)]}-0"
            streams.setdefault(pod, []).append([str(self.times[i]), self.lines[i]])
        result = [
            {"stream": {"namespace": "cto", "pod": pod}, "values": values} for pod, values in streams.items()
        ]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "streams", "result": result}}
        )


async def measure(path: Path) -> dict[str, object]:
    loki = InProcessLoki(path)
    session = SessionStart.model_validate({"play_id": "play-bench", "namespace": "cto"})
    prompts: list[int] = []
    passes = 0
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_from({"database_url": f"sqlite:///{folder}/bench.db"})
        transport = httpx.MockTransport(loki.handle)
        async with (
            open_checkpointer(settings.database_url) as saver,
            LokiClient(LokiConfig(url="http://loki:3100"), transport=transport) as client,
        ):
            graph = session_graph(saver)
            context = HealerContext(settings=settings, loki=client, matcher=best_matcher())
            config = {"configurable": {"thread_id": "play-bench"}}
            now = loki.times[-1] + 1
            update = {"play_id": "play-bench", "session": session.model_dump(mode="json"), "now_ns": now}
            while True:
                values = await graph.ainvoke(update, config, context=context, durability="sync")
                passes += 1
                for fingerprint in values.get("opened", []):
                    seed = values["seeds"][fingerprint]
                    state = incident_input(session, seed, values, now, settings)
                    user = prompt(state, settings.evaluation_prompt_tokens)
                    prompts.append(SYSTEM_TOKENS + estimate_tokens(user))
                if values.get("lines_seen", 0) >= len(loki.lines) or passes > 10_000:
                    break
                update = {"now_ns": now}
    return {
        "megabytes": path.stat().st_size / 1e6,
        "lines": len(loki.lines),
        "passes": passes,
        "incidents": len(prompts),
        "seconds": time.perf_counter() - began,
        "min": min(prompts, default=0),
        "median": int(statistics.median(prompts)) if prompts else 0,
        "max": max(prompts, default=0),
        "cap": settings.evaluation_prompt_tokens,
    }


def recorded_usage() -> list[tuple[str, int]]:
    """Prompt tokens the local model reported for the recorded evaluations (its own tokenizer)."""
    found = []
    for folder in sorted(CASSETTES.glob("*/http")):
        for item in interactions_of(folder):
            body = (
                json.loads(item["request"]["body"] or "{}")
                if item["request"]["uri"].endswith("/chat/completions")
                else {}
            )
            tools = [t["function"]["name"] for t in body.get("tools", [])]
            if "Analysis" in tools:
                usage = json.loads(item["response"]["body"]["string"]).get("usage", {})
                found.append((folder.parent.name, int(usage.get("prompt_tokens", 0))))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100], help="log sizes in MiB")
    args = parser.parse_args(argv)
    print(
        f"{'log':>8} {'lines':>9} {'passes':>7} {'incidents':>9} {'tokens min/median/max':>22} {'cap':>6} {'time':>7}"
    )
    for size in args.sizes:
        log = generate(DATA / ("mixed.log" if size == 100 else f"mixed-{size}mb.log"), size_mb=size)
        row = asyncio.run(measure(log.path))
        tokens = f"{row['min']}/{row['median']}/{row['max']}"
        print(
            f"{row['megabytes']:>6.1f}MB {row['lines']:>9} {row['passes']:>7} {row['incidents']:>9} "
            f"{tokens:>22} {row['cap']:>6} {row['seconds']:>6.1f}s"
        )
    for scenario, tokens in recorded_usage():
        print(f"recorded evaluation prompt, {scenario}: {tokens} tokens (the local model's count)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
