"""Records the scenario folders of cassettes/ (see cassettes/README.md).

For each scenario: its session and scenario files are written; its logs are pushed into the live local
Loki (`LOKI_URL`, qryn from ../shared/services); the GitHub, Kubernetes and Discord emulators (built from
the reference responses in ../shared/reference) are started on the scenario's virtual clock; then Healer's
real graphs run through `runtime.replay.replay(record=True)` against all of them and the local LLM
(`OPENAI_BASE_URL`, Qwen2.5-Coder-1.5B on llama-cpp-python), and every request is kept under `http/`.

    SAMPLES_DAYS=3650 LABELS_DAYS=3650 FRESH=1 bash ../shared/services/start_loki.sh .cache/loki
    LOKI_URL=http://127.0.0.1:3100 OPENAI_BASE_URL=http://127.0.0.1:18080/v1 \\
        .venv/bin/python -m tests.scenarios.record [scenario ...]

(qryn keeps 7 days of samples by default and drops older ones silently; the scenarios start on
2026-11-24, so give it a longer retention: the recorder stops if Loki does not hold what was pushed.)

Before recording, check what the triage makes of a definition's lines, offline: `--lines DIR [scenario ...]`
writes each scenario's `session.json` and one `<agent>.log` per agent (its lines, in order) under
`DIR/<scenario>/`, for `healer scan --session DIR/<scenario>/session.json --agent <agent> DIR/<scenario>/<agent>.log`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from runtime.replay import STABLE_ADDRESSES, clock_of, replay
from runtime.replay import Scenario as ScenarioFile
from tests.emulators.discord import DiscordEmulator
from tests.emulators.github import GitHubEmulator
from tests.emulators.kubernetes import EmulatedRun, KubernetesEmulator
from tests.scenarios.definitions import ALL, BY_NAME, NAMESPACE, REPOSITORY, START, Definition

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
STABLE = STABLE_ADDRESSES
SECOND = 1_000_000_000


def scenario_file(definition: Definition) -> ScenarioFile:
    services = {name: url for name, url in STABLE.items() if definition.llm or name != "llm"}
    return ScenarioFile.model_validate(
        {
            "name": definition.name,
            "description": definition.description,
            "clock": {"start": START, "step_s": 15, "max_passes": definition.max_passes},
            "services": services,
            # the local model on two cores may take minutes for a call; a timeout would record no analysis
            "settings": ({"llm_timeout_s": 900} if definition.llm else {}) | definition.settings,
            "faults": definition.faults,
        }
    )


def runs_of(definition: Definition, start_ns: int) -> list[EmulatedRun]:
    return [
        EmulatedRun(
            name=f"{definition.play_id}-{agent.key}-t{agent.task_id}",
            agent=agent.app,
            task_id=agent.task_id,
            phases=[
                (start_ns + agent.running_from_s * SECOND, "Running"),
                (start_ns + agent.ends_at_s * SECOND, agent.final_phase),
            ],
            exit_code=101 if agent.final_phase == "Failed" else None,
        )
        for agent in definition.agents
    ]


def push_logs(loki_url: str, definition: Definition, kube: KubernetesEmulator, start_ns: int) -> None:
    streams = []
    for agent, run in zip(definition.agents, kube.runs, strict=True):
        labels = {
            "namespace": NAMESPACE,
            "pod": kube.pod_name(run),
            "container": "agent",
            "job": "cto/agents",
        }
        # whole microseconds: qryn keeps timestamps as float64 (../shared/services/README.md)
        values = [[str(start_ns + round(offset * 1_000_000) * 1000), text] for offset, text in agent.lines]
        streams.append({"stream": labels, "values": values})
    already = _stored(loki_url, streams, start_ns)
    if already == sum(len(stream["values"]) for stream in streams):
        return  # recorded before: pushing again would double every line (qryn keeps duplicates)
    if already:
        raise SystemExit(f"Loki holds {already} other lines of {definition.play_id}: restart it with FRESH=1")
    response = httpx.post(f"{loki_url}/loki/api/v1/push", json={"streams": streams}, timeout=30)
    response.raise_for_status()


def check_stored(loki_url: str, definition: Definition, kube: KubernetesEmulator, start_ns: int) -> None:
    """qryn answers 204 to a push and then drops samples older than its retention (`SAMPLES_DAYS`, 7 days by
    default): a scenario's fixed start goes out of it a week after it is written, and nothing would be read."""
    pods = [{"stream": {"pod": kube.pod_name(run)}} for run in kube.runs]
    expected = sum(len(agent.lines) for agent in definition.agents)
    if (stored := _stored(loki_url, pods, start_ns)) != expected:
        raise SystemExit(
            f"Loki holds {stored} of the {expected} lines of {definition.play_id} after the push: if the "
            f"scenario starts more than 7 days ago ({START}), start qryn with a longer retention: "
            "SAMPLES_DAYS=3650 LABELS_DAYS=3650 FRESH=1 bash ../shared/services/start_loki.sh .cache/loki"
        )


def _stored(loki_url: str, streams: list[dict], start_ns: int) -> int:
    pods = "|".join(stream["stream"]["pod"] for stream in streams)
    query = f'{{namespace="{NAMESPACE}", pod=~"{pods}"}}'
    params = {
        "query": query,
        "start": start_ns - 3600 * SECOND,
        "end": start_ns + 3600 * SECOND,
        "limit": 5000,
    }
    response = httpx.get(f"{loki_url}/loki/api/v1/query_range", params=params, timeout=30)
    response.raise_for_status()
    return sum(len(stream["values"]) for stream in response.json()["data"]["result"])


