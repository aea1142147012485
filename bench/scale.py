"""Scale-out figures (issue 12): S sessions over R `healer serve` replicas on one Postgres, against the local
Loki (through a counting proxy) and the Kubernetes emulator of tests/emulators (a kubeconfig points at it).

For each session count it prints, per `--interval` (the time a session's passes are apart):
- Loki `query_range` requests and Kubernetes requests: they follow namespaces, not sessions;
- the steps the replicas ran, against the S a second / interval they were asked for;
- CPU (share of one core) and resident memory per replica, idle and under load;
- under load (lines pushed into every namespace, one panic per namespace and round), the p50/p99 delay from
  a panic line's timestamp to its finding in the session API.

Needs the local Loki (LOKI_URL) and Postgres (HEALER_TEST_POSTGRES_URL, a fresh database is made and
dropped) of ../shared/services:

    .venv/bin/python -m bench.scale --sessions 1000 5000 --replicas 2 --namespaces 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import scratch_postgres  # noqa: E402
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator  # noqa: E402
from tests.http_harness import Loopback, send_body  # noqa: E402
from tests.test_page_browser import free_port  # noqa: E402

PANIC = "thread 'main' panicked at src/main.rs:42:5: called `Option::unwrap()` on a `None` value"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CountingLoki(Loopback):
    """Passes every request on to the real Loki and counts the `query_range` ones."""

    def __init__(self, target: str) -> None:
        self.queries = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.queries += "/query_range" in self.path
                answer = httpx.get(f"{target}{self.path}", timeout=60)
                send_body(
                    self, answer.status_code, answer.content, answer.headers.get("content-type", "text/plain")
                )

            def log_message(self, *_args: object) -> None:
                pass

        self.url = self._bind(Handler)


def kubeconfig(url: str, folder: Path) -> Path:
    path = folder / "kubeconfig"
    cluster = {"name": "emulator", "cluster": {"server": url}}
    user = {"name": "bench", "user": {"token": "emulated"}}
    context = {
        "name": "emulator",
        "context": {"cluster": "emulator", "user": "bench", "namespace": "bench-0"},
    }
    document = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user]}
    path.write_text(json.dumps(document | {"contexts": [context], "current-context": "emulator"}))
    return path


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def replicas(
    count: int, env: dict[str, str], interval_s: float, folder: Path
) -> Iterator[list[tuple[str, int]]]:
    started = []
    try:
        for n in range(count):
            port = free_port()
            log = (folder / f"replica-{n}.log").open("wb")
            command = [
                str(REPO / ".venv/bin/healer"),
                "serve",
                "--port",
                str(port),
                "--interval",
                str(interval_s),
            ]
            process = subprocess.Popen(
                [*command, "--log-level", "warning"],
                env=env | {"HEALER_REPLICA_NAME": f"replica-{n}"},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
            )
            started.append((f"http://127.0.0.1:{port}", process))
        for base, process in started:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                if process.poll() is not None:
                    raise SystemExit(f"a replica exited; see {folder}")
                time.sleep(0.2)
        yield [(base, process.pid) for base, process in started]
    finally:
        for _base, process in started:
            process.terminate()
        for _base, process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(60)
            if process.poll() is None:
                process.kill()


async def start_sessions(bases: list[str], plays: list[tuple[str, str]]) -> None:
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=60) as http:

        async def start(n: int, play_id: str, namespace: str) -> None:
            async with limit:
                body = {"play_id": play_id, "repository": "5dlabs/cto-parallel-test", "namespace": namespace}
                answer = await http.post(f"{bases[n % len(bases)]}/api/v1/session/start", json=body)
                answer.raise_for_status()

        await asyncio.gather(*(start(n, p, ns) for n, (p, ns) in enumerate(plays)))


def steps(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT COALESCE(SUM(steps), 0) FROM healer_schedule").fetchone()
    return int(row[0]) if row else 0


def push(loki: str, namespace: str, lines: list[tuple[int, str]]) -> None:
    stream = {"namespace": namespace, "pod": f"{namespace}-worker-x1", "agent": "5DLabs-Rex"}
    values = [[str(ts), text] for ts, text in lines]
    httpx.post(
        f"{loki}/loki/api/v1/push", json={"streams": [{"stream": stream, "values": values}]}
    ).raise_for_status()


def measure(
    pids: list[int], seconds: float, loki: CountingLoki, kube: KubernetesEmulator, database_url: str
) -> dict:
    cpu0, queries0, kube0, steps0 = (
        [cpu_s(p) for p in pids],
        loki.queries,
        len(kube.requests),
        steps(database_url),
    )
    time.sleep(seconds)
    cpu1 = [cpu_s(p) for p in pids]
    return {
        "loki": loki.queries - queries0,
        "kube": len(kube.requests) - kube0,
        "steps": steps(database_url) - steps0,
        "cpu": [(b - a) / seconds for a, b in zip(cpu0, cpu1, strict=True)],
        "rss": [rss_mib(p) for p in pids],
    }


def load(
    loki_url: str, namespaces: list[str], base: str, plays: list[tuple[str, str]], seconds: float
) -> list[float]:
    """Ordinary lines into every namespace for `seconds`, and one panic per namespace at the start: every
    session of a namespace reads its lines (the emulator names no pods for them), so each session's
    first finding is a sample of the delay from the panic's timestamp to its finding in the API."""
    namespace_of = dict(plays)
    panic_at: dict[str, int] = {}
    reported: dict[str, float] = {}
    began = time.monotonic()
    with httpx.Client(timeout=60) as http:
        while time.monotonic() - began < seconds + 120 and len(reported) < len(plays):
            now = time.time_ns() // 1000 * 1000
            if time.monotonic() - began < seconds:
                for namespace in namespaces:
                    lines = [(now + i * 1000, f"INFO step {i}: cargo check ok") for i in range(20)]
                    if namespace not in panic_at:
                        panic_at[namespace] = now + 50_000
                        lines.append((panic_at[namespace], PANIC))
                    push(loki_url, namespace, lines)
            listed = http.get(f"{base}/api/v1/sessions/active").json()[
                "sessions"
            ]  # ~0.2 s of a replica's CPU
            seen = time.time_ns()
            for summary in listed:
                play_id = summary["play_id"]
                if summary["issue_count"] and play_id not in reported and play_id in namespace_of:
                    reported[play_id] = (seen - panic_at[namespace_of[play_id]]) / 1e9
            time.sleep(1.0)
    return list(reported.values())


