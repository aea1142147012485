"""Remove secrets from text before it reaches an LLM, a GitHub issue, a log line or a cassette.

``redact(text)`` replaces each secret with ``[REDACTED:<kind>]`` and leaves everything around it
as it was; for ``key=value`` style pairs the key, the separator and any quotes are kept and only
the value goes. ``find_secrets(text)`` returns the ``(kind, start, end)`` spans instead.

Kinds (``REDACTION_KINDS``):

    private-key        PEM ``-----BEGIN ... PRIVATE KEY-----`` blocks, to the END line or, when
                       that was cut off, to the end of the text
    github-token       ``ghp_``/``gho_``/``ghs_``/``ghu_``/``ghr_`` tokens, ``github_pat_`` tokens
    anthropic-key      ``sk-ant-...``
    openrouter-key     ``sk-or-v1-...``
    openai-key         ``sk-...``, ``sk-proj-...``, ``sk-svcacct-...``
    xai-key            ``xai-...``
    perplexity-key     ``pplx-...``
    aws-access-key     ``AKIA``/``ASIA`` access key ids
    aws-secret-key     the value after ``aws_secret_access_key`` / ``SecretAccessKey``
    google-api-key     ``AIza...``
    slack-token        ``xoxb-``/``xoxp-``/... and ``xapp-`` tokens
    slack-webhook      the path after ``hooks.slack.com/services/``
    discord-webhook    the ``<id>/<token>`` path of a Discord webhook URL
    stripe-key         ``sk_live_``/``rk_live_`` (and ``_test_``) keys
    npm-token          ``npm_...``
    gitlab-token       ``glpat-``/``gldt-``/``glrt-``/``glptt-`` tokens
    huggingface-token  ``hf_...``
    jwt                ``eyJ...`` header, payload and signature
    url-password       the password of a URL that carries credentials (scheme, user, host kept)
    basic-auth         the credentials of ``Authorization: Basic ...``
    bearer-token       ``Authorization: Bearer ...`` and a token-looking word after a bare ``Bearer``
    auth-header        any other ``Authorization:`` value (``token ...``, ``Bot ...``, raw)
    password           the value of ``password=``, ``DB_PASS:``, ``"passphrase": "..."``, ...
    generic-secret     the value of ``*_TOKEN=``, ``*_SECRET=``, ``*_API_KEY=``, ``"client_secret": ...``

Beside these context rules, ``tools/secret_shapes.py`` finds about ninety credential formats bare by
their own marker (SendGrid ``SG.``, Groq ``gsk_``, Vault ``hvs.``, Telegram ``<id>:AA...``, webhook
URLs of Teams, Mattermost and Telegram ...), and ``tools/secret_places.py`` the values of secret-named
environment variables, credential flags (``--password X``, ``-u user:pass``), cookies, ``.netrc`` and
docker ``auths`` entries, and a private key's body line arriving alone. A hyperscan prefilter
(``tools/prefilter.py``) runs only the shapes and places that can occur in a text. Recall per
placement over ``../shared/corpus/secrets/`` is measured by ``bench/redaction.py`` and held by
``tests/test_redact_corpus.py``.

Values that are already placeholders (``[REDACTED:...]``, ``***``, ``<redacted>``, ``${VAR}``,
``$VAR``) are left alone, so ``redact(redact(x)) == redact(x)``. Not recognised, for want of a
reliable shape: Digest auth, and bare random strings with neither a marker nor a secret-sounding key
in front of them (32 hex characters are as likely a git SHA as a client secret).

Example (the token is built in pieces so that this file holds nothing credential-shaped)::

    >>> redact("GITHUB_TOKEN=" + "gh" + "p_" + "a1B2" * 9 + " ok")
    'GITHUB_TOKEN=[REDACTED:github-token] ok'
"""

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from tools.secret_places import PLACE_KINDS, place_spans
from tools.secret_shapes import SHAPE_KINDS, shape_spans

