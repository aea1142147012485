"""The session API's shapes (DESIGN §2), byte-compatible with the original Healer's five endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graph.session import SessionStart

SessionStatus = Literal["active", "completed", "failed", "cancelled"]
SERVICE = "healer-play-api"


def rfc3339(moment: datetime | None = None) -> str:
    """UTC, seconds with microseconds, `Z`: how the original wrote its times."""
    return (
        (moment or datetime.now(UTC))
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


class Detection(BaseModel):
    """One finding as the session API reports it (the original's `issues` entries)."""

    detected_at: str
    issue_type: str
    severity: str
    description: str
    agent: str | None = None
    task_id: str | None = None
    remediation_spawned: bool = False
    github_issue: str | None = None


class Session(SessionStart):
    """The start payload plus what Healer keeps about the session."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    started_at: str
    last_updated: str
    status: SessionStatus = "active"
    issues: list[Detection] = Field(default_factory=list)
    ended_reason: str | None = None
    last_line_at: str | None = None
    pull_requests: list[str] = Field(
        default_factory=list
    )  # draft PRs Healer opened, for the pages  # RFC 3339: when the newest log line of the play was seen

    def summary(self) -> dict[str, Any]:
        return {
            "play_id": self.play_id,
            "repository": self.repository,
            "status": self.status,
            "task_count": len(self.tasks),
            "issue_count": len(self.issues),
            "started_at": self.started_at,
        }

    def public(self) -> dict[str, Any]:
        """The session as the original API showed it: what Healer keeps besides stays out."""
        return self.model_dump(
            mode="json", by_alias=False, exclude={"ended_reason", "last_line_at", "pull_requests"}
        )
