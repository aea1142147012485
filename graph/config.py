"""Healer's settings (DESIGN §8): one typed place, read from the environment and `cto-config.json`.

Environment variables keep the names DESIGN §8 gives them (`LOKI_URL`, `GITHUB_TOKEN`, `OPENAI_BASE_URL`,
`HEALER_EVALUATION_MODEL`, …); the remediation bounds come from `cto-config.json`
(`defaults.remediation.maxIterations`, `defaults.remediation.syncTimeoutSecs`) when `HEALER_CTO_CONFIG` names
one, and the environment overrides them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///.healer/healer.db"


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class RemediationDefaults(BaseModel):
    """`defaults.remediation` of cto-config.json. The skill writes just the two keys: that must load."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    max_iterations: int = Field(default=3, ge=1, le=20, alias="maxIterations")
    sync_timeout_secs: int = Field(default=300, ge=10, le=24 * 3600, alias="syncTimeoutSecs")


class ConfigFileError(ValueError):
    pass


def remediation_defaults(path: Path) -> RemediationDefaults:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigFileError(f"cannot read {path}: {error}") from None
    block = ((document.get("defaults") or {}).get("remediation") or {}) if isinstance(document, dict) else {}
    try:
        return RemediationDefaults.model_validate(block)
    except ValidationError as error:
        raise ConfigFileError(f"{path}: defaults.remediation: {error}") from None


