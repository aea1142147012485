"""Scale-out figures (issue 12): S sessions over R `healer serve` replicas on one Postgres, against the local
Loki (through a counting TCP proxy, which passes the tails' websockets too) and the Kubernetes emulator of
tests/emulators (a kubeconfig points at it). Each session has its own CodeRun and pod, in one of
`--namespaces` namespaces.

For each session count it prints, per `--interval` (the `healer serve --interval` of the replicas):
- Loki `query_range` requests and Kubernetes requests: they follow namespaces, not sessions;
- the Loki tails opened (one per namespace per replica) and the steps the replicas ran a second;
- CPU (share of one core) and resident memory per replica, idle and under load;
- under load (every second another `--active` share of the pods logs a few lines, and each pod one panic),
  the p50/p99 delay from a panic line's timestamp to its session's finding in the session API.

Needs the local Loki (LOKI_URL) and Postgres (HEALER_TEST_POSTGRES_URL, a fresh database is made and
dropped) of ../shared/services:

    .venv/bin/python -m bench.scale --sessions 1000 5000 --replicas 2 --namespaces 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import scratch_postgres  # noqa: E402
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator  # noqa: E402
from tests.test_page_browser import free_port  # noqa: E402

PANIC = "thread 'main' panicked at src/main.rs:42:5: called `Option::unwrap()` on a `None` value"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CountingLoki:
    """A TCP proxy in front of the real Loki that counts what passes through it by request line: the
    `query_range` reads and the tails opened (a websocket, which an HTTP-level proxy would not pass)."""

    MARKS: ClassVar[dict[str, bytes]] = {
        "queries": b"GET /loki/api/v1/query_range",
        "tails": b"GET /loki/api/v1/tail",
    }

    def __init__(self, target: str) -> None:
        address = urlsplit(target)
        self.target = (address.hostname or "127.0.0.1", address.port or 80)
        self.counts = dict.fromkeys(self.MARKS, 0)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.url = ""

    @property
    def queries(self) -> int:
        return self.counts["queries"]

    def __enter__(self) -> CountingLoki:
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            upstream, to_upstream = await asyncio.open_connection(*self.target)
        except OSError:
            to_client.close()
            return
        await asyncio.gather(
            self._pipe(client, to_upstream, count=True), self._pipe(upstream, to_client, count=False)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool) -> None:
        carried = b""  # a request line cut between two reads is still counted once
        longest = max(map(len, self.MARKS.values()))
        try:
            while data := await source.read(65536):
                if count:
                    window = carried + data
                    for name, mark in self.MARKS.items():
                        self.counts[name] += window.count(mark) - carried.count(mark)
                    carried = window[-(longest - 1) :]
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()


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


def push(http: httpx.Client, loki: str, namespace: str, pods: dict[str, list[tuple[int, str]]]) -> None:
    """One push request per namespace, a stream per pod, as a log shipper sends them."""
    streams = [
        {"stream": {"namespace": namespace, "pod": pod}, "values": [[str(ts), text] for ts, text in lines]}
        for pod, lines in pods.items()
    ]
    http.post(f"{loki}/loki/api/v1/push", json={"streams": streams}).raise_for_status()


@dataclass(frozen=True)
class Play:
    play_id: str
    namespace: str
    pod: str


def load(loki_url: str, base: str, plays: list[Play], seconds: float, active_share: float) -> list[float]:
    """For `seconds`, every second a different `active_share` of the sessions' pods log a few ordinary
    lines; a session's first active second also logs a panic. The delay from each panic's timestamp to its
    session's finding in the API (polled once a second) is a sample."""
    turns = max(1, round(1 / active_share))
    panic_at: dict[str, int] = {}
    reported: dict[str, float] = {}
    began, tick = time.monotonic(), 0
    with httpx.Client(timeout=60) as http:
        while time.monotonic() - began < seconds + 120 and len(reported) < len(plays):
            if time.monotonic() - began < seconds:
                by_namespace: dict[str, dict[str, list[tuple[int, str]]]] = {}
                now = time.time_ns() // 1000 * 1000
                for n, play in enumerate(plays):
                    if (n + tick) % turns:
                        continue
                    lines = [(now + i * 1000, f"INFO step {i}: cargo check ok") for i in range(3)]
                    if play.play_id not in panic_at:
                        panic_at[play.play_id] = now + 5000
                        lines.append((panic_at[play.play_id], PANIC))
                    by_namespace.setdefault(play.namespace, {})[play.pod] = lines
                for namespace, pods in by_namespace.items():
                    push(http, loki_url, namespace, pods)
                tick += 1
            listed = http.get(f"{base}/api/v1/sessions/active").json()["sessions"]
            seen = time.time_ns()
            for summary in listed:
                play_id = summary["play_id"]
                if summary["issue_count"] and play_id not in reported and play_id in panic_at:
                    reported[play_id] = (seen - panic_at[play_id]) / 1e9
            time.sleep(max(0.0, 1.0 - (time.monotonic() - began - tick + 1)))
    return list(reported.values())


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


