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
from dataclasses import dataclass, field
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


# the other processes on the machine, by what their command line says
NEIGHBOURS = {
    "Postgres": ("postgres",),
    "Loki (qryn, chDB)": ("qryn", "chshim"),
    "the bench (emulator, proxy, pushes)": ("bench.scale",),
}


def neighbours_cpu_s() -> dict[str, float]:
    """CPU seconds of the processes of each of `NEIGHBOURS` (those that ended meanwhile are not counted)."""
    spent = dict.fromkeys(NEIGHBOURS, 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            used = cpu_s(int(proc.name))
        except OSError:
            continue
        for name, marks in NEIGHBOURS.items():
            if any(mark in command for mark in marks):
                spent[name] += used
                break
    return spent


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every process: Loki, Postgres, the bench too)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


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
        for n, (base, process) in enumerate(started):
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (folder / f"replica-{n}.log").read_text(errors="replace")[-3000:]
                    raise SystemExit(
                        f"replica-{n} exited or did not answer /health in 120 s; its log:\n{log}"
                    )
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


@dataclass
class Starts:
    """How starting the sessions through the API went: the slowest start, and the starts sent again after
    the connection dropped (a 409 on the second try means the first one had landed)."""

    slowest_s: float = 0.0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


async def start_sessions(bases: list[str], plays: list[tuple[str, str]]) -> Starts:
    limit, starts = asyncio.Semaphore(16), Starts()
    async with httpx.AsyncClient(timeout=60) as http:

        async def start(n: int, play_id: str, namespace: str) -> None:
            body = {"play_id": play_id, "repository": "5dlabs/cto-parallel-test", "namespace": namespace}
            async with limit:
                for attempt in range(3):
                    began = time.monotonic()
                    try:
                        answer = await http.post(f"{bases[n % len(bases)]}/api/v1/session/start", json=body)
                    except httpx.TransportError as error:
                        starts.retried += 1
                        starts.errors.append(
                            f"{time.strftime('%X')} {type(error).__name__} {error} after "
                            f"{time.monotonic() - began:.1f} s"
                        )
                        continue
                    starts.slowest_s = max(starts.slowest_s, time.monotonic() - began)
                    if answer.status_code == 409 and attempt:
                        return
                    answer.raise_for_status()
                    return
                raise SystemExit(f"session {play_id} could not be started: {starts.errors[-3:]}")

        await asyncio.gather(*(start(n, p, ns) for n, (p, ns) in enumerate(plays)))
    return starts


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


def push_load(
    loki_url: str, plays: list[Play], seconds: float, active_share: float, panic_at: dict[str, int]
) -> int:
    """For `seconds`, every second a different `active_share` of the sessions' pods log a few ordinary
    lines; a session's first active second also logs a panic, whose timestamp goes into `panic_at`. The
    seconds keep to the wall clock: one that ran late is not made up. Returns the seconds pushed."""
    turns = max(1, round(1 / active_share))
    began, tick = time.monotonic(), 0
    with httpx.Client(timeout=60) as http:
        while (second := int(time.monotonic() - began)) < seconds:
            by_namespace: dict[str, dict[str, list[tuple[int, str]]]] = {}
            now, panicking = time.time_ns() // 1000 * 1000, []
            for n, play in enumerate(plays):
                if (n + second) % turns:
                    continue
                lines = [(now + i * 1000, f"INFO step {i}: cargo check ok") for i in range(3)]
                if play.play_id not in panic_at:
                    lines.append((now + 5000, PANIC))
                    panicking.append(play.play_id)
                by_namespace.setdefault(play.namespace, {})[play.pod] = lines
            for namespace, pods in by_namespace.items():
                push(http, loki_url, namespace, pods)
            panic_at.update(dict.fromkeys(panicking, now + 5000))
            tick += 1
            time.sleep(max(0.0, second + 1 - (time.monotonic() - began)))
    return tick


@dataclass
class Findings:
    """When each session's panic showed in the session API, and what listing the sessions cost."""

    delays: list[float] = field(default_factory=list)
    listings_s: list[float] = field(default_factory=list)


def watch_findings(base: str, panic_at: dict[str, int], until: float, expected: int) -> Findings:
    """Lists the active sessions as often as the API answers (at most once a second) until each of
    `expected` sessions shows a detection for its panic or `until` (monotonic) passes."""
    findings, reported = Findings(), set()
    with httpx.Client(timeout=120) as http:
        while time.monotonic() < until and len(reported) < expected:
            asked = time.monotonic()
            listed = http.get(f"{base}/api/v1/sessions/active").json()["sessions"]
            seen = time.time_ns()
            findings.listings_s.append(time.monotonic() - asked)
            for summary in listed:
                play_id = summary["play_id"]
                if summary["issue_count"] and play_id not in reported and play_id in panic_at:
                    reported.add(play_id)
                    findings.delays.append((seen - panic_at[play_id]) / 1e9)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - asked)))
    return findings


