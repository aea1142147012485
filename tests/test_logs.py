"""Healer's own logs are JSON lines with secrets redacted (DESIGN §9)."""

from __future__ import annotations

import json
import logging

from api.logs import JsonFormatter

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_a_log_line_is_json_and_carries_no_secret() -> None:
    record = logging.LogRecord(
        "healer.api", logging.WARNING, __file__, 1, "push failed with %s", (TOKEN,), None
    )
    record.play_id = "play-42"
    record.url = f"https://x-access-token:{TOKEN}@github.com/5dlabs/cto.git"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "healer.api" and entry["play_id"] == "play-42"
    assert TOKEN not in line and "[REDACTED:" in entry["message"] and "[REDACTED:" in entry["url"]


class _Failure(Exception):
    pass


def test_structured_extras_are_redacted_at_every_depth() -> None:
    record = logging.LogRecord("healer.graph", logging.ERROR, __file__, 1, "write failed", (), None)
    record.request = {"headers": {"authorization": f"token {TOKEN}"}, "attempts": [1, {"url": TOKEN}]}
    record.pieces = (TOKEN, 3, None, True)
    record.body = f"token={TOKEN}".encode()
    record.error_object = _Failure(f"rejected {TOKEN}")
    record.seconds = 1.5
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert TOKEN not in line
    assert entry["request"]["attempts"][0] == 1 and entry["pieces"][1:] == [3, None, True]
    assert entry["seconds"] == 1.5
    assert entry["body"] == "token=[REDACTED:github-token]"
    assert entry["error_object"] == "rejected [REDACTED:github-token]"
