"""Releases on a remote engine (stackup.usecases.releases, .rollback): the root stack.yaml
deployed twice over SSH with another page and header, `history` lists both, `rollback --yes`
ships the first release's files back and serves its page and header again, and
`down --volumes` leaves nothing of the project on the remote engine or its host.

Against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.engine.helpers import (
    PROJECT_LABEL,
    RELEASE_PROJECT_LABEL,
    StackDir,
    free_port,
    http_get,
    stackup,
    wait_for,
)
from tests.engine.remote_host import RemoteHost
from tests.engine.test_remote_files import _root_stack


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    yield project_name
    remote_host.remove_project(project_name)
    remote_host.exec_root("rm", "-rf", f"/var/lib/stackup/{project_name}")


def test_rollback_on_a_remote_engine_brings_the_page_back(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    port = free_port()
    _root_stack(tmp_stack_dir, remote_project, port)
    env = remote_host.env()
    site = tmp_stack_dir / "examples" / "site" / "index.html"
    conf = tmp_stack_dir / "examples" / "nginx" / "default.conf"
    first_page = site.read_text(encoding="utf-8")

    assert "recorded release 1" in stackup("up", cwd=tmp_stack_dir, env=env).stdout
    site.write_text(first_page.replace("<title>", "<title>second "), encoding="utf-8")
    conf.write_text(
        conf.read_text(encoding="utf-8").replace("stackup-demo;", "stackup-second;"),
        encoding="utf-8",
    )
    assert "recorded release 2" in stackup("up", cwd=tmp_stack_dir, env=env).stdout
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [r["release"] for r in listed] == [2, 1]
    # Records are none of the project's containers.
    assert remote_host.containers_of(remote_project) == [f"{remote_project}-web-1"]

    with remote_host.forward(port) as local_port:
        url = f"http://127.0.0.1:{local_port}/"

        def page() -> tuple[str, str]:
            got = http_get(url, retry_for=30)
            return got.body, got.headers.get("X-Served-By", "")

        assert page() == (site.read_text(encoding="utf-8"), "stackup-second")
        rolled = stackup("rollback", "--yes", cwd=tmp_stack_dir, env=env)
        assert "never the data in named volumes" in rolled.stdout, rolled.stdout
        wait_for(
            lambda: page() == (first_page, "stackup-demo") or None,
            timeout=30,
            what="the first release's page and header",
        )
    # The working files are not written by a rollback.
    assert "second" in site.read_text(encoding="utf-8")
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert (listed[0]["release"], listed[0]["kind"], listed[0]["of"]) == (3, "rollback", 1)

    stackup("down", "--volumes", cwd=tmp_stack_dir, env=env)
    for label in (PROJECT_LABEL, RELEASE_PROJECT_LABEL):
        found = remote_host.docker("ps", "-aq", "--filter", f"label={label}={remote_project}")
        assert found.split() == [], label
    for kind in ("network", "volume"):
        found = remote_host.docker(
            kind, "ls", "-q", "--filter", f"label={PROJECT_LABEL}={remote_project}"
        )
        assert found.split() == [], kind
    assert remote_project not in remote_host.exec_root("ls", "/var/lib/stackup").split()
