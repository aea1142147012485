"""What a graph run is given besides its state: the outside systems and the bounds (LangGraph's runtime
context, `Runtime[HealerContext]`). Nothing here is checkpointed; a resumed run gets a fresh context.

Every outside system is optional. A node whose system is missing does what it can without it and says
so (no LLM: the deterministic analysis; no GitHub: the issue is rendered but not filed).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel

from graph.config import HealerSettings
from graph.triage.matcher import Matcher
from tools.discord import DiscordNotifier
from tools.github import GitHubTools
from tools.kubernetes import CodeRunState, KubernetesTools, PodState
from tools.loki import LokiClient
from tools.loki_streams import LokiEntry
from tools.play_logs import ClusterFacts, PlayLogs
from tools.slack import SlackNotifier


class NamespaceLines(Protocol):
    async def lines(
        self, namespace: str, pods: set[str] | None, start_ns: int, first_start_ns: int
    ) -> list[LokiEntry] | None:
        """The namespace's lines (of `pods`) from `start_ns` on, oldest first; None when the caller must
        read Loki itself (its cursor is older than what is shared). A failed read raises LokiError."""
        ...


class NamespaceClusters(Protocol):
    async def play(self, namespace: str, play_id: str) -> list[tuple[CodeRunState, list[PodState]]]:
        """The play's CodeRuns with their pods, from the namespace's shared view. Raises KubeError."""
        ...


class SessionBudget:
    """LLM calls per session (DESIGN §3), shared by the session's incidents, which may run at once."""

    def __init__(self, limit: int, used: int = 0) -> None:
        self.limit, self._used, self._lock = limit, used, threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def take(self, calls: int = 1) -> bool:
        """Reserve `calls`; False (and nothing taken) when that would pass the limit."""
        with self._lock:
            if self._used + calls > self.limit:
                return False
            self._used += calls
            return True

    def count_spent(self, calls: int) -> None:
        """Calls made before this budget existed (a restarted server's sessions)."""
        with self._lock:
            self._used += calls

    def give_back(self, calls: int) -> None:
        with self._lock:
            self._used = max(0, self._used - calls)


def spent(context: HealerContext, state: Mapping[str, Any], calls: int) -> str | None:
    """Why no more LLM calls may be made for this incident, or None: it takes `calls` from the session's
    budget when they may."""
    used = state.get("prompt_tokens", 0) + state.get("completion_tokens", 0)
    if used >= context.settings.incident_llm_tokens:
        return f"the incident's LLM budget of {context.settings.incident_llm_tokens} tokens is spent ({used})"
    if not context.budget.take(calls):
        return f"the session's LLM budget of {context.budget.limit} calls is spent"
    return None


@dataclass
class HealerContext:
    settings: HealerSettings
    loki: LokiClient | None = None
    kube: KubernetesTools | None = None
    github: GitHubTools | None = None  # for the session's repository
    discord: DiscordNotifier | None = None
    slack: SlackNotifier | None = None
    evaluation_llm: BaseChatModel | None = None
    remediation_llm: BaseChatModel | None = None
    matcher: Matcher | None = None
    budget: SessionBudget = field(default_factory=lambda: SessionBudget(40))
    # What the evaluation may investigate when the live clients are not the source (an evaluation case,
    # a replay); when None, they are read from `loki` and `kube`.
    play_logs: PlayLogs | None = None
    cluster_facts: ClusterFacts | None = None
    play_incidents: Callable[[], Awaitable[list[str]]] | None = None  # the play's open incidents, in words
    # The namespace's lines as this process's sessions share them (runtime/feeds.py): collect reads its
    # play's from here, and Loki itself only to catch up; None reads Loki directly.
    namespace_lines: NamespaceLines | None = None
    namespace_clusters: NamespaceClusters | None = None  # the same for CodeRuns and pods
