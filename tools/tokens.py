"""How many tokens a prompt costs the model, without the model's tokenizer (DESIGN §3: prompts are bounded).

Byte counts undercount what matters here. Two things make log prompts dear:
- byte-level BPE vocabularies (Qwen2, GPT-4's cl100k and o200k) split every digit on its own, and
  timestamps, ids and durations are mostly digits;
- some OpenAI-compatible servers render messages through an HTML-escaping chat template
  (llama-cpp-python's `chatml-function-calling` turns each `"` into `&#34;`, four tokens), so a JSON log
  line costs about a token per byte.

The estimate follows the pre-tokenisation those vocabularies share (letter runs, single digits, punctuation,
blank runs) on the text as such a template would escape it, and rounds every piece up. It is meant to be an
upper bound: `tests/test_tokens.py` holds it to the local model's real counts, recorded from its server.
"""

from __future__ import annotations

import json
import math
from typing import Any

import regex

# A letter run, one digit, one blank run, or one other character: no piece spans two classes.
_PIECES = regex.compile(r"\p{L}+|\p{N}|\s+|[^\p{L}\p{N}\s]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
LETTERS_PER_TOKEN = 5  # long identifiers split into several tokens; common words are one
PER_MESSAGE = 8  # the chat template's role markers around each message
SCHEMA_FRAMING = 0.8  # measured: a definition costs 0.46-0.72 of this estimate of its JSON


def escaped(text: str) -> str:
    """`text` as an HTML-escaping chat template hands it to the tokenizer."""
    return text.translate(_ESCAPES)


def count(text: str, *, escape: bool = True) -> int:
    """An upper estimate of the tokens `text` costs inside a chat message."""
    tokens = 0
    for piece in _PIECES.findall(escaped(text) if escape else text):
        first = piece[0]
        if first.isspace():
            tokens += 1
        elif first.isalpha():
            tokens += math.ceil(len(piece) / LETTERS_PER_TOKEN) if piece.isascii() else len(piece)
        elif first.isascii():
            tokens += 1
        else:
            tokens += len(piece.encode("utf-8"))  # a rare symbol or emoji: up to one token per byte
    return tokens


def messages(*texts: str) -> int:
    """The estimate for a conversation of these message texts."""
    return sum(count(text) + PER_MESSAGE for text in texts)


def schema(definition: dict[str, Any]) -> int:
    """The estimate for a function definition the server writes into the system prompt. The template
    does not escape it, and writes it more compactly than its JSON: measured on the local server,
    `Analysis` adds 524 tokens to a prompt, `ProposedChange` 269, the five investigation tools 611."""
    return math.ceil(count(json.dumps(definition), escape=False) * SCHEMA_FRAMING) + PER_MESSAGE
