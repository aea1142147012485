"""Every alert code: the phrasings of DESIGN §4 and the real-world ones, and what must not match."""

from __future__ import annotations

import re

import hyperscan
import pytest

from graph.triage.catalogue import CATALOGUE, CODES, PRIORITY_OF_SEVERITY, Action, Phase, Severity
from graph.triage.classify import classify
from graph.triage.guarded import required_literals
from graph.triage.matcher import tagged_patterns

DETECTS: dict[str, list[str]] = {
    "A10": [
        "ERROR: Tool inventory MISMATCH - missing from CLI: [brave_search]",
        "declared tools: [brave_search, memory] - missing: [memory]",
        'level=error msg="Tool not found: brave_web_search"',
        "[ERROR] Unresolved tools: [github_issues]",
        "Error: MCP error -32602: Tool brave_web_search not found",
        "Error: No such tool available: mcp__tools__brave_search",
        "\u26a0\ufe0f tool inventory mismatch - declared tools: [a, b] - missing: [b]",
        "missing required tools: github_create_pull_request",
    ],
    "A11": [
        "ERROR: cto-config missing - cannot start agent",
        "Failed to load cto-config: file not found",
        "[FATAL] Invalid CTO config structure",
        "level=fatal Config missing: cto-config.json",
        "Error: failed to parse cto_config.json: expected value at line 1 column 1",
    ],
    "A12": [
        "ERROR: MCP failed to initialize - tools-server unreachable",
        "[ERR] MCP connection failed: timeout",
        "[ERROR] Failed to connect to MCP server",
        "level=error MCP server not responding after 30s",
        'MCP server "filesystem" exited with code 1',
        "ERROR: tools-server unreachable: ECONNREFUSED",
        "Error: failed to start the filesystem MCP server",
    ],
    "L1": [
        "Error: template not found: implementation/claude.md.hbs",
        "failed to load prompt template coding.hbs",
        "error: template 'review.md' does not exist",
    ],
    "L2": [
        "ERROR system prompt is missing",
        "agent instructions not loaded: CLAUDE.md not found",
        "Failed to load agent instructions from /workspace/AGENTS.md",
    ],
    "L3": [
        "ERROR: agent role is undefined",
        "[ERROR] agent role not set for rex",
        "no role assigned to agent",
    ],
    "L4": ["ERROR: task context is empty", "task details not injected into prompt", "missing task context"],
    "R1": [
        "thread 'main' panicked at src/main.rs:12:5:",
        "thread 'tokio-runtime-worker' panicked at 'called `Option::unwrap()` on a `None` value'",
        "fatal error: all goroutines are asleep - deadlock!",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        "Segmentation fault (core dumped)",
        "Fatal Python error: Segmentation fault",
        "thread 'main' has overflowed its stack",
    ],
    "R2": [
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "dial tcp 10.0.0.5:443: connect: connection refused",
        "[ERROR] request timeout after 30s",
        'Get "https://api.github.com": context deadline exceeded',
        "error: RPC failed; curl 28 Operation timed out after 300000 milliseconds",
        "curl: (6) Could not resolve host: github.com",
        "read tcp 10.0.0.1:4431->10.0.0.2:443: read: connection reset by peer",
        "Last State: Terminated  Reason: OOMKilled",
        "HTTP/1.1 503 Service Unavailable",
    ],
    "R3": [
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443): Max retries exceeded",
        "Error: retries exhausted after 5 attempts",
        "gave up after 10 attempts",
        "Job has reached the specified backoff limit: BackoffLimitExceeded",
    ],
    "R4": [
        "open /workspace/.git/config: permission denied",
        "Error: EACCES: permission denied, mkdir '/home/node/.npm'",
        "PermissionError: [Errno 13] Permission denied: '/workspace/out.txt'",
        "error: could not lock config file /workspace/.git/config: Permission denied",
        "Error: Permission denied (os error 13)",
        "mkdir: cannot create directory '/data': Read-only file system",
        "write /tmp/build: no space left on device",
        "permission denied writing to filesystem",
    ],
    "R5": [
        "HTTP 401 Unauthorized",
        "remote: Invalid username or password.\nfatal: Authentication failed for 'https://github.com/a/b.git/'",
        '{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}',
        "Error: invalid token",
        "git@github.com: Permission denied (publickey).",
        "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
        "openai.AuthenticationError: Error code: 401 - Incorrect API key provided",
        "Resource not accessible by integration",
        "error: token has expired",
    ],
    "ERR": [
        "error[E0382]: borrow of moved value: `config`",
        "Traceback (most recent call last):",
        "ValueError: invalid literal for int() with base 10: 'abc'",
        'Exception in thread "main" java.lang.IllegalStateException: boom',
        "Unhandled promise rejection: TypeError: x is not a function",
        "E1124 05:24:30.123456       1 controller.go:99] reconcile failed",
        '{"level":"error","msg":"write failed"}',
        '{"level":50,"time":1795497600000,"msg":"write failed"}',
        "2026-11-24T05:24:30.123Z ERROR agent::runner: step failed",
        "2026-11-24 05:24:30,123 - healer - ERROR - step failed",
        "2026-11-24 05:24:30.123 | ERROR    | app.main:run:12 - step failed",
        "05:24:30.123 [main] ERROR c.e.Service - step failed",
        "fatal: not a git repository (or any of the parent directories): .git",
        "[12:00:00 ERR] step failed",
    ],
    "R6": [
        "You've hit your usage limit. To get more access now, send a request to your admin or try again at 12:16 PM.",
        "Credit balance too low \u00b7 Add funds: https://console.anthropic.com/settings/billing",
        "Claude AI usage limit reached|1750708800",
        "[API Error: Resource has been exhausted (e.g. check quota).]",
    ],
    "R7": [
        'Error: 400 {"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}',
        "Codex ran out of room in the model's context window. Start a new thread or clear earlier history before retrying.",
    ],
    "R8": [
        "\u274c CLI execution failed with exit code: 1",
        "Reached maximum number of turns (40)",
        "2026-01-14T10:02:11.482913Z  WARN controller::tasks::code::controller: Implementation agent completed but DID NOT create PR - failing CodeRun play-coderun-t3-rex-factory-c086f62a-v1",
        "2026-01-14T10:02:11.482913Z  INFO healer::play::session: Completed Play session play_id=p success=false issues=1",
    ],
}

