"""Debian's Chromium, headless, detached, driven over the DevTools protocol: the browser of
the live-reload test (test_watch_livereload.py), the page's tests (test_ui_browser.py) and
the screenshot of docs/ui.md (scripts/ui-screenshot.py)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import http_get, wait_for

# The binary itself: /usr/bin/chromium is a wrapper script that reads /etc/chromium.d.
CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium")) if p and Path(p).exists()),
    None,
)


class Browser:
    """Debian's Chromium, headless, detached, driven over the DevTools protocol."""

    def __init__(self) -> None:
        import websocket  # websocket-client

        self.profile = Path(tempfile.mkdtemp(prefix="stackup-chromium-"))
        self.log = open(self.profile.parent / f"{self.profile.name}.log", "wb")  # noqa: SIM115
        assert CHROMIUM is not None
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        port_file = self.profile / "DevToolsActivePort"
        wait_for(
            lambda: port_file.exists() and port_file.read_text().strip(),
            timeout=30,
            what="Chromium's DevToolsActivePort",
        )
        port = int(port_file.read_text().split()[0])
        targets = json.loads(http_get(f"http://127.0.0.1:{port}/json/list").body)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=10)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def text(self) -> str:
        result = self.call(
            "Runtime.evaluate", expression="document.body ? document.body.innerText : ''"
        )
        return str(result["result"].get("value", ""))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def settled_click(self, selector: str, timeout: float = 20.0) -> None:
        """Click the element, scrolled into the (small, headless) window, once it is enabled
        and has kept its place for a moment: content streaming into the page moves the layout
        under a click."""
        where = (
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "if (!e || e.disabled || e.hidden) return null; "
            "e.scrollIntoView({block: 'center', inline: 'center'}); "
            "const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"
        )
        last: Any = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            box = self.evaluate(where)
            if box is not None and box == last and box[2] > 0:
                break
            last = box
            time.sleep(0.3)
        else:
            raise AssertionError(f"{selector} never settled enabled on the page")
        x, y = box[0] + box[2] / 2, box[1] + box[3] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path, width: int = 1400, height: int = 1000) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    pytest.importorskip("websocket", reason="websocket-client (the test extras) drives Chromium")
    b = Browser()
    try:
        yield b
    finally:
        b.close()
    assert not processes_mentioning(str(b.profile)), "Chromium processes left behind"


def processes_mentioning(needle: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            out.append(int(entry.name))
    return out
