"""`stackup watch --live-reload` with a real browser: a page open in headless Chromium shows
new content after a web-root edit without anyone reloading it. Then Ctrl-C: exit 130 and
nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import StackDir, free_port, http_get, wait_for
from tests.engine.watchproc import WatchProcess

CHROMIUM = shutil.which("chromium")


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
    assert not _processes_mentioning(str(b.profile)), "Chromium processes left behind"


def _processes_mentioning(needle: str) -> list[int]:
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


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_open_page_refreshes_itself_then_ctrl_c_leaves_nothing(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser
) -> None:
    d = tmp_stack_dir
    port = free_port()
    d.write("<html><body><h1>first version</h1></body></html>\n", "site/index.html")
    d.stack(
        f"""
        name: {project_name}
        services:
          web:
            image: nginx:stable
            ports: ["127.0.0.1:{port}:80"]
            volumes:
              - ./site:/usr/share/nginx/html:ro
        """
    )
    watch = WatchProcess(d.path, "--live-reload")
    try:
        out = watch.wait_for(r"watching ")
        m = re.search(r"live reload: http://127\.0\.0\.1:(\d+)/", out)
        assert m, out
        proxy = int(m.group(1))
        wait_for(
            lambda: "first version" in http_get(f"http://127.0.0.1:{port}/").body,
            what="nginx serving",
        )

        browser.call("Page.navigate", url=f"http://127.0.0.1:{proxy}/")
        wait_for(lambda: "first version" in browser.text(), timeout=20, what="the page in Chromium")
        # No wait for the EventSource: the page carries the change counter it was served at.

        d.write("<html><body><h1>second version</h1></body></html>\n", "site/index.html")
        watch.wait_for(r"site/index\.html changed")
        wait_for(
            lambda: "second version" in browser.text(),
            timeout=20,
            what="the open page to refresh itself",
        )
        # nobody navigated: the page reloaded because the proxy told it to
        assert (d / "site/index.html").read_text().count("<script") == 0  # user files untouched

        code = watch.interrupt()
        assert code == 130, watch.output
        assert "stopped watching" in watch.output
        with pytest.raises(ProcessLookupError):
            os.killpg(watch.proc.pid, 0)  # the whole process group is gone
        assert not _port_open(proxy), "the live-reload proxy still answers"
    finally:
        watch.kill()
