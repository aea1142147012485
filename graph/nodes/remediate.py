"""remediate (LLM #2): a fix on a branch of its own and a draft pull request `Fixes #N` (DESIGN §3, §6).

The model first may read repository files at the base (a tool call), then proposes whole new files. What
it proposes is checked against the scope in code (graph/scope.py) before anything is written. The files
offered to it are those the analysis names; never one that only a log line names (a log line is the
agent's output, anyone's to write), and each passes the same scope check before it is read. Every write
is idempotent: the branch `healer/<fingerprint>-<n>` is reused if it exists, its pull request found before
one is opened, and the attempt's comment carries a key. What goes to GitHub is redacted here, before it is
cut to length, so that no cut hides a secret from the redactor.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langchain_core.tools import StructuredTool
from langgraph.runtime import Runtime

from graph import issue, scope
from graph.context import HealerContext, spent
from graph.llm import LlmError, Usage, conversation, counted, structured, tool_round
from graph.nodes.github_down import wake_later
from graph.prompts import render, template
from graph.state import Analysis, Attempt, IncidentState, ProposedChange, event
from tools.fence import fenced, neutralised, one_line
from tools.github import GitHubError, GitHubNotFound, GitHubTools
from tools.llm_tools import FileAtRef, bounded
from tools.redact import redact

CALLS_PER_ATTEMPT = 3  # the file-reading round, the change, one correction
FILE_CHARS = 12_000  # one file as the model sees it


def branch_of(fingerprint: str, n: int, generation: int = 1) -> str:
    """`healer/<fingerprint>-<attempt>`; `-g<generation>` when the fingerprint came back after it was resolved.
    Only hex digits and counters: no text of a log or a model can reach a ref name."""
    short = re.sub(r"[^0-9a-f]", "", fingerprint.lower())[:8]
    return f"healer/{short}-{n}" if generation == 1 else f"healer/{short}-g{generation}-{n}"


async def remediate(state: IncidentState, runtime: Runtime[HealerContext]) -> dict[str, Any]:
    context, now = runtime.context, state["now_ns"]
    github, llm = context.github, context.remediation_llm
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    n = len(attempts) + 1
    if github is None or llm is None:
        return {"escalation_reason": "remediation needs both GitHub and a model", "stage": "awaiting_human"}
    if why := spent(context, state, CALLS_PER_ATTEMPT):
        return {"escalation_reason": why, "timeline": [event(now, "budget spent", why)]}
    analysis = Analysis.model_validate(state["analysis"])
    number = state["issue"]["number"]
    usage = Usage()
    try:
        base = await asyncio.to_thread(lambda: github.repo.default_branch)
        named = _named(analysis)
        originals, missing = await _read(github, base, named, context)
        reader = _reader(github, base, originals, context)
        tools_prompt = render(
            "remediation.tools",
            repository=github.repository,
            base=base,
            issue_number=number,
            issue_title=state["issue"]["title"],
            root_cause=analysis.root_cause,
            suggested_fix=analysis.suggested_fix,
            files_involved=", ".join(analysis.files_involved) or "none",
        )
        await tool_round(
            llm, conversation(template("remediation.system").template, tools_prompt), [reader], usage
        )
        if not originals and not missing:
            tried = ", ".join(scope.shown(path) for path in named) or "none"
            why = (
                f"no file of {github.repository} to change: the analysis names {tried}; none exists at {base}"
            )
            return {"escalation_reason": why, "timeline": [event(now, "no fix to try", why)]} | counted(
                state, usage
            )
        messages = _messages(state, analysis, base, originals, missing)
        change = await structured(llm, messages, ProposedChange, usage)
    except LlmError as error:
        attempt = Attempt(
            n=n,
            branch=branch_of(state["fingerprint"], n, state.get("generation", 1)),
            ci="error",
            ci_detail=str(error),
            started_ns=now,
        )
        return _recorded(state, attempts, attempt, usage, now) | {"stage": "remediating"}
    except GitHubError as error:
        return wake_later(now, error, runtime.context.settings) | counted(state, usage)
    finally:
        context.budget.give_back(CALLS_PER_ATTEMPT - usage.calls)
    attempt = Attempt(
        n=n,
        branch=branch_of(state["fingerprint"], n, state.get("generation", 1)),
        summary=redact(change.summary),
        files=[scope.shown(scope.normal_path(f.path) or f.path) for f in change.files],
        started_ns=now,
    )
    # a file the analysis names that does not exist yet (a missing template) may be created
    if rejected := scope.problems(change, originals | dict.fromkeys(missing, ""), context.settings):
        attempt = attempt.model_copy(update={"ci": "rejected", "ci_detail": redact("; ".join(rejected))})
        await _comment(github, number, issue.attempt_comment(attempt, number), f"attempt-{n}")
        return _recorded(state, attempts, attempt, usage, now)
    try:
        attempt = await _publish(github, base, attempt, change, number, state)
    except GitHubError as error:
        return wake_later(now, error, runtime.context.settings) | counted(state, usage)
    return _recorded(state, attempts, attempt, usage, now) | {"stage": "verifying", "ci_wait_started_ns": now}


def _named(analysis: Analysis) -> list[str]:
    """The paths the analysis names, in its list and in its prose. The model may have quoted a log line in
    either, so these are candidates only: `_read` offers just those the scope allows."""
    named = [*analysis.files_involved, *scope.paths_named(analysis.root_cause, analysis.suggested_fix)]
    return list(dict.fromkeys(named))


async def _read(
    github: GitHubTools, base: str, paths: list[str], context: HealerContext
) -> tuple[dict[str, str], list[str]]:
    """The named files in scope that exist at the base, with their text; and those in scope that do not."""
    in_scope = [
        normal
        for path in paths
        if (normal := _in_scope(path.strip().removeprefix(f"{github.repository}/"), context))
    ]
    originals: dict[str, str] = {}
    missing: list[str] = []
    for normal in list(dict.fromkeys(in_scope))[: context.settings.max_changed_files + 2]:
        try:
            originals[normal] = await asyncio.to_thread(github.read_file, normal, base)
        except GitHubNotFound:
            missing.append(normal)
    return originals, missing


def _in_scope(path: str, context: HealerContext) -> str | None:
    """`path` in its normal spelling if the scope lets Healer read and write it, else None."""
    return scope.normal_path(path) if scope.readable(path, context.settings) else None


def _reader(
    github: GitHubTools, base: str, originals: dict[str, str], context: HealerContext
) -> StructuredTool:
    def read_file(path: str, ref: str = base) -> str:
        normal = _in_scope(path, context)
        if normal is None:
            return f"{scope.shown(path)}: outside what Healer may change"
        if normal not in originals:
            try:
                originals[normal] = github.read_file(
                    normal, base
                )  # always the base: the fix's starting point
            except GitHubError as error:
                return f"{normal}: {error}"
        return bounded(originals[normal].splitlines())

    return StructuredTool.from_function(
        read_file,
        name="read_file",
        description="Read a file of the repository at the base branch.",
        args_schema=FileAtRef,
    )


def _messages(
    state: IncidentState, analysis: Analysis, base: str, originals: dict[str, str], missing: list[str]
) -> list[Any]:
    # redacted as the read_file tool's answers are: a secret in the repository is not the model's to see
    # fenced: a Markdown file of the repository holding ``` must not close the block it is shown in
    shown = [
        f"### `{path}`\n{fenced(redact(text[:FILE_CHARS]), info='')}" for path, text in originals.items()
    ]
    shown += [
        f"### `{path}`\n(does not exist at `{base}`: create it if the fix needs it)" for path in missing
    ]
    files = "\n\n".join(shown)
    user = render(
        "remediation.user",
        repository=state.get("repository") or "-",
        base=base,
        issue_number=state["issue"]["number"],
        issue_title=state["issue"]["title"],
        summary=analysis.summary,
        root_cause=analysis.root_cause,
        suggested_fix=analysis.suggested_fix,
        previous_attempts=_previous(state),
        files=files or "(no file could be read)",
    )
    return conversation(template("remediation.system").template, user)


def _previous(state: IncidentState) -> str:
    attempts = [Attempt.model_validate(a) for a in state.get("attempts", [])]
    if not attempts:
        return ""
    lines = ["## Earlier attempts (they did not fix it)"]
    for a in attempts:
        lines += [f"- #{a.n}: {a.summary} — CI {a.ci}:", fenced(a.ci_detail[:800])]
    return "\n".join(lines) + "\n"


async def _publish(
    github: GitHubTools,
    base: str,
    attempt: Attempt,
    change: ProposedChange,
    number: int,
    state: IncidentState,
) -> Attempt:
    # scope.problems passed: every path is in scope, and no content holds a secret the base did not
    contents = {scope.normal_path(f.path) or f.path: f.content for f in change.files}
    summary = attempt.summary  # redacted before it is cut: a cut token no longer looks like one
    message = redact(f"healer: {one_line(summary)[:60]}\n\nRemediation attempt #{attempt.n} for #{number}.")
    commit = await asyncio.to_thread(github.branch_head, attempt.branch) or await asyncio.to_thread(
        github.commit_files, attempt.branch, base, contents, message
    )
    pull = await asyncio.to_thread(github.find_pull, attempt.branch)
    if pull is None:
        # the model's summary may echo "closes #5": neutralised, it closes nothing when the PR merges
        title = redact(f"[HEAL-{state['finding']['code']}] {one_line(summary)[:80]}")
        body = redact(
            f"Fixes #{number}\n\n{neutralised(summary)}\n\n"
            f"Remediation attempt #{attempt.n} by Healer. Review before merging."
        )
        pull = await asyncio.to_thread(github.open_draft_pull, attempt.branch, base, title, body)
    done = attempt.model_copy(
        update={"commit": pull.head_sha or commit, "pull_number": pull.number, "pull_url": pull.url}
    )
    await _comment(github, number, issue.attempt_comment(done, number), f"attempt-{attempt.n}")
    return done


async def _comment(github: GitHubTools, number: int, text: str, key: str) -> None:
    await asyncio.to_thread(lambda: github.comment(number, redact(text), key=key))


def _recorded(
    state: IncidentState, attempts: list[Attempt], attempt: Attempt, usage: Usage, now: int
) -> dict[str, Any]:
    detail = f"#{attempt.n} on {attempt.branch}: " + (
        f"draft PR {attempt.pull_url}" if attempt.pull_url else f"{attempt.ci}: {attempt.ci_detail}"
    )
    return {
        "attempts": [a.model_dump(mode="json") for a in [*attempts, attempt]],
        "status": "remediating",
        "wake_at_ns": None,
        "timeline": [event(now, "remediation attempt", detail)],
    } | counted(state, usage)
