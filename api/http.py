"""HTTP hardening for the session API (DESIGN §9): bodies bounded, ids checked, write endpoints behind a
bearer token when `HEALER_API_TOKEN` is set, and every error a JSON body with a message."""

from __future__ import annotations

import hmac
import re
from typing import Any, Literal

from fastapi import HTTPException, Request
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
        404: "no such session",
        409: "a conflict with the session's state",
        413: "the body is too large",
        422: "a malformed request; the message names the field",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


class ApiError(HTTPException):
    """An error answered as `{"status": "error", "message": …}` plus any fields of the original's shape."""

    def __init__(self, status_code: int, message: str, **fields: Any) -> None:
        super().__init__(status_code, message)
        self.fields = fields


def error_response(status_code: int, message: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"status": "error", **fields, "message": message}, status_code=status_code)


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


def require_token(request: Request, token: str | None) -> None:
    """Write endpoints: `Authorization: Bearer <HEALER_API_TOKEN>`, compared in constant time."""
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise ApiError(401, "a bearer token is required (Authorization: Bearer <HEALER_API_TOKEN>)")


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body over {self.limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
