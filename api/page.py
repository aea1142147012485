"""Pages for people (DESIGN §2): what Healer is watching and what it found, as plain server-rendered HTML.

No build step, no JavaScript, no outside resources: a little inline CSS, and every value from a session
goes through `html.escape` (URLs become links only when they are http(s)).

`overview(sessions)` is `GET /`: active sessions first, then the ones that ended, newest first.
`session(session)` is `GET /sessions/<id>`: the session's agents, tasks and a timeline of its findings (each
with Healer's code and the original's `issue_type`). `login(then, refused)` is `GET /login`, the form that
asks for `HEALER_API_TOKEN` when one is set (api/auth.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from api.models import Detection, Session

SEVERITIES = ("critical", "high", "medium", "low")
ABSENT = "—"
EMPTY = "No sessions yet — POST /api/v1/session/start"
_EPOCH = datetime.min.replace(tzinfo=UTC)
_ISSUE_NUMBER = re.compile(r"/(?:issues|pull)/(\d+)/?$")
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;vertical-align:top}
th{background:#f6f8fa;font-weight:600}tr{border-bottom:1px solid #d0d7de}
a{color:#0969da}.sev,.zero{white-space:nowrap}.muted,.zero{color:#8c959f}.empty{color:#59636e;font-style:italic}
.status,.sev{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:12px;font-weight:600}
.status{background:#eaeef2}.status.active{background:#dafbe1;color:#116329}
.status.failed{background:#ffebe9;color:#a40e26}
.sev.critical{background:#a40e26;color:#fff}.sev.high{background:#ffebe9;color:#a40e26}
.sev.medium{background:#fff8c5;color:#7d4e00}.sev.low{background:#ddf4ff;color:#0550ae}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
form{display:flex;gap:.5rem;align-items:center}input[type=password]{padding:.3rem;width:20rem}
.refused{color:#a40e26}
"""
_COLUMNS = (
    "Play", "Repository", "Status", "Agents", "Findings", "GitHub issues and PRs",
    "Started", "Last updated", "Last log line seen",
)  # fmt: skip


# --- the two pages ------------------------------------------------------------------------------------


def overview(sessions: list[Session]) -> str:
    if not sessions:
        return _document("Healer", f"<h1>Healer</h1><p class='empty'>{escape(EMPTY)}</p>")
    active = [s for s in sessions if s.status == "active"]
    ended = sorted((s for s in sessions if s.status != "active"), key=_recency, reverse=True)
    body = (
        "<h1>Healer</h1>"
        + _section("Active sessions", "active", sorted(active, key=_recency, reverse=True))
        + _section("Recent sessions", "recent", ended)
    )
    return _document("Healer", body)


def session(session: Session) -> str:
    body = (
        "<p><a href='/'>← all sessions</a></p>"
        f"<h1>{escape(session.play_id)}</h1>"
        + _facts(session)
        + "<h2>Agents</h2>"
        + _agents_table(session)
        + "<h2>Tasks</h2>"
        + _tasks_table(session)
        + "<h2>Timeline</h2>"
        + _timeline(session.issues)
    )
    return _document(f"{session.play_id} · Healer", body)


def login(then: str, *, refused: bool = False) -> str:
    problem = "<p class='refused'>That is not the token.</p>" if refused else ""
    body = (
        "<h1>Healer</h1><p>This server wants its token (<code>HEALER_API_TOKEN</code>) to show sessions.</p>"
        + problem
        + "<form method='post' action='/login'>"
        "<label for='token'>Token</label>"
        "<input type='password' id='token' name='token' autocomplete='current-password' required autofocus>"
        f"<input type='hidden' name='next' value='{escape(then)}'>"
        "<button type='submit'>Log in</button></form>"
    )
    return _document("Log in · Healer", body)


# --- overview parts -----------------------------------------------------------------------------------


def _section(title: str, name: str, sessions: list[Session]) -> str:
    if not sessions:
        return f"<h2>{escape(title)}</h2><p class='empty'>None.</p>"
    head = "".join(f"<th>{escape(column)}</th>" for column in _COLUMNS)
    rows = "".join(_overview_row(s) for s in sessions)
    return f"<h2>{escape(title)}</h2><table id='{name}'><tr>{head}</tr>{rows}</table>"


