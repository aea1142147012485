"""Healer as an MCP server (the official SDK, streamable HTTP at `/mcp`, stateless: any replica answers).

For the agents that ask Healer what is wrong: typed tools with structured answers over the same sessions
and incidents the API and the pages show. Reading tools change nothing (`readOnlyHint`); deciding an
escalated incident is the one that writes. With `HEALER_API_TOKEN` set, every request to `/mcp` needs it as
a bearer token, as the session API does. A missing session or incident is a tool error with a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import Access
from api.http import PLAY_ID
from api.models import Session
from api.store import SessionStore
from runtime.engine import Engine
from runtime.runner import IncidentView

READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
DECIDE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True)
LOCAL_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class SessionSummary(BaseModel):
    play_id: str
    repository: str | None
    status: str
    task_count: int
    issue_count: int
    started_at: str


class SessionList(BaseModel):
    count: int
    sessions: list[SessionSummary]


class Detection(BaseModel):
    code: str
    severity: str
    description: str
    agent: str | None
    detected_at: str
    github_issue: str | None


class SessionDetail(BaseModel):
    play_id: str
    repository: str | None
    namespace: str
    status: str
    ended_reason: str | None
    started_at: str
    last_updated: str
    last_line_at: str | None = Field(description="when the newest log line of the play was seen")
    agents: list[str]
    task_count: int
    detections: list[Detection]
    pull_requests: list[str]


class IncidentSummary(BaseModel):
    fingerprint: str
    code: str
    name: str
    severity: str
    priority: str
    agent: str | None
    status: str
    waiting_for_human: bool
    issue_url: str | None
    attempts: int


class IncidentList(BaseModel):
    play_id: str
    incidents: list[IncidentSummary]


class AnalysisView(BaseModel):
    summary: str
    root_cause: str
    category: str
    confidence: float
    automatable: bool
    suggested_fix: str
    facts: list[str] = Field(description="what the log lines show")
    hypotheses: list[str] = Field(description="possible explanations, not proven")
    evidence: list[str] = Field(description="log lines quoted as they were read")


class AttemptView(BaseModel):
    n: int
    summary: str
    pull_request: str | None
    ci: str
    ci_detail: str


class TimelineEntry(BaseModel):
    at: str
    event: str
    detail: str


class IncidentDetail(IncidentSummary):
    line: str = Field(description="the log line triage flagged (redacted)")
    detail: str | None
    line_at: str | None
    analysis: AnalysisView | None
    analysis_note: str | None = Field(description="why there is no model analysis, when there is none")
    evidence: list[str] = Field(description="the log lines around the finding, oldest first")
    attempts_made: list[AttemptView]
    timeline: list[TimelineEntry]
    question: str | None = Field(description="what the human is asked, while the incident waits for one")


class Explanation(BaseModel):
    play_id: str
    status: str
    text: str = Field(description="the play in plain words")
    wrong: list[str] = Field(description="one line per open incident: what is wrong, since when")
    done: list[str] = Field(description="what Healer did: issues filed, pull requests opened, alerts")
    waiting_for_human: list[str] = Field(
        description="incidents a human must decide (retry, resolve, dismiss)"
    )


class DecisionResult(BaseModel):
    play_id: str
    fingerprint: str
    action: str
    status: str = Field(description="the incident's status after the decision")


def _iso(at_ns: int | None) -> str | None:
    if not at_ns:
        return None
    return datetime.fromtimestamp(at_ns / 1e9, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def incident_summary(view: IncidentView) -> IncidentSummary:
    values, finding = view.values, view.values["finding"]
    return IncidentSummary(
        fingerprint=view.fingerprint,
        code=finding["code"],
        name=finding["name"],
        severity=finding["severity"],
        priority=finding["priority"],
        agent=finding.get("agent"),
        status=values.get("status", "open"),
        waiting_for_human=view.waiting_for_human,
        issue_url=(values.get("issue") or {}).get("url"),
        attempts=len(values.get("attempts", [])),
    )


def incident_detail(view: IncidentView) -> IncidentDetail:
    values, finding = view.values, view.values["finding"]
    analysis = values.get("analysis")
    question = view.question or {}
    return IncidentDetail(
        **incident_summary(view).model_dump(),
        line=finding.get("text", ""),
        detail=finding.get("detail"),
        line_at=finding.get("timestamp"),
        analysis=AnalysisView.model_validate(analysis) if analysis else None,
        analysis_note=values.get("analysis_note"),
        evidence=list(values.get("evidence", [])),
        attempts_made=[
            AttemptView(
                n=a["n"],
                summary=a.get("summary", ""),
                pull_request=a.get("pull_url"),
                ci=a.get("ci", "pending"),
                ci_detail=a.get("ci_detail", ""),
            )
            for a in values.get("attempts", [])
        ],
        timeline=[
            TimelineEntry(at=_iso(e["at_ns"]) or "", event=e["event"], detail=e.get("detail", ""))
            for e in values.get("timeline", [])
        ],
        question=question.get("reason") if view.waiting_for_human else None,
    )


def explanation(session: Session, views: list[IncidentView]) -> Explanation:
    details = [incident_detail(view) for view in views]
    open_ones = [d for d in details if d.status not in ("resolved", "closed", "dismissed")]
    wrong = [
        f"{d.code} ({d.severity}, {d.agent or 'no agent'}) since {d.line_at or _first(d) or 'unknown'}: "
        + (d.analysis.summary if d.analysis else f"{d.name}: {d.detail or d.line}")
        for d in open_ones
    ]
    done = [f"filed {d.issue_url} for {d.code}" for d in details if d.issue_url]
    done += [
        f"opened {a.pull_request} (CI {a.ci})" for d in details for a in d.attempts_made if a.pull_request
    ]
    done += [f"alerted about {d.code}" for d in details if any(e.event == "notified" for e in d.timeline)]
    waiting = [
        f"{d.fingerprint} ({d.code}): {d.question or 'escalated'}; {d.issue_url or 'no issue'}"
        for d in details
        if d.waiting_for_human
    ]
    if not details:
        text = f"Play {session.play_id} ({session.status}): nothing has gone wrong that Healer saw."
    else:
        text = (
            f"Play {session.play_id} ({session.status}): {len(open_ones)} of {len(details)} incidents open"
            + (f", {len(waiting)} waiting for a human decision" if waiting else "")
            + ". "
            + " ".join(wrong[:3])
        )
    return Explanation(
        play_id=session.play_id,
        status=session.status,
        text=text,
        wrong=wrong,
        done=done,
        waiting_for_human=waiting,
    )


def _first(detail: IncidentDetail) -> str | None:
    return detail.timeline[0].at if detail.timeline else None


def build_server(
    store: Callable[[], SessionStore],
    scheduler: Callable[[], Engine],
) -> MCPServer:
    """The MCP server over the app's store and scheduler (looked up per call: they exist once the app runs)."""
    server = MCPServer(
        "healer",
        instructions="Healer watches the AI coding agents of a play: ask it what is wrong with a play, read "
        "its incidents (finding, analysis, evidence, fix attempts) and decide the escalated ones.",
    )

    async def session_of(play_id: str) -> Session:
        if not PLAY_ID.fullmatch(play_id):
            raise ToolError(f"not a play id: {play_id!r}")
        session = await store().get(play_id)
        if session is None:
            raise ToolError(f"no session for play {play_id}")
        return session

    async def views_of(session: Session) -> list[IncidentView]:
        return latest(await scheduler().incidents(session))

    @server.tool(annotations=READ)
    async def list_sessions(active_only: bool = False) -> SessionList:
        """The sessions Healer watches (or watched), newest first; `active_only` for the running ones."""
        sessions = await store().list("active" if active_only else None)
        return SessionList(
            count=len(sessions), sessions=[SessionSummary.model_validate(s.summary()) for s in sessions]
        )

    @server.tool(annotations=READ)
    async def get_session(play_id: str) -> SessionDetail:
        """One session: its status, agents, what was detected and the pull requests Healer opened."""
        session = await session_of(play_id)
        agents = sorted(session.cto_config.agents) if session.cto_config else []
        return SessionDetail(
            play_id=session.play_id,
            repository=session.repository,
            namespace=session.namespace,
            status=session.status,
            ended_reason=session.ended_reason,
            started_at=session.started_at,
            last_updated=session.last_updated,
            last_line_at=session.last_line_at,
            agents=agents,
            task_count=len(session.tasks),
            detections=[Detection.model_validate(d.model_dump(mode="json")) for d in session.issues],
            pull_requests=session.pull_requests,
        )

    @server.tool(annotations=READ)
    async def list_incidents(play_id: str) -> IncidentList:
        """A play's incidents: code, severity, agent, status, GitHub issue, whether a human must decide."""
        session = await session_of(play_id)
        return IncidentList(play_id=play_id, incidents=[incident_summary(v) for v in await views_of(session)])

    @server.tool(annotations=READ)
    async def get_incident(play_id: str, fingerprint: str) -> IncidentDetail:
        """One incident whole: the flagged line, the analysis (facts apart from hypotheses), the evidence,
        every fix attempt with its pull request and CI, and the timeline."""
        session = await session_of(play_id)
        return incident_detail(await _one(await views_of(session), play_id, fingerprint))

    @server.tool(annotations=READ)
    async def explain_play(play_id: str) -> Explanation:
        """The play in plain words: what is wrong and since when, what Healer did, what waits for a human."""
        session = await session_of(play_id)
        return explanation(session, await views_of(session))

    @server.tool(annotations=DECIDE)
    async def decide_incident(
        play_id: str,
        fingerprint: str,
        action: Literal["retry", "resolve", "dismiss"],
        note: str = "",
        by: str = "an agent over MCP",
    ) -> DecisionResult:
        """Decide an escalated incident: `retry` its remediation, `resolve` it (closing its issue) or
        `dismiss` it. Only an incident waiting for a human can be decided."""
        session = await session_of(play_id)
        view = await _one(await views_of(session), play_id, fingerprint)
        if not view.waiting_for_human:
            raise ToolError(
                f"incident {fingerprint} is not waiting for a decision ({view.values.get('status')})"
            )
        decision = {"action": action, "note": note[:2000], "by": by[:100]}
        try:
            decided = await scheduler().decide(session, fingerprint, decision)
        except ValueError as error:
            raise ToolError(str(error)) from None
        return DecisionResult(
            play_id=play_id,
            fingerprint=fingerprint,
            action=action,
            status=decided.values.get("status", "open"),
        )

    return server


