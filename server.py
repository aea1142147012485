"""Healer's session API (DESIGN §2), on port 8083: where the MCP server posts session starts and operators
look at what Healer saw. The five endpoints of the original are byte-compatible; Healer adds ending a
session, a human's decision on an escalated incident, `/metrics`, and pages for people (`/`).

`create_app()` builds the app from the settings; `healer serve` runs it with uvicorn. With
`HEALER_API_TOKEN` set, the session API and the pages want it (api/auth.py); the limits on what a session
start may hold and on how many sessions are kept are in api/limits.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import mcp, metrics, page
from api.auth import (
    LOGIN_PATH,
    Access,
    PageRoute,
    TokenRoute,
    access_of,
    bearer_scheme,
    local_path,
    logged_in,
)
from api.http import ApiError, BodyLimit, check_fingerprint, check_play_id, error_response, errors
from api.limits import SessionLimits
from api.models import SERVICE, BoundedSessionStart, Session, rfc3339
from api.store import SessionStore, open_store
from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings
from graph.state import Decision
from runtime.engine import ContextFactory, Engine
from runtime.engines import open_engine

VERSION = "0.1.0"
log = logging.getLogger("healer.api")
NOT_UNICODE = "must be valid Unicode text (a lone surrogate such as \\ud800 is not)"


class EndRequest(BaseModel):
    status: Literal["completed", "failed", "cancelled"]
    reason: str = Field(default="ended through the API", max_length=500)


def create_app(
    settings: HealerSettings | None = None,
    *,
    contexts: ContextFactory | None = None,
    interval_s: float = 5.0,
    idle_timeout_s: float = 3600.0,
    max_body_bytes: int = 1 << 20,
    limits: SessionLimits | None = None,
) -> FastAPI:
    settings = settings or HealerSettings()
    limits = limits or SessionLimits()
    token = settings.api_token.get_secret_value() if settings.api_token else None

    access = Access(token)
    hosts = [host.strip() for host in settings.mcp_allowed_hosts.split(",") if host.strip()]
    mcp_endpoint = mcp.McpEndpoint(
        mcp.build_server(lambda: app.state.store, lambda: app.state.scheduler), access, hosts
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_checkpointer(settings.database_url) as saver,
            open_store(settings.database_url, saver) as store,
            mcp_endpoint.running(),
            open_engine(
                settings,
                store,
                saver,
                interval_s=interval_s,
                idle_timeout_s=idle_timeout_s,
                contexts=contexts,
            ) as scheduler,
        ):
            app.state.store, app.state.scheduler = store, scheduler
            resumed = await scheduler.resume_active()
            log.info(
                "healer is up",
                extra={
                    "resumed_sessions": resumed,
                    "database": settings.database_backend(),
                    "engine": type(scheduler).__name__,
                },
            )
            yield

    app = FastAPI(title="Healer", version=VERSION, lifespan=lifespan, description=__doc__)
    app.state.access = access
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    _answer_errors_in_json(app)
    _open_endpoints(app)
    app.include_router(_session_api(limits, token_documented=token is not None))
    app.include_router(_pages())
    app.router.routes.append(mcp_endpoint.route())
    _login(app)
    return app


def store_of(request: Request) -> SessionStore:
    return request.app.state.store


def scheduler_of(request: Request) -> Engine:
    return request.app.state.scheduler


def _answer_errors_in_json(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), **error.fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = list(error.errors())
        if problems and problems[0].get("type") == "json_invalid":
            return error_response(
                400, f"the body is not JSON: {problems[0].get('ctx', {}).get('error', '')}".strip()
            )
        if problems and problems[0].get("type") == "model_attributes_type":
            return error_response(422, "the body must be a JSON object with at least play_id")
        return error_response(422, _first_problem(problems))


def _open_endpoints(app: FastAPI) -> None:
    """What anyone may read, token or not: no session data."""

    @app.get("/health", tags=["session API"])
    async def health() -> dict[str, str]:
        return {"status": "healthy", "version": VERSION, "service": SERVICE}

    @app.get("/ready", tags=["Healer"], responses=errors(503))
    async def ready(request: Request) -> JSONResponse:
        """Ready when the database answers (a Kubernetes readiness probe); /health only says the process is up."""
        try:
            await store_of(request).count()
        except Exception as error:  # any database failure: not ready, said plainly
            log.warning("not ready: the database does not answer", extra={"error": str(error)[:300]})
            return error_response(503, f"the database does not answer: {type(error).__name__}")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["Healer"], response_class=Response)
    async def prometheus(request: Request) -> Response:
        body = await metrics.render(store_of(request), scheduler_of(request))
        return Response(body, media_type=metrics.CONTENT_TYPE)


def _session_api(limits: SessionLimits, *, token_documented: bool) -> APIRouter:
    """The session API: behind the bearer token when one is set (TokenRoute checks it before the body)."""
    router = APIRouter(
        route_class=TokenRoute,
        dependencies=[Security(bearer_scheme)] if token_documented else [],
        responses=errors(401) if token_documented else None,
    )

    @router.post("/api/v1/session/start", tags=["session API"], responses=errors(400, 409, 413, 422, 429))
    async def start(request: Request, payload: BoundedSessionStart) -> JSONResponse:
        check_play_id(payload.play_id)
        store = store_of(request)
        await _check_room_for(store, payload.play_id, limits)
        now = rfc3339()
        session = Session.model_validate(
            payload.model_dump(by_alias=False) | {"started_at": now, "last_updated": now}
        )
        if not await store.start(session):
            raise _already_active(payload.play_id)
        await store.prune(limits.max_sessions)
        await scheduler_of(request).schedule(session)
        agents = len(payload.cto_config.agents)
        message = f"Session started with {len(payload.tasks)} tasks and {agents} agent configurations"
        return JSONResponse({"status": "ok", "session_id": payload.play_id, "message": message})

    @router.get("/api/v1/session/{play_id}", tags=["session API"], responses=errors(404, 422))
    async def get_session(request: Request, play_id: str) -> JSONResponse:
        session = await _session_of(request, play_id)
        return JSONResponse({"status": "ok", "session": session.public(), "message": None})

    @router.get("/api/v1/sessions", tags=["session API"])
    async def list_sessions(request: Request) -> dict[str, Any]:
        return _listing(await store_of(request).list())

    @router.get("/api/v1/sessions/active", tags=["session API"])
    async def list_active(request: Request) -> dict[str, Any]:
        return _listing(await store_of(request).list("active"))

    @router.post("/api/v1/session/{play_id}/end", tags=["Healer"], responses=errors(404, 409, 413, 422))
    async def end(request: Request, play_id: str, body: EndRequest) -> JSONResponse:
        session = await _session_of(request, play_id)
        if session.status != "active":
            raise ApiError(409, f"Session {play_id} has already ended ({session.status})")
        ended = await scheduler_of(request).end(play_id, body.status, body.reason)
        return JSONResponse({"status": "ok", "session": ended.public() if ended else None, "message": None})

    @router.post(
        "/api/v1/session/{play_id}/incidents/{fingerprint}/decision",
        tags=["Healer"],
        responses=errors(404, 409, 413, 422),
    )
    async def decide(request: Request, play_id: str, fingerprint: str, decision: Decision) -> JSONResponse:
        session = await _session_of(request, play_id)
        check_fingerprint(fingerprint)
        try:
            view = await scheduler_of(request).decide(session, fingerprint, decision.model_dump())
        except ValueError as error:
            raise ApiError(409, str(error)) from None
        return JSONResponse(
            {"status": "ok", "incident": {"fingerprint": fingerprint, "status": view.values.get("status")}}
        )

    return router


def _pages() -> APIRouter:
    """The pages for people: behind the token or the login cookie when a token is set (PageRoute)."""
    router = APIRouter(route_class=PageRoute, tags=["pages"])

    @router.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> HTMLResponse:
        return HTMLResponse(page.overview(await store_of(request).list()))

    @router.get("/sessions/{play_id}", response_class=HTMLResponse, responses=errors(404, 422))
    async def session_page(request: Request, play_id: str) -> HTMLResponse:
        session = await _session_of(request, play_id)
        views = mcp.latest(await scheduler_of(request).incidents(session))
        return HTMLResponse(page.session(session, [mcp.incident_summary(view) for view in views]))

    @router.get(
        "/sessions/{play_id}/incidents/{fingerprint}", response_class=HTMLResponse, responses=errors(404, 422)
    )
    async def incident_page(request: Request, play_id: str, fingerprint: str) -> HTMLResponse:
        session, view = await _incident_of(request, play_id, fingerprint)
        csrf = access_of(request).form_token(f"decide {play_id} {fingerprint}")
        detail = mcp.incident_detail(view)
        return HTMLResponse(page.incident(play_id, detail, csrf, play_running=session.status == "active"))

    @router.post(
        "/sessions/{play_id}/incidents/{fingerprint}/decision",
        response_class=RedirectResponse,
        responses=errors(403, 404, 409, 413, 422),
    )
    async def decide_from_page(request: Request, play_id: str, fingerprint: str) -> RedirectResponse:
        """The decision form of an escalated incident's page; back to the page once decided."""
        _same_origin(request)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not access_of(request).is_form_token(f"decide {play_id} {fingerprint}", form.get("csrf", "")):
            raise ApiError(403, "the form is stale or came from another site: open the incident page again")
        try:
            decision = Decision.model_validate(
                {"action": form.get("action"), "note": form.get("note", ""), "by": "a person on the page"}
            )
        except ValidationError as error:
            raise ApiError(422, _first_problem(error.errors())) from None
        session, view = await _incident_of(request, play_id, fingerprint)
        if not view.waiting_for_human:
            raise ApiError(409, f"incident {fingerprint} is not waiting for a decision")
        try:
            await scheduler_of(request).decide(session, fingerprint, decision.model_dump())
        except ValueError as error:
            raise ApiError(409, str(error)) from None
        return RedirectResponse(request.url.path.removesuffix("/decision"), status_code=303)

    return router


