"""What an agent CLI's JSON events say about the agent itself. Pure, no I/O.

Read: Claude Code `--output-format stream-json` (and its session-file records), Codex `exec --json` (and
its rollout records), Gemini CLI, Cursor agent, OpenCode and Factory droid streams, as documented in
../shared/reference/agents/README.md. Every record is either the agent's own **lifecycle** (init, the final
result, turn failures, error events, MCP status) or **transcript** content (assistant text, reasoning, tool
calls, tool results, prompts). Transcript content is the agent at work and is never matched by the phrase
catalogue; only lifecycle facts become findings:
- an init event's tools and MCP servers: the agent's inventory (the pre-flight check diffs it);
- a run that ended in error (Claude `result` with `is_error`, Codex `turn.failed`, Gemini `result` with
  status error, an OpenCode `error`): the code its reason means (`api_error_code`);
- a call to a tool the agent does not have, and an MCP server that failed to start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_MCP_PREFIX = re.compile(r"^mcp__[\w-]+?__")


def tool_key(name: str) -> str:
    """Tool names compare without case and without an MCP client's `mcp__<server>__` prefix."""
    return _MCP_PREFIX.sub("", name.strip().strip("`'\"").lower())


class RecordKind(StrEnum):
    LIFECYCLE = "lifecycle"
    TRANSCRIPT = "transcript"
    UNKNOWN = "unknown"  # an agent record of a type nobody documents: counted, never matched


@dataclass(frozen=True, slots=True)
class AgentInventory:
    tools: tuple[str, ...]
    mcp_servers: tuple[tuple[str, str], ...]  # (name, status)


@dataclass(frozen=True, slots=True)
class AgentFailure:
    code: str
    kind: str  # stable: the fingerprint's key, e.g. "authentication", "max-turns"
    reason: str  # the CLI's own words
    event: str  # the record that said it, e.g. "result (is_error)", "turn.failed"
    missing_tools: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()

    @property
    def detail(self) -> str:
        return f"{self.event}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EventReading:
    cli: str
    record: str
    kind: RecordKind
    inventory: AgentInventory | None = None
    failures: tuple[AgentFailure, ...] = ()


SESSION_KEYS = ("session_id", "sessionId", "sessionID", "thread_id", "parentUuid")
_LOG_KEYS = ("level", "lvl", "levelname", "msg")  # an application's JSON log line, not an agent event
_CLAUDE_TRANSCRIPT = {"assistant", "user", "stream_event", "progress", "file-history-snapshot", "summary"}
_CLAUDE_LIFECYCLE = {"system", "result", "rate_limit_event", "conversation_reset"}
_CODEX_LIFECYCLE = {"thread.started", "turn.started", "turn.completed", "turn.failed", "error"}
_CODEX_TRANSCRIPT = {
    "item.started",
    "item.updated",
    "item.completed",
    "item.plan.delta",
    "request_user_input",
}
_ROLLOUT = {"session_meta": RecordKind.LIFECYCLE, "turn_context": RecordKind.LIFECYCLE}
_ROLLOUT_TRANSCRIPT = {"response_item", "event_msg", "compacted"}
_OTHER_TRANSCRIPT = {"message", "tool_use", "tool_result", "tool_call", "text", "reasoning"}
_OTHER_LIFECYCLE = {"init", "step_start", "step_finish", "done"}
KNOWN_TYPES = (
    _CLAUDE_TRANSCRIPT
    | _CLAUDE_LIFECYCLE
    | _CODEX_LIFECYCLE
    | _CODEX_TRANSCRIPT
    | _ROLLOUT.keys()
    | _ROLLOUT_TRANSCRIPT
    | _OTHER_TRANSCRIPT
    | _OTHER_LIFECYCLE
)


def looks_like_agent_event(value: dict[str, Any]) -> bool:
    """An agent CLI's record (not an application's JSON log line that happens to have a `type`)."""
    kind = value.get("type")
    if not isinstance(kind, str):
        return False
    if any(key in value for key in SESSION_KEYS):
        return True
    return kind in KNOWN_TYPES and not any(key in value for key in _LOG_KEYS)