__all__ = ["REDACTION_KINDS", "find_secrets", "redact"]

_Accept = Callable[[re.Match[str]], bool]


class _Rule(NamedTuple):
    kind: str
    pattern: re.Pattern[str]
    trigger: str  # the rule only runs when this trigger of _TRIGGER fired
    accept: _Accept | None = None


def _ci(source: str) -> str:
    """Make the letters of a regex case-insensitive as ``[Xx]`` classes (outside ``[...]``).

    ``re.IGNORECASE`` would do the same, but its case-folding opcodes defeat the engine's quick
    first-character tests, which costs several times more on long lines.
    """
    out: list[str] = []
    in_class = escaped = False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "[]":
            in_class = char == "["
        elif char.isalpha() and not in_class:
            char = f"[{char.upper()}{char.lower()}]"
        out.append(char)
    return "".join(out)


# Pre-check. Each trigger is found at an uncommon character (the "anchor", which starts with a
# plain character so that the engine can skip to candidates without entering the pattern) and
# checked around it with look-arounds. One pass over a 300-character log line costs ~3.5 us;
# running every rule instead would cost ~60 us, and the assignment rules far more on long lines.
_SEP = r"\\?[\"']?[ \t]*[:=]"
_KEY_END = rf"(?:{_SEP}|[ \t]+[A-Za-z0-9/+]{{30}})"  # also `aws configure set aws_secret_access_key <key>`
_TRIGGERS: tuple[tuple[str, str, str], ...] = (  # (anchor, trigger name, context)
    ("_", "gh", r"(?<=\bgh[pousr]_)|(?<=\bgithub_)pat_"),
    ("_", "npm", r"(?<=\bnpm_)"),
    ("_", "hf", r"(?<=\bhf_)"),
    ("_", "stripe", r"(?<=\b[rs]k_)(?:live|test)_"),
    ("_[Pp]", "pass", _ci("wd?") + _SEP),
    ("p[Aa]", "pass", _ci("ss(?:word|wd|phrase)?") + _SEP),
    ("P[Aa]", "pass", _ci("ss(?:word|wd|phrase)?") + _SEP),
    ("k[Ee]", "secret", r"(?<=[Tt][Oo]k[Ee])[Nn]" + _SEP + "|[Yy]" + _KEY_END),
    ("K[Ee]", "secret", r"(?<=[Tt][Oo]K[Ee])[Nn]" + _SEP + "|[Yy]" + _KEY_END),
    ("c[Rr]", "secret", r"(?<=[Ss][Ee]c[Rr])" + _ci("et") + _SEP + "|" + _ci("edentials?") + _SEP),
    ("C[Rr]", "secret", r"(?<=[Ss][Ee]C[Rr])" + _ci("et") + _SEP + "|" + _ci("edentials?") + _SEP),
    ("k-", "sk", r"(?<=\bsk-)"),
    ("ks", "hooks", r"(?<=hooks)[./]"),
    ("x", "x", r"(?<=\bx)(?:ai|ox[abposre]|app)-|(?<=\bpplx)-"),
    ("A", "aws", r"(?<=\bA)(?:KIA|SIA)"),
    ("A", "google", r"(?<=\bA)Iza"),
    ("J", "jwt", r"(?<=\beyJ)"),
    ("gl", "gitlab", r"(?<=\bgl)(?:pat|ptt|dt|rt)-"),
    ("N", "pem", r"(?<=-----BEGIN)"),
    ("@", "url", ""),
    ("z", "auth", rf"(?<={_ci('authori')}z)"),
    ("Z", "auth", rf"(?<={_ci('authori')}Z)"),
    ("b[Ee]", "bearer", _ci("arer") + r"(?:[ \t]+|%20|\+)\S"),
    ("B[Ee]", "bearer", _ci("arer") + r"(?:[ \t]+|%20|\+)\S"),
)
# Group names must be unique, hence the index suffix; find_secrets() strips it again.
_TRIGGER = re.compile(
    "|".join(f"{anchor}(?P<{name}__{i}>{context})" for i, (anchor, name, context) in enumerate(_TRIGGERS))
)


