"""The screenshot of docs/ui.md: a small stack (nginx and a busybox app) applied twice (two
releases in its history), then its port changed in stack.yaml, shown by `stackup ui` in headless Chromium (Page.captureScreenshot
over the DevTools protocol, the test suite's harness), written to docs/ui.png. Its project
has a name of its own and is removed by label at the end, even on failure.

    .venv/bin/python scripts/ui-screenshot.py [--output docs/ui.png]

Needs the engine, the local images (scripts/images.sh) and Debian's chromium."""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from tests.engine.browser import Browser  # noqa: E402
from tests.engine.helpers import free_port, remove_project_resources, stackup, wait_for  # noqa: E402
from tests.engine.uiproc import UiServer  # noqa: E402

STACK = """\
name: {project}
services:
  web:
    image: nginx:stable
    ports: ["127.0.0.1:{port}:80"]
    depends_on: [app]
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
  app:
    image: busybox
    init: true
    command: ["sh", "-c", "while true; do echo \\"app: handled a request\\"; sleep 2; done"]
    environment:
      DB_PASSWORD: not-shown-anywhere
"""


HEIGHT = 1100  # the history, below the plan and the logs, in the picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "ui.png")
    args = parser.parse_args()
    project = f"demo-{secrets.token_hex(3)}"
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="stackup-ui-shot-") as tmp:
        directory = Path(tmp)
        server = None
        browser = None
        try:
            stack = directory / "stack.yaml"
            # Two releases in the history, then a change on disk not applied yet.
            for apply in (True, True, False):
                stack.write_text(STACK.format(project=project, port=free_port()))
                if apply:
                    stackup("up", "--wait", cwd=directory)
            server = UiServer(directory)
            browser = Browser()
            browser.call("Page.enable")
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                width=1400,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            browser.call("Page.navigate", url=server.url)
            wait_for(lambda: "to recreate" in browser.text(), timeout=30, what="the plan")
            browser.evaluate(
                "(() => { const s = document.getElementById('log-service'); s.value = 'app';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            wait_for(lambda: "handled a request" in browser.text(), timeout=30, what="logs")
            wait_for(
                lambda: browser.evaluate("document.querySelector('#graph img')?.complete"),
                timeout=30,
                what="the graph",
            )
            wait_for(
                lambda: (
                    browser.evaluate("document.querySelectorAll('#history tbody tr').length") == 2
                ),
                timeout=30,
                what="the history",
            )
            browser.screenshot(args.output, width=1400, height=HEIGHT)
            print(
                f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
            )
        finally:
            if browser is not None:
                browser.close()
            if server is not None:
                server.kill()
            remove_project_resources(client, project)


if __name__ == "__main__":
    main()