def read_event(event: dict[str, Any]) -> EventReading:
    """What one agent record says: its kind, and the facts about the agent it carries."""
    kind = str(event.get("type"))
    if kind in _CLAUDE_LIFECYCLE or kind in _CLAUDE_TRANSCRIPT:
        if kind == "result" and "status" in event and "is_error" not in event:
            return _gemini(event, kind)
        return _claude(event, kind)
    if kind in _CODEX_LIFECYCLE or kind in _CODEX_TRANSCRIPT:
        if kind == "error" and isinstance(event.get("error"), dict):
            return _opencode(event, kind)
        if kind == "error" and "severity" in event:
            return EventReading("gemini", kind, RecordKind.LIFECYCLE)  # warnings and non-fatal errors
        return _codex(event, kind)
    if kind in _ROLLOUT:
        return EventReading("codex", kind, _ROLLOUT[kind])
    if kind in _ROLLOUT_TRANSCRIPT:
        return EventReading("codex", kind, RecordKind.TRANSCRIPT)
    if kind in ("tool_result", "tool_use") and "tool_id" in event:
        return _gemini(event, kind)
    if kind in _OTHER_TRANSCRIPT:
        return EventReading(_cli_of_other(event), kind, RecordKind.TRANSCRIPT)
    if kind in _OTHER_LIFECYCLE:
        return EventReading(_cli_of_other(event), kind, RecordKind.LIFECYCLE)
    return EventReading("unknown", kind, RecordKind.UNKNOWN)


def _cli_of_other(event: dict[str, Any]) -> str:
    if "sessionID" in event or "part" in event:
        return "opencode"
    if event.get("type") == "tool_call":
        return "cursor"
    return "gemini"


# --- Claude Code (and Cursor, droid: the same `system/init` … `result` envelope) -----------------------

_NO_SUCH_TOOL = re.compile(
    r"^\s*(?:<tool_use_error>)?\s*(?:Error:\s*)?No such tool available:\s*([\w.:/-]+)", re.ASCII
)


def _claude(event: dict[str, Any], kind: str) -> EventReading:
    subtype = event.get("subtype")
    record = f"{kind}/{subtype}" if isinstance(subtype, str) and kind == "system" else kind
    if kind == "system" and subtype == "init":
        inventory = _claude_inventory(event)
        failed = tuple(
            f"{name} ({status})" for name, status in inventory.mcp_servers if status != "connected"
        )
        failures = (
            (AgentFailure("A12", "mcp-servers", f"MCP servers not connected: {', '.join(failed)}", "init",
                          servers=tuple(name for name, status in inventory.mcp_servers if status != "connected")),)
            if failed
            else ()
        )  # fmt: skip
        return EventReading("claude", record, RecordKind.LIFECYCLE, inventory=inventory, failures=failures)
    if kind == "result":
        failure = _claude_result(event)
        return EventReading("claude", record, RecordKind.LIFECYCLE, failures=(failure,) if failure else ())
    if kind == "rate_limit_event":
        info = event.get("rate_limit_info")
        if isinstance(info, dict) and info.get("status") == "rejected":
            which = info.get("rateLimitType") or "plan"
            failure = AgentFailure("R6", "usage-limit", f"{which} rate limit rejected", "rate_limit_event")
            return EventReading("claude", record, RecordKind.LIFECYCLE, failures=(failure,))
        return EventReading("claude", record, RecordKind.LIFECYCLE)
    if kind == "user":
        missing = tuple(_missing_tools(event))
        if missing:
            failure = AgentFailure(
                "A10",
                "missing-tool",
                f"No such tool available: {', '.join(missing)}",
                "tool_result",
                missing_tools=tuple(tool_key(t) for t in missing),
            )
            return EventReading("claude", record, RecordKind.LIFECYCLE, failures=(failure,))
    if kind in _CLAUDE_LIFECYCLE:
        return EventReading("claude", record, RecordKind.LIFECYCLE)
    return EventReading("claude", record, RecordKind.TRANSCRIPT)


def _claude_inventory(event: dict[str, Any]) -> AgentInventory:
    tools = tuple(str(t) for t in event.get("tools") or () if isinstance(t, str))
    servers = tuple(
        (str(s.get("name")), str(s.get("status")))
        for s in event.get("mcp_servers") or ()
        if isinstance(s, dict) and s.get("name")
    )
    return AgentInventory(tools, servers)


