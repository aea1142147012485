"""What runs the sessions (DESIGN §3), whichever engine it is: the in-process scheduler of one server on
SQLite (runtime/local.py) or the Postgres job queue shared by N replicas (runtime/queue.py). The API, the
pages, the MCP server and `/metrics` talk to an `Engine` and do not care which runs.

A session's work is a series of steps. A step is one pass (new lines and cluster state in, findings out)
and the incidents whose wait is over; after it, what was found is published into the session's row for
the API. The incidents a pass found are opened (and run until they wait: an evaluation, an issue) in the
session's next turn, so a burst of findings across many sessions is published first and evaluated after.
A session ends by itself when its play is over (every CodeRun terminal) or when no new log line came for
`idle_timeout_s`; incidents still waiting on CI go on being looked at after that, and a human's decision
can resume an escalated one at any time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from api.models import Detection, Session, SessionStatus, rfc3339
from api.store import SessionStore
from graph.config import HealerSettings
from graph.context import HealerContext, NamespaceClusters, NamespaceLines
from graph.session import SessionStart
from graph.state import Json
from runtime import metrics
from runtime.clusters import ClusterWatches
from runtime.runner import IncidentView, PlayRunner, compiled
from runtime.services import live_context
from runtime.tails import LineFollowers
from tools.timestamps import parse_rfc3339_ns

log = logging.getLogger("healer.engine")
ContextFactory = Callable[
    [HealerSettings, SessionStart], contextlib.AbstractAsyncContextManager[HealerContext]
]
MAX_BACKOFF_S = 300.0
DEADLINE_SLACK_S = 1.0  # a timed step for a rule's deadline comes just after it, not just before
USAGE_KEYS = ("llm_calls", "prompt_tokens", "completion_tokens", "issues", "outside_errors")
_WAITING_FOR_GITHUB = "github: incident "
_FAILURE_EVENTS = ("github unavailable", "notification failed", "no analysis")


@dataclass(slots=True)
class Progress:
    """What a session's steps carry from one to the next (in memory locally, in a row on Postgres)."""

    lines_seen: int = -1
    changed_ns: int = 0  # when lines_seen last changed: the idle timeout counts from here
    over: bool = False  # the play is over: no more passes, only the incidents still waiting


