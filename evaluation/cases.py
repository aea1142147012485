"""An evaluation case: a play's logs (one file per pod), its session and Kubernetes facts, the statements a
correct analysis contains and the conclusions it must not draw. Folder `evals/<name>/case.yaml`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

STRICT = ConfigDict(extra="forbid")


class CaseError(Exception):
    """A case folder is missing or malformed."""


class Statement(BaseModel):
    model_config = STRICT

    statement: str
    patterns: list[str] = Field(min_length=1)  # every one must match (any case)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            re.compile(pattern)
        return patterns

    def present_in(self, text: str) -> bool:
        return all(re.search(pattern, text, re.IGNORECASE) for pattern in self.patterns)


class PodLog(BaseModel):
    model_config = STRICT

    path: str  # relative to the case folder
    pod: str
    agent: str | None = None


class Case(BaseModel):
    model_config = STRICT

    name: str
    description: str
    source: str  # where it came from and how it became a case
    tags: list[str] = Field(default_factory=list)
    logs: list[PodLog] = Field(min_length=1)
    session: str | None = None  # a session start payload, relative to the case folder
    k8s: str | None = None  # Kubernetes facts (text)
    question: str | None = None  # asked when triage finds nothing (as an agent asks Healer)
    healthy: bool = False  # nothing may be filed
    expected: list[Statement] = Field(default_factory=list)
    forbidden: list[Statement] = Field(default_factory=list)

    folder: Path = Field(default=Path("."), exclude=True)


def load_case(folder: Path) -> Case:
    path = folder / "case.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
        case = Case.model_validate(raw)
    except OSError as error:
        raise CaseError(f"cannot read {path}: {error.strerror or error}") from None
    except (yaml.YAMLError, ValidationError, re.error) as error:
        raise CaseError(f"{path} is not a valid case: {str(error).splitlines()[0]}") from None
    if not case.healthy and not case.expected:
        raise CaseError(f"{path}: a case that is not healthy needs expected statements")
    case.folder = folder
    return case


def load_suite(suite: Path, only: list[str] | None = None) -> list[Case]:
    if not suite.is_dir():
        raise CaseError(f"no suite at {suite}")
    if (suite / "case.yaml").is_file():  # one case folder, e.g. what `healer watch --record` wrote
        folders = [suite]
    else:
        folders = sorted(p for p in suite.iterdir() if (p / "case.yaml").is_file())
    cases = [load_case(folder) for folder in folders]
    if only:
        unknown = set(only) - {case.name for case in cases}
        if unknown:
            raise CaseError(f"no such case in {suite}: {', '.join(sorted(unknown))}")
        cases = [case for case in cases if case.name in only]
    return cases
