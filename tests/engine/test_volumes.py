"""Data safety: what `up --force-recreate`, `up -V`, `down` and `down --volumes` keep."""

from __future__ import annotations

import contextlib

import docker
import docker.errors
from docker.models.containers import Container

from tests.engine.helpers import StackDir, stackup

STACK = """
services:
  box:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    volumes:
      - data:/named
      - /anon
      - outside:/ext
volumes:
  data: {}
  outside:
    external: true
    name: EXTERNAL
"""


def _write(container: Container, path: str, text: str) -> None:
    code, out = container.exec_run(["sh", "-c", f"echo {text} > {path}"])
    assert code == 0, out


def _read(container: Container, path: str) -> str | None:
    code, out = container.exec_run(["cat", path])
    return out.decode().strip() if code == 0 else None


def test_volumes_survive_recreate_anonymous_renewed_by_V_named_only_by_down_volumes(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    external = f"{project_name}-external"
    docker_client.volumes.create(external)  # no label of ours: the stack did not create it
    try:
        tmp_stack_dir.stack(STACK.replace("EXTERNAL", external))
        cname = f"{project_name}-box-1"

        def up(*flags: str) -> Container:
            stackup("-p", project_name, "up", "--progress", "plain", *flags, cwd=tmp_stack_dir)
            return docker_client.containers.get(cname)

        box = up()
        _write(box, "/named/sentinel", "named-data")
        _write(box, "/anon/sentinel", "anon-data")
        _write(box, "/ext/sentinel", "external-data")
        first_id = box.id

        box = up("--force-recreate")
        assert box.id != first_id  # really recreated
        assert _read(box, "/named/sentinel") == "named-data"
        assert _read(box, "/anon/sentinel") == "anon-data"  # carried over to the new container
        assert _read(box, "/ext/sentinel") == "external-data"

        box = up("--force-recreate", "-V")
        assert _read(box, "/anon/sentinel") is None  # a fresh anonymous volume
        assert _read(box, "/named/sentinel") == "named-data"
        assert _read(box, "/ext/sentinel") == "external-data"

        stackup("-p", project_name, "down", "--progress", "plain", cwd=tmp_stack_dir)
        docker_client.volumes.get(f"{project_name}_data")  # plain down keeps named volumes
        box = up()
        assert _read(box, "/named/sentinel") == "named-data"

        stackup("-p", project_name, "down", "--volumes", "--progress", "plain", cwd=tmp_stack_dir)
        try:
            docker_client.volumes.get(f"{project_name}_data")
            raise AssertionError("down --volumes left the named volume")
        except docker.errors.NotFound:
            pass
        # the external volume and its data survive down --volumes
        docker_client.volumes.get(external)
        out = docker_client.containers.run(
            "busybox:latest",
            ["cat", "/ext/sentinel"],
            volumes={external: {"bind": "/ext", "mode": "ro"}},
            remove=True,
        )
        assert out.decode().strip() == "external-data"
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(external).remove(force=True)