class Engine(ABC):
    def __init__(
        self,
        settings: HealerSettings,
        store: SessionStore,
        checkpointer: BaseCheckpointSaver,
        *,
        interval_s: float = 5.0,
        idle_timeout_s: float = 3600.0,
        clock: Callable[[], int] = time.time_ns,
        contexts: ContextFactory = live_context,
        feeds: NamespaceLines | None = None,
        clusters: NamespaceClusters | None = None,
        tails: LineFollowers | None = None,
    ) -> None:
        self.settings, self.store, self.checkpointer = settings, store, checkpointer
        # the Loki lines, CodeRuns and pods this process's sessions share, per namespace (runtime/feeds.py)
        self.feeds, self.clusters = feeds, clusters
        # one Loki tail per namespace (runtime/tails.py), or without a Loki the pods' followed logs
        # (runtime/pod_logs.py): new lines wake the sessions they concern
        self.tails = tails
        if tails is not None:
            tails.bind(self._lines_arrived)
        if isinstance(clusters, ClusterWatches):  # one watch per namespace: its changes wake sessions too
            clusters.bind(self._changed)
        self.interval_s, self.idle_timeout_s = interval_s, idle_timeout_s
        self.clock, self.contexts = clock, contexts
        self._graphs = compiled(checkpointer)
        self.passes_run = 0  # by this process

    # --- what the API asks ------------------------------------------------------------------------------

    @abstractmethod
    async def resume_active(self) -> int:
        """On startup: every active session runs again, from its checkpoints; how many there are."""

    @abstractmethod
    async def schedule(self, session: Session) -> None:
        """A started session runs (at once, then every `interval_s`)."""

    @abstractmethod
    async def stop(self, play_id: str) -> None:
        """The session is no longer run."""

    @abstractmethod
    async def decide(self, session: Session, fingerprint: str, decision: dict[str, Any]) -> IncidentView:
        """A human's decision resumes the escalated incident (never while a step of its session runs)."""

    @abstractmethod
    async def usage(self) -> dict[str, int]:
        """LLM, GitHub and failure counts of the incidents of the running sessions (as last published:
        a scrape reads no checkpoint)."""

    @abstractmethod
    async def running(self) -> list[str]:
        """The plays whose sessions are being run."""

    async def _lines_arrived(self, namespace: str, pods: set[str] | None) -> None:
        """The namespace's tail saw lines of `pods` (None: any pod): the sessions they concern step now,
        those of a pod new to them too when the cluster's watch knows whose it is."""
        plays = (
            self.clusters.plays_of(namespace, pods)
            if pods and isinstance(self.clusters, ClusterWatches)
            else set()
        )
        await self._changed(namespace, pods, plays)

    @abstractmethod
    async def _changed(self, namespace: str, pods: set[str] | None, plays: set[str]) -> None:
        """Lines of `pods` (None: any pod) came, or those pods or the CodeRuns of `plays` changed: the
        sessions they concern step now."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Graceful: the steps under way finish (their checkpoints are whole), then it returns."""

    async def incidents(self, session: SessionStart) -> list[IncidentView]:
        """The session's incidents as the checkpoints hold them: a read, so no outside client is built.
        One its pass opened whose thread has not begun yet (the step is starting it now, or a crash left
        it for the recovery) is not there yet: it has nothing to show."""
        context = HealerContext(settings=self.settings)
        runner = PlayRunner(session, context, self.checkpointer, clock=self.clock, graphs=self._graphs)
        return [view for view in await runner.all_incidents() if view.values]

    async def end(self, play_id: str, status: SessionStatus, reason: str) -> Session | None:
        if status != "active":
            await self.stop(play_id)
        return await self._record_end(play_id, status, reason)

    # --- a step -----------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _runner(self, session: SessionStart) -> AsyncIterator[PlayRunner]:
        async with self.contexts(self.settings, session) as context:
            if context.loki is not None and self.feeds is not None:
                context.namespace_lines = self.feeds
            if context.kube is not None and self.clusters is not None:
                context.namespace_clusters = self.clusters
            yield PlayRunner(session, context, self.checkpointer, clock=self.clock, graphs=self._graphs)

    async def _step(
        self, session: Session, runner: PlayRunner, progress: Progress, *, open_later: bool = False
    ) -> tuple[list[IncidentView], Json]:
        """One step of the session; `progress` is updated in place. Returns the incidents as published
        and the pass's values (empty once the play is over). With `open_later`, the incidents the pass
        found are published as findings and left in `runner.unopened`: the engine opens them in the
        session's next turn (`_open_step`, or the next step), behind the steps already waiting, so
        under load the passes (what an operator waits for) go first and the incidents' runs after."""
        began, values = time.perf_counter(), {}
        if not progress.over:
            values = await runner.run_pass(open_found=not open_later)
            self.passes_run += 1
            metrics.PASSES.inc()
            for delay_s in finding_delays_s(values, self.clock()):
                metrics.FINDING_DELAY.observe(delay_s)
        views = await runner.all_incidents(values or None)
        if any(runner.due(view, self.clock()) for view in views):
            await runner.run_due_incidents(views=views)
            views = await runner.all_incidents()
        views = await self._publish(session.play_id, runner, values if not progress.over else None, views)
        metrics.STEP_SECONDS.observe(time.perf_counter() - began)
        if progress.over:
            return views, values
        if values.get("lines_seen", 0) != progress.lines_seen:
            progress.lines_seen, progress.changed_ns = values.get("lines_seen", 0), self.clock()
        if values.get("play_over"):
            progress.over = True
            if runner.unopened:  # no step comes after the last pass but for the incidents waiting
                await runner.open_unopened()
                views = await self._publish(session.play_id, runner)
            await self._record_end(
                session.play_id, "completed", "the play is over: every CodeRun is terminal"
            )
        elif (self.clock() - progress.changed_ns) / 1e9 > self.idle_timeout_s and not runner.unopened:
            progress.over = True
            await self._record_end(
                session.play_id, "completed", f"no new log line for {self.idle_timeout_s:.0f} s"
            )
        return views, values

    async def _open_step(self, session: Session, runner: PlayRunner) -> list[IncidentView]:
        """The incidents a step found and left for later, opened (each runs until it waits), and
        published."""
        await runner.open_unopened()
        return await self._publish(session.play_id, runner)

    @staticmethod
    def finished(progress: Progress, views: list[IncidentView]) -> bool:
        """Nothing left to look at: a decision resumes an escalation on demand."""
        return progress.over and all(view.wake_at_ns is None for view in views)

    def next_step_in_s(
        self, runner: PlayRunner, views: list[IncidentView], values: Json, progress: Progress
    ) -> float:
        """When the session's next timed step is due (`timed_step_in_s`)."""
        return timed_step_in_s(
            interval_s=self.interval_s,
            catchup_s=self.settings.catchup_s,
            idle_timeout_s=self.idle_timeout_s,
            followed=self._followed(runner),
            values=values,
            progress=progress,
            wakes=[view.wake_at_ns for view in views if view.wake_at_ns is not None],
            now_ns=self.clock(),
        )

    def _followed(self, runner: PlayRunner) -> bool:
        """Whatever the session reads tells of its changes now: its lines are followed (its namespace's
        Loki tail is connected, or without a Loki its pods' logs are followed), its cluster is watched
        (or not read at all), and no pull requests are polled on GitHub."""
        namespace = runner.session.namespace or "default"
        context = runner.context
        if self.tails is None or not self.tails.live(namespace):
            return False
        if context.loki is None and context.kube is None:
            return False
        if context.kube is not None and not (
            isinstance(self.clusters, ClusterWatches) and self.clusters.live(namespace)
        ):
            return False
        return context.github is None or not runner.session.tasks

    def backoff_s(self, failures: int) -> float:
        return min(self.interval_s * 2**failures, MAX_BACKOFF_S)

    async def _record_end(self, play_id: str, status: SessionStatus, reason: str) -> Session | None:
        session = await self.store.get(play_id)
        if session is None:
            return None
        session = session.model_copy(
            update={"status": status, "ended_reason": reason, "last_updated": rfc3339()}
        )
        await self.store.save(session)
        log.info("session ended", extra={"play_id": play_id, "status": status, "reason": reason})
        return session

    @abstractmethod
    async def _note_usage(self, play_id: str, counts: dict[str, int]) -> None:
        """Where the engine keeps a session's counts for `usage()`."""

    async def _publish(
        self,
        play_id: str,
        runner: PlayRunner,
        pass_values: Json | None = None,
        views: list[IncidentView] | None = None,
    ) -> list[IncidentView]:
        """What the graphs found, into the session's `issues` (the API's detections), with the PRs Healer
        opened, the time of the last log line seen and the outside systems failing now, for the pages.
        `views`: the incidents as the step just read them."""
        views = views if views is not None else await runner.all_incidents()
        last_line_ns = (pass_values or {}).get("last_line_ns")
        await self._note_usage(play_id, usage_of(views))
        session = await self.store.get(play_id)
        if session is not None:
            changes: dict[str, Any] = {
                "issues": [detection(view.values) for view in views if view.values]
                + [detection(initial) for initial in runner.unopened.values()],
                "pull_requests": [
                    a["pull_url"]
                    for view in views
                    for a in view.values.get("attempts", [])
                    if a.get("pull_url")
                ],
                "degraded": degradation(pass_values, views, session.degraded),
            }
            if last_line_ns:
                changes["last_line_at"] = rfc3339(last_line_ns)
            if any(getattr(session, key) != value for key, value in changes.items()):
                await self.store.save(session.model_copy(update=changes | {"last_updated": rfc3339()}))
        return views


