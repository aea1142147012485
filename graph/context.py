"""What a graph run is given besides its state: the outside systems and the bounds (LangGraph's runtime
context, `Runtime[HealerContext]`). Nothing here is checkpointed; a resumed run gets a fresh context.

Every outside system is optional. A node whose system is missing does what it can without it and says
so (no LLM: the deterministic analysis; no GitHub: the issue is rendered but not filed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from graph.config import HealerSettings
from graph.triage.matcher import Matcher
from tools.discord import DiscordNotifier
from tools.github import GitHubTools
from tools.kubernetes import KubernetesTools
from tools.loki import LokiClient


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

    def give_back(self, calls: int) -> None:
        with self._lock:
            self._used = max(0, self._used - calls)


@dataclass
class HealerContext:
    settings: HealerSettings
    loki: LokiClient | None = None
    kube: KubernetesTools | None = None
    github: GitHubTools | None = None  # for the session's repository
    discord: DiscordNotifier | None = None
    evaluation_llm: BaseChatModel | None = None
    remediation_llm: BaseChatModel | None = None
    matcher: Matcher | None = None
    budget: SessionBudget = field(default_factory=lambda: SessionBudget(40))