def run(sessions: int, args: argparse.Namespace) -> dict[str, Any]:
    loki_url = os.environ["LOKI_URL"]
    folder = Path(tempfile.mkdtemp(prefix="healer-scale-"))
    namespaces = [f"bench-{n}" for n in range(args.namespaces)]
    tag = uuid.uuid4().hex[:6]
    running_since = [(time.time_ns() - 60 * 10**9, "Running")]
    emulated = [
        EmulatedRun(f"play-{tag}-{n}-rex-t1", "5DLabs-Rex", 1, running_since, play_id=f"play-{tag}-{n}")
        for n in range(sessions)
    ]
    for n, run_of_play in enumerate(emulated):
        run_of_play.namespace = namespaces[n % len(namespaces)]
    with (
        scratch_postgres() as database_url,
        CountingLoki(loki_url) as loki,
        KubernetesEmulator("bench-0", "unused", emulated, clock=time.time_ns) as kube,
    ):
        kube.watch_every_s = 1.0  # nothing changes in the cluster during the bench
        plays = [Play(run.play_id or "", kube.namespace_of(run), kube.pod_name(run)) for run in emulated]
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("GITHUB_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_KEY")
        }
        env |= {
            "HEALER_DATABASE_URL": database_url,
            "LOKI_URL": loki.url,
            "KUBECONFIG": str(kube.write_kubeconfig(folder / "kubeconfig")),
            "HEALER_MAX_ACTIVE_SESSIONS": str(sessions + 10),
            "HEALER_MAX_SESSIONS": str(sessions + 10),
        }
        with replicas(args.replicas, env, args.interval, folder) as running:
            bases, pids = [b for b, _ in running], [p for _, p in running]
            began = time.monotonic()
            asyncio.run(start_sessions(bases, [(p.play_id, p.namespace) for p in plays]))
            started_s = time.monotonic() - began
            time.sleep(2 * args.interval)  # every session's first pass, and its catch-up
            idle = measure(pids, args.idle_seconds, loki, kube, database_url)
            delays: list[float] = []
            pusher = threading.Thread(
                target=lambda: delays.extend(load(loki_url, bases[0], plays, args.seconds, args.active))
            )
            pusher.start()
            loaded = measure(pids, args.seconds, loki, kube, database_url)
            pusher.join()
            tails = loki.counts["tails"]
    return {
        "sessions": sessions,
        "started_s": started_s,
        "idle": idle,
        "load": loaded,
        "per_interval": {"idle": args.interval / args.idle_seconds, "load": args.interval / args.seconds},
        "delays": delays,
        "tails": tails,
        "folder": str(folder),
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\n{result['sessions']} sessions, {args.replicas} replicas, {args.namespaces} namespaces, "
        f"--interval {args.interval} s, {args.active:.0%} of the pods logging each second of load"
    )
    print(
        f"  started through the API in {result['started_s']:.1f} s; "
        f"Loki tails opened: {result['tails']} (one per namespace per replica)"
    )
    for phase in ("idle", "load"):
        figures, k = result[phase], result["per_interval"][phase]
        seconds = args.idle_seconds if phase == "idle" else args.seconds
        cpu = ", ".join(f"{c:.2f}" for c in figures["cpu"])
        rss = ", ".join(f"{r:.0f}" for r in figures["rss"])
        print(
            f"  {phase:<4}  Loki queries/interval {figures['loki'] * k:7.1f}   Kubernetes requests/interval "
            f"{figures['kube'] * k:7.1f}   steps/s {figures['steps'] / seconds:6.1f}   "
            f"CPU per replica {cpu}   RSS MiB {rss}"
        )
    delays = sorted(result["delays"])
    if delays:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(
            f"  panic line → finding in the API: p50 {statistics.median(delays):.1f} s, p99 {p99:.1f} s "
            f"({len(delays)} of {result['sessions']} sessions reported their pod's panic)"
        )
    else:
        print("  panic line → finding: no session reported its panic within 120 s of the load phase")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load phase (lines pushed)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=30.0,
        help="length of the idle phase (a followed session's timed pass comes every HEALER_CATCHUP_S, 300 s)",
    )
    parser.add_argument(
        "--active", type=float, default=0.1, help="share of the sessions whose pod logs in a second of load"
    )
    args = parser.parse_args()
    for sessions in args.sessions:
        report(run(sessions, args), args)


if __name__ == "__main__":
    main()
