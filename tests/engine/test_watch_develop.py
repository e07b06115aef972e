"""develop.watch actions under `stackup watch`, one test each: sync (with ignore patterns and
initial_sync), rebuild, restart, sync+restart, sync+exec."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from tests.engine.helpers import StackDir, stackup, wait_for
from tests.engine.watchproc import WatchProcess, container

SLEEPER = """
name: {project}
services:
  app:
    image: busybox:latest
    command: [sleep, "100000"]
    stop_signal: SIGKILL
    develop:
      watch:
{rules}
"""


def _cat(client: docker.DockerClient, name: str, path: str) -> str | None:
    code, out = client.containers.get(name).exec_run(["cat", path])
    return out.decode() if code == 0 else None


@pytest.fixture
def start_watch(tmp_stack_dir: StackDir, project_name: str) -> Iterator[object]:
    procs: list[WatchProcess] = []

    def start(rules: str) -> WatchProcess:
        tmp_stack_dir.stack(SLEEPER.format(project=project_name, rules=rules))
        watch = WatchProcess(tmp_stack_dir.path)
        procs.append(watch)
        watch.wait_for(r"watching ")
        return watch

    yield start
    for p in procs:
        p.kill()


def test_sync_with_ignore_and_initial_sync(
    start_watch, tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    d = tmp_stack_dir
    d.write("before start\n", "src/a.txt")
    d.write("never\n", "src/skip.log")
    watch = start_watch(
        """        - path: ./src
          action: sync
          target: /app
          initial_sync: true
          ignore: ["*.log", "cache/"]"""
    )
    name = f"{project_name}-app-1"
    assert _cat(docker_client, name, "/app/a.txt") == "before start\n"  # initial_sync
    assert _cat(docker_client, name, "/app/skip.log") is None
    started = container(docker_client, name)

    d.write("new\n", "src/sub/b.txt")
    d.write("ignored\n", "src/c.log")
    d.write("ignored\n", "src/cache/x")
    watch.wait_for(r"synced 1 file\(s\) to /app")
    assert _cat(docker_client, name, "/app/sub/b.txt") == "new\n"
    assert _cat(docker_client, name, "/app/c.log") is None
    assert _cat(docker_client, name, "/app/cache/x") is None

    (d / "src/a.txt").unlink()
    watch.wait_for(r"removed 1 to /app")
    assert _cat(docker_client, name, "/app/a.txt") is None
    assert container(docker_client, name) == started  # sync alone never restarts


def test_restart(
    start_watch, tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.write("a=1\n", "conf/app.ini")
    watch = start_watch(
        """        - path: ./conf
          action: restart"""
    )
    name = f"{project_name}-app-1"
    before_id, before_started = container(docker_client, name)
    tmp_stack_dir.write("a=2\n", "conf/app.ini")
    out = watch.wait_for(r"applied \d+ operation")
    assert "develop.watch: restart" in out
    after_id, after_started = container(docker_client, name)
    assert after_id == before_id and after_started != before_started


def test_sync_restart(
    start_watch, tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.write("v1\n", "src/v.txt")
    watch = start_watch(
        """        - path: ./src
          action: sync+restart
          target: /app"""
    )
    name = f"{project_name}-app-1"
    before_id, before_started = container(docker_client, name)
    tmp_stack_dir.write("v2\n", "src/v.txt")
    watch.wait_for(r"synced 1 file")
    watch.wait_for(r"applied \d+ operation")
    after_id, after_started = container(docker_client, name)
    assert after_id == before_id and after_started != before_started
    assert _cat(docker_client, name, "/app/v.txt") == "v2\n"


def test_sync_exec(
    start_watch, tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    watch = start_watch(
        """        - path: ./src
          action: sync+exec
          target: /app
          exec:
            command: cp /app/v.txt /tmp/seen.txt"""
    )
    name = f"{project_name}-app-1"
    before = container(docker_client, name)
    tmp_stack_dir.write("hello exec\n", "src/v.txt")
    watch.wait_for(r"synced 1 file")
    watch.wait_for(r"applied \d+ operation")
    assert _cat(docker_client, name, "/tmp/seen.txt") == "hello exec\n"
    assert container(docker_client, name) == before


def test_rebuild(
    tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    d = tmp_stack_dir
    tag = f"{project_name}-app:dev"
    d.write('FROM busybox:latest\nCOPY msg /msg\nCMD ["sleep", "100000"]\n', "ctx/Dockerfile")
    d.write("one\n", "ctx/msg")
    d.stack(
        f"""
        name: {project_name}
        services:
          app:
            image: {tag}
            build:
              context: ./ctx
              labels: {{io.stackup.test: "{project_name}"}}
            stop_signal: SIGKILL
            develop:
              watch:
                - path: ./ctx
                  action: rebuild
        """
    )
    watch: WatchProcess | None = None
    try:
        stackup("up", "--build", cwd=d.path)
        watch = WatchProcess(d.path)
        watch.wait_for(r"watching ")
        name = f"{project_name}-app-1"
        first_id, _ = container(docker_client, name)
        assert _cat(docker_client, name, "/msg") == "one\n"
        d.write("two\n", "ctx/msg")
        out = watch.wait_for(r"applied \d+ operation")
        # The plan builds (its output shown), then, planned again against the new image,
        # recreates the container with that reason.
        assert f"Successfully tagged {tag}" in out, out
        assert f"recreate: image {tag} now resolves to" in out, out
        wait_for(lambda: _cat(docker_client, name, "/msg") == "two\n", what="the rebuilt file")
        assert container(docker_client, name)[0] != first_id
    finally:
        if watch is not None:
            watch.kill()
        for c in docker_client.containers.list(
            all=True, filters={"label": f"io.stackup.project={project_name}"}
        ):
            c.remove(force=True)
        for image in docker_client.images.list(
            filters={"label": f"io.stackup.test={project_name}"}
        ):
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(image.id, force=True)
