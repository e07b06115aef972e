"""The settings `docker update` changes (restart, cpus, mem_limit, pids_limit) are compared
with the running container, not with the applied-spec label: a file reverted after an
in-place update, and a `docker update` by hand, both show as drift that `up` fixes in place."""

from __future__ import annotations

import docker

from tests.engine.helpers import StackDir, stackup

MIB = 1 << 20

STACK = """
services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    mem_limit: {mem}
"""


def _up(project: str, d: StackDir) -> None:
    stackup("-p", project, "up", "--pull", "never", "--progress", "quiet", cwd=d.path)


def _diff(project: str, d: StackDir) -> tuple[int, str]:
    proc = stackup("-p", project, "diff", "--exit-code", cwd=d.path, check=False)
    assert proc.returncode in (0, 2), proc.stdout + proc.stderr
    return proc.returncode, proc.stdout


def _memory(client: docker.DockerClient, name: str) -> tuple[str, int]:
    raw = client.api.inspect_container(name)
    return str(raw["Id"]), int(raw["HostConfig"]["Memory"])


def test_reverted_in_place_update_is_drift_and_up_fixes_it(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    name = f"{project_name}-app-1"
    tmp_stack_dir.stack(STACK.format(mem="128m"))
    _up(project_name, tmp_stack_dir)
    created, memory = _memory(docker_client, name)
    assert memory == 128 * MIB

    tmp_stack_dir.stack(STACK.format(mem="192m"))
    _up(project_name, tmp_stack_dir)
    assert _memory(docker_client, name) == (created, 192 * MIB)  # updated in place

    tmp_stack_dir.stack(STACK.format(mem="128m"))
    code, text = _diff(project_name, tmp_stack_dir)
    assert code == 2, text
    assert f"~ container {name}" in text
    assert f"mem_limit: {192 * MIB} → {128 * MIB}" in text

    _up(project_name, tmp_stack_dir)
    assert _memory(docker_client, name) == (created, 128 * MIB)
    assert _diff(project_name, tmp_stack_dir)[0] == 0


def test_docker_update_by_hand_is_drift_and_up_fixes_it(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    name = f"{project_name}-app-1"
    tmp_stack_dir.stack(STACK.format(mem="128m"))
    _up(project_name, tmp_stack_dir)
    created, _ = _memory(docker_client, name)

    docker_client.api.update_container(
        name, mem_limit=192 * MIB, memswap_limit=384 * MIB, restart_policy={"Name": "always"}
    )
    assert _memory(docker_client, name) == (created, 192 * MIB)

    code, text = _diff(project_name, tmp_stack_dir)
    assert code == 2, text
    assert f"mem_limit: {192 * MIB} → {128 * MIB}" in text
    assert 'restart: "always" → "no"' in text

    _up(project_name, tmp_stack_dir)
    assert _memory(docker_client, name) == (created, 128 * MIB)
    restart = docker_client.api.inspect_container(name)["HostConfig"]["RestartPolicy"]["Name"]
    assert restart in ("no", "")
    assert _diff(project_name, tmp_stack_dir)[0] == 0
