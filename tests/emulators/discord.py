"""A Discord webhook emulator, to record cassettes of Healer's alerts.

Answers `POST /api/webhooks/<id>/<token>` (also under `/api/v<n>/`) as Discord's Execute Webhook does:
with `?wait=true` 200 and the created message object (the shape Discord documents: snowflake ids, the
webhook as author, embeds as `rich`), otherwise 204 with no body. An unknown webhook is 404 `Unknown
Webhook` (10015), a wrong token 401 `Invalid Webhook Token` (50027), a body that is not JSON 400 (50109),
an empty message 400 (50006), an embed over Discord's limits 400 `Invalid Form Body` (50035).

Bodies depend only on what was sent, in which order, and the optional `clock`; never on the port.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.http_harness import Loopback

WEBHOOK_ID, WEBHOOK_TOKEN = "123456789012345678", "emulated-token"
CHANNEL_ID, GUILD_ID = "1180000000000000001", "1180000000000000000"
DISCORD_EPOCH_MS = 1_420_070_400_000
START_NS = int(datetime(2026, 11, 20, 14, 30, tzinfo=UTC).timestamp()) * 10**9  # without a clock, 1 s apart
_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)")
_LIMITS = {"title": 256, "description": 4096}
_FIELD_LIMITS = {"name": 256, "value": 1024}


class DiscordEmulator(Loopback):
    def __init__(self, *, clock: Callable[[], int] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self._clock = clock
        self._lock = threading.Lock()
        self.url = f"{self._bind(_handler(self))}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """Status and JSON body (None: no body) of one request."""
        url = urlsplit(path)
        route = _PATH.fullmatch(url.path)
        if not route:
            return 404, {"message": "404: Not Found", "code": 0}
        if route["id"] != WEBHOOK_ID:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        if route["token"] != WEBHOOK_TOKEN:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}
        if method != "POST":
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"message": "The request body contains invalid JSON.", "code": 50109}
        if not isinstance(payload, dict):
            return 400, {"message": "The request body contains invalid JSON.", "code": 50109}
        if not (payload.get("content") or payload.get("embeds") or payload.get("components")):
            return 400, {"message": "Cannot send an empty message", "code": 50006}
        if errors := _form_errors(payload):
            return 400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"}
        with self._lock:
            self.messages.append(payload)
            index = len(self.messages)
        wait = parse_qs(url.query).get("wait", ["false"])[-1].lower() in ("true", "1")
        return (200, self._message(payload, index)) if wait else (204, None)

    def now_ns(self, index: int) -> int:
        return self._clock() if self._clock else START_NS + (index - 1) * 10**9

    def _message(self, payload: dict[str, Any], index: int) -> dict[str, Any]:
        """The message object Discord answers with, as its API documentation describes it."""
        now = self.now_ns(index)
        snowflake = ((now // 10**6 - DISCORD_EPOCH_MS) << 22) | (1 << 17) | (index % 4096)
        at = datetime.fromtimestamp(now // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        author = {
            "id": WEBHOOK_ID,
            "username": payload.get("username") or "Healer Alerts",
            "avatar": None,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
        }
        return {
            "type": 0,
            "content": payload.get("content") or "",
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [_embed(embed) for embed in payload.get("embeds") or []],
            "timestamp": f"{at}.{now // 1000 % 10**6:06d}+00:00",
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "id": str(snowflake),
            "channel_id": CHANNEL_ID,
            "author": author,
            "pinned": False,
            "mention_everyone": False,
            "tts": bool(payload.get("tts")),
            "webhook_id": WEBHOOK_ID,
        }


def _embed(embed: dict[str, Any]) -> dict[str, Any]:
    """An embed as Discord returns it: typed `rich`, each field's `inline` spelled out."""
    shown: dict[str, Any] = {"type": "rich", **{k: v for k, v in embed.items() if k != "type"}}
    if "fields" in shown:
        shown["fields"] = [
            {"name": f["name"], "value": f["value"], "inline": bool(f.get("inline"))} for f in shown["fields"]
        ]
    return shown


def _form_errors(payload: dict[str, Any]) -> dict[str, Any]:
    """Discord's `Invalid Form Body` errors for what Healer could exceed: lengths and counts."""

    def too_long(limit: int) -> dict[str, Any]:
        return {
            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]
        }

    errors: dict[str, Any] = {}
    if len(payload.get("content") or "") > 2000:
        errors["content"] = too_long(2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = too_long(10)
    for number, embed in enumerate(embeds[:10]):
        found = {
            key: too_long(limit) for key, limit in _LIMITS.items() if len(str(embed.get(key) or "")) > limit
        }
        fields = embed.get("fields") or []
        if len(fields) > 25:
            found["fields"] = too_long(25)
        for field_number, field in enumerate(fields[:25]):
            wrong = {k: too_long(n) for k, n in _FIELD_LIMITS.items() if len(str(field.get(k) or "")) > n}
            if wrong:
                found.setdefault("fields", {})[str(field_number)] = wrong
        if found:
            errors.setdefault("embeds", {})[str(number)] = found
    return errors


def _handler(emulator: DiscordEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            emulator.requests.append((self.command, self.path))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, reply = emulator.answer(self.command, self.path, body)
            now = datetime.fromtimestamp(emulator.now_ns(len(emulator.messages) or 1) // 10**9, UTC)
            self.send_response_only(status)
            self.send_header("Date", now.strftime("%a, %d %b %Y %H:%M:%S GMT"))
            if reply is None:
                self.end_headers()
                return
            data = json.dumps(reply).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *_args: object) -> None:
            pass

    return Handler
