"""The scenarios of cassettes/: what each play logs, what its cluster and repository look like.

`tests/scenarios/record.py` turns each into a scenario folder by running Healer against the real local
Loki and LLM and against the GitHub, Kubernetes and Discord emulators built from reference responses.
Times are offsets in seconds from the scenario's start (the replay's virtual clock starts there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.scenarios import transcripts

START = "2026-11-24T06:00:00Z"
NAMESPACE = "cto"
REPOSITORY = "5dlabs/cto-parallel-test"


@dataclass
class Agent:
    key: str  # the session's name for it, e.g. "rex"
    app: str  # its GitHub App, the CodeRun's `github-app` label
    task_id: int
    remote: list[str]
    local: dict[str, list[str]] = field(default_factory=dict)
    running_from_s: int = -30
    ends_at_s: int = 60
    final_phase: str = "Succeeded"
    lines: list[tuple[float, str]] = field(default_factory=list)
    cli: str = "claude"
    model: str = "claude-sonnet-4"


@dataclass
class Definition:
    name: str
    description: str
    play_id: str
    agents: list[Agent]
    files: dict[str, str] = field(default_factory=dict)
    ci_script: list[list[str]] = field(default_factory=list)
    llm: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    max_passes: int = 12
    pod_output: str = ""  # for the scenario's README: what its pods print, when it is an agent CLI's events

    def session(self) -> dict[str, Any]:
        agents = {
            a.key: {
                "githubApp": a.app,
                "cli": a.cli,
                "model": a.model,
                "tools": {
                    "remote": a.remote,
                    "localServers": {
                        name: {"enabled": True, "tools": tools} for name, tools in a.local.items()
                    },
                },
            }
            for a in self.agents
        }
        tasks = [
            {"id": str(a.task_id), "title": f"task {a.task_id}", "agent_hint": a.key} for a in self.agents
        ]
        return {
            "play_id": self.play_id,
            "repository": REPOSITORY,
            "service": "cto-parallel-test",
            "namespace": NAMESPACE,
            "cto_config": {"agents": agents},
            "tasks": tasks,
        }


def _inventory(
    agent: str, declared: list[str], available: list[str], at: float = -19
) -> list[tuple[float, str]]:
    return [
        (at, f"INFO Tool inventory check - CTO config declares: [{', '.join(declared)}]"),
        (at + 0.5, f"INFO CLI has available: [{', '.join(available)}]"),
        (
            at + 1,
            f"INFO Agent '{agent}' tools configured: remote=[{', '.join(declared)}], local=[filesystem]",
        ),
    ]


def _work(agent: str, start: float) -> list[tuple[float, str]]:
    return [
        (start, f"INFO {agent}: cloning 5dlabs/cto-parallel-test"),
        (start + 2, f"INFO {agent}: reading task details"),
        (start + 5, f"INFO {agent}: running cargo test"),
        (start + 9, "INFO test result: ok. 42 passed; 0 failed; 0 ignored"),
        (start + 12, f"INFO {agent}: pushed branch feature/task and commented on the PR"),
    ]


FS = {"filesystem": ["read_file", "write_file"]}

PREFLIGHT_A10 = Definition(
    name="preflight-a10",
    description="Rex starts without brave_search, which its CTO config declares: an A10 issue names the tool",
    play_id="play-a10",
    agents=[
        Agent(
            "rex",
            "5DLabs-Rex",
            1,
            ["brave_search", "github_create_pull_request"],
            FS,
            lines=[
                (-20, "INFO Starting agent rex (claude, claude-sonnet-4) for task 1"),
                *_inventory(
                    "rex",
                    ["brave_search", "github_create_pull_request"],
                    ["github_create_pull_request", "read_file", "write_file"],
                ),
                (
                    -17,
                    "WARN ⚠️ tool inventory mismatch - declared tools: [brave_search, github_create_pull_request] - missing: [brave_search]",
                ),
                (-10, "ERROR tool not found: brave_search"),
                *_work("rex", 0),
            ],
        )
    ],
)

RUNTIME_PANIC = Definition(
    name="runtime-panic",
    description="Blaze's build panics: R1 is P0, so Discord is alerted, an issue filed and a human asked at once",
    play_id="play-panic",
    agents=[
        Agent(
            "blaze",
            "5DLabs-Blaze",
            2,
            ["github_create_pull_request"],
            FS,
            final_phase="Failed",
            lines=[
                (-20, "INFO Starting agent blaze (claude) for task 2"),
                *_inventory(
                    "blaze",
                    ["github_create_pull_request"],
                    ["github_create_pull_request", "read_file", "write_file"],
                ),
                (0, "INFO blaze: running cargo run --bin migrate"),
                (3, "thread 'main' panicked at src/db/migrate.rs:88:14:"),
                (3.001, "called `Option::unwrap()` on a `None` value"),
                (3.002, "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"),
            ],
        )
    ],
)

_BROKEN_CONFIG = """{
  "defaults": {
    "remediation": {"maxIterations": 3, "syncTimeoutSecs": 300}
  },
  "agents": {
    "cleo": {
      "githubApp": "5DLabs-Cleo",
      "tools": {"remote": ["github_get_pull_request", "github_create_review"],}
    }
  }
}
"""

REMEDIATION_SUCCESS = Definition(
    name="remediation-success",
    description="Cleo cannot parse cto-config.json (a trailing comma); Healer fixes it in a draft PR, CI goes green, the issue is resolved",
    play_id="play-fix",
    files={"cto-config.json": _BROKEN_CONFIG, "README.md": "# cto-parallel-test\n"},
    ci_script=[["pending", "success"]],
    agents=[
        Agent(
            "cleo",
            "5DLabs-Cleo",
            3,
            ["github_get_pull_request", "github_create_review"],
            lines=[
                (-20, "INFO Starting agent cleo (claude) for task 3"),
                *_inventory(
                    "cleo",
                    ["github_get_pull_request", "github_create_review"],
                    ["github_get_pull_request", "github_create_review"],
                ),
                (
                    -5,
                    "ERROR failed to load cto-config: parse error in cto-config.json at line 8 column 77: trailing comma",
                ),
                (-4, "INFO cleo: falling back to built-in defaults"),
            ],
        )
    ],
)

_TESS_CONFIG = """{
  "agent": "tess",
  "template": "agents/tess/review.hbs",
  "timeoutMinutes": 30
}
"""

REMEDIATION_EXHAUSTED = Definition(
    name="remediation-exhausted",
    description="Tess's prompt template is missing; each fix Healer proposes fails CI, so after maxIterations (2) it asks a human",
    play_id="play-loop",
    files={
        "agents/tess.json": _TESS_CONFIG,
        "agents/tess/review-template.hbs": "Review {{pr}} for {{task}}.\n",
    },
    ci_script=[["failure"], ["failure"]],
    settings={"max_iterations": 2},
    agents=[
        Agent(
            "tess",
            "5DLabs-Tess",
            4,
            ["github_create_review"],
            lines=[
                (-20, "INFO Starting agent tess (claude) for task 4"),
                *_inventory("tess", ["github_create_review"], ["github_create_review"]),
                (-6, "ERROR template not found: agents/tess/review.hbs (configured in agents/tess.json)"),
            ],
        )
    ],
    max_passes=16,
)

HEALTHY_PLAY = Definition(
    name="healthy-play",
    description="Rex and Cleo have every tool and do their work: no finding, no issue",
    play_id="play-ok",
    llm=False,
    agents=[
        Agent(
            "rex",
            "5DLabs-Rex",
            5,
            ["github_create_pull_request"],
            FS,
            lines=[
                (-20, "INFO Starting agent rex"),
                *_inventory(
                    "rex",
                    ["github_create_pull_request"],
                    ["github_create_pull_request", "read_file", "write_file"],
                ),
                *_work("rex", 0),
            ],
        ),
        Agent(
            "cleo",
            "5DLabs-Cleo",
            6,
            ["github_create_review"],
            lines=[
                (-20, "INFO Starting agent cleo"),
                *_inventory("cleo", ["github_create_review"], ["github_create_review"]),
                *_work("cleo", 2),
            ],
        ),
    ],
)

NOISY_BUT_FINE = Definition(
    name="noisy-but-fine",
    description="Lines that mention errors without being errors (info/debug levels, zero counts, retry chatter), then Atlas's Claude stream-json transcript whose command output holds a red CI run's panic, a merge CONFLICT and `error:` lines: no issue",
    play_id="play-noisy",
    pod_output="the noise lines above, after the CTO container scripts' MCP diagnostics (`🔧 MCP Tools Diagnostics:` …); then Atlas's `claude -p --output-format stream-json --verbose` events, one per line (system/init with `mcp__tools__github_merge_pull_request`, assistant text and tool_use, tool_results with `gh pr checks` showing a failed check, a red CI log with a panic and `##[error]`, a rebase `CONFLICT`, `Exit code 1`), ending `result/success`, `is_error:false` (tests/scenarios/transcripts.py)",
    llm=False,
    agents=[
        Agent(
            "atlas",
            "5DLabs-Atlas",
            7,
            ["github_merge_pull_request"],
            lines=[
                *transcripts.diagnostics(remote_tools=1),
                (-20, "INFO Starting agent atlas"),
                *_inventory("atlas", ["github_merge_pull_request"], ["github_merge_pull_request"]),
                (-10, 'level=info msg="retrying request after timeout" attempt=1 max=5'),
                (-9, '{"level":"debug","msg":"validation finished","errors":[]}'),
                (-8, "INFO build finished: 0 errors, 0 warnings"),
                (-7, "[INFO] checking error handling in src/handlers.rs"),
                (
                    -6,
                    "I1124 06:00:00.000000       1 reflector.go:255] Listing and watching *v1.Pod: connection refused is retried",
                ),
                (-5, "DEBUG fatal error count: 0"),
                (-4, 'level=warn msg="rate limited, backing off" retry_in=2s'),
                (
                    -3,
                    "INFO test result: ok. 12 passed; 0 failed; 0 ignored; test error_paths::handles_timeout ... ok",
                ),
                *transcripts.atlas_merge_run(["github_merge_pull_request"]),
            ],
        )
    ],
)

RESTART_MIDWAY = Definition(
    name="restart-midway",
    description="Healer is killed right after GitHub filed the issue, before its checkpoint; the resumed run finds the issue instead of filing it twice (no LLM configured: deterministic analysis only)",
    play_id="play-restart",
    llm=False,
    faults=[{"crash_after": "create_issue"}],
    agents=[
        Agent(
            "cipher",
            "5DLabs-Cipher",
            8,
            ["github_create_review"],
            lines=[
                (-20, "INFO Starting agent cipher"),
                *_inventory("cipher", ["github_create_review"], ["github_create_review"]),
                (
                    -8,
                    "ERROR cipher: security scan upload failed: max retries exceeded with url: /api/v2/scans (Caused by NewConnectionError)",
                ),
                *_work("cipher", 0),
            ],
        )
    ],
)

STREAM_REMOTE = [
    "firecrawl_scrape",
    "context7_get_library_docs",
    "github_create_pull_request",
    "github_get_file_contents",
]

STREAM_PREFLIGHT = Definition(
    name="stream-preflight",
    description="Rex's Claude init event (stream-json) lacks firecrawl_scrape, which its CTO config declares, and lists its `firecrawl` MCP server as failed; its call to the tool comes back `No such tool available`, the same fingerprint: one A10 issue names the tool and the failed server",
    play_id="play-stream",
    pod_output="the CTO container scripts' MCP diagnostics, then `claude -p --output-format stream-json --verbose` events, one per line: system/init (built-in tools and `mcp__tools__*` for three of the four declared remote tools; `mcp_servers`: tools connected, firecrawl failed), a tool_use of `mcp__tools__firecrawl_scrape` whose tool_result is `<tool_use_error>Error: No such tool available: mcp__tools__firecrawl_scrape</tool_use_error>`, the agent's fallback to WebFetch, a test run, a PR, `result/success` (tests/scenarios/transcripts.py)",
    agents=[
        Agent(
            "rex",
            "5DLabs-Rex",
            9,
            STREAM_REMOTE,
            model="claude-sonnet-4-5-20250929",
            lines=transcripts.rex_missing_firecrawl(STREAM_REMOTE, STREAM_REMOTE[1:]),
        )
    ],
)

CODEX_AUTH = Definition(
    name="codex-auth",
    description="Blaze runs Codex (`codex exec --json`) and the API refuses its key: five `Reconnecting... n/5` notices, then `error` and `turn.failed` with 401 Unauthorized: one R5 issue and its P0 alert",
    play_id="play-codex",
    pod_output="the CTO container scripts' MCP diagnostics (`└─ Remote tools: 2`), Codex's stderr `Reading prompt from stdin...`, then `codex exec --json` events as in ../shared/reference/agents/samples/codex__link-assistant_hive-mind__issue-715-401-reconnect.log: thread.started, turn.started, `error` `Reconnecting... 1/5` … `5/5`, `error` and `turn.failed` `exceeded retry limit, last status: 401 Unauthorized, request id: …`; the CodeRun is still Running when the recording ends",
    max_passes=6,
    agents=[
        Agent(
            "blaze",
            "5DLabs-Blaze",
            10,
            ["github_create_pull_request", "context7_get_library_docs"],
            cli="codex",
            model="gpt-5-codex",
            ends_at_s=600,  # its CodeRun is still Running when the recording ends (no A7)
            lines=transcripts.blaze_codex_unauthorized(),
        )
    ],
)

HEALTHY_REMOTE = ["github_create_pull_request", "github_get_file_contents", "context7_get_library_docs"]

HEALTHY_TRANSCRIPT = Definition(
    name="healthy-transcript",
    description="Rex's long Claude stream-json run (263 lines, 253 events) is full of compiler errors, test panics, FAILED, `Error: connection refused` and the agent talking about them, all of which it fixes, and ends `result/success`: no finding, no issue",
    play_id="play-transcript",
    pod_output="the CTO container scripts' MCP diagnostics, then 263 lines: Rex's `claude -p --output-format stream-json --verbose` events (system/init with every declared tool as `mcp__tools__*`; 251 assistant/user events: 36 Reads of source files, cargo build with error[E0308]/error[E0433], cargo test with `thread '…' panicked at`, `test result: FAILED`, clippy errors, integration tests failing with `Connection refused`, a server exiting `Error: connection refused`, the server's JSON `ERROR` log lines, the agent's text about each error and its fixes), ending `result/success`, `is_error:false` (tests/scenarios/transcripts.py)",
    llm=False,
    max_passes=14,
    agents=[
        Agent(
            "rex",
            "5DLabs-Rex",
            11,
            HEALTHY_REMOTE,
            model="claude-sonnet-4-5-20250929",
            ends_at_s=150,
            lines=transcripts.rex_long_healthy_run(HEALTHY_REMOTE),
        )
    ],
)


def _mcp_check_unreachable(at: float) -> list[tuple[float, str]]:
    """The CTO container's MCP diagnostics (templates/_shared/partials/mcp-check.sh.hbs, lines of
    ../shared/corpus/cto-platform-lines.json) when the tools server does not answer."""
    return [
        (at, "🔧 MCP Tools Diagnostics:"),
        (at + 0.1, "  ✅ tools binary found: /usr/local/bin/tools"),
        (at + 0.2, "  → Server URL: http://cto-tools.cto.svc.cluster.local:8080"),
        (at + 5.2, "  ❌ Server unreachable (connection failed/timeout)"),
    ]


_OUTAGE_REMOTE: list[str] = []  # nothing remote declared: the outage is the only failure

TOOLS_OUTAGE = Definition(
    name="tools-outage",
    description="The tools server is down: Rex's and Blaze's MCP checks both find it unreachable in the same pass, and Cleo's a pass later: one A12 issue names Rex and Blaze, and Cleo is a comment on it",
    play_id="play-outage",
    pod_output="each pod prints the CTO container's MCP diagnostics (`🔧 MCP Tools Diagnostics:`, `→ Server URL: http://cto-tools.cto.svc.cluster.local:8080`, `❌ Server unreachable (connection failed/timeout)`), then the agent works without the remote tools",
    max_passes=10,
    agents=[
        Agent(
            "rex",
            "5DLabs-Rex",
            21,
            _OUTAGE_REMOTE,
            FS,
            lines=[
                (-25, "INFO Starting agent rex (claude, claude-sonnet-4) for task 21"),
                *_mcp_check_unreachable(-24),
                *_inventory("rex", [], ["read_file", "write_file"], at=-23.5),
                *_work("rex", 0),
            ],
        ),
        Agent(
            "blaze",
            "5DLabs-Blaze",
            22,
            _OUTAGE_REMOTE,
            FS,
            lines=[
                (-23, "INFO Starting agent blaze (claude, claude-sonnet-4) for task 22"),
                *_mcp_check_unreachable(-22),
                *_inventory("blaze", [], ["read_file", "write_file"], at=-21.5),
                *_work("blaze", 2),
            ],
        ),
        Agent(
            "cleo",
            "5DLabs-Cleo",
            23,
            _OUTAGE_REMOTE,
            FS,
            running_from_s=10,
            lines=[
                (14, "INFO Starting agent cleo (claude, claude-sonnet-4) for task 23"),
                *_mcp_check_unreachable(15),
                *_inventory("cleo", [], ["read_file", "write_file"], at=15.5),
                *_work("cleo", 25),
            ],
        ),
    ],
)

ALL = [
    PREFLIGHT_A10,
    RUNTIME_PANIC,
    REMEDIATION_SUCCESS,
    REMEDIATION_EXHAUSTED,
    HEALTHY_PLAY,
    NOISY_BUT_FINE,
    RESTART_MIDWAY,
    STREAM_PREFLIGHT,
    CODEX_AUTH,
    HEALTHY_TRANSCRIPT,
    TOOLS_OUTAGE,
]
BY_NAME = {definition.name: definition for definition in ALL}
