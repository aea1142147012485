"""What an agent CLI prints in a CodeRun pod, one JSON event per line, for the scenarios of definitions.py.

Shapes are copied from the real output in ../shared/reference/agents/samples/ (and its README):

- Claude Code `claude -p --output-format stream-json --verbose`: one `system/init` (its `tools`, MCP tools as
  `mcp__<server>__<tool>`, and `mcp_servers` with each server's `status`), then `assistant` events (one per
  content block: `text` or `tool_use`, the blocks of one message sharing its `id`) and `user` events
  carrying `tool_result` blocks (`is_error: true` for a failed command, its text starting `Exit code N`, and
  the structured `tool_use_result`), and a final `result`. Printed compact (`JSON.stringify`).
- Codex `codex exec --json`: `thread.started`, `turn.started`, `item.started`/`item.completed` (reasoning,
  command_execution with `aggregated_output` and `exit_code`, agent_message), top-level `error` notices
  (`Reconnecting... n/5`), and `turn.completed` or `turn.failed`.
- The CTO platform's container scripts print their MCP diagnostics before the agent starts
  (`templates/_shared/partials/mcp-check.sh.hbs`, `tools-config.sh.hbs` in 5dlabs/cto; the lines of
  ../shared/corpus/cto-platform-lines.json).

Every id is derived from the stream's seed, so a definition's lines are the same on every run (recordings
match them byte for byte).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

_NAMESPACE = uuid.UUID("6f1c2a57-41b3-4c35-9d0f-5b9a1d2e7c10")
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # base58, as Anthropic's ids read

CLAUDE_BUILTIN_TOOLS = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "ExitPlanMode",
    "Read",
    "Edit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
    "KillShell",
    "Skill",
    "SlashCommand",
]


def compact(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def timed(start: float, step: float, lines: Iterable[str]) -> list[tuple[float, str]]:
    """`lines` at `start`, `start + step`, … (offsets in seconds, rounded to whole microseconds)."""
    return [(round(start + i * step, 6), line) for i, line in enumerate(lines)]


def mcp_diagnostics(remote_tools: int, local_servers: int = 0) -> list[str]:
    """The CTO container scripts' MCP check, as a healthy pod prints it before the agent's first event."""
    return [
        "🔧 MCP Tools Diagnostics:",
        "  ✅ tools binary found: /usr/local/bin/tools",
        "  → Server URL: http://cto-tools.cto.svc.cluster.local:8080",
        "  ✅ Health check: OK (HTTP 200)",
        "  ✅ Config found: /mcp-config/mcp.json",
        "  ✓ client-config.json → /workspace/client-config.json",
        f"    └─ Remote tools: {remote_tools}",
        f"    └─ Local servers: {local_servers}",
        "  ✓ cto-tools CLI installed → /usr/local/bin/cto-tools",
    ]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()


def _base58(data: bytes, length: int) -> str:
    number, out = int.from_bytes(data, "big"), []
    while len(out) < length:
        number, digit = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return "".join(out)


class ClaudeStream:
    """The events of one `claude -p --output-format stream-json --verbose` run."""

    def __init__(
        self,
        seed: str,
        *,
        model: str = "claude-sonnet-4-5-20250929",
        cwd: str = "/workspace/cto-parallel-test",
        version: str = "2.0.55",
    ) -> None:
        self.seed, self.model, self.cwd, self.version = seed, model, cwd, version
        self.session_id = str(uuid.uuid5(_NAMESPACE, seed))
        self._n = 0
        self._message: str | None = None
        self.turns = 0
        self.tool_uses = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def _uuid(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.seed}/{self._next()}"))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_01{_base58(_digest(self.seed, prefix, self._next()), 22)}"

    def init(self, tools: list[str], mcp_servers: list[dict[str, str]]) -> str:
        return compact(
            {
                "type": "system",
                "subtype": "init",
                "cwd": self.cwd,
                "session_id": self.session_id,
                "tools": tools,
                "mcp_servers": mcp_servers,
                "model": self.model,
                "permissionMode": "bypassPermissions",
                "slash_commands": [
                    "compact",
                    "context",
                    "cost",
                    "init",
                    "pr-comments",
                    "release-notes",
                    "todos",
                    "review",
                    "security-review",
                ],
                "apiKeySource": "none",
                "claude_code_version": self.version,
                "output_style": "default",
                "agents": ["general-purpose", "statusline-setup", "output-style-setup", "Explore"],
                "skills": [],
                "plugins": [],
                "uuid": self._uuid(),
            }
        )

    def _assistant(self, block: dict[str, Any], new_message: bool) -> str:
        if new_message or self._message is None:
            self._message = self._id("msg")
            self.turns += 1
        number = self._n
        return compact(
            {
                "type": "assistant",
                "message": {
                    "model": self.model,
                    "id": self._message,
                    "type": "message",
                    "role": "assistant",
                    "content": [block],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 2 + number % 5,
                        "cache_creation_input_tokens": 180 + (number * 37) % 900,
                        "cache_read_input_tokens": 12227 + number * 411,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 180 + (number * 37) % 900,
                            "ephemeral_1h_input_tokens": 0,
                        },
                        "output_tokens": 1 + (number * 13) % 60,
                        "service_tier": "standard",
                    },
                },
                "parent_tool_use_id": None,
                "session_id": self.session_id,
                "uuid": self._uuid(),
            }
        )

    def text(self, text: str) -> str:
        """The agent's words: a new message."""
        return self._assistant({"type": "text", "text": text}, new_message=True)

    def tool_use(
        self, name: str, tool_input: dict[str, Any], *, same_message: bool = True
    ) -> tuple[str, str]:
        """A tool call (by default in the message of the text just said); returns the line and its id."""
        tool_id = self._id("toolu")
        self.tool_uses += 1
        line = self._assistant(
            {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input},
            new_message=not same_message,
        )
        return line, tool_id

    def tool_result(self, tool_id: str, content: str, *, is_error: bool = False, bash: bool = False) -> str:
        """The tool's answer. A Bash command that exits non-zero comes back as `Exit code N` and its output."""
        event: dict[str, Any] = {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {"tool_use_id": tool_id, "type": "tool_result", "content": content, "is_error": is_error}
                ],
            },
            "parent_tool_use_id": None,
            "session_id": self.session_id,
            "uuid": self._uuid(),
        }
        if bash:
            event["tool_use_result"] = (
                f"Error: {content}"
                if is_error
                else {"stdout": content, "stderr": "", "interrupted": False, "isImage": False}
            )
        return compact(event)

    def bash(
        self, command: str, description: str, output: str, *, exit_code: int = 0, text: str | None = None
    ) -> list[str]:
        """A Bash call and its result (after `text`, the words that introduce it, when given)."""
        lines = [self.text(text)] if text else []
        call, tool_id = self.tool_use(
            "Bash", {"command": command, "description": description}, same_message=bool(text)
        )
        failed = exit_code != 0
        content = f"Exit code {exit_code}\n{output}" if failed else output
        return [*lines, call, self.tool_result(tool_id, content, is_error=failed, bash=True)]

    def call(
        self,
        name: str,
        tool_input: dict[str, Any],
        result: str,
        *,
        is_error: bool = False,
        text: str | None = None,
    ) -> list[str]:
        lines = [self.text(text)] if text else []
        call, tool_id = self.tool_use(name, tool_input, same_message=bool(text))
        return [*lines, call, self.tool_result(tool_id, result, is_error=is_error)]

    def result(self, summary: str, *, duration_ms: int, cost_usd: float) -> str:
        return compact(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "duration_ms": duration_ms,
                "duration_api_ms": int(duration_ms * 0.71),
                "num_turns": self.turns + self.tool_uses,
                "result": summary,
                "session_id": self.session_id,
                "total_cost_usd": cost_usd,
                "usage": {
                    "input_tokens": 163,
                    "cache_creation_input_tokens": 55530,
                    "cache_read_input_tokens": 1287768,
                    "output_tokens": 16420,
                    "server_tool_use": {"web_search_requests": 0},
                    "service_tier": "standard",
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 55530},
                },
                "modelUsage": {
                    self.model: {
                        "inputTokens": 183,
                        "outputTokens": 17323,
                        "cacheReadInputTokens": 1294220,
                        "cacheCreationInputTokens": 79207,
                        "webSearchRequests": 0,
                        "costUSD": cost_usd,
                        "contextWindow": 200000,
                    }
                },
                "permission_denials": [],
                "uuid": self._uuid(),
            }
        )


class CodexStream:
    """The events of `codex exec --json` runs (a new thread per run)."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self._runs = 0
        self._item = 0

    def thread_started(self) -> str:
        self._runs += 1
        self._item = 0
        digest = _digest(self.seed, "thread", self._runs).hex()
        thread = f"019ab{digest[:3]}-{digest[3:7]}-7{digest[7:10]}-{digest[10:14]}-{digest[14:26]}"
        return compact({"type": "thread.started", "thread_id": thread})

    @staticmethod
    def turn_started() -> str:
        return compact({"type": "turn.started"})

    @staticmethod
    def error(message: str) -> str:
        return compact({"type": "error", "message": message})

    @staticmethod
    def turn_failed(message: str) -> str:
        return compact({"type": "turn.failed", "error": {"message": message}})

    def request_id(self, attempt: int) -> str:
        """Like `99cdbe04acfb0b34-AMS`: the id OpenAI's edge gives a request."""
        return f"{_digest(self.seed, 'request', self._runs, attempt).hex()[:16]}-AMS"

    def item(self, kind: str, **fields: Any) -> str:
        item = {"id": f"item_{self._item}", "type": kind, **fields}
        self._item += 1
        return compact({"type": "item.completed", "item": item})