_PLACEHOLDER = re.compile(
    r"\*+|[xX]{3,}|\.{3,}|…|<[^<>]*>|\[?(?:REDACTED|hidden|masked)\b.*|\$.*|%[sdr]|\{\{.*|\{\w*\}",
    re.IGNORECASE,
)
_NOT_A_VALUE = frozenset({"null", "none", "nil", "true", "false", "undefined", "|", ">", "|-", ">-"})
_TYPE_NAMES = frozenset({"str", "string", "&str", "bytes", "int", "bool", "secretstr", "any", "optional"})
_CALL_OR_INDEX = re.compile(r"[A-Za-z_][\w.]*[(\[]")
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_LINE_START_PREFIX = re.compile(r"[ \t]*(?:[-*>#]+[ \t]*)?|[^{]*\{[^}]*")
_KEY_TAIL = re.compile(r"[\w.-]*\Z")
_CAMEL_CASE = re.compile(r"[a-z][A-Z]")
_DASHES = re.compile(r"[-_]")


def _is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.fullmatch(value) is not None


def _has_classes(value: str, *, digit: bool = True, upper: bool = True, lower: bool = True) -> bool:
    """True when ``value`` has every requested character class: random keys do, words don't."""
    return (
        (not digit or any(c.isdigit() for c in value))
        and (not upper or any(c.isupper() for c in value))
        and (not lower or any(c.islower() for c in value))
    )


def _random_body(m: re.Match[str]) -> bool:
    """``sk-`` is followed by a random run (legacy, project and OpenAI-compatible keys, hex or
    not), never by short hyphenated words as in ``sk-learn-compatible-wrappers-v2``."""
    runs = _DASHES.split(m.group(0))
    return any(len(run) >= 16 and _has_classes(run, upper=False) for run in runs)


def _mixed_case(m: re.Match[str]) -> bool:
    return _has_classes(m.group(0), digit=False)


def _token_like(m: re.Match[str]) -> bool:
    """After a bare ``Bearer``: a token has a digit or several capitals; an English word has neither."""
    token = m.group("secret")
    if _is_placeholder(token):
        return False
    return any(c.isdigit() for c in token) or sum(c.isupper() for c in token) >= 3


def _not_placeholder(m: re.Match[str]) -> bool:
    return not _is_placeholder(m.group("secret"))


def _raw_auth_value(m: re.Match[str]) -> bool:
    # Without a scheme word the value must look generated, not like "Authorization: required".
    return m.group("scheme") is not None or any(c.isdigit() for c in m.group("secret"))


def _key_of(m: re.Match[str]) -> tuple[int, str]:
    """Where the key that ends in the matched word starts, and the quote opening it ("" if none)."""
    text, quote = m.string, m.group("kq")
    key_start = _KEY_TAIL.search(text, max(0, m.start() - 64), m.start())
    start = key_start.start() if key_start else m.start()
    opened = bool(quote) and text[max(0, start - len(quote)) : start] == quote
    return start, quote if opened else ""


def _at_line_start(text: str, start: int) -> bool:
    prefix = text[text.rfind("\n", 0, start) + 1 : start]
    return _LINE_START_PREFIX.fullmatch(prefix) is not None


def _compound_key(key: str) -> bool:
    stripped = key.lstrip("-")
    return "_" in stripped or "-" in stripped or _CAMEL_CASE.search(stripped) is not None


def _accept_value(m: re.Match[str], key: str, quote: str, key_start: int) -> bool:
    quoted = m.group("secret") is not None
    value, sep = m.group("secret") if quoted else m.group("bare"), m.group("sep")
    if not value or _is_placeholder(value):
        return False
    if quoted:
        return not _closes_own_string(m, quote, key_start)
    if _looks_like_code(value, key, sep) or _starts_expression(m, sep):
        return False
    if sep.strip() != ":":
        return True
    if quote:  # JSON has no space before the colon; `volume "x-token" : secret ...` is a k8s event
        return sep.startswith(":")
    return _bare_colon_key_ok(m.string, key, sep, key_start)


