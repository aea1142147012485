"""What Healer writes on GitHub (DESIGN §6): the issue's title, labels and body, and the comments that
follow an incident (attempts, CI results, escalation, resolution). Pure text; the nodes do the writing.

Log text is fenced, and every other text that may echo it (the model's analysis, triage's detail, error
messages) is neutralised (`tools.fence`), so a log line can neither close its fence nor mention, embed or
reference anything on GitHub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.prompts import render
from graph.state import Analysis, Attempt
from graph.triage import checklist
from graph.triage.models import Finding
from tools.fence import fenced, inline_code, neutralised, one_line, table_code, table_text
from tools.loki import selector

NO_ANALYSIS = "_The model analysis is unavailable: {why}. What follows is Healer's deterministic triage._"


def title(finding: Finding, play_id: str, members: Sequence[Mapping[str, object]] = ()) -> str:
    who = [finding.agent or finding.pod or "play"]
    who += [str(m.get("agent") or m.get("pod")) for m in members if (m.get("agent") or m.get("pod"))]
    return one_line(f"[HEAL-{finding.code}] {finding.name}: {', '.join(dict.fromkeys(who))} ({play_id})")


def affected_rows(members: Sequence[Mapping[str, object]]) -> str:
    """The table rows of the findings that joined the incident: the other agents one cause hit."""
    rows = []
    for member in members:
        who = table_text(str(member.get("agent") or "-"))
        pod = table_code(str(member["pod"])) if member.get("pod") else "-"
        cause = table_text(str(member.get("cause") or "-"))
        rows.append(f"| also affected | {who} (pod {pod}, {member.get('code')}): same {cause} |\n")
    return "".join(rows)


def labels(finding: Finding, play_id: str) -> list[str]:
    return ["heal", finding.code.lower(), f"severity:{finding.severity}", f"play:{play_id}"]


def marker_key(fingerprint: str, generation: int) -> str:
    """What the issue's hidden marker names: the fingerprint, and which time it came back after it was
    resolved (`~2`), so a re-report files a new issue instead of finding the closed one."""
    return fingerprint if generation == 1 else f"{fingerprint}~{generation}"


def finding_labels(play_id: str) -> list[str]:
    """The labels every issue of the play carries: what listing by label narrows to."""
    return ["heal", f"play:{play_id}"]


def body(
    finding: Finding,
    *,
    play_id: str,
    repository: str | None,
    namespace: str | None,
    evidence: Sequence[str],
    facts: Sequence[str],
    expected_tools: Sequence[str],
    analysis: Analysis | None,
    checklist: Sequence[Mapping[str, str]] = (),
    analysis_note: str | None,
    members: Sequence[Mapping[str, object]] = (),
) -> str:
    summary = analysis.summary if analysis else _deterministic_summary(finding)
    if analysis is None:
        summary += "\n\n" + NO_ANALYSIS.format(why=analysis_note or "no model is configured")
    return render(
        "issue",
        summary=neutralised(summary),
        play_id=play_id,
        repository=repository or "-",
        agent=table_text(finding.agent or "-"),
        pod=table_code(finding.pod) if finding.pod else "-",
        affected=affected_rows(members),
        code=finding.code,
        name=finding.name,
        severity=finding.severity,
        priority=finding.priority,
        first_seen=finding.timestamp.isoformat() if finding.timestamp else "-",
        fingerprint=finding.fingerprint,
        preflight=_preflight(finding, expected_tools, checklist),
        root_cause=_root_cause(finding, analysis),
        facts_and_hypotheses=_facts_and_hypotheses(analysis, facts),
        evidence=fenced("\n".join(evidence) or finding.text) + _investigated(evidence, analysis),
        loki_query=inline_code(_loki_query(namespace, finding)),
        suggested_fix=neutralised(analysis.suggested_fix if analysis else _deterministic_fix(finding)) or "-",
        files_involved="\n".join(f"- {inline_code(path)}" for path in analysis.files_involved)
        if analysis and analysis.files_involved
        else "- none named",
        analysis_source=(
            f"Root cause by the evaluation model (confidence {analysis.confidence:.0%}); evidence quoted from the logs."
            if analysis
            else "Deterministic triage only."
        ),
    )


def _investigated(evidence: Sequence[str], analysis: Analysis | None) -> str:
    """The lines the evaluation quoted from its investigation (each one a tool returned), beyond the window."""
    shown = "\n".join(evidence)
    found = [line for line in (analysis.evidence if analysis else []) if line not in shown]
    if not found:
        return ""
    return "\nLines the evaluation found elsewhere in the play's logs:\n" + fenced("\n".join(found))


def _root_cause(finding: Finding, analysis: Analysis | None) -> str:
    if analysis:
        return neutralised(analysis.root_cause)
    if finding.detail:
        return neutralised(finding.detail)
    return f"Triage matched {inline_code(finding.matched)}."


def _deterministic_summary(finding: Finding) -> str:
    who = f"Agent {finding.agent}" if finding.agent else "The play"
    return f"{who}: {finding.name.lower()} ({finding.code}). {finding.detail or finding.matched}"


def _deterministic_fix(finding: Finding) -> str:
    if finding.missing_tools:
        tools = ", ".join(inline_code(tool) for tool in finding.missing_tools)
        return f"Make {tools} available to {finding.agent}, or remove it from the agent's declared tools."
    return "Look at the evidence; the model analysis that would suggest a fix is unavailable."


def _preflight(finding: Finding, expected_tools: Sequence[str], items: Sequence[Mapping[str, str]]) -> str:
    if items:
        declared = ", ".join(expected_tools) or "none declared"
        verdict = f"{finding.detail or finding.name} (declared for {finding.agent}: {declared})"
        return checklist.render([_quoted_note(item) for item in items], one_line(verdict))
    if finding.code != "A10":
        return ""
    declared = ", ".join(inline_code(t) for t in expected_tools) or "none declared"
    missing = ", ".join(inline_code(t) for t in finding.missing_tools) or "not named in the log"
    return (
        "\n## Pre-flight checklist\n"
        f"- [x] CTO config loaded: tools declared for {finding.agent}: {declared}\n"
        f"- [ ] declared tools available: **missing {missing}**\n"
        f"- verdict: {one_line(finding.detail or finding.name)}\n"
    )


def _quoted_note(item: Mapping[str, str]) -> dict[str, str]:
    """The checklist puts each note in a code span (its backticks replaced): a line break would end it."""
    return {**item, "note": one_line(item["note"])}


def _facts_and_hypotheses(analysis: Analysis | None, facts: Sequence[str]) -> str:
    seen = list(facts) + (analysis.facts if analysis else [])
    parts = ["### Facts", *(f"- {one_line(fact)}" for fact in seen)] if seen else []
    if analysis and analysis.hypotheses:
        parts += ["", "### Hypotheses (not proven)", *(f"- {one_line(h)}" for h in analysis.hypotheses)]
    return "\n".join(parts) + ("\n" if parts else "")


def _loki_query(namespace: str | None, finding: Finding) -> str:
    labels = {"namespace": namespace or "default"}
    if finding.pod:
        labels["pod"] = finding.pod
    return selector(labels)


def members_comment(members: Sequence[Mapping[str, object]]) -> str:
    """A comment for findings that joined the incident after its issue was filed."""
    lines = ["### Also affected (same cause)", ""]
    for member in members:
        who = inline_code(str(member.get("agent") or member.get("pod") or "-"))
        lines.append(f"- {who}, {member.get('code')}: same {neutralised(str(member.get('cause') or '-'))}")
        lines.append(fenced(str(member.get("text") or "")))
    return "\n".join(lines) + "\n"


def attempt_comment(attempt: Attempt, issue_number: int) -> str:
    files = ", ".join(inline_code(path) for path in attempt.files) or "none"
    summary = neutralised(attempt.summary or "-")
    lines = [f"### Remediation attempt #{attempt.n}", "", summary, "", f"- files: {files}"]
    if attempt.pull_url:
        lines.append(f"- pull request: {attempt.pull_url} (draft, `Fixes #{issue_number}`)")
    if attempt.ci == "rejected":
        lines.append(f"- not committed: {one_line(attempt.ci_detail)}")
    return "\n".join(lines)


def ci_comment(attempt: Attempt) -> str:
    verdict = {"success": "passed", "failure": "failed", "timeout": "did not finish in time"}.get(
        attempt.ci, attempt.ci
    )
    text = f"### Remediation attempt #{attempt.n}: CI {verdict}"
    return text + (f"\n\n{fenced(attempt.ci_detail)}" if attempt.ci_detail else "")


def escalation_comment(reason: str, attempts: Sequence[Attempt], analysis: Analysis | None) -> str:
    lines = ["### Needs a human", "", f"Healer stops here: {neutralised(reason)}.", ""]
    if analysis:
        lines += [f"Root cause (model): {neutralised(analysis.root_cause)}", ""]
    if attempts:
        lines += ["| attempt | pull request | CI |", "|---|---|---|"]
        lines += [f"| #{a.n} | {a.pull_url or '-'} | {a.ci} |" for a in attempts]
        lines.append("")
    lines.append("Decide through Healer's API: `retry`, `resolve` or `dismiss`.")
    return "\n".join(lines)


def dismissal_comment(decided_by: str | None, note: str | None) -> str:
    return f"Dismissed by {one_line(decided_by or 'a human')}: {neutralised(note or 'no further action')}."


def resolution_comment(attempt: Attempt | None, decided_by: str | None) -> str:
    if decided_by:
        return f"Resolved by {one_line(decided_by)}."
    if attempt is None:
        return "Resolved."
    return f"Resolved: CI passed on {attempt.pull_url or attempt.branch} (attempt #{attempt.n}). The pull request awaits review."