def _overview_row(s: Session) -> str:
    cells = (
        _session_link(s.play_id),
        _text(s.repository),
        _status(s.status),
        _agent_list(s),
        _severity_counts(s.issues),
        _issue_links(s.issues) + _pull_links(s.pull_requests),
        _when(s.started_at),
        _when(s.last_updated),
        _when(s.last_line_at),
    )
    return f"<tr data-play-id='{escape(s.play_id)}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _agent_list(s: Session) -> str:
    agents = [
        f"{escape(name)}" + (f" <span class='muted'>({escape(a.github_app)})</span>" if a.github_app else "")
        for name, a in s.cto_config.agents.items()
    ]
    return "<br>".join(agents) or ABSENT


def _severity_counts(issues: list[Detection]) -> str:
    counts = Counter(d.severity.lower() for d in issues)
    parts = [
        f"<span class='sev {level}' data-severity='{level}'>{counts[level]} {level}</span>"
        if counts[level]
        else f"<span class='zero' data-severity='{level}'>0 {level}</span>"
        for level in SEVERITIES
    ]
    other = sum(n for level, n in counts.items() if level not in SEVERITIES)
    if other:
        parts.append(f"<span class='muted' data-severity='other'>{other} other</span>")
    return " ".join(parts)


def _issue_links(issues: list[Detection]) -> str:
    urls = list(dict.fromkeys(d.github_issue for d in _in_time_order(issues) if d.github_issue))
    return " ".join(_issue_link(url) for url in urls) or ABSENT


def _pull_links(urls: list[str]) -> str:
    links = [_issue_link(url).replace(">#", ">PR #", 1) for url in dict.fromkeys(urls)]
    return ("<br>" + " ".join(links)) if links else ""


# --- session parts ------------------------------------------------------------------------------------


def _facts(s: Session) -> str:
    facts = [
        ("Repository", _text(s.repository)),
        ("Namespace", _text(s.namespace)),
        ("Status", _status(s.status) + (f" — {escape(s.ended_reason)}" if s.ended_reason else "")),
        ("Findings", _severity_counts(s.issues)),
        ("Started", _when(s.started_at)),
        ("Last updated", _when(s.last_updated)),
        ("Last log line seen", _when(s.last_line_at)),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _agents_table(s: Session) -> str:
    rows = [
        (escape(name), _text(a.github_app), _text(a.cli), _text(a.model))
        for name, a in s.cto_config.agents.items()
    ]
    return _table("agents", ("Agent", "GitHub app", "CLI", "Model"), rows, "No agents configured.")


def _tasks_table(s: Session) -> str:
    rows = [
        (escape(t.id), escape(t.title) or ABSENT, _text(t.agent_hint), escape(", ".join(t.dependencies)))
        for t in s.tasks
    ]
    return _table("tasks", ("Task", "Title", "Agent", "Depends on"), rows, "No tasks.")


def _timeline(issues: list[Detection]) -> str:
    rows = [
        (
            _when(d.detected_at),
            f"<code>{escape(d.code or ABSENT)}</code>",
            escape(d.issue_type),
            f"<span class='sev {escape(d.severity.lower())}'>{escape(d.severity)}</span>",
            _text(d.agent),
            escape(d.description),
            _issue_link(d.github_issue) if d.github_issue else ABSENT,
            "yes" if d.remediation_spawned else "no",
        )
        for d in _in_time_order(issues)
    ]
    columns = ("Detected", "Code", "Type", "Severity", "Agent", "Description", "GitHub issue", "Remediation")
    return _table("timeline", columns, rows, "Nothing found yet.")


# --- small helpers ------------------------------------------------------------------------------------


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _table(name: str, columns: Iterable[str], rows: list[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return f"<p class='empty'>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table id='{name}'><tr>{head}</tr>{body}</table>"


def _session_link(play_id: str) -> str:
    return f"<a href='/sessions/{escape(quote(play_id, safe=''))}'>{escape(play_id)}</a>"


def _issue_link(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        return escape(url)
    number = _ISSUE_NUMBER.search(url)
    label = f"#{number.group(1)}" if number else url
    return f"<a href='{escape(url)}'>{escape(label)}</a>"


def _status(status: str) -> str:
    return f"<span class='status {escape(status)}'>{escape(status)}</span>"


def _text(value: str | None) -> str:
    return escape(value) if value else ABSENT


def _moment(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC) if moment else None


def _when(value: str | None) -> str:
    """An RFC 3339 time as a person reads it (UTC, to the second); the exact value in `datetime`."""
    moment = _moment(value)
    if moment is None:
        return escape(value) if value else ABSENT
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<time datetime='{escape(value or '')}'>{shown}</time>"


def _in_time_order(issues: list[Detection]) -> list[Detection]:
    return sorted(issues, key=lambda d: _moment(d.detected_at) or _EPOCH)


def _recency(s: Session) -> datetime:
    return _moment(s.last_updated) or _moment(s.started_at) or _EPOCH