def _closes_own_string(m: re.Match[str], quote: str, key_start: int) -> bool:
    """``getpass("Password: ")``: the quote after the separator closes the string the key stands in."""
    before = m.string[key_start - 1 : key_start] if key_start else ""
    return not quote and before in ("'", '"') and m.group("vq") == before


def _starts_expression(m: re.Match[str], sep: str) -> bool:
    """``token = await fetch(x)``: after a spaced ``=`` a word followed by more words is code."""
    if sep.strip() == sep:
        return False
    rest = m.string[m.end("bare") : m.end("bare") + 2]
    return len(rest) == 2 and rest[0] == " " and (rest[1].isalpha() or rest[1] in "(_$")


def _looks_like_code(value: str, key: str, sep: str) -> bool:
    """A bare value that names something rather than being a literal: ``token=token``,
    ``api_key=self.api_key``, ``token=os.environ["X"]``, ``None``, and after ``: `` or `` = ``
    also types and attribute paths (``password: str``, ``secret = settings.SECRET``)."""
    lowered = value.lower()
    if lowered in _NOT_A_VALUE or _CALL_OR_INDEX.match(value):
        return True
    if lowered.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1].lstrip("-").lower():
        return True
    if sep.strip() == sep and sep != ":":  # `KEY=value`: env files and logfmt hold literals
        return False
    if lowered in _TYPE_NAMES or any(c in value for c in "()<>&;"):
        return True
    return _DOTTED_NAME.fullmatch(value) is not None


def _bare_colon_key_ok(text: str, key: str, sep: str, key_start: int) -> bool:
    """``key: value`` with a bare key: YAML wants a space after the colon (this also skips Rust's
    ``token::Kind``); a lone ``token:``/``secret:`` mid-sentence is prose ("invalid token: x")."""
    word = key.lstrip("-").lower()
    if not sep.endswith((" ", "\t")) or word == "pass":  # `--- PASS: TestFoo` (go test)
        return False
    return _at_line_start(text, key_start) or _compound_key(key) or word.startswith("pass")


def _assignment_rule(kind: str, words: str, key: str, trigger: str) -> _Rule:
    """``KEY=value``, ``key: value``, ``"key": "value"``, ``--key=value``, ``key => 'value'``.

    The pattern starts at the last word of the key (``words``) because a pattern starting at the
    key would be tried at every word of the text; the whole key is found by looking back from
    there and must match ``key``. The value is quoted (group ``secret``, the quotes stay outside
    it) or bare (group ``bare``, trailing punctuation left out).
    """
    pattern = re.compile(
        rf"(?P<word>{_ci(words)})(?P<kq>\\?[\"']?)"
        r"(?P<sep>[ \t]*(?:=>|:?=)[ \t]*|[ \t]*:[ \t]*)"
        r"(?:(?P<vq>\\?[\"'])(?P<secret>(?:(?!(?P=vq))(?:\\.|[^\n]))*)(?:(?P=vq)|$)"
        r"|(?P<bare>(?![=\s])[^\s\"'`&]*[^\s\"'`,;.)\]}&]))",
        re.MULTILINE,
    )
    key_pattern = re.compile(rf"[\w.-]*?(?:{key})", re.IGNORECASE)

    def accept(m: re.Match[str]) -> bool:
        start, quote = _key_of(m)
        whole_key = m.string[start : m.end("word")]
        return key_pattern.fullmatch(whole_key) is not None and _accept_value(m, whole_key, quote, start)

    return _Rule(kind, pattern, trigger, accept)


