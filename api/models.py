"""The session API's shapes (DESIGN §2), byte-compatible with the original Healer's five endpoints."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from api import limits
from api.issue_types import ISSUE_TYPES, IssueType, issue_type_of
from api.limits import Name, Title
from graph.session import AgentConfig, AgentTools, CtoConfig, LocalServer, SessionStart, Task, _null_means
from tools.timestamps import parse_rfc3339_ns

SessionStatus = Literal["active", "completed", "failed", "cancelled"]
SERVICE = "healer-play-api"
DEFAULT_NAMESPACE = "cto"  # the original's `default_namespace()`
# The original's `PlaySession`, field for field, in its order: what `GET /api/v1/session/{id}` answers.
PUBLIC_FIELDS = (
    "play_id",
    "repository",
    "service",
    "cto_config",
    "tasks",
    "namespace",
    "started_at",
    "last_updated",
    "issues",
    "status",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000


def rfc3339(moment: datetime | int | None = None) -> str:
    """A time as the original wrote its times (chrono's serde form of `DateTime<Utc>`): UTC, `Z`, and the
    fraction of a second in 0, 3, 6 or 9 digits, the fewest that keep it whole. `moment` is a datetime or
    nanoseconds since the epoch; none is now, to the nanosecond."""
    if moment is None:
        nanos = time.time_ns()
    elif isinstance(moment, datetime):
        nanos = (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
    else:
        nanos = moment
    seconds, fraction = divmod(nanos, _NS_PER_S)
    whole = (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(timespec="seconds")
    if fraction == 0:
        return f"{whole}Z"
    if fraction % 1_000_000 == 0:
        return f"{whole}.{fraction // 1_000_000:03d}Z"
    if fraction % 1000 == 0:
        return f"{whole}.{fraction // 1000:06d}Z"
    return f"{whole}.{fraction:09d}Z"


def _as_rfc3339(value: Any) -> Any:
    """An RFC 3339 text in the original's form (a text that is not one is left as it is)."""
    if isinstance(value, str) and (nanos := parse_rfc3339_ns(value)) is not None:
        return rfc3339(nanos)
    return value


class Detection(BaseModel):
    """One finding as the session API reports it: the original's `SessionIssue`, field for field and in
    its order, and then Healer's own code. `issue_type` follows from `code` (api/issue_types.py)."""

    detected_at: str
    issue_type: IssueType
    severity: str
    description: str
    agent: str | None = None
    task_id: str | None = None
    remediation_spawned: bool = False
    github_issue: str | None = None
    code: str | None = None  # Healer's code (A10, R1, …); None only for a detection given without one

    @model_validator(mode="before")
    @classmethod
    def _type_from_code(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        code, kind = data.get("code"), data.get("issue_type")
        if code is None and isinstance(kind, str) and kind not in ISSUE_TYPES:
            code = kind  # stored before `code` existed: `issue_type` held Healer's code
        if isinstance(code, str):
            return data | {"code": code, "issue_type": issue_type_of(code)}
        return data

    @field_validator("detected_at", mode="before")
    @classmethod
    def _detected_at(cls, value: Any) -> Any:
        return _as_rfc3339(value)


class Session(SessionStart):
    """The start payload plus what Healer keeps about the session."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    namespace: str = DEFAULT_NAMESPACE  # the original's default; the namespace the session is watched in
    started_at: str
    last_updated: str
    issues: list[Detection] = Field(default_factory=list)
    status: SessionStatus = "active"
    ended_reason: str | None = None
    last_line_at: str | None = None  # RFC 3339: when the newest log line of the play was seen
    pull_requests: list[str] = Field(default_factory=list)  # draft PRs Healer opened, for the pages
    # outside systems failing now, "<system>: <what>" (runtime/engine.py); not in the original's answers
    degraded: list[str] = Field(default_factory=list)

    @field_validator("namespace", mode="before")
    @classmethod
    def _namespace(cls, value: Any) -> Any:
        return DEFAULT_NAMESPACE if value is None or value == "" else value

    @field_validator("started_at", "last_updated", "last_line_at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        return _as_rfc3339(value)

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
        """The session as the original API showed it, in its field order and its spelling (`githubApp`,
        `localServers`); what Healer keeps besides stays out."""
        body = self.model_dump(mode="json", by_alias=True, include=set(PUBLIC_FIELDS))
        return {name: body[name] for name in PUBLIC_FIELDS}


# --- the session start as the API accepts it: graph/session.py's models, bounded (api/limits.py) --------

ToolNames = Annotated[list[Name], Field(max_length=limits.TOOLS)]


class BoundedLocalServer(LocalServer):
    tools: Annotated[ToolNames, _null_means(list, ToolNames)] = Field(default_factory=list)


LocalServers = Annotated[dict[Name, BoundedLocalServer], Field(max_length=limits.LOCAL_SERVERS)]


class BoundedAgentTools(AgentTools):
    remote: Annotated[ToolNames, _null_means(list, ToolNames)] = Field(default_factory=list)
    local_servers: Annotated[LocalServers, _null_means(dict, LocalServers)] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("localServers", "local_servers"),
        serialization_alias="localServers",
    )


class BoundedAgentConfig(AgentConfig):
    github_app: Name | None = Field(
        default=None,
        validation_alias=AliasChoices("githubApp", "github_app"),
        serialization_alias="githubApp",
    )
    cli: Name | None = None
    model: Name | None = None
    tools: Annotated[BoundedAgentTools, _null_means(dict, BoundedAgentTools)] = Field(
        default_factory=BoundedAgentTools
    )


class BoundedCtoConfig(CtoConfig):
    agents: Annotated[dict[Name, BoundedAgentConfig], Field(max_length=limits.AGENTS)] = Field(
        default_factory=dict
    )


class BoundedTask(Task):
    id: Name
    title: Title = ""
    agent_hint: Name | None = None
    dependencies: Annotated[list[Name], Field(max_length=limits.DEPENDENCIES)] = Field(default_factory=list)
    priority: int = Field(default=0, ge=-limits.PRIORITY, le=limits.PRIORITY)


class BoundedSessionStart(SessionStart):
    """The body of `POST /api/v1/session/start`: `SessionStart` with every text, list and map bounded."""

    play_id: str = Field(max_length=limits.PLAY_ID_CHARACTERS)  # its characters: api/http.py
    repository: Name | None = None
    service: Name | None = None
    namespace: Name | None = None
    cto_config: BoundedCtoConfig = Field(default_factory=BoundedCtoConfig)
    tasks: Annotated[list[BoundedTask], Field(max_length=limits.TASKS)] = Field(default_factory=list)
