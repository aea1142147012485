"""Lines that look like failures and are not (DESIGN §4.5).

Level-based noise (info/debug/trace/warn chatter) is decided in `classify.py` from `levels.py`; this module
holds the phrase rules that apply whatever the level: a benign line at `level=error` is still benign.
Each rule is named so a test (and a person) can see why a line was let through. Pre-flight codes (A10–A12)
are decided before these rules run: a pre-flight signal is never noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.triage.guarded import GuardedPatterns

_FLAGS = re.IGNORECASE | re.ASCII


@dataclass(frozen=True, slots=True)
class NoiseRule:
    name: str
    why: str
    patterns: tuple[str, ...]

    def matches(self, message: str) -> bool:
        return any(re.search(pattern, message, _FLAGS) for pattern in self.patterns)


def _rule(name: str, why: str, *patterns: str) -> NoiseRule:
    return NoiseRule(name, why, patterns)


NOISE_RULES: tuple[NoiseRule, ...] = (
    _rule(
        "empty-error-collection",
        "an empty list/map/zero of errors is a report that nothing failed",
        r"^[\s{\[,]*\"?[\w.-]*errors?[\w.-]*\"?(?:\s+count)?\s*[:=]\s*(?:\[\s*\]|\{\s*\}|0\b|null\b|none\b|nil\b)",
    ),
    _rule(
        "zero-error-count",
        "a summary counting zero errors or failures",
        r"\b(?:0|no|zero) (?:errors?|failures?|failed)\b(?! to)",
        r"\b(?:errors?|failures?|failed)\s*[:=]\s*0\b",
    ),
    _rule(
        "error-key-opens-object",
        "a JSON/YAML key that merely names errors, opening a nested object (runner feature flags, schemas)",
        r"^\s*\"?[\w.-]*errors?[\w.-]*\"?\s*:\s*\{\s*$",
    ),
    _rule(
        "retry-chatter",
        "a transient failure that is being retried; the final failure is what counts (R3)",
        r"\bwill retry\b",
        r"(?<!not )\bretrying\b",
        r"\bretryable error\b",
        r"\bretry(?:ing)? in \d",
    ),
    _rule(
        "command-registration",
        "the Actions runner registering its `error` command extension",
        r"register(?:ing)? (?:action )?command extension for command",
    ),
    _rule(
        "passing-test",
        "a passing test whose name contains a failure word (`rejects_unauthorized ... ok`)",
        r"\.\.\.\s+ok\s*$",
        r"^\s*(?:\u2713|\u2714|\u221a)",
        r"^\s*ok\s+\d+\s",
        r"(?-i:\bPASS(?:ED)?\b)",
        r"^---\s+PASS:",
        r"^===\s+RUN\b",
        r"test result: ok\b",
    ),
    _rule(
        "build-progress",
        "package manager and compiler progress lines (`Compiling timeout v0.3.1`)",
        r"^\s*(?:Compiling|Checking|Downloading|Downloaded|Fresh|Building|Finished\s+[`\[]?(?:dev|release|test)"
        r"|Installing|Installed"
        r"|Collecting|Resolving|Fetching|Unpacking|Setting up|Requirement already satisfied|Successfully"
        r" installed|added \d+ packages?|npm (?:http|timing|verb|info))\b",
    ),
    _rule(
        "bare-level-marker",
        "a wrapper's empty line at error level (`[2025-12-03T16:01:40Z] [ERROR] `): it says nothing",
        r"^\s*(?:\[[^\[\]\n]{1,40}\]\s*)+$",
    ),
    _rule(
        "argocd-unconfigured-trigger",
        "Argo CD notifications evaluating a trigger nobody configured",
        r"trigger '[^']*' is not configured",
    ),
    _rule(
        "kilo-link-not-found",
        "the kilo mesh agent polling for an interface that is not up yet; it recovers by itself",
        r"\"component\"\s*:\s*\"kilo\".*link not found",
        r"link not found.*\"component\"\s*:\s*\"kilo\"",
    ),
)

_ALL_RULES = GuardedPatterns((pattern for rule in NOISE_RULES for pattern in rule.patterns), _FLAGS)


def is_noise(message: str, lowered: str | None = None) -> bool:
    """True when `message` (unwrapped) is a known benign shape, whatever level it was logged at."""
    return _ALL_RULES.search(message, message.lower() if lowered is None else lowered) is not None


def noise_rule_for(message: str) -> NoiseRule | None:
    """The first rule that lets `message` through, for explanations and tests."""
    for rule in NOISE_RULES:
        if rule.matches(message):
            return rule
    return None