_PASSWORD_KEY = r"password|passwd|passphrase|(?<![a-z])pass|_pwd|_pw"
_SECRET_KEY = (
    r"secret|token|credentials?|apikey"
    r"|(?:api|access|secret|private|signing|encryption|master|auth|account|client|app|service)[_.-]?key"
)
_ASSIGN = r"\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?"  # `: `, `=`, `": "`, `\": \"` and the like
_AUTH_PREFIX = _ci("authorization") + _ASSIGN
_TOKEN = r"[A-Za-z0-9._~+/-]"  # RFC 6750 token68
_HEADER_VALUE = (
    r"[^\s\"'`,;<>\\]+"  # a header's value runs to a blank or a quote: `%`, `|`, `:`, `=` are in tokens
)
_LOOSE_TOKEN = r"[A-Za-z0-9._~+/%|:=-]"
_BEARER_GAP = r"(?:[ \t]+|%20|\+)"
_OTHER_SCHEMES = "token|bot|api-?key|key|ssws|oauth|dpop|negotiate|ntlm"


def _header(scheme: str, secret: str) -> re.Pattern[str]:
    """``Authorization: <scheme> <secret>`` as a header, a ``curl -H`` argument, JSON or logfmt."""
    return re.compile(rf"{_AUTH_PREFIX}{scheme}(?P<secret>{secret})")


def _word(prefix: str, body: str) -> re.Pattern[str]:
    """A fixed-width ``prefix`` at the start of a word, then ``body``. The word boundary is checked
    after the prefix, not before it, so that the engine looks for the prefix with a fast substring
    search instead of trying the pattern at every position of a multi-kilobyte line."""
    return re.compile(rf"{prefix}(?<=\b{prefix}){body}")


# Order is priority: when two rules match at the same place, the earlier one names the kind.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        "private-key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*)",
            re.DOTALL,
        ),
        "pem",
    ),
    _Rule("github-token", _word("gh[pousr]_", "[A-Za-z0-9]{20,}"), "gh"),
    _Rule("github-token", _word("github_pat_", "[A-Za-z0-9_]{20,}"), "gh"),
    _Rule("anthropic-key", _word("sk-ant-", "[A-Za-z0-9_-]{20,}"), "sk"),
    _Rule("openrouter-key", _word(r"sk-or-v\d-", "[A-Za-z0-9]{20,}"), "sk"),
    _Rule("openai-key", _word("sk-", "(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), "sk", _random_body),
    _Rule("xai-key", _word("xai-", "[A-Za-z0-9]{20,}"), "x"),
    _Rule("perplexity-key", _word("pplx-", "[A-Za-z0-9]{20,}"), "x"),
    _Rule("aws-access-key", _word("A[KS]IA", r"[A-Z0-9]{16}\b"), "aws"),
    _Rule(
        "aws-secret-key",
        re.compile(_ci("secret_?access_?key") + rf"(?:{_ASSIGN}|[ \t]+)(?P<secret>[A-Za-z0-9/+]{{30,}}=*)"),
        "secret",
    ),
    _Rule("google-api-key", _word("AIza", "[0-9A-Za-z_-]{30,}"), "google"),
    _Rule("slack-token", _word("xox[abposre]-", "[A-Za-z0-9-]{10,}"), "x"),
    _Rule("slack-token", _word("xapp-", r"\d-[A-Za-z0-9-]{10,}"), "x"),
    _Rule(
        "slack-webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/-]{8,})"),
        "hooks",
    ),
    _Rule(
        "discord-webhook",
        re.compile(r"discord(?:app)?\.com/api/(?:v\d+/)?webhooks/(?P<secret>\d+/[A-Za-z0-9_-]+)"),
        "hooks",
    ),
    _Rule("stripe-key", _word("[rs]k_(?:live|test)_", "[A-Za-z0-9]{16,}"), "stripe"),
    _Rule("npm-token", _word("npm_", "[A-Za-z0-9]{30,}"), "npm"),
    _Rule("gitlab-token", _word("gl", "(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}"), "gitlab"),
    _Rule("huggingface-token", _word("hf_", "[A-Za-z0-9]{30,}"), "hf", _mixed_case),
    _Rule("jwt", _word("eyJ", r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "jwt"),
    _Rule(
        "url-password",
        re.compile(r"://(?<=[A-Za-z0-9]://)[^\s:/@\"'<>]*:(?P<secret>[^\s/?#\"'<>]+)@"),
        "url",
        _not_placeholder,
    ),
    _Rule("basic-auth", _header(_ci("basic") + "[ \t]+", r"[A-Za-z0-9+/]{8,}=*"), "auth"),
    _Rule("bearer-token", _header(_ci("bearer") + _BEARER_GAP, _HEADER_VALUE), "auth", _not_placeholder),
    _Rule(
        "auth-header",
        _header(rf"(?:(?P<scheme>{_ci(_OTHER_SCHEMES)})[ \t]+)?", rf"{_TOKEN}{{8,}}=*"),
        "auth",
        _raw_auth_value,
    ),
    _Rule(
        "bearer-token",
        re.compile(_ci("bearer") + rf"{_BEARER_GAP}(?P<secret>{_LOOSE_TOKEN}{{16,}})"),
        "bearer",
        _token_like,
    ),
    _assignment_rule("password", r"pass(?:word|wd|phrase)?|pwd?", _PASSWORD_KEY, "pass"),
    _assignment_rule("generic-secret", r"secret|token|credentials?|key", _SECRET_KEY, "secret"),
)

REDACTION_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys([*(rule.kind for rule in _RULES), *SHAPE_KINDS, *PLACE_KINDS])
)


