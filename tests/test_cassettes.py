"""Every recorded cassette is free of credentials and says how it was made."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml

from tests.conftest import REPO
from tests.http_harness import CASSETTES, Reply, ScriptedServer
from tools.recording import SECRET_HEADERS, recorder
from tools.redact import find_secrets

EVAL_RECORDINGS = REPO / "evals" / "recordings"  # the model answers `healer eval` replays
# The shapes the repository's own pre-stop check looks for, plus what the redactor knows.
CREDENTIAL = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
)


def test_cassettes_exist() -> None:
    assert list(CASSETTES.rglob("*.yaml"))


def test_no_cassette_holds_a_credential() -> None:
    for path in [*CASSETTES.rglob("*.yaml"), *EVAL_RECORDINGS.rglob("*.yaml")]:
        text = path.read_text()
        assert not CREDENTIAL.search(text), path
        assert find_secrets(text) == [], (path, find_secrets(text)[:3])
        for line in text.splitlines():
            if line.strip().lower().startswith(("- bearer", "- token ", "- basic ")):
                raise AssertionError(f"{path}: unfiltered credential header")
        for item in (yaml.safe_load(text) or {}).get("interactions", []):
            for name, values in item["request"]["headers"].items():
                if name.lower() in SECRET_HEADERS:
                    assert values == ["[REDACTED]"], (path, name)


def test_every_cassette_folder_says_how_it_was_made() -> None:
    readme = (CASSETTES / "README.md").read_text()
    for folder in {path.parent for path in CASSETTES.rglob("*.yaml")}:
        if folder.name == "http" and (folder.parent / "scenario.json").exists():  # a scenario: its own README
            scenario = folder.parent
            assert "how it was made" in (scenario / "README.md").read_text().lower(), scenario
            assert f"`{scenario.name}/`" in readme, scenario
        else:
            assert f"`{folder.relative_to(CASSETTES)}/`" in readme, folder


def test_a_recorded_address_loses_its_token_and_signature_but_keeps_the_rest(tmp_path: Path) -> None:
    """GitHub's job-log address is signed (`urlSignature`): a cassette must not keep a working link."""
    with (
        ScriptedServer([Reply(200, "log")]) as server,
        recorder(record=True).use_cassette(str(tmp_path / "log.yaml")),
    ):
        httpx.get(f"{server.url}/jobs/19/signedlogcontent?urlSignature=s1gn3d&access_token=t0k3n&page=2")
    kept = (tmp_path / "log.yaml").read_text()
    assert "s1gn3d" not in kept and "t0k3n" not in kept and "page=2" in kept
