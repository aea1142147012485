"""`healer`: the command line.

`healer scan` must start fast and scan at the speed of the matcher, so this module imports only the triage
engine: nothing from the LLM, GitHub or server stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from pydantic import ValidationError

from graph.session import SessionStart
from graph.triage import preflight
from graph.triage.catalogue import Severity
from graph.triage.engine import AgentNames, ScanResult, TriageEngine, mark_repeated_errors
from graph.triage.matcher import BACKENDS, best_matcher
from graph.triage.models import Finding
from graph.triage.report import print_jsonl, print_table
from graph.triage.sources import InputError, check_not_binary, loki_lines, looks_like_loki
from graph.triage.spans import spans_of_lines, spans_of_text

CHUNK_BYTES = 8 << 20
PROGRESS_MIN_BYTES = 4 << 20
_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(f"healer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `healer scan … | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healer", description="Watch a play's agents and heal what breaks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = commands.add_parser(
        "scan",
        help="find failures in a log file or stdin",
        description="Find failures in a log: plain lines, `kubectl logs` output (with --prefix/--timestamps) "
        "or a Loki query_range JSON response. Exit status: 0 scanned, 1 a finding at or above --fail-on, "
        "2 unreadable input.",
    )
    scan.add_argument("path", nargs="?", default="-", help="log file, or - for stdin (default)")
    scan.add_argument("--format", choices=("table", "jsonl"), default="table")
    scan.add_argument(
        "--session", type=Path, help="session start payload (JSON): enables the pre-flight check"
    )
    scan.add_argument("--agent", help="agent that wrote a plain log (when lines carry no labels)")
    scan.add_argument("--pod", help="pod that wrote a plain log (when lines carry no labels)")
    scan.add_argument(
        "--kubectl-prefix",
        action="store_true",
        help="the input is `kubectl logs --prefix` output: each line's leading [pod/NAME/container] names "
        "its pod and agent (without this flag the text never does: a container can print any prefix)",
    )
    scan.add_argument("--play-id", help="play id for fingerprints (default: the session's, else none)")
    scan.add_argument(
        "--matcher", choices=sorted(BACKENDS), help="matcher backend (default: fastest available)"
    )
    scan.add_argument(
        "--fail-on", choices=[s.value for s in Severity], help="exit 1 if a finding is at least this severe"
    )
    scan.set_defaults(run=_scan)
    replay = commands.add_parser(
        "replay",
        help="run the graphs offline over a recorded scenario",
        description="Replay a scenario folder (cassettes/<scenario>/): session passes over its recorded logs "
        "until the play ends and every incident they open, with the network blocked. Exit status: 0 done, "
        "1 the recording does not cover the run, 2 a missing or broken scenario folder.",
    )
    replay.add_argument("folder", type=Path, help="the scenario folder, e.g. cassettes/preflight-a10")
    replay.add_argument("--format", choices=("timeline", "json"), default="timeline")
    replay.add_argument("--database-url", help="keep the checkpoints here (default: a temporary SQLite file)")
    replay.set_defaults(run=_replay)
    evaluate = commands.add_parser(
        "eval",
        help="score Healer's analyses on a rubric suite (default evals/)",
        description="Run a rubric suite: triage each case's logs, evaluate the incident it opens and score the "
        "analysis against the statements it must contain. Offline (default) from recorded model answers; "
        "--live against the configured model (OPENAI_BASE_URL / OPENAI_API_KEY, HEALER_EVALUATION_MODEL); "
        "--record live, writing the recordings. Exit status 0 whatever the score; 2 on a bad suite.",
    )
    evaluate.add_argument("suite", nargs="?", type=Path, default=Path("evals"))
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.add_argument(
        "--mode",
        choices=("with", "without", "both"),
        default="with",
        help="with the investigation (tool calls) or the finding's window alone",
    )
    evaluate.add_argument("--case", action="append", help="only this case (repeatable)")
    evaluate.add_argument("--live", action="store_true", help="ask the configured model, record nothing")
    evaluate.add_argument("--record", action="store_true", help="ask the configured model and record it")
    evaluate.add_argument(
        "--price-per-1k-tokens", type=float, default=0.0, help="for the cost column (0: a local model)"
    )
    evaluate.set_defaults(run=_eval)
    watch = commands.add_parser(
        "watch",
        help="watch one play live",
        description="Run the graphs live for one session: passes against LOKI_URL (and Kubernetes, GitHub, "
        "Discord and the LLM when configured, see README) until the play is over or --passes have run.",
    )
    watch.add_argument("--session", type=Path, required=True, help="session start payload (JSON)")
    watch.add_argument(
        "--passes", type=int, help="stop after this many passes (default: when the play is over)"
    )
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between passes (default 5)")
    watch.add_argument(
        "--database-url", help="checkpoints (default HEALER_DATABASE_URL, else .healer/healer.db)"
    )
    watch.add_argument("--format", choices=("timeline", "json"), default="timeline")
    watch.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="keep the session in DIR (new or empty) as a scenario for `healer replay` and the draft of a "
        "case for `healer eval`: its traffic recorded, redacted; a fresh database; Ctrl-C stops after a pass",
    )
    watch.set_defaults(run=_watch)
    serve = commands.add_parser(
        "serve",
        help="run the session API and the scheduler (port 8083)",
        description="Serve Healer's session API, its pages and /metrics, and run every active session in the "
        "background. Embedded defaults: SQLite in .healer/healer.db, no credentials needed to start.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 in a pod)"
    )
    serve.add_argument("--port", type=int, default=8083)
    serve.add_argument("--interval", type=float, default=5.0, help="seconds between a session's passes")
    serve.add_argument(
        "--idle-timeout", type=float, default=3600.0, help="end a session after this long without new lines"
    )
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.logs import configure
    from graph.config import HealerSettings
    from server import create_app

    configure(args.log_level.upper())
    settings = HealerSettings()
    app = create_app(settings, interval_s=args.interval, idle_timeout_s=args.idle_timeout)
    where = f"http://{args.host}:{args.port}"
    print(
        f"healer: serving on {where} (pages at {where}/, API docs at {where}/docs, metrics at {where}/metrics); "
        f"database {settings.database_backend()}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, timeout_graceful_shutdown=10)
    return 0


def _watch(args: argparse.Namespace) -> int:
    import asyncio

    from graph.config import HealerSettings
    from graph.summary import summary, timeline
    from runtime.watch import watch

    session = _load_session(args.session)
    settings = HealerSettings()
    if args.database_url:
        if args.record:
            raise InputError("--record keeps its checkpoints in a fresh database: leave --database-url out")
        settings = settings.model_copy(update={"database_url": args.database_url})
    if not settings.loki_url and not settings.kubernetes_enabled:
        print(
            "healer watch: error: neither LOKI_URL nor Kubernetes (HEALER_KUBERNETES=false): no log to watch",
            file=sys.stderr,
        )
        return 2

    def progress(values: dict) -> None:
        print(f"pass {values.get('passes')}: {values.get('lines_seen', 0)} lines so far", file=sys.stderr)

    options = {"passes": args.passes, "interval_s": args.interval, "on_pass": progress}
    if args.record:
        from runtime.capture import CaptureError, record_watch

        try:
            captured = asyncio.run(record_watch(args.record, args.session.read_text(), settings, **options))
        except CaptureError as error:
            raise InputError(str(error)) from None
        values, views = captured.session, captured.incidents
        print(
            f"recorded {captured.passes} passes, {captured.requests} requests in {args.record}: "
            f"`healer replay {args.record}` runs it offline"
            + (
                f"; add expected statements to {args.record / 'case.yaml'} for `healer eval`"
                if captured.case_pods
                else ""
            ),
            file=sys.stderr,
        )
    else:
        values, views = asyncio.run(watch(session, settings, **options))
    incidents = [view.values for view in views]
    report = summary(session.play_id, values, incidents)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(timeline(values, incidents))
        for incident in incidents:
            if incident.get("issue") is None and incident.get("issue_body"):
                print(f"\n--- issue not filed (GitHub not configured); its body:\n{incident['issue_body']}")
        print(f"status: {report['status']}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    from vcr.errors import CannotOverwriteExistingCassetteException

    from graph.summary import summary, timeline
    from runtime.replay import ScenarioError, replay

    try:
        result = asyncio.run(replay(args.folder, database_url=args.database_url))
    except ScenarioError as error:
        print(f"healer replay: error: {error}", file=sys.stderr)
        return 2
    except CannotOverwriteExistingCassetteException as error:
        first = str(error).splitlines()[0]
        print(f"healer replay: the recording does not cover this run: {first}", file=sys.stderr)
        return 1
    incidents = [view.values for view in result.incidents]
    report = summary(result.loaded.scenario.name, result.session, incidents)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    print(f"{result.loaded.scenario.name}: {result.loaded.scenario.description}")
    print(timeline(result.session, incidents))
    print(
        f"status: {report['status']}; {len(report['findings'])} findings, {len(report['issues'])} issues, "
        f"{len(report['pull_requests'])} pull requests, {report['notifications']} notifications"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from evaluation.cases import CaseError
    from evaluation.suite import as_json, comparison, run, table
    from graph.config import HealerSettings

    modes = ("with", "without") if args.mode == "both" else (args.mode,)
    options = {
        "live": args.live,
        "record": args.record,
        "only": args.case,
        "price_per_1k_tokens": args.price_per_1k_tokens,
    }
    try:
        results = {mode: run(args.suite, mode, HealerSettings(), **options) for mode in modes}
    except (CaseError, ValueError) as error:
        raise InputError(str(error)) from None
    if args.format == "json":
        reports = [as_json(mode, scores) for mode, scores in results.items()]
        print(json.dumps(reports[0] if len(reports) == 1 else {"modes": reports}, indent=2))
    else:
        print("\n\n".join(table(mode, scores) for mode, scores in results.items()))
        if len(results) == 2:
            print("\n" + comparison(results["with"], results["without"]))
    return 0


def _scan(args: argparse.Namespace) -> int:
    session = _load_session(args.session) if args.session else None
    config = session.cto_config if session else None
    agents = AgentNames(config.agents if config else (), config.agent_aliases() if config else None)
    only_agent = next(iter(config.agents)) if config and len(config.agents) == 1 else None
    engine = TriageEngine(
        args.play_id or (session.play_id if session else ""),
        matcher=best_matcher(args.matcher),
        agents=agents,
        default_agent=args.agent or (agents.from_pod(args.pod) if args.pod else only_agent),
        default_pod=args.pod,
        kubectl_prefix=args.kubectl_prefix,
    )
    with _open_input(args.path) as stream:
        result, spans = _scan_stream(engine, stream, _input_size(args.path), want_spans=session is not None)
    result.extend(engine.close_streams())
    found = mark_repeated_errors(result.findings)
    # Without a session nothing is declared, but an agent's init event still says which MCP servers failed.
    inventory = (
        result.inventory if session is not None else [i for i in result.inventory if i.tools is not None]
    )
    reports = preflight.check(config, inventory, spans, complete=True)
    found += preflight.findings(engine.play_id, reports)
    found.sort(key=lambda f: (f.line_no is None, f.line_no or 0))
    _print(found, result.lines_scanned, args.format, sys.stdout)
    return 1 if args.fail_on and _any_at_least(found, Severity(args.fail_on)) else 0


def _load_session(path: Path) -> SessionStart:
    try:
        return SessionStart.from_json_bytes(path.read_bytes())
    except OSError as error:
        raise InputError(f"cannot read session file {path}: {error.strerror or error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise InputError(
            f"session file {path} is not a session start payload: {where}: {first['msg']}"
        ) from None


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a log file") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None


def _input_size(path: str) -> int | None:
    try:
        return None if path == "-" else os.stat(path).st_size
    except OSError:
        return None


def _scan_stream(
    engine: TriageEngine, stream: BinaryIO, size: int | None, *, want_spans: bool
) -> tuple[ScanResult, dict[str, preflight.AgentSpan]]:
    chunks = _chunks(stream, size)
    first = next(chunks, b"")
    check_not_binary(first)
    if looks_like_loki(first):
        lines = loki_lines(first + b"".join(chunks))
        return engine.scan_lines(lines), spans_of_lines(lines, engine) if want_spans else {}
    result, spans = ScanResult(), {}
    for chunk in _prepend(first, chunks):
        part = engine.scan_text(chunk, first_line_no=result.lines_scanned + 1)
        result.extend(part)
        if want_spans:
            spans = spans_of_text(chunk, engine, spans)
    return result, spans


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _chunks(stream: BinaryIO, size: int | None) -> Iterator[bytes]:
    """Chunks that end on a line boundary, with a progress bar on a terminal for large inputs."""
    progress = (
        _Progress(size) if sys.stderr.isatty() and (size is None or size >= PROGRESS_MIN_BYTES) else None
    )
    carry = b""
    try:
        while block := _read(stream):
            if progress:
                progress.advance(len(block))
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
        if carry:
            yield carry
    finally:
        if progress:
            progress.close()


def _read(stream: BinaryIO) -> bytes:
    try:
        return stream.read(CHUNK_BYTES)
    except OSError as error:
        raise InputError(f"cannot read the input: {error.strerror or error}") from None


class _Progress:
    def __init__(self, total: int | None) -> None:
        self.total, self.done, self.started, self.shown_at = total, 0, time.monotonic(), 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown_at >= 0.1:
            self.shown_at = now
            rate = self.done / max(now - self.started, 1e-6) / 1e6
            if self.total:
                share = self.done / self.total
                bar = "#" * int(share * 30)
                line = (
                    f"\rscanning [{bar:<30}] {share:4.0%} {self.done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
                )
            else:
                line = f"\rscanning {self.done / 1e6:,.0f} MB"
            sys.stderr.write(f"{line} {rate:,.0f} MB/s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.shown_at:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _any_at_least(findings: list[Finding], floor: Severity) -> bool:
    return any(_SEVERITY_RANK[f.severity] >= _SEVERITY_RANK[floor] for f in findings)


def _print(findings: list[Finding], lines_scanned: int, output_format: str, out: TextIO) -> None:
    if output_format == "jsonl":
        print_jsonl(findings, out)
    else:
        print_table(findings, lines_scanned, out)


if __name__ == "__main__":
    sys.exit(main())
