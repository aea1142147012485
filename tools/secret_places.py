"""Secrets known by where they stand rather than by their shape: an environment dump's secret-named
variables, a command's credential flags, cookies, `.netrc` and docker `auths` entries, and a private
key's body line that arrives without its BEGIN line (Loki ships each line of a pod's log on its own).

``place_spans(text)`` yields ``(kind, start, end)`` of the values; names, flags and quotes stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import pairwise

from tools.prefilter import Prefilter

__all__ = ["PLACE_KINDS", "place_spans"]

# A variable is secret when one of its words says so: OPENAI_API_KEY_PROD, GH_PAT, NPM_AUTH, SENTRY_DSN,
# SLACK_WEBHOOK_URL, DB_PASS. PWD is the shell's working directory, not a password.
_SECRET_WORDS = frozenset(
    {
        "TOKEN", "TOKENS", "SECRET", "SECRETS", "KEY", "APIKEY", "PASS", "PASSWORD", "PASSWD", "PASSPHRASE",
        "PAT", "AUTH", "DSN", "WEBHOOK", "CREDENTIAL", "CREDENTIALS", "COOKIE", "PRIVATE", "SIGNATURE",
        "SENSITIVE",
    }
)  # fmt: skip
_PAIRED_WORDS = frozenset(
    {("CLIENT", "ID"), ("KEY", "ID"), ("ACCESS", "ID"), ("API", "ID"), ("AUTH", "USER")}
)
_NOT_A_SECRET_SUFFIX = ("_FILE", "_PATH", "_DIR", "_NAME", "_ENABLED", "_TTL", "_LENGTH", "_SIZE", "_TYPE")
_ENV = re.compile(
    r"(?<![\w.-])(?P<name>[A-Z][A-Z0-9_]{1,80})=(?:(?P<q>[\"'])(?P<quoted>[^\"'\n]*)(?P=q)|(?P<bare>[^\s\"'`;&|]+))"
)
_VALUELESS = re.compile(
    r"\$\{?\w+\}?|\*+|<[^<>]*>|\[REDACTED:[\w-]+\]|true|false|null|none|\d{1,7}|/[\w./-]*", re.I
)

# `--password X`, `--token=X`, `-p X`/`-pX` (mysql, docker login, sshpass), `-u user:pass`/`--user user:pass` (curl).
_FLAG = re.compile(
    r"(?<!\S)(?P<flag>--(?:password|passwd|pass|token|api-key|apikey|secret|client-secret|access-token|auth-token)"
    r"|-p)(?:=|[ \t]+|(?<=-p)(?=\S))(?P<q>[\"']?)(?P<value>(?!-)[^\s\"']+)(?P=q)"
)
_PASSWORD_COMMANDS = re.compile(r"\b(?:login|sshpass|mysql\w*|mariadb|mongo\w*|redis-cli|pg_\w+|psql)\b")
_USER_FLAG = re.compile(r"(?<!\S)(?:-u|--user)[ \t]+(?P<q>[\"']?)[^\s:\"']*:(?P<value>[^\s\"']+)(?P=q)")
_COOKIE_HEADER = re.compile(r"(?i)\b(?:set-)?cookie[\"']?\s*:\s*[\"']?(?P<pairs>[^\n\"']+)")
_COOKIE_PAIR = re.compile(r"(?P<name>[^=;,\s]+)=(?P<value>[^;,\s]+)")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "priority", "version"})
_NETRC = re.compile(r"(?:^|\s)(?:machine\s+\S+|default)\b[^\n]*?\s(?:password|passwd)\s+(?P<value>\S+)")
_DOCKER_AUTH = re.compile(
    r"\"(?:auth|identitytoken|registrytoken)\"\s*:\s*\"(?P<value>[A-Za-z0-9+/=_.-]{8,})\""
)
_KEY_BODY_LINE = re.compile(r"(?m)^[ \t]*(?P<value>[A-Za-z0-9+/]{40,100}={0,2})[ \t]*$")

PLACE_KINDS = ("env-secret", "cli-secret", "cookie", "netrc-password", "docker-auth", "private-key")


def _secret_name(name: str) -> bool:
    if name.endswith(_NOT_A_SECRET_SUFFIX):
        return False
    words = name.split("_")
    return any(word in _SECRET_WORDS for word in words) or any(
        pair in _PAIRED_WORDS for pair in pairwise(words)
    )


def _env_spans(text: str) -> Iterator[tuple[str, int, int]]:
    for match in _ENV.finditer(text):
        group = "quoted" if match.group("quoted") is not None else "bare"
        value = match.group(group)
        if value and _secret_name(match.group("name")) and not _VALUELESS.fullmatch(value):
            yield "env-secret", *match.span(group)


def _flag_spans(text: str) -> Iterator[tuple[str, int, int]]:
    for pattern in (_FLAG, _USER_FLAG):
        for match in pattern.finditer(text):
            value = match.group("value")
            if not _VALUELESS.fullmatch(value) and (match.re is _USER_FLAG or _is_password_flag(match)):
                yield "cli-secret", *match.span("value")


def _is_password_flag(match: re.Match[str]) -> bool:
    """``-p`` is a password for ``login``, ``sshpass`` and the database clients (``mysql -pX``); for grep,
    kubectl and most tools it is something else."""
    if match.group("flag") != "-p":
        return True
    command = match.string[match.string.rfind("\n", 0, match.start()) + 1 : match.start()]
    return _PASSWORD_COMMANDS.search(command) is not None


def _cookie_spans(text: str) -> Iterator[tuple[str, int, int]]:
    for header in _COOKIE_HEADER.finditer(text):
        start = header.start("pairs")
        for pair in _COOKIE_PAIR.finditer(header.group("pairs")):
            if pair.group("name").lower() not in _COOKIE_ATTRIBUTES:
                yield "cookie", start + pair.start("value"), start + pair.end("value")


def _is_key_body(line: str) -> bool:
    """A PEM body line is base64 with both cases and digits; a hex digest or a word run is not."""
    return (
        any(c.isdigit() for c in line) and any(c.isupper() for c in line) and any(c.islower() for c in line)
    )


def _lone_key_lines(text: str) -> Iterator[tuple[str, int, int]]:
    for match in _KEY_BODY_LINE.finditer(text):
        if _is_key_body(match.group("value")):
            yield "private-key", *match.span("value")


def _values_of(kind: str, pattern: re.Pattern[str]) -> Callable[[str], Iterator[tuple[str, int, int]]]:
    """A finder reporting each match's `value` group as `kind`."""

    def spans(text: str) -> Iterator[tuple[str, int, int]]:
        for match in pattern.finditer(text):
            yield kind, *match.span("value")

    return spans


# (gate, finder): the gate is a loose pattern that occurs wherever the finder can find something.
_FINDERS: tuple[tuple[str, Callable[[str], Iterator[tuple[str, int, int]]]], ...] = (
    (r"[A-Z][A-Z0-9_]*=", _env_spans),
    (r"(?:--(?:pass|token|api|secret|client|access|auth)|-p|-u|--user)", _flag_spans),
    (r"(?i)cookie", _cookie_spans),
    (r"(?:machine|default)\s.*\s(?:password|passwd)\s", _values_of("netrc-password", _NETRC)),
    (r"\"(?:auth|identitytoken|registrytoken)\"", _values_of("docker-auth", _DOCKER_AUTH)),
    (r"[A-Za-z0-9+/]{40}", _lone_key_lines),
)
_GATE = Prefilter([gate for gate, _ in _FINDERS])


def place_spans(text: str) -> Iterator[tuple[str, int, int]]:
    for index in sorted(_GATE.present(text)):
        yield from _FINDERS[index][1](text)
