"""The original Healer's `issue_type` of each of Healer's codes: the session API's detections carry the
original's value in `issue_type` (its readers know only those) and Healer's own code in `code`.

The table is the one place the mapping lives. A code it does not name (a new one) is `other` until it is
added here; `tests/test_api_contract.py` checks that every code of the catalogue is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

# The original's `IssueType` (crates/healer/src/play/session.rs), in its order, as serde spells it.
IssueType = Literal[
    "pre_flight_failure",
    "tool_mismatch",
    "config_error",
    "mcp_init_failed",
    "agent_error",
    "stuck",
    "agent_failure",
    "build_failure",
    "test_failure",
    "language_mismatch",
    "other",
]
ISSUE_TYPES: tuple[IssueType, ...] = get_args(IssueType)
UNKNOWN: IssueType = "other"

ISSUE_TYPE_OF_CODE: Mapping[str, IssueType] = MappingProxyType(
    {
        # pre-flight: what the original named after the same checks
        "A10": "tool_mismatch",  # tool inventory mismatch
        "A11": "config_error",  # CTO config not loaded
        "A12": "mcp_init_failed",  # MCP server init failure
        "L1": "pre_flight_failure",  # prompt template missing
        "L2": "pre_flight_failure",  # instructions not loaded
        "L3": "pre_flight_failure",  # role not set
        "L4": "pre_flight_failure",  # task details not injected
        # no progress
        "A3": "stuck",  # no commits for 15 min
        "A4": "stuck",  # approval loop: the play goes round without moving on
        "A8": "stuck",  # step past its timeout
        "A9": "stuck",  # CodeRun stuck
        # the agent's run ended without its work done
        "A2": "agent_failure",  # silent failure
        "A7": "agent_failure",  # pod failed / CrashLoop
        "R8": "agent_failure",  # agent run failed (the CLI or controller says so)
        # CI
        "A5": "build_failure",  # CI red after approval
        # errors in the agent's logs
        "R1": "agent_error",  # panic
        "R2": "agent_error",  # infrastructure
        "R3": "agent_error",  # retries exhausted
        "R4": "agent_error",  # filesystem permission
        "R5": "agent_error",  # authentication
        "R6": "agent_error",  # usage or credit limit reached
        "R7": "agent_error",  # context window exceeded
        "ERR": "agent_error",  # any other error line
        # the rest
        "A1": "other",  # predecessor's PR comment missing
    }
)


def issue_type_of(code: str) -> IssueType:
    """The original's `issue_type` for one of Healer's codes; `other` for a code the table does not name."""
    return ISSUE_TYPE_OF_CODE.get(code, UNKNOWN)
