"""tools/discord.py over real HTTP on loopback: the embed, rate limits, errors, the off switch."""

from __future__ import annotations

import json

import pytest

from tests.http_harness import Reply, ScriptedServer, Sleeps
from tools.alerts import Alert, Delivery, deserves_alert
from tools.discord import DiscordConfig, DiscordError, DiscordNotifier, DiscordUnavailable, embed

pytestmark = pytest.mark.anyio

ALERT = Alert(
    code="R1",
    severity="critical",
    priority="P0",
    play_id="play-42",
    agent="blaze",
    summary="thread 'main' panicked at src/render.rs:88:14",
    issue_url="https://github.com/5dlabs/cto-parallel-test/issues/7",
)
MESSAGE = {"id": "1", "type": 0, "content": "", "channel_id": "2", "embeds": []}


def notifier(server: ScriptedServer, sleeps: Sleeps | None = None, **config: object) -> DiscordNotifier:
    settings = {"webhook_url": f"{server.url}/api/webhooks/123/tok", "backoff_s": 0.01, **config}
    return DiscordNotifier(DiscordConfig(**settings), sleep=sleeps if sleeps is not None else Sleeps())  # type: ignore[arg-type]


def test_embed_follows_the_design() -> None:
    card = embed(ALERT)
    assert card["title"] == "HEAL Alert: R1" and card["color"] == 0xE74C3C
    assert {f["name"]: f["value"] for f in card["fields"]} == {
        "Play": "play-42",
        "Agent": "blaze",
        "Code": "R1 (critical, P0)",
        "Issue": ALERT.issue_url,
    }
    assert embed(ALERT.model_copy(update={"severity": "high"}))["color"] == 0xF39C12
    assert embed(ALERT.model_copy(update={"severity": "medium"}))["color"] == 0x3498DB
    assert deserves_alert("P0") and deserves_alert("p1") and not deserves_alert("P2")


def test_embed_redacts_and_fits_discords_limits() -> None:
    token = "gh" + "p_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    card = embed(ALERT.model_copy(update={"summary": f"push failed with {token} " + "x" * 5000}))
    assert token not in card["description"] and "[REDACTED:github-token]" in card["description"]
    assert len(card["description"]) == 4096


async def test_sends_one_embed_and_waits_for_the_message() -> None:
    with ScriptedServer([Reply(200, MESSAGE)]) as server:
        async with notifier(server) as discord:
            assert await discord.send(ALERT) is Delivery.SENT
    [request] = server.seen
    assert request.method == "POST" and request.path == "/api/webhooks/123/tok?wait=true"
    body = json.loads(request.body)
    assert body["embeds"] == [embed(ALERT)] and body["allowed_mentions"] == {"parse": []}


async def test_429_waits_retry_after_from_the_body() -> None:
    sleeps = Sleeps()
    limited = {"message": "You are being rate limited.", "retry_after": 0.64, "global": False}
    with ScriptedServer([Reply(429, limited, {"Retry-After": "1"}), Reply(200, MESSAGE)]) as server:
        async with notifier(server, sleeps) as discord:
            assert await discord.send(ALERT) is Delivery.SENT
    assert sleeps == [0.64] and len(server.seen) == 2


async def test_5xx_then_success_and_5xx_forever() -> None:
    with ScriptedServer([Reply(502, "bad gateway"), Reply(200, MESSAGE)]) as server:
        async with notifier(server) as discord:
            assert await discord.send(ALERT) is Delivery.SENT
    with ScriptedServer([Reply(503, "unavailable")]) as server:
        async with notifier(server, max_retries=2) as discord:
            with pytest.raises(DiscordUnavailable, match="503 3 times"):
                await discord.send(ALERT)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (404, {"message": "Unknown Webhook", "code": 10015}, "Unknown Webhook"),
        (401, {"message": "Invalid Webhook Token", "code": 50027}, "Invalid Webhook Token"),
        (400, {"embeds": ["0"], "message": "Invalid Form Body"}, "Invalid Form Body"),
    ],
)
async def test_client_errors_are_not_retried(status: int, body: dict[str, object], message: str) -> None:
    with ScriptedServer([Reply(status, body)]) as server:
        async with notifier(server) as discord:
            with pytest.raises(DiscordError, match=message) as raised:
                await discord.send(ALERT)
    assert raised.value.status == status and len(server.seen) == 1


async def test_disabled_or_unconfigured_sends_nothing() -> None:
    with ScriptedServer([Reply(200, MESSAGE)]) as server:
        async with notifier(server, enabled=False) as discord:
            assert await discord.send(ALERT) is Delivery.DISABLED
        async with DiscordNotifier(DiscordConfig(webhook_url=None)) as discord:
            assert await discord.send(ALERT) is Delivery.DISABLED
    assert server.seen == []


def test_the_webhook_token_is_not_in_the_config_repr() -> None:
    assert "tok" not in repr(DiscordConfig(webhook_url="https://discord.com/api/webhooks/1/tok"))


async def test_an_unreachable_discord_is_reported_without_the_token() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = DiscordConfig(webhook_url=f"http://127.0.0.1:{port}/api/webhooks/1/secret-token", max_retries=1)
    async with DiscordNotifier(config, sleep=Sleeps()) as discord:
        with pytest.raises(DiscordUnavailable) as raised:
            await discord.send(ALERT)
    assert "secret-token" not in str(raised.value)


async def test_a_slow_discord_times_out_and_is_retried() -> None:
    with ScriptedServer([Reply(200, MESSAGE, delay_s=1.0)]) as server:
        async with notifier(server, timeout_s=0.2, max_retries=1) as discord:
            with pytest.raises(DiscordUnavailable, match="unreachable"):
                await discord.send(ALERT)
    assert len(server.seen) == 2
