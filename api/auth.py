"""Who may see and change session data (DESIGN §9). Without `HEALER_API_TOKEN` everything is open.

With a token set:

- the session API (`/api/v1/…`, reads and writes) wants `Authorization: Bearer <HEALER_API_TOKEN>`;
- the pages (`/`, `/sessions/…`) take the same header, or the cookie a person gets by typing the token into
  the form at `/login`: `healer_pages`, HttpOnly, SameSite=Strict (Secure over https), valid 12 hours. It
  holds its expiry time and an HMAC-SHA256 of it keyed by the token: never the token itself, and a new
  token ends every cookie. A page asked for without either redirects to that form;
- `/health`, `/metrics` (no repository, play or agent names in it), `/docs`, `/openapi.json` and `/login`
  stay open.

The check is made by the route class, before FastAPI reads, parses or validates the body: a caller without
the token gets 401 whatever it sent (only a declared `Content-Length` over the limit is answered first,
413, by api/http.py's `BodyLimit`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from api.http import ApiError

COOKIE_NAME = "healer_pages"
COOKIE_LIFETIME_S = 12 * 3600
LOGIN_PATH = "/login"
_COOKIE = re.compile(r"(?P<expires>[0-9]{1,12})\.(?P<signature>[0-9a-f]{64})")
MISSING_TOKEN = "a bearer token is required (Authorization: Bearer <HEALER_API_TOKEN>)"
# Documents the bearer scheme in the OpenAPI description (and /docs's "Authorize"); the route checks it.
bearer_scheme = HTTPBearer(auto_error=False, description="HEALER_API_TOKEN")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True)
class Access:
    """The server's token (None: no checks) and the page cookie derived from it."""

    token: str | None
    clock: Callable[[], float] = field(default=time.time)

    @property
    def required(self) -> bool:
        return self.token is not None

    def is_token(self, candidate: str) -> bool:
        """Constant-time comparison with the server's token."""
        return self.token is None or hmac.compare_digest(candidate.encode(), self.token.encode())

    def has_bearer(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return self.token is None or (scheme.lower() == "bearer" and self.is_token(value.strip()))

    def page_cookie(self) -> str:
        expires = int(self.clock()) + COOKIE_LIFETIME_S
        return f"{expires}.{self._signature(expires)}"

    def has_page_cookie(self, request: Request) -> bool:
        if self.token is None:
            return True
        cookie = _COOKIE.fullmatch(request.cookies.get(COOKIE_NAME, ""))
        if cookie is None or (expires := int(cookie["expires"])) < self.clock():
            return False
        return hmac.compare_digest(cookie["signature"].encode(), self._signature(expires).encode())

    def form_token(self, purpose: str) -> str:
        """A token a page puts in its form and the POST must carry back: another site can make a browser
        post, but cannot read the page to learn it (cross-site request forgery)."""
        return hmac.new(self._form_key, f"healer form {purpose}".encode(), hashlib.sha256).hexdigest()

    def is_form_token(self, purpose: str, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.form_token(purpose).encode())

    @functools.cached_property
    def _form_key(self) -> bytes:
        # from the token when there is one (every replica agrees), else one per process
        return (
            hashlib.sha256(f"healer forms {self.token}".encode()).digest() if self.token else os.urandom(32)
        )

    def _signature(self, expires: int) -> str:
        assert self.token is not None
        message = f"healer pages until {expires}".encode()
        return hmac.new(self.token.encode(), message, hashlib.sha256).hexdigest()


def access_of(request: Request) -> Access:
    return request.app.state.access


class TokenRoute(APIRoute):
    """A session API route: without the bearer token, 401 before the body is read."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if not access_of(request).has_bearer(request):
                raise ApiError(401, MISSING_TOKEN)
            return await handler(request)

        return checked


class PageRoute(APIRoute):
    """A page: with the bearer token or the page cookie; without either, a redirect to the login form."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            access = access_of(request)
            if access.has_bearer(request) or access.has_page_cookie(request):
                return await handler(request)
            return RedirectResponse(login_url(request.url.path), status_code=303)

        return checked


def login_url(then: str) -> str:
    return f"{LOGIN_PATH}?{urlencode({'next': then})}"


def local_path(candidate: str) -> str:
    """Where to go after logging in: a path on this server, never another site (`//host`, `/\\host`)."""
    if candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return "/"


def logged_in(request: Request, then: str) -> RedirectResponse:
    """The answer to the right token typed into the login form: the page cookie, and on to `then`."""
    response = RedirectResponse(local_path(then), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        access_of(request).page_cookie(),
        max_age=COOKIE_LIFETIME_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response
