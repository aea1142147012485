"""Deterministic generator of a pod-shaped CodeRun log, as `kubectl logs --prefix --timestamps` prints a play.

Several agents' pods interleaved, every physical line `[pod/<pod>/<container>] <RFC 3339 ns> <text>`. Most bytes
are the agents' own event streams — Claude `--output-format stream-json --verbose` and Codex `exec --json`
(../shared/reference/agents/) — whose transcript content (tool results carrying whole source files, failing
tests, compiler errors) is full of error words. Around them: the container scripts' MCP diagnostics (real
quiet lines of ../shared/corpus/cto-platform-lines.json), controller INFO lines, and pods run through the
hive-mind wrapper (`[ts] [INFO] ` before each event; Claude events pretty-printed over many lines).

Planted failures, about one per `--plant-every` (2000) lines, are listed in `OUT.manifest.json` with their
1-based line (a pretty-printed event's first line) and the code Healer should report. `OUT.session.json` is the
session start payload (agents, declared tools) for `healer scan --session`.

    python bench/podlog.py bench/data/pod.log --size-mb 100 --seed 42 [--max-result-kb 200] [--plant-every 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.logs import _EPOCH, _K8S, CODE, MIB, RS_FILES, RUST_TESTS, _hex

_VERSION = 1  # bump when the output changes: invalidates files kept for reuse
PLANT_EVERY = 2000
PLAY = "play-42"
Item = tuple[list[str], str | None]  # one event's physical lines (no kubectl prefix yet), its planted kind
Event = dict[str, object]
_DUMP = {"separators": (",", ":"), "ensure_ascii": False}  # as the CLIs write: compact UTF-8 JSON
WRAP = "\x01"  # first-line marker: the hive-mind wrapper's `[ts] [INFO] ` goes here, at the event's time

# agent: (cli, container, model, declared remote tools)
AGENTS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "rex": ("claude", "claude-sonnet", "claude-sonnet-4-5-20250929", ("github_push_files", "rustdocs_query")),
    "blaze": ("claude", "claude-sonnet", "claude-sonnet-4-5-20250929", ("github_create_pull_request",)),
    "cleo": ("claude", "claude-opus", "claude-opus-4-5-20251101", ("github_create_pull_request_review",)),
    "tess": ("claude", "claude-sonnet", "claude-sonnet-4-5-20250929", ("kubernetes_listResources",)),
    "cipher": ("codex", "codex", "gpt-5-codex", ("github_get_pull_request", "github_create_pull_request_review")),
    "atlas": ("codex", "codex", "gpt-5-codex", ("github_merge_pull_request", "github_get_pull_request")),
}  # fmt: skip
# planted kind: (the code Healer should report, the CLI whose pods plant it; None: any pod)
PLANTS: dict[str, tuple[str, str | None]] = {
    "claude-auth-expired": ("R5", "claude"),  # `result` success/is_error after a <synthetic> assistant
    "claude-max-turns": ("R8", "claude"),
    "claude-no-such-tool": ("A10", "claude"),  # a tool_result <tool_use_error>
    "claude-mcp-failed": ("A12", "claude"),  # system/init with mcp_servers tools: failed
    "codex-retry-limit": ("R3", "codex"),  # turn.failed after Reconnecting... n/5
    "codex-usage-limit": ("R6", "codex"),
    "script-unreachable": ("A12", None),
    "script-max-retries": ("R3", None),
    "rust-panic": ("R1", None),  # a plain stderr line
}
AUTH_ERROR = (
    'API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired. '
    'Please obtain a new token or refresh your existing token."},"request_id":"req_011C%s"}'
)
MISSING_TOOL = "mcp__tools__brave_search_brave_web_search"  # declared to no agent: the model calls it anyway
# The container scripts' lines (cto-platform-lines.json, expect=quiet; the tool count filled in per agent).
DIAGNOSTICS = (
    "🔧 MCP Tools Diagnostics:", "  ✅ tools binary found: /usr/local/bin/tools",
    "  → Server URL: http://cto-tools.cto.svc.cluster.local:8080", "  ✅ Health check: OK (HTTP 200)",
    "  ✅ Config found: /mcp-config/mcp.json", "  ✓ client-config.json → /workspace/client-config.json",
    "    └─ Remote tools: {n}", "    └─ Local servers: 0", "  ✓ cto-tools CLI installed → /usr/local/bin/cto-tools",
    "║ Attempt 1 of 11",
)  # fmt: skip
UNREACHABLE = "  ❌ Server unreachable (connection failed/timeout)"  # replaces the health check line
TRAILER = ("✓ CLI execution completed successfully", "✅ Task complete - acceptance criteria verified")
CONTROLLER = (  # the first two are real (expect=quiet)
    "{ts}  INFO controller::tasks::tool_inventory: ✅ All declared tools resolved successfully agent={a} "
    "declared={d} resolved={d}",
    "{ts}  INFO controller::tasks::code::controller: Deleted completed code job: play-coderun-t{t}-{a}-factory-{h}-v1",
    "{ts}  INFO controller::tasks::code::controller: Reconciling CodeRun name=coderun-{a}-t{t} namespace=cto",
    "{ts}  INFO controller::tasks::code::controller: CodeRun phase changed name=coderun-{a}-t{t} phase=Running",
    "{ts} DEBUG kube_runtime::controller: reconciling object object.ref=CodeRun.v1.agents.platform/coderun-{a}-t{t}",
)
SOURCE = (
    *CODE,
    '        return Err(anyhow!("undefined tool {name}: error from tools server"));',
    '    panic!("unreachable: tools server returned {status}");',
    '    log::error!("connection refused by {addr}, max retries exceeded");',
    "  if (token === undefined) throw new Error('401 Unauthorized: invalid token');",
    '            raise TimeoutError("timed out waiting for the MCP server")',
    "    const PANIC: &str = \"thread 'main' panicked at\";",
    '    assert!(out.contains("No such tool available"), "FAILED: {out}");',
)
SAYS = (
    "The tests fail with `thread 'main' panicked at src/main.rs:41:9` because `cfg` is undefined when the tools "
    "server is unreachable. I'll return an error instead of panicking.",
    "cargo build reports error[E0425]: cannot find value `client`. Let me fix the import and rerun.",
    "3 tests FAILED: the mock returns 401 Unauthorized. I'll give the fixture a valid token.",
    "`max retries exceeded` in the integration test is expected: it checks we give up after 5 attempts.",
    "All tests pass now and there are no errors left. Committing and pushing.",
    "Let me look at how errors are handled in src/runner.rs before changing anything.",
)
COMMANDS = ("cargo test --workspace", "cargo clippy -- -D warnings", "npm test", "pytest -q", "go test ./...")
CLAUDE_TOOLS = ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "WebFetch", "TodoWrite", "WebSearch"]


def _failing_tests(r: Random) -> str:
    tests, f = r.sample(RUST_TESTS, r.randint(3, len(RUST_TESTS))), r.choice(RS_FILES)
    bad = tests[: r.randint(1, 3)]
    failures = [
        f"---- {t} stdout ----\nthread '{t}' panicked at src/{f}:{r.randint(1, 900)}:{r.randint(1, 80)}:\n"
        "assertion `left == right` failed\n  left: 401\n right: 200\n"
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
        for t in bad
    ]
    head = [f"running {len(tests)} tests", *(f"test {t} ... {'FAILED' if t in bad else 'ok'}" for t in tests)]
    tail = f"test result: FAILED. {len(tests) - len(bad)} passed; {len(bad)} failed\nerror: test failed"
    return "\n".join([*head, "", "failures:", "", *failures, tail])


def _compile_errors(r: Random) -> str:
    f, n = r.choice(RS_FILES), r.randint(1, 900)
    return (
        f"   Compiling agent-runner v0.4.{r.randint(0, 9)} (/workspace/agent-runner)\n"
        f"error[E0425]: cannot find value `cfg` in this scope\n  --> src/{f}:{n}:9\n   |\n"
        f"{n} |     let client = build(cfg)?;\n   |                        ^^^ not found in this scope\n\n"
        "error[E0599]: no method named `unwrap_or_undefined` found for enum `Result` in the current scope\n"
        'error: could not compile `agent-runner` (bin "agent-runner") due to 2 previous errors\n'
        f"src/api.ts({n},5): error TS2304: Cannot find name 'undefinedClient'.\n"
        "TypeError: Cannot read properties of undefined (reading 'map')\n"
        "--- FAIL: TestReconcile (0.00s)\npanic: runtime error: invalid memory address or nil pointer dereference\n"
        "FAILED tests/test_api.py::test_login - KeyError: 'model'\n"
        "E   ConnectionRefusedError: [Errno 111] Connection refused"
    )


def _source(r: Random) -> str:
    return "\n".join(r.choices(SOURCE, k=r.randint(20, 120)))


def _numbered(text: str) -> str:
    """A file as Claude's Read tool returns it (`cat -n` with an arrow)."""
    return "\n".join(f"{i:>6}→{line}" for i, line in enumerate(text.split("\n"), 1))


