"""Load benchmark of the session API (DESIGN §2) against a real `healer serve` process.

Starts `healer serve` on a free port with a fresh temporary SQLite database, no outside system configured
(no Loki, GitHub, LLM, Discord; HEALER_KUBERNETES=false), so the sessions' graph runs touch no network, then:

  a) `POST /api/v1/session/start` with distinct play ids from `--concurrency` clients at once: latency
     p50/p90/p99/max and throughput, and every non-200 answer;
  b) on a second fresh server: `--active` sessions started, and the process's RSS before, right after, and
     while the scheduler runs their passes for `--settle` seconds.

The client runs on the same machine as the server, so the figures are for the pair. It prints figures and
asserts nothing about them.

    .venv/bin/python bench/api.py                    # 2,000 starts by 50 clients; 1,000 active sessions
    .venv/bin/python bench/api.py --starts 500 --active 200 --settle 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
START = "/api/v1/session/start"
# settings that would make a session talk to an outside system, or the API ask for a token
_OUTSIDE = (
    "LOKI_URL",
    "LOKI_TENANT",
    "GITHUB_TOKEN",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_INSTALLATION_ID",
    "GITHUB_API_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DISCORD_WEBHOOK_URL",
    "KUBECONFIG",
    "HEALER_API_TOKEN",
    "HEALER_CTO_CONFIG",
)


def payload(play_id: str) -> dict:
    """A start body of the shape the MCP server posts (DESIGN §2): two agents, three tasks."""
    return {
        "play_id": play_id,
        "repository": "5dlabs/cto-parallel-test",
        "service": None,
        "namespace": "cto",
        "cto_config": {
            "agents": {
                "rex": {
                    "githubApp": "5DLabs-Rex",
                    "cli": "claude",
                    "model": "claude-sonnet-4",
                    "tools": {
                        "remote": ["brave_search", "github_create_pull_request"],
                        "localServers": {
                            "filesystem": {"enabled": True, "tools": ["read_file", "write_file"]}
                        },
                    },
                },
                "cleo": {"githubApp": "5DLabs-Cleo", "cli": "codex", "model": "gpt-5", "tools": {}},
            }
        },
        "tasks": [
            {"id": str(n), "title": f"Task {n}", "agent_hint": "rex", "dependencies": [], "priority": n}
            for n in range(1, 4)
        ],
    }


# --- the server process ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healer_command() -> list[str]:
    beside = Path(sys.executable).parent / "healer"
    found = str(beside) if beside.exists() else shutil.which("healer")
    if found is None:
        sys.exit("bench/api.py: the `healer` command is not installed (pip install -e .)")
    return [found]


def rss_kib(pid: int) -> int:
    """VmRSS of `pid`, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Server:
    workdir: Path
    interval_s: float
    idle_timeout_s: float
    log_level: str
    max_active: int  # the sessions the part starts: the server's default limit (100) would refuse the rest
    port: int = 0
    process: subprocess.Popen | None = None
    stop_s: float | None = None
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_timeout_s: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
        environment |= {
            "HEALER_DATABASE_URL": f"sqlite:///{self.workdir / 'healer.db'}",
            "HEALER_KUBERNETES": "false",
            "HEALER_CACHE_DIR": str(self.workdir / "cache"),
            "HEALER_MAX_ACTIVE_SESSIONS": str(self.max_active),
            "HEALER_MAX_SESSIONS": str(max(self.max_active, 10_000)),
        }
        self.port = free_port()
        command = [
            *healer_command(),
            "serve",
            "--port",
            str(self.port),
            "--interval",
            str(self.interval_s),
            "--idle-timeout",
            str(self.idle_timeout_s),
            "--log-level",
            self.log_level,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"healer serve exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"healer serve did not answer /health in {ready_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        began = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.exit_code = self.process.wait(timeout_s)
            self.stop_s = time.monotonic() - began
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_summary(self) -> LogSummary:
        summary = LogSummary()
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.strip() and not line.startswith("healer: serving on"):  # the banner
                    summary.unparsed += 1
                    if len(summary.unparsed_examples) < 3:
                        summary.unparsed_examples.append(line)
                continue
            level = str(entry.get("level", "?"))
            summary.levels[level] += 1
            if level in ("warning", "error", "critical"):
                summary.problems[f"{level}: {entry.get('message')}"] += 1
                if "error" in entry and entry.get("message") not in summary.tracebacks:
                    summary.tracebacks[str(entry.get("message"))] = str(entry["error"])
        return summary

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class LogSummary:
    levels: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    tracebacks: dict[str, str] = field(default_factory=dict)
    unparsed: int = 0
    unparsed_examples: list[str] = field(default_factory=list)


# --- the load ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # transport errors, by kind
    examples: dict[str, str] = field(default_factory=dict)  # one body per non-200 status
    wall_s: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())


async def start_sessions(url: str, play_ids: list[str], concurrency: int, timeout_s: float) -> Outcome:
    """POST a start for every play id, `concurrency` requests in flight at any moment."""
    outcome = Outcome()
    queue: Iterator[str] = iter(play_ids)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s) as client:

        async def worker() -> None:
            for play_id in queue:  # a shared iterator: each id is taken once
                began = time.perf_counter()
                try:
                    response = await client.post(START, json=payload(play_id))
                except httpx.HTTPError as error:
                    outcome.failures[type(error).__name__] += 1
                    outcome.examples.setdefault(type(error).__name__, f"{play_id}: {error!r}")
                    continue
                outcome.latencies_s.append(time.perf_counter() - began)
                outcome.statuses[response.status_code] += 1
                if response.status_code != 200:
                    outcome.examples.setdefault(
                        str(response.status_code), f"{play_id}: {response.text[:300]}"
                    )

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        outcome.wall_s = time.perf_counter() - began
    return outcome


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def timed_get(url: str, path: str, timeout_s: float) -> tuple[httpx.Response | str, float]:
    """GET `path`: the response (or what went wrong, as text) and the seconds it took."""
    began = time.perf_counter()
    try:
        response: httpx.Response | str = httpx.get(f"{url}{path}", timeout=timeout_s)
    except httpx.HTTPError as error:
        response = f"{type(error).__name__} after {time.perf_counter() - began:.0f} s"
    return response, time.perf_counter() - began


