"""The session API's limits (DESIGN §9): how long a text of a session start may be, how many agents, tools
and tasks it may hold, and how many sessions Healer keeps.

The lengths and counts are part of the request models (api/models.py), so they are in the OpenAPI
description and a request over one is a 422 whose message names the field and the limit. They sit far
above what the CTO platform sends (shared/reference/cto: a 28-character play id, four agents with at most
four tools each, one task). The session counts are settings, read from the environment:

- `HEALER_MAX_ACTIVE_SESSIONS` (100): a start beyond it is refused with 429 until a session ends;
- `HEALER_MAX_SESSIONS` (10,000): after a start, the sessions that ended longest ago are dropped beyond it.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLAY_ID_CHARACTERS = 128  # also what api/http.py's PLAY_ID pattern allows
NAME_CHARACTERS = 256  # repository, service, namespace, agent, GitHub App, CLI, model, tool, task id
TITLE_CHARACTERS = 1000  # a task's title
AGENTS = 100  # agents in a session's cto_config
LOCAL_SERVERS = 100  # local MCP servers of an agent
TOOLS = 1000  # tools in one list: an agent's remote tools, a local server's tools
TASKS = 1000  # tasks of a session
DEPENDENCIES = 1000  # dependencies of a task
PRIORITY = 2**31 - 1  # a task's priority, either sign: the range of a 32-bit integer

# A constrained `str` is also checked to be valid Unicode: a lone surrogate ("\ud800") is refused.
Name = Annotated[str, StringConstraints(max_length=NAME_CHARACTERS)]
Title = Annotated[str, StringConstraints(max_length=TITLE_CHARACTERS)]


class SessionLimits(BaseSettings):
    """How many sessions may be active at once, and how many are kept."""

    model_config = SettingsConfigDict(env_prefix="HEALER_", extra="ignore")

    max_active_sessions: int = Field(default=100, ge=1)
    max_sessions: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _room_for_the_active(self) -> Self:
        if self.max_sessions < self.max_active_sessions:
            raise ValueError("HEALER_MAX_SESSIONS must be at least HEALER_MAX_ACTIVE_SESSIONS")
        return self
