"""Framing an agent's JSON event stream out of a pod's log lines. Pure, no I/O.

An agent CLI prints one JSON event per line, but a pod's log is not that clean (../shared/reference/agents):
a wrapper may put `[2025-11-11T12:19:39.412Z] [INFO] ` before each event, pretty-print an event over many
lines (`{` after the prefix, the indented body, `}` at column 0), or split one stdout chunk into two lines;
a killed process leaves a truncated event. `EventFramer` reads the lines of one stream in order and says
of each whether it is plain text (for the phrase catalogue), part of an event (with the event once it is
complete), or unreadable (a fragment of an event that never completed). A fragment of an event is never
handed back as plain text, because it is transcript content: matching it would page someone for a
`panic` in a file the agent read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graph.triage.agent_events import SESSION_KEYS, looks_like_agent_event

# Wrappers before an event: the shipper's (CRI tag, kubectl --prefix/--timestamps) and a wrapper script's
# `[timestamp] [LEVEL] `. Indentation is not peeled: it tells a pretty-printed event's closing brace apart.
_PREFIX = re.compile(
    r"(?:\[pod/[^\]\s]+\] "
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? (?:(?:stdout|stderr) [FP] )?"
    r"|[FP] (?=\S)"
    r"|\[[^\[\]\n]{1,40}\] ?)*",
    re.ASCII,
)
_HEAD = 256  # an event's `{` sits within the first bytes of its line, after the prefixes
MAX_EVENT_LINES = 20_000  # a pretty-printed event longer than this is given up on (counted unreadable)
MAX_EVENT_CHARS = 8 << 20


class Framing(Enum):
    PLAIN = "plain"  # not part of an event: the catalogue reads it
    EVENT = "event"  # an event ended on this line; `Framed.event` holds it
    TRANSCRIPT = "transcript"  # a whole transcript record, known by its head: not parsed, never matched
    UNREADABLE = "unreadable"  # a fragment of an event that never completed


@dataclass(frozen=True, slots=True)
class Framed:
    framing: Framing
    line_no: int  # for EVENT: the event's first line; otherwise this line
    event: dict[str, Any] | None = None
    lines: tuple[int, ...] = ()  # for UNREADABLE: every line of the fragment given up on


def event_body(text: str) -> str | None:
    """The part of `text` from its opening `{` on, when the line opens a JSON object after its prefixes."""
    if "{" not in text[:_HEAD]:
        return None
    start = _PREFIX.match(text).end()
    return text[start:] if text.startswith("{", start) else None


_BAD_ESCAPE = re.compile(r'\\(?=[^"\\/bfnrtu])')
MAX_SPLIT_PARTS = 16  # a wrapper that cuts one event into pieces: how many pieces are waited for


def _loads(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        if "escape" not in str(error):
            return None
    except RecursionError:
        return None
    try:  # a wrapper that mangled a backslash (`\^[[36m`): the event is still readable
        return json.loads(_BAD_ESCAPE.sub(r"\\\\", body))
    except (ValueError, RecursionError):
        return None


def _looks_continued(body: str) -> bool:
    """A piece of a JSON line cut by a wrapper: escaped text, or the end of an object."""
    return "\\n" in body or '\\"' in body or "\\t" in body or body.rstrip().endswith(("}", '"'))


@dataclass(slots=True)
class _Pending:
    first_line_no: int
    parts: list[str] = field(default_factory=list)
    line_nos: list[int] = field(default_factory=list)
    chars: int = 0
    pretty: bool = False  # a block opened by a lone `{`, closed by `}` at column 0

    def add(self, line_no: int, text: str) -> None:
        self.parts.append(text)
        self.line_nos.append(line_no)
        self.chars += len(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first_line_no,
            "parts": self.parts,
            "lines": self.line_nos,
            "pretty": self.pretty,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Pending:
        pending = cls(int(data["first"]), pretty=bool(data["pretty"]))
        for line_no, text in zip(data["lines"], data["parts"], strict=True):
            pending.add(int(line_no), str(text))
        return pending


_NOTHING_YET: list[
    Framed
] = []  # a line of an event that has not ended: nothing to settle yet (never mutated)


class EventFramer:
    """Frames the lines of one stream (one pod's container), in order. Its state survives between calls,
    so an event may span two chunks of a file or two passes of a session (`pending_json`)."""

    def __init__(self, pending: dict[str, Any] | None = None) -> None:
        self._pending = _Pending.from_json(pending) if pending else None

    @property
    def is_open(self) -> bool:
        """An event has begun on this stream and not ended yet."""
        return self._pending is not None

    def pending_json(self) -> dict[str, Any] | None:
        return self._pending.to_json() if self._pending else None

    def feed(self, line_no: int, text: str) -> list[Framed]:
        """What `text` (line `line_no`) is; it may also settle an earlier fragment (given back first). A line
        of an event that has not ended gives nothing back: the event, once whole, accounts for it."""
        if self._pending is not None:
            return self._continue(line_no, text)
        return self._start(line_no, text)

    def close(self) -> list[Framed]:
        """The stream has ended: an event still open was truncated."""
        if self._pending is None:
            return []
        return [self._give_up()]

    def _start(self, line_no: int, text: str) -> list[Framed]:
        body = event_body(text)
        if body is None:
            return [Framed(Framing.PLAIN, line_no)]
        if body.rstrip() == "{":
            self._pending = _Pending(line_no, pretty=True)
            self._pending.add(line_no, "{")
            return _NOTHING_YET
        if _transcript_by_head(body):
            return [Framed(Framing.TRANSCRIPT, line_no)]
        value = _loads(body)
        if isinstance(value, dict):
            if looks_like_agent_event(value):
                return [Framed(Framing.EVENT, line_no, value)]
            return [Framed(Framing.PLAIN, line_no)]  # a JSON application log: the catalogue reads it
        if value is None and body.startswith('{"') and _could_be_agent_event(body):
            self._pending = _Pending(line_no)
            self._pending.add(line_no, body)
            return _NOTHING_YET
        return [Framed(Framing.PLAIN, line_no)]  # `{foo} failed`, or a JSON log cut short

    def _continue(self, line_no: int, text: str) -> list[Framed]:
        pending = self._pending
        assert pending is not None
        if pending.pretty:
            return self._continue_pretty(pending, line_no, text)
        # One event cut into pieces by a wrapper: the rest comes on the next lines, each behind its own prefix
        # or none. A line that opens an event, or reads like no piece of one, ends the wait.
        body = text[_PREFIX.match(text).end() :]
        if event_body(text) is not None or not _looks_continued(body):
            return [self._give_up(), *self._start(line_no, text)]
        pending.add(line_no, body)
        value = _loads("".join(pending.parts))
        if isinstance(value, dict):
            self._pending = None
            return [Framed(Framing.EVENT, pending.first_line_no, value)]
        if (
            body.rstrip().endswith("}")
            or len(pending.parts) >= MAX_SPLIT_PARTS
            or pending.chars > MAX_EVENT_CHARS
        ):
            return [self._give_up()]
        return _NOTHING_YET

    def _continue_pretty(self, pending: _Pending, line_no: int, text: str) -> list[Framed]:
        body = text[_PREFIX.match(text).end() :]
        pending.add(line_no, body)
        if body.rstrip() == "}":  # column 0: the wrapper's closing brace of the whole event
            value = _loads("\n".join(pending.parts))
            self._pending = None
            if isinstance(value, dict):
                return [Framed(Framing.EVENT, pending.first_line_no, value)]
            return [Framed(Framing.UNREADABLE, line_no, lines=tuple(pending.line_nos))]
        if len(pending.parts) > MAX_EVENT_LINES or pending.chars > MAX_EVENT_CHARS:
            return [self._give_up()]
        return _NOTHING_YET

    def _give_up(self) -> Framed:
        pending = self._pending
        assert pending is not None
        self._pending = None
        return Framed(Framing.UNREADABLE, pending.line_nos[-1], lines=tuple(pending.line_nos))


# Most of a pod's log is transcript records (assistant text, tool results carrying whole files), and parsing
# them only to set them aside would cost most of a scan. A record whose leading `type` names transcript
# content, that is whole (ends with `}`) and holds none of the phrases a lifecycle fact needs, is known
# without parsing. Session files put bookkeeping scalars before `type`; inside JSON strings quotes are
# escaped, so `"type":"…"` at the top of the object is the record's own type.
_LEADING_TYPE = re.compile(
    r'\{(?:"(?:parentUuid|logicalParentUuid|isSidechain|userType|cwd|sessionId|version|gitBranch|slug|agentId'
    r'|timestamp|isMeta)":(?:"[^"\\]*"|null|true|false|-?\d+),)*"type":"([\w.-]+)"'
)
_TRANSCRIPT_TYPES = frozenset(
    {"assistant", "user", "progress", "file-history-snapshot", "stream_event", "summary", "item.started",
     "item.updated", "item.completed", "item.plan.delta", "response_item", "message", "text", "reasoning",
     "tool_call", "tool_use"}
)  # fmt: skip
# What would make such a record a lifecycle fact: a missing tool, a Codex error item or failed MCP call.
_FACT_NEEDLES = ("No such tool available", '"type":"error"', '"mcp_tool_call"', "not found in registry")
_TRANSCRIPT_TYPES_B = frozenset(t.encode() for t in _TRANSCRIPT_TYPES)
_PREFIX_B = re.compile(_PREFIX.pattern.encode(), re.ASCII)
_LEADING_TYPE_B = re.compile(_LEADING_TYPE.pattern.encode())
_FACT_NEEDLES_B = tuple(needle.encode() for needle in _FACT_NEEDLES)  # `in` is far faster than a regex


def _transcript_by_head(body: str) -> bool:
    head = _LEADING_TYPE.match(body)
    if head is None or head.group(1) not in _TRANSCRIPT_TYPES or not body.rstrip().endswith("}"):
        return False
    return not any(needle in body for needle in _FACT_NEEDLES)


def is_transcript_text(text: str) -> bool:
    body = event_body(text)
    return body is not None and _transcript_by_head(body)


def is_transcript_line(raw: bytes) -> bool:
    """`_transcript_by_head` on a raw line, prefixes and all: the scan's fast path, before any decoding."""
    start = _PREFIX_B.match(raw).end()
    head = _LEADING_TYPE_B.match(raw, start)
    if head is None or head.group(1) not in _TRANSCRIPT_TYPES_B or not raw.rstrip().endswith(b"}"):
        return False
    return all(needle not in raw for needle in _FACT_NEEDLES_B)


_TYPE_NEAR_START = re.compile(r'"type"\s*:\s*"([\w./-]{1,40})"')


def _could_be_agent_event(body: str) -> bool:
    """A line cut short is held for its rest only if its start reads like an agent event."""
    head = body[:4096]
    if any(f'"{key}"' in head for key in SESSION_KEYS):
        return True
    found = _TYPE_NEAR_START.search(head)
    return found is not None and looks_like_agent_event({"type": found.group(1)})
