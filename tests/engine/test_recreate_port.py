"""A recreate onto a host port something else holds: `up` refuses before touching the old
container, naming the port and its holder; when the start fails anyway (the check skipped),
the old container is started again; after the port is freed, `up` converges."""

from __future__ import annotations

import socket
from pathlib import Path

import docker

import stackup.api as api
from stackup.engine.docker.engine import DockerEngine
from stackup.loading.loader import LoadOptions, load
from tests.engine.helpers import PROJECT_LABEL, StackDir, free_port, http_get, stackup

STACK = """
services:
  web:
    image: nginx:stable
    stop_grace_period: 1s
    ports: ["127.0.0.1:{port}:80"]
"""


def _state(client: docker.DockerClient, name: str) -> tuple[str, str]:
    raw = client.api.inspect_container(name)
    return str(raw["Id"]), str(raw["State"]["Status"])


def _up(project: str, d: StackDir, check: bool = True) -> tuple[int, str]:
    proc = stackup("-p", project, "up", "--pull", "never", cwd=d.path, check=check)
    return proc.returncode, proc.stdout + proc.stderr


def test_taken_port_refuses_recreate_and_keeps_old_container(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    name = f"{project_name}-web-1"
    old_port, new_port = free_port(), free_port()
    tmp_stack_dir.stack(STACK.format(port=old_port))
    _up(project_name, tmp_stack_dir)
    before = _state(docker_client, name)
    assert http_get(f"http://127.0.0.1:{old_port}/").status == 200

    tmp_stack_dir.stack(STACK.format(port=new_port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", new_port))
        holder.listen()
        code, out = _up(project_name, tmp_stack_dir, check=False)
    assert code == 1, out
    assert f"127.0.0.1:{new_port}/tcp" in out and "a process on this host" in out, out
    assert "Traceback" not in out
    assert _state(docker_client, name) == (before[0], "running")
    assert http_get(f"http://127.0.0.1:{old_port}/").status == 200

    # Another container holding it is named.
    other = docker_client.containers.run(
        "busybox:latest",
        ["sleep", "60"],
        detach=True,
        name=f"{project_name}-holder",
        labels={"io.stackup.project": project_name},
        ports={"80/tcp": ("127.0.0.1", new_port)},
    )
    code, out = _up(project_name, tmp_stack_dir, check=False)
    assert code == 1, out
    assert f"127.0.0.1:{new_port}/tcp" in out and f"container {other.name}" in out, out
    assert _state(docker_client, name) == (before[0], "running")
    assert http_get(f"http://127.0.0.1:{old_port}/").status == 200

    # Freed: re-running `up` converges.
    other.remove(force=True)
    _up(project_name, tmp_stack_dir)
    assert http_get(f"http://127.0.0.1:{new_port}/").status == 200
    proc = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir.path, check=False)
    assert proc.returncode == 0, proc.stdout


def test_failed_start_restores_the_old_container(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    name = f"{project_name}-web-1"
    old_port, new_port = free_port(), free_port()
    tmp_stack_dir.stack(STACK.format(port=old_port))
    _up(project_name, tmp_stack_dir)
    before = _state(docker_client, name)

    tmp_stack_dir.stack(STACK.format(port=new_port))
    engine = DockerEngine.from_env()
    try:
        loaded = load(LoadOptions(files=(tmp_stack_dir / "stack.yaml",), project_name=project_name))
        plan = api.plan(loaded, engine)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.bind(("127.0.0.1", new_port))
            holder.listen()
            outcome = api.apply(plan, engine)  # no preflight: the start itself fails
    finally:
        engine.close()
    assert not outcome.ok
    [message] = outcome.failed.values()
    assert str(new_port) in message and "left as it was" in message, message
    assert _state(docker_client, name) == (before[0], "running")
    assert http_get(f"http://127.0.0.1:{old_port}/").status == 200
    # The project's containers, by its label (a name filter matches substrings: the project's
    # release records, `stackup-release-PROJECT-N`, are not its containers).
    project = {"label": f"{PROJECT_LABEL}={project_name}"}
    names = [c.name for c in docker_client.containers.list(all=True, filters=project)]
    assert names == [name]

    _up(project_name, tmp_stack_dir)
    assert http_get(f"http://127.0.0.1:{new_port}/").status == 200
