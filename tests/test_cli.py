"""`healer scan` as a user runs it: outputs, the sample play, and every error path."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from bench.logs import generate
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "play-42"


def healer(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "healer_cli", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def jsonl(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def assert_clean_error(result: subprocess.CompletedProcess[bytes], words: str) -> None:
    err = result.stderr.decode()
    assert result.returncode == 2
    assert err.count("\n") == 1 and err.startswith("healer scan: error: ") and words in err, err
    assert "Traceback" not in err


def test_sample_play_with_session_finds_the_missing_tool() -> None:
    result = healer(
        "scan",
        "--format",
        "jsonl",
        "--session",
        str(EXAMPLE / "session.json"),
        str(EXAMPLE / "loki-query-range.json"),
    )
    assert result.returncode == 0, result.stderr
    findings = jsonl(result)
    for finding in findings:
        assert {"line_no", "code", "severity", "priority", "fingerprint", "agent", "text"} <= finding.keys()
    preflight = [f for f in findings if f["code"] == "A10" and f["missing_tools"]]
    assert [(f["agent"], f["missing_tools"]) for f in preflight] == [("rex", ["brave_search"])]
    assert any(f["agent"] == "cleo" and "no tool inventory" in str(f["detail"]) for f in findings)
    assert any(f["agent"] == "blaze" and f["code"] == "R1" for f in findings)
    assert not any(f["agent"] == "blaze" and f["code"] == "A10" for f in findings)
    assert "hunter2" not in result.stdout.decode()


def test_table_has_a_summary_by_code_and_severity() -> None:
    result = healer("scan", str(EXAMPLE / "loki-query-range.json"))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert out.splitlines()[0].split() == ["LINE", "TIME", "AGENT", "CODE", "SEVERITY", "TEXT"]
    assert "by code:" in out and "by severity:" in out and "critical" in out


def test_stdin_and_line_numbers() -> None:
    result = healer("scan", "--format", "jsonl", "-", stdin=b"fine\n[ERROR] connection refused\n")
    assert [(f["line_no"], f["code"]) for f in jsonl(result)] == [(2, "R2")]
    assert healer("scan", "--format", "jsonl", stdin=b"fine\n").stdout == b""


def test_empty_input_is_not_an_error() -> None:
    result = healer("scan", stdin=b"")
    assert result.returncode == 0 and b"No findings in 0 lines." in result.stdout


def test_fail_on_sets_the_exit_status() -> None:
    log = b"[ERROR] something odd\n"
    assert healer("scan", "--fail-on", "medium", stdin=log).returncode == 1
    assert healer("scan", "--fail-on", "high", stdin=log).returncode == 0


def test_matchers_give_the_same_output() -> None:
    outputs = {
        m: healer("scan", "--format", "jsonl", "--matcher", m, str(EXAMPLE / "loki-query-range.json")).stdout
        for m in ("hyperscan", "re", "re2")
    }
    assert len(set(outputs.values())) == 1 and outputs["re"]


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["/nonexistent/play.log"], None, "no such file: /nonexistent/play.log"),
        (["/"], None, "is a directory"),
        (["-"], b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50, "binary"),
        (["-"], bytes(range(128, 256)) * 40, "not UTF-8"),
        (["-"], b'{"status":"success","data":{"resultType":"streams","result":[', "not valid JSON"),
        (["-"], b'{"status":"success","data":{"resultType":"matrix","result":[]}}', "only log streams"),
        (
            ["-"],
            b'{"status":"error","error":"parse error","data":{"resultType":"streams"}}',
            "status 'error'",
        ),
        (
            ["-"],
            b'{"data":{"resultType":"streams","result":[{"stream":{},"values":[["x","l"]]}]}}',
            "timestamp",
        ),
        (
            ["-"],
            b'{"data":{"resultType":"streams","result":[{"stream":{},"values":[[1]]}]}}',
            "not [timestamp, line]",
        ),
        (["--session", "/nonexistent.json", "-"], b"", "cannot read session file"),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(args: list[str], stdin: bytes | None, words: str) -> None:
    assert_clean_error(healer("scan", *args, stdin=stdin), words)


def test_a_bad_session_names_the_field(tmp_path: Path) -> None:
    session = tmp_path / "session.json"
    session.write_text('{"cto_config": {}}')
    assert_clean_error(healer("scan", "--session", str(session), "-", stdin=b""), "play_id: Field required")
    session.write_text("{not json")
    assert_clean_error(
        healer("scan", "--session", str(session), "-", stdin=b""), "not a session start payload"
    )
    session.write_text('{"play_id": "p", "cto_config": {"agents": {"rex": {"tools": {"remote": "x"}}}}}')
    assert_clean_error(
        healer("scan", "--session", str(session), "-", stdin=b""), "cto_config.agents.rex.tools.remote"
    )


def test_a_read_error_is_one_line() -> None:
    # reading address 0 of a process's own memory fails with EIO, even for root
    assert_clean_error(healer("scan", "/proc/self/mem"), "cannot read the input: Input/output error")


def test_bad_arguments_exit_2_with_usage() -> None:
    result = healer("scan", "--format", "xml", "-")
    assert result.returncode == 2 and b"invalid choice: 'xml'" in result.stderr


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    log = generate(tmp_path / "big.log", size_mb=2, seed=3).path
    command = f"{sys.executable} -m healer_cli scan --format jsonl {log} | head -n 1"
    result = subprocess.run(command, shell=True, capture_output=True, cwd=REPO, timeout=60, check=False)
    assert result.stdout.count(b"\n") == 1 and b"Traceback" not in result.stderr


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    log = generate(tmp_path / "big.log", size_mb=20, seed=3).path
    assert healer("scan", "--format", "jsonl", str(log)).stderr == b""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "healer_cli", "scan", "--format", "jsonl", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=REPO,
    ) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=120) == 0
    os.close(leader)
    assert b"scanning [" in shown and b"MB/s" in shown
