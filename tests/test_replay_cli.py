"""`healer replay`: the timeline, the JSON summary, and clear errors for a missing or broken scenario."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from healer_cli import main

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
SCENARIOS = sorted(path.parent.name for path in CASSETTES.glob("*/scenario.json"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_replays_offline(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(CASSETTES / name), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"] == name
    assert f"| `{name}/` |" in (CASSETTES / "README.md").read_text()  # it says what the folder shows
    assert (CASSETTES / name / "README.md").read_text().startswith(f"# {name}\n")  # and how it was made


def test_json_summary_has_what_an_operator_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(CASSETTES / "restart-midway"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenario"] == "restart-midway"
    assert {"code", "severity", "fingerprint"} <= report["findings"][0].keys()
    assert {"number", "title", "labels"} <= report["issues"][0].keys()
    assert report["pull_requests"] == []
    assert report["notifications"] == 1
    assert report["status"] == "open"


def test_the_timeline_reads_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(CASSETTES / "restart-midway")]) == 0
    out = capsys.readouterr().out
    assert out.index("finding") < out.index("issue found") < out.index("notified")
    assert out.rstrip().endswith("status: open; 1 findings, 1 issues, 0 pull requests, 1 notifications")


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope")]) == 2
    assert "no such scenario folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / "scenario.json").write_text("{"), "scenario.json"),
        (lambda folder: (folder / "session.json").unlink(), "cannot read session.json"),
        (lambda folder: shutil.rmtree(folder / "http"), "no recorded traffic"),
        (lambda folder: (folder / "scenario.json").write_text('{"name": "x"}'), "description"),
    ],
)
def test_a_broken_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, message
) -> None:
    folder = tmp_path / "scenario"
    shutil.copytree(CASSETTES / "restart-midway", folder)
    damage(folder)
    assert main(["replay", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("healer replay: error:") and message in err


def test_a_run_the_recording_does_not_cover_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scenario"
    shutil.copytree(CASSETTES / "restart-midway", folder)
    (folder / "http" / "github.yaml").write_text("interactions: []\nversion: 1\n")
    assert main(["replay", str(folder)]) == 1
    assert "does not cover this run" in capsys.readouterr().err
