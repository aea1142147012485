"""tools/github.py end to end against the GitHub emulator, every answer checked against GitHub's OpenAPI.

The emulator (tests/emulators/github.py) records cassettes of whole scenarios; these tests hold it to the real
API: each GitHubTools method gets the result GitHub would give, and each body served validates against the
response schema of its operation in GitHub's own API description.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.emulators.github import FIXED_NOW, GitHubEmulator
from tests.test_github_openapi import UNDOCUMENTED, operation_for, resolve, validate
from tools.github import (
    GitHubConfig,
    GitHubNotFound,
    GitHubTools,
    GitHubValidationError,
    marker,
    note_marker,
)

REPOSITORY = "5dlabs/cto-parallel-test"
FILES = {
    "README.md": "# cto-parallel-test\n",
    "cto-config.json": '{"agents": {"rex": {"tools": []}}}\n',
    "src/app.py": "print('hello')\n",
}
LABELS = ["heal", "a10", "severity:critical"]
FINGERPRINT = "5b0c9e1d2a3f4e67"
BASIC_ERROR = {"$ref": "#/components/schemas/basic-error"}


class Recorder(GitHubEmulator):
    """The emulator, keeping a snapshot of every answer it served for the schema check."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.served: list[tuple[str, str, int, Any]] = []

    def _dispatch(self, method: str, target: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        status, body, headers = super()._dispatch(method, target, raw)
        self.served.append((method, target, status, json.loads(json.dumps(body))))
        return status, body, headers


def _operation_path(target: str) -> str:
    """A served path in the API description's terms: a file path or branch name is one `{path}` segment."""
    path = urlsplit(target).path
    return re.sub(
        r"^(/repos/[^/]+/[^/]+/(?:contents|branches))/(.+)$", lambda m: f"{m[1]}/{quote(m[2], safe='')}", path
    )


def assert_bodies_match_openapi(emulator: Recorder) -> None:
    assert emulator.served
    for method, target, status, body in emulator.served:
        try:
            operation = operation_for(method.lower(), _operation_path(target))
        except AssertionError:  # no such route in the API: GitHub answers its 404 body
            assert status == 404, target
            operation = {"responses": {}}
        if status in UNDOCUMENTED | {404} and str(status) not in operation["responses"]:
            schema = BASIC_ERROR
        else:
            schema = resolve(operation["responses"][str(status)])["content"]["application/json"]["schema"]
        try:
            validate(schema, body)
        except Exception as error:  # the validator's own error, named with the request that drew it
            pytest.fail(f"{method} {target} → {status}: {str(error).splitlines()[0]}")


@pytest.fixture
def emulator() -> Iterator[Recorder]:
    with Recorder(REPOSITORY, FILES, ci_script=[["pending", "failure"], ["success"]]) as running:
        yield running


@pytest.fixture
def github(emulator: Recorder) -> Iterator[GitHubTools]:
    tools = GitHubTools(GitHubConfig(token="x", base_url=emulator.url, write_spacing_s=None), REPOSITORY)
    yield tools
    tools.close()


def _label_names(issue: dict[str, Any]) -> list[str]:
    return [label["name"] for label in issue["labels"]]


def test_an_issue_is_filed_found_updated_commented_labelled_and_closed(
    emulator: Recorder, github: GitHubTools
) -> None:
    assert github.find_labelled_issue(FINGERPRINT, LABELS) is None
    issue = github.create_issue("[HEAL-A10] rex lacks brave_search", "rex is missing it", LABELS, FINGERPRINT)
    assert (issue.number, issue.state, issue.labels) == (1, "open", LABELS)
    assert issue.url == f"https://github.com/{REPOSITORY}/issues/1"
    assert github.find_labelled_issue(FINGERPRINT, LABELS) == issue
    assert github.find_labelled_issue(FINGERPRINT, ["heal", "b20"]) is None
    assert github.find_labelled_issue("another", LABELS) is None

    updated = github.update_issue(1, title="[HEAL-A10] rex still lacks brave_search", body="new analysis")
    assert updated.title == "[HEAL-A10] rex still lacks brave_search"
    assert emulator.issues[1]["body"] == f"new analysis\n\n{marker(FINGERPRINT)}\n"

    plain = github.comment(1, "Remediation attempt #1")
    keyed = github.comment(1, "Opened a fix", key="attempt-1")
    assert github.comment(1, "Opened a fix", key="attempt-1") == keyed != plain
    assert [c["body"] for c in emulator.comments[1]] == [
        "Remediation attempt #1",
        f"Opened a fix\n\n{note_marker('attempt-1')}\n",
    ]
    assert keyed == f"https://github.com/{REPOSITORY}/issues/1#issuecomment-{emulator.comments[1][1]['id']}"

    github.add_labels(1, ["needs-human"])
    assert _label_names(emulator.issues[1]) == [*LABELS, "needs-human"]
    github.remove_label(1, "needs-human")
    github.remove_label(1, "needs-human")  # already gone: GitHub answers 404, the tool shrugs
    assert _label_names(emulator.issues[1]) == LABELS
    assert set(emulator.labels) == {*LABELS, "needs-human"}

    closed = github.close_issue(1, "Resolved: CI is green.")
    assert (closed.number, closed.state) == (1, "closed")
    assert emulator.issues[1]["state_reason"] == "completed"
    assert emulator.issues[1]["closed_at"] == "2026-11-24T07:00:00Z"
    assert emulator.issues[1]["comments"] == len(emulator.comments[1]) == 3
    issue_path = f"/repos/{REPOSITORY}/issues"
    assert emulator.writes() == [
        ("POST", issue_path),
        ("PATCH", f"{issue_path}/1"),
        ("POST", f"{issue_path}/1/comments"),
        ("POST", f"{issue_path}/1/comments"),
        ("POST", f"{issue_path}/1/labels"),
        ("DELETE", f"{issue_path}/1/labels/needs-human"),
        ("DELETE", f"{issue_path}/1/labels/needs-human"),
        ("POST", f"{issue_path}/1/comments"),
        ("PATCH", f"{issue_path}/1"),
    ]
    assert_bodies_match_openapi(emulator)


def test_the_issue_list_pages_newest_first_and_pull_requests_are_not_issues(
    emulator: Recorder, github: GitHubTools
) -> None:
    for n in range(32):
        github.create_issue(f"issue {n}", "text", ["heal"], f"fp-{n}")
    assert github.find_labelled_issue("fp-31", ["heal"]).number == 32  # type: ignore[union-attr]
    assert github.find_labelled_issue("fp-0", ["heal"]).number == 1  # type: ignore[union-attr]
    pages = [path for method, path in emulator.requests if method == "GET" and "page=2" in path]
    assert pages and "labels=heal" in pages[0] and "state=all" in pages[0]

    github.commit_files("healer/pr", "main", {"README.md": "changed\n"}, "a change")
    pull = github.open_draft_pull("healer/pr", "main", "fix", f"Fixes #1\n\n{marker('in-a-pull')}\n")
    github.add_labels(pull.number, ["heal"])
    assert pull.number == 33 and "pull_request" in emulator.issues[33]
    assert github.find_labelled_issue("in-a-pull", ["heal"]) is None
    assert_bodies_match_openapi(emulator)


def test_files_are_read_and_a_fix_is_committed_on_a_branch_with_a_draft_pull_request(
    emulator: Recorder, github: GitHubTools
) -> None:
    assert github.read_file("src/app.py", "main") == FILES["src/app.py"]
    with pytest.raises(GitHubNotFound):
        github.read_file("missing.txt", "main")
    base = github.branch_head("main")
    assert base is not None and re.fullmatch("[0-9a-f]{40}", base)
    assert github.branch_head("healer/5b0c9e1d-1") is None

    fixed = '{"agents": {"rex": {"tools": ["brave_search"]}}}\n'
    changes = {"cto-config.json": fixed, "README.md": None, "docs/fix.md": "why\n"}
    sha = github.commit_files("healer/5b0c9e1d-1", "main", changes, "fix(rex): declare brave_search")
    assert github.branch_head("healer/5b0c9e1d-1") == sha != base
    assert github.read_file("cto-config.json", "healer/5b0c9e1d-1") == fixed
    assert github.read_file("docs/fix.md", sha) == "why\n"
    with pytest.raises(GitHubNotFound):
        github.read_file("README.md", "healer/5b0c9e1d-1")
    assert github.read_file("README.md", "main") == FILES["README.md"]  # the base is untouched
    with pytest.raises(GitHubValidationError, match="Reference already exists"):
        github.commit_files("healer/5b0c9e1d-1", "main", changes, "fix(rex): declare brave_search")

    github.create_issue("the issue the pull request fixes", "text", LABELS, FINGERPRINT)
    assert github.find_pull("healer/5b0c9e1d-1") is None
    pull = github.open_draft_pull("healer/5b0c9e1d-1", "main", "fix(rex): declare brave_search", "Fixes #1")
    assert (pull.number, pull.draft, pull.head, pull.head_sha) == (2, True, "healer/5b0c9e1d-1", sha)
    assert pull.url == f"https://github.com/{REPOSITORY}/pull/2"
    assert github.find_pull("healer/5b0c9e1d-1") == pull
    with pytest.raises(GitHubValidationError, match="already exists"):
        github.open_draft_pull("healer/5b0c9e1d-1", "main", "again", "Fixes #1")
    shown = emulator.pulls[2]
    assert (shown["changed_files"], shown["base"]["sha"], shown["head"]["label"]) == (
        3,
        base,
        "5dlabs:healer/5b0c9e1d-1",
    )
    assert_bodies_match_openapi(emulator)


def test_ci_state_follows_the_script_of_each_pull_request(emulator: Recorder, github: GitHubTools) -> None:
    heads = []
    for n in range(3):
        github.commit_files(f"healer/fix-{n}", "main", {"src/app.py": f"print({n})\n"}, f"fix {n}")
        heads.append(github.open_draft_pull(f"healer/fix-{n}", "main", f"fix {n}", "").head_sha)

    first = github.ci_state(heads[0])
    assert first.state == "pending" and first.statuses == {"ci/test": "pending"}
    assert [(c.name, c.status, c.conclusion) for c in first.checks] == [("ci/test", "in_progress", None)]
    failed = github.ci_state(heads[0])
    assert failed.state == "failure" and failed.statuses == {"ci/test": "failure"}
    assert [(c.status, c.conclusion) for c in failed.checks] == [("completed", "failure")]
    assert github.ci_state("healer/fix-0").state == "failure"  # by branch name too; the last state repeats
    assert github.ci_state(heads[1]).state == "success"
    assert github.ci_state(heads[2]).state == "success"  # beyond the script
    assert github.ci_state("main").state == "success"
    assert_bodies_match_openapi(emulator)


def _scenario(clock: datetime | None = None) -> tuple[list[tuple[str, str]], str]:
    with Recorder(
        REPOSITORY, FILES, ci_script=[["failure"]], clock=(lambda: clock) if clock else None
    ) as run:
        github = GitHubTools(GitHubConfig(token="x", base_url=run.url, write_spacing_s=None), REPOSITORY)
        issue = github.create_issue("title", "body", LABELS, FINGERPRINT)
        github.comment(issue.number, "note", key="k")
        sha = github.commit_files("healer/x", "main", {"README.md": "new\n"}, "fix")
        github.open_draft_pull("healer/x", "main", "fix", "Fixes #1")
        github.ci_state(sha)
        github.close()
        return run.requests, json.dumps(run.served).replace(run.url, "http://emulator")


def test_answers_are_deterministic_and_dated_by_the_clock() -> None:
    assert _scenario() == _scenario()
    later = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    _, served = _scenario(later)
    assert '"created_at": "2027-03-01T12:30:00Z"' in served and "2026-11-24T07:00:00Z" not in served


def test_unknown_routes_and_missing_things_answer_githubs_errors(emulator: Recorder) -> None:
    for path in (
        "/nope",
        "/repos/someone/else/issues",
        f"/repos/{REPOSITORY}/issues/99",
        f"/repos/{REPOSITORY}/x",
    ):
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(emulator.url + path)
        assert answer.value.code == 404
        assert answer.value.headers["Date"] == FIXED_NOW.strftime("%a, %d %b %Y %H:%M:%S GMT")
        assert json.load(answer.value)["message"] == "Not Found"
    with urllib.request.urlopen(f"{emulator.url}/repos/{REPOSITORY}") as answer:  # PyGithub reads it lazily
        assert json.load(answer)["default_branch"] == "main"
    with urllib.request.urlopen(f"{emulator.url}/repos/{REPOSITORY}/commits/main") as answer:
        assert json.load(answer)["commit"]["message"] == "Initial commit"
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{emulator.url}/repos/{REPOSITORY}/commits/0000000")
    assert answer.value.code == 422
    assert emulator.writes() == []
    assert_bodies_match_openapi(emulator)