class HealerSettings(BaseSettings):
    # an empty variable (`GITHUB_TOKEN=`) is one not set, as a shell user means it
    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, case_sensitive=False, env_ignore_empty=True
    )

    # --- outside systems ----------------------------------------------------------------------------
    loki_url: str | None = Field(default=None, validation_alias=_env("LOKI_URL"))
    loki_tenant: str | None = Field(default=None, validation_alias=_env("LOKI_TENANT"))
    github_token: SecretStr | None = Field(default=None, validation_alias=_env("GITHUB_TOKEN"))
    github_app_id: int | None = Field(default=None, validation_alias=_env("GITHUB_APP_ID"))
    github_app_private_key: SecretStr | None = Field(
        default=None, validation_alias=_env("GITHUB_APP_PRIVATE_KEY")
    )
    github_installation_id: int | None = Field(default=None, validation_alias=_env("GITHUB_INSTALLATION_ID"))
    github_api_url: str = Field(default="https://api.github.com", validation_alias=_env("GITHUB_API_URL"))
    kubeconfig: str | None = Field(default=None, validation_alias=_env("KUBECONFIG"))
    kubernetes_enabled: bool = Field(default=True, validation_alias=_env("HEALER_KUBERNETES"))
    discord_webhook_url: SecretStr | None = Field(default=None, validation_alias=_env("DISCORD_WEBHOOK_URL"))
    slack_webhook_url: SecretStr | None = Field(default=None, validation_alias=_env("SLACK_WEBHOOK_URL"))
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=_env("OPENAI_BASE_URL"))
    evaluation_model: str = Field(default="gpt-4o-mini", validation_alias=_env("HEALER_EVALUATION_MODEL"))
    remediation_model: str = Field(default="gpt-4o", validation_alias=_env("HEALER_REMEDIATION_MODEL"))
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias=_env("HEALER_DATABASE_URL"))
    # What runs the sessions (runtime/engines.py): `auto` is the job queue on Postgres, in-process on SQLite
    engine: Literal["auto", "local", "queue"] = Field(default="auto", validation_alias=_env("HEALER_ENGINE"))
    # This replica's name in the job queue's workers and the schedule (default: host name and pid)
    replica_name: str | None = Field(default=None, validation_alias=_env("HEALER_REPLICA_NAME"))
    api_token: SecretStr | None = Field(default=None, validation_alias=_env("HEALER_API_TOKEN"))
    cto_config: Path | None = Field(default=None, validation_alias=_env("HEALER_CTO_CONFIG"))
    # Host names (host:port patterns, comma-separated) besides localhost that may call `/mcp` without a token
    mcp_allowed_hosts: str = Field(default="", validation_alias=_env("HEALER_MCP_ALLOWED_HOSTS"))

    # --- bounds (DESIGN §3: every loop has one) -----------------------------------------------------
    max_iterations: int | None = Field(
        default=None, ge=1, le=20, validation_alias=_env("HEALER_MAX_ITERATIONS")
    )
    sync_timeout_secs: int | None = Field(
        default=None, ge=10, le=24 * 3600, validation_alias=_env("HEALER_SYNC_TIMEOUT_SECS")
    )
    evaluation_prompt_tokens: int = Field(
        default=3000, ge=500, validation_alias=_env("HEALER_EVALUATION_PROMPT_TOKENS")
    )
    session_llm_calls: int = Field(default=40, ge=1, validation_alias=_env("HEALER_SESSION_LLM_CALLS"))
    incident_llm_tokens: int = Field(
        default=60_000, ge=1000, validation_alias=_env("HEALER_INCIDENT_LLM_TOKENS")
    )
    llm_max_tokens: int = Field(default=700, ge=64, validation_alias=_env("HEALER_LLM_MAX_TOKENS"))
    # The model's context window: a prompt is cut to fit it with the answer's allowance and the function
    # schema. 4,096 is the local model's (../shared/services/); set your model's (128000 for gpt-4o).
    llm_context_tokens: int = Field(default=4096, ge=1024, validation_alias=_env("HEALER_LLM_CONTEXT_TOKENS"))
    # The evaluation's look around the play (tools/llm_tools.py): tool calls and rounds per evaluation,
    # and the tokens a tool call's answer may take. 0 calls: the finding's window alone.
    # Findings with one cause (one endpoint, tool or kind of credential) this close in time are one
    # incident; 0 turns correlation off.
    correlation_window_s: int = Field(
        default=600, ge=0, le=24 * 3600, validation_alias=_env("HEALER_CORRELATION_WINDOW_S")
    )
    investigation_tool_calls: int = Field(
        default=3, ge=0, le=20, validation_alias=_env("HEALER_INVESTIGATION_TOOL_CALLS")
    )
    investigation_rounds: int = Field(
        default=1, ge=1, le=5, validation_alias=_env("HEALER_INVESTIGATION_ROUNDS")
    )
    investigation_answer_tokens: int = Field(
        default=400, ge=50, validation_alias=_env("HEALER_INVESTIGATION_ANSWER_TOKENS")
    )
    llm_timeout_s: float = Field(default=180.0, gt=0, validation_alias=_env("HEALER_LLM_TIMEOUT_S"))
    loki_timeout_s: float = Field(default=15.0, gt=0, validation_alias=_env("HEALER_LOKI_TIMEOUT_S"))
    # At most this many seconds between a session's timed passes while its namespace's Loki tail and
    # Kubernetes watch are up (runtime/tails.py, runtime/clusters.py): new lines and changes wake it at
    # once, the rules that need time to pass (A2, A3, A8, A9, A10) get a pass when they could fire, and
    # this one only catches up on what a tail might have missed. Else passes are `--interval` apart.
    catchup_s: float = Field(default=300.0, ge=1, validation_alias=_env("HEALER_CATCHUP_S"))
    # Steps a process runs at once. Most of a woken step's time is spent waiting (its namespace's Loki
    # read, which every step waiting on it shares, the database), not on the CPU: at 5,000 sessions, 8
    # at once left the replicas' cores half idle while findings queued (bench/scale.py).
    concurrent_steps: int = Field(default=32, ge=1, le=1024, validation_alias=_env("HEALER_CONCURRENT_STEPS"))
    # when a step GitHub did not answer runs again (its client has retried already)
    github_retry_s: float = Field(default=60.0, gt=0, validation_alias=_env("HEALER_GITHUB_RETRY_S"))
    evidence_lines: int = Field(default=8, ge=0, le=200, validation_alias=_env("HEALER_EVIDENCE_LINES"))
    lines_per_pass: int = Field(default=5000, ge=100, validation_alias=_env("HEALER_LINES_PER_PASS"))
    checkpoints_kept: int = Field(default=10, ge=2, validation_alias=_env("HEALER_CHECKPOINTS_KEPT"))
    recursion_limit: int = Field(default=40, ge=10, validation_alias=_env("HEALER_RECURSION_LIMIT"))

    # --- remediation scope (DESIGN §9: enforced in code, not in the prompt) -------------------------
    max_changed_files: int = Field(default=3, ge=1, validation_alias=_env("HEALER_MAX_CHANGED_FILES"))
    max_changed_lines: int = Field(default=200, ge=1, validation_alias=_env("HEALER_MAX_CHANGED_LINES"))
    allow_workflow_changes: bool = Field(
        default=False, validation_alias=_env("HEALER_ALLOW_WORKFLOW_CHANGES")
    )
    max_file_bytes: int = Field(default=64 * 1024, ge=1024, validation_alias=_env("HEALER_MAX_FILE_BYTES"))
    max_change_bytes: int = Field(
        default=256 * 1024, ge=1024, validation_alias=_env("HEALER_MAX_CHANGE_BYTES")
    )
    max_path_chars: int = Field(default=256, ge=16, le=4096, validation_alias=_env("HEALER_MAX_PATH_CHARS"))
    max_path_depth: int = Field(default=16, ge=1, le=64, validation_alias=_env("HEALER_MAX_PATH_DEPTH"))

    def remediation(self) -> RemediationDefaults:
        """cto-config.json's remediation block, with the environment's overrides applied."""
        defaults = remediation_defaults(self.cto_config) if self.cto_config else RemediationDefaults()
        return defaults.model_copy(
            update={
                key: value
                for key, value in (
                    ("max_iterations", self.max_iterations),
                    ("sync_timeout_secs", self.sync_timeout_secs),
                )
                if value is not None
            }
        )

    def database_backend(self) -> str:
        return "postgres" if self.database_url.startswith(("postgres", "postgresql")) else "sqlite"

    def github_configured(self) -> bool:
        return self.github_token is not None or (
            self.github_app_id is not None
            and self.github_app_private_key is not None
            and self.github_installation_id is not None
        )


class _GivenOnly(HealerSettings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: Any, **_other_sources: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


def settings_from(values: dict[str, Any]) -> HealerSettings:
    """Settings made of `values` alone, whatever the environment says (replays, tests)."""
    return _GivenOnly(**values)
