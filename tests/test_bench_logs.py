"""bench/logs.py: the deterministic mixed agent log used by benchmarks and tests."""

import importlib.util
import itertools
import json
import re
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bench_logs", Path(__file__).parents[1] / "bench" / "logs.py")
assert _SPEC is not None and _SPEC.loader is not None
logs = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_logs"] = logs
_SPEC.loader.exec_module(logs)

# The first line of every planted finding matches this, and no other line does.
TRIGGER = re.compile(
    r"panicked at|^fatal error:|level=error|^\[ERROR\]|\"level\":\"error\"|^Traceback|^error\[E"
    r"|^Error: connect ECONNREFUSED|^E\d{4} |^ERROR: Tool inventory MISMATCH|Z ERROR |,\d{3} ERROR "
    r"|\"level\":50|^mkdir: .*Permission denied|^Error: EACCES"
)


@pytest.fixture(scope="module")
def one_mb(tmp_path_factory: pytest.TempPathFactory) -> tuple["logs.GeneratedLog", bytes]:
    g = logs.generate(tmp_path_factory.mktemp("log") / "mixed.log", size_mb=1, seed=7)
    return g, g.path.read_bytes()


def test_same_seed_same_bytes_other_seed_other_bytes(one_mb, tmp_path: Path) -> None:
    g, data = one_mb
    again = logs.generate(tmp_path / "again.log", size_mb=1, seed=7)
    assert again.path.read_bytes() == data
    assert (again.size_bytes, again.line_count, again.planted_findings) == (
        g.size_bytes,
        g.line_count,
        g.planted_findings,
    )
    assert logs.generate(tmp_path / "other.log", size_mb=1, seed=8).path.read_bytes() != data


def test_size_lines_and_encoding(one_mb) -> None:
    g, data = one_mb
    assert len(data) == g.size_bytes
    assert abs(g.size_bytes - logs.MIB) <= 0.05 * logs.MIB
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]  # raises if any line is not valid UTF-8
    assert len(lines) == g.line_count
    assert all(lines)


def test_planted_findings_are_counted_exactly(one_mb) -> None:
    g, data = one_mb
    assert 0.027 <= g.planted_findings / g.line_count <= 0.033
    triggers = sum(1 for line in data.decode().split("\n") if TRIGGER.search(line))
    assert triggers == g.planted_findings


def test_mixed_formats_and_long_json(one_mb) -> None:
    _, data = one_mb
    text = data.decode()
    markers = (
        "  INFO agent::",
        "level=info msg=",
        "\nI1124 ",
        "\nW1124 ",
        '{"level":30,',
        " INFO healer.",
        "   Compiling ",
        " ... ok\n",
        "  ✓ ",
        '"errorMessages": []',
        "Tool inventory check",
    )
    for marker in markers:
        assert marker in text, marker
    long_json = [line for line in text.split("\n") if len(line.encode()) >= 2048]
    assert long_json
    assert all(len(line.encode()) <= 8192 for line in long_json)
    assert all(isinstance(json.loads(line), dict) for line in long_json)


def test_iter_lines_is_the_file_prefix(one_mb) -> None:
    _, data = one_mb
    head = data.decode().split("\n")[:2000]
    assert list(itertools.islice(logs.iter_lines(seed=7), 2000)) == head


def test_existing_file_is_reused(one_mb, monkeypatch: pytest.MonkeyPatch) -> None:
    g, _ = one_mb
    mtime = g.path.stat().st_mtime_ns

    def regenerate(*_: object) -> None:
        raise AssertionError("regenerated a file that could be reused")

    with monkeypatch.context() as m:
        m.setattr(logs, "_batches", regenerate)
        assert logs.generate(g.path, size_mb=1, seed=7) == g
    assert g.path.stat().st_mtime_ns == mtime
    other = logs.generate(g.path, size_mb=1, seed=9)  # other parameters: written anew
    assert other.path.read_bytes() != b"" and json.loads(Path(f"{g.path}.json").read_text())["seed"] == 9
    assert logs.generate(g.path, size_mb=1, seed=7) == g  # back to the first: same content again


def test_bad_ratio_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finding_ratio"):
        logs.generate(tmp_path / "x.log", size_mb=1, finding_ratio=0.7)
