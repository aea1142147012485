"""Which findings share one cause (DESIGN §5): findings of different agents or pods, or different codes of
one agent, that name the same endpoint, the same missing tool or the same kind of credential within a
window become one incident, so one outage of the tools server is one issue that names every agent it hit.

Pure and deterministic: the keys come from the finding's own fields (redacted text, missing tools, the
agent record's reason), never from a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from graph.triage.models import Finding

# host:port as a URL's authority or a bare `host:port`; a port is 2-5 digits
_ENDPOINT = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*://)?\b((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z][a-z0-9-]*|\d{1,3}(?:\.\d{1,3}){3})"
    r":(\d{2,5})\b",
    re.IGNORECASE,
)
_CREDENTIAL_KINDS = (
    ("anthropic", re.compile(r"anthropic|claude|x-api-key|sk-ant", re.IGNORECASE)),
    ("openai", re.compile(r"openai|codex|sk-proj", re.IGNORECASE)),
    ("github", re.compile(r"github|\bgh[pousr]_|git push|git fetch", re.IGNORECASE)),
)
# Codes whose line names what failed; a generic error line naming a host is not enough to join
CONNECTIVITY_CODES = frozenset({"A12", "R2", "R3"})
CREDENTIAL_CODES = frozenset({"R5"})
TOOL_CODES = frozenset({"A10"})
DEFAULT_WINDOW_NS = 10 * 60 * 10**9


def cause_keys(finding: Finding, evidence: Sequence[str] = ()) -> frozenset[str]:
    """What the finding says its cause is, as keys two findings with one cause share. A connectivity
    failure that names no endpoint takes the endpoints of the lines around it: the CTO scripts print
    `→ Server URL: http://…:8080` on the line before `❌ Server unreachable`."""
    keys: set[str] = set()
    if finding.code in CONNECTIVITY_CODES or finding.code in TOOL_CODES:
        keys.update(_endpoints(finding.text))
        if not keys and finding.code in CONNECTIVITY_CODES:
            for line in evidence:
                keys.update(_endpoints(line))
    if finding.code in TOOL_CODES:
        keys.update(f"tool {tool.lower()}" for tool in finding.missing_tools)
    if finding.code in CREDENTIAL_CODES or finding.reason == "authentication":
        kinds = [kind for kind, pattern in _CREDENTIAL_KINDS if pattern.search(finding.text)]
        if kinds:
            keys.add(f"credential {kinds[0]}")
    return frozenset(keys)


def _endpoints(text: str) -> set[str]:
    return {
        f"endpoint {host.lower()}:{port}"
        for host, port in _ENDPOINT.findall(text)
        if not host.replace(".", "").isdigit() or host.count(".") == 3
    }


def joins(
    finding: Finding,
    keys: frozenset[str],
    at_ns: int,
    open_incidents: Mapping[str, Mapping[str, object]],
    *,
    window_ns: int = DEFAULT_WINDOW_NS,
) -> tuple[str, str] | None:
    """The open incident `finding` (with its `keys`) joins and the cause they share, or None.
    `open_incidents` maps each
    open incident's fingerprint to what it recorded: `keys` (its cause keys) and `opened_ns`. The oldest
    incident wins, so a group has one head however its findings arrive."""
    mine = keys
    if not mine:
        return None
    candidates: list[tuple[int, str, str]] = []
    for fingerprint, incident in open_incidents.items():
        if fingerprint == finding.fingerprint:
            continue
        shared = mine & set(_strings(incident.get("keys")))
        opened = incident.get("opened_ns")
        if shared and isinstance(opened, int) and abs(at_ns - opened) <= window_ns:
            candidates.append((opened, fingerprint, sorted(shared)[0]))
    if not candidates:
        return None
    _, fingerprint, key = min(candidates)
    return fingerprint, key


def _strings(value: object) -> Iterable[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
