"""Pages for people (DESIGN §2): what Healer is watching, what it found, and the decisions it waits for,
server-rendered from the Jinja2 templates of `api/templates/` (autoescaped: every value from a session or a
log line is escaped; URLs become links only when they are http(s)).

No build step, no JavaScript, no outside resources: a little inline CSS. A page of a running play refreshes
itself (`<meta http-equiv=refresh>`), except one with a decision form, which would lose what was typed.

`overview(sessions)` is `GET /`; `session(session, incidents)` is `GET /sessions/<id>`, with links to each
incident; `incident(play_id, detail, csrf)` is `GET /sessions/<id>/incidents/<fingerprint>`: the analysis
(facts apart from hypotheses), the evidence, the attempts with their pull requests and CI, the timeline, and
on an escalated incident the decision form; `login(then, refused)` is `GET /login` (api/auth.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from api.mcp import IncidentDetail, IncidentSummary
from api.models import Detection, Session

SEVERITIES = ("critical", "high", "medium", "low")
REFRESH_S = 10
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
.refused{color:#a40e26}.decide{color:#a40e26}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.6rem;border-radius:.3rem}
form#decision{flex-wrap:wrap;margin:.5rem 0 1rem}
"""
_COLUMNS = (
    "Play", "Repository", "Status", "Agents", "Findings", "GitHub issues and PRs",
    "Started", "Last updated", "Last log line seen",
)  # fmt: skip
FINAL = frozenset({"resolved", "closed", "dismissed"})


@dataclass(frozen=True)
class SeverityCounts:
    levels: list[tuple[str, int]]
    other: int


def _moment(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC) if moment else None


def _shown(value: str | None) -> str | None:
    """An RFC 3339 time as a person reads it (UTC, to the second); None when it is not one."""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else None


def _severity_counts(issues: list[Detection]) -> SeverityCounts:
    counts = Counter(d.severity.lower() for d in issues)
    return SeverityCounts(
        [(level, counts[level]) for level in SEVERITIES],
        sum(n for level, n in counts.items() if level not in SEVERITIES),
    )


def _in_time_order(issues: list[Detection]) -> list[Detection]:
    return sorted(issues, key=lambda d: _moment(d.detected_at) or _EPOCH)


def _issue_urls(issues: list[Detection]) -> list[str]:
    return list(dict.fromkeys(d.github_issue for d in _in_time_order(issues) if d.github_issue))


def _issue_label(url: str) -> str:
    number = _ISSUE_NUMBER.search(url)
    return f"#{number.group(1)}" if number else url


def _recency(s: Session) -> datetime:
    return _moment(s.last_updated) or _moment(s.started_at) or _EPOCH


_TEMPLATES = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters |= {
    "moment": _shown,
    "urlquote": lambda value: quote(value, safe=""),
    "issue_label": _issue_label,
    "severity_counts": _severity_counts,
    "issue_urls": _issue_urls,
    "in_time_order": _in_time_order,
}
_TEMPLATES.globals["style"] = _STYLE


def _render(name: str, **values: object) -> str:
    return _TEMPLATES.get_template(name).render(refresh_s=values.pop("refresh_s", None), **values)


# --- the pages ----------------------------------------------------------------------------------------


def overview(sessions: list[Session]) -> str:
    active = sorted((s for s in sessions if s.status == "active"), key=_recency, reverse=True)
    ended = sorted((s for s in sessions if s.status != "active"), key=_recency, reverse=True)
    return _render(
        "overview.html",
        sessions=sessions,
        active=active,
        ended=ended,
        columns=_COLUMNS,
        refresh_s=REFRESH_S if active else None,
    )


def session(session: Session, incidents: list[IncidentSummary] | None = None) -> str:
    return _render(
        "session.html",
        s=session,
        incidents=incidents or [],
        refresh_s=REFRESH_S if session.status == "active" else None,
    )


def incident(play_id: str, detail: IncidentDetail, csrf: str, *, play_running: bool) -> str:
    settled = detail.waiting_for_human or detail.status in FINAL or not play_running
    return _render(
        "incident.html", play_id=play_id, i=detail, csrf=csrf, refresh_s=None if settled else REFRESH_S
    )


def login(then: str, *, refused: bool = False) -> str:
    return _render("login.html", then=then, refused=refused)
