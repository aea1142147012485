"""The LangChain tools an LLM node may call: scoped, read-only, redacted and bounded."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client as k8s

from tests import kube_cassettes
from tests.http_harness import Reply, ScriptedServer, cassette
from tools.kubernetes import KubernetesTools, api_client
from tools.llm_tools import CHARS_PER_TOKEN, bounded, play_logs_tool, pod_status_tool
from tools.loki import LokiClient, LokiConfig

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


@pytest.mark.anyio
async def test_play_logs_tool_is_scoped_to_the_play_and_escapes_the_filter() -> None:
    values = [[str(T0 + i * 10**9), f"step {i} with {TOKEN}"] for i in range(3)]
    body = {
        "status": "success",
        "data": {"resultType": "streams", "result": [{"stream": {"agent": "rex"}, "values": values}]},
    }
    with ScriptedServer([Reply(200, body)]) as server:
        async with LokiClient(LokiConfig(server.url)) as loki:
            tool = play_logs_tool(
                loki, {"namespace": "cto", "workflow_name": "play-42"}, now_ns=lambda: T0 + 60 * 10**9
            )
            answer = await tool.ainvoke({"contains": 'say "hi"', "minutes": 1, "limit": 10})
    query = parse_qs(urlparse(server.seen[0].path).query)
    assert query["query"] == ['{namespace="cto", workflow_name="play-42"} |= "say \\"hi\\""']
    assert query["start"] == [str(T0)] and query["limit"] == ["10"]
    assert answer.splitlines()[0] == "05:20:00.000 [rex] step 0 with [REDACTED:github-token]"
    assert TOKEN not in answer


@pytest.mark.anyio
async def test_play_logs_tool_reports_failures_as_text() -> None:
    with ScriptedServer([Reply(400, "parse error at line 1, col 9")]) as server:
        async with LokiClient(LokiConfig(server.url)) as loki:
            answer = await play_logs_tool(loki, {"namespace": "cto"}).ainvoke({})
    assert answer.startswith("Loki query failed: Loki answered 400")


def test_pod_status_tool_summarises_the_pod_from_the_cluster() -> None:
    configuration = k8s.Configuration(host=kube_cassettes.HOST)
    tool = pod_status_tool(KubernetesTools(api_client(configuration), "cto"))
    with cassette("kubernetes/pod_events_and_logs"):
        answer = tool.invoke({"pod": "coderun-rex-t1-play-42-x7k2p", "log_lines": 100})
    assert "pod coderun-rex-t1-play-42-x7k2p: phase Running" in answer
    assert "waiting CrashLoopBackOff ready=False restarts=5, last ended Error (exit 1)" in answer
    assert "event Warning BackOff x23" in answer and "missing: [brave_search]" in answer


def test_file_at_ref_tool_numbers_lines_and_reports_missing_files() -> None:
    from tests import github_cassettes as gh
    from tools.github import GitHubConfig, GitHubTools
    from tools.llm_tools import file_at_ref_tool

    github = GitHubTools(
        GitHubConfig(token="test-token", write_spacing_s=None), gh.REPOSITORY, sleep=lambda _s: None
    )
    tool = file_at_ref_tool(github)
    with cassette("github/code"):
        answer = tool.invoke({"path": "README.md", "ref": "main"})
    assert answer.startswith("    1  # Yoga Bo")
    with cassette("github/errors"):
        missing = tool.invoke({"path": "missing.txt", "ref": "main"})
    assert missing == "GitHub read failed: read missing.txt at main: Not Found"
