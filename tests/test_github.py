"""tools/github.py through PyGithub, replaying cassettes built from GitHub's recordings and examples."""

from __future__ import annotations

import pytest

from tests import github_cassettes as gh
from tests.http_harness import CASSETTES, cassette
from tools.github import (
    GitHubAuthError,
    GitHubConfig,
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubTools,
    GitHubUnavailable,
    GitHubValidationError,
    marker,
)

NEW_ISSUE = {
    "title": gh.ISSUE_TITLE,
    "body": "rex is missing brave_search",
    "labels": ["heal", "a10", "severity:critical"],
}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def tools(sleeps: Sleeps | None = None, **config: object) -> GitHubTools:
    settings = {"token": "test-token", "write_spacing_s": None, "backoff_s": 0.5, **config}
    return GitHubTools(
        GitHubConfig(**settings),  # type: ignore[arg-type]
        gh.REPOSITORY,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=lambda: gh.RESET_AT - 40,
    )


def test_cassettes_are_exactly_what_the_references_give() -> None:
    for name, text in gh.rendered().items():
        assert (CASSETTES / "github" / f"{name}.yaml").read_text() == text, name


def test_issue_lifecycle_files_labels_comments_updates_and_closes() -> None:
    github = tools()
    with cassette("github/issues"):
        issue = github.create_issue(**NEW_ISSUE, fingerprint=gh.FINGERPRINT)
        github.add_labels(issue.number, ["needs-human"])
        comment_url = github.comment(issue.number, "Remediation attempt #1")
        github.update_issue(issue.number, body="updated analysis")
        closed = github.close_issue(issue.number, "Resolved: CI is green.")
        github.remove_label(issue.number, "needs-human")
        github.remove_label(issue.number, "needs-human")  # already gone: not an error
    assert issue.number == 1 and issue.url.endswith("/add-labels-to-issue/issues/1") and issue.state == "open"
    assert comment_url.startswith("https://github.com/")
    assert closed.number == 1347  # GitHub's documented example issue


def test_find_issue_by_its_marker() -> None:
    github = tools()
    with cassette("github/search"):
        assert github.find_issue(gh.FINGERPRINT) is None  # the recorded search: no issue carries the marker
        found = github.find_issue(gh.FINGERPRINT)
    assert found is not None and found.number == 2
    assert marker(gh.FINGERPRINT) == f"<!-- healer:fingerprint={gh.FINGERPRINT} -->"


def test_read_a_file_and_commit_a_fix_as_a_draft_pull_request() -> None:
    github = tools()
    with cassette("github/code"):
        text = github.read_file("README.md", "main")
        sha = github.commit_files(
            "healer/5b0c9e1d-1",
            "main",
            {"cto-config.json": "{}\n", "old.txt": None},
            "fix(rex): declare brave_search",
        )
        pull = github.open_draft_pull(
            "healer/5b0c9e1d-1", "main", "fix(rex): declare brave_search", "Fixes #1"
        )
    # GitHub's documented file example (itself partly garbled in the docs), decoded from base64
    assert text.startswith("# Yoga Bo") and "check out the app" in text
    assert sha == "7638417db6d59f3c431d3e1f261cc637155684cd"
    assert pull.number == 1347 and pull.url.startswith("https://github.com/")


def test_ci_state_combines_statuses_and_check_runs() -> None:
    with cassette("github/ci"):
        state = tools().ci_state(gh.SHA)
    assert state.state == "failure"  # the recorded combined status has a failing context
    assert state.statuses and state.checks and state.checks[0].status == "completed"


def test_errors_are_clear() -> None:
    github = tools()
    with cassette("github/errors"):
        with pytest.raises(GitHubNotFound, match=r"read missing\.txt at main: Not Found"):
            github.read_file("missing.txt", "main")
        with pytest.raises(GitHubValidationError, match="Validation Failed"):
            github.create_issue(**NEW_ISSUE, fingerprint=gh.FINGERPRINT)
        with pytest.raises(GitHubAuthError, match="Bad credentials"):
            github.comment(1, "x")


def test_rate_limits_and_5xx_are_waited_out() -> None:
    sleeps = Sleeps()
    with cassette("github/retries"):
        issue = tools(sleeps).create_issue(**NEW_ISSUE, fingerprint=gh.FINGERPRINT)
    assert issue.number == 1
    assert sleeps == [41.0, 30.0, 2.0]  # until x-ratelimit-reset (+1 s), retry-after, then backoff


def test_a_rate_limit_longer_than_allowed_is_reported_not_waited() -> None:
    sleeps = Sleeps()
    with cassette("github/retries"), pytest.raises(GitHubRateLimited, match="rate limited for 41 s more"):
        tools(sleeps, max_wait_s=10).create_issue(**NEW_ISSUE, fingerprint=gh.FINGERPRINT)
    assert sleeps == []


def test_credentials_are_required_and_never_shown() -> None:
    with pytest.raises(GitHubAuthError, match="no GitHub credentials"):
        GitHubConfig().auth()
    assert "test-token" not in repr(GitHubConfig(token="test-token"))


def test_a_github_app_installation_authenticates_without_a_token() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from github import Auth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    auth = GitHubConfig(app_id=12345, app_private_key=pem, installation_id=678).auth()
    assert isinstance(auth, Auth.AppInstallationAuth) and auth.installation_id == 678
    assert pem not in repr(GitHubConfig(app_id=1, app_private_key=pem, installation_id=2))


def test_a_slow_github_times_out_and_a_garbled_answer_is_an_error() -> None:
    from tests.http_harness import Reply, ScriptedServer

    with ScriptedServer([Reply(201, {"number": 1}, delay_s=2.0)]) as server:
        github = GitHubTools(
            GitHubConfig(token="t", base_url=server.url, timeout_s=1, max_retries=1, write_spacing_s=None),
            "o/r",
            sleep=Sleeps(),
        )
        with pytest.raises(GitHubUnavailable, match="unreachable"):
            github.create_issue(**NEW_ISSUE, fingerprint=gh.FINGERPRINT)
    assert len(server.seen) == 2
    with ScriptedServer(
        [Reply(502, "<html>bad gateway</html>"), Reply(200, "<html>not json</html>")]
    ) as server:
        github = GitHubTools(
            GitHubConfig(token="t", base_url=server.url, write_spacing_s=None), "o/r", sleep=Sleeps()
        )
        with pytest.raises(GitHubError, match="cannot be read"):
            github.read_file("README.md", "main")
    assert len(server.seen) == 2  # the 502 was retried; the garbled 200 was not