def _secret_span(m: re.Match[str]) -> tuple[int, int]:
    groups = m.re.groupindex
    for name in ("secret", "bare"):
        if name in groups and m.group(name) is not None:
            return m.span(name)
    return m.span()


def _rule_spans(rule: _Rule, text: str) -> Iterator[tuple[int, int]]:
    """Spans the rule accepts. A refused match resumes the search after its key word, not after its
    value, so that ``key=abc&token=S3cret`` still finds the token the refused ``key=`` ran over."""
    resume_after_word = "word" in rule.pattern.groupindex
    position = 0
    while (m := rule.pattern.search(text, position)) is not None:
        if rule.accept is None or rule.accept(m):
            yield _secret_span(m)
            position = m.end()
        else:
            position = m.end("word") if resume_after_word else m.end()
        position = max(position, m.start() + 1)


def _merge(found: list[tuple[int, int, int, str]]) -> list[tuple[str, int, int]]:
    """Overlapping spans become one, named after the leftmost (then highest-priority) match; it is
    stretched rather than split so that no byte any rule called secret survives."""
    merged: list[tuple[str, int, int]] = []
    for start, _priority, end, kind in sorted(found):
        if merged and start < merged[-1][2]:
            last_kind, last_start, last_end = merged[-1]
            merged[-1] = (last_kind, last_start, max(last_end, end))
        else:
            merged.append((kind, start, end))
    return merged


def find_secrets(text: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, start, end)`` for every secret in ``text``, in order, never overlapping."""
    triggered = {(m.lastgroup or "").partition("__")[0] for m in _TRIGGER.finditer(text)}
    found = [
        (start, priority, end, rule.kind)
        for priority, rule in enumerate(_RULES)
        if rule.trigger in triggered
        for start, end in _rule_spans(rule, text)
    ]
    found += [(start, len(_RULES), end, kind) for kind, start, end in shape_spans(text)]
    found += [(start, len(_RULES) + 1, end, kind) for kind, start, end in place_spans(text)]
    return _merge(found)


def redact(text: str) -> str:
    """Return ``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
    parts: list[str] = []
    position = 0
    for kind, start, end in find_secrets(text):
        parts += (text[position:start], f"[REDACTED:{kind}]")
        position = end
    if not parts:
        return text
    parts.append(text[position:])
    return "".join(parts)
