"""The session a play starts with (DESIGN §2): which agents run and which tools each must have.

Unknown fields are ignored; both the camelCase and the snake_case spellings of `githubApp` and
`localServers` are accepted (the original silently dropped the snake_case forms), and written back in the
original's camelCase (`model_dump(by_alias=True)`). Inside an agent, `null` for its `tools`, their `remote`
and `localServers`, or a local server's `tools` means none (the MCP server sends `"localServers": null` for
an agent the platform's cto-config gives no local servers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

_LENIENT = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


def _null_means(empty: Callable[[], Any], shape: Any) -> BeforeValidator:
    """`null` read as `empty()`; the JSON schema says `shape` or null."""
    return BeforeValidator(
        lambda value: empty() if value is None else value, json_schema_input_type=shape | None
    )


class LocalServer(BaseModel):
    model_config = _LENIENT

    enabled: bool = False
    tools: Annotated[list[str], _null_means(list, list[str])] = Field(default_factory=list)


class AgentTools(BaseModel):
    model_config = _LENIENT

    remote: Annotated[list[str], _null_means(list, list[str])] = Field(default_factory=list)
    local_servers: Annotated[dict[str, LocalServer], _null_means(dict, dict[str, LocalServer])] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("localServers", "local_servers"),
        serialization_alias="localServers",
    )

    def enabled_local_servers(self) -> dict[str, LocalServer]:
        return {name: server for name, server in self.local_servers.items() if server.enabled}


class AgentConfig(BaseModel):
    model_config = _LENIENT

    github_app: str | None = Field(
        default=None,
        validation_alias=AliasChoices("githubApp", "github_app"),
        serialization_alias="githubApp",
    )
    cli: str | None = None
    model: str | None = None
    tools: Annotated[AgentTools, _null_means(dict, AgentTools)] = Field(default_factory=AgentTools)


class CtoConfig(BaseModel):
    model_config = _LENIENT

    agents: dict[str, AgentConfig] = Field(default_factory=dict)

    def agent_aliases(self) -> dict[str, str]:
        """Every name a log source may use for an agent (its key, its GitHub App), to its key."""
        aliases: dict[str, str] = {}
        for name, agent in self.agents.items():
            aliases[name.lower()] = name.lower()
            if agent.github_app:
                app = agent.github_app.lower()
                aliases[app] = name.lower()
                aliases[app.removeprefix("5dlabs-")] = name.lower()
        return aliases


class Task(BaseModel):
    model_config = _LENIENT

    id: str
    title: str = ""
    agent_hint: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    priority: int = 0


class SessionStart(BaseModel):
    """The body of `POST /api/v1/session/start`, and what `healer scan --session FILE` reads."""

    model_config = _LENIENT

    play_id: str
    repository: str | None = None
    service: str | None = None
    namespace: str | None = None
    cto_config: CtoConfig = Field(default_factory=CtoConfig)
    tasks: list[Task] = Field(default_factory=list)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> SessionStart:
        return cls.model_validate_json(data)
