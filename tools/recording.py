"""Recorded HTTP (vcrpy): how an incident replays offline, and how it was recorded.

A scenario's traffic is kept one file per outside system (`loki.yaml`, `kubernetes.yaml`, `github.yaml`,
`discord.yaml`, `llm.yaml`) under one folder. While recording, the live addresses (a local server on some
port) are rewritten to each system's stable address, in requests and in response bodies, so a cassette
does not depend on where it was recorded; secrets are filtered from headers, query strings and bodies
before anything is written. Replaying matches method, address and query, and JSON bodies whatever their
key order, with every socket blocked: a request nobody recorded fails loudly instead of leaving the host.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import vcr
import yaml
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.request import Request as VcrRequest
from vcr.serialize import deserialize, serialize

from tools.redact import redact

SECRET_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key", "api-key", "openai-organization")
SECRET_QUERY = (
    "access_token",
    "token",
    "api_key",
    "key",
    "sig",
    "urlSignature",
)  # last: signed log addresses


class RecordingError(Exception):
    pass


def _json_or_none(body: bytes | str | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, TypeError):
        return None


def json_body_matcher(first: VcrRequest, second: VcrRequest) -> None:
    left, right = _json_or_none(first.body), _json_or_none(second.body)
    if left is not None or right is not None:
        assert left == right, "JSON bodies differ"
    else:
        assert (first.body or b"") == (second.body or b""), "bodies differ"


def redact_body(body: Any) -> Any:
    if isinstance(body, bytes):
        return redact(body.decode("utf-8", "replace")).encode() if body else body
    if isinstance(body, str):
        return redact(body)
    return body


def scrub_request(request: VcrRequest) -> VcrRequest:
    request.body = redact_body(request.body)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS:
            headers[name] = ["[REDACTED]"]
    body = response.get("body", {})
    if "string" in body:
        body["string"] = redact_body(body["string"])
    return response


def _rewritten(text: Any, rewrites: Mapping[str, str]) -> Any:
    if isinstance(text, bytes):
        decoded = text.decode("utf-8", "replace")
        changed = _rewritten(decoded, rewrites)
        return changed.encode() if changed != decoded else text
    if isinstance(text, str):
        for live, stable in rewrites.items():
            text = text.replace(live, stable)
    return text


def split_persister(services: Mapping[str, str]) -> type:
    """A vcrpy persister that keeps one file per service: `services` maps a file name to the base URL
    of that service's requests."""

    def service_of(uri: str) -> str:
        for name, base in services.items():
            if uri.startswith(base):
                return name
        return "other"

    class SplitPersister:
        @staticmethod
        def load_cassette(cassette_path: str, serializer: Any) -> tuple[list[Any], list[Any]]:
            folder = Path(cassette_path)
            files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
            if not files:
                raise CassetteNotFoundError()
            requests: list[Any] = []
            responses: list[Any] = []
            for file in files:
                loaded = deserialize(file.read_text(), serializer)
                requests += loaded[0]
                responses += loaded[1]
            return requests, responses

        @staticmethod
        def save_cassette(cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
            folder = Path(cassette_path)
            folder.mkdir(parents=True, exist_ok=True)
            grouped: dict[str, dict[str, list[Any]]] = {}
            for request, response in zip(cassette_dict["requests"], cassette_dict["responses"], strict=True):
                part = grouped.setdefault(service_of(request.uri), {"requests": [], "responses": []})
                part["requests"].append(request)
                part["responses"].append(response)
            for old in folder.glob("*.yaml"):
                old.unlink()
            for name, part in grouped.items():
                (folder / f"{name}.yaml").write_text(serialize(part, serializer))

    return SplitPersister


def recorder(
    services: Mapping[str, str] | None = None,
    *,
    record: bool,
    rewrites: Mapping[str, str] | None = None,
    library: Path | None = None,
) -> vcr.VCR:
    """vcrpy set up as Healer records: secrets filtered, JSON bodies matched whatever their key order.
    With `services`, a cassette is a folder with one file per system; `library` is where named cassettes
    are looked up."""
    rewrites = dict(rewrites or {})

    def before_request(request: VcrRequest) -> VcrRequest | None:
        if request.path.endswith("/access_tokens"):
            return None  # a GitHub App's token exchange: a secret, and a replay authenticates otherwise
        request.uri = redact(_rewritten(request.uri, rewrites))  # e.g. a webhook's token in its path
        request.body = _rewritten(request.body, rewrites)
        return scrub_request(request)

    def before_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {})
        if "string" in body:
            body["string"] = _rewritten(body["string"], rewrites)
        return scrub_response(response)

    recording = vcr.VCR(
        record_mode="all" if record else "none",
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
        # `host` names the live server a recording was made against; nothing matches on it
        filter_headers=[(name, "[REDACTED]") for name in SECRET_HEADERS] + [("host", None)],
        filter_query_parameters=[(name, "[REDACTED]") for name in SECRET_QUERY],
        before_record_request=before_request,
        before_record_response=before_response,
        decode_compressed_response=True,
        ignore_hosts=("testserver",),
        ignore_localhost=False,
        **({"cassette_library_dir": str(library)} if library else {}),
    )
    recording.register_matcher("json_body", json_body_matcher)
    if services is not None:
        recording.register_persister(split_persister(services))
    return recording


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def sent(cassette: Any) -> list[dict[str, Any]]:
    """What the run sent, as far as the recording answered it: the recorded requests it played (each
    matched a request of the run: method, address, query and JSON body)."""
    return [
        {"method": request.method, "uri": request.uri, "body": _json_or_none(request.body)}
        for index, request in enumerate(cassette.requests)
        if cassette.play_counts[index]
    ]


def unplayed_writes(cassette: Any) -> list[str]:
    """The recorded writes the run did not make, or made differently (then nothing matched them)."""
    return [
        f"{request.method} {request.uri}"
        for index, request in enumerate(cassette.requests)
        if request.method in WRITES and not cassette.play_counts[index]
    ]


@contextlib.contextmanager
def replaying(
    folder: Path,
    services: Mapping[str, str],
    *,
    record: bool = False,
    rewrites: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Replay (or record) the traffic in `folder`; while replaying no socket may connect."""
    with recorder(services, record=record, rewrites=rewrites).use_cassette(str(folder)) as cassette:
        if record:
            yield cassette
        else:
            with no_network():
                yield cassette


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Every outgoing connection fails: a replay that misses its cassette cannot reach a real service."""
    real_connect = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        raise ConnectionRefusedError(f"network blocked during cassette replay: {address!r}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]


def interactions_of(folder: Path) -> list[dict[str, Any]]:
    """Every recorded exchange in a scenario's folder, for reading (tests, summaries)."""
    found: list[dict[str, Any]] = []
    for file in sorted(folder.glob("*.yaml")):
        found += (yaml.safe_load(file.read_text()) or {}).get("interactions", [])
    return found
