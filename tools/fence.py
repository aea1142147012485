"""Log text as data in what Healer writes: prompts, GitHub issues and comments, Discord alerts. Pure.

Two kinds of place text lands in:
- code: `fenced` and `inline_code` (`table_code` in a table) put text in a block or span it cannot close
  (CommonMark: a fence or span closes only on a backtick run as long as its opener), so nothing in it renders.
- prose that GitHub renders (titles, the model's summary and root cause, facts): `neutralised` (`one_line`
  in a list item, `table_text` in a cell) puts a zero-width space (U+200B) right after each character that
  would start a live construct.
  GitHub links a mention only when a name follows `@` directly, an issue reference only when a digit
  follows `#`, an image only on `![`, a tag only on `<` and a letter; the inserted character is invisible,
  also inside code spans, so the text reads the same (Renovate breaks mentions and references this way).
"""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"
_BACKTICK_RUN = re.compile(r"`+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Each pattern matches the character after which a zero-width space breaks the construct.
_LIVE_STARTS = re.compile(
    r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9_-])"  # @user, @org/team (an e-mail's @ follows a letter: no mention)
    r"|#(?=\d)"  # #123, owner/repo#123
    r"|(?i:\bGH-)(?=\d)"  # GH-123
    r"|!(?=\[)"  # ![alt](https://…), ![alt][ref]
    r"|<(?=[A-Za-z/!?])"  # <img …>, </details>, <!-- … -->, <https://autolink>
    r"|&(?=[#A-Za-z])"  # &#64;user: an entity becomes its character before mentions are looked for
)
# A fence opened in prose would swallow what follows it, and a line of our own data could then close it.
_FENCE_LINE = re.compile(r"^( {0,3})(?=```|~~~)", re.MULTILINE)


def longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, and at least the usual three."""
    return "`" * max(3, longest_backtick_run(text) + 1)


def fenced(text: str, info: str = "text") -> str:
    """`text` as a fenced code block; no line of it can close the block."""
    fence = fence_for(text)
    return f"{fence}{info}\n{text}\n{fence}"


def inline_code(text: str) -> str:
    """`text` as one code span, on one line: a line break could end the paragraph and with it the span."""
    flat = _LINE_BREAK.sub(" ", text) or " "  # an empty span is no span: two literal backticks
    ticks = "`" * (longest_backtick_run(flat) + 1)
    if flat.startswith("`") or flat.endswith("`"):
        flat = f" {flat} "  # CommonMark strips one space from each end of a span padded on both
    return f"{ticks}{flat}{ticks}"


def table_code(text: str) -> str:
    """`inline_code` for a table cell: GFM splits cells on `|` before it sees code spans."""
    return inline_code(text).replace("|", "\\|")


def neutralised(text: str) -> str:
    """Markdown prose with no live mention, issue reference, image, HTML tag or code fence in it."""
    text = _LIVE_STARTS.sub(lambda start: start.group(0) + ZERO_WIDTH_SPACE, text)
    return _FENCE_LINE.sub(lambda indent: indent.group(1) + ZERO_WIDTH_SPACE, text)


def one_line(text: str) -> str:
    """`neutralised` text that stays on its line (a list item): line breaks become spaces."""
    return neutralised(_LINE_BREAK.sub(" ", text))


def table_text(text: str) -> str:
    """`one_line` for a table cell, where an unescaped `|` would start the next cell."""
    return one_line(text).replace("|", "\\|")
