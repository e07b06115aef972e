"""Benchmark: how soon an open `stackup ui` page shows the new plan.

    .venv/bin/python bench/ui_refresh.py [--saves 5]

A small stack (nginx with a port on 127.0.0.1, a busybox app) is applied and its page opened
in headless Chromium. Then, per round: (1) stack.yaml saved with another port: the time until
the page's plan shows it; (2) the app container stopped behind the page (`docker stop`): the
time until the page's plan says "to start". The file case is woken by the file watcher, the
engine case by the poll (every 2 s: the engine target reports no events yet). Not a test: it
prints numbers (record them in docs/benchmarks.md). Its project is removed by label."""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
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
  app:
    image: busybox
    init: true
    command: ["sleep", "86400"]
"""


def until(check: object, what: str) -> float:
    start = time.perf_counter()
    wait_for(check, timeout=30, interval=0.02, what=what)  # type: ignore[arg-type]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=5)
    args = parser.parse_args()
    project = f"bench-ui-{secrets.token_hex(3)}"
    client = docker.from_env()
    files: list[float] = []
    engine: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stackup-bench-ui-") as tmp:
        d = Path(tmp)
        server = browser = None
        try:
            (d / "stack.yaml").write_text(STACK.format(project=project, port=free_port()))
            stackup("up", cwd=d)
            server = UiServer(d)
            browser = Browser()
            browser.call("Page.navigate", url=server.url)
            wait_for(lambda: "No changes." in browser.text(), timeout=30, what="the page")
            for _ in range(args.saves):
                port = free_port()
                start = time.perf_counter()
                (d / "stack.yaml").write_text(STACK.format(project=project, port=port))
                wait_for(lambda p=port: f'"{p}"' in browser.text(), 30, 0.02, "the new port")
                files.append(time.perf_counter() - start)
                stackup("up", cwd=d)
                wait_for(lambda: "No changes." in browser.text(), 30, 0.05, "the applied plan")
                app = client.containers.list(
                    filters={"label": [f"io.stackup.project={project}", "io.stackup.service=app"]}
                )[0]
                app.stop(timeout=0)
                start = time.perf_counter()
                wait_for(lambda: "to start" in browser.text(), 30, 0.02, "the stopped container")
                engine.append(time.perf_counter() - start)
                stackup("up", cwd=d)
                wait_for(lambda: "No changes." in browser.text(), 30, 0.05, "the applied plan")
        finally:
            if browser is not None:
                browser.close()
            if server is not None:
                server.kill()
            remove_project_resources(client, project)
    for name, times in (
        ("file saved → page shows the plan", files),
        ("container stopped → page shows the plan", engine),
    ):
        ms = sorted(round(t * 1000) for t in times)
        print(f"{name}: median {statistics.median(ms)} ms, max {ms[-1]} ms, all {ms}")


if __name__ == "__main__":
    main()
