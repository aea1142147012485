"""What triage takes in (log lines) and gives out (findings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

from graph.triage.catalogue import Action, Phase, Priority, Severity

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line as a log source delivered it. Kept light: a scan may hold millions of them."""

    text: str
    timestamp_ns: int | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)


def timestamp_of(timestamp_ns: int | None) -> datetime | None:
    if timestamp_ns is None:
        return None
    return datetime.fromtimestamp(timestamp_ns / 1e9, tz=UTC)


class Finding(BaseModel):
    """A failure seen in a play's logs, ready to be filed. Every text it carries is redacted."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    phase: Phase
    severity: Severity
    priority: Priority
    action: Action
    line_no: int | None = Field(description="1-based line of the input; None for session-level findings")
    timestamp: datetime | None = None
    agent: str | None = None
    pod: str | None = None
    container: str | None = None
    level: str | None = Field(default=None, description="the level the line was logged at, if it shows one")
    text: str = Field(description="the log line (redacted, shortened to a bounded length)")
    matched: str = Field(description="the part of the line that decided the code (redacted)")
    fingerprint: str
    missing_tools: tuple[str, ...] = ()
    detail: str | None = Field(default=None, description="what a pre-flight check concluded, in words")
    event: str | None = Field(
        default=None, description="the agent record it came from: `claude result`, `codex turn.failed`, …"
    )
    reason: str | None = Field(
        default=None,
        description="for an agent record: what kind of failure (`authentication`, `max-turns`, …)",
    )
