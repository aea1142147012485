"""GitHub, the hand-off to humans (DESIGN §6), through PyGithub.

What Healer writes: issues (found again by the hidden `<!-- healer:fingerprint=… -->` marker), comments,
labels, branches with one commit, draft pull requests. What it reads: files at a ref, and the CI state of a
ref (combined status and check runs). PyGithub's own retries are off: this module retries, so rate limits
(403/429 with `retry-after` or `x-ratelimit-reset`) and transient 5xx follow one policy with an injectable
clock, and a wait longer than `max_wait_s` becomes `GitHubRateLimited` instead of a silent hang.
Tokens are never logged; messages are redacted.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Literal, TypeVar

import httpx
from github import Auth, Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.Repository import Repository
from pydantic import BaseModel
from requests.exceptions import RequestException

from tools.calls import timed
from tools.redact import redact
from tools.retrying import GaveUp, call_with_retries, retry_after_s

T = TypeVar("T")
_LOG_TIME = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT[\d:.]+Z ")  # each line of an Actions log starts so
MARKER_PREFIX = "<!-- healer:fingerprint="
NOTE_PREFIX = "<!-- healer:note="
_LISTED_AT_MOST = 300  # issues or comments read when looking for a marker
_TRANSIENT = frozenset({500, 502, 503, 504})


class GitHubError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class GitHubNotFound(GitHubError):
    pass


class GitHubAuthError(GitHubError):
    """401, or 403 that is not a rate limit: the token or the App lacks a permission."""


class GitHubValidationError(GitHubError):
    """422: GitHub understood the request and refused its content."""


class GitHubRateLimited(GitHubError):
    def __init__(self, message: str, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(message, 429)


class GitHubUnavailable(GitHubError):
    pass


@dataclass(frozen=True, slots=True)
class GitHubConfig:
    token: str | None = field(default=None, repr=False)
    app_id: int | None = None
    app_private_key: str | None = field(default=None, repr=False)
    installation_id: int | None = None
    base_url: str = "https://api.github.com"
    timeout_s: int = 15
    max_retries: int = 3
    backoff_s: float = 1.0
    max_wait_s: float = 300.0  # a rate limit that needs longer is reported, not waited out
    write_spacing_s: float | None = 1.0  # GitHub asks integrators to space content-creating requests

    def auth(self) -> Auth.Auth:
        if self.token:
            return Auth.Token(self.token)
        if self.app_id and self.app_private_key and self.installation_id:
            return Auth.AppAuth(self.app_id, self.app_private_key).get_installation_auth(self.installation_id)
        raise GitHubAuthError(
            "no GitHub credentials: set a token, or an App id, private key and installation"
        )


class IssueRef(BaseModel):
    number: int
    url: str
    title: str
    state: str
    labels: list[str]


class PullRef(BaseModel):
    number: int
    url: str
    draft: bool
    head: str
    head_sha: str


class CheckRef(BaseModel):
    name: str
    status: str
    conclusion: str | None = None
    url: str | None = None


class PullFacts(BaseModel):
    """What the state rules need to know about one pull request of a play."""

    number: int
    url: str
    title: str
    head: str
    head_sha: str
    labels: list[str]
    author: str
    state: str
    updated_at: datetime
    last_commit_at: datetime | None = None
    reviews: list[tuple[str, str, datetime | None]] = []  # (login, state, submitted_at)
    commenters: list[tuple[str, datetime]] = []  # (login, created_at) of the conversation's comments


class CiState(BaseModel):
    state: Literal["pending", "success", "failure"]
    statuses: dict[str, str]  # context -> state
    checks: list[CheckRef]


def marker(fingerprint: str) -> str:
    return f"{MARKER_PREFIX}{fingerprint} -->"


def note_marker(key: str) -> str:
    """Marks a comment so that posting it again (after a crash between the write and the checkpoint)
    finds the first one instead of adding a second."""
    return f"{NOTE_PREFIX}{key} -->"


class GitHubTools:
    def __init__(
        self,
        config: GitHubConfig,
        repository: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.repository = config, repository
        self._sleep, self._clock = sleep, clock
        self._github = Github(
            auth=config.auth(),
            base_url=config.base_url,
            timeout=config.timeout_s,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=config.write_spacing_s,
            user_agent="healer",
            lazy=True,  # objects fetch themselves only when an attribute is read: fewer calls
        )
        self._repo: Repository | None = None

    def close(self) -> None:
        self._github.close()

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._call(
                f"read repository {self.repository}", self._github.get_repo, self.repository
            )
        return self._repo

    # --- issues -------------------------------------------------------------------------------------

    def find_issue(self, fingerprint: str) -> IssueRef | None:
        """The issue carrying the fingerprint's marker, open or closed (GitHub's search index lags a few
        seconds behind a new issue: callers keep the number they filed, this is for finding it again)."""
        query = f'"healer:fingerprint={fingerprint}" repo:{self.repository} is:issue in:body'
        found = self._call("search issues", lambda: list(islice(self._github.search_issues(query), 5)))
        for issue in found:
            if marker(fingerprint) in (issue.body or ""):
                return _issue_ref(issue)
        return None

    def find_labelled_issue(self, fingerprint: str, labels: Sequence[str]) -> IssueRef | None:
        """The issue with `labels` carrying the fingerprint's marker, open or closed. Unlike search, the
        issue list is consistent at once: this is what makes filing idempotent."""

        def scan() -> IssueRef | None:
            issues = self.repo.get_issues(state="all", labels=list(labels), sort="created", direction="desc")
            for issue in islice(issues, _LISTED_AT_MOST):
                if issue.pull_request is None and marker(fingerprint) in (issue.body or ""):
                    return _issue_ref(issue)
            return None

        return self._call("list issues", scan)

    def create_issue(self, title: str, body: str, labels: Sequence[str], fingerprint: str) -> IssueRef:
        text = redact(body) + f"\n\n{marker(fingerprint)}\n"
        issue = self._call(
            "create issue", self.repo.create_issue, title=redact(title), body=text, labels=list(labels)
        )
        return _issue_ref(issue)

    def update_issue(self, number: int, *, title: str | None = None, body: str | None = None) -> IssueRef:
        issue = self._call(f"read issue #{number}", self.repo.get_issue, number)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = redact(title)
        if body is not None:
            kept = [line for line in (issue.body or "").splitlines() if line.startswith(MARKER_PREFIX)]
            changes["body"] = "\n\n".join([redact(body), *kept]) + "\n"
        if changes:
            self._call(f"update issue #{number}", issue.edit, **changes)
        return _issue_ref(issue)

    def comment(self, number: int, body: str, *, key: str | None = None) -> str:
        """Comment on an issue; with `key`, at most once: an existing comment with that key is returned."""
        issue = self._call(f"read issue #{number}", self.repo.get_issue, number)
        if key is None:
            return self._call(f"comment on issue #{number}", issue.create_comment, redact(body)).html_url
        tag = note_marker(key)

        def existing() -> str | None:
            for comment in islice(issue.get_comments(), _LISTED_AT_MOST):
                if tag in (comment.body or ""):
                    return comment.html_url
            return None

        if found := self._call(f"read comments of issue #{number}", existing):
            return found
        text = f"{redact(body)}\n\n{tag}\n"
        return self._call(f"comment on issue #{number}", issue.create_comment, text).html_url

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        issue = self._call(f"read issue #{number}", self.repo.get_issue, number)
        self._call(f"label issue #{number}", issue.add_to_labels, *labels)

    def remove_label(self, number: int, label: str) -> None:
        issue = self._call(f"read issue #{number}", self.repo.get_issue, number)
        with contextlib.suppress(GitHubNotFound):  # already gone: the desired state holds
            self._call(f"unlabel issue #{number}", issue.remove_from_labels, label)

    def close_issue(
        self, number: int, comment: str | None, reason: Literal["completed", "not_planned"] = "completed"
    ) -> IssueRef:
        issue = self._call(f"read issue #{number}", self.repo.get_issue, number)
        if comment is not None:
            self._call(f"comment on issue #{number}", issue.create_comment, redact(comment))
        self._call(f"close issue #{number}", issue.edit, state="closed", state_reason=reason)
        return _issue_ref(issue)

    # --- code ---------------------------------------------------------------------------------------

    def read_file(self, path: str, ref: str) -> str:
        def fetch() -> bytes | None:  # decoding inside the call: a garbled answer surfaces as GitHubError
            content = self.repo.get_contents(path, ref=ref)
            return None if isinstance(content, list) else content.decoded_content

        data = self._call(f"read {path} at {ref}", fetch)
        if data is None:
            raise GitHubError(f"{path} at {ref} is a directory, not a file")
        return data.decode("utf-8", "replace")

    def commit_files(self, branch: str, base: str, changes: Mapping[str, str | None], message: str) -> str:
        """One commit on a new branch `branch` from `base`: each path gets its new text, or is deleted
        (None). Returns the commit's SHA. Blobs, a tree on the base tree, a commit, then the ref."""
        # the branch answer carries the head commit and its tree: no further reads are needed
        head = self._call(f"read branch {base}", self.repo.get_branch, base).commit
        elements = []
        for path, text in changes.items():
            sha = (
                None
                if text is None
                else self._call(f"store {path}", self.repo.create_git_blob, text, "utf-8").sha
            )
            elements.append(InputGitTreeElement(path, "100644", "blob", sha=sha))
        tree = self._call("write tree", self.repo.create_git_tree, elements, head.commit.tree)
        # the branch answer's commit has no `sha` field of its own: name the parent by the head's SHA
        parent = self._github.create_from_raw_data(GitCommit, {"sha": head.sha})
        commit = self._call("write commit", self.repo.create_git_commit, redact(message), tree, [parent])
        self._call(f"create branch {branch}", self.repo.create_git_ref, f"refs/heads/{branch}", commit.sha)
        return commit.sha

    def branch_head(self, branch: str) -> str | None:
        """The SHA at the tip of `branch`, or None when it does not exist."""
        try:
            return self._call(f"read branch {branch}", self.repo.get_branch, branch).commit.sha
        except GitHubNotFound:
            return None

    def find_pull(self, branch: str) -> PullRef | None:
        """The pull request from `branch` of this repository, open or closed."""
        owner = self.repository.split("/", 1)[0]

        def first() -> PullRef | None:
            pulls = self.repo.get_pulls(state="all", head=f"{owner}:{branch}")
            return next((_pull_ref(p) for p in islice(pulls, 1)), None)

        return self._call(f"list pull requests from {branch}", first)

    def open_draft_pull(self, branch: str, base: str, title: str, body: str) -> PullRef:
        pull = self._call(
            "open pull request",
            self.repo.create_pull,
            base=base,
            head=branch,
            title=redact(title),
            body=redact(body),
            draft=True,
        )
        return _pull_ref(pull)

    def recent_pulls(self, limit: int = 30) -> list[tuple[int, str, list[str], datetime]]:
        """(number, head branch, labels, updated_at) of the most recently updated pull requests."""

        def read() -> list[tuple[int, str, list[str], datetime]]:
            pulls = self.repo.get_pulls(state="all", sort="updated", direction="desc")
            return [
                (p.number, p.head.ref, [label.name for label in p.labels], p.updated_at)
                for p in islice(pulls, limit)
            ]

        return self._call("list pull requests", read)

    def pull_facts(self, number: int) -> PullFacts:
        """A pull request with its reviews, its conversation's commenters and its last commit's time."""

        def read() -> PullFacts:
            pull = self.repo.get_pull(number)
            commits = list(islice(pull.get_commits(), _LISTED_AT_MOST))
            last = commits[-1].commit.committer.date if commits else None
            return PullFacts(
                number=pull.number,
                url=pull.html_url,
                title=pull.title,
                head=pull.head.ref,
                head_sha=pull.head.sha,
                labels=[label.name for label in pull.labels],
                author=pull.user.login,
                state=pull.state,
                updated_at=pull.updated_at,
                last_commit_at=last,
                reviews=[
                    (r.user.login, r.state, r.submitted_at)
                    for r in islice(pull.get_reviews(), _LISTED_AT_MOST)
                ],
                commenters=[
                    (c.user.login, c.created_at) for c in islice(pull.get_issue_comments(), _LISTED_AT_MOST)
                ],
            )

        return self._call(f"read pull request #{number}", read)

    def ci_state(self, ref: str) -> CiState:
        """The CI verdict for a ref: failure if any status or check failed, pending while any runs."""
        commit = self._call(f"read commit {ref}", self.repo.get_commit, ref)
        combined = self._call(f"read status of {ref}", commit.get_combined_status)
        statuses = {s.context: s.state for s in combined.statuses}
        runs = self._call(f"read checks of {ref}", lambda: list(commit.get_check_runs()))
        checks = [
            CheckRef(name=r.name, status=r.status, conclusion=r.conclusion, url=r.html_url) for r in runs
        ]
        return CiState(state=_verdict(statuses.values(), checks), statuses=statuses, checks=checks)

    def failed_check_logs(self, ref: str, *, tail_lines: int = 60) -> list[str]:
        """What each failed check run of `ref` reported (its output) and, for a GitHub Actions job, the
        last `tail_lines` of its log, where a failing step prints why; redacted."""
        commit = self._call(f"read commit {ref}", self.repo.get_commit, ref)
        runs = self._call(f"read checks of {ref}", lambda: list(commit.get_check_runs()))
        lines: list[str] = []
        for run in runs:
            if run.conclusion in (None, "success", "neutral", "skipped"):
                continue
            lines.append(f"check {run.name}: {run.conclusion}")
            output = run.output
            for part in (output.title, output.summary, output.text) if output else ():
                lines += (part or "").splitlines()
            if run.app is not None and run.app.slug == "github-actions":  # its check run is the job
                lines.append(f"end of the log of {run.name}:")
                lines += self._job_log_tail(run.id, tail_lines)
        return [redact(line) for line in lines]

    def _job_log_tail(self, job_id: int, count: int) -> list[str]:
        job = self.repo.get_workflow_job(job_id)  # no request: the log's address is asked for below
        location = self._call(f"find the log of job {job_id}", job.logs_url)
        try:
            # a signed address on another host: no token goes with it
            response = httpx.get(location, timeout=self.config.timeout_s, follow_redirects=True)
        except httpx.HTTPError as error:
            return [f"(the log could not be downloaded: {redact(str(error))[:200]})"]
        if response.status_code != 200:
            return [f"(the log could not be downloaded: {response.status_code}; it may have expired)"]
        return [_LOG_TIME.sub("", line) for line in response.text.splitlines()[-count:]]

    # --- the retry policy ---------------------------------------------------------------------------

    def _call(self, what: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with timed("github"):
            return self._retrying(what, action, *args, **kwargs)

    def _retrying(self, what: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def transient(outcome: Any) -> bool:
            if isinstance(outcome, RequestException):
                return True
            if not isinstance(outcome, GithubException):
                return False
            wait = self._rate_limit_wait(outcome)
            return outcome.status in _TRANSIENT if wait is None else wait <= self.config.max_wait_s

        def delay_s(attempt: int, outcome: Any) -> float:
            wait = self._rate_limit_wait(outcome) if isinstance(outcome, GithubException) else None
            return wait if wait is not None else self.config.backoff_s * 2 ** (attempt - 1)

        try:
            return call_with_retries(
                lambda: action(*args, **kwargs),
                max_retries=self.config.max_retries,
                transient=transient,
                delay_s=delay_s,
                sleep=self._sleep,
            )
        except GaveUp as gave_up:
            error, attempts = gave_up.error, gave_up.attempts
            if not isinstance(error, GithubException):
                raise GitHubUnavailable(f"{what}: GitHub unreachable: {redact(str(error))}") from None
            if (wait := self._rate_limit_wait(error)) is not None:
                raise GitHubRateLimited(f"{what}: still rate limited after {attempts} tries", wait) from None
            raise GitHubUnavailable(
                f"{what}: GitHub answered {error.status} {attempts} times", error.status
            ) from None
        except GithubException as error:
            wait = self._rate_limit_wait(error)
            if wait is not None and wait > self.config.max_wait_s:
                raise GitHubRateLimited(f"{what}: rate limited for {wait:.0f} s more", wait) from None
            raise _mapped(what, error) from None
        except (AssertionError, ValueError) as error:  # PyGithub checks answers with asserts and json()
            raise GitHubError(f"{what}: GitHub answered with a body that cannot be read: {error}") from None

    def _rate_limit_wait(self, error: GithubException) -> float | None:
        """Seconds to wait when the answer is a rate limit (primary or secondary), else None."""
        if error.status not in (403, 429):
            return None
        headers = {k.lower(): v for k, v in (error.headers or {}).items()}
        if (wait := retry_after_s(headers, now=self._clock)) is not None:
            return wait
        if headers.get("x-ratelimit-remaining") == "0" and (reset := headers.get("x-ratelimit-reset")):
            return max(float(reset) - self._clock(), 0.0) + 1.0
        message = str((error.data or {}).get("message", "")) if isinstance(error.data, dict) else ""
        if "rate limit" in message.lower():
            return 60.0  # a secondary limit without a hint: GitHub asks for at least a minute
        return None


def _verdict(statuses: Any, checks: list[CheckRef]) -> Literal["pending", "success", "failure"]:
    states = list(statuses)
    bad = {"failure", "cancelled", "timed_out", "action_required", "startup_failure"}
    if any(s in ("failure", "error") for s in states) or any(c.conclusion in bad for c in checks):
        return "failure"
    if any(s == "pending" for s in states) or any(c.status != "completed" for c in checks):
        return "pending"
    return "success"


def _pull_ref(pull: Any) -> PullRef:
    return PullRef(
        number=pull.number, url=pull.html_url, draft=pull.draft, head=pull.head.ref, head_sha=pull.head.sha
    )


def _issue_ref(issue: Any) -> IssueRef:
    return IssueRef(
        number=issue.number,
        url=issue.html_url,
        title=issue.title,
        state=issue.state,
        labels=[label.name for label in issue.labels],
    )


def _mapped(what: str, error: GithubException) -> GitHubError:
    data = error.data if isinstance(error.data, dict) else {}
    message = redact(str(data.get("message") or error.message or error.status))
    if data.get("errors"):
        message += f" ({redact(str(data['errors']))[:300]})"
    if error.status == 404:
        return GitHubNotFound(f"{what}: {message}", 404)
    if error.status in (401, 403):
        return GitHubAuthError(f"{what}: {message}", error.status)
    if error.status == 422:
        return GitHubValidationError(f"{what}: {message}", 422)
    return GitHubError(f"{what}: GitHub answered {error.status}: {message}", error.status)