async def record(definition: Definition, loki_url: str, llm_url: str | None) -> None:
    folder = CASSETTES / definition.name
    shutil.rmtree(folder / "http", ignore_errors=True)  # vcrpy's record mode would keep the old traffic
    folder.mkdir(parents=True, exist_ok=True)
    scenario = scenario_file(definition)
    (folder / "scenario.json").write_text(scenario.model_dump_json(indent=2, exclude_defaults=False) + "\n")
    (folder / "session.json").write_text(json.dumps(definition.session(), indent=2) + "\n")
    (folder / "README.md").write_text(readme(definition))
    clock = clock_of(scenario)
    start_ns = clock.now_ns
    kube = KubernetesEmulator(NAMESPACE, definition.play_id, runs_of(definition, start_ns), clock=clock)
    github = GitHubEmulator(
        REPOSITORY,
        definition.files,
        ci_script=definition.ci_script,
        clock=lambda: datetime.fromtimestamp(clock.now_ns / SECOND, tz=UTC),
    )
    with kube, github, DiscordEmulator(clock=clock) as discord:
        push_logs(loki_url, definition, kube, start_ns)
        time.sleep(2)  # qryn batches its inserts
        check_stored(loki_url, definition, kube, start_ns)
        live = {"loki": loki_url, "kubernetes": kube.url, "github": github.url, "discord": discord.url}
        if definition.llm and llm_url:
            live["llm"] = llm_url
        rewrites = {url: STABLE[name] for name, url in live.items()}
        began = time.monotonic()
        result = await replay(folder, record=True, live=live, rewrites=rewrites, clock=clock)
        print(
            f"{definition.name}: {len(result.incidents)} incidents, {len(github.writes())} GitHub writes, "
            f"{len(discord.messages)} Discord messages, {result.crashes} crashes, {time.monotonic() - began:.0f} s"
        )


def readme(definition: Definition) -> str:
    agents = ", ".join(f"{a.key} ({a.app}, task {a.task_id})" for a in definition.agents)
    llm = (
        "the local LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M on llama-cpp-python 0.3.36, "
        "`../shared/services/start_llm.sh`), for both the evaluation and the remediation model"
        if definition.llm
        else "no LLM: this scenario runs without one (the deterministic analysis only)"
    )
    files = ", ".join(f"`{path}`" for path in definition.files) or "none"
    output = f"\n- what the pods print: {definition.pod_output}" if definition.pod_output else ""
    faults = "; ".join(
        f"the run is killed right after `{f['crash_after']}` returns" for f in definition.faults
    )
    return f"""# {definition.name}

{definition.description}.

- play `{definition.play_id}`, agents: {agents}
- repository files (GitHub emulator): {files}
- CI on the pull requests, per attempt: {definition.ci_script or "none opened"}
- settings: {definition.settings or "defaults"}{f"; fault: {faults}" if faults else ""}{output}

## How it was made

`tests/scenarios/record.py` (definition: `tests/scenarios/definitions.py`). The play's log lines were pushed
into the local Loki API server (qryn on ClickHouse, `../shared/services/start_loki.sh`) and Healer's real
graphs ran on a virtual clock from {START}, 15 s a pass, against:

- Loki: that live server, recorded in `http/loki.yaml`;
- the LLM: {llm}{", recorded in `http/llm.yaml`" if definition.llm else ""};
- Kubernetes, GitHub and Discord: the emulators of `tests/emulators/` (no such servers install here), whose
  answers are built from the real responses in `../shared/reference/` (GitHub's are checked against its
  OpenAPI description by `tests/test_github_emulator.py`), recorded in `http/kubernetes.yaml`,
  `http/github.yaml` and `http/discord.yaml`.

Addresses are rewritten to stable ones (`scenario.json`, `services`) and secrets filtered before writing.
Re-record with the services running (Loki started with `SAMPLES_DAYS=3650 LABELS_DAYS=3650 FRESH=1`: qryn
silently drops samples older than 7 days, and this play starts on {START[:10]}):

    LOKI_URL=http://127.0.0.1:3100 OPENAI_BASE_URL=http://127.0.0.1:18080/v1 \\
        .venv/bin/python -m tests.scenarios.record {definition.name}

Replay: `.venv/bin/healer replay cassettes/{definition.name}`; asserted by `tests/test_scenarios.py`.
"""


def write_lines(folder: Path, definition: Definition) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "session.json").write_text(json.dumps(definition.session(), indent=2) + "\n")
    for agent in definition.agents:
        (folder / f"{agent.key}.log").write_text("".join(f"{text}\n" for _, text in agent.lines))


def main(names: list[str]) -> int:
    if names[:1] == ["--lines"]:
        if len(names) < 2:
            print("usage: record --lines DIR [scenario ...]", file=sys.stderr)
            return 2
        for definition in [BY_NAME[name] for name in names[2:]] or ALL:
            write_lines(Path(names[1]) / definition.name, definition)
        return 0
    if names[:1] == ["--readme-only"]:
        for definition in [BY_NAME[name] for name in names[1:]] or ALL:
            (CASSETTES / definition.name / "README.md").write_text(readme(definition))
        return 0
    loki_url = os.environ.get("LOKI_URL")
    if not loki_url:
        print("LOKI_URL must point at the local Loki (../shared/services/start_loki.sh)", file=sys.stderr)
        return 2
    llm_url = os.environ.get("OPENAI_BASE_URL")
    chosen = [BY_NAME[name] for name in names] if names else ALL
    if any(d.llm for d in chosen) and not llm_url:
        print(
            "OPENAI_BASE_URL must point at the local LLM (../shared/services/start_llm.sh)", file=sys.stderr
        )
        return 2
    for definition in chosen:
        asyncio.run(record(definition, loki_url, llm_url))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