def opened_delays(bases: list[str]) -> dict[float, float]:
    """The replicas' `healer_finding_delay_seconds` buckets, summed: upper bound → count at or below."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for base in bases:
        text = httpx.get(f"{base}/metrics", timeout=60).text
        for family in text_string_to_metric_families(text):
            if family.name != "healer_finding_delay_seconds":
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The bucket a quantile of the observations between two scrapes falls in, as `≤ bound`."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0
    if not total:
        return "none"
    for bound, cumulative in counts:
        if cumulative >= q * total:
            return f"≤ {bound:g} s" if bound != float("inf") else f"> {counts[-2][0]:g} s"
    return "none"


def settle(database_url: str, interval_s: float) -> float:
    """Waits until every session has had its first step, then two intervals more (its catch-up); how long
    that took."""
    import psycopg

    began = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() - began < 600:
            row = connection.execute("SELECT count(*) FROM healer_schedule WHERE steps < 1").fetchone()
            if row and not row[0]:
                break
            time.sleep(1)
    time.sleep(2 * interval_s)
    return time.monotonic() - began


def measure(
    pids: list[int], seconds: float, loki: CountingLoki, kube: KubernetesEmulator, database_url: str
) -> dict:
    neighbours0, busy0, cpu0, queries0, kube0, steps0 = (
        neighbours_cpu_s(),
        machine_busy_s(),
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
        "machine": (machine_busy_s() - busy0) / seconds,
        "neighbours": {
            name: (used - neighbours0[name]) / seconds for name, used in neighbours_cpu_s().items()
        },
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
            try:
                starts = asyncio.run(start_sessions(bases, [(p.play_id, p.namespace) for p in plays]))
            except SystemExit:
                for log in sorted(folder.glob("replica-*.log")):  # the folder goes with the run
                    print(
                        f"--- {log.name}, its end:\n{log.read_text(errors='replace')[-3000:]}",
                        file=sys.stderr,
                    )
                raise
            started_s = time.monotonic() - began
            settled_s = settle(database_url, args.interval)
            idle = measure(pids, args.idle_seconds, loki, kube, database_url)
            panic_at: dict[str, int] = {}
            opened_before = opened_delays(bases)
            pusher = threading.Thread(
                target=push_load, args=(loki_url, plays, args.seconds, args.active, panic_at)
            )
            pusher.start()
            findings: list[Findings] = []
            watcher = threading.Thread(
                target=lambda: findings.append(
                    watch_findings(bases[0], panic_at, time.monotonic() + args.seconds + 120, len(plays))
                )
            )
            watcher.start()
            loaded = measure(pids, args.seconds, loki, kube, database_url)
            pusher.join()
            watcher.join()
            opened_after = opened_delays(bases)
            tails = loki.counts["tails"]
    return {
        "sessions": sessions,
        "started_s": started_s,
        "idle": idle,
        "load": loaded,
        "per_interval": {"idle": args.interval / args.idle_seconds, "load": args.interval / args.seconds},
        "starts": starts,
        "settled_s": settled_s,
        "findings": findings[0] if findings else Findings(),
        "panics": len(panic_at),
        "opened": {q: bucket_quantile(opened_before, opened_after, q) for q in (0.5, 0.99)},
        "tails": tails,
        "folder": str(folder),
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\n{result['sessions']} sessions, {args.replicas} replicas, {args.namespaces} namespaces, "
        f"--interval {args.interval} s, {args.active * 100:g}% of the pods logging each second of load "
        f"({args.active * result['sessions']:g} panics/s)"
    )
    starts: Starts = result["starts"]
    print(
        f"  started through the API in {result['started_s']:.1f} s (slowest start {starts.slowest_s:.1f} s, "
        f"{starts.retried} sent again after a dropped connection), every session's first steps done "
        f"{result['settled_s']:.1f} s later; Loki tails opened: {result['tails']} (one per namespace per replica)"
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
        others = ", ".join(f"{name} {used:.2f}" for name, used in figures["neighbours"].items())
        print(
            f"        the machine busy {figures['machine']:.2f} of {os.cpu_count()} cores; besides the "
            f"replicas: {others}"
        )
    findings: Findings = result["findings"]
    delays = sorted(findings.delays)
    listing = (
        f"; listing the active sessions took {statistics.median(findings.listings_s):.2f} s (median)"
        if findings.listings_s
        else ""
    )
    if delays:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(
            f"  panic line → finding in the API: p50 {statistics.median(delays):.1f} s, p99 {p99:.1f} s "
            f"({len(delays)} of the {result['panics']} panics pushed showed{listing})"
        )
    else:
        print(f"  panic line → finding: none of the {result['panics']} panics showed within 120 s{listing}")
    opened = result["opened"]
    print(
        f"  panic line → the pass that found it (the replicas' healer_finding_delay_seconds): "
        f"p50 {opened[0.5]}, p99 {opened[0.99]}"
    )


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
