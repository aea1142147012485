"""Redaction over `../shared/corpus/secrets/` (figures in the README, printed by `bench/redaction.py`),
and the placements an attacker's probe found leaking, one test each.

Secrets below are assembled from harmless pieces so that this file holds nothing credential-shaped.
"""

from __future__ import annotations

import re

import pytest

from tests.secrets_corpus import PLACEMENTS, UNMARKED_BARE, examples, leaked, measure
from tools.redact import find_secrets, redact

FLOOR = 0.95


@pytest.fixture(scope="module")
def figures():
    return measure()


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_each_placement_removes_whole_secrets(figures, placement: str) -> None:
    slot = figures.placements[placement]
    assert slot.total > 500
    assert slot.recall >= FLOOR, slot.misses[:5]


def test_unmarked_formats_are_measured_bare_too(figures) -> None:
    """Random strings without a marker are not secrets by shape; the figure is reported, not held."""
    slot = figures.placements[UNMARKED_BARE]
    assert slot.total > 100
    assert slot.removed < slot.total


def test_no_secret_is_partly_removed(figures) -> None:
    """A redaction that touched a secret took all of it: no prefix or suffix is left behind."""
    partial = [
        (rule, line)
        for slot in figures.placements.values()
        for rule, secret, line, _ in slot.misses
        if _touched(secret, line)
    ]
    assert partial == []


def _touched(secret: str, line: str) -> bool:
    start = line.find(secret)
    if start < 0:
        return False
    end = start + len(secret)
    return any(begin < end and finish > start for _, begin, finish in find_secrets(line))


def test_ordinary_lines_are_unchanged(figures) -> None:
    assert figures.ordinary_total == 200
    assert figures.ordinary_changed == []


def test_leak_check_sees_a_kept_suffix() -> None:
    secret = "glpat-" + "Ab3dEf6hIj9kLm2nOp5q" + ".01.abcd12345"
    line = f"token {secret} rejected"
    assert leaked(secret, line, line.replace(secret[:-9], "[REDACTED:gitlab-token]")) is not None
    assert leaked(secret, line, line.replace(secret, "[REDACTED:gitlab-token]")) is None


SECRET = "S3cret" + "T0kenValue123"
WORD = "Zq8" + "xW2" + "vR7tY4uP1s"


def _gone(text: str, *secrets: str) -> str:
    result = redact(text)
    for secret in secrets:
        assert secret not in result, result
    return result


def test_a_harmless_key_does_not_hide_the_next_secret() -> None:
    assert redact(f"GET /x?key=abc&token={SECRET}") == "GET /x?key=abc&token=[REDACTED:generic-secret]"


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOi" + "%2B" + "ZmFrZQ" + "%3D%3D" + WORD * 3,  # URL-encoded characters
        "1234567890" + "12345|" + WORD + "AbCdEfGhIjKl" + "mn",  # Facebook app id|secret
        "user:" + WORD + "=" + WORD,
    ],
)
def test_bearer_value_is_removed_whole(value: str) -> None:
    result = _gone(f'curl -H "Authorization: Bearer {value}" https://x', value, WORD)
    assert result == 'curl -H "Authorization: Bearer [REDACTED:bearer-token]" https://x'


def test_url_encoded_bearer_scheme() -> None:
    _gone(f"GET /cb?auth=Bearer%20{WORD}{WORD}", WORD)


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY_PROD",
        "GH_PAT",
        "NPM_AUTH",
        "SENTRY_DSN",
        "SLACK_WEBHOOK_URL",
        "DB_PASS",
        "MY_CLIENT_ID",
    ],
)
def test_env_names_that_hold_secrets(name: str) -> None:
    value = "https://" + WORD + "@o1.ingest.example.io/42" if name.endswith(("DSN", "URL")) else WORD
    assert re.fullmatch(rf"{name}=\[REDACTED:[\w-]+\]", redact(f"{name}={value}"))
    assert re.fullmatch(rf'declare -x {name}="\[REDACTED:[\w-]+\]"', redact(f'declare -x {name}="{value}"'))


