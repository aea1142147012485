"""The compiled graphs draw the edges they run (the routers' return types name their targets)."""

from __future__ import annotations

from graph.graph import incident_graph, session_graph

INCIDENT_EDGES = {
    "__start__": {"__end__", "await_human", "escalate", "evaluate", "file_issue", "note_recurrence"}
    | {"notify", "remediate", "verify"},
    "note_recurrence": {"__end__", "await_human", "escalate", "evaluate", "file_issue", "notify"}
    | {"remediate", "verify"},
    "evaluate": {"escalate", "file_issue", "remediate"},
    "file_issue": {"__end__", "notify"},
    "notify": {"__end__", "escalate", "remediate"},
    "remediate": {"__end__", "escalate", "evaluate", "verify"},
    "verify": {"__end__", "escalate", "evaluate", "resolve"},
    "resolve": {"__end__"},
    "escalate": {"__end__", "await_human"},
    "await_human": {"await_human", "escalate", "remediate", "resolve"},
}


def _edges(graph) -> dict[str, set[str]]:
    drawn: dict[str, set[str]] = {}
    for edge in graph.get_graph().edges:
        drawn.setdefault(edge.source, set()).add(edge.target)
    return drawn


def test_the_incident_graph_draws_every_route_of_its_routers() -> None:
    assert _edges(incident_graph()) == INCIDENT_EDGES


def test_the_session_graph_is_a_line() -> None:
    assert _edges(session_graph()) == {
        "__start__": {"collect"},
        "collect": {"triage"},
        "triage": {"open_incidents"},
        "open_incidents": {"__end__"},
    }
