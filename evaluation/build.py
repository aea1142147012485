"""Writes the default suite `evals/` from its two sources; run again after either changes:
`.venv/bin/python -m evaluation.build` (from the repository root, `../shared` beside it).

- `../shared/corpus/holmesgpt-logs/<case>/`: HolmesGPT's log-based cases. The log and Kubernetes facts are
  referenced where they are (one is 100,000 lines), the question kept, HolmesGPT's expected statements
  turned into patterns (`evaluation/holmesgpt.py`), the tags kept and `holmesgpt` added; the three negative
  controls are healthy cases. The log is one pod's.
- `tests/scenarios/definitions.py`: the project's agent-platform scenarios (tag `platform`). Each agent's
  lines become `logs/<agent>.log` and the session its `session.json` (what `tests.scenarios.record --lines`
  writes); the statements are what the scenario's description says the issue must name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from evaluation import holmesgpt
from tests.scenarios import definitions
from tests.scenarios.record import write_lines

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "evals"
HOLMES = ROOT.parent / "shared" / "corpus" / "holmesgpt-logs"

PLATFORM: dict[str, dict[str, object]] = {
    "preflight-a10": {
        "expected": [
            ("rex lacks brave_search", [r"brave_search", r"missing|not available|unavailable|not found"])
        ]
    },
    "runtime-panic": {"expected": [("blaze's migration panicked unwrapping a None", [r"panic|unwrap|None"])]},
    "remediation-success": {
        "expected": [
            ("cleo cannot parse cto-config.json", [r"cto-config|config", r"pars|invalid|trailing comma|json"])
        ]
    },
    "remediation-exhausted": {
        "expected": [("tess's prompt template is missing", [r"template", r"missing|not found"])]
    },
    "restart-midway": {
        "expected": [("the finding the scenario files, named", [r"tool|template|config|brave|missing"])]
    },
    "stream-preflight": {
        "expected": [("rex lacks firecrawl_scrape; its firecrawl MCP server failed", [r"firecrawl"])]
    },
    "codex-auth": {
        "expected": [
            (
                "blaze's API key was refused (401 Unauthorized)",
                [r"401|unauthori[sz]ed|authenticat|api key|credential"],
            )
        ],
        "forbidden": [
            (
                "blames the network or a retry limit alone",
                [r"^(?!.*(?:401|unauthori|auth|key|credential)).*retry limit"],
            )
        ],
    },
    "tools-outage": {
        "expected": [
            (
                "the tools server (cto-tools:8080) is unreachable",
                [r"tools|mcp", r"unreachable|down|not respond|connection|timeout"],
            )
        ]
    },
    "healthy-play": {"healthy": True},
    "noisy-but-fine": {"healthy": True},
    "healthy-transcript": {"healthy": True},
}


def _statements(items: object) -> list[dict[str, object]]:
    return [{"statement": text, "patterns": patterns} for text, patterns in items or []]  # type: ignore[union-attr]


def holmes_cases() -> None:
    for source in sorted(p for p in HOLMES.iterdir() if (p / "expected.json").is_file()):
        expected = json.loads((source / "expected.json").read_text())
        folder = SUITE / source.name
        folder.mkdir(parents=True, exist_ok=True)
        relative = Path("..", "..", "..", "shared", "corpus", "holmesgpt-logs", source.name)
        healthy = bool(expected.get("negative_control"))
        facts = (source / "k8s.txt").read_text() if (source / "k8s.txt").is_file() else ""
        case = {
            "name": source.name,
            "description": expected["question"],
            "source": f"{expected.get('source_repo', 'robusta-dev/holmesgpt')} {expected['source']}; "
            f"rebuilt as ../shared/corpus/holmesgpt-logs/{source.name}: {expected.get('reconstruction', '')}",
            "tags": sorted({*expected.get("tags", []), "holmesgpt"} | ({"healthy"} if healthy else set())),
            "logs": [{"path": str(relative / "logs.txt"), "pod": holmesgpt.pod_of(source.name, facts)}],
            "k8s": str(relative / "k8s.txt") if (source / "k8s.txt").is_file() else None,
            "question": expected["question"],
            "healthy": healthy,
            "expected": [] if healthy else holmesgpt.statements(source.name),
            "forbidden": holmesgpt.forbidden(source.name),
        }
        (folder / "case.yaml").write_text(
            yaml.safe_dump(case, sort_keys=False, allow_unicode=True, width=110)
        )


def platform_cases() -> None:
    for definition in definitions.ALL:
        rubric = PLATFORM[definition.name]
        folder = SUITE / f"platform-{definition.name}"
        if folder.exists():
            shutil.rmtree(folder)
        write_lines(folder / "logs", definition)
        (folder / "logs" / "session.json").rename(folder / "session.json")
        healthy = bool(rubric.get("healthy"))
        case = {
            "name": f"platform-{definition.name}",
            "description": definition.description,
            "source": f"tests/scenarios/definitions.py {definition.name} (cassettes/{definition.name}/): each "
            "agent's lines and the session start, as `tests.scenarios.record --lines` writes them",
            "tags": ["platform", "healthy" if healthy else "failure"],
            "logs": [
                {
                    "path": f"logs/{agent.key}.log",
                    "pod": f"{definition.play_id}-{agent.key}-t{agent.task_id}",
                    "agent": agent.key,
                }
                for agent in definition.agents
            ],
            "session": "session.json",
            "healthy": healthy,
            "expected": _statements(rubric.get("expected")),
            "forbidden": _statements(rubric.get("forbidden")),
        }
        (folder / "case.yaml").write_text(
            yaml.safe_dump(case, sort_keys=False, allow_unicode=True, width=110)
        )


def main() -> None:
    SUITE.mkdir(exist_ok=True)
    holmes_cases()
    platform_cases()
    print(f"{len(list(SUITE.glob('*/case.yaml')))} cases in {SUITE}")


if __name__ == "__main__":
    main()
