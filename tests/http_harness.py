"""Recorded and scripted HTTP for tests of the outside-system clients.

- `cassette(name)`: vcrpy over the top-level `cassettes/` folder. Replays by default, with every socket
  blocked; `HEALER_RECORD=1` re-records against the live services (see cassettes/README.md). Secrets are
  filtered from headers, query strings and bodies before anything is written; JSON bodies match whatever
  their key order; the in-process FastAPI test client (`testserver`) is never intercepted.
- `ScriptedServer`: a real HTTP server on 127.0.0.1 that answers a script of responses, for the failure
  paths no live service produces on demand (429 with Retry-After, 5xx then success, malformed bodies).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from tools.recording import no_network, recorder

REPO = Path(__file__).resolve().parents[1]
CASSETTES = REPO / "cassettes"
RECORDING = os.environ.get("HEALER_RECORD") == "1"

RECORDER = recorder(record=RECORDING, library=CASSETTES)


@contextlib.contextmanager
def cassette(path: str) -> Iterator[Any]:
    """Replay (or with HEALER_RECORD=1 record) `cassettes/<path>.yaml`."""
    with RECORDER.use_cassette(f"{path}.yaml") as recorded:
        if RECORDING:
            yield recorded
        else:
            with no_network():
                yield recorded


class Sleeps(list[float]):
    """Stands in for `asyncio.sleep` in a client under test: keeps the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def send_body(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "application/json"
) -> None:
    """Answer `status` with `body`; a client that gave up meanwhile (a timeout test) is not an error."""
    with contextlib.suppress(OSError):
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class Loopback:
    """A real HTTP server on 127.0.0.1 (a free port), serving from a daemon thread for a `with` block."""

    def _bind(self, handler: type[BaseHTTPRequestHandler]) -> str:
        """Bind the server (not yet serving) and return its base URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScriptedServer(Loopback):
    """Serves `replies` in order (the last one repeats) and keeps every request it saw."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies, self.seen = list(replies), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # websocket clients refuse an HTTP/1.0 answer

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.seen.append(Seen(self.command, self.path, dict(self.headers), self.rfile.read(length)))
                reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                body = reply.body
                if isinstance(body, dict | list):
                    body = json.dumps(body).encode()
                    reply.headers.setdefault("Content-Type", "application/json")
                elif isinstance(body, str):
                    body = body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self.url = self._bind(Handler)


def interaction(
    method: str,
    uri: str,
    status: int,
    body: str,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    request_body: str | None = None,
) -> dict[str, Any]:
    """One recorded exchange in vcrpy's cassette format, for cassettes assembled from reference data."""
    response_headers = {"Content-Type": [content_type], **{k: [v] for k, v in (headers or {}).items()}}
    return {
        "request": {"body": request_body, "headers": {}, "method": method, "uri": uri},
        "response": {
            "body": {"string": body},
            "headers": response_headers,
            "status": {"code": status, "message": HTTPStatus(status).phrase},
        },
    }


def render_cassettes(cassettes: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    return {
        name: yaml.safe_dump({"interactions": items, "version": 1}, sort_keys=False, allow_unicode=True)
        for name, items in cassettes.items()
    }


def write_cassettes(folder: Path, rendered: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (folder / f"{name}.yaml").write_text(text)
        print(f"wrote {folder / name}.yaml")
