"""Builds cassettes/github/ from GitHub's own data in ../shared/reference/github/.

No GitHub server installs here. Each response body is either a real recording from `@octokit/fixtures`
(issue creation, labels, search, combined status, a 422) or GitHub's documented OpenAPI example for the
operation (comments, issue update, contents, branch, git blobs/trees/commits/refs, pull request, check runs);
error bodies without a recording follow GitHub's `basic-error` schema and are marked assembled in
cassettes/README.md. Requests are the ones PyGithub sends for `tools/github.py`. `tests/test_github.py`
checks the committed files equal this output and validates every body against the OpenAPI description.
Rebuild with `.venv/bin/python -m tests.github_cassettes`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.http_harness import interaction, render_cassettes, write_cassettes

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "github"
OUT = REPO / "cassettes" / "github"
API = "https://api.github.com"
REPOSITORY = "octokit-fixture-org/add-labels-to-issue"
PATH = f"/repos/{REPOSITORY}"
FINGERPRINT = "5b0c9e1d2a3f4e67"
ISSUE_TITLE = "[HEAL-A10] Tool inventory mismatch: rex (play-42)"
ISSUE_BODY = f"rex is missing brave_search\n\n<!-- healer:fingerprint={FINGERPRINT} -->\n"
SHA = "0000000000000000000000000000000000000001"
RESET_AT = 1_795_497_900  # x-ratelimit-reset of the assembled rate-limit answer
DOCS = "https://docs.github.com/rest"


def _fixture(scenario: str, index: int) -> dict[str, Any]:
    return json.loads((REFERENCE / "octokit-fixtures" / scenario / "normalized-fixture.json").read_text())[
        index
    ]


def _example(operation: str, name: str = "default") -> Any:
    responses = json.loads((REFERENCE / "openapi-examples.json").read_text())["operations"][operation][
        "responses"
    ]
    return next(r["examples"][name] for r in responses.values() if "examples" in r)


def _reply(
    method: str, path: str, status: int, body: Any, request: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return interaction(
        method,
        f"{API}{path}",
        status,
        json.dumps(body, indent=1),
        content_type="application/json; charset=utf-8",
        headers=headers,
        request_body=None if request is None else json.dumps(request),
    )


def _error(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": DOCS}


def _search_query() -> str:
    return quote(f'"healer:fingerprint={FINGERPRINT}" repo:{REPOSITORY} is:issue in:body', safe="").replace(
        "%20", "+"
    )


def _file_example() -> dict[str, Any]:
    """GitHub's documented file answer, with its base64 lines broken by real newlines: the docs spell them
    as a literal backslash-n, which no API answer contains and which is not base64."""
    example = copy.deepcopy(_example("repos/get-content", "response-if-content-is-a-file"))
    example["content"] = example["content"].replace("\\n", "\n")
    return example


def _current(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A recorded or documented body brought up to today's API: fields GitHub has since made required,
    which the 2022 recording or the docs example predates (the OpenAPI test names them if more appear)."""
    return {**copy.deepcopy(body), **fields}