_RESULT_SUBTYPES = {
    "error_max_turns": ("R8", "max-turns"),
    "error_max_budget_usd": ("R6", "budget"),
    "error_max_structured_output_retries": ("R3", "structured-output-retries"),
}


def _claude_result(event: dict[str, Any]) -> AgentFailure | None:
    subtype = str(event.get("subtype") or "")
    if event.get("is_error") is not True and not subtype.startswith("error"):
        return None
    errors = [str(e) for e in event.get("errors") or () if e]
    text = str(event.get("result") or "").strip()
    reason = "; ".join(errors) or text or subtype or "the run ended in error"
    where = f"result ({subtype}, is_error)" if subtype else "result (is_error)"
    if subtype in _RESULT_SUBTYPES:
        code, kind = _RESULT_SUBTYPES[subtype]
        if subtype == "error_max_turns" and not errors:
            reason = f"maximum number of turns reached ({event.get('num_turns', '?')} turns)"
        return AgentFailure(code, kind, _short(reason), where)
    status = event.get("api_error_status")
    code, kind = api_error_code(reason, status if isinstance(status, int) else None)
    return AgentFailure(code, kind, _short(reason), where)


def _missing_tools(event: dict[str, Any]) -> list[str]:
    message = event.get("message")
    blocks = message.get("content") if isinstance(message, dict) else None
    if not isinstance(blocks, list):
        return []
    names: list[str] = []
    for block in blocks:
        if (
            not isinstance(block, dict)
            or block.get("type") != "tool_result"
            or block.get("is_error") is not True
        ):
            continue
        if found := _NO_SUCH_TOOL.match(_text_of(block.get("content"))):
            names.append(found.group(1))
    return names


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content[:2000]
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content[:4] if isinstance(b, dict))[:2000]
    return ""


# --- Codex `exec --json` ------------------------------------------------------------------------------

_MCP_START_FAILED = (
    re.compile(r"MCP client for [`'\"]?([\w.@/-]+)[`'\"]? (?:failed to start|timed out)", re.I),
    re.compile(r"MCP startup incomplete \(failed: ([^)]+)\)", re.I),
    re.compile(r"required MCP servers failed to initiali[sz]e: ([\w.@/-]+)", re.I),
)
_TOOL_NOT_FOUND = re.compile(
    r"tool (?:not found|not available)|unknown tool|no such tool|unsupported call|not found in (?:available tools"
    r"|registry)",
    re.I,
)


def _codex(event: dict[str, Any], kind: str) -> EventReading:
    if kind == "turn.failed":
        error = event.get("error")
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        code, why = api_error_code(message or "turn failed")
        failure = AgentFailure(code, why, _short(message or "turn failed"), "turn.failed")
        return EventReading("codex", kind, RecordKind.LIFECYCLE, failures=(failure,))
    if kind in _CODEX_LIFECYCLE:  # a top-level `error` is a retry notice or the last error of a turn
        return EventReading("codex", kind, RecordKind.LIFECYCLE)  # that `turn.failed` reports: not terminal
    item = event.get("item")
    if not isinstance(item, dict):
        return EventReading("codex", kind, RecordKind.TRANSCRIPT)
    record = f"{kind}/{item.get('type')}"
    if kind == "item.completed" and item.get("type") == "error":
        servers = _failed_mcp_servers(str(item.get("message") or ""))
        failures = (
            (AgentFailure("A12", "mcp-servers", _short(str(item["message"])), "error item", servers=servers),)
            if servers
            else ()
        )
        return EventReading("codex", record, RecordKind.LIFECYCLE, failures=failures)
    if item.get("type") == "mcp_tool_call" and item.get("status") == "failed":
        error = item.get("error")
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        if _TOOL_NOT_FOUND.search(message):
            tool = str(item.get("tool") or "")
            failure = AgentFailure(
                "A10",
                "missing-tool",
                _short(f"{item.get('server')}/{tool}: {message}"),
                "mcp_tool_call (failed)",
                missing_tools=(tool_key(tool),) if tool else (),
            )
            return EventReading("codex", record, RecordKind.LIFECYCLE, failures=(failure,))
    return EventReading("codex", record, RecordKind.TRANSCRIPT)


