"""An operator decides an escalated incident on its page, in Debian's Chromium (over the DevTools
protocol), against a real `healer serve` with the local Loki and the GitHub emulator: the page shows the
incident, the form resolves it, the incident resumes to resolved and its GitHub issue is closed.
Screenshots go to the test artifacts. Also: the form refuses a post without its token or from another site.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.devtools import browser_tab
from tests.test_mcp import TOKEN, call, escalated, panic_server
from tests.test_page_browser import ARTIFACTS, chromium  # noqa: F401 (chromium: a fixture)

pytestmark = pytest.mark.live


def test_an_escalated_incident_is_decided_on_its_page_in_a_browser(chromium: Path, tmp_path: Path) -> None:  # noqa: F811
    with panic_server(tmp_path) as (base, play_id, github):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        waiting = asyncio.run(escalated(base, play_id))
        incident_url = f"{base}/sessions/{play_id}/incidents/{waiting['fingerprint']}"

        forged = httpx.post(
            f"{incident_url}/decision", data={"action": "resolve", "csrf": "0" * 64}, headers=auth
        )
        page = httpx.get(incident_url, headers=auth).text
        csrf = re.search(r"name='csrf' value='([0-9a-f]{64})'", page).group(1)
        elsewhere = httpx.post(
            f"{incident_url}/decision",
            data={"action": "resolve", "csrf": csrf},
            headers=auth | {"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403 and "stale or came from another site" in forged.json()["message"]
        assert elsewhere.status_code == 403 and "evil.example" in elsewhere.json()["message"]

        asyncio.run(_decide_in_the_browser(chromium, tmp_path, base, incident_url))
        [issue] = [i for i in github.issues.values() if "pull_request" not in i]
        assert issue["state"] == "closed"
        after = asyncio.run(call(base, "get_incident", play_id=play_id, fingerprint=waiting["fingerprint"]))
        assert after["status"] == "resolved" and any(e["event"] == "decided" for e in after["timeline"])


async def _decide_in_the_browser(browser: Path, tmp_path: Path, base: str, incident_url: str) -> None:
    async with browser_tab(browser, tmp_path) as tab:
        await tab.open(f"{base}/login?next=/")
        await tab.run(f"document.getElementById('token').value = {TOKEN!r}; document.forms[0].submit()")
        await tab.loaded()
        await tab.open(incident_url)
        seen = await tab.run("document.body.innerText")
        assert "a human must decide" in seen and "panicked" in seen, seen
        assert await tab.run("document.getElementById('decision') !== null")
        before = await tab.screenshot(ARTIFACTS / "incident-escalated.png")
        await tab.run(
            'document.querySelector("input[name=action][value=resolve]").checked = true;'
            "document.getElementById('note').value = 'fixed by hand in the browser test';"
            "document.getElementById('decision').requestSubmit()"
        )
        await tab.loaded()  # the 303 back to the incident's page
        assert await tab.run("location.href") == incident_url
        status = await tab.run("document.getElementById('status').innerText")
        assert status.strip() == "resolved", status
        assert await tab.run("document.getElementById('decision') === null")  # nothing left to decide
        timeline = await tab.run("document.getElementById('incident-timeline').innerText")
        assert "decided" in timeline and "fixed by hand in the browser test" in timeline, timeline
        after = await tab.screenshot(ARTIFACTS / "incident-resolved.png")
    for shot in (before, after):
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