def latest(views: list[IncidentView]) -> list[IncidentView]:
    """One view per incident: its newest generation (a recurrence reopens the same fingerprint)."""
    newest: dict[str, IncidentView] = {}
    for view in views:
        if view.fingerprint not in newest or view.generation >= newest[view.fingerprint].generation:
            newest[view.fingerprint] = view
    return list(newest.values())


async def _one(views: list[IncidentView], play_id: str, fingerprint: str) -> IncidentView:
    for view in views:
        if view.fingerprint == fingerprint:
            return view
    raise ToolError(f"play {play_id} has no incident {fingerprint}")


def security(access: Access, allowed_hosts: list[str]) -> TransportSecuritySettings:
    """With a token every request proves itself; without one, only local clients (and the configured
    hosts) may call, against DNS rebinding."""
    if access.required:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*LOCAL_HOSTS, *allowed_hosts],
        allowed_origins=[
            *LOCAL_ORIGINS,
            *(f"http://{h}" for h in allowed_hosts),
            *(f"https://{h}" for h in allowed_hosts),
        ],
    )


class McpEndpoint:
    """`/mcp`: the SDK's streamable HTTP app behind the API token (the SDK's own auth is OAuth's). The
    SDK's session manager runs once per instance, so each run of the app's lifespan builds a new one."""

    def __init__(self, server: MCPServer, access: Access, allowed_hosts: list[str]) -> None:
        self.server, self.access, self.allowed_hosts = server, access, allowed_hosts
        self._app: ASGIApp | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        app = self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=security(self.access, self.allowed_hosts),
        )
        [route] = [r for r in app.routes if isinstance(r, Route) and r.path == "/mcp"]
        async with self.server.session_manager.run():
            self._app = route.app
            try:
                yield
            finally:
                self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.access.required and not self._bearer_ok(scope):
            await _refuse(401, "the MCP endpoint wants the API token: Authorization: Bearer …")(
                scope, receive, send
            )
            return
        if self._app is None:
            await _refuse(503, "Healer is starting or stopping")(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _bearer_ok(self, scope: Scope) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.access.is_token(token.strip())

    def route(self) -> Route:
        return Route("/mcp", endpoint=self)


def _refuse(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"status": "error", "message": message}, status_code=status, headers=headers)