def cassettes() -> dict[str, list[dict[str, Any]]]:
    created = _fixture("add-labels-to-issue", 0)["response"]
    labels = _fixture("add-labels-to-issue", 1)["response"]
    new_issue = {"title": ISSUE_TITLE, "body": ISSUE_BODY, "labels": ["heal", "a10", "severity:critical"]}
    search = _current(_fixture("search-issues", 0)["response"], search_type="lexical")
    found = copy.deepcopy(search)  # assembled: the recorded answer, its first issue carrying our marker
    found["items"][0]["body"] = ISSUE_BODY
    tree = [{"path": "cto-config.json", "mode": "100644", "type": "blob", "sha": _example("git/create-blob")["sha"]},
            {"path": "old.txt", "mode": "100644", "type": "blob", "sha": None}]  # fmt: skip
    branch = _example("repos/get-branch")
    pull = _example("pulls/create")
    pull = _current(
        pull, requested_teams=[{**team, "type": "organization"} for team in pull["requested_teams"]]
    )
    head_sha = branch["commit"]["sha"]
    return {
        "issues": [
            _reply("POST", f"{PATH}/issues", 201, created, new_issue),
            _reply("POST", f"{PATH}/issues/1/labels", 200, labels, ["needs-human"]),
            _reply("POST", f"{PATH}/issues/1/comments", 201, _example("issues/create-comment"), {"body": "Remediation attempt #1"}),
            _reply("GET", f"{PATH}/issues/1", 200, {**created, "body": ISSUE_BODY}),
            _reply("PATCH", f"{PATH}/issues/1", 200, _example("issues/update"), {"body": f"updated analysis\n\n<!-- healer:fingerprint={FINGERPRINT} -->\n"}),
            _reply("POST", f"{PATH}/issues/1/comments", 201, _example("issues/create-comment"), {"body": "Resolved: CI is green."}),
            _reply("PATCH", f"{PATH}/issues/1", 200, _example("issues/update"), {"state": "closed", "state_reason": "completed"}),
            _reply("DELETE", f"{PATH}/issues/1/labels/needs-human", 200, labels),
            _reply("DELETE", f"{PATH}/issues/1/labels/needs-human", 404, {**_error("Label does not exist"), "status": "404"}),
        ],
        "search": [
            _reply("GET", f"/search/issues?q={_search_query()}", 200, search),
            _reply("GET", f"/search/issues?q={_search_query()}", 200, found),
        ],
        "code": [
            _reply("GET", f"{PATH}/contents/README.md?ref=main", 200, _file_example()),
            _reply("GET", f"{PATH}/branches/main", 200, branch),
            _reply("POST", f"{PATH}/git/blobs", 201, _example("git/create-blob"), {"content": "{}\n", "encoding": "utf-8"}),
            _reply("POST", f"{PATH}/git/trees", 201, _example("git/create-tree"), {"tree": tree, "base_tree": branch["commit"]["commit"]["tree"]["sha"]}),
            _reply("POST", f"{PATH}/git/commits", 201, _example("git/create-commit"), {"message": "fix(rex): declare brave_search", "tree": _example("git/create-tree")["sha"], "parents": [head_sha]}),
            _reply("POST", f"{PATH}/git/refs", 201, _example("git/create-ref"), {"ref": "refs/heads/healer/5b0c9e1d-1", "sha": _example("git/create-commit")["sha"]}),
            _reply("POST", f"{PATH}/pulls", 201, pull, {"base": "main", "head": "healer/5b0c9e1d-1", "title": "fix(rex): declare brave_search", "body": "Fixes #1", "draft": True}),
        ],
        "ci": [
            _reply("GET", f"{PATH}/commits/{SHA}/status", 200, _fixture("create-status", 3)["response"]),
            _reply("GET", f"{PATH}/commits/{SHA}/check-runs", 200, _example("checks/list-for-ref")),
        ],
        "errors": [
            _reply("GET", f"{PATH}/contents/missing.txt?ref=main", 404, {**_error("Not Found"), "status": "404"}),
            _reply("POST", f"{PATH}/issues", 422, _fixture("errors", 0)["response"], new_issue),
            _reply("POST", f"{PATH}/issues/1/comments", 401, {**_error("Bad credentials"), "status": "401"}, {"body": "x"}),
        ],
        "retries": [
            _reply("POST", f"{PATH}/issues", 403, _error("API rate limit exceeded for installation ID 1."), new_issue,
                   {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(RESET_AT), "x-ratelimit-resource": "core"}),
            _reply("POST", f"{PATH}/issues", 429, _error("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."), new_issue, {"retry-after": "30"}),
            _reply("POST", f"{PATH}/issues", 502, _error("Server Error"), new_issue),
            _reply("POST", f"{PATH}/issues", 201, created, new_issue),
        ],
    }  # fmt: skip


def rendered() -> dict[str, str]:
    return render_cassettes(cassettes())


if __name__ == "__main__":
    write_cassettes(OUT, rendered())
