"""HTTP hardening for the session API (DESIGN §9): bodies bounded, ids checked, and every error a JSON body
with a message. Who may call what is api/auth.py; how long a field may be, api/limits.py."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PLAY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FINGERPRINT = re.compile(r"[0-9a-f]{16}")


class ErrorBody(BaseModel):
    status: Literal["error"] = "error"
    message: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error answers of an endpoint: each a JSON body with a message."""
    meaning = {
        400: "the body is not JSON",
        401: "the bearer token is missing or wrong",
        403: "a form from another site, or a stale one",
        404: "no such session",
        409: "a conflict with the session's state",
        413: "the body is too large",
        422: "a malformed request; the message names the field (and the limit it is over)",
        429: "too many active sessions (HEALER_MAX_ACTIVE_SESSIONS): end one first",
        503: "not ready: the database does not answer",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


class ApiError(HTTPException):
    """An error answered as `{"status": "error", "message": …}` plus any fields of the original's shape."""

    def __init__(self, status_code: int, message: str, **fields: Any) -> None:
        super().__init__(status_code, message)
        self.fields = fields


def error_response(status_code: int, message: str, **fields: Any) -> JSONResponse:
    # A message may quote what the client sent; a lone surrogate in it could not be encoded as UTF-8.
    readable = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"status": "error", **fields, "message": readable}, status_code=status_code)


def check_play_id(play_id: str) -> str:
    if not PLAY_ID.fullmatch(play_id):
        raise ApiError(
            422, "play_id must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return play_id


def check_fingerprint(fingerprint: str) -> str:
    if not FINGERPRINT.fullmatch(fingerprint):
        raise ApiError(422, "fingerprint must be 16 lowercase hex characters")
    return fingerprint


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(dict(scope.get("headers", [])).get(b"content-length")):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, bounded, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    def _declared_too_large(self, declared: bytes | None) -> bool:
        if declared is None:
            return False
        # a length of more than 18 digits is over any limit (and `int` refuses texts of thousands)
        return not declared.isdigit() or len(declared) > 18 or int(declared) > self.limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, _too_large(self.limit))
        await response(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"request body over {limit} bytes"


class _TooLarge(ApiError):
    """Raised by the body's `receive` once a streamed (chunked) body passes the limit. An HTTPException, so
    FastAPI's body reading lets it through to the API's error handler (any other error reading the body
    becomes its 400 "There was an error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))