async def _incident_of(request: Request, play_id: str, fingerprint: str) -> tuple[Session, Any]:
    session = await _session_of(request, play_id)
    check_fingerprint(fingerprint)
    for view in mcp.latest(await scheduler_of(request).incidents(session)):
        if view.fingerprint == fingerprint:
            return session, view
    raise ApiError(404, f"Incident not found: {fingerprint} in {play_id}")


def _same_origin(request: Request) -> None:
    """A browser names where a form came from; one from another site is refused before anything else."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, f"a form from {origin} may not decide here")


def _login(app: FastAPI) -> None:
    """The form that gives a browser the page cookie (api/auth.py); not in the OpenAPI description."""

    @app.get(LOGIN_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def login_form(
        request: Request, then: Annotated[str, Query(alias="next", max_length=2000)] = "/"
    ) -> Response:
        if not access_of(request).required:
            return RedirectResponse(local_path(then), status_code=303)
        return HTMLResponse(page.login(local_path(then)))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def log_in(request: Request) -> Response:
        # the form is application/x-www-form-urlencoded; Starlette's form parser needs python-multipart
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        then = local_path(form.get("next", "/"))
        access = access_of(request)
        if not access.required:
            return RedirectResponse(then, status_code=303)
        if not access.is_token(form.get("token", "")):
            return HTMLResponse(page.login(then, refused=True), status_code=401)
        return logged_in(request, then)


async def _session_of(request: Request, play_id: str) -> Session:
    session = await store_of(request).get(check_play_id(play_id))
    if session is None:
        raise ApiError(404, f"Session not found: {play_id}", session=None)
    return session


async def _check_room_for(store: SessionStore, play_id: str, limits: SessionLimits) -> None:
    """A duplicate start is a 409 as before, even when the active sessions are at their limit."""
    existing = await store.get(play_id)
    if existing is not None and existing.status == "active":
        raise _already_active(play_id)
    if await store.count("active") >= limits.max_active_sessions:
        raise ApiError(
            429,
            f"at most {limits.max_active_sessions} sessions may be active at once "
            "(HEALER_MAX_ACTIVE_SESSIONS): end one first",
        )


def _already_active(play_id: str) -> ApiError:
    return ApiError(409, "Session already exists and is active", session_id=play_id)


def _first_problem(errors: Any) -> str:
    first = next(iter(errors))
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = NOT_UNICODE if first.get("type") == "string_unicode" else first.get("msg", "invalid")
    return f"{where}: {message}"


def _listing(sessions: list[Session]) -> dict[str, Any]:
    return {"status": "ok", "count": len(sessions), "sessions": [session.summary() for session in sessions]}
