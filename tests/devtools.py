"""Debian's Chromium driven over the DevTools protocol (its own websocket, no driver binary): open a page,
run a script in it, wait for the next page to load, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

from tests.test_page_browser import CHROMIUM_FLAGS

_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


class Tab:
    def __init__(self, socket: Any, session: str) -> None:
        self._socket, self._session, self._ids = socket, session, itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids) + 1000
        await self._socket.send(
            json.dumps({"id": ident, "method": method, "params": params, "sessionId": self._session})
        )
        while True:
            message = json.loads(await asyncio.wait_for(self._socket.recv(), 30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    async def loaded(self) -> None:
        """Until the page in the tab has fired `load`."""
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            self._events.append(json.loads(await asyncio.wait_for(self._socket.recv(), 30)))
        self._events.clear()

    async def open(self, url: str) -> None:
        self._events.clear()
        await self.send("Page.navigate", url=url)
        await self.loaded()

    async def run(self, script: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=script, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"the page's script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.asynccontextmanager
async def browser_tab(chromium: Path, tmp_path: Path) -> AsyncIterator[Tab]:
    profile = tempfile.mkdtemp(prefix="chromium-cdp-", dir=tmp_path)
    process = subprocess.Popen(
        [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1280,1000", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=os.environ | {"HOME": profile},
    )  # fmt: skip
    try:
        address = await asyncio.wait_for(asyncio.to_thread(_address, process), 30)
        async with websockets.connect(address, max_size=64 * 2**20) as socket:
            target = await _browser_call(socket, "Target.createTarget", url="about:blank")
            attached = await _browser_call(
                socket, "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            tab = Tab(socket, attached["sessionId"])
            await tab.send("Page.enable")
            yield tab
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _address(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        if found := _LISTENING.search(line):
            return found.group(1).decode()
    raise RuntimeError(f"chromium exited ({process.wait()}) without opening its DevTools port")


async def _browser_call(socket: Any, method: str, **params: Any) -> dict[str, Any]:
    ident = next(_BROWSER_IDS)
    await socket.send(json.dumps({"id": ident, "method": method, "params": params}))
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if message.get("id") == ident:
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            return message["result"]


_BROWSER_IDS = itertools.count(1)
