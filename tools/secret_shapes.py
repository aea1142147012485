"""Credentials that carry their own marker, found bare wherever they stand (prose, JSON, a URL).

Each shape is ``(kind, body)``, the token's pattern written from the vendors' published formats; one
hyperscan pass (``tools/prefilter.py``) tells which shapes can occur in a text, and only those run. A match is
widened to the end of the token it sits in, so no suffix of it survives (GitLab's routable tokens end
in ``.01.xxxxxxxxx``).

Formats that are plain random strings (32 hex characters, 16 digits, letters and digits with no
prefix) are not here: bare, they look exactly like git SHAs, digests and request ids. They are caught
next to a key (``tools/redact.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from tools.prefilter import Prefilter

__all__ = ["SHAPE_KINDS", "shape_spans"]

_START = r"(?<![A-Za-z0-9_+/.~-])"  # a token starts here: not inside a longer word
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_+/=.~-]*")
_B64 = r"[A-Za-z0-9+/]"
_URLSAFE = r"[A-Za-z0-9_-]"


class _Shape(NamedTuple):
    kind: str
    pattern: re.Pattern[str]
    varied: bool  # the body must not be a placeholder such as xxxxxxxx


def _shape(kind: str, body: str, *, varied: bool = True, start: bool = True) -> _Shape:
    return _Shape(kind, re.compile((_START if start else "") + body), varied)


_SHAPES: tuple[_Shape, ...] = (
    _shape("1password-token", rf"ops_eyJ{_B64}{{60,}}=*"),
    _shape(
        "1password-secret-key", r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})(?:-[A-Z0-9]{5}){3}"
    ),
    _shape("adobe-secret", r"p8e-[a-zA-Z0-9]{32}"),
    _shape("age-secret-key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", varied=False),
    _shape("airtable-token", r"pat[a-zA-Z0-9]{14}\.[a-f0-9]{64}"),
    _shape("alibaba-access-key", r"LTAI[a-zA-Z0-9]{20}"),
    _shape("artifactory-token", r"AKCp[A-Za-z0-9]{60,}"),
    _shape("artifactory-token", r"cmVmd[A-Za-z0-9]{50,}"),
    _shape(
        "authress-key",
        r"(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120}",
    ),
    *(
        _shape("aws-access-key", rf"{prefix}[A-Z0-9]{{{20 - len(prefix)}}}(?![A-Za-z0-9])")
        for prefix in ("AKIA", "ASIA", "ABIA", "ACCA", "A3T")
    ),
    _shape("aws-bedrock-key", rf"ABSK{_B64}{{60,}}=*"),
    _shape("aws-bedrock-key", rf"bedrock-api-key-{_B64}{{20,}}=*"),
    _shape("azure-client-secret", r"[a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34}"),
    _shape("clickhouse-key", r"4b1d[A-Za-z0-9]{38}"),
    _shape("clojars-token", r"CLOJARS_[a-zA-Z0-9]{60}"),
    _shape("cloudflare-origin-key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    _shape("databricks-token", r"dapi[a-f0-9]{32}(?:-\d)?"),
    _shape("defined-networking-token", r"dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}"),
    _shape("digitalocean-token", r"do[opr]_v1_[a-f0-9]{64}"),
    _shape("doppler-token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[a-zA-Z0-9]{40,}"),
    _shape("duffel-token", r"duffel_(?:test|live)_[a-zA-Z0-9_=-]{43}"),
    _shape("dynatrace-token", r"dt0c01\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{64}"),
    _shape("easypost-token", r"EZ[AT]K[a-zA-Z0-9]{54}"),
    _shape("facebook-token", r"EAA[A-Z][A-Za-z0-9_-]{40,}"),
    _shape("facebook-token", r"\d{15,16}(?:\||%7C)[A-Za-z0-9_-]{27}"),
    _shape("flutterwave-key", r"FLW(?:PUBK|SECK)(?:_TEST)?-[a-fA-F0-9]{12,}(?:-X)?"),
    _shape("flyio-token", rf"fo1_{_URLSAFE}{{43}}"),
    _shape("flyio-token", rf"fm[12][ar]?_{_B64}{{40,}}=*"),
    _shape("frameio-token", r"fio-u-[a-zA-Z0-9_=-]{64}"),
    _shape("gitlab-token", rf"GR1348941{_URLSAFE}{{20}}"),
    _shape("gitlab-token", r"gl(?:pat|ptt|dt|rt|cbt|ffct|ft|imt|agent|oas|soat)-(?=[\w-]*\d)[\w-]{16,}"),
    _shape("gitlab-token", r"(?<=_gitlab_session=)[a-z0-9]{32}", start=False),
    _shape("grafana-token", rf"eyJrIjoi{_B64}{{50,}}=*"),
    _shape("grafana-token", rf"glc_{_B64}{{32,}}=*"),
    _shape("grafana-token", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    _shape("groq-key", r"gsk_[a-zA-Z0-9]{40,}"),
    _shape("harness-token", r"(?:pat|sat)\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{20}"),
    _shape("terraform-token", r"[a-zA-Z0-9]{14}\.atlasv1\.[a-zA-Z0-9_=-]{60,70}"),
    _shape("heroku-key", r"HRKU-AA[0-9a-zA-Z_-]{58}"),
    _shape("huggingface-token", r"api_org_[a-zA-Z]{34}"),
    _shape("infracost-token", r"ico-[a-zA-Z0-9]{32}"),
    _shape("intra42-secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}"),
    _shape("jwt", r"ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_/\\-]{10,}(?:\.[A-Za-z0-9_/\\-]*=*)?"),
    _shape("discord-token", r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}"),
    _shape("mailchimp-key", r"[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9])"),
    _shape("linear-key", r"lin_api_[a-zA-Z0-9]{40}"),
    _shape("mailgun-key", r"(?:pub)?key-[a-f0-9]{32}"),
    _shape("maxmind-key", r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"),
    _shape("newrelic-key", r"NR(?:AK-[A-Za-z0-9]{27}|JS-[a-f0-9]{19}|II-[A-Za-z0-9-]{32})"),
    _shape("notion-token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    _shape("octopus-key", r"API-[A-Z0-9]{26}"),
    _shape("openshift-token", rf"sha256~{_URLSAFE}{{43}}"),
    _shape(
        "plaid-token",
        r"access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    ),
    _shape("planetscale-token", r"pscale_(?:tkn|oauth|pw)_[a-zA-Z0-9_=.-]{32,64}"),
    _shape("postman-key", r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    _shape("prefect-token", r"pnu_[a-zA-Z0-9]{36}"),
    _shape("pulumi-token", r"pul-[a-f0-9]{40}"),
    _shape("pypi-token", rf"pypi-AgE{_URLSAFE}{{50,}}"),
    _shape("readme-token", r"rdme_[a-zA-Z0-9]{70}"),
    _shape("rubygems-token", r"rubygems_[a-f0-9]{48}"),
    _shape("scalingo-token", rf"tk-us-{_URLSAFE}{{48}}"),
    _shape("sendgrid-key", r"SG\.[a-zA-Z0-9=_.-]{60,}"),
    _shape("sendinblue-key", r"xkeysib-[a-f0-9]{64}-[a-zA-Z0-9]{16}"),
    _shape("sentry-token", rf"sntrys_eyJ{_B64}{{40,}}=*(?:_{_B64}{{20,}})?"),
    _shape("sentry-token", r"sntryu_[a-f0-9]{64}"),
    _shape("settlemint-token", r"sm_(?:aat|pat|sat)_[a-zA-Z0-9]{16}"),
    _shape("shippo-token", r"shippo_(?:live|test)_[a-fA-F0-9]{40}"),
    _shape("shopify-token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    _shape("slack-token", r"xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9-]{20,}"),
    _shape("sonarqube-token", r"sq[pua]_[a-zA-Z0-9]{40}"),
    _shape("sourcegraph-token", r"sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}"),
    _shape("square-token", r"sq0(?:atp|csp)-[A-Za-z0-9_^-]{20,}"),
    _shape("stripe-key", r"[rs]k_prod_[A-Za-z0-9]{20,}"),
    _shape("telegram-token", r"\d{5,16}:A[A-Za-z0-9_-]{34}(?![A-Za-z0-9_-])"),
    _shape("twilio-key", r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
    _shape("twitter-token", r"A{21,}[A-Za-z0-9%]{30,}"),
    _shape("typeform-token", r"tfp_[a-zA-Z0-9_=.-]{59}"),
    _shape("vault-token", rf"hv[sbr]\.{_URLSAFE}{{24,}}"),
    _shape("vault-token", r"s\.(?=[a-z0-9]*[A-Z])(?=[A-Za-z]*\d)[A-Za-z0-9]{24}(?![A-Za-z0-9])"),
    _shape("twitter-token", r"\d{15,25}-(?=[a-z0-9]*[A-Z])[A-Za-z0-9]{20,40}(?![A-Za-z0-9])"),
    _shape("mapbox-token", r"(?:pk|sk|tk)\.[a-zA-Z0-9]{60}\.[a-zA-Z0-9]{22}"),
    _shape("gocardless-token", r"live_(?=[\w=-]*\d)[a-zA-Z0-9_=-]{40}(?![\w=-])"),
    _shape("lob-key", r"(?:live|test)_(?:pub_)?[a-f0-9]{31,35}(?![A-Za-z0-9])"),
    _shape("yandex-key", rf"YC{_URLSAFE}{{38}}"),
    _shape("yandex-key", rf"AQVN{_URLSAFE}{{35,38}}"),
    _shape("yandex-key", rf"t1\.[A-Z0-9a-z_-]+=*\.{_URLSAFE}{{86}}=*"),
    _shape("webhook-url", r"(?<=webhook\.office\.com/)[^\s\"'<>]+", start=False),
    _shape("webhook-url", r"(?<=logic\.azure\.com/)[^\s\"'<>]*sig=[^\s\"'<>&]+", start=False),
    _shape("webhook-url", r"(?<=/hooks/)[a-z0-9]{26}(?![A-Za-z0-9])", start=False),
    _shape("telegram-token", r"(?<=api\.telegram\.org/bot)[^\s/\"'<>]+", start=False),
)

SHAPE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(shape.kind for shape in _SHAPES))

_GATE = Prefilter([shape.pattern.pattern for shape in _SHAPES])


def _varied(token: str) -> bool:
    """A placeholder (``xxxxxxxx``, ``0000``) repeats a few characters; a real token does not."""
    return len(set(token)) >= min(10, len(token) // 3)


def shape_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` of every marked credential in ``text``; spans may overlap."""
    for index in sorted(_GATE.present(text)):
        shape = _SHAPES[index]
        for match in shape.pattern.finditer(text):
            start, end = match.span()
            if shape.varied and not _varied(match.group()):
                continue
            tail = _TOKEN_CHARS.match(text, end)
            yield shape.kind, start, tail.end() if tail else end