NOT_FINDINGS = [
    "test client::tests::timeout_is_retried ... ok",
    "test auth::tests::rejects unauthorized requests ... ok",
    "\u2713 handles connection refused (12 ms)",
    "tests/test_retry.py::test_timeout PASSED",
    "--- PASS: TestConnectionRefused (0.01s)",
    "   Compiling timeout v0.3.1",
    "    Finished `test` profile [unoptimized + debuginfo] target(s) in 12.3s",
    "2026-11-24T05:24:30.123Z  INFO agent::runner: retry policy: timeout=30s",
    "I1124 05:24:30.123456       1 controller.go:99] Error budget healthy",
    '{"level":30,"msg":"registered error handler"}',
    'level=debug msg="unauthorized requests are rejected with 401"',
    "Successfully installed requests-2.32.3 urllib3-2.2.1",
    "Processed 120 files, 0 errors",
    "no errors found",
    "Tool inventory check - CTO config declares: [brave_search, read_file]",
    "MCP tools initialized: 15 remote tools available",
    "git commit -m 'handle the timeout case'",
    "Working on task: add a retry when the connection is refused",
]


@pytest.mark.parametrize(("code", "line"), [(c, line) for c, lines in DETECTS.items() for line in lines])
def test_line_raises_its_most_specific_code(code: str, line: str) -> None:
    verdict = classify(line)
    assert verdict is not None, line
    assert verdict.alert.code == code


