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
from datetime import UTC, datetime, timedelta
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


def _at(minute: int) -> datetime:
    """A time of the agents' play, `minute` minutes after 06:00 on the day of FIXED_NOW (07:00)."""
    return datetime(2026, 11, 24, 6, 0, tzinfo=UTC) + timedelta(minutes=minute)


def _iso(minute: int) -> str:
    return _at(minute).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed_the_play(emulator: GitHubEmulator) -> tuple[int, int]:
    """Rex's pull request (three commits pushed out of order, reviewed and discussed), then Blaze's."""
    rex = emulator.seed_pull(
        head="feature/task-3-auth",
        title="feat(auth): task 3",
        author="5dlabs-rex[bot]",
        created_at=_at(0),
        labels=["task-3", "agent:rex"],
        commits=[_at(10), _at(-5), _at(3)],
        reviews=[
            ("5dlabs-tess[bot]", "APPROVED", _at(20)),
            ("5dlabs-cleo[bot]", "COMMENTED", _at(8)),
            ("5dlabs-tess[bot]", "APPROVED", _at(25)),
        ],
        comments=[
            ("5dlabs-cleo[bot]", "Quality looks fine", _at(11)),
            ("5dlabs-tess[bot]", "Tests pass", _at(24)),
        ],
        ci=["pending", "failure"],
    )
    blaze = emulator.seed_pull(
        head="task-4",
        title="feat(ui): task 4",
        author="5dlabs-blaze[bot]",
        created_at=_at(5),
        labels=["task-4"],
        comments=[("5dlabs-cleo[bot]", "Looking", _at(15))],
    )
    return rex, blaze


def test_pull_requests_agents_opened_are_listed_by_update_and_read_with_their_history(
    emulator: Recorder, github: GitHubTools
) -> None:
    assert _seed_the_play(emulator) == (1, 2)
    # Rex's was opened first but updated last (a review at 06:25): sort=updated desc puts it first
    assert github.recent_pulls() == [
        (1, "feature/task-3-auth", ["task-3", "agent:rex"], _at(25)),
        (2, "task-4", ["task-4"], _at(15)),
    ]
    assert github.recent_pulls(1) == [(1, "feature/task-3-auth", ["task-3", "agent:rex"], _at(25))]

    rex = github.pull_facts(1)
    assert (rex.number, rex.url, rex.title, rex.author, rex.state, rex.labels) == (
        1,
        f"https://github.com/{REPOSITORY}/pull/1",
        "feat(auth): task 3",
        "5dlabs-rex[bot]",
        "open",
        ["task-3", "agent:rex"],
    )
    assert rex.head == "feature/task-3-auth" and rex.head_sha == github.branch_head("feature/task-3-auth")
    assert (rex.updated_at, rex.last_commit_at) == (_at(25), _at(10))  # the latest seeded commit
    assert rex.reviews == [
        ("5dlabs-cleo[bot]", "COMMENTED", _at(8)),
        ("5dlabs-tess[bot]", "APPROVED", _at(20)),
        ("5dlabs-tess[bot]", "APPROVED", _at(25)),
    ]
    assert rex.commenters == [("5dlabs-cleo[bot]", _at(11)), ("5dlabs-tess[bot]", _at(24))]
    shown = emulator.pulls[1]
    assert (shown["user"]["login"], shown["user"]["type"], shown["commits"]) == ("5dlabs-rex[bot]", "Bot", 3)
    assert [c["user"]["type"] for c in emulator.comments[1]] == ["Bot", "Bot"]
    with urllib.request.urlopen(f"{emulator.url}/repos/{REPOSITORY}/pulls/1/commits") as answer:
        commits = json.load(answer)  # oldest first, each by Rex
    assert [c["commit"]["committer"]["date"] for c in commits] == [_iso(-5), _iso(3), _iso(10)]
    assert {c["author"]["login"] for c in commits} == {"5dlabs-rex[bot]"} and commits[-1][
        "sha"
    ] == rex.head_sha
    # each review names the head its reviewer saw: Cleo's (06:08) came before the last push
    assert [r["commit_id"] for r in emulator.reviews[1]] == [commits[1]["sha"], rex.head_sha, rex.head_sha]

    blaze = github.pull_facts(2)
    assert (blaze.author, blaze.reviews, blaze.updated_at) == ("5dlabs-blaze[bot]", [], _at(15))
    assert blaze.last_commit_at == _at(5)  # no commits seeded: the one the pull request was opened with
    assert blaze.commenters == [("5dlabs-cleo[bot]", _at(15))]

    # the seeded CI script is Rex's own; Healer's first pull request still takes ci_script[0]
    assert [github.ci_state(rex.head_sha).state for _ in range(3)] == ["pending", "failure", "failure"]
    assert github.ci_state("task-4").state == "success"
    github.commit_files("healer/fix", "main", {"README.md": "fixed\n"}, "fix")
    healer = github.open_draft_pull("healer/fix", "main", "fix", "Fixes it")
    assert [github.ci_state(healer.head_sha).state for _ in range(2)] == ["pending", "failure"]

    # Healer commenting on Blaze's pull request (at 07:00) updates it: now above Rex's, tied with Healer's own
    github.comment(2, "Healer was here")
    assert [(n, at) for n, _, _, at in github.recent_pulls()] == [
        (3, FIXED_NOW),
        (2, FIXED_NOW),
        (1, _at(25)),
    ]
    assert github.pull_facts(2).commenters[-1] == ("octokit-fixture-user-a", FIXED_NOW)
    with pytest.raises(GitHubNotFound):
        github.pull_facts(99)

    pulls, reads = f"/repos/{REPOSITORY}/pulls", set(emulator.requests)
    assert {(m, p) for m, p in reads if p.startswith(pulls) or p.endswith("/comments")} >= {
        ("GET", f"{pulls}?direction=desc&sort=updated&state=all"),  # what recent_pulls asks: no head filter
        ("GET", f"{pulls}/1"),
        ("GET", f"{pulls}/1/commits"),
        ("GET", f"{pulls}/1/reviews"),
        ("GET", f"/repos/{REPOSITORY}/issues/1/comments"),
    }
    assert_bodies_match_openapi(emulator)  # each of those bodies, and the 404 of #99


