"""`stackup watch --live-reload` with a real browser: a page open in headless Chromium shows
new content after a web-root edit without anyone reloading it. Then Ctrl-C: exit 130 and
nothing left behind."""

from __future__ import annotations

import os
import re

import pytest

from tests.engine.browser import Browser
from tests.engine.helpers import StackDir, free_port, http_get, wait_for
from tests.engine.watchproc import WatchProcess


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
