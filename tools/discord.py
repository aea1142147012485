"""Discord webhook alerts (DESIGN §7): one embed per alert, rate limits honoured, secrets never sent.

The client sends what it is given; which findings deserve a page (P0/P1) is the notify node's decision,
helped by `deserves_alert`. Without a webhook URL, or with `enabled=False`, nothing is sent and the
result says so: a play without Discord still runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from tools.alerts import Alert, cut
from tools.fence import neutralised
from tools.redact import redact
from tools.retrying import GaveUp, retry_after_s, send_with_retries
from tools.webhooks import WebhookNotifier, WebhookRefused, WebhookUnavailable

log = logging.getLogger(__name__)

COLOURS = {"critical": 0xE74C3C, "high": 0xF39C12, "warning": 0xF39C12}
INFO_COLOUR = 0x3498DB
# Discord's embed limits
_TITLE, _DESCRIPTION, _FIELD = 256, 4096, 1024


class DiscordError(WebhookRefused):
    """Discord refused the message (4xx): an unknown webhook, a malformed embed."""

    channel = "Discord"


class DiscordUnavailable(WebhookUnavailable):
    """Discord could not be reached or kept failing after every retry."""


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    webhook_url: str | None = field(default=None, repr=False)  # the URL holds the webhook's token
    enabled: bool = True
    username: str = "Healer"
    timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 1.0


def embed(alert: Alert) -> dict[str, Any]:
    """The embed of DESIGN §7: title `HEAL Alert: <code>`, colour by severity, play/agent/code/issue fields."""
    fields = [
        {"name": "Play", "value": cut(alert.play_id, _FIELD), "inline": True},
        {"name": "Agent", "value": cut(alert.agent or "-", _FIELD), "inline": True},
        {"name": "Code", "value": f"{alert.code} ({alert.severity}, {alert.priority})", "inline": True},
    ]
    if alert.issue_url:
        fields.append({"name": "Issue", "value": cut(alert.issue_url, _FIELD), "inline": False})
    return {
        "title": cut(f"HEAL Alert: {alert.code}", _TITLE),
        "description": cut(neutralised(redact(alert.summary)), _DESCRIPTION),
        "color": COLOURS.get(alert.severity.lower(), INFO_COLOUR),
        "fields": fields,
    }


class DiscordNotifier(WebhookNotifier):
    system = "discord"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"username": self.config.username, "embeds": [embed(alert)], "allowed_mentions": {"parse": []}}

    async def _post(self, payload: dict[str, Any]) -> None:
        url = self.config.webhook_url
        assert url is not None

        def delay_s(attempt: int, response: httpx.Response | None) -> float:
            wait = _retry_after(response) if response is not None and response.status_code == 429 else None
            if response is not None:
                log.warning(
                    "discord: %s, retrying in %.1f s", response.status_code, wait or self.config.backoff_s
                )
            return wait if wait is not None else self.config.backoff_s * attempt

        try:
            response = await send_with_retries(
                lambda: self._http.post(url, params={"wait": "true"}, json=payload),
                max_retries=self.config.max_retries,
                delay_s=delay_s,
                sleep=self._sleep,
                retryable=lambda status: status == 429 or status >= 500,
            )
        except GaveUp as gave_up:
            if gave_up.response is None:
                raise DiscordUnavailable(f"Discord unreachable: {redact(str(gave_up.error))}") from None
            raise DiscordUnavailable(
                f"Discord answered {gave_up.response.status_code} {gave_up.attempts} times"
            ) from None
        if response.status_code >= 300:
            raise DiscordError(response.status_code, _message(response))


def _retry_after(response: httpx.Response) -> float | None:
    """Discord's 429 body says `retry_after` in seconds (a float); the header is the fallback."""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
            return min(float(body["retry_after"]), 300.0)
    except ValueError:
        pass
    return retry_after_s(response.headers, cap=300.0)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return redact(response.text.strip())[:300] or "(no message)"
    if isinstance(body, dict):
        return redact(str(body.get("message") or body))[:300]
    return redact(str(body))[:300]
