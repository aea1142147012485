"""The remediation scope (DESIGN §9), enforced in code whatever the model says: only the session's
repository (the GitHub client is bound to it), only files that were read for the fix, relative paths
without `..`, no CI workflow files unless the configuration allows them, a bounded number of files and
changed lines."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from graph.config import HealerSettings
from graph.state import ProposedChange

WORKFLOW_DIRS = (".github/workflows/", ".gitlab-ci", ".circleci/")


_NAMED_PATH = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:json|ya?ml|toml|md|hbs|j2|txt|cfg|ini|conf|env|rs|py|ts|js|go|sh))\b"
)


def paths_named(*texts: str) -> list[str]:
    """Repository-looking paths a text names (`cto-config.json`, `agents/tess/review.hbs`), in order."""
    found: list[str] = []
    for text in texts:
        for match in _NAMED_PATH.finditer(text):
            if (path := normal_path(match.group(1))) and path not in found:
                found.append(path)
    return found


def normal_path(path: str) -> str | None:
    """`path` as a clean repository-relative path, or None if it is not one."""
    text = path.strip().strip("`").removeprefix("./")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts or "\\" in text or "\x00" in text:
        return None
    return str(pure)


def readable(path: str, settings: HealerSettings) -> bool:
    normal = normal_path(path)
    return normal is not None and (settings.allow_workflow_changes or not normal.startswith(WORKFLOW_DIRS))


def problems(change: ProposedChange, originals: Mapping[str, str], settings: HealerSettings) -> list[str]:
    """Why the change may not be committed; empty when it may."""
    found: list[str] = []
    if not change.files:
        return ["the change touches no file"]
    if len(change.files) > settings.max_changed_files:
        found.append(f"{len(change.files)} files changed, at most {settings.max_changed_files} allowed")
    changed_lines = 0
    for file in change.files:
        path = normal_path(file.path)
        if path is None:
            found.append(f"`{file.path}` is not a relative repository path")
        elif not readable(path, settings):
            found.append(f"`{path}` is a CI workflow file, which the configuration does not allow")
        elif path not in originals:
            found.append(f"`{path}` was not read for this fix")
        else:
            changed_lines += _changed_lines(originals[path], file.content)
    if changed_lines > settings.max_changed_lines:
        found.append(f"{changed_lines} lines changed, at most {settings.max_changed_lines} allowed")
    if not found and changed_lines == 0:
        found.append("the proposed files are identical to the base")
    return found


def _changed_lines(before: str, after: str) -> int:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
