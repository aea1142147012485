"""What an alert says, whatever channel carries it (Discord, Slack), and which findings deserve one."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

ALERT_PRIORITIES = frozenset({"P0", "P1"})


class Alert(BaseModel):
    code: str
    severity: str
    priority: str
    play_id: str
    agent: str | None = None
    summary: str
    issue_url: str | None = None


class Delivery(StrEnum):
    SENT = "sent"
    DISABLED = "disabled"


def deserves_alert(priority: str) -> bool:
    return priority.upper() in ALERT_PRIORITIES


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
