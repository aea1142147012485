"""The LangChain tools an LLM node may call: scoped, read-only, redacted and bounded."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client as k8s

from tests import kube_cassettes
from tests.http_harness import Reply, ScriptedServer, cassette
from tools.github import GitHubUnavailable
from tools.kubernetes import KubernetesTools, api_client
from tools.llm_tools import CHARS_PER_TOKEN, Investigation, bounded
from tools.loki import LokiClient, LokiConfig
from tools.loki_streams import LokiEntry
from tools.play_logs import KubeClusterFacts, LokiPlayLogs, MemoryPlayLogs, TextClusterFacts

T0 = 1_795_497_600_000_000_000
TOKEN = "gh" + "p_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"


def test_bounded_keeps_head_and_tail_within_the_budget() -> None:
    lines = [f"line {i:04d} " + "x" * 50 for i in range(1000)]
    text = bounded(lines, token_budget=500)
    assert len(text) <= 500 * CHARS_PER_TOKEN
    assert text.startswith("line 0000") and text.rstrip().endswith(lines[-1])
    assert "lines omitted" in text
    assert bounded(["short", "lines"], 500) == "short\nlines"
    assert len(bounded(["y" * 100_000], 100)) < 100 * CHARS_PER_TOKEN


def test_bounded_redacts() -> None:
    assert TOKEN not in bounded([f"push with {TOKEN}"]) and "[REDACTED:github-token]" in bounded([TOKEN])


POD = "coderun-rex-t1-play-42-x7k2p"


def _investigation(**sources: object) -> Investigation:
    return Investigation(
        anchor_ns=T0 + 60 * 10**9, pods={POD: "rex", "coderun-blaze-t2-z9q8w": "blaze"}, **sources
    )


@pytest.mark.anyio
async def test_search_is_scoped_to_the_play_pods_anchored_at_the_finding_and_escaped() -> None:
    values = [[str(T0 + i * 10**9), f"step {i} with {TOKEN}"] for i in range(3)]
    body = {
        "status": "success",
        "data": {"resultType": "streams", "result": [{"stream": {"agent": "rex"}, "values": values}]},
    }
    with ScriptedServer([Reply(200, body)]) as server:
        async with LokiClient(LokiConfig(server.url)) as loki:
            investigation = _investigation(logs=LokiPlayLogs(loki, "cto", [POD]), facts=None)
            search = {tool.name: tool for tool in investigation.tools()}["search_logs"]
            answer = await search.ainvoke({"contains": 'say "hi"', "agent": "rex", "minutes_before": 1})
    query = parse_qs(urlparse(server.seen[0].path).query)
    assert query["query"] == [
        r'{namespace="cto", pod=~"coderun\\-rex\\-t1\\-play\\-42\\-x7k2p"} |~ "(?i)say \\\"hi\\\""'
    ]
    assert query["start"] == [str(T0)] and query["direction"] == ["backward"]
    assert answer.splitlines()[0] == "05:20:00.000 [rex] step 0 with [REDACTED:github-token]"
    assert TOKEN not in answer and investigation.returned == answer.splitlines()


@pytest.mark.anyio
async def test_a_name_outside_the_play_reads_the_plays_own_pods_and_failures_are_text() -> None:
    """A small model makes names up; "no such pod" alone reads to it like the failure, so the answer says
    so and gives the lines of the play's pods instead (never another pod's)."""
    line = {"stream": {"agent": "rex"}, "values": [[str(T0), "cargo test: 3 passed"]]}
    found = {"status": "success", "data": {"resultType": "streams", "result": [line]}}
    empty = {"status": "success", "data": {"resultType": "streams", "result": []}}
    replies = [Reply(200, found), Reply(200, empty), Reply(400, "parse error at line 1, col 9")]
    with ScriptedServer(replies) as server:
        async with LokiClient(LokiConfig(server.url)) as loki:
            investigation = _investigation(logs=LokiPlayLogs(loki, "cto", [POD]), facts=None)
            search = {tool.name: tool for tool in investigation.tools()}["search_logs"]
            outside = await search.ainvoke({"pod": "kube-apiserver"})
            nobody = await search.ainvoke({"agent": "tess"})
            failed = await search.ainvoke({})
    assert outside.splitlines() == [
        "(kube-apiserver is not a pod of this play; its pods: coderun-blaze-t2-z9q8w, "
        "coderun-rex-t1-play-42-x7k2p; the lines of all of them follow)",
        "05:20:00.000 [rex] cargo test: 3 passed",
    ]
    queries = [parse_qs(urlparse(seen.path).query)["query"][0] for seen in server.seen]
    scope = (
        r'{namespace="cto", pod=~"coderun\\-rex\\-t1\\-play\\-42\\-x7k2p"}'  # the play's pods, and only them
    )
    assert queries == [scope, scope, scope]
    assert nobody.startswith(
        "(no pod of agent tess in this play; its agents: blaze, rex"
    ) and nobody.endswith("No log lines matched.")
    assert len(server.seen) == 3 and failed.startswith("the log query failed: Loki answered 400")


@pytest.mark.anyio
async def test_memory_logs_read_the_first_lines_of_a_pod_and_search_any_case() -> None:
    entries = [
        LokiEntry(T0 + i * 10**9, f"line {i} {'WARN slow' if i == 3 else 'ok'}", {"pod": POD})
        for i in range(50)
    ]
    entries.append(LokiEntry(T0, "other pod WARN", {"pod": "coderun-blaze-t2-z9q8w"}))
    investigation = _investigation(
        logs=MemoryPlayLogs(entries), facts=TextClusterFacts("Status: CrashLoopBackOff")
    )
    tools = {tool.name: tool for tool in investigation.tools()}
    assert sorted(tools) == ["log_start", "pod_status", "search_logs"]
    start = await tools["log_start"].ainvoke({"agent": "rex", "lines": 2})
    assert [line.split("] ")[1] for line in start.splitlines()] == ["line 0 ok", "line 1 ok"]
    warned = await tools["search_logs"].ainvoke({"contains": "warn", "pod": POD})
    assert warned.endswith("line 3 WARN slow") and "other pod" not in warned
    assert await tools["pod_status"].ainvoke({"agent": "rex"}) == "Status: CrashLoopBackOff"


@pytest.mark.anyio
async def test_pod_status_summarises_the_pod_from_the_cluster() -> None:
    configuration = k8s.Configuration(host=kube_cassettes.HOST)
    facts = KubeClusterFacts(KubernetesTools(api_client(configuration), "cto"), [POD])
    investigation = _investigation(logs=None, facts=facts)
    tool = investigation.tools()[0]
    with cassette("kubernetes/pod_events_and_logs"):
        answer = await tool.ainvoke({"pod": POD})
    assert "pod coderun-rex-t1-play-42-x7k2p: phase Running" in answer
    assert "waiting CrashLoopBackOff ready=False restarts=5, last ended Error (exit 1)" in answer
    assert "event Warning BackOff x23" in answer


@pytest.mark.anyio
async def test_other_incidents_and_failed_checks_are_offered_only_when_there_is_something() -> None:
    async def incidents() -> list[str]:
        return ["A12 critical (blaze): MCP server init failure, open"]

    nothing = _investigation(logs=None, facts=None)
    assert nothing.tools() == [] and not nothing.has_tools
    investigation = _investigation(logs=None, facts=None, incidents=incidents, ci_detail="test: failure")
    assert investigation.has_tools
    tools = {tool.name: tool for tool in investigation.tools()}
    assert await tools["other_incidents"].ainvoke({}) == "A12 critical (blaze): MCP server init failure, open"
    assert await tools["failed_checks"].ainvoke({}) == "test: failure"


@pytest.mark.anyio
async def test_a_workload_name_reads_its_pods() -> None:
    """An operator (and a model) names the Deployment or Job, `api`, not its pod `api-7d9f8b-x2x4q`."""
    pods = {"payment-worker-747ccfb9db-78qds": "payment-worker", "payment-api-5f9-abcde": "payment-api"}
    entries = [LokiEntry(T0, f"{pod} says hello", {"pod": pod}) for pod in pods]
    investigation = Investigation(logs=MemoryPlayLogs(entries), facts=None, anchor_ns=T0 + 10**9, pods=pods)
    search = {tool.name: tool for tool in investigation.tools()}["search_logs"]
    worker = await search.ainvoke({"pod": "payment-worker"})
    assert worker.endswith("payment-worker-747ccfb9db-78qds says hello") and "payment-api" not in worker
    assert (await search.ainvoke({"pod": "paym"})).startswith("(paym is not a pod of this play")


@pytest.mark.anyio
async def test_failed_checks_reads_the_logs_only_when_asked_and_a_github_failure_is_text() -> None:
    reads: list[int] = []

    async def logs() -> list[str]:
        reads.append(1)
        return ["end of the log of ci/test:", "assertion failed: left == right"]

    async def broken() -> list[str]:
        raise GitHubUnavailable("read checks of abc123: GitHub answered 502 4 times", 502)

    investigation = _investigation(logs=None, facts=None, ci_detail="ci/test: failure", ci_logs=logs)
    tool = {tool.name: tool for tool in investigation.tools()}["failed_checks"]
    assert reads == []  # offering the tool reads nothing
    answer = await tool.ainvoke({})
    assert answer.splitlines() == [
        "ci/test: failure",
        "end of the log of ci/test:",
        "assertion failed: left == right",
    ]
    assert reads == [1] and "assertion failed: left == right" in investigation.returned
    failing = _investigation(logs=None, facts=None, ci_detail="ci/test: failure", ci_logs=broken)
    answer = await {t.name: t for t in failing.tools()}["failed_checks"].ainvoke({})
    assert answer.splitlines()[1].startswith("the checks' logs could not be read: read checks of abc123")
