"""What Discord's and Slack's notifiers share: a webhook, an HTTP client, an off switch, one timed send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Self

import httpx

from tools.alerts import Alert, Delivery
from tools.calls import timed
from tools.tls import client_tls


class WebhookRefused(Exception):
    """The channel refused the message (4xx): `channel` names it in the message."""

    channel = "the webhook"

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(f"{self.channel} answered {status}: {message}")


class WebhookUnavailable(Exception):
    """The channel could not be reached or kept failing after every retry."""


class WebhookNotifier:
    """A channel's notifier: `system` names it in the metrics; `payload` and `_post` are the channel's."""

    system = "webhook"

    def __init__(
        self,
        config: Any,  # a DiscordConfig or SlackConfig: webhook_url, enabled, timeout_s, …
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._http = httpx.AsyncClient(timeout=config.timeout_s, transport=transport, verify=client_tls())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    @property
    def enabled(self) -> bool:
        return self.config.enabled and bool(self.config.webhook_url)

    async def send(self, alert: Alert) -> Delivery:
        """The alert on the channel; `DISABLED` (nothing sent) without a webhook or when switched off."""
        if not self.enabled:
            return Delivery.DISABLED
        with timed(self.system):
            await self._post(self.payload(alert))
        return Delivery.SENT

    def payload(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    async def _post(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError
