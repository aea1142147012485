"""Deterministic generator of a realistic mixed agent log, for benchmarks and tests.

What the pods of a play print: ~97 % noise in many formats (Rust tracing, Go logfmt, klog, zap/pino/Python
JSON including 2-8 KB tool payloads, Python logging, cargo/npm/pip, passing tests, git, claude/codex CLI),
some of it mentioning errors without being one, and `finding_ratio` of planted findings.

A planted finding is one event whose FIRST line is the trigger; some (Rust panic, Go fatal error, Python
traceback, rustc error) carry continuation lines, which count in `line_count` but not as findings.

    python bench/logs.py bench/data/mixed.log --size-mb 100 --finding-ratio 0.03 --seed 42
"""

import argparse
import calendar
import json
import os
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count, islice, repeat
from operator import add, and_, itemgetter
from pathlib import Path

MIB = 1024 * 1024
_VERSION = 1  # bump when the corpus or the algorithm changes: invalidates files kept for reuse
_BATCH = 4096  # line slots per batch
_POOL = 4096  # rendered noise entries (a power of two)
_REFRESH = 256  # noise entries re-rendered per batch: each rendered body is used ~_BATCH/_REFRESH times
_FPOOL = 256  # rendered finding events
_FREFRESH = 32  # finding entries re-rendered per batch
_GROUP = 32  # consecutive lines sharing one timestamp
_EPOCH = calendar.timegm((2026, 11, 24, 5, 24, 30, 0, 0, 0))


@dataclass(frozen=True)
class GeneratedLog:
    path: Path
    size_bytes: int
    line_count: int
    planted_findings: int


AGENTS = ("Rex", "Blaze", "Cleo", "Tess", "Cipher", "Atlas")
CRATES = (
    "tokio v1.40.0",
    "serde v1.0.215",
    "serde_json v1.0.133",
    "hyper v1.5.1",
    "reqwest v0.12.9",
    "tracing v0.1.41",
    "anyhow v1.0.93",
    "clap v4.5.21",
    "kube v0.96.0",
    "axum v0.7.9",
    "rustls v0.23.19",
    "thiserror v2.0.3",
    "futures-util v0.3.31",
    "k8s-openapi v0.23.0",
)
PYPKGS = (
    "pydantic-2.14.3",
    "httpx-0.28.1",
    "langgraph-1.2.22",
    "PyGithub-2.10.0",
    "kubernetes-37.0.2",
    "hyperscan-0.9.1",
    "uvicorn-0.54.0",
    "fastapi-0.165.0",
    "anyio-4.6.2",
    "certifi-2024.8.30",
)
NPMPKGS = ("@types/node", "typescript", "vitest", "zod", "next", "react", "eslint", "pino", "undici", "tsx")
RUST_TESTS = (
    "client::tests::timeout_is_retried",
    "auth::rejects_unauthorized",
    "runner::panic_is_caught",
    "mcp::tests::connection_refused_is_reported",
    "config::tests::missing_file_errors",
    "github::tests::bad_credentials_are_not_retried",
    "parser::tests::parses_error_lines",
    "queue::tests::fatal_error_stops_worker",
    "tools::tests::permission_denied_is_surfaced",
    "retry::tests::max_retries_then_gives_up",
    "limits::tests::budget_exceeded_warns",
)
JS_TESTS = (
    "handles connection refused",
    "rejects an invalid token",
    "retries on ECONNREFUSED",
    "shows an error banner on 500",
    "returns 401 Unauthorized without a session",
    "parses the config",
)
TOOLS = (
    "brave_search",
    "memory_store",
    "github_create_pull_request",
    "rust_docs_query",
    "github_get_issue",
    "kubernetes_get_pods",
    "filesystem_read_file",
    "context7_get_docs",
)
MCPS = ("tools-gateway", "github", "brave-search", "memory", "rustdocs", "kubernetes")
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "gpt-5-codex", "gpt-5", "claude-haiku-4-5")
REPOS = ("acme/cto-demo", "acme/payments-api", "acme/web-dashboard", "acme/infra-charts", "acme/healer")
RS_FILES = ("main.rs", "lib.rs", "runner.rs", "mcp/client.rs", "config.rs", "github.rs", "tools/mod.rs")
GO_PKGS = ("controller", "webhook", "reconciler", "cache", "mcp", "gateway")
PY_MODS = ("healer/watch", "healer/triage", "healer/github", "agent/loop", "agent/tools")
PORTS = ("80", "443", "3000", "5432", "6379", "8080", "8443", "9090")
CODE = (
    "use std::collections::HashMap;",
    "pub async fn run(cfg: &Config) -> anyhow::Result<()> {",
    "    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;",
    "    match resp.status() {",
    "        StatusCode::OK => Ok(body),",
    '        s => Err(anyhow!("unexpected status {s}")),',
    "    }",
    "}",
    "#[derive(Debug, Deserialize)]",
    "pub struct Config { pub agents: Vec<Agent>, pub retries: u32 }",
    "def handle(event: dict) -> None:",
    '    """Route an event to its handler; errors are logged and swallowed."""',
    "    for attempt in range(3):",
    "        try:",
    "            return client.post(url, json=event)",
    "        except httpx.TimeoutException:",
    '            log.warning("retrying %s", attempt)',
    "export async function load(path: string): Promise<Config> {",
    '  const raw = await readFile(path, "utf8");',
    "  return ConfigSchema.parse(JSON.parse(raw));",
    "apiVersion: batch/v1",
    "kind: Job",
    "  backoffLimit: 0",
    "    image: ghcr.io/acme/agent-runner:1.4",
    "## Acceptance criteria",
    "- [ ] errors are reported with context",
    "- [x] retries back off",
    "",
)

