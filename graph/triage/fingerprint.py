"""Deterministic finding fingerprints (DESIGN §5).

A fingerprint names one problem, so the same failure logged again (another timestamp, another retry count,
another pod of the same workload) maps to the same GitHub issue. It is built from the play, the agent (or the
pod's workload family), the code and the message with everything that varies between occurrences
normalised away. It never contains LLM text.
"""

from __future__ import annotations

import hashlib
import re

FINGERPRINT_CHARS = 300
# Order matters: whole shapes (timestamps, UUIDs) go before the digit runs they contain. Shapes with the
# same placeholder share one pattern: a fingerprint is computed for every finding, so fewer passes pay.
_VARIABLE_PARTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile("|".join(patterns), re.IGNORECASE | re.ASCII), replacement)
    for patterns, replacement in (
        (
            (
                r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?",
                r"\b[IWEFD]\d{4} \d\d:\d\d:\d\d(?:\.\d+)?",
                r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b",
            ),
            "<ts>",
        ),
        (
            (
                r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                r"\b0x[0-9a-f]+\b",
                r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b",
            ),
            "<hex>",
        ),
        # Kubernetes generated suffixes: ReplicaSet hash and pod suffix (no vowels, digits 2-9)
        (
            (
                r"-[0-9a-f]{8,10}-[bcdfghjklmnpqrstvwxz2-9]{5}\b",
                r"-(?=[bcdfghjklmnpqrstvwxz2-9]*\d)[bcdfghjklmnpqrstvwxz2-9]{5}\b",
            ),
            "-<pod>",
        ),
        ((r"\d+(?:\.\d+)*",), "<n>"),
        ((r"\s+",), " "),
    )
)

_POD_SUFFIX = re.compile(r"(?:-[0-9a-f]{8,10})?-[bcdfghjklmnpqrstvwxz2-9]{5}$")


def normalise(message: str) -> str:
    """The start of `message` with timestamps, ids, hashes and numbers replaced by placeholders.

    Give it redacted text, so a rotated token does not change the fingerprint. Only the first
    `FINGERPRINT_CHARS` count: that is where a failure says what it is; payloads after it vary.
    """
    text = message[:FINGERPRINT_CHARS].lower()
    for pattern, replacement in _VARIABLE_PARTS:
        text = pattern.sub(replacement, text)
    return text.strip()


def workload_family(pod: str) -> str:
    """The pod's workload: its name without the generated ReplicaSet/Job suffixes."""
    return _POD_SUFFIX.sub("", pod)


def fingerprint(play_id: str, agent: str, code: str, key: str) -> str:
    """16 hex characters naming (play, agent, code, key); `key` is a normalised message or a named kind."""
    material = "\x1f".join((play_id, agent.lower(), code.upper(), key))
    return hashlib.sha256(material.encode()).hexdigest()[:16]