def run(sessions: int, args: argparse.Namespace) -> dict[str, Any]:
    loki_url = os.environ["LOKI_URL"]
    folder = Path(tempfile.mkdtemp(prefix="healer-scale-"))
    namespaces = [f"bench-{n}" for n in range(args.namespaces)]
    tag = uuid.uuid4().hex[:6]
    plays = [(f"play-{tag}-{n}", namespaces[n % len(namespaces)]) for n in range(sessions)]
    emulated = [
        EmulatedRun(f"{plays[0][0]}-rex-t1", "5DLabs-Rex", 1, [(time.time_ns() - 60 * 10**9, "Running")])
    ]
    with (
        scratch_postgres() as database_url,
        CountingLoki(loki_url) as loki,
        KubernetesEmulator("bench-0", plays[0][0], emulated, clock=time.time_ns) as kube,
    ):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("GITHUB_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_KEY")
        }
        env |= {
            "HEALER_DATABASE_URL": database_url,
            "LOKI_URL": loki.url,
            "KUBECONFIG": str(kubeconfig(kube.url, folder)),
            "HEALER_MAX_ACTIVE_SESSIONS": str(sessions + 10),
            "HEALER_MAX_SESSIONS": str(sessions + 10),
        }
        with replicas(args.replicas, env, args.interval, folder) as running:
            bases, pids = [b for b, _ in running], [p for _, p in running]
            began = time.monotonic()
            asyncio.run(start_sessions(bases, plays))
            started_s = time.monotonic() - began
            time.sleep(2 * args.interval)  # every session's first pass, and its catch-up
            idle = measure(pids, args.seconds, loki, kube, database_url)
            delays: list[float] = []
            pusher = threading.Thread(
                target=lambda: delays.extend(load(loki_url, namespaces, bases[0], plays, args.seconds))
            )
            pusher.start()
            loaded = measure(pids, args.seconds, loki, kube, database_url)
            pusher.join()
    per_interval = args.interval / args.seconds
    return {
        "sessions": sessions,
        "started_s": started_s,
        "idle": idle,
        "load": loaded,
        "per_interval": per_interval,
        "delays": delays,
        "folder": str(folder),
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    k = result["per_interval"]
    asked = result["sessions"] * args.seconds / args.interval
    print(
        f"\n{result['sessions']} sessions, {args.replicas} replicas, {args.namespaces} namespaces, --interval {args.interval} s"
    )
    print(f"  started through the API in {result['started_s']:.1f} s")
    for phase in ("idle", "load"):
        figures = result[phase]
        cpu = ", ".join(f"{c:.2f}" for c in figures["cpu"])
        rss = ", ".join(f"{r:.0f}" for r in figures["rss"])
        print(
            f"  {phase:<4}  Loki queries/interval {figures['loki'] * k:7.1f}   Kubernetes requests/interval "
            f"{figures['kube'] * k:7.1f}   steps {figures['steps']:6d} of {asked:.0f} asked   "
            f"CPU per replica {cpu}   RSS MiB {rss}"
        )
    delays = sorted(result["delays"])
    if delays:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(
            f"  line → finding: p50 {statistics.median(delays):.1f} s, p99 {p99:.1f} s "
            f"({len(delays)} of {result['sessions']} sessions reported the panic of their namespace)"
        )
    else:
        print("  line → finding: no session reported its namespace's panic within 120 s of the load phase")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="length of the idle and of the load phase"
    )
    args = parser.parse_args()
    for sessions in args.sessions:
        report(run(sessions, args), args)


if __name__ == "__main__":
    main()