Gen = Callable[[random.Random, "_Vals"], str]


def _one(seq: Sequence[str]) -> Gen:
    n = len(seq)
    return lambda r, v: seq[int(r.random() * n)]


def _int(lo: int, hi: int) -> Gen:
    span = hi - lo + 1
    return lambda r, v: str(lo + int(r.random() * span))


def _hex(r: random.Random, n: int) -> str:
    return f"{r.getrandbits(4 * n):0{n}x}"


_K8S = str.maketrans("0123456789abcdef", "bcdfghjklmn24579")  # hex -> k8s name-suffix alphabet


def _blob(r: random.Random) -> str:
    """2-7 KB of source, YAML and markdown lines (~36 bytes each)."""
    return "\n".join(r.choices(CODE, k=r.randint(58, 195)))


def _test_output(r: random.Random) -> str:
    tests = [f"test {t} ... ok" for t in r.choices(RUST_TESTS, k=r.randint(46, 160))]
    done = f"test result: ok. {len(tests)} passed; 0 failed; 0 ignored; finished in {r.uniform(1, 90):.2f}s"
    return json.dumps("\n".join(["running tests", *tests, done]))


_GEN: dict[str, Gen] = {
    "agent": _one(AGENTS),
    "a": lambda r, v: v["agent"].lower(),
    "task": _int(1, 64),
    "pod": lambda r, v: f"{v['a']}-t{v['task']}-{_hex(r, 10).translate(_K8S)}-{_hex(r, 5).translate(_K8S)}",
    "n": _int(0, 999),
    "n2": _int(1, 60),
    "n4": _int(100, 2500),
    "try": _int(1, 4),
    "ms": _int(1, 4000),
    "big": _int(1000, 9_999_999),
    "tok": _int(1000, 199_000),
    "pr": _int(1, 2400),
    "line": _int(1, 900),
    "col": _int(1, 80),
    "secs": lambda r, v: f"{r.random() * 240:.2f}",
    "kb": lambda r, v: f"{10 + r.random() * 2000:.1f}",
    "sha": lambda r, v: _hex(r, 40),
    "short": lambda r, v: _hex(r, 7),
    "short2": lambda r, v: _hex(r, 7),
    "hex16": lambda r, v: _hex(r, 16),
    "hex24": lambda r, v: _hex(r, 24),
    "uuid": lambda r, v: (h := _hex(r, 32)) and f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}",
    "ip": lambda r, v: f"10.{r.getrandbits(8)}.{r.getrandbits(8)}.{1 + r.getrandbits(7)}:{v['port']}",
    "port": _one(PORTS),
    "crate": _one(CRATES),
    "pypkg": _one(PYPKGS),
    "cname": lambda r, v: v["crate"].split(" ")[0].replace("-", "_"),
    "npm": _one(NPMPKGS),
    "test": _one(RUST_TESTS),
    "jtest": _one(JS_TESTS),
    "ptest": lambda r, v: v["test"].rsplit("::", 1)[1],
    "tool": _one(TOOLS),
    "tool2": _one(TOOLS),
    "mcp": _one(MCPS),
    "model": _one(MODELS),
    "repo": _one(REPOS),
    "rname": lambda r, v: v["repo"][5:],
    "branch": lambda r, v: f"feature/task-{v['task']}-{v['a']}",
    "rsfile": _one(RS_FILES),
    "gopkg": _one(GO_PKGS),
    "pymod": _one(PY_MODS),
    "blob_json": lambda r, v: json.dumps(_blob(r)),
    "fpath": lambda r, v: f"/workspace/{v['rname']}/src/{v['rsfile']}",
    "write_input": lambda r, v: json.dumps({"file_path": v["fpath"], "content": _blob(r)}),
    "edit_input": lambda r, v: json.dumps(
        {"file_path": v["fpath"], "old_string": r.choice(CODE), "new_string": _blob(r)}
    ),
    "test_output": lambda r, v: _test_output(r),
}
_TS_KINDS = ("", "ts_rfc", "ts_ms", "ts_klog", "ts_py", "ts_epoch_ms", "ts_epoch")  # order of _clock's ticks
_TS_SPLIT = {name: "\x00" for name in _TS_KINDS[1:]}