@pytest.mark.parametrize("line", NOT_FINDINGS)
def test_benign_line_is_not_a_finding(line: str) -> None:
    assert classify(line) is None


def test_every_code_of_the_design_is_in_the_catalogue_with_examples() -> None:
    expected = {"A10", "A11", "A12", "R1", "R2", "R3", "R4", "R5", "L1", "L2", "L3", "L4", "ERR"}
    expected |= {
        "R6",
        "R7",
        "R8",
    }  # the agents' own failures: usage limits, context window, a run that failed
    assert set(CODES) == expected
    assert set(DETECTS) == expected


def test_design_floor_patterns_are_present() -> None:
    floor = {
        "A10": ["tool inventory mismatch", r"declared tools?\s*:.{0,300}missing", "missing from (?:the )?cli",
                r"unresolved tools?\s*:"],
        "A11": [r"invalid cto[-_ ]?config", r"config missing\s*:\s*cto"],
        "R1": ["panicked at", r"\bfatal error\b"],
        "R2": ["connection refused"],
        "R3": [r"max(?:imum)?\s+retries\s+(?:exceeded|reached|exhausted)"],
        "R4": ["permission denied.{0,80}filesystem"],
        "R5": [r"\bunauthori[sz]ed\b"],
        "L1": ["template not found"],
        "L2": ["prompt.{0,80}missing"],
        "L3": [r"\brole.{0,80}undefined"],
        "L4": ["task context.{0,80}empty"],
    }  # fmt: skip
    for code, patterns in floor.items():
        for pattern in patterns:
            assert pattern in CODES[code].patterns, (code, pattern)
    # bare words of the floor count on lines that are errors; alone they are too common (see DESIGN §4)
    assert r"\btime[ -]?outs?\b" in CODES["R2"].keywords
    assert classify('level=error msg="timeout"').alert.code == "R2"
    assert classify("[ERROR] Forbidden").alert.code == "R5"
    assert classify("Retry with timeout 30s") is None


def test_codes_carry_severity_priority_and_action() -> None:
    for alert in CATALOGUE:
        assert alert.priority is PRIORITY_OF_SEVERITY[alert.severity]
        assert alert.name and alert.patterns
    assert {a.code for a in CATALOGUE if a.phase is Phase.PREFLIGHT} == {"A10", "A11", "A12"}
    assert CODES["R1"].action is Action.ESCALATE and CODES["R1"].severity is Severity.CRITICAL
    assert CODES["ERR"].severity is Severity.MEDIUM


def test_preflight_codes_come_first_so_they_win() -> None:
    order = [a.code for a in CATALOGUE]
    assert order[:3] == ["A10", "A11", "A12"] and order[-1] == "ERR"
    # a pre-flight signal beats the runtime code its words also match
    assert classify("[ERROR] MCP initialization failed: connection refused").alert.code == "A12"


def test_every_pattern_compiles_in_each_engine_and_needs_a_literal() -> None:
    for _tag, pattern in tagged_patterns():
        re.compile(pattern, re.IGNORECASE | re.ASCII)
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=[pattern.encode()], flags=[hyperscan.HS_FLAG_CASELESS])
        assert "(?=" not in pattern and "(?<" not in pattern, "look-around is not portable to hyperscan"
    catalogue_patterns = [p for alert in CATALOGUE for p in alert.patterns + alert.decisive]
    assert all(required_literals(p) for p in catalogue_patterns)


def test_no_pattern_spans_unrelated_text() -> None:
    """Gaps are bounded (`.{0,80}`): `.*` would join `"role":"user"` to an `undefined` 170 KB later."""
    for _tag, pattern in tagged_patterns():
        assert ".*" not in pattern and ".+" not in pattern, pattern
    long_json = '{"type":"user","message":{"role":"user","content":"' + "x" * 5000 + ' undefined"}}'
    assert classify("[ERROR] " + long_json).alert.code == "ERR"  # an error line, but no role is undefined
    assert classify('[ERROR] "role":"user" is undefined').alert.code == "L3"
