"""Prompt and issue templates, as files in `prompts/` (rendered with `string.Template`: `$name`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


@cache
def template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.md").read_text())


def render(name: str, /, **values: object) -> str:
    """`prompts/<name>.md` with every `$placeholder` filled; a missing value is an error, not a blank."""
    return template(name).substitute({key: str(value) for key, value in values.items()})