class _Vals(dict[str, str]):
    """Template values, each drawn on first use; `{ts_*}` renders as the \\0 split point."""

    __slots__ = ("rng",)
    rng: random.Random

    def __missing__(self, key: str) -> str:
        value = self[key] = _GEN[key](self.rng, self)
        return value


def _render(template: str, rng: random.Random) -> tuple[str, str]:
    """(head, tail) of one rendering: the line is head + timestamp + tail."""
    vals = _Vals(_TS_SPLIT)
    vals.rng = rng
    head, _, tail = template.format_map(vals).partition("\x00")
    return head, tail


# (weight, templates) of noise; long JSON lines (2-8 KB) are the last group.
NOISE: tuple[tuple[float, tuple[str, ...]], ...] = (
    (
        22,
        (
            "{ts_rfc}  INFO agent::runner: starting step step={n2} agent={a} pod={pod}",
            "{ts_rfc}  INFO agent::runner: step finished step={n2} elapsed_ms={ms} status=ok",
            '{ts_rfc} DEBUG hyper_util::client::legacy::pool: reuse idle connection for ("https", github.com)',
            "{ts_rfc}  INFO mcp::client: tool call completed tool={tool} duration_ms={ms} request_id={uuid}",
            "{ts_rfc} DEBUG agent::git: fetched {short}..{short2} from origin/{branch}",
            "{ts_rfc}  WARN agent::limits: approaching token budget used={tok} limit=200000",
            "{ts_rfc}  INFO cto::config: loaded cto-config from /etc/cto/cto-config.json agents=6",
            "{ts_rfc}  INFO controller::coderun: reconciling CodeRun name={a}-t{task} generation={n}",
            "{ts_rfc} TRACE tokio::runtime::task: poll task_id={big} budget={n}",
            "{ts_rfc}  INFO agent::runner: error handler registered kind=retryable",
            "{ts_rfc}  WARN agent::http: request to {mcp} timed out after {ms}ms, retrying attempt={try}/5",
            "{ts_rfc}  INFO agent::metrics: errors: 0 warnings: {n2} steps: {n} tokens={tok}",
        ),
    ),
    (
        16,
        (
            'time={ts_ms} level=info msg="watching pods" namespace=cto selector="app={a}"',
            'time={ts_ms} level=info msg="pod phase changed" pod={pod} phase=Running',
            'time={ts_ms} level=debug msg="cache sync" resource=coderuns count={n}',
            'time={ts_ms} level=info msg="http request" method=GET path=/healthz status=200 duration={ms}ms',
            'time={ts_ms} level=info msg="error handler registered" component=webhook',
            'time={ts_ms} level=warn msg="error sending batch, will retry" attempt={try} backoff={ms}ms',
            'time={ts_ms} level=info msg="reconcile complete" coderun={a}-t{task} requeue_after=30s',
            'time={ts_ms} level=info msg="webhook received" event=pull_request pr={pr} repo={repo} id={uuid}',
        ),
    ),
    (
        10,
        (
            'I{ts_klog}       1 controller.go:{line}] "Starting workers" controller="coderun" count={n2}',
            "I{ts_klog}       1 reflector.go:{line}] Listing and watching *v1.Pod from "
            "k8s.io/client-go/informers/factory.go:160",
            "I{ts_klog}       1 leaderelection.go:{line}] successfully acquired lease cto/controller-leader",
            "W{ts_klog}       1 endpoints.go:{line}] Error obtaining Endpoints for service cto/{a}-mcp: "
            'endpoints "{a}-mcp" not found',
            'I{ts_klog}       1 event.go:{line}] "Event occurred" object="cto/{pod}" kind="Pod" '
            'reason="Pulled" message="Container image already present on machine"',
        ),
    ),
    (
        8,
        (
            '{{"level":"info","ts":{ts_epoch},"logger":"controller","msg":"Reconciling",'
            '"coderun":"{a}-t{task}","reconcileID":"{uuid}"}}',
            '{{"ts": "{ts_rfc}", "level": "info", "msg": "schema check passed", "errorMessages": [], '
            '"checked": {n}}}',
            '{{"level":"debug","ts":{ts_epoch},"msg":"tool inventory ok","tools":["{tool}","{tool2}"],'
            '"errors":0}}',
            '{{"level":"info","ts":{ts_epoch},"msg":"pr status","repo":"{repo}","pr":{pr},"sha":"{sha}"}}',
        ),
    ),
    (
        8,
        (
            "{ts_py} INFO healer.watch: polling pods in namespace cto (found {n2})",
            "{ts_py} INFO healer.triage: scanned {big} lines of {pod}, findings=0",
            '{ts_py} DEBUG urllib3.connectionpool: https://api.github.com:443 "GET /repos/{repo}/pulls/{pr} '
            'HTTP/1.1" 200 {big}',
            "{ts_py} WARNING healer.github: rate limit low: remaining={n} reset_in={n2}s",
            "{ts_py} INFO httpx: HTTP Request: POST https://api.openai.com/v1/chat/completions "
            '"HTTP/1.1 200 OK"',
        ),
    ),
    (
        6,
        (
            '{{"level":30,"time":{ts_epoch_ms},"pid":{n},"hostname":"{pod}","reqId":"req-{n2}",'
            '"msg":"request completed","res":{{"statusCode":200}},"responseTime":{ms}}}',
            '{{"level":20,"time":{ts_epoch_ms},"pid":{n},"hostname":"{pod}","msg":"cache hit","key":"{short}"}}',
            '{{"level":40,"time":{ts_epoch_ms},"pid":{n},"hostname":"{pod}","msg":"slow request","ms":{ms}}}',
        ),
    ),
    (
        10,
        (
            "   Compiling {crate}",
            "    Checking {crate}",
            "  Downloaded {crate}",
            "Collecting {pypkg}",
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in {secs}s",
            "+ {npm}@{n2}.{n}.0",
            "     Running unittests src/lib.rs (target/debug/deps/{cname}-{hex16})",
            "found 0 vulnerabilities",
            "added {n} packages, and audited {n4} packages in {n2}s",
            "Successfully installed {pypkg}",
            "npm warn deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
            "  Downloading {pypkg}-py3-none-any.whl ({kb} kB)",
        ),
    ),
    (
        10,
        (
            "test {test} ... ok",
            "test result: ok. {n} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs}s",
            "  ✓ {jtest} ({ms} ms)",
            "tests/test_{a}.py::test_{ptest} PASSED",
            "ok  \tgithub.com/acme/cto/pkg/{gopkg}\t{secs}s",
            "--- PASS: TestReconcile{agent} ({secs}s)",
        ),
    ),
    (
        5,
        (
            "From https://github.com/{repo}",
            " * branch            {branch} -> FETCH_HEAD",
            "   {short}..{short2}  {branch} -> origin/{branch}",
            "Switched to a new branch '{branch}'",
            "[{branch} {short}] fix: handle retries in {rsfile}",
            "To https://github.com/{repo}.git",
            " {n2} files changed, {n} insertions(+), {n2} deletions(-)",
            "Already up to date.",
        ),
    ),
    (
        6,
        (
            "[claude] session {uuid} started model={model} cwd=/workspace/{rname}",
            '{{"type":"system","subtype":"init","session_id":"{uuid}","model":"{model}",'
            '"tools":["Bash","Edit","Read","Write"]}}',
            '{{"type":"result","subtype":"success","is_error":false,"duration_ms":{big},"num_turns":{n2},'
            '"session_id":"{uuid}"}}',
            "codex exec --full-auto --model {model} (turn {n2})",
            "[{ts_rfc}] codex: tokens used: {tok}",
            "Tool inventory check - CTO config declares: [{tool}, {tool2}]",
            "[INFO] Processing error handler",
            "✓ MCP server {mcp} connected ({n2} tools)",
        ),
    ),
    (
        1.0,
        (
            '{{"timestamp":"{ts_rfc}","level":"INFO","target":"agent::tools","fields":{{"message":"tool call",'
            '"tool":"Write","input":{write_input}}}}}',
            '{{"type":"assistant","message":{{"id":"msg_{hex24}","role":"assistant","model":"{model}",'
            '"content":[{{"type":"tool_use","id":"toolu_{hex24}","name":"Edit","input":{edit_input}}}]}},'
            '"session_id":"{uuid}"}}',
            '{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result",'
            '"tool_use_id":"toolu_{hex24}","content":{blob_json}}}]}},"session_id":"{uuid}"}}',
            '{{"type":"item.completed","item":{{"id":"item_{n}","type":"command_execution",'
            '"command":"cargo test --workspace","aggregated_output":{test_output},"exit_code":0}}}}',
        ),
    ),
)