def finding_delays_s(values: Json, now_ns: int) -> list[float]:
    """For each incident the pass opened from a log line: how long after the line's timestamp."""
    delays = []
    for fingerprint in values.get("opened", []):
        finding = values.get("seeds", {}).get(fingerprint, {}).get("finding", {})
        if finding.get("line_no") is not None and finding.get("timestamp"):
            line_ns = parse_rfc3339_ns(finding["timestamp"])
            if line_ns is not None:
                delays.append(max(0.0, (now_ns - line_ns) / 1e9))
    return delays


def timed_step_in_s(
    *,
    interval_s: float,
    catchup_s: float,
    idle_timeout_s: float,
    followed: bool,
    values: Json,
    progress: Progress,
    wakes: list[int],
    now_ns: int,
) -> float:
    """When a session's next timed step is due. Every `interval_s` while something it reads is not
    `followed` (no tail, no watch, pull requests polled on GitHub), a system fails or lines are left to
    read. Else its tail and watch wake it for what changes, and the timed step comes when a time-based
    rule could fire (graph/triage/deadlines.py), when the idle timeout would end the session, or after
    `catchup_s` to catch up on what a tail might have missed. Sooner when an incident's wait ends."""
    timed = interval_s
    if followed and not progress.over and not values.get("degraded") and not values.get("more_lines"):
        timed = max(interval_s, catchup_s)
        idle_ends_at = progress.changed_ns + int(idle_timeout_s * 1e9)
        for moment in (values.get("rules_change_at_ns"), idle_ends_at):
            if moment is not None:
                timed = min(timed, max(interval_s, (moment - now_ns) / 1e9 + DEADLINE_SLACK_S))
    if wakes:
        timed = min(timed, max(interval_s, (min(wakes) - now_ns) / 1e9))
    return timed


