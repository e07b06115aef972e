"""Volumes an image declares (`VOLUME /data`, as database images do) keep their data across a
recreate even though the stack file never mentions them; `-V` gives fresh ones."""

from __future__ import annotations

import io

import docker

from tests.engine.helpers import PROJECT_LABEL, StackDir, stackup


def _stack(project: str, image: str, mode: str) -> str:
    return f"""
        name: {project}
        services:
          db:
            image: {image}
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            environment:
              MODE: {mode}
        """


def _read(client: docker.DockerClient, name: str) -> tuple[int, str]:
    code, out = client.containers.get(name).exec_run(["cat", "/data/sentinel"])
    return code, out.decode().strip()


def test_image_declared_volume_survives_recreate(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    image = f"{project_name}-voldb:latest"
    dockerfile = b"FROM busybox:latest\nVOLUME /data\n"
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile), tag=image, labels={PROJECT_LABEL: project_name}, rm=True
    )
    try:
        name = f"{project_name}-db-1"
        tmp_stack_dir.stack(_stack(project_name, image, "one"))
        stackup("up", cwd=tmp_stack_dir)
        first = docker_client.containers.get(name)
        assert first.exec_run(["sh", "-c", "echo kept > /data/sentinel"])[0] == 0

        tmp_stack_dir.stack(_stack(project_name, image, "two"))
        out = stackup("up", "--progress", "plain", cwd=tmp_stack_dir).stdout
        assert "-/+ container" in out and "environment.MODE" in out
        assert docker_client.containers.get(name).id != first.id
        assert _read(docker_client, name) == (0, "kept")

        tmp_stack_dir.stack(_stack(project_name, image, "three"))
        stackup("up", "-V", cwd=tmp_stack_dir)
        code, _ = _read(docker_client, name)
        assert code != 0  # a fresh anonymous volume: the sentinel is not there
    finally:
        stackup("down", "-v", cwd=tmp_stack_dir, check=False)
        docker_client.images.remove(image, force=True)
