"""How `healer scan` shows findings: a table with a summary for people, JSON lines for programs."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from graph.triage.catalogue import CATALOGUE, Severity
from graph.triage.models import Finding

_SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
_CODE_ORDER = {alert.code: index for index, alert in enumerate(CATALOGUE)}
_JSON_FIELDS = {
    "line_no", "code", "name", "severity", "priority", "action", "fingerprint", "agent", "pod", "container",
    "timestamp", "level", "text", "matched", "missing_tools", "detail", "event", "reason",
}  # fmt: skip


def print_jsonl(findings: Sequence[Finding], out: TextIO) -> None:
    for finding in findings:
        out.write(finding.model_dump_json(include=_JSON_FIELDS))
        out.write("\n")


def print_table(findings: Sequence[Finding], lines_scanned: int, out: TextIO) -> None:
    width = max(shutil.get_terminal_size((120, 24)).columns, 80)
    header = ("LINE", "TIME", "AGENT", "CODE", "SEVERITY", "TEXT")
    rows = [_row(f) for f in findings]
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(5)]
    text_width = max(width - sum(widths) - 2 * 5, 20)
    for row in (header, *rows):
        cells = [cell.ljust(widths[i]) if i else cell.rjust(widths[i]) for i, cell in enumerate(row[:5])]
        out.write("  ".join([*cells, _shorten(row[5], text_width)]).rstrip() + "\n")
    out.write("\n" + summary(findings, lines_scanned) + "\n")


def _row(finding: Finding) -> tuple[str, str, str, str, str, str]:
    when = finding.timestamp.strftime("%H:%M:%S") if finding.timestamp else "-"
    text = finding.detail or finding.text.strip()
    return (
        str(finding.line_no) if finding.line_no is not None else "-",
        when,
        finding.agent or "-",
        finding.code,
        f"{finding.severity.value} {finding.priority.value}",
        " ".join(text.split()),
    )


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def summary(findings: Sequence[Finding], lines_scanned: int) -> str:
    if not findings:
        return f"No findings in {lines_scanned:,} lines."
    by_code = Counter(f.code for f in findings)
    by_severity = Counter(f.severity for f in findings)
    codes = ", ".join(f"{code} {by_code[code]}" for code in sorted(by_code, key=_CODE_ORDER.get))
    severities = ", ".join(f"{s.value} {by_severity[s]}" for s in _SEVERITY_ORDER if by_severity[s])
    incidents = len({f.fingerprint for f in findings})
    return (
        f"{len(findings):,} findings ({incidents:,} distinct) in {lines_scanned:,} lines\n"
        f"by code:     {codes}\n"
        f"by severity: {severities}"
    )
