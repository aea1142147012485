"""What the engine does, for `/metrics` (api/metrics.py): prometheus_client's own Counter and Histogram in
one process-wide registry, counted where it happens instead of totals kept by hand."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
PASSES = Counter("healer_passes", "Session passes this process ran", registry=REGISTRY)
STEP_SECONDS = Histogram(
    "healer_session_step_seconds",
    "Time a session's step took: its pass, its incidents whose wait was over, the publishing",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180),
    registry=REGISTRY,
)
FINDING_DELAY = Histogram(
    "healer_finding_delay_seconds",
    "From a log line's timestamp to the pass that found it (its finding in the API)",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
