"""Runs a play's graphs (DESIGN §3): session passes on thread `play_id`, and the incidents they open on
threads `<play_id>/<fingerprint>`. Each call is one bounded invocation; whoever owns time (the server's
scheduler, or a replay's virtual clock) decides when the next one runs.

Everything the runner knows is in the checkpoints, so a new runner over the same database picks up a
play where a killed one stopped: passes go on from their cursor, incidents from their last step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from graph.context import HealerContext
from graph.graph import incident_graph, session_graph
from graph.seed import incident_input
from graph.session import SessionStart
from graph.state import Json

Graphs = tuple[CompiledStateGraph, CompiledStateGraph]


def compiled(checkpointer: BaseCheckpointSaver) -> Graphs:
    """Both graphs on `checkpointer`. Compiling costs ~20 ms: a server compiles once for all sessions."""
    return session_graph(checkpointer), incident_graph(checkpointer)


@dataclass(frozen=True, slots=True)
class IncidentView:
    thread_id: str
    fingerprint: str
    values: Json
    waiting_for_human: bool
    question: Json | None
    generation: int = 1
    interrupted_in_a_step: bool = False  # a run stopped inside a step (a crash): it resumes from there
    written: int = 0  # checkpoints the thread has had (its last step + 2: the input is step -1)

    @property
    def wake_at_ns(self) -> int | None:
        return self.values.get("wake_at_ns")

    @property
    def finished(self) -> bool:
        return not self.waiting_for_human and self.wake_at_ns is None


class PlayRunner:
    def __init__(
        self,
        session: SessionStart,
        context: HealerContext,
        checkpointer: BaseCheckpointSaver,
        *,
        clock: Callable[[], int],
        graphs: Graphs | None = None,
    ) -> None:
        self.session, self.context, self.clock = session, context, clock
        self.checkpointer = checkpointer
        self.sessions, self.incidents = graphs or compiled(checkpointer)
        self._recovered = False
        self._passed = False  # this runner has run a pass (the session thread exists)
        self.unopened: dict[str, Json] = {}  # fingerprint -> its incident's input, found and not opened yet
        if context.play_incidents is None:
            context.play_incidents = self.open_incident_summaries

    async def open_incident_summaries(self) -> list[str]:
        """The play's incidents not yet resolved, one line each, for the evaluation's `other_incidents`."""
        incidents = (await self.session_values()).get("incidents", {})
        return [
            f"{item['code']} {item['severity']} ({item.get('agent') or 'no agent'}): {item['title']}, "
            f"{item.get('status', 'open')}"
            for item in incidents.values()
            if item.get("status") != "resolved"
        ]

    @property
    def play_id(self) -> str:
        return self.session.play_id

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {
            "configurable": {"thread_id": thread_id},
            "recursion_limit": self.context.settings.recursion_limit,
        }

    async def session_values(self) -> Json:
        snapshot = await self.sessions.aget_state(self._config(self.play_id))
        return dict(snapshot.values)

    async def recover(self) -> list[IncidentView]:
        """After a restart: finish what a killed runner left half done. An incident the session opened but
        whose thread never started is started; one stopped inside a step resumes from its checkpoint."""
        values = await self.session_values()
        self._passed = self._passed or bool(values)  # its first pass need not read them again
        views = await self.all_incidents(values)
        self.context.budget.count_spent(sum(view.values.get("llm_calls", 0) for view in views))
        recovered = []
        for fingerprint, opened in values.get("incidents", {}).items():
            if opened.get("status") == "joined":
                continue  # its thread is the incident it joined
            view = await self.incident(fingerprint)
            if not view.values and fingerprint in values.get("seeds", {}):
                seed = incident_input(
                    self.session, values["seeds"][fingerprint], values, self.clock(), self.context.settings
                )
                recovered.append(await self._invoke(view.thread_id, seed, written=view.written))
            elif view.interrupted_in_a_step:
                recovered.append(await self._invoke(view.thread_id, None, written=view.written))
        self._recovered = True
        return recovered

    async def run_pass(self, *, open_found: bool = True) -> Json:
        """One pass: new lines and cluster state in, new incidents opened (and run until they wait). With
        `open_found=False` the incidents it found are left for `open_unopened` (`unopened` until then): the
        finding is out as soon as the pass is, and the incidents' runs (an evaluation, an issue) wait their
        turn behind the other sessions' passes."""
        if not self._recovered:
            await self.recover()
        await self.open_unopened()
        now = self.clock()
        update: Json = {"now_ns": now}
        # the session's first pass writes what it is; a runner that has run one knows it is written
        if not self._passed and not await self.session_values():
            update |= {
                "play_id": self.play_id,
                "session": self.session.model_dump(mode="json", by_alias=True),
            }
        # A pass is checkpointed once, when it ends: one killed halfway is simply run again from the last
        # pass's cursor (it wrote nothing outside), and a pass costs one write instead of four.
        values = await self.sessions.ainvoke(
            update, self._config(self.play_id), context=self.context, durability="exit"
        )
        self._passed = True
        passes = values.get("passes", 0)
        await self._prune_if_due(self.play_id, passes - 1, passes)
        for fingerprint, seen in values.get("recurred", {}).items():
            await self.note_recurrence(fingerprint, seen, values)
        for fingerprint, members in values.get("joined", {}).items():
            await self.note_members(fingerprint, members)
        self.unopened = {
            fingerprint: incident_input(
                self.session, values["seeds"][fingerprint], values, now, self.context.settings
            )
            for fingerprint in values.get("opened", [])
        }
        if open_found:
            await self.open_unopened()
        return values

    async def open_unopened(self) -> list[IncidentView]:
        """Open the incidents a pass found and left for later. A runner built afresh has none: its recovery
        opens what the session's last pass found (its checkpoint holds their seeds until the next pass)."""
        opened = []
        while self.unopened:
            fingerprint, initial = next(iter(self.unopened.items()))
            opened.append(await self.open_incident(fingerprint, initial))
            del self.unopened[fingerprint]
        return opened

    async def _prune_if_due(self, thread: str, written_before: int, written_after: int) -> None:
        """Every `checkpoints_kept - 1` checkpoints a thread is pruned to its newest (the savers' own
        `keep_latest`), so a session thread never holds more than `checkpoints_kept` and an incident's that
        and the steps of one run. Counted from what the checkpoints say (a session's passes, an incident's
        steps), not from what a runner has seen: a replica builds a runner afresh for most steps. Pruning
        after each run was a tenth of a replica's step, and with an incident's run a third
        (bench/scale.py)."""
        period = self.context.settings.checkpoints_kept - 1
        if written_after // period > written_before // period:
            await self.checkpointer.aprune([thread], strategy="keep_latest")

    async def open_incident(self, fingerprint: str, initial: Json) -> IncidentView:
        """Start the incident's thread; a thread that exists already (a pass re-run after a crash) is left
        as it is, so a fingerprint never gets a second incident."""
        thread = self.thread_of(fingerprint)
        if (await self.incidents.aget_state(self._config(thread))).values:
            return await self.incident(fingerprint)
        return await self._invoke(thread, initial, written=0)

    async def note_recurrence(
        self, fingerprint: str, seen: Json, pass_values: Json | None = None
    ) -> IncidentView | None:
        """New evidence for an open incident goes to its thread (a comment on its issue). A resolved one is
        re-reported: a new incident, a new issue (DESIGN §5). One waiting for a human, or dismissed by one,
        is left as it is."""
        view = await self.incident(fingerprint)
        if not view.values or view.waiting_for_human:
            return None
        now = self.clock()
        if view.values.get("stage") == "done":
            if view.values.get("status") != "resolved":
                return None
            seed = {"finding": seen["finding"], "evidence": seen["evidence"]}
            initial = incident_input(self.session, seed, pass_values or {}, now, self.context.settings)
            generation = view.generation + 1
            return await self._invoke(
                self.thread_of(fingerprint, generation), initial | {"generation": generation}, written=0
            )
        sighting = {"at_ns": now, "evidence": seen["evidence"]}
        return await self._invoke(
            view.thread_id, {"recurrences": [sighting], "now_ns": now}, written=view.written
        )

    async def note_members(self, fingerprint: str, members: list[Json]) -> IncidentView | None:
        """Findings with the incident's cause (other agents it hit) go to its thread: a comment on its
        issue. One waiting for a human gets it too (the human should know who else is hit): the run
        notes them and stops at the same question again (await_human writes nothing before asking)."""
        view = await self.incident(fingerprint)
        if not view.values or view.values.get("stage") == "done":
            return None
        return await self._invoke(
            view.thread_id, {"members": members, "now_ns": self.clock()}, written=view.written
        )

    async def run_due_incidents(
        self, *, concurrency: int = 1, views: list[IncidentView] | None = None
    ) -> list[IncidentView]:
        """Run every incident whose wait is over (CI to look at again, GitHub to retry); `views`, when the
        caller has just read them, saves reading them again."""
        now = self.clock()
        views = views if views is not None else await self.all_incidents()
        due = [view for view in views if self.due(view, now)]
        limit = asyncio.Semaphore(concurrency)

        async def run(view: IncidentView) -> IncidentView:
            async with limit:
                return await self._invoke(view.thread_id, {"now_ns": now}, written=view.written)

        return list(await asyncio.gather(*(run(view) for view in due)))

    async def decide(self, fingerprint: str, decision: Json) -> IncidentView:
        """A human's decision on an escalated incident resumes its interrupted run."""
        view = await self.incident(fingerprint)
        if not view.waiting_for_human:
            raise ValueError(f"incident {fingerprint} is not waiting for a decision")
        resume = Command(resume=decision, update={"now_ns": self.clock()})
        return await self._invoke(view.thread_id, resume, written=view.written)

    async def _invoke(self, thread: str, payload: Any, *, written: int) -> IncidentView:
        """Run the incident on `thread` until it waits; `written`: the checkpoints it had before."""
        await self.incidents.ainvoke(payload, self._config(thread), context=self.context, durability="sync")
        view = await self._view(thread)
        await self._prune_if_due(thread, written, view.written)
        return view

    def thread_of(self, fingerprint: str, generation: int = 1) -> str:
        """`<play>/<fingerprint>`; a fingerprint re-reported after it was resolved gets `~2`, `~3`, …"""
        suffix = "" if generation == 1 else f"~{generation}"
        return f"{self.play_id}/{fingerprint}{suffix}"

    async def _view(self, thread: str) -> IncidentView:
        snapshot = await self.incidents.aget_state(self._config(thread))
        questions = [i.value for task in snapshot.tasks for i in task.interrupts]
        name = thread.rsplit("/", 1)[1]
        fingerprint, _, generation = name.partition("~")
        return IncidentView(
            thread,
            fingerprint,
            dict(snapshot.values),
            bool(questions),
            questions[0] if questions else None,
            int(generation or 1),
            bool(snapshot.next) and not questions,
            snapshot.metadata["step"] + 2 if snapshot.metadata else 0,
        )

    async def generations(self, fingerprint: str) -> list[IncidentView]:
        """Every incident the fingerprint has had, oldest first."""
        views = [await self._view(self.thread_of(fingerprint))]
        while views[-1].values:
            views.append(await self._view(self.thread_of(fingerprint, views[-1].generation + 1)))
        return views[:-1] or views

    async def incident(self, fingerprint: str) -> IncidentView:
        """The fingerprint's latest incident."""
        return (await self.generations(fingerprint))[-1]

    @staticmethod
    def due(view: IncidentView, now: int) -> bool:
        return view.wake_at_ns is not None and view.wake_at_ns <= now

    async def all_incidents(self, session_values: Json | None = None) -> list[IncidentView]:
        """Every incident of the play; `session_values`, the pass's output when one just ran, saves reading
        the session's checkpoint again."""
        values = session_values if session_values is not None else await self.session_values()
        return [
            view
            for fingerprint, opened in values.get("incidents", {}).items()
            if opened.get("status") != "joined"  # its thread is the incident it joined
            for view in await self.generations(fingerprint)
        ]
