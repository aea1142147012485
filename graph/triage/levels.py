"""What level a log line was written at, across the formats a play's pods print (DESIGN §4.5).

`message_of` peels the wrappers that log shippers add around a line (CRI/Fluent Bit `F ` tags, kubectl
`--prefix` and `--timestamps`, OpenTelemetry `Body: Str(…)`), and `level_of` reads the level marker of
whatever is left: klog, logfmt, JSON (string or pino/bunyan numeric levels), bracketed (`[ERROR]`,
`[WORKER … INFO Class]`, `[… INFO]`), or a leading level word (`INFO:`, `ERROR `, Rust tracing, Python
logging, zap, loguru, log4j). A line with no marker has level `None`: only what it says can make it a finding.
"""

from __future__ import annotations

import re
from enum import IntEnum


class Level(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    FATAL = 5

    @property
    def is_quiet(self) -> bool:
        """Info, debug, trace and warn lines are chatter: they may mention an error without being one."""
        return self <= Level.WARN


_WORDS: dict[str, Level] = {
    "trace": Level.TRACE, "trc": Level.TRACE, "vrb": Level.TRACE, "verbose": Level.TRACE,
    "debug": Level.DEBUG, "dbg": Level.DEBUG,
    "info": Level.INFO, "inf": Level.INFO, "information": Level.INFO, "notice": Level.INFO,
    "warn": Level.WARN, "warning": Level.WARN, "wrn": Level.WARN,
    "error": Level.ERROR, "err": Level.ERROR, "eror": Level.ERROR, "severe": Level.ERROR,
    "fatal": Level.FATAL, "ftl": Level.FATAL, "critical": Level.FATAL, "crit": Level.FATAL,
    "panic": Level.FATAL, "emerg": Level.FATAL, "emergency": Level.FATAL, "alert": Level.FATAL,
}  # fmt: skip

_KLOG_LETTERS = {"I": Level.INFO, "W": Level.WARN, "E": Level.ERROR, "F": Level.FATAL, "D": Level.DEBUG}

# pino/bunyan numeric levels
_NUMERIC = ((60, Level.FATAL), (50, Level.ERROR), (40, Level.WARN), (30, Level.INFO), (20, Level.DEBUG))

_TIMESTAMP = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_WRAPPER = re.compile(
    r"(?:\s+"  # indentation
    r"|Body: Str\("  # OpenTelemetry collector debug exporter
    r"|\[pod/[^\]\s]+\]\s"  # kubectl logs --prefix
    rf"|{_TIMESTAMP}\s+(?:(?:stdout|stderr)\s+[FP]\s)?"  # kubectl --timestamps, CRI log format
    r"|[FP]\s(?=\S))",  # CRI full/partial tag left by the shipper
    re.ASCII,
)

_KLOG = re.compile(r"([IWEFD])\d{4} \d\d:\d\d:\d\d(?:\.\d+)?\s")
_LOGFMT = re.compile(r"(?:^|\s)(?:level|lvl|severity)=[\"']?([A-Za-z]+)", re.ASCII)
_JSON = re.compile(
    r"\"(?:level|severity|lvl|levelname|log\.level|@l)\"\s*:\s*(?:\"([A-Za-z]+)\"|(\d+))", re.ASCII
)
# Every logfmt/JSON level key contains one of these; most lines have none, and a substring test says so
# in nanoseconds where the regexes would scan the line.
_KEY_NEEDLES = ("level", "lvl", "severity", '"@l"')
_BRACKET = re.compile(r"\[([^\[\]\n]{1,120})\]")
_LEADING_WORD = re.compile(r"([A-Za-z]+)(:|\s|$)", re.ASCII)
_UPPER_LEVEL_NEAR_START = re.compile(
    r"(?:\S+[ \t]+){1,4}?(?:[|\-][ \t]*)?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|PANIC)"
    r"(?=[ \t:|\]]|$)",
    re.ASCII,
)
_HEAD = 160  # bracketed and leading level words sit at the start of a message
_KEY_WINDOW = 1024  # logfmt/JSON loggers write the level key early; payloads after it are not read


def message_of(line: str) -> str:
    """The line without shipper/collector wrappers, possibly nested (`F Body: Str(F time=…)`)."""
    pos = 0
    while match := _WRAPPER.match(line, pos):
        if match.end() == pos:
            break
        pos = match.end()
    return line[pos:] if pos else line


def level_of(message: str, lowered: str | None = None) -> Level | None:
    """The level `message` (already unwrapped by `message_of`) was logged at, or None if it shows none.

    `lowered` is `message.lower()` when the caller has it already.
    """
    if klog := _KLOG.match(message):
        return _KLOG_LETTERS[klog.group(1)]
    lowered_window = (message.lower() if lowered is None else lowered)[:_KEY_WINDOW]
    if any(needle in lowered_window for needle in _KEY_NEEDLES):
        level = _keyed_level(message[:_KEY_WINDOW])
        if level is not None:
            return level
    head = message[:_HEAD]
    for bracket in _BRACKET.finditer(head):
        if (level := _bracket_level(bracket.group(1))) is not None:
            return level
    return _leading_level(head)


def _keyed_level(window: str) -> Level | None:
    """The level of a logfmt `level=` or JSON `"level":` key in `window`."""
    logfmt = _LOGFMT.search(window)
    if logfmt and (level := _WORDS.get(logfmt.group(1).lower())) is not None:
        return level
    if json_level := _JSON.search(window):
        word, number = json_level.groups()
        return _WORDS.get(word.lower()) if word else _numeric_level(int(number))
    return None


def _numeric_level(number: int) -> Level:
    for threshold, level in _NUMERIC:
        if number >= threshold:
            return level
    return Level.TRACE


def _bracket_level(content: str) -> Level | None:
    tokens = content.split()
    if len(tokens) == 1:  # `[ERROR]`, `[info]`, `[ERR]`
        return _WORDS.get(tokens[0].lower())
    for token in tokens:  # `[WORKER 2026-01-05 05:51:12Z INFO ExecutionContext]`, `[2026-01-05 INFO]`
        if token.isupper() and (level := _WORDS.get(token.lower())) is not None:
            return level
    return None


def _leading_level(head: str) -> Level | None:
    if first := _LEADING_WORD.match(head):
        word, after = first.groups()
        level = _WORDS.get(word.lower())
        # `ERROR something`, `INFO: …`, `error: could not compile`, `warning: unused variable`
        if level is not None and (word.isupper() or after == ":"):
            return level
    if near := _UPPER_LEVEL_NEAR_START.match(head):
        return _WORDS[near.group(1).lower()]
    return None
