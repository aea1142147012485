"""The seven scenarios of cassettes/: what each play logs, what its cluster and repository look like.

`tests/scenarios/record.py` turns each into a scenario folder by running Healer against the real local
Loki and LLM and against the GitHub, Kubernetes and Discord emulators built from reference responses.
Times are offsets in seconds from the scenario's start (the replay's virtual clock starts there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def session(self) -> dict[str, Any]:
        agents = {
            a.key: {
                "githubApp": a.app,
                "cli": "claude",
                "model": "claude-sonnet-4",
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
    description="Lines that mention errors without being errors (info/debug levels, zero counts, retry chatter): no issue",
    play_id="play-noisy",
    llm=False,
    agents=[
        Agent(
            "atlas",
            "5DLabs-Atlas",
            7,
            ["github_merge_pull_request"],
            lines=[
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
                *_work("atlas", 0),
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

ALL = [
    PREFLIGHT_A10,
    RUNTIME_PANIC,
    REMEDIATION_SUCCESS,
    REMEDIATION_EXHAUSTED,
    HEALTHY_PLAY,
    NOISY_BUT_FINE,
    RESTART_MIDWAY,
]
BY_NAME = {definition.name: definition for definition in ALL}