def degradation(pass_values: Json | None, views: list[IncidentView], before: list[str]) -> list[str]:
    """The outside systems failing now: what the last pass could not read (`collect`'s `degraded`; kept
    from `before` when no pass ran) and the incidents waiting for GitHub to answer again. Cleared as soon
    as they answer."""
    if pass_values is None:
        problems = [problem for problem in before if not problem.startswith(_WAITING_FOR_GITHUB)]
    else:
        problems = list(pass_values.get("degraded", []))
    for view in views:
        timeline = view.values.get("timeline") or []
        if view.wake_at_ns is not None and timeline and timeline[-1]["event"] == "github unavailable":
            problems.append(f"{_WAITING_FOR_GITHUB}{view.fingerprint} waits: {timeline[-1]['detail'][:200]}")
    return problems


def usage_of(views: list[IncidentView]) -> dict[str, int]:
    counts = dict.fromkeys(USAGE_KEYS, 0)
    for view in views:
        for key in ("llm_calls", "prompt_tokens", "completion_tokens"):
            counts[key] += view.values.get(key, 0)
        counts["issues"] += 1 if view.values.get("issue") else 0
        counts["outside_errors"] += sum(
            1 for e in view.values.get("timeline", []) if e["event"] in _FAILURE_EVENTS
        )
    return counts


def detection(values: Json) -> Detection:
    """An incident (or the input of one not opened yet) as the session API's detection: the original's
    fields, `issue_type` from its code (api/issue_types.py), and the code itself."""
    finding = values["finding"]
    opened = values.get("timeline", [{}])[0].get("at_ns") if values.get("timeline") else None
    # the line's time, else when the incident opened, else now
    moment = finding.get("timestamp") or rfc3339(opened or None)
    return Detection(
        detected_at=moment,
        code=finding["code"],
        severity=finding["severity"],
        description=f"{finding['name']}: {finding.get('detail') or finding['matched']}",
        agent=finding.get("agent"),
        task_id=values.get("task_id"),
        remediation_spawned=bool(values.get("attempts")),
        github_issue=(values.get("issue") or {}).get("url"),
    )
