"""A small stateful GitHub REST API over real HTTP on 127.0.0.1, for recording cassettes of whole scenarios.

No GitHub server installs here. Every body starts from GitHub's own data in ../shared/reference/github/
(a real `@octokit/fixtures` recording, else the OpenAPI description's documented example), its URLs rebased
onto this server and the fields that carry state set; `tests/test_github_emulator.py` validates each one
against its operation's OpenAPI schema. Everything is deterministic (timestamps from `clock`, ids from one
counter, git SHAs from content), so recording a scenario twice gives identical cassettes. It answers what
`tools/github.py` sends through PyGithub; any other route gets GitHub's 404 body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.emulators import github_pulls as prs
from tests.http_harness import Loopback

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "github"
FIXED_NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
DOCS = "https://docs.github.com/rest"
CONTEXT = "ci/test"  # the one status context, and the one check run, every commit reports
# the repositories GitHub's recordings and examples were made in, rebased onto the emulated one
_ORIGINS = re.compile(
    r"(https://(?:api\.github\.com/repos|github\.com)/)"
    r"(?:octokit-fixture-org/[\w.-]+|octocat/Hello-World|octocat/example|octokit/octokit\.rb|github/hello-world)"
)
Reply = tuple[int, Any, dict[str, str]]


@cache
def _templates() -> dict[str, Any]:
    def fixture(scenario: str, index: int) -> Any:
        recorded = json.loads(
            (REFERENCE / "octokit-fixtures" / scenario / "normalized-fixture.json").read_text()
        )
        return recorded[index]["response"]

    operations = json.loads((REFERENCE / "openapi-examples.json").read_text())["operations"]

    def example(operation: str, name: str = "default") -> Any:
        return next(
            r["examples"][name] for r in operations[operation]["responses"].values() if "examples" in r
        )

    branch = example("repos/get-branch")
    return {
        # recorded in 2022: GitHub has made `has_discussions` required since
        "repository": {**fixture("get-repository", 0), "has_discussions": False},
        "issue": fixture("add-labels-to-issue", 0),
        "label": fixture("add-labels-to-issue", 1)[0],
        "combined": fixture("create-status", 3),
        "comment": example("issues/create-comment"),
        "content": example("repos/get-content", "response-if-content-is-a-file"),
        "branch": branch,
        "commit": branch["commit"],  # GET /commits/{ref} answers the same `commit` schema
        "blob": example("git/create-blob"),
        "git-commit": example("git/create-commit"),
        "ref": example("git/create-ref"),
        "pull": example("pulls/create"),
        "pull-simple": list(example("pulls/list")[0]),  # the fields a pull request has in a list
        "checks": example("checks/list-for-ref"),
    }


def _error(status: int, message: str, **extra: Any) -> Reply:
    return status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra}, {}


def _invalid(resource: str, **error: str) -> Reply:
    return _error(422, "Validation Failed", errors=[{"resource": resource, **error}])


def _git_sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


class GitHubEmulator(Loopback):
    def __init__(
        self,
        repository: str,
        files: dict[str, str],
        *,
        ci_script: list[list[str]] | None = None,
        ci_log: str = "",
        default_branch: str = "main",
        clock: Callable[[], datetime] | None = None,
        intercept: Callable[[str, str], Reply | None] | None = None,
    ) -> None:
        self.repository, self.owner = repository, repository.split("/", 1)[0]
        # a fault test's hook: called with (method, path) before a request is answered; a Reply it returns
        # is the answer instead (GitHub refusing), None lets the request through
        self.intercept = intercept
        self.default_branch, self.ci_script = default_branch, ci_script or []
        self.ci_log = ci_log  # what a failing job prints before it exits 1
        self._clock = clock or (lambda: FIXED_NOW)
        self.issues: dict[int, dict[str, Any]] = {}  # pull requests too, as GitHub lists them
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}  # pull request number -> its reviews, oldest first
        self.labels: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._ids = count(1001)
        self._blobs: dict[str, str] = {}
        self._trees: dict[str, dict[str, str]] = {}  # sha -> path -> blob sha (one flat tree per commit)
        self._commits: dict[str, dict[str, Any]] = {}
        self._branches: dict[str, str] = {}
        self._ci: dict[str, int] = {}  # head SHA -> index of its pull request in ci_script
        self._seeded_ci: dict[str, list[str]] = {}  # head SHA of a seeded pull request -> its own script
        self._seeded = 0  # pull requests seeded (an agent's), not opened by Healer
        self._users: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}  # SHA -> combined-status reads so far
        self._run_ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self.url = self._bind(self._handler())
        self._api, self._html = f"{self.url}/repos/{repository}", f"https://github.com/{repository}"
        self._actor = self._rebased(_templates()["issue"]["user"])
        tree = self._store_tree({path: self._store_blob(text) for path, text in files.items()})
        self._branches[default_branch] = self._store_commit(tree, [], "Initial commit")

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m in ("POST", "PATCH", "PUT", "DELETE")]

    def seed_pull(
        self, *, head: str, title: str, author: str, created_at: datetime, labels: Sequence[str] = (),
        commits: Sequence[datetime] = (), reviews: Sequence[prs.Event] = (),
        comments: Sequence[prs.Event] = (), ci: Sequence[str] | None = None, base: str | None = None,
        body: str | None = None, draft: bool = False,
    ) -> int:  # fmt: skip
        """An open pull request that `author` (an agent, e.g. `5dlabs-rex[bot]`), not Healer, opened from a
        new branch `head` into `base` (the default branch), with its history: a commit by `author` on `head`
        at each of `commits` (one at `created_at` if none), `reviews` as (login, APPROVED|CHANGES_REQUESTED|
        COMMENTED|DISMISSED, at) and conversation `comments` as (login, body, at). Its `updated_at` is the
        latest of all these. `ci` is what its head reports on successive status reads, as one entry of
        `ci_script` does (None: success); Healer's own pull requests keep taking `ci_script` in order.
        Naive datetimes are UTC. Returns the pull request's number."""
        base = base or self.default_branch
        if bad := sorted({state for _, state, _ in reviews} - prs.REVIEW_STATES):
            raise ValueError(f"review states are {sorted(prs.REVIEW_STATES)}, not {bad}")
        if base not in self._branches or head in self._branches:
            raise ValueError(f"seeding needs an existing base ({base}) and a new head branch ({head})")
        times = sorted(prs.iso(at) for at in commits) or [prs.iso(created_at)]
        with self._lock:
            sha, shas = self._branches[base], []
            for n, at in enumerate(times, 1):
                message = title if len(times) == 1 else f"{title} ({n}/{len(times)})"
                sha = self._store_commit(self._commits[sha]["tree"], [sha], message, date=at, author=author)
                shas.append(sha)
            self._branches[head], self._seeded = sha, self._seeded + 1
            if ci:
                self._seeded_ci[sha] = list(ci)
            issue = self._new_issue(title, body, labels, self._user(author), prs.iso(created_at))
            pull = self._open_pull(issue, head, base, draft=draft)
            for login, text, at in sorted(comments, key=lambda event: prs.iso(event[2])):
                self._add_comment(issue, text, self._user(login), prs.iso(at))
            for login, state, at in sorted(reviews, key=lambda event: prs.iso(event[2])):
                ident, when = next(self._ids), prs.iso(at)
                head_then = next(
                    (s for s, t in zip(shas[::-1], times[::-1], strict=True) if t <= when), shas[0]
                )
                self.reviews[issue["number"]].append(prs.review_json(
                    pull, ident=ident, node_id=_node_id("PullRequestReview", ident), user=self._user(login),
                    state=state, at=when, commit_id=head_then,
                ))  # fmt: skip
            events = [prs.iso(created_at), *times, *(prs.iso(event[2]) for event in (*reviews, *comments))]
            issue["updated_at"] = pull["updated_at"] = max(events)
        return int(issue["number"])

    # --- HTTP ---------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms delayed-ACK stall

            def _answer(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                refused = emulator.intercept(self.command, self.path) if emulator.intercept else None
                with emulator._lock:
                    emulator.requests.append((self.command, self.path))
                    if refused is not None:
                        status, body, headers = refused
                    else:
                        status, body, headers = emulator._dispatch(self.command, self.path, raw)
                    text = isinstance(body, str)  # a job's log is plain text
                    data = body.encode() if text else json.dumps(body, indent=1).encode()
                    used = len(emulator.requests)
                self.send_response(status)
                kind = "text/plain; charset=utf-8" if text else "application/json; charset=utf-8"
                headers = {"Content-Type": kind, **headers}
                headers |= {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(5000 - used),
                            "x-ratelimit-reset": str(int(emulator._clock().timestamp()) + 3600),
                            "x-ratelimit-used": str(used), "x-ratelimit-resource": "core"}  # fmt: skip
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def date_time_string(self, timestamp: float | None = None) -> str:  # the Date header
                return emulator._clock().astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")

            def version_string(self) -> str:
                return "GitHub.com"

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def _dispatch(self, method: str, target: str, raw: bytes) -> Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        prefix = f"/repos/{self.repository}"
        rest = parts.path[len(prefix) :] if parts.path.startswith(prefix) else "?"
        if (issue := re.match(r"/issues/(\d+)", rest)) and int(issue[1]) not in self.issues:
            return _error(404, "Not Found")
        if (pull := re.match(r"/pulls/(\d+)", rest)) and int(pull[1]) not in self.pulls:
            return _error(404, "Not Found")
        for verb, pattern, action in self._routes():
            if verb == method and (found := re.fullmatch(pattern, rest)):
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return _error(400, "Problems parsing JSON")
                return action(*[unquote(group) for group in found.groups()], query=query, body=body)
        return _error(404, "Not Found")

    def _routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [
            ("GET", "", lambda **_: (200, self._repository(), {})),
            ("GET", "/issues", self._list_issues),
            ("POST", "/issues", self._create_issue),
            ("GET", r"/issues/(\d+)", lambda number, **_: (200, self.issues[int(number)], {})),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("POST", r"/issues/(\d+)/labels", self._add_labels),
            ("DELETE", r"/issues/(\d+)/labels/(.+)", self._remove_label),
            ("GET", r"/contents/(.+)", self._contents),
            ("GET", r"/branches/(.+)", self._branch),
            ("POST", "/git/blobs", self._create_blob),
            ("POST", "/git/trees", self._create_tree),
            ("POST", "/git/commits", self._create_commit),
            ("POST", "/git/refs", self._create_ref),
            ("GET", "/pulls", self._list_pulls),
            ("POST", "/pulls", self._create_pull),
            ("GET", r"/pulls/(\d+)", lambda number, **_: (200, self._pull_view(int(number)), {})),
            ("GET", r"/pulls/(\d+)/commits", self._pull_commits),
            ("GET", r"/pulls/(\d+)/reviews", self._pull_reviews),
            ("GET", r"/commits/([^/]+)", self._commit),
            ("GET", r"/commits/([^/]+)/status", self._status),
            ("GET", r"/commits/([^/]+)/check-runs", self._check_runs),
            ("GET", r"/actions/jobs/(\d+)/logs", self._job_logs_redirect),
            ("GET", r"/_signed/job-logs/(\d+)", self._job_log),
        ]

    def _job_logs_redirect(self, ident: str, **_: Any) -> Reply:
        """As GitHub answers: 302 to a signed, short-lived address of the plain-text log."""
        if int(ident) not in self._run_ids.values():
            return _error(404, "Not Found")
        location = (
            f"{self._api}/_signed/job-logs/{ident}?urlExpires=2026-11-24T06%3A01%3A00Z&urlSignature=emulated"
        )
        return 302, None, {"Location": location}

    def _job_log(self, ident: str, **_: Any) -> Reply:
        sha = next((sha for sha, run in self._run_ids.items() if run == int(ident)), None)
        if sha is None:
            return _error(404, "Not Found")
        state, now = self._ci_state(sha, read=False), self._now().replace("Z", ".0000000Z")
        steps = [f"##[group]Run {CONTEXT}", "running the test suite", "##[endgroup]"]
        if state in ("failure", "error"):
            steps += [self.ci_log or f"{CONTEXT} failed", "##[error]Process completed with exit code 1."]
        return 200, "".join(f"{now} {line}\n" for line in steps), {}

    # --- shapes -------------------------------------------------------------------------------------

    def _rebased(self, template: Any) -> Any:
        text = _ORIGINS.sub(lambda m: m.group(1) + self.repository, json.dumps(template))
        return json.loads(text.replace("https://api.github.com", self.url))

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _repository(self) -> dict[str, Any]:
        text = json.dumps(_templates()["repository"]).replace(
            "octokit-fixture-org/hello-world", self.repository
        )
        repo, now = self._rebased(json.loads(text.replace("octokit-fixture-org", self.owner))), self._now()
        opened = sum(i["state"] == "open" for i in self.issues.values())
        return {**repo, "name": self.repository.split("/", 1)[1], "default_branch": self.default_branch,
                "open_issues": opened, "open_issues_count": opened, "updated_at": now, "pushed_at": now,
                "created_at": now, "clone_url": f"{self._html}.git", "svn_url": self._html,
                "git_url": f"git://github.com/{self.repository}.git",
                "ssh_url": f"git@github.com:{self.repository}.git", "topics": []}  # fmt: skip

    def _label(self, name: str) -> dict[str, Any]:
        if name not in self.labels:
            ident, url = next(self._ids), f"{self._api}/labels/{quote(name, safe='')}"
            self.labels[name] = {**self._rebased(_templates()["label"]), "id": ident, "name": name,
                                 "node_id": _node_id("Label", ident), "url": url}  # fmt: skip
        return self.labels[name]

    def _user(self, login: str) -> dict[str, Any]:
        """The user (or App bot) `login`, with an id of its own; the emulator's actor is itself."""
        if login == self._actor["login"]:
            return self._actor
        if login not in self._users:
            ident = next(self._ids)
            node_id = _node_id("Bot" if login.endswith("[bot]") else "User", ident)
            self._users[login] = prs.user_json(self._actor, login, ident, node_id, self.url)
        return self._users[login]

    def _new_issue(
        self, title: str, body: str | None, labels: Sequence[str], user: dict[str, Any] | None = None,
        at: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        number, ident, now = len(self.issues) + 1, next(self._ids), at or self._now()
        user = user or self._actor
        association = "OWNER" if user is self._actor else "NONE"
        url = f"{self._api}/issues/{number}"
        issue = self._rebased(_templates()["issue"])
        issue |= {"url": url, "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
                  "events_url": f"{url}/events", "timeline_url": f"{url}/timeline",
                  "html_url": f"{self._html}/issues/{number}", "id": ident, "node_id": _node_id("Issue", ident),
                  "number": number, "title": title, "body": body, "user": user, "comments": 0,
                  "labels": [self._label(name) for name in dict.fromkeys(labels)],
                  "author_association": association, "created_at": now, "updated_at": now, "state_reason": None,
                  "reactions": {**issue["reactions"], "url": f"{url}/reactions"}}  # fmt: skip
        self.issues[number], self.comments[number] = issue, []
        return issue

    def _page(self, items: list[Any], path: str, query: dict[str, str]) -> Reply:
        """One page of `items`, with GitHub's Link header (PyGithub follows its `next`)."""
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = ({"next": page + 1, "last": last} if page < last else {}) | (
            {"prev": page - 1, "first": 1} if page > 1 else {}
        )
        link = ", ".join(
            f'<{self._api}{path}?{urlencode({**query, "page": n}, safe=",:")}>; rel="{rel}"'
            for rel, n in links.items()
        )
        return 200, items[(page - 1) * per_page : page * per_page], {"Link": link} if link else {}

    # --- issues, comments, labels -------------------------------------------------------------------

    def _list_issues(self, *, query: dict[str, str], **_: Any) -> Reply:
        state, wanted = query.get("state", "open"), {n for n in query.get("labels", "").split(",") if n}
        found = [
            issue
            for issue in self.issues.values()
            if state in ("all", issue["state"]) and wanted <= {label["name"] for label in issue["labels"]}
        ]
        key = {"updated": "updated_at", "comments": "comments"}.get(query.get("sort", ""), "number")
        found.sort(key=lambda i: (i[key], i["number"]), reverse=query.get("direction", "desc") == "desc")
        return self._page(found, "/issues", query)

    def _create_issue(self, *, body: dict[str, Any], **_: Any) -> Reply:
        if not body.get("title"):
            return _invalid("Issue", code="missing_field", field="title")
        return 201, self._new_issue(body["title"], body.get("body"), list(body.get("labels", []))), {}

    def _edit_issue(self, number: str, *, body: dict[str, Any], **_: Any) -> Reply:
        issue = self.issues[int(number)]
        issue.update({k: body[k] for k in ("title", "body") if k in body}, updated_at=self._now())
        if "labels" in body:
            issue["labels"] = [self._label(name) for name in dict.fromkeys(body["labels"])]
        if body.get("state") == "closed" and issue["state"] == "open":
            reason = body.get("state_reason") or "completed"
            issue.update(state="closed", closed_at=self._now(), closed_by=self._actor, state_reason=reason)
        elif body.get("state") == "open" and issue["state"] == "closed":
            issue.update(state="open", closed_at=None, closed_by=None, state_reason="reopened")
        return 200, issue, {}

    def _list_comments(self, number: str, *, query: dict[str, str], **_: Any) -> Reply:
        return self._page(self.comments[int(number)], f"/issues/{number}/comments", query)

    def _create_comment(self, number: str, *, body: dict[str, Any], **_: Any) -> Reply:
        return 201, self._add_comment(self.issues[int(number)], body.get("body", ""), self._actor), {}

    def _add_comment(
        self, issue: dict[str, Any], text: str, user: dict[str, Any], at: str | None = None
    ) -> dict[str, Any]:
        ident, now = next(self._ids), at or self._now()
        comment = {**self._rebased(_templates()["comment"]), "id": ident,
                   "node_id": _node_id("IssueComment", ident), "url": f"{self._api}/issues/comments/{ident}",
                   "html_url": f"{issue['html_url']}#issuecomment-{ident}", "body": text, "user": user,
                   "created_at": now, "updated_at": now, "issue_url": issue["url"],
                   "author_association": "OWNER" if user is self._actor else "NONE"}  # fmt: skip
        self.comments[issue["number"]].append(comment)
        issue.update(comments=issue["comments"] + 1, updated_at=now)
        return comment

    def _add_labels(self, number: str, *, body: Any, **_: Any) -> Reply:
        issue = self.issues[int(number)]
        names = body.get("labels", []) if isinstance(body, dict) else body  # both forms GitHub takes
        have = [label["name"] for label in issue["labels"]]
        issue["labels"] = [self._label(name) for name in dict.fromkeys([*have, *names])]
        return 200, issue["labels"], {}

    def _remove_label(self, number: str, name: str, **_: Any) -> Reply:
        issue = self.issues[int(number)]
        if name not in [label["name"] for label in issue["labels"]]:
            return _error(404, "Label does not exist")
        issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
        return 200, issue["labels"], {}

    # --- git objects, branches, contents ------------------------------------------------------------

    def _store_blob(self, text: str) -> str:
        sha = _git_sha("blob", text.encode())  # git's own blob SHA
        self._blobs[sha] = text
        return sha

    def _store_tree(self, entries: dict[str, str]) -> str:
        sha = _git_sha("tree", json.dumps(sorted(entries.items())).encode())
        self._trees[sha] = dict(sorted(entries.items()))
        return sha

    def _store_commit(self, tree: str, parents: list[str], message: str, **seeded: str) -> str:
        """`seeded`: the `date` and the `author` login of an agent's commit (Healer's are dated now)."""
        record = {"tree": tree, "parents": parents, "message": message, "date": self._now(), **seeded}
        sha = _git_sha("commit", json.dumps(record, sort_keys=True).encode())
        self._commits[sha] = record
        return sha

    def _resolve(self, ref: str) -> str | None:
        ref = ref.removeprefix("refs/heads/").removeprefix("heads/")
        return self._branches.get(ref) or (ref if ref in self._commits else None)

    def _commit_json(self, sha: str) -> dict[str, Any]:
        record, template = self._commits[sha], self._rebased(_templates()["commit"])
        user = self._user(record["author"]) if "author" in record else self._actor
        person = {"name": "Healer", "email": "healer@example.com", "date": record["date"]}
        if "author" in record:
            email = f"{user['id']}+{user['login']}@users.noreply.github.com"
            person = {"name": user["login"], "email": email, "date": record["date"]}
        tree = {"sha": record["tree"], "url": f"{self._api}/git/trees/{record['tree']}"}
        parents = [
            {"sha": p, "url": f"{self._api}/commits/{p}", "html_url": f"{self._html}/commit/{p}"}
            for p in record["parents"]
        ]
        inner = {**template["commit"], "author": person, "committer": person, "message": record["message"],
                 "tree": tree, "url": f"{self._api}/git/commits/{sha}", "comment_count": 0}  # fmt: skip
        return {**template, "sha": sha, "node_id": _node_id("Commit", int(sha[:7], 16)), "commit": inner,
                "url": f"{self._api}/commits/{sha}", "html_url": f"{self._html}/commit/{sha}",
                "comments_url": f"{self._api}/commits/{sha}/comments", "author": user,
                "committer": user, "parents": parents}  # fmt: skip

    def _branch(self, name: str, **_: Any) -> Reply:
        if name not in self._branches:
            return _error(404, "Branch not found")
        url = f"{self._api}/branches/{quote(name)}"
        return 200, {**self._rebased(_templates()["branch"]), "name": name, "protected": False,
                     "commit": self._commit_json(self._branches[name]), "protection_url": f"{url}/protection",
                     "_links": {"self": url, "html": f"{self._html}/tree/{name}"}}, {}  # fmt: skip

    def _contents(self, path: str, *, query: dict[str, str], **_: Any) -> Reply:
        ref = query.get("ref", self.default_branch)
        sha = self._resolve(ref)
        blob = self._trees[self._commits[sha]["tree"]].get(path) if sha else None
        if blob is None:
            return _error(404, "Not Found")
        data = base64.b64encode(self._blobs[blob].encode()).decode()
        url, git = (
            f"{self._api}/contents/{quote(path)}?ref={quote(ref, safe='')}",
            f"{self._api}/git/blobs/{blob}",
        )
        html = f"{self._html}/blob/{ref}/{path}"
        return 200, {**self._rebased(_templates()["content"]), "size": len(self._blobs[blob].encode()),
                     "name": path.rsplit("/", 1)[-1], "path": path, "sha": blob, "url": url, "git_url": git,
                     "content": "".join(data[i : i + 60] + "\n" for i in range(0, len(data), 60)),
                     "html_url": html, "_links": {"git": git, "self": url, "html": html},
                     "download_url": f"https://raw.githubusercontent.com/{self.repository}/{ref}/{path}"}, {}  # fmt: skip

    def _create_blob(self, *, body: dict[str, Any], **_: Any) -> Reply:
        content = body.get("content", "")
        if body.get("encoding") == "base64":
            content = base64.b64decode(content).decode("utf-8", "replace")
        sha = self._store_blob(content)
        return (
            201,
            {**self._rebased(_templates()["blob"]), "sha": sha, "url": f"{self._api}/git/blobs/{sha}"},
            {},
        )

    def _create_tree(self, *, body: dict[str, Any], **_: Any) -> Reply:
        base = body.get("base_tree")
        if base is not None and base not in self._trees:
            return _error(422, "base_tree is not a valid tree oid")
        entries = dict(self._trees[base]) if base else {}
        for element in body.get("tree", []):
            if "content" in element:
                entries[element["path"]] = self._store_blob(element["content"])
            elif element.get("sha") is None:  # a deletion
                entries.pop(element["path"], None)
            elif element["sha"] in self._blobs:
                entries[element["path"]] = element["sha"]
            else:
                return _error(422, f"tree.sha {element['sha']} is not a valid blob")
        sha = self._store_tree(entries)
        tree = [
            {"path": path, "mode": "100644", "type": "blob", "sha": blob, "url": f"{self._api}/git/blobs/{blob}",
             "size": len(self._blobs[blob].encode())} for path, blob in self._trees[sha].items()
        ]  # fmt: skip
        return 201, {"sha": sha, "url": f"{self._api}/git/trees/{sha}", "tree": tree, "truncated": False}, {}

    def _create_commit(self, *, body: dict[str, Any], **_: Any) -> Reply:
        parents = list(body.get("parents", []))
        if body.get("tree") not in self._trees:
            return _error(422, "Tree SHA does not exist")
        if any(parent not in self._commits for parent in parents):
            return _error(422, "Parent SHA does not exist or is not a commit object")
        shown = self._commit_json(self._store_commit(body["tree"], parents, body.get("message", "")))
        return 201, {**self._rebased(_templates()["git-commit"]), "sha": shown["sha"],
                     "node_id": shown["node_id"], "html_url": shown["html_url"], "parents": shown["parents"],
                     **{k: shown["commit"][k] for k in ("url", "message", "author", "committer", "tree")}}, {}  # fmt: skip

    def _create_ref(self, *, body: dict[str, Any], **_: Any) -> Reply:
        ref, sha = str(body.get("ref", "")), body.get("sha")
        if sha not in self._commits:
            return _error(422, "Object does not exist")
        if not ref.startswith("refs/heads/"):
            return _error(422, "Reference name is invalid")
        if ref.removeprefix("refs/heads/") in self._branches:
            return _error(422, "Reference already exists")
        self._branches[ref.removeprefix("refs/heads/")] = sha
        target = {"type": "commit", "sha": sha, "url": f"{self._api}/git/commits/{sha}"}
        return 201, {**self._rebased(_templates()["ref"]), "ref": ref, "url": f"{self._api}/git/{ref}",
                     "node_id": _node_id("Ref", len(self._branches)), "object": target}, {}  # fmt: skip

    # --- pull requests and CI -----------------------------------------------------------------------

    def _side(self, branch: str, sha: str) -> dict[str, Any]:
        repo = self._repository()
        return {
            "label": f"{self.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": repo["owner"],
            "repo": repo,
        }

    def _list_pulls(self, *, query: dict[str, str], **_: Any) -> Reply:
        state, head, base = query.get("state", "open"), query.get("head"), query.get("base")
        found = [
            prs.simple(pull, _templates()["pull-simple"])
            for pull in prs.sorted_pulls([self._pull_view(number) for number in self.pulls], query)
            if state in ("all", pull["state"]) and head in (None, pull["head"]["label"])
            and base in (None, pull["base"]["ref"])
        ]  # fmt: skip
        return self._page(found, "/pulls", query)

    def _pull_view(self, number: int) -> dict[str, Any]:
        """The pull request as served: what it shares with its issue (labels, comments, dates) is the issue's
        (Healer labels and comments on a pull request through its issue)."""
        issue = self.issues[number]
        shared = ("title", "body", "state", "labels", "comments", "updated_at", "closed_at")
        return {**self.pulls[number], **{key: issue[key] for key in shared}}

    def _pull_commits(self, number: str, *, query: dict[str, str], **_: Any) -> Reply:
        pull = self.pulls[int(number)]
        shas = prs.branch_commits(self._commits, pull["head"]["sha"], pull["base"]["sha"])
        commits = [self._commit_json(sha) for sha in shas]
        return self._page(commits, f"/pulls/{number}/commits", query)

    def _pull_reviews(self, number: str, *, query: dict[str, str], **_: Any) -> Reply:
        return self._page(self.reviews[int(number)], f"/pulls/{number}/reviews", query)

    def _create_pull(self, *, body: dict[str, Any], **_: Any) -> Reply:
        head, base = str(body.get("head", "")).split(":")[-1], str(body.get("base", ""))
        for field, branch in (("head", head), ("base", base)):
            if branch not in self._branches:
                return _invalid("PullRequest", field=field, code="invalid")
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in self.pulls.values()):
            return _invalid(
                "PullRequest",
                code="custom",
                message=f"A pull request already exists for {self.owner}:{head}.",
            )
        self._ci[self._branches[head]] = len(self.pulls) - self._seeded  # Healer's n-th: ci_script[n]
        issue = self._new_issue(str(body.get("title", "")), body.get("body"), [])
        return 201, self._open_pull(issue, head, base, draft=bool(body.get("draft", False))), {}

    def _open_pull(self, issue: dict[str, Any], head: str, base: str, *, draft: bool) -> dict[str, Any]:
        """The pull request from `head` into `base` that the (just created) `issue` is."""
        sha, base_sha = self._branches[head], self._branches[base]
        trees = [self._trees[self._commits[commit]["tree"]] for commit in (base_sha, sha)]
        ident, commits = next(self._ids), prs.branch_commits(self._commits, sha, base_sha)
        pull = prs.pull_json(self._rebased(_templates()["pull"]), issue, ident=ident, api=self._api,
                         node_id=_node_id("PullRequest", ident), head=self._side(head, sha), draft=draft,
                         base=self._side(base, base_sha), commits=len(commits),
                         stats=prs.diff_stats(*trees, self._blobs))  # fmt: skip
        issue["pull_request"] = {
            key: pull[key] for key in ("url", "html_url", "diff_url", "patch_url", "merged_at")
        }
        self.pulls[pull["number"]], self.reviews[pull["number"]] = pull, []
        return pull

    def _ci_state(self, sha: str, *, read: bool) -> str:
        """The state the commit reports now; `read` (a combined-status GET) moves its script on a step."""
        if read:
            self._reads[sha] = self._reads.get(sha, 0) + 1
        index = self._ci.get(sha)
        states = self._seeded_ci.get(sha) or (
            self.ci_script[index] if index is not None and index < len(self.ci_script) else []
        )
        return states[min(max(self._reads.get(sha, 0) - 1, 0), len(states) - 1)] if states else "success"

    def _commit(self, ref: str, **_: Any) -> Reply:
        sha = self._resolve(ref)
        return (200, self._commit_json(sha), {}) if sha else _error(422, f"No commit found for SHA: {ref}")

    def _status(self, ref: str, **_: Any) -> Reply:
        if not (sha := self._resolve(ref)):
            return _error(404, "Not Found")
        state, template, now = (
            self._ci_state(sha, read=True),
            self._rebased(_templates()["combined"]),
            self._now(),
        )
        ident = self._run_ids.setdefault(sha, next(self._ids))
        status = {**template["statuses"][0], "url": f"{self._api}/statuses/{sha}", "id": ident,
                  "node_id": _node_id("StatusContext", ident), "state": state, "context": CONTEXT,
                  "description": f"{CONTEXT} {state}", "target_url": f"{self._html}/runs/{ident}",
                  "created_at": now, "updated_at": now}  # fmt: skip
        minimal = {k: v for k, v in self._repository().items() if k in template["repository"]}
        return 200, {**template, "state": state, "statuses": [status], "sha": sha, "total_count": 1,
                     "repository": minimal, "commit_url": f"{self._api}/commits/{sha}",
                     "url": f"{self._api}/commits/{sha}/status"}, {}  # fmt: skip

    def _check_runs(self, ref: str, **_: Any) -> Reply:
        if not (sha := self._resolve(ref)):
            return _error(422, f"No commit found for SHA: {ref}")
        state, template, now = (
            self._ci_state(sha, read=False),
            self._rebased(_templates()["checks"]),
            self._now(),
        )
        ident, done = self._run_ids.setdefault(sha, next(self._ids)), state != "pending"

        def side(part: dict[str, Any]) -> dict[str, Any]:
            repo = {"id": part["repo"]["id"], "url": self._api, "name": part["repo"]["name"]}
            return {"ref": part["ref"], "sha": part["sha"], "repo": repo}

        pulls = [{"id": p["id"], "number": n, "url": p["url"], "head": side(p["head"]), "base": side(p["base"])}
                 for n, p in self.pulls.items() if p["head"]["sha"] == sha]  # fmt: skip
        run = template["check_runs"][0]
        run |= {"id": ident, "head_sha": sha, "node_id": _node_id("CheckRun", ident), "external_id": str(ident),
                "url": f"{self._api}/check-runs/{ident}", "name": CONTEXT, "html_url": f"{self._html}/runs/{ident}",
                "details_url": f"{self._html}/runs/{ident}", "status": "completed" if done else "in_progress",
                "conclusion": state if done else None, "started_at": now, "completed_at": now if done else None,
                "pull_requests": pulls, "check_suite": {"id": ident},
                "app": {**run["app"], "slug": "github-actions", "name": "GitHub Actions"},
                "output": {**run["output"], "title": f"{CONTEXT} {state}", "summary": f"{CONTEXT} {state}",
                           "text": None, "annotations_count": 0,
                           "annotations_url": f"{self._api}/check-runs/{ident}/annotations"}}  # fmt: skip
        return 200, {**template, "total_count": 1, "check_runs": [run]}, {}