# Planted findings, one event each; the first line is the trigger.
FINDINGS: tuple[str, ...] = (
    "thread 'main' panicked at src/{rsfile}:{line}:{col}:\ncalled `Result::unwrap()` on an `Err` value: "
    'Os {{ code: 2, kind: NotFound, message: "No such file or directory" }}\n'
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
    "thread 'tokio-runtime-worker' panicked at src/{rsfile}:{line}:{col}:\n"
    "index out of bounds: the len is {n2} but the index is {n}",
    "fatal error: concurrent map writes\ngoroutine {n} [running]:",
    "fatal error: all goroutines are asleep!",
    'time={ts_ms} level=error msg="reconcile failed" coderun={a}-t{task} error="context deadline exceeded"',
    'time={ts_ms} level=error msg="failed to create pull request" repo={repo} status=422',
    "[ERROR] {agent} step {n2} failed: process exited with status 1",
    '{{"level":"error","ts":{ts_epoch},"logger":"controller","msg":"Reconciler error",'
    '"controller":"coderun","error":"pods \\"{pod}\\" is forbidden"}}',
    'Traceback (most recent call last):\n  File "/app/{pymod}.py", line {line}, in run\n'
    "    result = client.invoke(payload)\nKeyError: 'model'",
    "error[E0382]: borrow of moved value: `config`\n  --> src/{rsfile}:{line}:{col}",
    "error[E0308]: mismatched types\n  --> src/{rsfile}:{line}:{col}",
    "Error: connect ECONNREFUSED {ip}",
    "{ts_rfc} ERROR mcp::client: tcp connect error: Connection refused (os error 111) "
    "url=http://{a}-mcp:{port}/sse",
    'E{ts_klog}       1 controller.go:{line}] "Reconciler error" err="Get \\"https://10.96.0.1:443/apis/'
    'cto.example.dev/v1/coderuns\\": context deadline exceeded" controller="coderun"',
    "{ts_py} ERROR healer.github: HTTPSConnectionPool(host='api.github.com', port=443): Max retries "
    "exceeded with url: /repos/{repo}/pulls/{pr}",
    "Error: EACCES: permission denied, open '/workspace/{rname}/node_modules/.cache/{short}'",
    "mkdir: cannot create directory '/workspace/{rname}/target': Permission denied",
    'time={ts_ms} level=error msg="GitHub API request failed" status=401 body="Bad credentials"',
    "{ts_rfc} ERROR agent::github: HTTP 401 Unauthorized: invalid token for installation {big}",
    "ERROR: Tool inventory MISMATCH - missing from CLI: [{tool}]",
    "[ERROR] Failed to connect to MCP server",
    "{ts_rfc} ERROR agent::mcp: Failed to connect to MCP server {mcp}: handshake timed out after {ms}ms",
    "{ts_rfc} ERROR cto::config: failed to load cto-config: missing field `agents` at line {n2} column {col}",
    'time={ts_ms} level=error msg="render prompt" error="template not found: agents/{a}/system.md.hbs"',
    '{{"level":50,"time":{ts_epoch_ms},"pid":{n},"hostname":"{pod}","msg":"unhandled rejection",'
    '"err":{{"type":"Error","message":"connect ECONNREFUSED {ip}"}}}}',
    'E{ts_klog}       1 pod_workers.go:{line}] "Error syncing pod, skipping" err="back-off restarting '
    'failed container" pod="cto/{pod}"',
)


