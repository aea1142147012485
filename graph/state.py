"""The state of Healer's two graphs (DESIGN §3), and the models the LLM nodes exchange.

Checkpointed state is plain JSON (dicts, lists, strings, numbers): a checkpoint written by one version of
Healer stays readable by the next, works with LangGraph's strict deserialisation, and reads as is in SQLite
or Postgres. Pydantic models are the edges: nodes validate what they take out of state and dump what they
put in (`Finding`, `Analysis`, `Attempt`, …).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.redact import redact

Json = dict[str, Any]


class Event(TypedDict):
    """One line of an incident's or a session's timeline."""

    at_ns: int
    event: str
    detail: str


# --- the session pass: collect → triage → open_incidents ----------------------------------------------


class SessionState(TypedDict):
    play_id: str
    session: Json  # the SessionStart payload
    now_ns: int  # the time of this pass, given by the scheduler (a virtual clock in replays)
    cursor_ns: NotRequired[int | None]  # newest log timestamp read so far
    boundary_keys: NotRequired[list[str]]  # lines at `cursor_ns` already read (Loki bounds are inclusive)
    pod_cursors: NotRequired[dict[str, Json]]  # without Loki: pod -> {ns, keys} of its log read so far
    spans: NotRequired[dict[str, list[int | None]]]  # agent -> [first, last] line time
    inventory: NotRequired[list[Json]]  # the lines in which agents reported their tools
    preflight_done: NotRequired[list[str]]  # agents whose pre-flight verdict is final
    recent: NotRequired[list[str]]  # the last lines of the previous pass, for evidence windows
    coderuns: NotRequired[list[Json]]
    pod_agents: NotRequired[dict[str, str]]  # pod -> agent, from its CodeRun's `github-app`
    pulls: NotRequired[dict[str, Json]]  # the play's pull requests by number: reviews, commenters, CI
    batch: NotRequired[list[Json]]  # this pass's new lines (emptied by open_incidents)
    more_lines: NotRequired[bool]  # the pass stopped at `lines_per_pass`: more are there to read
    findings: NotRequired[list[Json]]  # this pass's findings, each with its evidence
    incidents: NotRequired[dict[str, Json]]  # fingerprint -> what opened it
    occurrences: NotRequired[dict[str, int]]  # fingerprint -> times seen
    opened: NotRequired[list[str]]  # fingerprints this pass opened an incident for
    seeds: NotRequired[dict[str, Json]]  # what each of those incidents starts from (finding, evidence)
    recurred: NotRequired[dict[str, Json]]  # known fingerprint -> {finding, evidence} seen again this pass
    joined: NotRequired[dict[str, list[Json]]]  # open incident -> findings that joined it this pass
    passes: NotRequired[int]
    lines_seen: NotRequired[int]
    event_pending: NotRequired[
        dict[str, Json]
    ]  # per stream: an agent event not yet complete at the pass's end
    agent_records: NotRequired[dict[str, int]]  # agent records read, by kind (lifecycle, transcript, …)
    last_line_ns: NotRequired[int | None]
    play_over: NotRequired[bool]
    rules_change_at_ns: NotRequired[int | None]  # when a time-based rule could next fire (triage/deadlines)
    degraded: NotRequired[list[str]]  # outside systems that failed in this pass, in words
    timeline: NotRequired[Annotated[list[Event], operator.add]]


# --- an incident: evaluate → file_issue → notify → remediate → verify → resolve | escalate ------------

Stage = Literal["new", "filed", "remediating", "verifying", "awaiting_human", "done"]
Status = Literal["open", "remediating", "resolved", "escalated", "closed"]


class IncidentState(TypedDict):
    play_id: str
    fingerprint: str
    generation: NotRequired[int]  # 2, 3, … when the fingerprint came back after it was resolved
    repository: str | None
    namespace: NotRequired[str | None]
    now_ns: int
    finding: Json  # a triage Finding
    evidence: list[str]  # redacted log lines around the finding, with their times
    facts: list[str]  # what Kubernetes and the pre-flight check say, in words
    expected_tools: list[str]  # what the session declared for the finding's agent
    pods: NotRequired[dict[str, str]]  # the play's pods -> agent, when the incident opened
    investigation: NotRequired[list[Json]]  # the evaluation's tool calls: {tool, args, tokens}
    checklist: NotRequired[list[Json]]  # a pre-flight finding's checklist (graph/triage/checklist.py)
    task_id: NotRequired[str | None]  # the task of the agent's CodeRun
    max_iterations: NotRequired[int]  # remediation attempts before a human is asked (cto-config)
    sync_timeout_secs: NotRequired[int]  # how long CI may take on an attempt (cto-config)
    stage: NotRequired[Stage]
    status: NotRequired[Status]
    analysis: NotRequired[Json | None]
    analysis_note: NotRequired[str | None]  # why there is no model analysis, when there is none
    issue: NotRequired[Json | None]  # IssueRef, or None when GitHub is not configured
    issue_body: NotRequired[str]
    notified: NotRequired[bool]
    attempts: NotRequired[list[Json]]  # Attempt
    ci_wait_started_ns: NotRequired[int | None]
    llm_calls: NotRequired[int]
    prompt_tokens: NotRequired[int]
    completion_tokens: NotRequired[int]
    escalation_reason: NotRequired[str | None]
    decision: NotRequired[Json | None]
    decisions: NotRequired[list[Json]]
    retry_from: NotRequired[int]  # attempts before a human's `retry` do not count against maxIterations
    wake_at_ns: NotRequired[int | None]  # when a waiting incident wants to run again
    recurrences: NotRequired[Annotated[list[Json], operator.add]]  # later sightings: {at_ns, evidence}
    recurrences_noted: NotRequired[int]
    # findings of other agents or codes with this incident's cause (graph/triage/correlate.py)
    members: NotRequired[Annotated[list[Json], operator.add]]
    members_noted: NotRequired[int]  # how many of them the issue already shows
    timeline: NotRequired[Annotated[list[Event], operator.add]]


def event(at_ns: int, name: str, detail: str = "") -> Event:
    return {"at_ns": at_ns, "event": name, "detail": detail}


# --- what the LLM nodes return --------------------------------------------------------------------------

_STRICT = ConfigDict(extra="ignore")


class Analysis(BaseModel):
    """The evaluation model's root-cause analysis. Facts (seen in the evidence) are kept apart from
    hypotheses (what may explain them). A small model writes the fields in this order, so what decides
    the incident comes first and the long quoted evidence last: an answer cut short loses the least."""

    model_config = _STRICT

    summary: str = Field(
        description="one sentence for an operator: which agent, and what failed or is missing, by name"
    )
    root_cause: str = Field(
        description="the most likely root cause, naming the tool, file or setting involved"
    )
    category: Literal[
        "tooling", "configuration", "infrastructure", "authentication", "code", "agent", "unknown"
    ] = Field(description="the kind of failure")
    severity: Literal["critical", "high", "medium", "low"]
    confidence: float = Field(ge=0, le=1, description="0 to 1: how sure the root cause is")
    automatable: bool = Field(description="true if a change to files in the repository can fix it")
    suggested_fix: str = Field(description="what should change, concretely")
    facts: list[str] = Field(description="what the log lines show, each a short sentence; nothing guessed")
    evidence: list[str] = Field(
        description="at most five log lines that prove the facts, copied exactly as shown"
    )
    hypotheses: list[str] = Field(default_factory=list, description="possible explanations, not yet proven")
    files_involved: list[str] = Field(
        default_factory=list, description="repository-relative paths likely involved"
    )

    @field_validator(
        "facts", "evidence", "summary", "root_cause", "hypotheses", "suggested_fix", "files_involved"
    )
    @classmethod
    def _redacted(cls, value: str | list[str]) -> str | list[str]:
        """The model echoes what it read: every text of the analysis is redacted before it goes anywhere
        (issue, comments, remediation prompt, page, logs)."""
        return redact(value) if isinstance(value, str) else [redact(item) for item in value]


class FileChange(BaseModel):
    model_config = _STRICT

    path: str = Field(description="a repository path, relative, as given in the files shown")
    content: str = Field(description="the whole new content of the file")


class ProposedChange(BaseModel):
    """The remediation model's change: whole files, checked against the scope in code before any write."""

    model_config = _STRICT

    summary: str = Field(description="what the change does and why, in one or two sentences")
    files: list[FileChange] = Field(description="the files to write, each with its whole new content")


class Attempt(BaseModel):
    """One remediation attempt: its branch, its pull request and what CI said."""

    n: int
    branch: str
    summary: str = ""
    files: list[str] = Field(default_factory=list)
    commit: str | None = None
    pull_number: int | None = None
    pull_url: str | None = None
    ci: Literal["pending", "success", "failure", "timeout", "rejected", "error"] = "pending"
    ci_detail: str = ""
    started_ns: int = 0


class Decision(BaseModel):
    action: Literal["retry", "resolve", "dismiss"]
    by: str = Field(default="a human", max_length=100)
    note: str = Field(default="", max_length=2000)
