"""tools/slack.py over real HTTP on loopback, as tests/test_discord.py tests Discord: the message, rate
limits, errors, the off switch, and what a log line may not do in Slack (mention, link)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.http_harness import Reply, ScriptedServer, Sleeps
from tools.alerts import Alert, Delivery
from tools.slack import SlackConfig, SlackError, SlackNotifier, SlackUnavailable, message

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
PATH = "/services/T0001/B0002/webhooksecret"


def notifier(server: ScriptedServer, sleeps: Sleeps | None = None, **config: object) -> SlackNotifier:
    settings = {"webhook_url": f"{server.url}{PATH}", "backoff_s": 0.01, **config}
    return SlackNotifier(SlackConfig(**settings), sleep=sleeps if sleeps is not None else Sleeps())  # type: ignore[arg-type]


def test_the_message_carries_what_discords_embed_does() -> None:
    body = message(ALERT)
    header, summary, fields, issue = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "HEAL Alert: R1"}
    assert summary["text"]["text"] == "thread 'main' panicked at src/render.rs:88:14"
    assert [f["text"] for f in fields["fields"]] == [
        "*Play*\nplay-42",
        "*Agent*\nblaze",
        "*Code*\nR1 (critical, P0)",
    ]
    assert issue["text"]["text"] == "<https://github.com/5dlabs/cto-parallel-test/issues/7|GitHub issue>"
    assert body["text"].startswith("HEAL Alert: R1 (critical, P0), play play-42: thread 'main' panicked")


def test_a_log_line_cannot_mention_link_or_leak_and_the_message_fits_slacks_limits() -> None:
    token = "gh" + "p_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    hostile = f"<!channel> see <https://evil.example|the fix> & push with {token} " + "x" * 5000
    body = message(ALERT.model_copy(update={"summary": hostile}))
    text = body["blocks"][1]["text"]["text"]
    assert text.startswith("&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; push with ")
    assert token not in json.dumps(body) and "[REDACTED:github-token]" in text
    assert len(text) == 3000 and len(body["text"]) == 4000


async def test_sends_one_message_to_the_webhook() -> None:
    with ScriptedServer([Reply(200, "ok")]) as server:
        async with notifier(server) as slack:
            assert await slack.send(ALERT) is Delivery.SENT
    [request] = server.seen
    assert request.method == "POST" and request.path == PATH
    assert json.loads(request.body) == message(ALERT)


async def test_429_waits_retry_after() -> None:
    sleeps = Sleeps()
    with ScriptedServer([Reply(429, "rate_limited", {"Retry-After": "2"}), Reply(200, "ok")]) as server:
        async with notifier(server, sleeps) as slack:
            assert await slack.send(ALERT) is Delivery.SENT
    assert sleeps == [2.0] and len(server.seen) == 2


async def test_5xx_then_success_and_5xx_forever() -> None:
    with ScriptedServer([Reply(500, "rollup_error"), Reply(200, "ok")]) as server:
        async with notifier(server) as slack:
            assert await slack.send(ALERT) is Delivery.SENT
    with ScriptedServer([Reply(503, "service_unavailable")]) as server:
        async with notifier(server, max_retries=2) as slack:
            with pytest.raises(SlackUnavailable, match="503 3 times: service_unavailable"):
                await slack.send(ALERT)


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "invalid_payload"), (403, "action_prohibited"), (404, "no_service"), (410, "channel_is_archived")],
)
async def test_client_errors_are_not_retried(status: int, body: str) -> None:
    with ScriptedServer([Reply(status, body)]) as server:
        async with notifier(server) as slack:
            with pytest.raises(SlackError, match=body) as raised:
                await slack.send(ALERT)
    assert raised.value.status == status and len(server.seen) == 1


async def test_disabled_or_unconfigured_sends_nothing() -> None:
    with ScriptedServer([Reply(200, "ok")]) as server:
        async with notifier(server, enabled=False) as slack:
            assert await slack.send(ALERT) is Delivery.DISABLED
        async with SlackNotifier(SlackConfig(webhook_url=None)) as slack:
            assert await slack.send(ALERT) is Delivery.DISABLED
    assert server.seen == []


def test_the_webhook_is_not_in_the_config_repr() -> None:
    assert "webhooksecret" not in repr(SlackConfig(webhook_url=f"https://hooks.slack.com{PATH}"))


async def test_an_unreachable_slack_is_reported_without_the_webhook() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SlackConfig(webhook_url=f"http://127.0.0.1:{port}{PATH}", max_retries=1)
    async with SlackNotifier(config, sleep=Sleeps()) as slack:
        with pytest.raises(SlackUnavailable) as raised:
            await slack.send(ALERT)
    assert "webhooksecret" not in str(raised.value)


async def test_a_slow_slack_times_out_and_is_retried() -> None:
    with ScriptedServer([Reply(200, "ok", delay_s=1.0)]) as server:
        async with notifier(server, timeout_s=0.2, max_retries=1) as slack:
            with pytest.raises(SlackUnavailable, match="unreachable"):
                await slack.send(ALERT)
    assert len(server.seen) == 2


async def test_the_notify_node_alerts_every_configured_channel_and_notes_each_outcome() -> None:
    from graph.config import settings_from
    from graph.context import HealerContext
    from graph.nodes.notify import send_alert
    from tools.discord import DiscordConfig, DiscordNotifier

    with (
        ScriptedServer([Reply(200, "ok")]) as slack_server,
        ScriptedServer([Reply(404, {"message": "Unknown Webhook", "code": 10015})]) as discord_server,
    ):
        async with (
            notifier(slack_server) as slack,
            DiscordNotifier(DiscordConfig(webhook_url=f"{discord_server.url}/api/webhooks/1/t")) as discord,
        ):
            both = HealerContext(settings=settings_from({}), slack=slack, discord=discord)
            sent = await send_alert(both, ALERT, 7, "HEAL Alert: R1 (P0)")
            alone = await send_alert(HealerContext(settings=settings_from({})), ALERT, 8, "escalation")
    assert [(e["event"], e["detail"]) for e in sent["timeline"]] == [
        ("notification failed", "Discord answered 404: Unknown Webhook"),
        ("notified", "Slack: HEAL Alert: R1 (P0)"),
    ]
    assert alone["timeline"] == [
        {"at_ns": 8, "event": "not notified", "detail": "neither Discord nor Slack is configured"}
    ]
    assert json.loads(slack_server.seen[0].body) == message(ALERT)
