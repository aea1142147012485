"""collect: what happened in the play since the last pass (DESIGN §3).

Kubernetes says which CodeRuns and pods the play has, GitHub what its pull requests went through, and which agent each pod is (the CodeRun's
`github-app` label). Loki gives the pods' new lines from the cursor on, at most `lines_per_pass` of them
(the next pass goes on from where this one stopped); without a Loki, the Kubernetes API gives each pod's
log since its own cursor (`read_pod_logs`), so Healer works on a cluster that has none. A system that fails is noted in `degraded` and the
pass goes on with what it has: the cursor only moves over lines that were really read.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph.runtime import Runtime

from graph.context import HealerContext
from graph.nodes.pulls import read_pulls
from graph.queries import play_query
from graph.session import SessionStart
from graph.state import Json, SessionState
from graph.triage.engine import AgentNames
from tools.github import GitHubError
from tools.kubernetes import CodeRunState, KubeError, KubernetesTools, PodState
from tools.loki import LokiError
from tools.loki_streams import LokiEntry
from tools.redact import redact
from tools.timestamps import parse_rfc3339_ns

FIRST_PASS_LOOKBACK_NS = 5 * 60 * 1_000_000_000  # lines logged just before the session start count too


async def collect(state: SessionState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    session = SessionStart.model_validate(state["session"])
    names = AgentNames(session.cto_config.agents, session.cto_config.agent_aliases())
    degraded: list[str] = []
    coderuns, pod_agents = state.get("coderuns", []), dict(state.get("pod_agents", {}))
    if context.kube is not None:
        try:
            if context.namespace_clusters is not None:
                runs = await context.namespace_clusters.play(session.namespace or "default", session.play_id)
            else:
                runs = await asyncio.to_thread(_read_cluster, context.kube, session.play_id)
            coderuns, pod_agents = _cluster_view(runs, names, pod_agents)
        except KubeError as error:
            degraded.append(f"kubernetes: {redact(str(error))}")
    pulls = state.get("pulls", {})
    task_ids = {task.id for task in session.tasks}
    if context.github is not None and task_ids:
        try:
            pulls = await asyncio.to_thread(read_pulls, context.github, task_ids, pulls)
        except GitHubError as error:
            degraded.append(f"github: {redact(str(error))}")
    update: dict[str, Any] = {
        "pulls": pulls,
        "coderuns": coderuns,
        "pod_agents": pod_agents,
        "play_over": bool(coderuns) and all(run["terminal"] for run in coderuns),
        "batch": [],
        "degraded": degraded,
    }
    if context.loki is None:
        if context.kube is not None and coderuns:
            batch, cursors, failures = await asyncio.to_thread(
                read_pod_logs, context.kube, coderuns, state.get("pod_cursors", {}), now,
                context.settings.lines_per_pass,
            )  # fmt: skip
            degraded += failures
            update |= {"pod_cursors": cursors, "batch": [_line(entry, pod_agents) for entry in batch]}
            update["more_lines"] = len(batch) >= context.settings.lines_per_pass
        return update
    query = play_query(session, pod_agents)
    start = state.get("cursor_ns") or now - FIRST_PASS_LOOKBACK_NS
    seen_at_cursor = set(state.get("boundary_keys", []))
    batch: list[LokiEntry] = []
    try:
        async for entry in _play_lines(context, session, pod_agents, query, start, now, len(seen_at_cursor)):
            if not (entry.timestamp_ns == state.get("cursor_ns") and _key(entry) in seen_at_cursor):
                batch.append(entry)
            if len(batch) >= context.settings.lines_per_pass:
                break
    except LokiError as error:
        degraded.append(f"loki: {redact(str(error))}")
    if batch:
        cursor = batch[-1].timestamp_ns
        at_cursor = {_key(e) for e in batch if e.timestamp_ns == cursor}
        if cursor == state.get("cursor_ns"):
            at_cursor |= seen_at_cursor
        update |= {"cursor_ns": cursor, "boundary_keys": sorted(at_cursor)}
    update["batch"] = [_line(entry, pod_agents) for entry in batch]
    update["more_lines"] = len(batch) >= context.settings.lines_per_pass  # the next pass goes on at once
    return update


async def _play_lines(
    context: HealerContext,
    session: SessionStart,
    pod_agents: dict[str, str],
    query: str,
    start: int,
    now: int,
    boundary: int,
) -> AsyncIterator[LokiEntry]:
    """The play's lines from `start`: from the namespace's shared feed when there is one and it holds
    them, else from Loki (a first pass, a catch-up after a takeover, or no feed)."""
    if context.namespace_lines is not None:
        shared = await context.namespace_lines.lines(
            session.namespace or "default", set(pod_agents) or None, start, now - FIRST_PASS_LOOKBACK_NS
        )
        if shared is not None:
            for entry in shared:
                yield entry
            return
    assert context.loki is not None
    async for entry in context.loki.query_range_all(
        query, start, now + 1, max_entries=context.settings.lines_per_pass + boundary
    ):
        yield entry


def read_pod_logs(
    kube: KubernetesTools, coderuns: list[Json], cursors: dict[str, Json], now: int, limit: int
) -> tuple[list[LokiEntry], dict[str, Json], list[str]]:
    """Without a Loki: each pod's new lines from the Kubernetes API (`kubectl logs --timestamps
    --since`), oldest first, at most `limit`; each pod's cursor moves only over the lines kept."""
    entries: list[LokiEntry] = []
    failures: list[str] = []
    for run in coderuns:
        for pod in run.get("pods", []):
            name, cursor = pod["name"], cursors.get(pod["name"]) or {}
            if pod.get("phase") == "Pending":
                continue  # no container has started: there is no log yet
            since_ns = now - cursor["ns"] if cursor.get("ns") else FIRST_PASS_LOOKBACK_NS
            try:
                text = kube.pod_logs(name, since_seconds=max(1, -(-since_ns // 1_000_000_000) + 1))
            except KubeError as error:
                failures.append(f"kubernetes logs: {redact(str(error))}")
                continue
            seen = set(cursor.get("keys", []))
            for raw in text.splitlines():
                stamp, _, line = raw.partition(" ")
                at = parse_rfc3339_ns(stamp)
                if at is None or at < (cursor.get("ns") or 0):
                    continue
                entry = LokiEntry(at, line, {"pod": name, "namespace": pod.get("namespace", "")})
                if at == cursor.get("ns") and _key(entry) in seen:
                    continue
                entries.append(entry)
    entries.sort(key=lambda e: e.timestamp_ns)
    kept = entries[:limit]
    moved = dict(cursors)
    for pod in {e.labels["pod"] for e in kept}:
        mine = [e for e in kept if e.labels["pod"] == pod]
        newest = mine[-1].timestamp_ns
        keys = {_key(e) for e in mine if e.timestamp_ns == newest}
        if newest == (cursors.get(pod) or {}).get("ns"):
            keys |= set(cursors[pod].get("keys", []))
        moved[pod] = {"ns": newest, "keys": sorted(keys)}
    return kept, moved, failures


def _read_cluster(kube: KubernetesTools, play_id: str) -> list[tuple[CodeRunState, list[PodState]]]:
    return [(run, kube.pods_of(run)) for run in kube.play_coderuns(play_id)]


def _cluster_view(
    runs: list[tuple[CodeRunState, list[PodState]]], names: AgentNames, pod_agents: dict[str, str]
) -> tuple[list[Json], dict[str, str]]:
    coderuns: list[Json] = []
    for run, pods in runs:
        agent = names.canonical(run.github_app) if run.github_app else None
        for pod in pods:
            if agent:
                pod_agents[pod.name] = agent
        coderuns.append(
            {
                "name": run.name,
                "agent": agent,
                "task_id": run.task_id,
                "phase": run.phase,
                "terminal": run.terminal,
                "created_at": run.created_at.isoformat() if run.created_at else None,
                "pods": [pod.model_dump(mode="json") for pod in pods],
            }
        )
    return coderuns, pod_agents


def _key(entry: LokiEntry) -> str:
    """`LokiEntry.key()` as a short string the session's JSON state can hold."""
    return hashlib.sha1(repr(entry.key()).encode("utf-8", "replace")).hexdigest()[:16]


def _line(entry: LokiEntry, pod_agents: dict[str, str]) -> Json:
    labels = dict(entry.labels)
    if (agent := pod_agents.get(labels.get("pod", ""))) and "agent" not in labels:
        labels["agent"] = agent
    return {"ts": entry.timestamp_ns, "text": entry.line, "labels": labels}
