"""Redaction measured over `../shared/corpus/secrets/`: each example secret of gitleaks put where a log
really carries one, and the ordinary lines that must come out unchanged.

`measure()` is shared by `tests/test_redact_corpus.py` (which holds the floors) and
`bench/redaction.py` (which prints the figures for the README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tools.redact import redact

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "secrets"

# Formats whose secret is a plain random string (hex, digits, or letters and digits with no marker of
# its own). gitleaks finds these only next to a keyword naming the service; the same shapes are git
# SHAs, digests, request ids and base64 payloads in ordinary lines, so bare they are not secrets by
# shape and the "bare" placement leaves them out. Next to a key, in an env dump and after Bearer they count.
UNMARKED_FORMATS = frozenset(
    {
        "adafruit-api-key", "adobe-client-id", "airtable-api-key", "algolia-api-key", "alibaba-secret-key",
        "asana-client-id", "asana-client-secret", "atlassian-api-token", "beamer-api-token",
        "bitbucket-client-id", "bitbucket-client-secret", "bittrex-access-key", "bittrex-secret-key",
        "cisco-meraki-api-key", "cloudflare-api-key", "cloudflare-global-api-key", "codecov-access-token",
        "cohere-api-token", "coinbase-access-token", "confluent-access-token", "confluent-secret-key",
        "contentful-delivery-api-token", "curl-auth-header", "curl-auth-user", "datadog-access-token",
        "discord-api-token", "discord-client-id", "discord-client-secret", "droneci-access-token",
        "dropbox-api-token", "etsy-access-token", "facebook-secret", "fastly-api-token", "finicity-api-token",
        "finicity-client-secret", "finnhub-access-token", "flickr-access-token", "freshbooks-access-token",
        "generic-api-key", "gitter-access-token", "heroku-api-key", "hubspot-api-key", "intercom-api-key",
        "jfrog-api-key", "jfrog-identity-token", "kraken-access-token", "kubernetes-secret-yaml",
        "kucoin-access-token", "kucoin-secret-key", "launchdarkly-access-token", "linear-client-secret",
        "linkedin-client-id", "linkedin-client-secret", "looker-client-id", "looker-client-secret",
        "mailchimp-api-key", "mailgun-signing-key", "mattermost-access-token", "messagebird-api-token",
        "messagebird-client-id", "netlify-access-token", "new-relic-user-api-id", "nytimes-access-token",
        "okta-access-token", "plaid-client-id", "plaid-secret-key", "privateai-api-token",
        "rapidapi-access-token", "sendbird-access-id", "sendbird-access-token", "sentry-access-token",
        "sidekiq-secret", "sidekiq-sensitive-url", "snyk-api-token", "squarespace-access-token",
        "sumologic-access-id", "sumologic-access-token", "travisci-access-token", "trello-access-token",
        "twitch-api-token", "twitter-access-secret", "twitter-api-key", "twitter-api-secret",
        "zendesk-secret-key",
    }
)  # fmt: skip


# Formats with a marker that some of gitleaks' examples lack (SonarQube's and Sourcegraph's older tokens).
MARKERS = {"sonar-api-token": ("sq",), "sourcegraph-access-token": ("sgp_",)}


@dataclass(frozen=True)
class Example:
    rule: str
    secret: str

    @property
    def marked(self) -> bool:
        if self.rule in UNMARKED_FORMATS:
            return False
        return self.secret.startswith(MARKERS.get(self.rule, ("",)))


def _env_name(rule: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", rule.upper()).strip("_")


# Where a log carries a secret. Each returns the line; the secret must vanish from redact(line).
PLACEMENTS: dict[str, list[Callable[[Example], str]]] = {
    "after a key": [
        lambda e: f'level=error msg="auth failed" token={e.secret} attempt=2',
        lambda e: json.dumps({"level": "error", "api_key": e.secret, "msg": "rejected"}),
    ],
    "env dump": [
        lambda e: f"{_env_name(e.rule)}={e.secret}",
        lambda e: f'declare -x {_env_name(e.rule)}="{e.secret}"',
    ],
    "Bearer": [
        lambda e: f'curl -sS -H "Authorization: Bearer {e.secret}" https://api.example.com/v1/me',
        lambda e: json.dumps({"headers": {"authorization": f"Bearer {e.secret}"}}),
    ],
    "bare": [
        lambda e: f"❌ request rejected for {e.secret} (401 Unauthorized)",
        lambda e: json.dumps({"type": "user", "content": [{"type": "tool_result", "content": e.secret}]}),
    ],
}


# Reported beside the placements, not held to a floor: see UNMARKED_FORMATS.
UNMARKED_BARE = "bare, unmarked formats"


@cache
def gitleaks_rows() -> list[dict]:
    return json.loads((CORPUS / "gitleaks_examples.json").read_text())


@cache
def ordinary_lines() -> list[str]:
    return json.loads((CORPUS / "ordinary-lines.json").read_text())


@cache
def detect_secrets_rows() -> list[dict]:
    return json.loads((CORPUS / "ds_examples.json").read_text())


def examples() -> list[Example]:
    seen: set[str] = set()
    found = []
    for row in gitleaks_rows():
        # curl's examples quote for the shell (`--user kevin:'pass'`): the credential is what the shell passes
        secret = (row.get("secret") or "").replace("'", "").replace('"', "")
        if row["rule"].endswith("webhook") and row.get("line"):  # the example's secret is a piece of the URL
            secret = row["line"]
        if row["kind"] == "tp" and secret and secret not in seen:
            seen.add(secret)
            found.append(Example(row["rule"], secret))
    return found


def _secret_part(secret: str) -> str:
    """What must not survive: a URL's path and query (its host may stay), a `user:pass` pair's password."""
    if match := re.match(r"(?:https?://)?[\w.-]+\.[a-z]+/[\w-]+/(.+)", secret):
        return match.group(1)
    if re.fullmatch(r"[\w.@-]+:\S+", secret):
        return secret.split(":", 1)[1]
    if match := re.fullmatch(r"_?[a-z_]+=(.+)", secret):
        return match.group(1)
    return secret


_MARKER = re.compile(r"\[REDACTED:[\w-]+\]")


def leaked(secret: str, line: str, output: str) -> str | None:
    """A piece (8 characters, or all of a shorter secret) of the secret still in the output and not
    explained by the line around it; None when the secret is wholly gone."""
    part = _secret_part(secret)
    width = min(8, len(part))
    context = line.replace(secret, "\x00")
    output = _MARKER.sub("\x00", output)
    for start in range(len(part) - width + 1):
        piece = part[start : start + width]
        if piece in output and piece not in context:
            return piece
    return None


@dataclass
class Placement:
    name: str
    total: int = 0
    removed: int = 0
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (rule, secret, line, piece)

    @property
    def recall(self) -> float:
        return self.removed / self.total if self.total else 1.0


@dataclass
class Figures:
    placements: dict[str, Placement]
    ordinary_total: int
    ordinary_changed: list[str]
    fp_total: int
    fp_changed: list[str]
    ds_flagged_total: int
    ds_flagged_caught: int
    ds_unflagged_total: int
    ds_unflagged_changed: int
    formats_total: int
    formats_bare: int


def measure(redactor: Callable[[str], str] = redact) -> Figures:
    placements = {name: Placement(name) for name in PLACEMENTS}
    all_examples = examples()
    placements[UNMARKED_BARE] = Placement(UNMARKED_BARE)
    for example in all_examples:
        for name, builders in PLACEMENTS.items():
            if name == "bare" and not example.marked:
                name = UNMARKED_BARE
            slot = placements[name]
            for build in builders:
                line = build(example)
                piece = leaked(example.secret, line, redactor(line))
                slot.total += 1
                if piece is None:
                    slot.removed += 1
                else:
                    slot.misses.append((example.rule, example.secret, line, piece))
    ordinary = ordinary_lines()
    fps = [row["line"] for row in gitleaks_rows() if row["kind"] == "fp"]
    ds = detect_secrets_rows()
    flagged = [row["line"] for row in ds if row["flag"]]
    unflagged = [row["line"] for row in ds if not row["flag"]]
    rules = {example.rule for example in all_examples}
    return Figures(
        placements=placements,
        ordinary_total=len(ordinary),
        ordinary_changed=[line for line in ordinary if redactor(line) != line],
        fp_total=len(fps),
        fp_changed=[line for line in fps if redactor(line) != line],
        ds_flagged_total=len(flagged),
        ds_flagged_caught=sum(redactor(line) != line for line in flagged),
        ds_unflagged_total=len(unflagged),
        ds_unflagged_changed=sum(redactor(line) != line for line in unflagged),
        formats_total=len(rules),
        formats_bare=len(rules - UNMARKED_FORMATS),
    )
