"""The remediation scope (DESIGN §9), enforced in code whatever the model or a log line says.

An allow-list in spirit: only the session's repository (the GitHub client is bound to it), only files that
were read for the fix (or that the analysis named and do not exist yet), only plain paths — relative,
printable ASCII, bounded in length and depth, never inside `.git/`, never CI or automation configuration
(`AUTOMATION`, unless `allow_workflow_changes`) — and only text: UTF-8 without control characters, bounded in
bytes per file and per change and in changed lines, and holding no credential the base did not already hold.

Every reason returned is a sentence for a person: it goes into the issue's attempt comment.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from graph.config import HealerSettings
from graph.state import FileChange, ProposedChange
from tools.redact import find_secrets, redact

COMPONENT_BYTES = 255  # NAME_MAX on the file systems a checkout lands on
COUNTED_LINE_BYTES = 256  # a longer line counts once per started 256 bytes: one huge line is many changes
SHOWN_PATH_CHARS = 120  # a path quoted in a reason is cut here
UNPORTABLE = frozenset('\\:*?"<>|`')  # separators, drive letters, streams, globs, markdown quotes
GIT_DIRS = frozenset({".git", "git~1"})  # `git~1`: the 8.3 short name Windows gives `.git`
REDACTION_PLACEHOLDER = "[REDACTED:"


def _api_group(*groups: str) -> re.Pattern[str]:
    """A manifest of one of these Kubernetes API groups, in YAML or JSON (bounded gaps: no backtracking)."""
    names = "|".join(re.escape(group) for group in groups)
    return re.compile(rf"\bapiVersion[\"']?[ \t]{{0,20}}:[ \t]{{0,20}}[\"']?(?:{names})/")


@dataclass(frozen=True)
class Family:
    """One kind of CI or automation configuration, recognised on the case-folded path or, for kinds no
    file name gives away, on the content."""

    name: str
    dirs: str = ""  # path components, at any depth, space-separated
    files: str = ""  # fnmatch patterns for the file name, space-separated
    content: re.Pattern[str] | None = None

    def holds_path(self, parts: Sequence[str]) -> bool:
        dirs = self.dirs.split()
        return any(part in dirs for part in parts) or any(
            fnmatchcase(parts[-1], pattern) for pattern in self.files.split()
        )

    def holds_text(self, text: str) -> bool:
        return self.content is not None and self.content.search(text) is not None


# What decides which commands run, where, with which secrets and permissions, or on whose machine, is
# refused. A Makefile, package.json scripts, a Dockerfile or a shell script are the project's code: a
# reviewer reads them in the draft PR like any other file, and they run only inside jobs whose
# privileges the configuration below fixes. Patterns are lower case: they meet case-folded paths.
AUTOMATION: tuple[Family, ...] = (
    Family(
        "GitHub Actions configuration (a workflow, an action, or repository automation under `.github/`"
        " such as dependabot.yml or CODEOWNERS)",
        dirs=".github",
        files="action.yml action.yaml codeowners",
    ),
    Family("GitLab CI configuration", dirs=".gitlab .gitlab-ci", files=".gitlab-ci*"),
    Family("CircleCI configuration", dirs=".circleci"),
    Family("a Jenkins pipeline", dirs=".jenkins", files="jenkinsfile jenkinsfile.* *.jenkinsfile"),
    Family("Travis CI configuration", dirs=".travis", files=".travis.yml .travis.yaml"),
    Family(
        "Azure Pipelines configuration",
        dirs=".azure-pipelines .azuredevops",
        files="azure-pipelines*.yml azure-pipelines*.yaml",
    ),
    Family("Buildkite configuration", dirs=".buildkite", files="buildkite.yml buildkite.yaml buildkite.json"),
    Family("Drone CI configuration", files=".drone.yml .drone.yaml .drone.star .drone.jsonnet"),
    Family("Bitbucket Pipelines configuration", files="bitbucket-pipelines.yml bitbucket-pipelines.yaml"),
    Family("AppVeyor configuration", files="appveyor.yml appveyor.yaml .appveyor.yml .appveyor.yaml"),
    Family("Woodpecker CI configuration", dirs=".woodpecker", files=".woodpecker.yml .woodpecker.yaml"),
    Family("a Tekton pipeline", dirs=".tekton", content=_api_group("tekton.dev")),
    # Argo has no file-name convention: its manifests are known by their API group
    Family("an Argo workflow or application", content=_api_group("argoproj.io")),
    Family(
        "hosted CI configuration (Cirrus, Semaphore, AWS CodeBuild, Google Cloud Build, Codeship, Harness)",
        dirs=".semaphore .harness",
        files=".cirrus.yml .cirrus.yaml .cirrus.star buildspec.yml buildspec.yaml"
        " cloudbuild.yml cloudbuild.yaml cloudbuild.json codeship-*.yml codeship-*.yaml",
    ),
    Family(
        "a git hook or a hook manager's configuration (husky, pre-commit, lefthook, lint-staged, overcommit)",
        dirs=".husky .githooks .git-hooks .lefthook",
        files=".pre-commit-config.yaml .pre-commit-config.yml .pre-commit-hooks.yaml"
        " lefthook*.yml lefthook*.yaml lefthook*.toml lefthook*.json .lefthook*"
        " .lintstagedrc* lint-staged.config.* .overcommit.yml",
    ),
    Family("git's submodule list, which points the checkout at other repositories", files=".gitmodules"),
    Family(
        "a development environment that runs commands when opened (devcontainer, Gitpod, direnv, mise)",
        dirs=".devcontainer",
        files=".devcontainer.json .gitpod.yml .gitpod.yaml .gitpod.dockerfile .envrc mise.toml .mise.toml",
    ),
    Family(
        "editor or IDE configuration, which can run tasks and commands (VS Code, JetBrains, Fleet, Zed)",
        dirs=".vscode .idea .fleet .zed",
        files="*.code-workspace",
    ),
    Family(
        "dependency or merge automation (Renovate, Mergify, Kodiak, bors)",
        dirs=".mergify",
        files="renovate.json renovate.json5 .renovaterc* .mergify.yml .kodiak.toml bors.toml",
    ),
    Family(
        "package-manager configuration that chooses where code comes from or runs some at install",
        dirs=".cargo .mvn .yarn",
        files=".npmrc .yarnrc .yarnrc.yml .pnpmfile.cjs pip.conf .pypirc",
    ),
)

# Trojan Source (CVE-2021-42574): bidi controls make a reviewer read other code than the compiler does.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffd]")

_NAMED_PATH = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:json|ya?ml|toml|md|hbs|j2|txt|cfg|ini|conf|env|rs|py|ts|js|go|sh))\b"
)


def paths_named(*texts: str) -> list[str]:
    """Repository-looking paths a text names (`cto-config.json`, `agents/tess/review.hbs`), in order.
    A name is a candidate only: it is read or written after `path_problem` says nothing against it."""
    found: list[str] = []
    for text in texts:
        for match in _NAMED_PATH.finditer(text):
            if (path := normal_path(match.group(1))) and path not in found:
                found.append(path)
    return found


def normal_path(path: str) -> str | None:
    """`path` spelled the one way it is compared and committed (quotes, `./` and `//` dropped), or None if it
    is not a relative repository path at all. No verdict beyond that: see `path_problem`."""
    text = path.strip(" \t\r\n`").removeprefix("./")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts or "\\" in text or "\x00" in text:
        return None
    normal = str(pure)
    return None if normal == "." else normal


def shown(path: str) -> str:
    """`path` safe to quote in an issue comment: invisible and non-ASCII characters escaped, cut, redacted."""
    escaped = path[: SHOWN_PATH_CHARS * 30].encode("ascii", "backslashreplace").decode("ascii")
    printable = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in escaped).replace("`", "'")
    text = redact(printable)
    return text if len(text) <= SHOWN_PATH_CHARS else text[:SHOWN_PATH_CHARS] + "…"


def path_problem(path: str, settings: HealerSettings) -> str | None:
    """Why Healer may neither read nor write `path`; None when it may."""
    if len(path) > settings.max_path_chars:
        return f"`{shown(path)}` is {len(path)} characters long, at most {settings.max_path_chars} allowed"
    if why := _character_problem(path.strip(" \t\r\n`")):
        return f"`{shown(path)}` holds {why}; Healer refuses such a path rather than clean it"
    normal = normal_path(path)
    if normal is None:
        return f"`{shown(path)}` is not a relative repository path"
    return _shape_problem(normal, settings) or _place_problem(normal, settings)


def readable(path: str, settings: HealerSettings) -> bool:
    return path_problem(path, settings) is None


def automation_family(path: str) -> Family | None:
    """The family of CI or automation configuration `path` belongs to, if any."""
    parts = [_folded(part) for part in PurePosixPath(path).parts]
    return next((family for family in AUTOMATION if parts and family.holds_path(parts)), None)


def problems(change: ProposedChange, originals: Mapping[str, str], settings: HealerSettings) -> list[str]:
    """Why the change may not be committed; empty when it may."""
    if not change.files:
        return ["the change touches no file"]
    found = _change_problems(change, settings)
    changed_lines = 0
    for file in change.files:
        path = normal_path(file.path)
        if why := _file_problem(file, originals, settings):
            found.append(why)
        elif path is not None:
            changed_lines += _changed_lines(originals[path], file.content)
    if changed_lines > settings.max_changed_lines:
        found.append(
            f"{changed_lines} lines changed, at most {settings.max_changed_lines} allowed"
            f" (a line longer than {COUNTED_LINE_BYTES} bytes counts once per {COUNTED_LINE_BYTES} bytes)"
        )
    if not found and changed_lines == 0:
        found.append("the proposed files are identical to the base")
    return found


# --- paths ------------------------------------------------------------------------------------------


def _character_problem(text: str) -> str | None:
    """What in `text` is not printable ASCII a path may hold, described; None when nothing is."""
    for char in text:
        if " " <= char <= "~":
            if char in UNPORTABLE:
                return f"{_codepoint(char)}, which is not portable in a path"
            continue
        return f"{_codepoint(char)}, {_character_kind(char)}"
    return None


def _character_kind(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category in {"Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Cn", "Co", "Cs"}:
        return "an invisible, format, combining or unassigned character"
    if unicodedata.normalize("NFKC", char) != char:
        return f"a compatibility form of `{unicodedata.normalize('NFKC', char)}`"
    return "a non-ASCII character, which can pass for an ASCII one"


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()


def _shape_problem(normal: str, settings: HealerSettings) -> str | None:
    parts = PurePosixPath(normal).parts
    if len(parts) > settings.max_path_depth:
        return f"`{shown(normal)}` is {len(parts)} levels deep, at most {settings.max_path_depth} allowed"
    for part in parts:
        if len(part.encode()) > COMPONENT_BYTES:
            return f"`{shown(normal)}` has a name longer than {COMPONENT_BYTES} bytes"
        if part.endswith((".", " ")):
            # Windows drops them: `.git.` is `.git` there, `.github ` is `.github`
            return f"`{shown(normal)}` has a name ending in a dot or a space, which Windows drops"
    return None


def _place_problem(normal: str, settings: HealerSettings) -> str | None:
    if any(_folded(part) in GIT_DIRS for part in PurePosixPath(normal).parts):
        return f"`{shown(normal)}` is inside `.git/`, which Healer never reads or writes"
    if secrets := find_secrets(normal):
        return f"`{shown(normal)}` holds a credential-shaped value ({secrets[0][0]}) in its name"
    family = automation_family(normal)
    if family is not None and not settings.allow_workflow_changes:
        return _automation_refused(shown(normal), family)
    return None


def _automation_refused(path: str, family: Family) -> str:
    return f"`{path}` is {family.name}, which Healer changes only when HEALER_ALLOW_WORKFLOW_CHANGES is set"


def _folded(part: str) -> str:
    # the character rule leaves only ASCII here; the fold keeps the comparison right should it ever widen
    return unicodedata.normalize("NFKC", part).casefold()


# --- content ----------------------------------------------------------------------------------------


def _change_problems(change: ProposedChange, settings: HealerSettings) -> list[str]:
    found: list[str] = []
    if len(change.files) > settings.max_changed_files:
        found.append(f"{len(change.files)} files changed, at most {settings.max_changed_files} allowed")
    total = sum(_size(file.content) for file in change.files)
    if total > settings.max_change_bytes:
        found.append(f"the change is {total} bytes, at most {settings.max_change_bytes} allowed")
    seen: set[str] = set()
    for file in change.files:
        key = _folded(normal_path(file.path) or file.path)
        if key in seen:
            found.append(f"`{shown(file.path)}` is proposed more than once")
        seen.add(key)
    return found


def _file_problem(file: FileChange, originals: Mapping[str, str], settings: HealerSettings) -> str | None:
    if why := path_problem(file.path, settings):
        return why
    path = normal_path(file.path) or file.path
    if path not in originals:
        return f"`{path}` was not read for this fix"
    return _content_problem(path, originals[path], file.content, settings)


def _content_problem(path: str, before: str, after: str, settings: HealerSettings) -> str | None:
    if (size := _size(after)) > settings.max_file_bytes:
        return f"the proposed `{path}` is {size} bytes, at most {settings.max_file_bytes} allowed"
    if (size := _size(before)) > settings.max_file_bytes:
        # whole files are proposed: one this large was shown cut, and diffing it is unbounded work
        return (
            f"`{path}` is {size} bytes at the base, more than the {settings.max_file_bytes} Healer rewrites"
        )
    if why := _text_problem(after):
        return f"the proposed `{path}` is not text: it holds {why}"
    if not settings.allow_workflow_changes and (
        family := next((f for f in AUTOMATION if f.holds_text(before) or f.holds_text(after)), None)
    ):
        return _automation_refused(path, family)
    if kinds := _new_secrets(before, after):
        return (
            f"the proposed `{path}` holds a credential-shaped value ({', '.join(kinds)}) that the base does not:"
            " Healer does not commit secrets, and does not commit a redacted file in their place"
        )
    if REDACTION_PLACEHOLDER in after and REDACTION_PLACEHOLDER not in before:
        return (
            f"the proposed `{path}` holds a `{REDACTION_PLACEHOLDER}…]` placeholder: the model saw a redacted"
            " copy, and committing it would overwrite the real value"
        )
    return None


def _text_problem(content: str) -> str | None:
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"{_codepoint(content[error.start])}, which is not UTF-8"
    if "\x00" in content:
        return "NUL bytes (binary content)"
    if match := _NOT_TEXT.search(content):
        return f"{_codepoint(match.group())}, a control, bidirectional-override or replacement character"
    return None


def _new_secrets(before: str, after: str) -> list[str]:
    """The kinds of the credentials `after` holds that `before` does not (compared by value, not place)."""
    known = {before[start:end] for _, start, end in find_secrets(before)}
    return sorted({kind for kind, start, end in find_secrets(after) if after[start:end] not in known})


def _size(content: str) -> int:
    return len(content.encode("utf-8", "surrogatepass"))


def _changed_lines(before: str, after: str) -> int:
    """Removed plus added lines, a long line weighing one per started `COUNTED_LINE_BYTES` bytes. From the
    opcodes, not the unified diff's text, in which a line starting `++` or `--` passes for a file header."""
    old, new = before.splitlines(), after.splitlines()
    opcodes = difflib.SequenceMatcher(None, old, new).get_opcodes()
    return sum(
        _weight(line)
        for tag, old_start, old_end, new_start, new_end in opcodes
        if tag != "equal"
        for line in (*old[old_start:old_end], *new[new_start:new_end])
    )


def _weight(line: str) -> int:
    return max(1, -(-_size(line) // COUNTED_LINE_BYTES))