def test_seeding_refuses_what_github_would_not_hold(emulator: Recorder) -> None:
    with pytest.raises(ValueError, match="review states"):
        emulator.seed_pull(
            head="x", title="x", author="a", created_at=_at(0), reviews=[("b", "LGTM", _at(1))]
        )
    with pytest.raises(ValueError, match="new head branch"):
        emulator.seed_pull(head="main", title="x", author="a", created_at=_at(0))
    assert emulator.pulls == emulator.issues == {}


def _scenario(clock: datetime | None = None) -> tuple[list[tuple[str, str]], str]:
    with Recorder(
        REPOSITORY, FILES, ci_script=[["failure"]], clock=(lambda: clock) if clock else None
    ) as run:
        _seed_the_play(run)
        github = GitHubTools(GitHubConfig(token="x", base_url=run.url, write_spacing_s=None), REPOSITORY)
        github.recent_pulls()
        github.pull_facts(1)
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


def test_a_commit_message_carries_no_secret(emulator: Recorder, github: GitHubTools) -> None:
    token = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    sha = github.commit_files("healer/leak", "main", {"README.md": "x\n"}, f"healer: rotate {token}")
    message = emulator._commits[sha]["message"]
    assert token not in message and message == "healer: rotate [REDACTED:github-token]"


def test_a_failed_checks_output_and_the_end_of_its_job_log_are_read_redacted() -> None:
    secret = "ghp_" + "J0bLogTokenThatMustBeRedacted01234567"
    failing = f"error[E0425]: cannot find value `tokn` in this scope; GITHUB_TOKEN={secret} set"
    with GitHubEmulator(REPOSITORY, FILES, ci_log=failing) as emulator:
        number = emulator.seed_pull(
            head="task-9", title="feat: task 9", author="5dlabs-rex[bot]", created_at=_at(0), ci=["failure"]
        )
        green = emulator.seed_pull(
            head="task-10", title="feat: task 10", author="5dlabs-rex[bot]", created_at=_at(1), ci=["success"]
        )
        tools = GitHubTools(GitHubConfig(token="x", base_url=emulator.url, write_spacing_s=None), REPOSITORY)
        try:
            lines = tools.failed_check_logs(emulator.pulls[number]["head"]["sha"])
            passing = tools.failed_check_logs(emulator.pulls[green]["head"]["sha"])
        finally:
            tools.close()
        asked = [path for _, path in emulator.requests if "/actions/jobs/" in path or "/_signed/" in path]
    assert lines[:2] == ["check ci/test: failure", "ci/test failure"]
    assert "end of the log of ci/test:" in lines
    assert lines[-2:] == [
        "error[E0425]: cannot find value `tokn` in this scope; GITHUB_TOKEN=[REDACTED:github-token] set",
        "##[error]Process completed with exit code 1.",
    ]  # the log's own timestamps are dropped
    assert secret not in "\n".join(lines)
    assert passing == [] and len(asked) == 2  # the green pull request's job log is never fetched