def _failed_mcp_servers(message: str) -> tuple[str, ...]:
    for pattern in _MCP_START_FAILED:
        if found := pattern.search(message):
            return tuple(name.strip(" `'\"") for name in found.group(1).split(",") if name.strip())
    return ()


# --- Gemini CLI and OpenCode --------------------------------------------------------------------------


def _gemini(event: dict[str, Any], kind: str) -> EventReading:
    if kind == "result" and event.get("status") == "error":
        reason = _error_message(event.get("error")) or "the run ended in error"
        code, why = api_error_code(reason)
        failure = AgentFailure(code, why, _short(reason), "result (status error)")
        return EventReading("gemini", kind, RecordKind.LIFECYCLE, failures=(failure,))
    if kind == "tool_result" and event.get("status") == "error":
        message = _error_message(event.get("error"))
        if found := re.search(r"Tool [\"'`]?([\w.:/-]+)[\"'`]? not found in registry", message):
            failure = AgentFailure(
                "A10",
                "missing-tool",
                _short(message),
                "tool_result",
                missing_tools=(tool_key(found.group(1)),),
            )
            return EventReading("gemini", kind, RecordKind.LIFECYCLE, failures=(failure,))
    lifecycle = kind in ("result", "init")
    return EventReading("gemini", kind, RecordKind.LIFECYCLE if lifecycle else RecordKind.TRANSCRIPT)


def _opencode(event: dict[str, Any], kind: str) -> EventReading:
    error = event["error"]
    data = error.get("data")
    reason = (str(data.get("message") or "") if isinstance(data, dict) else "") or str(
        error.get("name") or ""
    )
    code, why = api_error_code(reason or "error")
    name = error.get("name") or "error"
    failure = AgentFailure(code, why, _short(f"{name}: {reason}" if reason != name else reason), "error")
    return EventReading("opencode", kind, RecordKind.LIFECYCLE, failures=(failure,))


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "")
    return str(error or "")


# --- what an API error means --------------------------------------------------------------------------

_I = re.IGNORECASE
_API_ERROR_KINDS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (code, kind, re.compile(pattern, _I))
    for code, kind, pattern in (
        (
            "R6",
            "usage-limit",
            r"usage limit|hit your (?:usage )?limit|credit balance|billing|quota|resource has been exhausted"
            r"|exhausted your capacity|token budget exhausted|insufficient_quota|budget",
        ),
        (
            "R7",
            "context-window",
            r"prompt is too long|context window|context_length_exceeded|conversation too long"
            r"|output token maximum|too many tokens",
        ),
        (
            "R5",
            "authentication",
            r"authenticat|unauthori[sz]ed|\b401\b|\b403\b|api[ _-]?key|oauth token|refresh token|/login"
            r"|credentials|permission_error|forbidden",
        ),
        (
            "R3",
            "retries-exhausted",
            r"retry limit|repeated \d{3}|max(?:imum)? retries|after \d+ (?:retries|attempts)",
        ),
        (
            "R2",
            "api-unavailable",
            r"overloaded|\b5\d\d\b|rate.?limit|\b429\b|too many requests|stream disconnected|econnreset"
            r"|connection|timed? ?out|network|unable to connect|fetch failed|server_error|api_error"
            r"|server error|service unavailable",
        ),
    )
)
_STATUS_CODES = {401: ("R5", "authentication"), 403: ("R5", "authentication"), 429: ("R2", "api-unavailable")}


def api_error_code(reason: str, status: int | None = None) -> tuple[str, str]:
    """The alert code an agent's error reason means, and a stable kind for its fingerprint.

    Authentication → R5; usage, credit or budget limits → R6; a prompt past the context window → R7;
    retries given up → R3; overload, 5xx, rate limits, dropped streams → R2; anything else (a model that
    does not exist, max turns, an execution error) → R8, the agent run failed.
    """
    for code, kind, pattern in _API_ERROR_KINDS:
        if pattern.search(reason):
            return code, kind
    if status is not None:
        if status in _STATUS_CODES:
            return _STATUS_CODES[status]
        if status >= 500:
            return "R2", "api-unavailable"
    return "R8", "run-failed"


def _short(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