def _clock(rng: random.Random) -> Iterator[list[str]]:
    """Log time, only moving forward: each tick gives the timestamp in every kind of `_TS_KINDS`."""
    now, last, d, md, hms = _EPOCH * 1_000_000 + rng.randrange(1_000_000), -1, "", "", ""
    steps = [rng.randrange(200, 60_000) for _ in range(1024)]
    for i in count():
        now += steps[i & 1023]
        sec, us = divmod(now, 1_000_000)
        if sec != last:
            last, t = sec, time.gmtime(sec)
            d, md = f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d}", f"{t.tm_mon:02d}{t.tm_mday:02d}"
            hms = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        ms = us // 1000
        yield [
            "",
            f"{d}T{hms}.{us:06d}Z",
            f"{d}T{hms}.{ms:03d}Z",
            f"{md} {hms}.{us:06d}",
            f"{d} {hms},{ms:03d}",
            f"{sec}{ms:03d}",
            f"{sec}.{us:06d}",
        ]


def _batches(seed: int, finding_ratio: float) -> Iterator[tuple[list[str], list[int]]]:
    """Endless batches of `_BATCH` items, each item (one line, or one multi-line finding event) given as
    3 pieces: head, timestamp, tail ending in a newline; and the sorted indices of planted findings.

    Per-item work is all in C (itemgetter/slice assignment over the pool's heads, kinds and tails);
    Python only re-renders a window of the pool and ticks the clock once per `_GROUP` items.
    """
    if not 0.0 <= finding_ratio < 0.5:
        raise ValueError(f"finding_ratio must be in [0, 0.5), got {finding_ratio}")
    rng = random.Random(seed)
    clock = _clock(rng)
    cats = rng.choices(range(len(NOISE)), weights=[w for w, _ in NOISE], k=_POOL)
    # Slots [0, _POOL) hold noise, [_POOL, _POOL + _FPOOL) planted findings.
    templates = [rng.choice(NOISE[c][1]) for c in cats] + [FINDINGS[i % len(FINDINGS)] for i in range(_FPOOL)]
    kinds = [max((i for i, ts in enumerate(_TS_KINDS) if "{" + ts + "}" in t), default=0) for t in templates]
    heads, tails = (list(x) for x in zip(*(_render(t, rng) for t in templates), strict=True))
    # Continuation lines dilute the ratio: plant a little more per slot so findings/lines ≈ finding_ratio.
    extra = sum(h.count("\n") + t.count("\n") for h, t in zip(heads[_POOL:], tails[_POOL:], strict=True))
    tails = [t + "\n" for t in tails]
    per_slot, due, cursor = finding_ratio / (1 - finding_ratio * extra / _FPOOL), 0.0, 0
    base = [(i // _GROUP) * len(_TS_KINDS) for i in range(_BATCH)]  # where a line's group starts in `stamps`
    while True:
        due += _BATCH * per_slot
        k = int(due)
        due -= k
        raw = array("H", rng.randbytes(2 * _BATCH))
        if sys.byteorder == "big":
            raw.byteswap()
        idx = list(map(and_, raw, repeat(_POOL - 1)))
        where = sorted(rng.sample(range(_BATCH), k))
        for i in where:
            idx[i] = _POOL + rng.randrange(_FPOOL)
        stamps = [s for tick in islice(clock, _BATCH // _GROUP) for s in tick]
        pick, pieces = itemgetter(*idx), [""] * (3 * _BATCH)
        pieces[0::3], pieces[2::3] = pick(heads), pick(tails)
        pieces[1::3] = itemgetter(*map(add, base, pick(kinds)))(stamps)
        yield pieces, where
        for j in (*range(cursor, cursor + _REFRESH), *rng.sample(range(_POOL, _POOL + _FPOOL), _FREFRESH)):
            head, tail = _render(templates[j], rng)
            heads[j], tails[j] = head, tail + "\n"
        cursor = (cursor + _REFRESH) % _POOL


def iter_lines(seed: int = 42, finding_ratio: float = 0.03) -> Iterator[str]:
    """Endless stream of log lines (no trailing newline); `generate` writes a prefix of it."""
    for pieces, _ in _batches(seed, finding_ratio):
        yield from "".join(pieces)[:-1].split("\n")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _params(size_mb: int, finding_ratio: float, seed: int) -> dict[str, object]:
    return {"version": _VERSION, "size_mb": size_mb, "finding_ratio": finding_ratio, "seed": seed}


def _reusable(path: Path, params: dict[str, object]) -> GeneratedLog | None:
    try:
        meta = json.loads(_sidecar(path).read_text())
        if {k: meta.get(k) for k in params} == params and path.stat().st_size == meta["size_bytes"]:
            return GeneratedLog(path, meta["size_bytes"], meta["line_count"], meta["planted_findings"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def generate(path: Path, size_mb: int = 100, finding_ratio: float = 0.03, seed: int = 42) -> GeneratedLog:
    """Write up to `size_mb` MiB (whole events only) of mixed log to `path`, or reuse the file there.

    Reused when the sidecar `<path>.json` records the same parameters and the file still has its size.
    """
    path, params = Path(path), _params(size_mb, finding_ratio, seed)
    if (done := _reusable(path, params)) is not None:
        return done
    _sidecar(path).unlink(missing_ok=True)  # never leave a stale sidecar next to a half-written file
    target, size, lines, found = int(size_mb * MIB), 0, 0, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        for pieces, where in _batches(seed, finding_ratio):
            data = "".join(pieces).encode()
            if size + len(data) <= target:
                out.write(data)
                size, lines, found = size + len(data), lines + data.count(b"\n"), found + len(where)
                continue
            planted, kept = set(where), []  # last batch: whole items while they fit
            for i in range(_BATCH):
                b = "".join(pieces[3 * i : 3 * i + 3]).encode()
                if size + len(b) > target:
                    break
                kept.append(b)
                size, lines, found = size + len(b), lines + b.count(b"\n"), found + (i in planted)
            out.write(b"".join(kept))
            break
    os.replace(tmp, path)
    meta = {**params, "size_bytes": size, "line_count": lines, "planted_findings": found}
    _sidecar(path).write_text(json.dumps(meta, indent=2) + "\n")
    return GeneratedLog(path, size, lines, found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a deterministic mixed agent log for benchmarks.")
    ap.add_argument("out", type=Path, help="output file; a sidecar OUT.json records the parameters")
    ap.add_argument("--size-mb", type=int, default=100, help="size in MiB (default 100)")
    ap.add_argument("--finding-ratio", type=float, default=0.03, help="planted findings per line (0.03)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    reused = _reusable(a.out, _params(a.size_mb, a.finding_ratio, a.seed)) is not None
    t0, g = time.perf_counter(), generate(a.out, a.size_mb, a.finding_ratio, a.seed)
    dt = time.perf_counter() - t0
    how = "reused" if reused else f"written in {dt:.2f}s ({g.size_bytes / MIB / max(dt, 1e-9):.0f} MiB/s)"
    print(
        f"{g.path}: {g.size_bytes / MIB:.1f} MiB, {g.line_count} lines, {g.planted_findings} planted "
        f"findings ({g.planted_findings / max(g.line_count, 1):.2%}), {how}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
