"""`up` says what is in the way before it starts anything: a Docker Compose project of the
same name, or a published port that is taken."""

from __future__ import annotations

import socket

import docker

from tests.engine.helpers import COMPOSE_PROJECT_LABEL, PROJECT_LABEL, StackDir, free_port, stackup


def _ours(client: docker.DockerClient, project: str) -> list[str]:
    return [
        c.name
        for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    ]


def test_compose_project_of_the_same_name_blocks_up(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    foreign = docker_client.containers.create(
        "busybox:latest",
        ["sleep", "60"],
        name=f"{project_name}-web-1",
        labels={COMPOSE_PROJECT_LABEL: project_name},
    )
    tmp_stack_dir.stack(
        f"""
        name: {project_name}
        services:
          app:
            image: busybox:latest
            command: sleep 3600
        """
    )
    proc = stackup("up", cwd=tmp_stack_dir, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f'Docker Compose project "{project_name}"' in proc.stderr
    assert foreign.name in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _ours(docker_client, project_name) == []
    # The network was not created either: nothing started.
    assert docker_client.networks.list(filters={"label": f"{PROJECT_LABEL}={project_name}"}) == []


def test_taken_port_blocks_up_naming_it(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        tmp_stack_dir.stack(
            f"""
            name: {project_name}
            services:
              db:
                image: busybox:latest
                command: sleep 3600
              web:
                image: nginx:stable
                ports: ["127.0.0.1:{port}:80"]
                depends_on: [db]
            """
        )
        proc = stackup("up", cwd=tmp_stack_dir, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"port 127.0.0.1:{port}/tcp of service web is already in use" in proc.stderr
    assert _ours(docker_client, project_name) == []
