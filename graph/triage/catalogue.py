"""The detection catalogue (DESIGN §4.1–4.3): every alert code as data, in one place.

Each code lists *failure phrasings*: regular expressions matched case-insensitively against one log line.
The phrasings of DESIGN are the floor; the rest are how Rust, Go, Python, Node, git, kubelet/klog, MCP clients
and the cto controller say the same thing in real logs.

Patterns are written in the subset of regex syntax that Python `re`, RE2 and Hyperscan all accept (no
look-around, no back-references), because the same strings feed every matcher backend (`matcher.py`).
All of them are ASCII and are matched with ASCII semantics for `\\b`, `\\w`, `\\s`.

The order of `CATALOGUE` is the order of specificity: when several codes match one line, the first wins
(a pre-flight code beats a runtime one; a named runtime failure beats the generic `ERR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


PRIORITY_OF_SEVERITY: dict[Severity, Priority] = {
    Severity.CRITICAL: Priority.P0,
    Severity.HIGH: Priority.P1,
    Severity.MEDIUM: Priority.P2,
    Severity.LOW: Priority.P3,
}


class Action(StrEnum):
    """What the incident graph does with a finding of this code once its issue is filed."""

    ESCALATE = "escalate"  # page a human at once; no automated fix is attempted first
    REMEDIATE = "remediate"  # a configuration/template fix a PR can make
    INVESTIGATE = (
        "investigate"  # evaluate the root cause; remediate only if the analysis says it is automatable
    )


class Phase(StrEnum):
    PREFLIGHT = "preflight"  # counts at any log level (DESIGN §4.5)
    RUNTIME = "runtime"
    LIFECYCLE = "lifecycle"


@dataclass(frozen=True, slots=True)
class AlertCode:
    code: str
    name: str
    phase: Phase
    severity: Severity
    action: Action
    patterns: tuple[str, ...]
    # The platform's own verdicts, which it logs at INFO or WARN (`Implementation agent completed but DID NOT
    # create PR`, `Retry limit reached for CodeRun … Marking as failed`): they count at any level and are
    # never noise, like the pre-flight codes.
    decisive: tuple[str, ...] = ()
    # Words too common to be a failure on their own ("timeout" in a flag, a test name, a commit message):
    # they name the code of a line that is already an error by its level or shape, and nothing else.
    keywords: tuple[str, ...] = ()

    @property
    def priority(self) -> Priority:
        return PRIORITY_OF_SEVERITY[self.severity]

    @property
    def counts_at_any_level(self) -> bool:
        return self.phase is Phase.PREFLIGHT


_MCP = r"\bmcp\b"
# A gap between two words of one phrasing: short and within the line. An unbounded `.*` spans whole JSON
# payloads (`"role":"user"` … 170 KB later … `undefined`) and costs time in proportion to pattern × length.
GAP = ".{0,80}"

A10 = AlertCode(
    code="A10",
    name="Tool inventory mismatch",
    phase=Phase.PREFLIGHT,
    severity=Severity.CRITICAL,
    action=Action.REMEDIATE,
    patterns=(
        r"tool inventory mismatch",
        r"declared tools?\s*:.{0,300}missing",
        r"missing from (?:the )?cli",
        r"\btools? (?:not found|not available|unavailable)",
        r"\btool [`'\"]?[\w.:/-]+[`'\"]? (?:not found|is not available|is unavailable|not registered)",
        r"unresolved tools?\s*:",
        r"missing (?:declared |required |mcp )?tools?\s*:",
        r"\bunknown tool\s*:",
        r"\bno such tool\b",
        # the cto controller's tool inventory check (crates/controller/src/tasks/tool_inventory.rs), at WARN
        r"some declared tools could not be resolved",
        r"\bunresolved_tools\s*=\s*\[\s*\"",
        r"\bmissing_tools\s*=\s*\[\s*\"",
        r"tool declared but not found in catalog",
        r"expected tools not found in actual tools list",
    ),
)

A11 = AlertCode(
    code="A11",
    name="CTO config not loaded",
    phase=Phase.PREFLIGHT,
    severity=Severity.CRITICAL,
    action=Action.REMEDIATE,
    patterns=(
        r"cto[-_ ]?config" + GAP + r"(?:missing|invalid|not found|parse error|failed to parse|no such file)",
        r"failed to (?:load|read|parse) cto[-_ ]?config",
        r"invalid cto[-_ ]?config",
        r"config missing\s*:\s*cto",
        r"please configure [\w.]+ in cto[-_ ]?config",  # the PM server's intake check
        r"client-config\.json not found",  # the container's tools-config step: the tools client has no config
        r"invalid healer endpoint",  # the MCP server cannot read cto-config's defaults.play.healerEndpoint
    ),
)

A12 = AlertCode(
    code="A12",
    name="MCP server init failure",
    phase=Phase.PREFLIGHT,
    severity=Severity.CRITICAL,
    action=Action.REMEDIATE,
    patterns=(
        _MCP + GAP + r"(?:failed to initiali[sz]e|initiali[sz]ation failed|unreachable|connection failed"
        r"|connection refused|connection closed|failed to start|handshake failed|timed out after)",
        r"failed to (?:connect to|start|initiali[sz]e|spawn) (?:the )?(?:\w+ )?mcp",
        _MCP + r" server" + GAP + r"(?:not responding|crashed|exited with|disconnected|connection will fail)",
        r"tools-server" + GAP + r"(?:unreachable|connection refused|unavailable|econnrefused|not responding"
        r"|timed out)",
        r"mcp startup incomplete",
        # the MCP diagnostics every CodeRun pod prints before its agent starts (templates/_shared/partials)
        r"tools(?:/tools-client)? binary not found",
        r"not found: \S*/bin/(?:cto-)?tools\b",
        r"server unreachable \(",
        r"health returned http (?:000|[45]\d\d)",
        r"mcp endpoint: http (?:000|[45]\d\d)",
        r"mcp config parsing will fail",
        r"no mcp config found",
        r"mcp list failed",
        r"(?:cto-tools cli|mcp\.ts) not found",
    ),
)

L1 = AlertCode(
    code="L1",
    name="Prompt template missing",
    phase=Phase.LIFECYCLE,
    severity=Severity.HIGH,
    action=Action.REMEDIATE,
    patterns=(
        r"template not found",
        r"failed to (?:load|read|render|find)" + GAP + r"template",
        r"template [`'\"]?[\w./-]+[`'\"]? (?:not found|does not exist|is missing)",
        r"(?:no such|missing|unknown) template\b",
    ),
)

L2 = AlertCode(
    code="L2",
    name="Agent instructions not loaded",
    phase=Phase.LIFECYCLE,
    severity=Severity.HIGH,
    action=Action.REMEDIATE,
    patterns=(
        r"prompt" + GAP + r"missing",
        r"instructions (?:not loaded|missing|not found|are empty)",
        r"no prompt content available",  # the container script, when the task has no prompt
        r"failed to load (?:agent |system )?(?:instructions|prompt)",
        r"(?:claude|agents)\.md (?:not found|missing)",
    ),
)

L3 = AlertCode(
    code="L3",
    name="Agent role not set",
    phase=Phase.LIFECYCLE,
    severity=Severity.HIGH,
    action=Action.REMEDIATE,
    patterns=(
        r"\brole" + GAP + r"undefined",
        r"agent role (?:not set|missing|unset|is empty)",
        r"no (?:agent )?role (?:set|defined|assigned)",
    ),
)

L4 = AlertCode(
    code="L4",
    name="Task details not injected",
    phase=Phase.LIFECYCLE,
    severity=Severity.HIGH,
    action=Action.REMEDIATE,
    patterns=(
        r"task context" + GAP + r"empty",
        r"task (?:details|context|description) (?:not injected|missing|not found|not provided)",
        r"(?:empty|missing) task (?:context|details)\b",
    ),
)

R1 = AlertCode(
    code="R1",
    name="Panic or fatal error",
    phase=Phase.RUNTIME,
    severity=Severity.CRITICAL,
    action=Action.ESCALATE,
    patterns=(
        r"panicked at",
        r"\bfatal error\b",
        r"^(?:\S+\s+){0,3}panic:\s",
        r"has overflowed its stack",
        r"\bsegmentation fault\b",
        r"\bsig(?:segv|abrt|bus)\b",
        r"core dumped",
        r"fatal python error",
    ),
)

R3 = AlertCode(
    code="R3",
    name="Retries exhausted",
    phase=Phase.RUNTIME,
    severity=Severity.HIGH,
    action=Action.INVESTIGATE,
    patterns=(
        r"max(?:imum)?\s+retries\s+(?:exceeded|reached|exhausted)",
        r"retries (?:exhausted|exceeded)",
        r"retry limit (?:reached|exceeded)",
        r"gave up after \d+ (?:attempts|retries|tries)",
        r"exhausted (?:all )?(?:\d+ )?(?:retries|retry attempts|attempts)",
        r"too many retries",
        r"backofflimitexceeded",
        r"exceeded retry limit",  # Codex: `exceeded retry limit, last status: 429 Too Many Requests`
    ),
    decisive=(r"retry limit reached for (?:failed )?coderun",),
)

R8 = AlertCode(
    code="R8",
    name="Agent run failed",
    phase=Phase.RUNTIME,
    severity=Severity.HIGH,
    action=Action.INVESTIGATE,
    patterns=(
        r"cli execution failed",  # the container's retry loop: the agent CLI exited non-zero
        r"reached maximum number of turns",
        r"no conversation found with session id",
    ),
    decisive=(
        r"completed but did not create (?:a )?pr\b",
        r"requested manual intervention",
        r"\bmarking (?:coderun )?as failed",
        r"completed play session" + GAP + r"success=false",
        r"\bai returned (?:invalid content|a summary or explanation instead of)",
    ),
)

R6 = AlertCode(
    code="R6",
    name="Usage or credit limit reached",
    phase=Phase.RUNTIME,
    severity=Severity.HIGH,
    action=Action.ESCALATE,
    patterns=(
        r"usage limit reached",
        r"you've hit your (?:usage )?limit",
        r"credit balance (?:is )?too low",
        r"exceeded your current quota",
        r"resource has been exhausted",
        r"\binsufficient_quota\b",
        r"token budget exhausted",
    ),
)

R7 = AlertCode(
    code="R7",
    name="Context window exceeded",
    phase=Phase.RUNTIME,
    severity=Severity.HIGH,
    action=Action.INVESTIGATE,
    patterns=(
        r"prompt is too long",
        r"\bcontext_length_exceeded\b",
        r"exceeds the context window",
        r"conversation too long",
    ),
    decisive=(r"ran out of room in the model's context window",),  # it ends "… before retrying"
)

R5 = AlertCode(
    code="R5",
    name="Authentication failure",
    phase=Phase.RUNTIME,
    severity=Severity.CRITICAL,
    action=Action.INVESTIGATE,
    patterns=(
        r"\bunauthori[sz]ed\b",
        r"\binvalid (?:api |access |auth |bearer |oauth |github |refresh )?(?:token|api key|credentials)\b",
        r"\bbad credentials\b",
        r"\bauthentication (?:failed|required|error)\b",
        r"\b(?:token|credentials?) (?:has |have )?expired\b",
        r"\bexpired (?:token|credentials)\b",
        r"\bincorrect api key\b",
        r"permission denied \(publickey",
        r"could not read username",
        r"\b403 forbidden\b",
        r"resource not accessible by integration",
        r"requires authentication",
        r"\binvalid_grant\b",
        r"\bcredentials? (?:file )?(?:missing|not found)\b",
        r"\bauthentication_error\b",
    ),
    keywords=(r"\b401\b", r"\bforbidden\b", r"\bauth(?:entication|orization)?\b"),
)

R4 = AlertCode(
    code="R4",
    name="Filesystem permission failure",
    phase=Phase.RUNTIME,
    severity=Severity.CRITICAL,
    action=Action.INVESTIGATE,
    patterns=(
        r"permission denied" + GAP + r"filesystem",
        r"/\S*['\"]?:?\s*permission denied",
        r"permission denied" + GAP + r"\s['\"]?(?:\.{0,2}/|~/)\S",
        r"permission denied \(os error 13\)",
        r"\beacces\b",
        r"\beperm\b",
        r"read-only file system",
        r"no space left on device",
        r"\benospc\b",
        r"disk quota exceeded",
    ),
    keywords=(r"permission denied",),
)

R2 = AlertCode(
    code="R2",
    name="Infrastructure failure",
    phase=Phase.RUNTIME,
    severity=Severity.HIGH,
    action=Action.INVESTIGATE,
    patterns=(
        r"\btimed out\b",
        r"\btime-?out (?:error|exceeded|expired|reached|after|waiting|while|occurred|of \d|on \w|when)",
        r"\b(?:request|connection|connect|read|write|operation|socket|i/o|gateway|handshake|idle|lock|query"
        r"|network|http|rpc|upstream|server|client|proxy|dial|deadline) time-?out\b",
        r":\s*time-?out\b",
        r"connection refused",
        r"\beconnrefused\b",
        r"context deadline exceeded",
        r"\betimedout\b",
        r"connection reset by peer",
        r"\beconnreset\b",
        r"no route to host",
        r"could not resolve host",
        r"temporary failure in name resolution",
        r"\benotfound\b",
        r"name or service not known",
        r"\b(?:502 bad gateway|503 service unavailable|504 gateway time-?out)\b",
        r"\boomkilled\b",
        r"out of memory",
        r"\b(?:crashloopbackoff|imagepullbackoff|errimagepull)\b",
        r"\bcould not connect to healer\b",  # the MCP server's session start
        r"\bgot (?:an )?unexpected response\b",
    ),
    keywords=(
        r"\btime[ -]?outs?\b",
        r"\btime-?out(?:error|exception)\b",
        r"\brefused\b",
        r"\bunreachable\b",
        r"\bunavailable\b",
    ),
)

# Generic error: a line at error level (found by `levels.py`), or one of these shapes that is an error
# whatever the level markers say (compiler errors, tracebacks, exception headers).
ERR = AlertCode(
    code="ERR",
    name="Error",
    phase=Phase.RUNTIME,
    severity=Severity.MEDIUM,
    action=Action.INVESTIGATE,
    patterns=(
        r"^\s*(?:error|fatal)(?:\[\w+\])?:",
        r"^\s*traceback \(most recent call last\)",
        r"^\s*(?:uncaught |unhandled )?(?:[a-z_$][\w$]*\.)*[\w$]*(?:exception|error)\s*:",
        r"\bexception in thread\b",
        r"\bunhandled(?: promise)? rejection\b",
        r"\buncaught exception\b",
    ),
)

CATALOGUE: tuple[AlertCode, ...] = (A10, A11, A12, L1, L2, L3, L4, R1, R3, R8, R6, R7, R5, R4, R2, ERR)
CODES: dict[str, AlertCode] = {code.code: code for code in CATALOGUE}

# An `ERR` seen this many times (same fingerprint) is "repeated" and raised from medium to high.
ERR_REPEAT_THRESHOLD = 2

# Where `levels.py` can find an error or fatal level marker. The matcher uses these to pick candidate lines,
# so they must cover every way `level_of` can answer ERROR or FATAL (tests/test_engine.py checks it on a
# generated log); `levels.py` then decides. `(?-i:…)` marks what only counts in capitals: a bare word such
# as "error" in prose is not a level.
_ERROR_WORDS = "error|err|eror|severe|fatal|ftl|critical|crit|panic|emerg|emergency|alert"
ERROR_LEVEL_TRIGGERS: tuple[str, ...] = (
    r"(?-i:[EF]\d{4} \d\d:\d\d:\d\d)",  # klog
    rf"(?:level|lvl|severity)=[\"']?(?:{_ERROR_WORDS})\b",  # logfmt
    rf"\"(?:level|severity|lvl|levelname|log\.level|@l)\"\s*:\s*(?:\"(?:{_ERROR_WORDS})\"|[5-9]\d|\d{{3}})",  # JSON
    rf"\[\s*(?:{_ERROR_WORDS})\s*\]",  # [ERROR], [err]
    rf"(?-i:\b(?:{_ERROR_WORDS.upper()})\b)",  # ERROR as a word: [WORKER … ERROR …], `ERROR: …`, ` ERROR `
    rf"\b(?:{_ERROR_WORDS}):",  # `error: could not compile`, `Fatal: …`
)

# Lines the pre-flight check reads to learn which tools an agent really has (DESIGN §4.1).
INVENTORY_TRIGGERS: tuple[str, ...] = (
    r"tool inventory",
    r"cli has available\s*:",
    r"tools configured\s*:",
    r"mcp tools initiali[sz]ed",
    r"mcp server (?:ready|started|initiali[sz]ed)",
    r"tools? (?:available|loaded)\s*:",
    # the container scripts' MCP diagnostics: the pre-flight checklist reads them (graph/triage/checklist.py)
    r"tools binary found",
    r"binary not found",
    r"health check:",
    r"health returned http",
    r"server unreachable",
    r"mcp endpoint: http",
    r"config found:",
    r"no mcp config found",
    r"mcp config parsing",
    r"client-config\.json",
    r"(?:remote|available) tools:\s*\d",
    r"local servers:\s*\d",
    r"no prompt content",
)
