"""Level markers across log formats, and every noise rule (DESIGN §4.5)."""

from __future__ import annotations

import pytest

from graph.triage.classify import classify
from graph.triage.levels import Level, level_of, message_of
from graph.triage.noise import NOISE_RULES, noise_rule_for

LEVELS = [
    ("I1124 05:24:30.123456       1 controller.go:12] synced", Level.INFO),
    ("W1124 05:24:30.123456       1 controller.go:12] slow", Level.WARN),
    ("E1124 05:24:30.123456       1 controller.go:12] failed", Level.ERROR),
    ("F1124 05:24:30.123456       1 controller.go:12] dying", Level.FATAL),
    ('time="2026-11-24T05:24:30Z" level=warning msg="x"', Level.WARN),
    ("ts=2026-11-24T05:24:30Z lvl=eror msg=x", Level.ERROR),
    ('{"level":"error","msg":"x"}', Level.ERROR),
    ('{"severity":"INFO","message":"x"}', Level.INFO),
    ('{"level":30,"msg":"x"}', Level.INFO),
    ('{"level":60,"msg":"x"}', Level.FATAL),
    ("[INFO] compiling", Level.INFO),
    ("[error] upstream closed", Level.ERROR),
    ("[WORKER 2026-01-05 05:51:12Z INFO ExecutionContext] done", Level.INFO),
    ("error_handler [2026-01-05 INFO] initialized", Level.INFO),
    ("INFO: started", Level.INFO),
    ("WARNING:root:disk low", Level.WARN),
    ("ERROR something broke", Level.ERROR),
    ("error: could not compile `healer`", Level.ERROR),
    ("warning: unused variable: `x`", Level.WARN),
    ("2026-11-24 05:24:30,123 - healer - ERROR - boom", Level.ERROR),
    ("2026-11-24 05:24:30.123 | DEBUG    | app:run:1 - x", Level.DEBUG),
    ("05:24:30.123 [main] INFO c.e.Service - up", Level.INFO),
    ("2026-11-24T05:24:30.123Z\tERROR\tpkg/x.go:12\tboom", Level.ERROR),
    ("Processing error handler", None),
    ("State: Error", None),
]


@pytest.mark.parametrize(("line", "level"), LEVELS, ids=[line for line, _ in LEVELS])
def test_level_of_each_format(line: str, level: Level | None) -> None:
    assert level_of(message_of(line)) == level


@pytest.mark.parametrize(
    ("wrapped", "message"),
    [
        ("F level=info msg=x", "level=info msg=x"),
        ("Body: Str(F Body: Str(F time=1 level=error msg=x))", "time=1 level=error msg=x))"),
        ("2026-11-24T05:24:30.123456789Z stdout F [ERROR] x", "[ERROR] x"),
        ("[pod/coderun-rex-t1-x7k2p/claude] 2026-11-24T05:24:30Z INFO: x", "INFO: x"),
        ("    indented", "indented"),
        ("Fatal error", "Fatal error"),
    ],
)
def test_wrappers_are_peeled(wrapped: str, message: str) -> None:
    assert message_of(wrapped) == message


NOISE_EXAMPLES = {
    "bare-level-marker": ["[2025-12-03T16:01:40.540Z] [ERROR] ", "[ERROR]"],
    "empty-error-collection": [
        '{"errors": [], "warnings": []}',
        "  errorMessages: []",
        "validation_errors: null",
    ],
    "zero-error-count": ["[ERROR] summary: 0 errors", "level=error msg=done failures=0", "no errors found"],
    "error-key-opens-object": ['    "known_errors": {'],
    "retry-chatter": [
        'level=error msg="error sending batch, will retry"',
        "[ERROR] upload failed, retrying in 5s",
        "ERROR connection refused, retrying",
    ],
    "command-registration": ["Register action command extension for command error"],
    "passing-test": [
        "test net::timeout_then_error ... ok",
        "\u2714 rejects unauthorized tokens",
        "[ERROR] tests/test_errors.py::test_error PASSED",
        "--- PASS: TestFatalError (0.00s)",
    ],
    "build-progress": [
        "   Compiling error-chain v0.12.4",
        "Downloading fatal-1.0.tar.gz",
        "added 120 packages in 3s",
    ],
    "argocd-unconfigured-trigger": ["[ERROR] trigger 'on-deployed' is not configured"],
    "kilo-link-not-found": [
        '{"component":"kilo","error":"failed to get interface: Link not found","level":"error"}'
    ],
}


def test_every_noise_rule_has_examples() -> None:
    assert set(NOISE_EXAMPLES) == {rule.name for rule in NOISE_RULES}
    assert all(rule.why for rule in NOISE_RULES)


@pytest.mark.parametrize(
    ("rule", "line"), [(rule, line) for rule, lines in NOISE_EXAMPLES.items() for line in lines]
)
def test_noise_rule_lets_its_lines_through(rule: str, line: str) -> None:
    found = noise_rule_for(message_of(line))
    assert found is not None and found.name == rule
    assert classify(line) is None


@pytest.mark.parametrize(
    "line",
    [
        'level=info msg="connection refused by upstream"',
        'level=debug msg="panicked at nothing"',
        "W1124 05:24:30.123456 1 x.go:1] permission denied on /var/run/secrets",
        '{"level":"warn","msg":"unauthorized request rejected"}',
        "[TRACE] timed out waiting, as expected",
    ],
)
def test_quiet_levels_are_noise_whatever_they_mention(line: str) -> None:
    assert classify(line) is None


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ('level=warn msg="tool inventory mismatch - declared tools: [a] - missing: [a]"', "A10"),
        ("[INFO] cto-config not found, cannot continue", "A11"),
        ('{"level":"debug","msg":"failed to connect to MCP server"}', "A12"),
        ("W1124 05:24:30.123456 1 x.go:1] tools-server unavailable", "A12"),
    ],
)
def test_preflight_signals_count_at_any_level(line: str, code: str) -> None:
    verdict = classify(line)
    assert verdict is not None and verdict.alert.code == code


def test_final_failure_after_retries_is_not_chatter() -> None:
    verdict = classify("[ERROR] upload failed: max retries exceeded, not retrying")
    assert verdict is not None and verdict.alert.code == "R3"
