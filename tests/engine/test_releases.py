"""Releases on a local engine (stackup.usecases.releases, .rollback): three changing `up`s
record three releases (a no-op `up` none), `rollback --yes` serves the previous page again,
`down` keeps the releases and `down --volumes` leaves nothing of the project."""

from __future__ import annotations

import json

import docker

from tests.engine.helpers import (
    PROJECT_LABEL,
    RELEASE_PROJECT_LABEL,
    StackDir,
    free_port,
    http_get,
    stackup,
    wait_for,
)

STACK = """
name: {project}
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo \\"$$PAGE\\" > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_signal: SIGKILL
    environment:
      PAGE: "{page}"
    ports: ["127.0.0.1:{port}:80"]
"""


def test_history_and_rollback_on_a_local_engine(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"

    def deploy(page: str) -> str:
        tmp_stack_dir.stack(STACK.format(project=project_name, page=page, port=port))
        return stackup("up", "--yes", cwd=tmp_stack_dir).stdout

    def served() -> str:
        return http_get(url, retry_for=30).body.strip()

    for page in ("first", "second", "third"):
        assert "recorded release" in deploy(page)
        wait_for(lambda page=page: served() == page or None, timeout=30, what=page)
    assert "recorded release" not in deploy("third")  # nothing changed: no release

    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir).stdout)
    assert [r["release"] for r in listed] == [3, 2, 1]
    assert all(r["kind"] == "up" and "@" in r["by"] for r in listed)
    # The records are none of the project's containers.
    ps = json.loads(stackup("ps", "-a", "--format", "json", cwd=tmp_stack_dir).stdout)
    assert [row["name"] for row in ps] == [f"{project_name}-web-1"]
    stackup("diff", "--exit-code", cwd=tmp_stack_dir)

    rolled = stackup("rollback", "--yes", cwd=tmp_stack_dir)
    assert "never the data in named volumes" in rolled.stdout + rolled.stderr
    wait_for(lambda: served() == "second" or None, timeout=30, what="the previous page")
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir).stdout)
    assert (listed[0]["release"], listed[0]["kind"], listed[0]["of"]) == (4, "rollback", 2)

    stackup("down", cwd=tmp_stack_dir)
    assert len(json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir).stdout)) == 4
    stackup("down", "--volumes", cwd=tmp_stack_dir)
    assert stackup("history", "--format", "json", cwd=tmp_stack_dir).stdout.strip() == "[]"
    for label in (PROJECT_LABEL, RELEASE_PROJECT_LABEL):
        filters = {"label": f"{label}={project_name}"}
        assert docker_client.containers.list(all=True, filters=filters) == []
