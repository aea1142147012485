"""The engine end to end: backends agree, line numbers, labels, fingerprints, severity, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.logs import generate
from graph.triage.classify import classify
from graph.triage.engine import AgentNames, TriageEngine, mark_repeated_errors
from graph.triage.matcher import BACKENDS, Matcher
from graph.triage.models import Finding, LogLine
from tests.conftest import FAST_BACKENDS
from tools.redact import REDACTION_KINDS

S = 1_000_000_000


@pytest.fixture(scope="module")
def mixed_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return generate(tmp_path_factory.mktemp("logs") / "mixed.log", size_mb=2, seed=11).path.read_bytes()


def _summary(findings: list[Finding]) -> list[tuple[int | None, str, str]]:
    return [(f.line_no, f.code, f.fingerprint) for f in findings]


def test_every_backend_finds_the_same_findings(mixed_log: bytes) -> None:
    results = {
        name: _summary(TriageEngine(matcher=BACKENDS[name]()).scan_text(mixed_log).findings)
        for name in FAST_BACKENDS
    }
    reference = results["hyperscan"]
    assert len(reference) > 100
    for name, summary in results.items():
        assert summary == reference, name


def test_backends_agree_with_the_textbook_combined_pattern_on_a_sample(mixed_log: bytes) -> None:
    sample = mixed_log[: mixed_log.index(b"\n", 150_000) + 1]
    slow = _summary(TriageEngine(matcher=BACKENDS["re-combined"]()).scan_text(sample).findings)
    assert slow == _summary(TriageEngine(matcher=BACKENDS["hyperscan"]()).scan_text(sample).findings)


def test_scanning_in_chunks_numbers_lines_as_one_scan(mixed_log: bytes, matcher: Matcher) -> None:
    engine = TriageEngine(matcher=matcher)
    whole = _summary(engine.scan_text(mixed_log).findings)
    cut = mixed_log.index(b"\n", len(mixed_log) // 2) + 1
    first = engine.scan_text(mixed_log[:cut])
    second = engine.scan_text(mixed_log[cut:], first_line_no=first.lines_scanned + 1)
    assert _summary(first.findings + second.findings) == whole
    assert first.lines_scanned + second.lines_scanned == mixed_log.count(b"\n")


def test_text_and_lines_give_the_same_findings(mixed_log: bytes, matcher: Matcher) -> None:
    engine = TriageEngine(matcher=matcher)
    lines = [LogLine(text) for text in mixed_log.decode().splitlines()]
    assert _summary(engine.scan_lines(lines).findings) == _summary(engine.scan_text(mixed_log).findings)


def test_line_numbers_are_one_based_and_crlf_is_handled(matcher: Matcher) -> None:
    data = b"ok\r\nstill ok\r\n[ERROR] connection refused\r\nfine\r\nthread 'main' panicked at x.rs:1:1\r\n"
    findings = TriageEngine(matcher=matcher).scan_text(data).findings
    assert [(f.line_no, f.code) for f in findings] == [(3, "R2"), (5, "R1")]
    assert findings[0].text == "[ERROR] connection refused"


def test_kubectl_prefix_and_timestamps_give_pod_agent_and_time(matcher: Matcher) -> None:
    data = (
        b"[pod/coderun-rex-t1-play-42-x7k2p/claude-sonnet] 2026-11-24T05:20:01.123456789Z [ERROR] boom\n"
        b"[pod/web-7d9f8b6c5d-x7k2p/nginx] 2026-11-24T05:20:02Z [ERROR] boom\n"
    )
    engine = TriageEngine(matcher=matcher, agents=AgentNames(["rex"]), kubectl_prefix=True)
    rex, web = engine.scan_text(data).findings
    assert (rex.agent, rex.pod, rex.container) == ("rex", "coderun-rex-t1-play-42-x7k2p", "claude-sonnet")
    assert rex.timestamp is not None and rex.timestamp.isoformat() == "2026-11-24T05:20:01.123457+00:00"
    assert web.agent == "web"  # no known agent in the name: the workload family


def test_loki_labels_name_the_agent(matcher: Matcher) -> None:
    agents = AgentNames(["rex"], {"5DLabs-Rex": "rex"})
    lines = [
        LogLine("[ERROR] a", 1 * S, {"github_app": "5DLabs-Rex", "pod": "p-x7k2p"}),
        LogLine("[ERROR] b", 2 * S, {"agent": "Blaze"}),
        LogLine("[ERROR] c", 3 * S, {"github-app": "5DLabs-Cleo"}),
    ]
    found = TriageEngine(matcher=matcher, agents=agents).scan_lines(lines).findings
    assert [f.agent for f in found] == ["rex", "blaze", "cleo"]
    assert found[0].pod == "p-x7k2p"


def test_fingerprint_ignores_what_varies_and_keeps_what_matters() -> None:
    engine = TriageEngine("play-42", agents=AgentNames(["rex"]))

    def fp(text: str, agent: str = "rex", play: str = "play-42") -> str:
        engine.play_id = play
        return engine.scan_lines([LogLine(text, None, {"agent": agent})]).findings[0].fingerprint

    base = fp("2026-11-24T05:20:01Z [ERROR] dial tcp 10.0.3.7:5432: connect: connection refused (attempt 3)")
    assert base == fp(
        "2026-11-25T07:00:00Z [ERROR] dial tcp 10.0.9.1:5433: connect: connection refused (attempt 9)"
    )
    assert base == fp(
        "2026-11-24T05:20:01.5Z  [ERROR]  dial tcp 10.0.3.7:5432: connect:  connection refused (attempt 3)"
    )
    assert base != fp(
        "2026-11-24T05:20:01Z [ERROR] dial tcp 10.0.3.7:6379: connect: no route to host (attempt 3)"
    )
    assert base != fp(
        "2026-11-24T05:20:01Z [ERROR] dial tcp 10.0.3.7:5432: connect: connection refused", agent="blaze"
    )
    assert base != fp(
        "2026-11-24T05:20:01Z [ERROR] dial tcp 10.0.3.7:5432: connect: connection refused", play="p-2"
    )
    pods = "[ERROR] pod coderun-rex-t1-{} crashed, id 123e4567-e89b-12d3-a456-42661417400{} sha 3f2a9c1b7d{}"
    assert fp(pods.format("x7k2p", 0, "aa")) == fp(pods.format("m4q8z", 1, "bb"))
    assert len(base) == 16 and int(base, 16) >= 0


def test_err_is_raised_to_high_when_it_repeats() -> None:
    lines = [LogLine(t) for t in ("[ERROR] step 1 failed", "[ERROR] step 2 failed", "[ERROR] other thing")]
    findings = mark_repeated_errors(TriageEngine().scan_lines(lines).findings)
    assert [(f.severity.value, f.priority.value) for f in findings] == [
        ("high", "P1"),
        ("high", "P1"),
        ("medium", "P2"),
    ]


def test_python_traceback_is_one_finding_on_its_exception_line() -> None:
    text = 'Traceback (most recent call last):\n  File "a.py", line 1, in <module>\n    x["model"]\nKeyError: \'model\'\n'
    [finding] = TriageEngine().scan_text(text.encode()).findings
    assert finding.line_no == 4 and finding.code == "ERR" and finding.matched == "KeyError:"


def test_a_traceback_cut_off_before_its_exception_line_still_counts() -> None:
    [finding] = TriageEngine().scan_text(b"Traceback (most recent call last):\n").findings
    assert finding.line_no == 1


def test_secrets_in_findings_are_redacted() -> None:
    token = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    line = f"[ERROR] git push failed: Authorization: Bearer {token} was rejected: 401 Unauthorized"
    [finding] = TriageEngine().scan_lines([LogLine(line)]).findings
    assert token not in finding.text and token not in finding.model_dump_json()
    assert "[REDACTED:" in finding.text
    assert any(f"[REDACTED:{kind}]" in finding.text for kind in REDACTION_KINDS)


def test_long_lines_are_shortened_in_findings() -> None:
    [finding] = TriageEngine().scan_lines([LogLine("[ERROR] " + "x" * 10_000)]).findings
    assert len(finding.text) == 2000 and finding.text.endswith("\u2026")


def test_undecodable_bytes_do_not_stop_a_scan() -> None:
    [finding] = TriageEngine().scan_text(b"\xff\xfe [ERROR] connection refused\n").findings
    assert finding.code == "R2" and "\ufffd" in finding.text


def test_empty_input() -> None:
    engine = TriageEngine()
    assert engine.scan_text(b"").findings == [] and engine.scan_text(b"").lines_scanned == 0
    assert engine.scan_lines([]).findings == []
    assert engine.scan_text(b"no newline at the end").lines_scanned == 1


def test_generated_log_findings_are_exactly_the_planted_events(tmp_path: Path) -> None:
    log = generate(tmp_path / "planted.log", size_mb=1, seed=5)
    findings = TriageEngine().scan_text(log.path.read_bytes()).findings
    assert len(findings) == log.planted_findings


def test_matcher_candidates_cover_every_line_classify_flags(mixed_log: bytes, matcher: Matcher) -> None:
    """The prefilter may let noise through, but must never hide a line that `classify` calls a failure."""

    lines = mixed_log.decode().split("\n")
    flagged = {number for number, line in enumerate(lines, 1) if classify(line) is not None}
    starts = {candidate.start for candidate in matcher.candidates(mixed_log)}
    offsets, position = {}, 0
    for number, line in enumerate(lines, 1):
        offsets[number] = position
        position += len(line.encode()) + 1
    assert flagged and all(offsets[number] in starts for number in flagged)


def test_candidates_cover_every_flagged_line_of_the_test_examples(matcher: Matcher) -> None:
    from tests.test_catalogue import DETECTS, NOT_FINDINGS
    from tests.test_corpus import _cases
    from tests.test_levels_noise import LEVELS, NOISE_EXAMPLES

    lines = [line for examples in DETECTS.values() for line in examples] + NOT_FINDINGS
    lines += [line for line, _ in LEVELS] + [line for group in NOISE_EXAMPLES.values() for line in group]
    lines += [c["line"] for c in _cases() if "line" in c] + [
        ln for c in _cases() for ln in c.get("lines", [])
    ]
    lines = [line for line in lines if "\n" not in line]
    flagged = [line for line in lines if classify(line) is not None]
    for line in flagged:
        assert matcher.candidates(line.encode()), line
    assert len(flagged) > 100


def test_hyperscan_database_is_cached_and_a_broken_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALER_CACHE_DIR", str(tmp_path))
    BACKENDS["hyperscan"]()
    [cached] = tmp_path.glob("triage-*.hsdb")
    assert cached.stat().st_size > 1000
    cached.write_bytes(b"not a database")
    matcher = BACKENDS["hyperscan"]()
    assert [c.tags for c in matcher.candidates(b"ok\n[ERROR] connection refused\n")] == [
        frozenset({"R2", "level"})
    ]
    assert cached.stat().st_size > 1000
    monkeypatch.setenv("HEALER_CACHE_DIR", "/proc/no-such-place")  # unwritable: compiles, and still works
    assert BACKENDS["hyperscan"]().candidates(b"[ERROR] x\n")


def test_a_traceback_header_folds_only_into_its_own_exception_line(matcher: Matcher) -> None:
    contiguous = b"Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\nKeyError: 'model'\n"
    assert [(f.line_no, f.code) for f in TriageEngine(matcher=matcher).scan_text(contiguous).findings] == [
        (4, "ERR")
    ]
    # an unrelated exception line after other output of the same stream does not absorb the header
    apart = b"Traceback (most recent call last):\nINFO retrying the job\nValueError: bad input\n"
    assert [f.line_no for f in TriageEngine(matcher=matcher).scan_text(apart).findings] == [1, 3]
    # another stream's line in between does not break a traceback
    lines = [
        LogLine("Traceback (most recent call last):", 1, {"pod": "a"}),
        LogLine("INFO unrelated", 2, {"pod": "b"}),
        LogLine('  File "a.py", line 1', 3, {"pod": "a"}),
        LogLine("KeyError: 'model'", 4, {"pod": "a"}),
    ]
    assert [f.line_no for f in TriageEngine(matcher=matcher).scan_lines(lines).findings] == [4]
