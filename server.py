"""Healer's session API (DESIGN §2), on port 8083: where the MCP server posts session starts and operators
look at what Healer saw. The five endpoints of the original are byte-compatible; Healer adds ending a
session, a human's decision on an escalated incident, `/metrics`, and pages for people (`/`).

`create_app()` builds the app from the settings; `healer serve` runs it with uvicorn.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import metrics, page
from api.http import (
    ApiError,
    BodyLimit,
    check_fingerprint,
    check_play_id,
    error_response,
    errors,
    require_token,
)
from api.models import SERVICE, Session, rfc3339
from api.scheduler import ContextFactory, Scheduler
from api.store import SessionStore, open_store
from graph.checkpoint import open_checkpointer
from graph.config import HealerSettings
from graph.nodes.await_human import Decision
from graph.services import live_context
from graph.session import SessionStart

VERSION = "0.1.0"
log = logging.getLogger("healer.api")


class EndRequest(BaseModel):
    status: Literal["completed", "failed", "cancelled"]
    reason: str = Field(default="ended through the API", max_length=500)


def create_app(
    settings: HealerSettings | None = None,
    *,
    contexts: ContextFactory = live_context,
    interval_s: float = 5.0,
    idle_timeout_s: float = 3600.0,
    max_body_bytes: int = 1 << 20,
) -> FastAPI:
    settings = settings or HealerSettings()
    token = settings.api_token.get_secret_value() if settings.api_token else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_checkpointer(settings.database_url) as saver,
            open_store(settings.database_url, saver) as store,
        ):
            scheduler = Scheduler(
                settings,
                store,
                saver,
                interval_s=interval_s,
                idle_timeout_s=idle_timeout_s,
                contexts=contexts,
            )
            app.state.store, app.state.scheduler = store, scheduler
            resumed = await scheduler.resume_active()
            log.info(
                "healer is up", extra={"resumed_sessions": resumed, "database": settings.database_backend()}
            )
            try:
                yield
            finally:
                await scheduler.shutdown()

    app = FastAPI(title="Healer", version=VERSION, lifespan=lifespan, description=__doc__)
    app.add_middleware(BodyLimit, limit=max_body_bytes)

    def store_of(request: Request) -> SessionStore:
        return request.app.state.store

    def scheduler_of(request: Request) -> Scheduler:
        return request.app.state.scheduler

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

    @app.get("/health", tags=["session API"])
    async def health() -> dict[str, str]:
        return {"status": "healthy", "version": VERSION, "service": SERVICE}

    async def writer(request: Request) -> None:
        require_token(request, token)

    @app.post(
        "/api/v1/session/start",
        tags=["session API"],
        dependencies=[Depends(writer)],
        responses=errors(400, 401, 409, 413, 422),
    )
    async def start(request: Request, payload: SessionStart) -> JSONResponse:
        check_play_id(payload.play_id)
        now = rfc3339()
        session = Session.model_validate(
            payload.model_dump(by_alias=False) | {"started_at": now, "last_updated": now}
        )
        if not await store_of(request).start(session):
            raise ApiError(409, "Session already exists and is active", session_id=payload.play_id)
        scheduler_of(request).schedule(session)
        agents = len(payload.cto_config.agents)
        message = f"Session started with {len(payload.tasks)} tasks and {agents} agent configurations"
        return JSONResponse({"status": "ok", "session_id": payload.play_id, "message": message})

    @app.get("/api/v1/session/{play_id}", tags=["session API"], responses=errors(404, 422))
    async def get_session(request: Request, play_id: str) -> JSONResponse:
        session = await store_of(request).get(check_play_id(play_id))
        if session is None:
            raise ApiError(404, f"Session not found: {play_id}", session=None)
        return JSONResponse({"status": "ok", "session": session.public(), "message": None})

    @app.get("/api/v1/sessions", tags=["session API"])
    async def list_sessions(request: Request) -> dict[str, Any]:
        return _listing(await store_of(request).list())

    @app.get("/api/v1/sessions/active", tags=["session API"])
    async def list_active(request: Request) -> dict[str, Any]:
        return _listing(await store_of(request).list("active"))

    @app.post(
        "/api/v1/session/{play_id}/end",
        tags=["Healer"],
        dependencies=[Depends(writer)],
        responses=errors(401, 404, 409, 413, 422),
    )
    async def end(request: Request, play_id: str, body: EndRequest) -> JSONResponse:
        session = await store_of(request).get(check_play_id(play_id))
        if session is None:
            raise ApiError(404, f"Session not found: {play_id}", session=None)
        if session.status != "active":
            raise ApiError(409, f"Session {play_id} has already ended ({session.status})")
        ended = await scheduler_of(request).end(play_id, body.status, body.reason)
        return JSONResponse({"status": "ok", "session": ended.public() if ended else None, "message": None})

    @app.post(
        "/api/v1/session/{play_id}/incidents/{fingerprint}/decision",
        tags=["Healer"],
        dependencies=[Depends(writer)],
        responses=errors(401, 404, 409, 413, 422),
    )
    async def decide(request: Request, play_id: str, fingerprint: str, decision: Decision) -> JSONResponse:
        session = await store_of(request).get(check_play_id(play_id))
        if session is None:
            raise ApiError(404, f"Session not found: {play_id}", session=None)
        check_fingerprint(fingerprint)
        try:
            view = await scheduler_of(request).decide(session, fingerprint, decision.model_dump())
        except ValueError as error:
            raise ApiError(409, str(error)) from None
        return JSONResponse(
            {"status": "ok", "incident": {"fingerprint": fingerprint, "status": view.values.get("status")}}
        )

    @app.get("/metrics", tags=["Healer"], response_class=Response)
    async def prometheus(request: Request) -> Response:
        body = await metrics.render(store_of(request), scheduler_of(request))
        return Response(body, media_type=metrics.CONTENT_TYPE)

    @app.get("/", response_class=HTMLResponse, tags=["pages"])
    async def overview(request: Request) -> HTMLResponse:
        return HTMLResponse(page.overview(await store_of(request).list()))

    @app.get("/sessions/{play_id}", response_class=HTMLResponse, tags=["pages"], responses=errors(404, 422))
    async def session_page(request: Request, play_id: str) -> HTMLResponse:
        session = await store_of(request).get(check_play_id(play_id))
        if session is None:
            raise ApiError(404, f"Session not found: {play_id}")
        return HTMLResponse(page.session(session))

    return app


def _first_problem(errors: Any) -> str:
    first = next(iter(errors))
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def _listing(sessions: list[Session]) -> dict[str, Any]:
    return {"status": "ok", "count": len(sessions), "sessions": [session.summary() for session in sessions]}
