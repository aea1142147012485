"""The LogQL selector of a play's lines, shared by the collect node and the server's tail."""

from __future__ import annotations

from graph.session import SessionStart
from tools.loki import selector, selector_any_of


def play_query(session: SessionStart, pod_agents: dict[str, str]) -> str:
    """The play's lines: its pods when Kubernetes named them, else its namespace."""
    labels = {"namespace": session.namespace or "default"}
    if pod_agents:
        return selector_any_of(labels, "pod", pod_agents)
    return selector(labels)
