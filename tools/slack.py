"""Slack incoming-webhook alerts, beside Discord's (same alerts, same rules: the notify node decides).

One Block Kit message per alert: a header `HEAL Alert: <code>`, the summary, the play, agent and code as
fields, the issue as a link, and a `text` fallback for notifications. Slack answers `200 ok` in plain text,
or a status with an error name in the body (`invalid_payload`, `no_service`, `channel_is_archived`, …);
429 carries `Retry-After`. Text is escaped as Slack asks (`&`, `<`, `>`), so a log line cannot mention
`<!channel>` or forge a link. Without a webhook URL, or with `enabled=False`, nothing is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from tools.alerts import Alert, cut
from tools.redact import redact
from tools.retrying import GaveUp, retry_after_s, send_with_retries
from tools.webhooks import WebhookNotifier, WebhookRefused, WebhookUnavailable

log = logging.getLogger(__name__)

# Block Kit's limits
_HEADER, _SECTION, _FIELD, _FALLBACK = 150, 3000, 2000, 4000


class SlackError(WebhookRefused):
    """Slack refused the message (4xx): a bad payload, a removed webhook, an archived channel."""

    channel = "Slack"


class SlackUnavailable(WebhookUnavailable):
    """Slack could not be reached or kept failing after every retry."""


@dataclass(frozen=True, slots=True)
class SlackConfig:
    webhook_url: str | None = field(default=None, repr=False)  # the URL is the webhook's secret
    enabled: bool = True
    timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 1.0


def escaped(text: str) -> str:
    """Slack's mrkdwn escaping: `<!channel>`, `<@U…>` and `<url|label>` only exist between angle brackets."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(alert: Alert) -> dict[str, Any]:
    summary = escaped(redact(alert.summary))
    fields = [
        ("Play", alert.play_id),
        ("Agent", alert.agent or "-"),
        ("Code", f"{alert.code} ({alert.severity}, {alert.priority})"),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(f"HEAL Alert: {alert.code}", _HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(summary, _SECTION)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": cut(f"*{name}*\n{escaped(value)}", _FIELD)}
                for name, value in fields
            ],
        },
    ]
    if alert.issue_url:
        link = f"<{escaped(alert.issue_url)}|GitHub issue>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(link, _SECTION)}})
    fallback = (
        f"HEAL Alert: {alert.code} ({alert.severity}, {alert.priority}), play {alert.play_id}: {summary}"
    )
    return {"text": cut(fallback, _FALLBACK), "blocks": blocks}


class SlackNotifier(WebhookNotifier):
    system = "slack"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return message(alert)

    async def _post(self, payload: dict[str, Any]) -> None:
        url = self.config.webhook_url
        assert url is not None

        def delay_s(attempt: int, response: httpx.Response | None) -> float:
            wait = retry_after_s(response.headers, cap=300.0) if response is not None else None
            if response is not None:
                log.warning(
                    "slack: %s, retrying in %.1f s", response.status_code, wait or self.config.backoff_s
                )
            return wait if wait is not None else self.config.backoff_s * attempt

        try:
            response = await send_with_retries(
                lambda: self._http.post(url, json=payload),
                max_retries=self.config.max_retries,
                delay_s=delay_s,
                sleep=self._sleep,
                retryable=lambda status: status == 429 or status >= 500,
            )
        except GaveUp as gave_up:
            if gave_up.response is None:
                raise SlackUnavailable(f"Slack unreachable: {redact(str(gave_up.error))}") from None
            status, why = gave_up.response.status_code, _reason(gave_up.response)
            raise SlackUnavailable(f"Slack answered {status} {gave_up.attempts} times: {why}") from None
        if response.status_code >= 300:
            raise SlackError(response.status_code, _reason(response))


def _reason(response: httpx.Response) -> str:
    return redact(response.text.strip())[:300] or "(no message)"