def passes_run(url: str, timeout_s: float) -> int | None:
    """`healer_passes_total` of /metrics: session passes the scheduler ran since the server started."""
    response, _ = timed_get(url, "/metrics", timeout_s)
    if isinstance(response, str) or response.status_code != 200:
        return None
    for line in response.text.splitlines():
        name, _, value = line.partition(" ")
        if name == "healer_passes_total":
            return int(float(value))
    return None


def server_figures(url: str, timeout_s: float) -> dict[str, str]:
    """What the server says of itself (active sessions, its scheduler's /metrics), and how long it takes."""
    figures = {}
    active, took = timed_get(url, "/api/v1/sessions/active", timeout_s)
    if isinstance(active, str):
        figures["GET /api/v1/sessions/active"] = active
    elif active.status_code != 200:
        figures["GET /api/v1/sessions/active"] = f"HTTP {active.status_code} in {took * 1000:,.0f} ms"
    else:
        count = active.json().get("count")
        figures["GET /api/v1/sessions/active"] = f"{count:,} sessions in {took * 1000:,.0f} ms"
    metrics, took = timed_get(url, "/metrics", timeout_s)
    if isinstance(metrics, str):
        figures["GET /metrics"] = metrics
        return figures
    figures["GET /metrics"] = f"HTTP {metrics.status_code} in {took * 1000:,.0f} ms"
    if metrics.status_code == 200:
        for line in metrics.text.splitlines():
            name, _, value = line.partition(" ")
            if name in ("healer_running_sessions", "healer_passes_total"):
                figures[name] = f"{int(float(value)):,}"
    return figures


# --- the report -------------------------------------------------------------------------------------------


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def mib(kib: int) -> str:
    return f"{kib / 1024:,.1f} MiB"


def latency_rows(outcome: Outcome) -> list[tuple[str, str]]:
    rows = [
        ("requests", f"{outcome.sent:,}"),
        ("wall time", f"{outcome.wall_s:.2f} s"),
        ("throughput", f"{outcome.sent / outcome.wall_s:,.0f} requests/s" if outcome.wall_s else "-"),
    ]
    if outcome.latencies_s:
        ms = [s * 1000 for s in outcome.latencies_s]
        rows += [
            ("latency p50", f"{percentile(ms, 0.50):.1f} ms"),
            ("latency p90", f"{percentile(ms, 0.90):.1f} ms"),
            ("latency p99", f"{percentile(ms, 0.99):.1f} ms"),
            ("latency max", f"{max(ms):.1f} ms"),
            ("latency mean", f"{statistics.fmean(ms):.1f} ms"),
        ]
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(outcome.statuses.items()))
    rows.append(("answers", statuses or "none"))
    non_200 = sum(n for status, n in outcome.statuses.items() if status != 200)
    rows.append(("non-200 answers", f"{non_200:,}"))
    rows.append(("transport errors", ", ".join(f"{k}: {n}" for k, n in outcome.failures.items()) or "0"))
    return rows


def report_problems(name: str, outcome: Outcome | None, server: Server) -> None:
    if outcome is not None:
        for status, example in outcome.examples.items():
            print(f"  [{name}] first {status}: {example}")
    summary = server.log_summary()
    levels = ", ".join(f"{level}: {n:,}" for level, n in sorted(summary.levels.items()))
    print(f"  [{name}] server log ({server.log_path}): {levels or 'empty'}")
    for problem, n in summary.problems.most_common(10):
        print(f"  [{name}]   {n:>6,} × {problem}")
    for message, trace in list(summary.tracebacks.items())[:3]:
        print(f"  [{name}]   first traceback of {message!r}:")
        print("\n".join(f"  [{name}]     {line}" for line in trace.splitlines()[-12:]))
    if summary.unparsed:
        print(f"  [{name}]   {summary.unparsed:,} lines not JSON, e.g.:")
        for line in summary.unparsed_examples:
            print(f"  [{name}]     {line[:200]}")


