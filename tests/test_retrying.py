"""One reading of `Retry-After` for every client (tools/retrying.py)."""

from __future__ import annotations

from tools.retrying import retry_after_s

NOW = 1_795_497_600.0  # 2026-11-24T05:20:00Z


def test_seconds_and_http_dates_are_read_whatever_the_header_case() -> None:
    assert retry_after_s({"Retry-After": "7"}) == 7.0
    assert retry_after_s({"retry-after": "1.5"}) == 1.5
    assert retry_after_s({"RETRY-AFTER": "Tue, 24 Nov 2026 05:20:30 GMT"}, now=lambda: NOW) == 30.0


def test_waits_are_capped_and_never_negative() -> None:
    assert retry_after_s({"Retry-After": "9000"}, cap=300.0) == 300.0
    assert retry_after_s({"Retry-After": "Tue, 24 Nov 2026 05:00:00 GMT"}, now=lambda: NOW) == 0.0
    assert retry_after_s({"Retry-After": "-3"}) == 0.0
    assert retry_after_s({"Retry-After": "120"}) == 120.0


def test_no_or_unreadable_header_means_no_hint() -> None:
    assert retry_after_s(None) is None
    assert retry_after_s({}) is None
    assert retry_after_s({"Retry-After": " "}) is None
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({"Retry-After": "nan"}) is None