def _fit(text: str, n: int) -> str:
    """`text` cut at a line end to at most `n` UTF-8 bytes."""
    while len(text.encode()) > n:
        text = text[: max(text.rfind("\n", 0, n), 0)] or text[: n // 3]
    return text


@dataclass
class _Agent:
    name: str
    cli: str
    container: str
    model: str
    tools: tuple[str, ...]
    task: int = 0
    pod: str = ""
    items: Iterator[Item] = field(default_factory=lambda: iter(()))
    pending: list[str] = field(default_factory=list)  # planted kinds due in this agent's pods

    def take(self, *kinds: str) -> str | None:
        kind = next((k for k in self.pending if k in kinds), None)
        if kind:
            self.pending.remove(kind)
        return kind


class _Gen:
    """The endless interleaved log: `lines()` yields (prefixed lines, planted kind, agent, pod) per event."""

    def __init__(self, seed: int, max_result_kb: int, plant_every: int) -> None:
        self.r, self.plant_every = (r := Random(seed)), plant_every
        self.max_bytes, blocks, size = max_result_kb * 1024, [], 0
        while size < max(2 * self.max_bytes, MIB):  # the ASCII text that tool outputs are cut from
            blocks.append(r.choice((_failing_tests, _compile_errors, _source, _source))(r))
            size += len(blocks[-1]) + 1
        self.text = "\n".join(blocks)
        self.starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        self.agents = [_Agent(name, *spec) for name, spec in AGENTS.items()]
        self.now, self.sec, self.hms = _EPOCH * 10**9 + r.randrange(10**9), -1, ""

    def uuid(self) -> str:
        h = _hex(self.r, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def size(self) -> int:
        """A tool output's size: mostly small, some tens of KB, a few up to the largest asked for."""
        u, top = self.r.random(), self.max_bytes
        lo, hi = (200, 4000) if u < 0.8 else (4000, 40_000) if u < 0.975 else (40_000, top)
        return self.r.randint(min(lo, top), min(hi, top))

    def cut(self, n: int) -> str:
        """Whole lines of tool output, at most `n` bytes."""
        start = self.starts[self.r.randrange(len(self.starts) // 2)]
        end = self.starts[bisect_right(self.starts, start + n + 1) - 1] - 1
        return self.text[start:end] if end > start else self.text[start : start + n]

    def usage(self) -> Event:
        r = self.r
        return dict(
            input_tokens=r.randint(1, 90), cache_creation_input_tokens=r.randint(0, 30000),
            cache_read_input_tokens=r.randint(0, 190_000), output_tokens=r.randint(1, 4000),
        )  # fmt: skip

    def stamp(self) -> tuple[str, str]:
        """(kubectl's RFC 3339 timestamp, the hive-mind wrapper's prefix) of the next event."""
        self.now += self.r.randrange(2_000_000, 120_000_000)
        sec, ns = divmod(self.now, 10**9)
        if sec != self.sec:
            self.sec, self.hms = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self.hms}.{ns:09d}Z", f"[{self.hms}.{ns // 10**6:03d}Z] [INFO] "

    def new_pod(self, a: _Agent) -> None:
        a.task += 1
        a.pod = f"coderun-{a.name}-t{a.task}-{PLAY}-{_hex(self.r, 5).translate(_K8S)}"
        a.items = (self.claude_pod if a.cli == "claude" else self.codex_pod)(a)

    def script(self, a: _Agent) -> Iterator[Item]:
        diag = [line.format(n=len(a.tools)) for line in DIAGNOSTICS]
        if a.take("script-unreachable"):
            yield diag[:3], None
            yield [UNREACHABLE], "script-unreachable"
            diag = diag[4:]
        yield diag, None

    def end(self, a: _Agent) -> Iterator[Item]:
        if a.take("rust-panic"):  # the agent's Rust tooling dies on its way out (stderr, never wrapped)
            yield ["thread 'main' panicked at src/main.rs:41:9:"], "rust-panic"
            yield ["called `Option::unwrap()` on a `None` value"], None
            yield ["note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"], None
        elif a.take("script-max-retries"):
            yield ["❌ Max retries exhausted"], "script-max-retries"
        else:
            yield list(TRAILER), None

    def claude_pod(self, a: _Agent) -> Iterator[Item]:
        r, sid, tid = self.r, self.uuid(), ""
        pretty = r.random() < 0.2  # run by the hive-mind wrapper, which pretty-prints every event

        def ev(event: Event, kind: str | None = None) -> Item:
            event |= {"session_id": sid, "uuid": self.uuid()}
            if pretty:  # `[ts] [INFO] {`, the indented lines, `}` at column 0
                return (WRAP + json.dumps(event, indent=2, ensure_ascii=False)).split("\n"), kind
            return [json.dumps(event, **_DUMP)], kind

        def says(block: Event, **extra: object) -> Event:
            msg = dict(model=a.model, id=f"msg_01{_hex(r, 22)}", type="message", role="assistant")
            msg |= {"content": [block], "stop_reason": None, "stop_sequence": None, "usage": self.usage()}
            return {"type": "assistant", "message": msg, "parent_tool_use_id": None, **extra}

        def call(name: str, **tool_input: object) -> Item:
            return ev(says({"type": "tool_use", "id": tid, "name": name, "input": tool_input}))

        def result(content: str, is_error: bool = False, kind: str | None = None) -> Item:
            block = {"type": "tool_result", "content": content, "is_error": is_error, "tool_use_id": tid}
            user = {"role": "user", "content": [block]}
            return ev({"type": "user", "message": user, "parent_tool_use_id": None}, kind)

        yield from self.script(a)
        failed = a.take("claude-mcp-failed")  # then the server's tools are missing from `tools`
        init = dict(type="system", subtype="init", cwd="/workspace/cto-parallel-test", model=a.model)
        init["tools"] = CLAUDE_TOOLS + ([] if failed else [f"mcp__tools__{t}" for t in a.tools])
        init["mcp_servers"] = [{"name": "tools", "status": "failed" if failed else "connected"}]
        init |= dict(permissionMode="bypassPermissions", apiKeySource="none", claude_code_version="2.0.55")
        yield ev(init, failed)
        turns = 0
        for turns in range(1, r.randint(8, 60)):
            tid = f"toolu_01{_hex(r, 22)}"
            if a.take("claude-no-such-tool"):
                yield call(MISSING_TOOL, query="model context protocol spec")
                error = f"<tool_use_error>Error: No such tool available: {MISSING_TOOL}</tool_use_error>"
                yield result(error, True, "claude-no-such-tool")
                continue
            if a.pending:  # something else is due: end this run so that this pod or the next plants it
                break
            if r.random() < 0.3:
                yield ev(says({"type": "thinking", "thinking": r.choice(SAYS), "signature": _hex(r, 96)}))
            if r.random() < 0.5:
                yield ev(says({"type": "text", "text": r.choice(SAYS)}))
            u, n = r.random(), self.size()
            if u < 0.45:
                yield call("Bash", command=f"{r.choice(COMMANDS)} 2>&1", description="Run the checks")
                yield result(self.cut(n), r.random() < 0.5)  # a failing command: transcript content
            elif u < 0.75:
                yield call("Read", file_path=f"/workspace/cto-parallel-test/src/{r.choice(RS_FILES)}")
                yield result(_fit(_numbered(self.cut(n * 4 // 5)), n))
            elif u < 0.9:
                path = f"src/{r.choice(RS_FILES)}"
                yield call("Edit", file_path=path, old_string=r.choice(SOURCE), new_string=self.cut(600))
                yield result(f"The file {path} has been updated.")
            else:
                yield call(f"mcp__tools__{r.choice(a.tools)}", pull_number=turns)
                yield result(_fit(json.dumps({"body": self.cut(n * 3 // 4)}), n))
            if r.random() < 0.05:
                info = dict(status="allowed", resetsAt=self.sec + 9000, rateLimitType="five_hour")
                yield ev({"type": "rate_limit_event", "rate_limit_info": info})
        stats = dict(duration_ms=r.randint(10**4, 10**7), duration_api_ms=r.randint(10**4, 10**6))
        stats |= {"num_turns": turns, "total_cost_usd": round(r.random() * 9, 6), "usage": self.usage()}
        if a.take("claude-auth-expired"):
            text = AUTH_ERROR % _hex(r, 20)
            synthetic = says({"type": "text", "text": text}, error="authentication_failed")
            synthetic["message"] |= dict(model="<synthetic>", stop_reason="stop_sequence", stop_sequence="")
            yield ev(synthetic)  # not a finding of its own: the result below is
            done = {"type": "result", "subtype": "success", "is_error": True, **stats, "result": text}
            yield ev(done, "claude-auth-expired")
        elif a.take("claude-max-turns"):
            errors = {"terminal_reason": "max_turns", "errors": ["Reached maximum number of turns (40)"]}
            done = {"type": "result", "subtype": "error_max_turns", "is_error": True, **stats, **errors}
            yield ev(done, "claude-max-turns")
        else:
            done = {"type": "result", "subtype": "success", "is_error": False, **stats}
            yield ev(done | {"result": r.choice(SAYS)})
        yield from self.end(a)

    def codex_pod(self, a: _Agent) -> Iterator[Item]:
        r, n = self.r, 0
        wrap = WRAP if r.random() < 0.25 else ""  # the hive-mind wrapper: a prefix, then a blank line

        def ev(event: Event, kind: str | None = None, bare: bool = False) -> Item:
            line = json.dumps(event, **_DUMP)
            return ([line if bare else wrap + line, ""] if wrap else [line]), kind

        def item(phase: str, kind: str, **fields: object) -> Item:
            return ev({"type": f"item.{phase}", "item": {"id": f"item_{n}", "type": kind, **fields}})

        yield from self.script(a)
        if r.random() < 0.5:
            yield [wrap + "Reading prompt from stdin..."], None  # Codex's stderr
        thread = f"019a{_hex(r, 4)}-{_hex(r, 4)}-7{_hex(r, 3)}-{_hex(r, 4)}-{_hex(r, 12)}"
        yield ev({"type": "thread.started", "thread_id": thread})
        for _ in range(r.randint(1, 4)):
            yield ev({"type": "turn.started"})
            for _ in range(r.randint(4, 40)):
                if a.pending:
                    break
                n += 1
                u = r.random()
                if u < 0.2:
                    yield item("completed", "reasoning", text=f"**{r.choice(SAYS)[:60]}**")
                elif u < 0.3:
                    yield item("completed", "agent_message", text=r.choice(SAYS))
                elif u < 0.75:  # a command that often fails: the agent sees it and goes on
                    ex, code = {"command": f"bash -lc '{r.choice(COMMANDS)}'"}, r.choice((0, 1, 101))
                    yield item(
                        "started", "command_execution", **ex, aggregated_output="", status="in_progress"
                    )
                    ex |= {"aggregated_output": self.cut(self.size()), "exit_code": code}
                    yield item(
                        "completed", "command_execution", **ex, status="failed" if code else "completed"
                    )
                elif u < 0.88:
                    res = {"content": [{"type": "text", "text": self.cut(self.size())}]}
                    call = dict(server="tools", tool=r.choice(a.tools), arguments={"pull_number": n})
                    yield item(
                        "completed", "mcp_tool_call", **call, result=res, error=None, status="completed"
                    )
                elif u < 0.95:
                    changes = [{"path": f"src/{r.choice(RS_FILES)}", "kind": "update"}]
                    yield item("completed", "file_change", changes=changes, status="completed")
                else:  # a transient stream error: Codex reconnects and the turn goes on
                    for k in range(1, r.randint(2, 4)):
                        yield ev({"type": "error", "message": f"Reconnecting... {k}/5"})
            failed = a.take("codex-retry-limit", "codex-usage-limit")
            if failed == "codex-retry-limit":
                for k in range(1, 6):
                    yield ev({"type": "error", "message": f"Reconnecting... {k}/5"})
                message = (
                    f"exceeded retry limit, last status: 429 Too Many Requests, request id: {_hex(r, 16)}-AMS"
                )
            elif failed:
                at = f"{r.randint(1, 12)}:{r.randint(0, 59):02d} PM"
                message = f"You've hit your usage limit. To get more access now, send a request to your admin or try again at {at}."
            if failed:  # as in the samples: an `error` event, then `turn.failed` (at column 0 when wrapped)
                yield ev({"type": "error", "message": message})
                yield ev({"type": "turn.failed", "error": {"message": message}}, failed, bare=True)
                break
            usage = dict(input_tokens=r.randint(10**3, 10**6), cached_input_tokens=r.randint(0, 10**6))
            yield ev({"type": "turn.completed", "usage": {**usage, "output_tokens": r.randint(10, 10**4)}})
            if a.pending:
                break
        yield from self.end(a)

    def lines(self) -> Iterator[tuple[list[str], str | None, str, str]]:
        r, order, lines, given = self.r, [], 0, Counter[str | None]()
        every = self.plant_every
        due = r.randint(every // 2, every)
        controller = f"cto-controller-{_hex(r, 9).translate(_K8S)}-{_hex(r, 5).translate(_K8S)}"
        for a in self.agents:
            self.new_pod(a)
        while True:
            while lines >= due:  # a failure is due: the next agent (in turn) whose pods can plant it gets it
                order = order or r.sample(sorted(PLANTS), len(PLANTS))
                cli = PLANTS[kind := order.pop()][1]
                fit = [a for a in self.agents if cli in (None, a.cli)]
                fit[given[cli] % len(fit)].pending.append(kind)
                given[cli] += 1
                due += r.randint(every * 3 // 4, every * 5 // 4)
            ts, wrapper = self.stamp()
            if r.random() < 0.04:
                a = r.choice(self.agents)
                text = r.choice(CONTROLLER).format(
                    ts=ts[:26] + "Z", a=a.name, d=len(a.tools), t=a.task, h=_hex(r, 8)
                )
                yield [f"[pod/{controller}/controller] {ts} {text}"], None, "", controller
                lines += 1
                continue
            a = r.choice(self.agents)
            if (event := next(a.items, None)) is None:
                self.new_pod(a)
                continue
            texts, kind = event
            if texts[0].startswith(WRAP):
                texts[0] = wrapper + texts[0][1:]
            yield [f"[pod/{a.pod}/{a.container}] {ts} {t}" for t in texts], kind, a.name, a.pod
            lines += len(texts)


@dataclass(frozen=True)
class PodLog:
    path: Path
    manifest: Path
    session: Path
    size_bytes: int
    line_count: int
    planted: list[dict[str, object]]  # {line, code, kind, agent, pod}, in line order
    reused: bool = False


def session_payload() -> dict[str, object]:
    """The session start payload of the generated play: each agent with its CLI, model and remote tools."""
    agents = {
        name: {
            "githubApp": f"5DLabs-{name.title()}",
            "cli": cli,
            "model": model,
            "tools": {"remote": list(tools)},
        }
        for name, (cli, _, model, tools) in AGENTS.items()
    }
    return {"play_id": PLAY, "repository": "5dlabs/cto-parallel-test", "cto_config": {"agents": agents}}


def generate(
    path: Path, size_mb: float = 100, seed: int = 42, max_result_kb: int = 200, plant_every: int = PLANT_EVERY
) -> PodLog:
    """Write up to `size_mb` MiB (whole events) of pod log to `path` with its manifest and session file, or
    reuse them when the manifest records the same parameters and the log still has its size."""
    path = Path(path)
    manifest, session = (path.with_name(f"{path.name}.{kind}.json") for kind in ("manifest", "session"))
    params = dict(
        version=_VERSION, size_mb=size_mb, seed=seed, max_result_kb=max_result_kb, plant_every=plant_every
    )
    try:
        meta = json.loads(manifest.read_text())
        same = {k: meta.get(k) for k in params} == params and path.stat().st_size == meta["size_bytes"]
        if same and session.exists():
            return PodLog(
                path, manifest, session, meta["size_bytes"], meta["line_count"], meta["planted"], True
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    manifest.unlink(missing_ok=True)  # never leave a stale manifest next to a half-written log
    path.parent.mkdir(parents=True, exist_ok=True)
    target, size, lines, events, planted = int(size_mb * MIB), 0, 0, 0, []
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        for texts, kind, agent, pod in _Gen(seed, max_result_kb, plant_every).lines():
            data = ("\n".join(texts) + "\n").encode()
            if size + len(data) > target:
                break
            if kind:
                planted.append(
                    {"line": lines + 1, "code": PLANTS[kind][0], "kind": kind, "agent": agent, "pod": pod}
                )
            events += sum(len(t.encode()) + 1 for t in texts if t.endswith("}") and '{"type":' in t)
            out.write(data)
            size, lines = size + len(data), lines + len(texts)
    os.replace(tmp, path)
    session.write_text(json.dumps(session_payload(), indent=1) + "\n")
    meta = {**params, "size_bytes": size, "line_count": lines, "json_event_bytes": events, "planted": planted}
    manifest.write_text(json.dumps(meta, indent=1) + "\n")
    return PodLog(path, manifest, session, size, lines, planted)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a deterministic pod-shaped CodeRun log for benchmarks.")
    ap.add_argument("out", type=Path, help="the log; OUT.manifest.json and OUT.session.json go beside it")
    ap.add_argument("--size-mb", type=float, default=100, help="size in MiB (default 100)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-result-kb", type=int, default=200, help="largest tool output (default 200 KB)")
    ap.add_argument("--plant-every", type=int, default=PLANT_EVERY, help="lines per planted failure (2000)")
    a = ap.parse_args(argv)
    started = time.perf_counter()
    g = generate(a.out, a.size_mb, a.seed, a.max_result_kb, a.plant_every)
    seconds = time.perf_counter() - started
    codes = Counter(str(p["code"]) for p in g.planted)
    print(
        f"{g.path}: {g.size_bytes / MIB:.1f} MiB, {g.line_count:,} lines, {len(g.planted)} planted failures "
        f"({', '.join(f'{c} {n}' for c, n in sorted(codes.items()))}), {'reused' if g.reused else f'{seconds:.2f} s'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