# --- main -------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark Healer's session API against a real `healer serve` (fresh SQLite, no outside "
        "system): start latency and throughput, then the RSS of the server with many active sessions.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--starts", type=int, default=2000, help="session starts measured in part a")
    parser.add_argument("--concurrency", type=int, default=50, help="clients sending at once")
    parser.add_argument("--warmup", type=int, default=50, help="starts sent before measuring (part a)")
    parser.add_argument("--active", type=int, default=1000, help="active sessions started in part b")
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds to watch RSS after part b's starts"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="the server's --interval (s)")
    parser.add_argument("--idle-timeout", type=float, default=3600.0, help="the server's --idle-timeout (s)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="client timeout per request, /metrics included (s)"
    )
    parser.add_argument("--log-level", default="info", help="the server's --log-level")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folders (databases, server logs)"
    )
    parser.add_argument("--skip-a", action="store_true", help="skip part a (latency)")
    parser.add_argument("--skip-b", action="store_true", help="skip part b (memory)")
    return parser


def part_a(args: argparse.Namespace, workdir: Path) -> None:
    server = Server(
        workdir / "a", args.interval, args.idle_timeout, args.log_level, args.warmup + args.starts
    )
    with server:
        baseline = rss_kib(server.pid)
        warm = [f"bench-warm-{n}" for n in range(args.warmup)]
        asyncio.run(start_sessions(server.url, warm, args.concurrency, args.timeout))
        ids = [f"bench-a-{n}" for n in range(args.starts)]
        outcome = asyncio.run(start_sessions(server.url, ids, args.concurrency, args.timeout))
        after = rss_kib(server.pid)
        figures = server_figures(server.url, args.timeout)
    rows = [("clients at once", str(args.concurrency)), *latency_rows(outcome)]
    rows += [
        ("server RSS at start", mib(baseline)),
        (f"server RSS after {args.warmup + args.starts:,} starts", mib(after)),
        *figures.items(),
        ("server stopped in", f"{server.stop_s:.1f} s" if server.stop_s is not None else "killed (>30 s)"),
    ]
    table(f"a) POST {START}: {args.starts:,} starts, {args.concurrency} clients", rows)
    report_problems("a", outcome, server)


def part_b(args: argparse.Namespace, workdir: Path) -> None:
    server = Server(workdir / "b", args.interval, args.idle_timeout, args.log_level, args.active)
    samples: list[tuple[float, int]] = []
    with server:
        time.sleep(1.0)
        baseline = rss_kib(server.pid)
        ids = [f"bench-b-{n}" for n in range(args.active)]
        outcome = asyncio.run(start_sessions(server.url, ids, args.concurrency, args.timeout))
        right_after = rss_kib(server.pid)
        passes_before = passes_run(server.url, args.timeout)
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < args.settle:
            samples.append((elapsed, rss_kib(server.pid)))
            time.sleep(1.0)
        settled = rss_kib(server.pid)
        passes_after, watched_s = passes_run(server.url, args.timeout), time.monotonic() - began
        figures = server_figures(server.url, args.timeout)
        after_listing = rss_kib(server.pid)
    peak = max([right_after, settled, *(kib for _, kib in samples)])
    per_session = (settled - baseline) / args.active if args.active else 0.0
    rows = [
        ("sessions started", f"{outcome.statuses.get(200, 0):,} of {args.active:,} ({outcome.wall_s:.1f} s)"),
        ("non-200 answers", f"{sum(n for s, n in outcome.statuses.items() if s != 200):,}"),
        ("RSS before", mib(baseline)),
        ("RSS right after the starts", mib(right_after)),
        (f"RSS after {args.settle:.0f} s of passes", mib(settled)),
        ("RSS peak while watching", mib(peak)),
        ("RSS per active session", f"{per_session:,.1f} KiB"),
        ("scheduler passes/s while watching", passes_rate(passes_before, passes_after, watched_s, args)),
        *figures.items(),
        ("RSS after listing + /metrics", mib(after_listing)),
        ("server stopped in", f"{server.stop_s:.1f} s" if server.stop_s is not None else "killed (>30 s)"),
    ]
    table(f"b) {args.active:,} active sessions: server memory (pid {server.pid}, VmRSS)", rows)
    if samples:
        trace = "  ".join(f"{t:.0f}s:{kib / 1024:.0f}" for t, kib in samples[:: max(1, len(samples) // 10)])
        print(f"  RSS (MiB) while the scheduler runs: {trace}")
    report_problems("b", outcome, server)


def passes_rate(before: int | None, after: int | None, seconds: float, args: argparse.Namespace) -> str:
    if before is None or after is None:
        return "- (/metrics failed)"
    wanted = args.active / args.interval
    return f"{(after - before) / seconds:,.1f} (every session once per --interval: {wanted:,.0f})"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="healer-bench-api-"))
    try:
        print(
            f"healer serve, SQLite in {workdir}, interval {args.interval} s; "
            f"client and server on one machine ({os.cpu_count()} CPUs)"
        )
        if not args.skip_a:
            part_a(args, workdir)
        if not args.skip_b:
            part_b(args, workdir)
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