def test_env_names_that_hold_no_secret_are_kept() -> None:
    line = "PWD=/home/runner HOME=/root TOKEN_FILE=/var/run/token KEY_NAME=deploy DB_PASS=${DB_PASS}"
    assert redact(line) == line


@pytest.mark.parametrize(
    "url, secret",
    [
        ("https://acme.webhook.office.com/", "webhookb2/a1b2c3d4-" + WORD + "@e5f6/IncomingWebhook/" + WORD),
        ("https://chat.acme.io/hooks/", "x7k2p9q4" + "w8e3r6t1y5u0i2"[:10] + "abcdefgh"),
        ("https://api.telegram.org/bot", "123456789:" + "AA" + WORD + WORD + "abcd"),
    ],
)
def test_webhook_urls_lose_their_secret(url: str, secret: str) -> None:
    result = _gone(f"POST {url}{secret} -> 200", secret)
    assert result.startswith(f"POST {url}[REDACTED:")


def test_gitlab_routable_token_keeps_no_suffix() -> None:
    token = "glpat-" + WORD + "AbCdEfGhIjKlMn" + ".01." + "x1y2z3w4v"
    assert redact(f"token {token} ok") == "token [REDACTED:gitlab-token] ok"


def test_private_key_body_line_shipped_on_its_own() -> None:
    body = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "BKcwggSjAgEAAoIBAQC7" + WORD)[:64]
    assert redact(body) == "[REDACTED:private-key]"
    assert redact("  " + body[:60] + "==") == "  [REDACTED:private-key]"


@pytest.mark.parametrize(
    "line, secret",
    [
        (f"mysql -u root -p{WORD} -h db", WORD),
        (f"docker login -u bot -p {WORD} ghcr.io", WORD),
        (f"vault login --password {WORD}", WORD),
        (f"gh auth --token={WORD}", WORD),
        (f"helm repo add x https://x --token '{WORD}'", WORD),
        (f"curl -u deploy:{WORD} https://x", WORD),
        (f"curl --user 'deploy:{WORD}' https://x", WORD),
        (f"Cookie: theme=dark; session_id={WORD}; csrftoken={WORD[::-1]}", WORD),
        (f"Set-Cookie: sid={WORD}; Path=/; HttpOnly", WORD),
        ('{"auths": {"ghcr.io": {"auth": "' + "ZGVwbG95Oj" + WORD + '"}}}', WORD),
        (f"machine github.com login bot password {WORD}", WORD),
    ],
)
def test_command_flags_cookies_docker_and_netrc(line: str, secret: str) -> None:
    _gone(line, secret)


def test_flags_without_secrets_are_kept() -> None:
    line = "grep -p pattern file; ls -la; curl -u $USER:$TOKEN https://x; kubectl logs -p pod"
    assert redact(line) == "grep -p pattern file; ls -la; curl -u $USER:$TOKEN https://x; kubectl logs -p pod"


@pytest.mark.parametrize(
    "token",
    [
        "SG." + WORD + "abcdefghij12" + "." + WORD * 3 + "abc",
        "gsk_" + WORD * 4,
        "hvs." + WORD * 3,
        "sntrys_" + "eyJpYXQiOjE2" + WORD * 4,
        "shpat_" + "0123456789abcdef" * 2,
        "dop_v1_" + "0123456789abcdef" * 4,
        "123456789:" + "AA" + WORD * 2 + "x",
    ],
)
def test_marked_tokens_are_found_bare_in_prose_and_json(token: str) -> None:
    _gone(f"the agent printed {token} in its output", token)
    _gone('{"type":"user","content":"' + token + '"}', token)


def test_redacting_twice_changes_nothing_more() -> None:
    for example in examples()[::3]:
        for builders in PLACEMENTS.values():
            for build in builders:
                once = redact(build(example))
                assert redact(once) == once, once
