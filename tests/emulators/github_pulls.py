"""The shapes of pull requests an agent opened, for the GitHub emulator (tests/emulators/github.py).

Agents' pull requests are seeded with their history (commits, reviews, comments at given times) by
`GitHubEmulator.seed_pull`; this module holds what that needs beyond the emulator's own templates: users
that are not the emulator's actor (GitHub App bots such as `5dlabs-rex[bot]`), reviews built from GitHub's
documented example (`pull-request-review-items` of the API description), and the order GitHub lists pull
requests in.
"""

from __future__ import annotations

import difflib
import gzip
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

DESCRIPTION = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "github" / "api.github.com.json.gz"
)
REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"})
Event = tuple[str, str, datetime]  # (login, review state or comment body, when)


def iso(at: datetime) -> str:
    """GitHub's timestamp form; a naive datetime is taken as UTC (never as the host's zone)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def review_template() -> dict[str, Any]:
    with gzip.open(DESCRIPTION) as handle:
        examples = json.load(handle)["components"]["examples"]
    return dict(examples["pull-request-review-items"]["value"][0])


def user_json(template: dict[str, Any], login: str, ident: int, node_id: str, api: str) -> dict[str, Any]:
    """`login` as GitHub shows a user (`simple-user`); a `…[bot]` login is a GitHub App's bot user."""
    bot = login.endswith("[bot]")
    url = f"{api}/users/{quote(login, safe='')}"
    html = f"https://github.com/apps/{login.removesuffix('[bot]')}" if bot else f"https://github.com/{login}"
    return {**template, "login": login, "id": ident, "node_id": node_id, "gravatar_id": "",
            "avatar_url": f"https://avatars.githubusercontent.com/{'in' if bot else 'u'}/{ident}?v=4",
            "url": url, "html_url": html, "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}", "received_events_url": f"{url}/received_events",
            "type": "Bot" if bot else "User", "site_admin": False}  # fmt: skip


def review_json(
    pull: dict[str, Any],
    *,
    ident: int,
    node_id: str,
    user: dict[str, Any],
    state: str,
    at: str,
    commit_id: str,
) -> dict[str, Any]:
    html = f"{pull['html_url']}#pullrequestreview-{ident}"
    return {**review_template(), "id": ident, "node_id": node_id, "user": user, "body": "", "state": state,
            "html_url": html, "pull_request_url": pull["url"], "submitted_at": at, "commit_id": commit_id,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull["url"]}},
            "author_association": "NONE"}  # fmt: skip


def pull_json(
    template: dict[str, Any], issue: dict[str, Any], *, ident: int, node_id: str, api: str,
    head: dict[str, Any], base: dict[str, Any], draft: bool, commits: int, stats: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    """The open pull request (`pull-request`) that `issue` is, from `head` into `base` (`_side`s), from
    GitHub's example `template` rebased onto the emulated repository at `api`."""
    number, opened, html = (
        issue["number"],
        issue["created_at"],
        issue["html_url"].replace("/issues/", "/pull/"),
    )
    url = f"{api}/pulls/{number}"
    links = {"self": url, "html": html, "issue": issue["url"], "comments": issue["comments_url"],
             "review_comments": f"{url}/comments", "review_comment": f"{api}/pulls/comments{{/number}}",
             "commits": f"{url}/commits", "statuses": f"{api}/statuses/{head['sha']}"}  # fmt: skip
    return {**template, "url": url, "id": ident, "node_id": node_id, "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue["url"],
            "commits_url": links["commits"], "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"], "comments_url": issue["comments_url"],
            "statuses_url": links["statuses"], "number": number, "state": "open", "locked": False,
            "title": issue["title"], "user": issue["user"], "body": issue["body"],
            "labels": list(issue["labels"]), "milestone": None, "active_lock_reason": None,
            "created_at": opened, "updated_at": opened, "closed_at": None, "merged_at": None,
            "merge_commit_sha": None, "assignee": None, "assignees": [], "requested_reviewers": [],
            "requested_teams": [], "head": head, "base": base,
            "_links": {key: {"href": href} for key, href in links.items()},
            "author_association": issue["author_association"], "auto_merge": None, "draft": draft,
            "merged": False, "mergeable": None, "rebaseable": None, "mergeable_state": "unknown",
            "merged_by": None, "comments": 0, "review_comments": 0, "maintainer_can_modify": False,
            "commits": commits, **stats}  # fmt: skip


def diff_stats(before: dict[str, str], after: dict[str, str], blobs: dict[str, str]) -> dict[str, int]:
    """`additions`, `deletions` and `changed_files` between two flat trees (path -> blob SHA)."""
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    diff = [
        line
        for path in changed
        for line in difflib.ndiff(
            blobs.get(before.get(path, ""), "").splitlines(), blobs.get(after.get(path, ""), "").splitlines()
        )
    ]
    added, removed = sum(line.startswith("+ ") for line in diff), sum(line.startswith("- ") for line in diff)
    return {"additions": added, "deletions": removed, "changed_files": len(changed)}


def branch_commits(commits: dict[str, dict[str, Any]], head: str, base: str) -> list[str]:
    """The commits a pull request has, oldest first: those of `head`'s history not in `base`'s."""

    def history(sha: str | None) -> list[str]:  # the first-parent chain
        chain = []
        while sha:
            chain.append(sha)
            sha = next(iter(commits[sha]["parents"]), None)
        return chain

    on_base = set(history(base))
    return [sha for sha in history(head) if sha not in on_base][::-1]


def simple(pull: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The pull request as a list shows it (`pull-request-simple`): fewer fields, and a label's missing
    description as "" (that schema, unlike the issue's and the full pull request's, has it non-null)."""
    labels = [{**label, "description": label["description"] or ""} for label in pull["labels"]]
    return {key: value for key, value in pull.items() if key in fields} | {"labels": labels}


def sorted_pulls(pulls: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """GitHub's order for `GET /pulls`: `sort` created (the default), updated or popularity (comments);
    `direction` desc by default when sorting by creation, else asc. Ties go by number, the same way."""
    sort = query.get("sort", "created")
    key = {"updated": "updated_at", "popularity": "comments"}.get(sort, "created_at")
    descending = query.get("direction", "desc" if sort == "created" else "asc") == "desc"
    return sorted(pulls, key=lambda pull: (pull[key], pull["number"]), reverse=descending)
